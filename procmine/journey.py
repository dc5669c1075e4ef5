# SPDX-License-Identifier: AGPL-3.0-or-later
"""The customer-journey map: the detour across orders, drawn as one process.

Every exchange-detour instance becomes one journey: the events of the original order A
(labelled ``A · <activity>``) and of the replacement order B (``B · <activity>``) in time
order. The directly-follows graph of these journeys shows the detour as a path from A's
cancel or return into B's placement; those crossing edges are highlighted and labelled with
how many detours took them and the median time lost.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import graphviz
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from procmine.discover import ProcessGraph, graph_of, placed
from procmine.findings import Findings
from procmine.log import EventLog
from procmine.render import DEFAULT_TIMEOUT_S, Overlay, ProcessMap, process_map

__all__ = ["JourneyGraph", "journey_graph", "journey_map"]

A, B = "A · ", "B · "
TITLE = "Customer journey: order A, its cancel or return, and the replacement order B"


def _detour_pairs(findings: Findings, variants: Iterable[str] | None) -> pa.Table:
    wanted = set(variants) if variants is not None else None
    tables = [
        f.instances.table.select(
            ["original_case", "replacement_case", "variant", "time_lost_hours"]
        )
        for f in findings
        if f.detector == "exchange_detour"
        and (wanted is None or f.variant in wanted)
        and len(f.instances)
    ]
    if not tables:
        return pa.table(
            {
                "original_case": pa.array([], pa.string()),
                "replacement_case": pa.array([], pa.string()),
                "variant": pa.array([], pa.string()),
                "time_lost_hours": pa.array([], pa.float64()),
            }
        )
    return pa.concat_tables(tables)


@dataclass(frozen=True)
class JourneyGraph:
    """The journeys of the exchange detours as a process graph, ready to draw.

    ``notes`` label the crossing edges (from A's cancel or return into B) with how many
    detours took them and their median time lost; ``detours`` is the number of journeys.
    Kept apart from drawing so that a service can store it once and draw it with any overlay
    or path filter later (:meth:`to_dict` / :meth:`from_dict`).
    """

    graph: ProcessGraph | None
    notes: Mapping[tuple[str, str], str]
    detours: int
    median_lost_hours: float | None

    @property
    def title(self) -> str:
        """The map's title, with the number of detours and the median time lost."""
        if not self.detours:
            return TITLE
        lost = self.median_lost_hours
        lost_text = f", median {lost / 24:.1f} days lost" if lost is not None else ""
        return f"{TITLE} ({self.detours:,} detours{lost_text})"

    def draw(
        self,
        *,
        overlay: Overlay = "frequency",
        max_activities: int | None = None,
        max_edges: int | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
    ) -> ProcessMap:
        """The journey map (a note saying so when there are no detours)."""
        if self.graph is None:
            g = graphviz.Digraph("journey")
            g.attr(labelloc="t", label=TITLE, fontname="Helvetica")
            g.node(
                "none",
                label="No exchange detours were found in this log.",
                shape="note",
                fontname="Helvetica",
            )
            return ProcessMap(dot=g.source, title=TITLE, shown={}, total={}, timeout=timeout)
        return process_map(
            self.graph,
            overlay=overlay,
            max_activities=max_activities,
            max_edges=max_edges,
            highlight=self.notes.keys(),
            edge_notes=self.notes,
            title=self.title,
            timeout=timeout,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (every variant of the journeys is kept)."""
        return {
            "graph": None
            if self.graph is None
            else self.graph.to_dict(max_variants=len(self.graph.variants)),
            "notes": [[a, b, text] for (a, b), text in self.notes.items()],
            "detours": self.detours,
            "median_lost_hours": self.median_lost_hours,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JourneyGraph:
        """Rebuild from :meth:`to_dict`."""
        return cls(
            graph=None if data["graph"] is None else ProcessGraph.from_dict(data["graph"]),
            notes={(a, b): text for a, b, text in data["notes"]},
            detours=int(data["detours"]),
            median_lost_hours=data["median_lost_hours"],
        )


def journey_graph(
    log: EventLog, findings: Findings, *, variants: Iterable[str] | None = None
) -> JourneyGraph:
    """The journeys of the exchange detours in ``findings`` (optionally some variants)."""
    pairs = _detour_pairs(findings, variants)
    n = pairs.num_rows
    if n == 0:
        return JourneyGraph(graph=None, notes={}, detours=0, median_lost_hours=None)
    keyed = pairs.append_column(
        "journey",
        pc.binary_join_element_wise(
            pairs.column("original_case"), pairs.column("replacement_case"), "\x1f"
        ),
    )
    inst = ibis.memtable(keyed)
    # The journeys' events placed once, for the graph and for the crossing edges.
    table = log.engine.materialize(placed(_journey_events(log.events(), inst)), "journey")
    try:
        graph = graph_of(log.engine, table, cases=n, events=0)
        crossing = _crossing_edges(table, inst)
    finally:
        log.engine.drop(table.get_name())
    notes: dict[tuple[str, str], str] = {}
    for r in crossing:
        lost_h = r["median_lost_hours"]
        text = f"detour: {r['n']:,}"
        if lost_h is not None:
            text += f" · median {float(lost_h) / 24:.1f} d lost"
        notes[(str(r["activity"]), str(r["next_activity"]))] = text
    lost = pc.approximate_median(pairs.column("time_lost_hours")).as_py()
    return JourneyGraph(
        graph=graph,
        notes=notes,
        detours=n,
        median_lost_hours=None if lost is None else float(lost),
    )


def journey_map(
    log: EventLog,
    findings: Findings,
    *,
    variants: Iterable[str] | None = None,
    overlay: Overlay = "frequency",
    max_activities: int | None = None,
    max_edges: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> ProcessMap:
    """Draw the journeys of the exchange detours in ``findings`` (optionally some variants).

    Examples
    --------
    >>> import pandas as pd
    >>> from procmine.analysis import detect
    >>> rows = [("A", "c1", "Order placed", "2024-03-01 10:00", "Shoes"),
    ...         ("A", "c1", "Order cancelled", "2024-03-01 12:00", "Shoes"),
    ...         ("B", "c1", "Order placed", "2024-03-02 09:00", "Shoes")]
    >>> log = EventLog.from_pandas(
    ...     pd.DataFrame(rows, columns=["order_id", "customer", "activity", "ts", "category"]))
    >>> m = journey_map(log, detect(log))
    >>> "A · Order cancelled" in m.dot and "B · Order placed" in m.dot
    True
    """
    return journey_graph(log, findings, variants=variants).draw(
        overlay=overlay, max_activities=max_activities, max_edges=max_edges, timeout=timeout
    )


def _journey_events(ev: ir.Table, inst: ir.Table) -> ir.Table:
    """Events of A and B per journey, labelled by the order they belong to."""
    a = inst.join(ev, inst.original_case == ev.case_id).select(
        case_id=inst.journey,
        activity=ibis.literal(A) + ev.activity,
        ts=ev.ts,
        # A's events sort before B's at equal timestamps.
        row=ev.row * 2,
        role=ev.role,
    )
    b = inst.join(ev, inst.replacement_case == ev.case_id).select(
        case_id=inst.journey,
        activity=ibis.literal(B) + ev.activity,
        ts=ev.ts,
        row=ev.row * 2 + 1,
        role=ev.role,
    )
    return a.union(b)


def _crossing_edges(o: ir.Table, inst: ir.Table) -> list[dict[str, Any]]:
    """Per first A->B transition of each journey (events :func:`placed`): how many journeys
    and their median loss."""
    cross = o.filter(o.activity.startswith(A) & o.next_activity.startswith(B))
    firsts = cross.group_by("case_id").aggregate(first=cross.pos.min())
    first = cross.join(firsts, (cross.case_id == firsts.case_id) & (cross.pos == firsts.first))
    first = first.select(*cross.columns)
    joined = first.join(inst, first.case_id == inst.journey)
    agg = joined.group_by(["activity", "next_activity"]).aggregate(
        n=joined.count(), median_lost_hours=joined.time_lost_hours.quantile(0.5)
    )
    return list(agg.to_pyarrow().to_pylist())
