# SPDX-License-Identifier: AGPL-3.0-or-later
"""Before vs after: did the friction fall after a process change?

Two analyses are compared, typically of two logs exported for the periods before and after a
change (an exchange path introduced in March). Each is complete in itself, so every order is
judged with its own look-ahead and censoring; splitting one log at a date would cut the
orders near the date off from the reorders that make them detours.

Per finding (matched by its stable ``detector:variant`` key) the rate in each period is
``affected / eligible`` with a Wilson interval, where *affected* counts orders
(``orders_affected`` where a detector reports it, else instances, at most the eligible) and
*eligible* the detector's opportunities (customer cancels, orders, transitions judged...).
The change is the difference after - before with Newcombe's interval: the rate *fell* or
*rose* when the interval excludes zero, else there is *no clear change*. The money at risk
per month of both periods stands beside it.

On the process map each edge of the *after* process is coloured by how the share of cases
taking it changed (green: fewer, red: more, grey: no clear change; the same Newcombe test),
and labelled with the change in percentage points.

Examples
--------
>>> before = [{"id": "exchange_detour:cancel_reorder", "title": "Cancelled and reordered",
...            "severity": 300.0, "metrics": {"instances": 80, "eligible": 400}}]
>>> after = [{"id": "exchange_detour:cancel_reorder", "title": "Cancelled and reordered",
...           "severity": 90.0, "metrics": {"instances": 20, "eligible": 380}}]
>>> change = compare_findings(before, after)[0]
>>> change.verdict, round(change.difference.estimate, 3)
('fell', -0.147)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from procmine.discover import ProcessGraph
from procmine.render import ProcessMap, process_map
from procmine.stats import Interval, newcombe_difference, wilson

__all__ = [
    "BeforeAfter",
    "EdgeChange",
    "FindingChange",
    "PeriodRate",
    "change_map",
    "compare",
    "compare_findings",
    "compare_graphs",
]

Verdict = Literal["fell", "rose", "no clear change", "only before", "only after", "no data"]

#: edge colours of the change map
FELL_COLOUR = "#15803d"
ROSE_COLOUR = "#b91c1c"
SAME_COLOUR = "#9ca3af"


@dataclass(frozen=True, slots=True)
class PeriodRate:
    """A finding in one period: ``affected`` of ``eligible``, the rate and its interval."""

    affected: int
    eligible: int
    rate: Interval
    severity: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "affected": self.affected,
            "eligible": self.eligible,
            "rate": _num(self.rate.estimate),
            "rate_low": _num(self.rate.low),
            "rate_high": _num(self.rate.high),
            "severity": _num(self.severity),
        }


@dataclass(frozen=True, slots=True)
class FindingChange:
    """One finding before and after, the difference of its rates and the verdict."""

    key: str
    title: str
    before: PeriodRate | None
    after: PeriodRate | None
    difference: Interval | None
    verdict: Verdict

    def describe(self) -> str:
        """One line for people.

        >>> FindingChange("k", "T", None, None, None, "no data").describe()
        'T: no data'
        """
        if self.difference is None or self.before is None or self.after is None:
            return f"{self.title}: {self.verdict}"
        d = self.difference
        return (
            f"{self.title}: {self.before.rate.estimate:.1%} -> {self.after.rate.estimate:.1%} "
            f"({d.estimate * 100:+.1f} pp [{d.low * 100:+.1f}, {d.high * 100:+.1f}]), "
            f"{self.verdict}"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "key": self.key,
            "title": self.title,
            "before": self.before.to_dict() if self.before else None,
            "after": self.after.to_dict() if self.after else None,
            "difference": _iv(self.difference),
            "verdict": self.verdict,
            "text": self.describe(),
        }


@dataclass(frozen=True, slots=True)
class EdgeChange:
    """A path of the process: the share of cases taking it before and after."""

    source: str
    target: str
    cases_before: int
    cases_after: int
    difference: Interval
    verdict: Verdict

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "target": self.target,
            "cases_before": self.cases_before,
            "cases_after": self.cases_after,
            "difference": _iv(self.difference),
            "verdict": self.verdict,
        }


@dataclass(frozen=True)
class BeforeAfter:
    """The comparison of two analyses: per finding and per path of the process."""

    before: str
    after: str
    findings: tuple[FindingChange, ...]
    edges: tuple[EdgeChange, ...]
    confidence: float

    def get(self, key: str) -> FindingChange | None:
        """The change of the finding ``key`` (``detector:variant``), if any."""
        return next((c for c in self.findings if c.key == key), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (``compare.json``)."""
        return {
            "before": self.before,
            "after": self.after,
            "confidence": self.confidence,
            "findings": [c.to_dict() for c in self.findings],
            "edges": [e.to_dict() for e in self.edges],
        }


def _num(x: float | None) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def _iv(iv: Interval | None) -> dict[str, float | None] | None:
    if iv is None:
        return None
    return {"estimate": _num(iv.estimate), "low": _num(iv.low), "high": _num(iv.high)}


def _verdict(iv: Interval) -> Verdict:
    if math.isnan(iv.estimate):
        return "no data"
    if iv.high < 0:
        return "fell"
    if iv.low > 0:
        return "rose"
    return "no clear change"


