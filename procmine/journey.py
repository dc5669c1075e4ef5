# SPDX-License-Identifier: AGPL-3.0-or-later
"""The customer-journey map: the detour across orders, drawn as one process.

Every exchange-detour instance becomes one journey: the events of the original order A
(labelled ``A · <activity>``) and of the replacement order B (``B · <activity>``) in time
order. The directly-follows graph of these journeys shows the detour as a path from A's
cancel or return into B's placement; those crossing edges are highlighted and labelled with
how many detours took them and the median time lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import graphviz
import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from procmine.discover import graph_of
from procmine.findings import Findings
from procmine.log import EventLog
from procmine.render import DEFAULT_TIMEOUT_S, Overlay, ProcessMap, process_map

__all__ = ["journey_map"]

A, B = "A · ", "B · "


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
    pairs = _detour_pairs(findings, variants)
    n = pairs.num_rows
    title = "Customer journey: order A, its cancel or return, and the replacement order B"
    if n == 0:
        g = graphviz.Digraph("journey")
        g.attr(labelloc="t", label=title, fontname="Helvetica")
        g.node(
            "none",
            label="No exchange detours were found in this log.",
            shape="note",
            fontname="Helvetica",
        )
        return ProcessMap(dot=g.source, title=title, shown={}, total={}, timeout=timeout)
    keyed = pairs.append_column(
        "journey",
        pc.binary_join_element_wise(
            pairs.column("original_case"), pairs.column("replacement_case"), "\x1f"
        ),
    )
    inst = ibis.memtable(keyed)
    ev = log.events()
    table = _journey_events(ev, inst)
    graph = graph_of(log.engine, table, cases=n, events=0)
    crossing = _crossing_edges(table, inst)
    notes: dict[tuple[str, str], str] = {}
    for r in crossing:
        lost_h = r["median_lost_hours"]
        text = f"detour: {r['n']:,}"
        if lost_h is not None:
            text += f" · median {float(lost_h) / 24:.1f} d lost"
        notes[(str(r["activity"]), str(r["next_activity"]))] = text
    lost = pc.approximate_median(pairs.column("time_lost_hours")).as_py()
    subtitle_lost = f", median {lost / 24:.1f} days lost" if lost is not None else ""
    return process_map(
        graph,
        overlay=overlay,
        max_activities=max_activities,
        max_edges=max_edges,
        highlight=notes.keys(),
        edge_notes=notes,
        title=f"{title} ({n:,} detours{subtitle_lost})",
        timeout=timeout,
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


def _crossing_edges(table: ir.Table, inst: ir.Table) -> list[dict[str, Any]]:
    """Per first A->B transition of each journey: how many journeys and their median loss."""
    w = ibis.window(group_by=table.case_id, order_by=[table.ts, table.row])
    o = table.mutate(next_activity=table.activity.lead().over(w))
    cross = o.filter(o.activity.startswith(A) & o.next_activity.startswith(B))
    first = cross.mutate(
        k=ibis.row_number().over(
            ibis.window(group_by=cross.case_id, order_by=[cross.ts, cross.row])
        )
    )
    first = first.filter(first.k == 0)
    joined = first.join(inst, first.case_id == inst.journey)
    agg = joined.group_by(["activity", "next_activity"]).aggregate(
        n=joined.count(), median_lost_hours=joined.time_lost_hours.quantile(0.5)
    )
    return list(agg.to_pyarrow().to_pylist())
