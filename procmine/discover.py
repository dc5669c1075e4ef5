# SPDX-License-Identifier: AGPL-3.0-or-later
"""Discovery: the directly-follows graph (frequency and performance) and the variants.

Events of a case are ordered by timestamp and, for equal timestamps, by their position in the
source, the same order pm4py uses (a stable sort on case and timestamp), so the counts equal
``pm4py.discover_dfg`` and ``pm4py.get_variants`` exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from procmine.engine import Engine
from procmine.log import EventLog
from procmine.records import Records

__all__ = ["ActivityStats", "Edge", "ProcessGraph", "Variant", "discover", "graph_of"]


@dataclass(frozen=True, slots=True)
class Edge:
    """A directly-follows relation ``source -> target`` with its frequency and durations.

    Durations are the time between the two events, in seconds: ``mean``, ``median`` and the
    90th percentile ``p90`` (linear interpolation, like pandas).
    """

    source: str
    target: str
    count: int
    cases: int
    mean_seconds: float
    median_seconds: float
    p90_seconds: float


@dataclass(frozen=True, slots=True)
class ActivityStats:
    """How often an activity occurs, in how many cases, and its role."""

    name: str
    count: int
    cases: int
    role: str | None


@dataclass(frozen=True, slots=True)
class Variant:
    """A distinct sequence of activities and the number (and share) of cases that follow it."""

    activities: tuple[str, ...]
    count: int
    share: float

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Variant:
        """Build from an Arrow row."""
        return cls(tuple(row["activities"]), int(row["count"]), float(row["share"]))


@dataclass(frozen=True, slots=True)
class ProcessGraph:
    """The discovered process: activities, directly-follows edges, start/end activities, variants.

    Examples
    --------
    >>> import pandas as pd
    >>> from procmine.log import EventLog
    >>> log = EventLog.from_pandas(pd.DataFrame({
    ...     "case": ["1", "1", "1", "2", "2"],
    ...     "activity": ["a", "b", "c", "a", "c"],
    ...     "timestamp": pd.date_range("2024-01-01", periods=5, freq="h"),
    ... }))
    >>> g = discover(log)
    >>> g.dfg()
    {('a', 'b'): 1, ('a', 'c'): 1, ('b', 'c'): 1}
    >>> [(v.activities, v.count) for v in g.variants]
    [(('a', 'b', 'c'), 1), (('a', 'c'), 1)]
    """

    activities: tuple[ActivityStats, ...]
    edges: tuple[Edge, ...]
    start_activities: Mapping[str, int]
    end_activities: Mapping[str, int]
    variants: Records[Variant]
    cases: int
    events: int

    def dfg(self) -> dict[tuple[str, str], int]:
        """``{(source, target): count}``, the form ``pm4py.discover_dfg`` returns."""
        return {(e.source, e.target): e.count for e in self.edges}

    def variant_counts(self) -> dict[tuple[str, ...], int]:
        """``{activities: count}``, the form ``pm4py.get_variants`` returns."""
        table = self.variants.table
        acts = table.column("activities").to_pylist()
        counts = table.column("count").to_pylist()
        return {tuple(a): int(c) for a, c in zip(acts, counts, strict=True)}

    def edges_frame(self) -> pd.DataFrame:
        """The edges as a pandas frame."""
        columns = list(Edge.__slots__)
        return pd.DataFrame([_asdict(e) for e in self.edges], columns=columns)

    def to_dict(self, *, max_variants: int = 20) -> dict[str, Any]:
        """JSON-ready summary (the top ``max_variants`` variants)."""
        return {
            "cases": self.cases,
            "events": self.events,
            "activities": [_asdict(a) for a in self.activities],
            "edges": [_asdict(e) for e in self.edges],
            "start_activities": dict(self.start_activities),
            "end_activities": dict(self.end_activities),
            "variants": {
                "count": len(self.variants),
                "top": [
                    {"activities": list(v.activities), "count": v.count, "share": v.share}
                    for v in self.variants.head(max_variants)
                ],
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ProcessGraph:
        """Rebuild a graph from :meth:`to_dict` (only the variants kept there come back).

        Examples
        --------
        >>> g = ProcessGraph.from_dict({"cases": 1, "events": 2,
        ...     "activities": [{"name": "a", "count": 1, "cases": 1, "role": None},
        ...                    {"name": "b", "count": 1, "cases": 1, "role": None}],
        ...     "edges": [{"source": "a", "target": "b", "count": 1, "cases": 1,
        ...                "mean_seconds": 60.0, "median_seconds": 60.0, "p90_seconds": 60.0}],
        ...     "start_activities": {"a": 1}, "end_activities": {"b": 1},
        ...     "variants": {"count": 1, "top": [
        ...         {"activities": ["a", "b"], "count": 1, "share": 1.0}]}})
        >>> g.dfg(), g.to_dict() == ProcessGraph.from_dict(g.to_dict()).to_dict()
        ({('a', 'b'): 1}, True)
        """
        top = data["variants"]["top"]
        variants = pa.table(
            {
                "activities": pa.array([v["activities"] for v in top], pa.list_(pa.string())),
                "count": pa.array([v["count"] for v in top], pa.int64()),
                "share": pa.array([v["share"] for v in top], pa.float64()),
            }
        )
        return cls(
            activities=tuple(ActivityStats(**a) for a in data["activities"]),
            edges=tuple(Edge(**e) for e in data["edges"]),
            start_activities=dict(data["start_activities"]),
            end_activities=dict(data["end_activities"]),
            variants=Records(variants, Variant.from_row),
            cases=int(data["cases"]),
            events=int(data["events"]),
        )


def _asdict(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _ordered(t: ir.Table) -> ir.Table:
    """Events with their successor in the case (``next_*``) and position (``pos``)."""
    w = ibis.window(group_by=t.case_id, order_by=[t.ts, t.row])
    return t.mutate(
        next_activity=t.activity.lead().over(w),
        next_ts=t.ts.lead().over(w),
        pos=ibis.row_number().over(w),
    )


def discover(log: EventLog) -> ProcessGraph:
    """Discover the directly-follows graph and the variants of ``log``.

    Everything is computed by the engine (group-bys over the events placed in their cases);
    only the aggregated graph and the variants table come back to Python.
    """
    return graph_of(log.engine, log.sequence(), cases=log.stats.cases, events=log.stats.events)


def graph_of(engine: Engine, t: ir.Table, *, cases: int, events: int) -> ProcessGraph:
    """The process graph of any event table with ``case_id, activity, ts, row, role``
    (and, if it has them, the placing columns ``pos, next_activity, next_ts``)."""
    placed = {"pos", "next_activity", "next_ts"} <= set(t.columns)
    # Without the placing columns: one sort of the events by case and time, stored, so that
    # every aggregate below reads the result.
    o = t if placed else engine.materialize(_ordered(t), "ordered")
    try:
        edges_q = o.filter(o.next_activity.notnull()).mutate(
            dur=o.next_ts.epoch_seconds() - o.ts.epoch_seconds()
        )
        edges_q = edges_q.group_by(["activity", "next_activity"]).aggregate(
            count=edges_q.count(),
            cases=edges_q.case_id.nunique(),
            mean=edges_q.dur.mean(),
            median=edges_q.dur.quantile(0.5),
            p90=edges_q.dur.quantile(0.9),
        )
        edges = tuple(
            sorted(
                (
                    Edge(
                        source=str(r["activity"]),
                        target=str(r["next_activity"]),
                        count=int(r["count"]),
                        cases=int(r["cases"]),
                        mean_seconds=float(r["mean"]),
                        median_seconds=float(r["median"]),
                        p90_seconds=float(r["p90"]),
                    )
                    for r in edges_q.to_pyarrow().to_pylist()
                ),
                key=lambda e: (-e.count, e.source, e.target),
            )
        )
        per_activity = o.group_by(["activity", "role"]).aggregate(
            count=o.count(), cases=o.case_id.nunique()
        )
        activities = tuple(
            sorted(
                (
                    ActivityStats(
                        name=str(r["activity"]),
                        count=int(r["count"]),
                        cases=int(r["cases"]),
                        role=None if r["role"] is None else str(r["role"]),
                    )
                    for r in per_activity.to_pyarrow().to_pylist()
                ),
                key=lambda a: (-a.count, a.name),
            )
        )
        starts = _counts(o.filter(o.pos == 0))
        ends = _counts(o.filter(o.next_activity.isnull()))
        variants = _variants(engine, o)
    finally:
        if not placed:
            engine.drop(o.get_name())
    return ProcessGraph(
        activities=activities,
        edges=edges,
        start_activities=starts,
        end_activities=ends,
        variants=variants,
        cases=cases,
        events=events,
    )


def _counts(t: ir.Table) -> dict[str, int]:
    rows = t.group_by("activity").aggregate(n=t.count()).to_pyarrow().to_pylist()
    pairs = sorted(
        ((str(r["activity"]), int(r["n"])) for r in rows), key=lambda an: (-an[1], an[0])
    )
    return dict(pairs)


def _variants(engine: Engine, o: ir.Table) -> Records[Variant]:
    # Traces are grouped as lists of small integers, not of strings: hashing and comparing
    # them is the cost of this query. The codes follow the names' order, so ordering the
    # lists of codes orders the sequences of names alike.
    names = o.select("activity").distinct()
    codes = names.mutate(code=ibis.dense_rank().over(order_by=names.activity).cast("int32"))
    coded = o.select("case_id", "activity", "pos").join(codes, "activity")
    if engine.kind == "spark":
        # Spark has no ordered aggregates: collect (position, code) pairs and sort them.
        pairs = coded.group_by("case_id").aggregate(
            pairs=ibis.struct({"pos": coded.pos, "code": coded.code}).collect()
        )
        traces = pairs.select("case_id", codes=pairs.pairs.sort().map(lambda p: p.code))
    else:
        traces = coded.group_by("case_id").aggregate(codes=coded.code.collect(order_by=coded.pos))
    counted = traces.group_by("codes").aggregate(count=traces.count())
    total = ibis.literal(1.0) * counted["count"].sum().over(ibis.window())
    # Most frequent first; ties broken by the sequence itself so the order is deterministic.
    table: pa.Table = (
        counted.mutate(share=counted["count"] / total)
        .order_by([ibis.desc("count"), "codes"])
        .to_pyarrow()
    )
    lookup = codes.order_by("code").to_pyarrow()
    lists = table.column("codes").combine_chunks()
    activities = pa.ListArray.from_arrays(
        pc.subtract(lists.offsets, lists.offsets[0]),
        pc.take(lookup.column("activity").combine_chunks(), lists.flatten()),
    )
    variants = pa.table(
        {
            "activities": activities,
            "count": table.column("count"),
            "share": table.column("share"),
        }
    )
    return Records(variants, Variant.from_row)