def _period(document: Mapping[str, Any], confidence: float) -> PeriodRate | None:
    metrics = document.get("metrics", {})
    eligible = int(metrics.get("eligible") or 0)
    if eligible <= 0:
        return None
    affected = metrics.get("orders_affected")
    if affected is None:
        affected = metrics.get("instances") or 0
    affected = min(int(affected), eligible)
    return PeriodRate(
        affected=affected,
        eligible=eligible,
        rate=wilson(affected, eligible, confidence),
        severity=float(document.get("severity") or 0.0),
    )


def compare_findings(
    before: Iterable[Mapping[str, Any]],
    after: Iterable[Mapping[str, Any]],
    *,
    confidence: float = 0.95,
) -> tuple[FindingChange, ...]:
    """Match findings documents (``Finding.to_dict()`` or the service's) by key and compare.

    Biggest fall first, then the rest by key.
    """
    a = {str(d["id"] if ":" in str(d["id"]) else d["key"]): d for d in before}
    b = {str(d["id"] if ":" in str(d["id"]) else d["key"]): d for d in after}
    changes = []
    for key in sorted(set(a) | set(b)):
        da, db = a.get(key), b.get(key)
        title = str((db or da or {}).get("title", key))
        pa = _period(da, confidence) if da else None
        pb = _period(db, confidence) if db else None
        if pa is None or pb is None:
            verdict: Verdict = (
                "only before" if pa and not pb else "only after" if pb and not pa else "no data"
            )
            changes.append(FindingChange(key, title, pa, pb, None, verdict))
            continue
        diff = newcombe_difference(pb.affected, pb.eligible, pa.affected, pa.eligible, confidence)
        changes.append(FindingChange(key, title, pa, pb, diff, _verdict(diff)))
    order = {"fell": 0, "rose": 1, "no clear change": 2}
    return tuple(
        sorted(
            changes,
            key=lambda c: (
                order.get(c.verdict, 3),
                c.difference.estimate if c.difference else 0.0,
                c.key,
            ),
        )
    )


def compare_graphs(
    before: ProcessGraph, after: ProcessGraph, *, confidence: float = 0.95
) -> tuple[EdgeChange, ...]:
    """Per path of either process: the share of cases taking it before and after."""
    cb = {(e.source, e.target): e.cases for e in before.edges}
    ca = {(e.source, e.target): e.cases for e in after.edges}
    changes = []
    for key in sorted(set(cb) | set(ca)):
        nb, na = cb.get(key, 0), ca.get(key, 0)
        diff = newcombe_difference(na, max(after.cases, 1), nb, max(before.cases, 1), confidence)
        changes.append(EdgeChange(key[0], key[1], nb, na, diff, _verdict(diff)))
    return tuple(changes)


def compare(before: Any, after: Any, *, confidence: float = 0.95) -> BeforeAfter:
    """Compare two :class:`~procmine.analysis.Analysis` results (before, after).

    Examples
    --------
    >>> import pandas as pd
    >>> from procmine import analyze
    >>> from procmine.log import EventLog
    >>> def log(cancelled):
    ...     rows = []
    ...     for i in range(40):
    ...         rows.append((f"o{i}", f"c{i}", "Order placed", "2024-03-01 10:00"))
    ...         last = "Order cancelled" if i < cancelled else "Shipped"
    ...         rows.append((f"o{i}", f"c{i}", last, "2024-03-02 10:00"))
    ...     return EventLog.from_pandas(pd.DataFrame(
    ...         rows, columns=["order_id", "customer", "activity", "timestamp"]))
    >>> result = compare(analyze(log(20)), analyze(log(2)))
    >>> edge = next(e for e in result.edges if e.target == "Order cancelled")
    >>> edge.verdict, edge.cases_before, edge.cases_after
    ('fell', 20, 2)
    """
    return BeforeAfter(
        before=before.log.source.name,
        after=after.log.source.name,
        findings=compare_findings(
            [f.to_dict(instances=False) for f in before.findings],
            [f.to_dict(instances=False) for f in after.findings],
            confidence=confidence,
        ),
        edges=compare_graphs(before.graph, after.graph, confidence=confidence),
        confidence=confidence,
    )


def change_map(
    after: ProcessGraph, edges: Sequence[EdgeChange], *, title: str | None = None
) -> ProcessMap:
    """The *after* process with each path coloured and labelled by its change in share.

    Paths that only the *before* process had are named in the map's title line count but
    cannot be drawn on the after process.
    """
    colours = {"fell": FELL_COLOUR, "rose": ROSE_COLOUR}
    by_key = {(e.source, e.target): e for e in edges}
    notes = {
        key: f"{e.difference.estimate * 100:+.1f} pp"
        for key, e in by_key.items()
        if not math.isnan(e.difference.estimate)
    }
    edge_colours = {key: colours.get(e.verdict, SAME_COLOUR) for key, e in by_key.items()}
    gone = sum(1 for e in edges if e.cases_after == 0)
    return process_map(
        after,
        edge_notes=notes,
        edge_colours=edge_colours,
        title=title
        or (
            "Change in the share of orders per path (green: fewer, red: more)"
            + (f"; {gone} paths of before are gone" if gone else "")
        ),
    )
