# SPDX-License-Identifier: AGPL-3.0-or-later
"""Where a finding lives on the process map: the paths its cases take far more than others.

A finding names orders (an instance's original and replacement case). The paths those orders
take include the ordinary ones (placed -> paid) as well as the ones that make the friction
(placed -> cancelled). Marking every path they take would light up the whole map, so a
finding's *characteristic* edges are those that at least :data:`MIN_SHARE` of its cases take
and that are at least :data:`MIN_LIFT` times as common among them as among all cases.
"""

from __future__ import annotations

import dataclasses
import math

import ibis
import pyarrow as pa

from procmine.discover import ProcessGraph
from procmine.findings import FindingEdge, Findings
from procmine.log import EventLog

__all__ = ["MAX_EDGES", "MIN_LIFT", "MIN_SHARE", "characteristic_edges"]

#: An edge must be taken by at least this share of a finding's cases ...
MIN_SHARE = 0.2
#: ... and be at least this many times as common among them as among all cases.
MIN_LIFT = 1.5
#: At most this many edges per finding (the strongest first).
MAX_EDGES = 8


def _finding_cases(findings: Findings) -> pa.Table:
    parts = []
    for f in findings:
        table = f.instances.table
        for column in ("original_case", "replacement_case"):
            cases = table.column(column)
            parts.append(
                pa.table({"finding": pa.array([f.id] * len(cases), pa.string()), "case_id": cases})
            )
    if not parts:
        return pa.table(
            {"finding": pa.array([], pa.string()), "case_id": pa.array([], pa.string())}
        )
    return pa.concat_tables(parts)


def characteristic_edges(log: EventLog, graph: ProcessGraph, findings: Findings) -> Findings:
    """``findings`` with :attr:`Finding.edges` set from the paths their cases take.

    One engine query for all findings: the events of the findings' cases, each with its
    successor in the case, counted per finding and edge.

    Examples
    --------
    >>> import pandas as pd
    >>> from procmine.analysis import analyze
    >>> rows = [(c, "c" + c, a, f"2024-03-0{d} 10:00") for c, a, d in [
    ...     ("A", "Order placed", 1), ("A", "Order cancelled", 2),
    ...     ("B", "Order placed", 3), ("B", "Shipped", 4),
    ...     ("C", "Order placed", 1), ("C", "Shipped", 2),
    ...     ("D", "Order placed", 1), ("D", "Shipped", 2)]]
    >>> rows[2] = ("B", "cA", "Order placed", "2024-03-03 10:00")
    >>> rows[3] = ("B", "cA", "Shipped", "2024-03-04 10:00")
    >>> df = pd.DataFrame(rows, columns=["order_id", "customer", "activity", "timestamp"])
    >>> found = analyze(EventLog.from_pandas(df)).findings
    >>> [(e.source, e.target) for e in found.get("exchange_detour:cancel_reorder").edges]
    [('Order placed', 'Order cancelled')]
    """
    pairs = _finding_cases(findings)
    if not pairs.num_rows:
        return findings
    overall = {(e.source, e.target): e.cases / max(graph.cases, 1) for e in graph.edges}
    wanted = ibis.memtable(pairs).filter(lambda p: p.case_id.notnull()).distinct()
    t = log.sequence()
    steps = t.join(wanted, t.case_id == wanted.case_id).select(
        wanted.finding, t.case_id, t.activity, t.next_activity
    )
    steps = steps.filter(steps.next_activity.notnull())
    counted = steps.group_by(["finding", "activity", "next_activity"]).aggregate(
        cases=steps.case_id.nunique()
    )
    totals = wanted.group_by("finding").aggregate(n=wanted.case_id.nunique())
    per_finding: dict[str, int] = {
        str(r["finding"]): int(r["n"]) for r in totals.to_pyarrow().to_pylist()
    }
    candidates: dict[str, list[FindingEdge]] = {}
    for r in counted.to_pyarrow().to_pylist():
        key = (str(r["activity"]), str(r["next_activity"]))
        n = per_finding[str(r["finding"])]
        share = int(r["cases"]) / n
        base = overall.get(key)
        if not base:
            continue
        lift = share / base
        if share >= MIN_SHARE and lift >= MIN_LIFT:
            candidates.setdefault(str(r["finding"]), []).append(
                FindingEdge(key[0], key[1], int(r["cases"]), share, lift)
            )
    out = []
    for f in findings:
        # Strongest first: frequent among the finding's cases *and* unusual elsewhere.
        ranked = sorted(
            candidates.get(f.id, []),
            key=lambda e: (-e.share * math.log(e.lift), e.source, e.target),
        )
        out.append(dataclasses.replace(f, edges=tuple(ranked[:MAX_EDGES])))
    return Findings(out)
