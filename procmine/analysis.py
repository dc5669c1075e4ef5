# SPDX-License-Identifier: AGPL-3.0-or-later
"""The main job: discover, detect, score (and, on request, render) in one call."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from procmine import __version__
from procmine.causes import preload_statistics, root_causes
from procmine.churn import ChurnModel
from procmine.config import AnalysisConfig
from procmine.detect import DetectContext, build_order_tables, get_detector, registered
from procmine.discover import ProcessGraph, discover_with_cases
from procmine.edges import characteristic_edges
from procmine.findings import Findings
from procmine.log import EventLog
from procmine.score import score_detection

__all__ = ["Analysis", "analyze", "detect"]

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class Analysis:
    """The result of :func:`analyze`: the log summary, the process graph and the findings."""

    log: EventLog = field(repr=False)
    graph: ProcessGraph = field(repr=False)
    findings: Findings
    config: AnalysisConfig
    created: dt.datetime

    def to_dict(
        self, *, instances: bool = True, max_instances: int | None = None
    ) -> dict[str, Any]:
        """The findings document (DESIGN.md section 5); ``instances=False`` leaves the
        findings' instances out."""
        return {
            "procmine": __version__,
            "created": self.created.isoformat(),
            "log": self.log.summary(),
            "parameters": self.config.to_dict(),
            "process": self.graph.to_dict(),
            "findings": [
                f.to_dict(instances=instances, max_instances=max_instances) for f in self.findings
            ],
        }


def detect(
    log: EventLog,
    config: AnalysisConfig | None = None,
    *,
    progress: Progress | None = None,
) -> Findings:
    """Run the detectors on ``log`` and score their results.

    ``config.detectors`` selects detectors by name (default: all registered ones).

    Examples
    --------
    >>> import pandas as pd
    >>> from procmine.log import EventLog
    >>> rows = [
    ...     ("A", "c1", "Order placed", "2024-03-01 10:00", "Shoes"),
    ...     ("A", "c1", "Order cancelled", "2024-03-01 12:00", "Shoes"),
    ...     ("B", "c1", "Order placed", "2024-03-02 09:00", "Shoes"),
    ... ]
    >>> df = pd.DataFrame(rows, columns=["order_id", "customer", "activity", "ts", "category"])
    >>> found = detect(EventLog.from_pandas(df))
    >>> f = found.get("exchange_detour:cancel_reorder")
    >>> [(i.original_case, i.replacement_case) for i in f.instances]
    [('A', 'B')]
    """
    cfg = config or AnalysisConfig()
    say = progress or (lambda _msg, _frac: None)
    preload_statistics()
    names = list(cfg.detectors) if cfg.detectors else sorted(registered())
    detectors = [get_detector(name) for name in names]
    engine = log.engine
    # The tables stored on the way are dropped as soon as they are done with: the order
    # facts and the churn covariates when the analysis ends, each detector's own when it
    # has been scored. The engine then holds one detector's tables at a time, not all of
    # them (on a large log, gigabytes).
    with engine.scratch() as shared:
        say("building order facts", 0.0)
        orders = build_order_tables(log, cfg.similarity)
        ctx = DetectContext(log=log, config=cfg, orders=orders)
        horizon = cfg.windows.horizon.total_seconds()
        churn = ChurnModel(engine, orders, cfg.churn, horizon, scratch=shared)
        findings = []
        for i, detector in enumerate(detectors):
            say(f"detecting {detector.name}", (i + 0.2) / len(detectors))
            with engine.scratch():
                for detection in detector.detect(ctx):
                    say(
                        f"scoring {detection.detector}:{detection.variant}",
                        (i + 0.6) / len(detectors),
                    )
                    findings.append(score_detection(detection, ctx, churn))
        say("looking for root causes", 0.97)
        with engine.scratch():
            found = root_causes(log, orders, Findings(findings))
    say("done", 1.0)
    return found


def analyze(
    log: EventLog,
    config: AnalysisConfig | None = None,
    *,
    progress: Progress | None = None,
) -> Analysis:
    """Discover the process and detect and score the friction in ``log``.

    With ``config.period`` set, only the orders placed in that period are analysed
    (:meth:`~procmine.log.EventLog.placed_between`).
    """
    cfg = config or AnalysisConfig()
    say = progress or (lambda _msg, _frac: None)
    if not cfg.period.whole:
        log = log.placed_between(cfg.period.start, cfg.period.end)

    def detecting(message: str, fraction: float) -> None:
        if fraction < 1.0:  # the detectors' "done" is not the analysis's
            say(message, 0.8 * fraction)

    findings = detect(log, cfg, progress=detecting)
    # Discovered after the detectors, whose intermediate tables are gone by then: the table
    # of each case's variant, kept for the findings' paths, does not add to their peak.
    say("discovering the process", 0.8)
    with discover_with_cases(log) as (graph, cases):
        say("placing the findings on the map", 0.95)
        findings = characteristic_edges(log, graph, findings, cases)
    return Analysis(
        log=log,
        graph=graph,
        findings=findings,
        config=cfg,
        created=dt.datetime.now(dt.UTC).replace(microsecond=0),
    )
