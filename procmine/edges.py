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
import ibis.expr.types as ir
import pyarrow as pa

from procmine.discover import CaseVariants, ProcessGraph, variant_edges
from procmine.findings import FindingEdge, Findings
from procmine.log import EventLog

__all__ = ["MAX_EDGES", "MIN_LIFT", "MIN_SHARE", "characteristic_edges"]

#: An edge must be taken by at least this share of a finding's cases ...
MIN_SHARE = 0.2
#: ... and be at least this many times as common among them as among all cases.
MIN_LIFT = 1.5
#: At most this many edges per finding (the strongest first).
MAX_EDGES = 8


def characteristic_edges(
    log: EventLog, graph: ProcessGraph, findings: Findings, cases: CaseVariants | None = None
) -> Findings:
    """``findings`` with :attr:`Finding.edges` set from the paths their cases take.

    One engine query for all findings. With ``cases`` (from
    :func:`~procmine.discover.discover_with_cases` on the same log and ``graph``, inside
    its block), it counts the findings' cases per variant, and each variant's edges come
    from its sequence in ``graph``; without, it reads the events of the findings' cases,
    each with its successor, and counts them per finding and edge. Both give the same
    edges.

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
    pairs = findings.cases(("original_case", "replacement_case"))
    if not pairs.num_rows:
        return findings
    overall = {(e.source, e.target): e.cases / max(graph.cases, 1) for e in graph.edges}
    wanted = ibis.memtable(pairs).filter(lambda p: p.case_id.notnull()).distinct()
    if cases is None:
        counted, per_finding = _counted_from_events(log, wanted)
    else:
        counted, per_finding = _counted_from_variants(log, graph, wanted, cases)
    candidates: dict[str, list[FindingEdge]] = {}
    for r in counted.to_pylist():
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


def _counted_from_events(log: EventLog, wanted: ir.Table) -> tuple[pa.Table, dict[str, int]]:
    """``finding, activity, next_activity, cases``: the distinct cases of each finding that
    take each edge, from the events of those cases; and each finding's number of cases."""
    t = log.sequence()
    steps = t.join(wanted, t.case_id == wanted.case_id).select(
        wanted.finding, t.case_id, t.activity, t.next_activity
    )
    steps = steps.filter(steps.next_activity.notnull())
    counted = steps.group_by(["finding", "activity", "next_activity"]).aggregate(
        cases=steps.case_id.nunique()
    )
    totals = wanted.group_by("finding").aggregate(n=wanted.case_id.nunique())
    return counted.to_pyarrow(), {
        str(r["finding"]): int(r["n"]) for r in totals.to_pyarrow().to_pylist()
    }


def _counted_from_variants(
    log: EventLog, graph: ProcessGraph, wanted: ir.Table, cases: CaseVariants
) -> tuple[pa.Table, dict[str, int]]:
    """The same counts as :func:`_counted_from_events`, from each case's variant: a case
    takes an edge when its variant does, so a finding's cases per edge are the sum of its
    cases per variant over the variants that hold the edge, and its number of cases the sum
    over all its variants (every case of the log has one).

    The engine joins the findings' cases with one row per case instead of with all their
    events, and returns one row per finding and variant; the variants' edges are few.
    """
    followed = log.engine.table(cases.table)
    per_variant = (
        wanted.join(followed, wanted.case_id == followed.case_id)
        .group_by(["finding", "variant"])
        .aggregate(cases=ibis._.count())
        .to_pyarrow()
    )
    joined = per_variant.join(variant_edges(graph.variants.table), "variant")
    summed = joined.group_by(["finding", "source", "target"]).aggregate([("cases", "sum")])
    totals = per_variant.group_by("finding").aggregate([("cases", "sum")]).to_pydict()
    counted = pa.table(
        {
            "finding": summed.column("finding"),
            "activity": summed.column("source"),
            "next_activity": summed.column("target"),
            "cases": summed.column("cases_sum"),
        }
    )
    return counted, {
        str(f): int(n) for f, n in zip(totals["finding"], totals["cases_sum"], strict=True)
    }
