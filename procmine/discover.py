# SPDX-License-Identifier: AGPL-3.0-or-later
"""Discovery: the directly-follows graph (frequency and performance) and the variants.

Events of a case are ordered by timestamp and, for equal timestamps, by their position in the
source, the same order pm4py uses (a stable sort on case and timestamp), so the counts equal
``pm4py.discover_dfg`` and ``pm4py.get_variants`` exactly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from procmine._sql import execute, quote_ident
from procmine.engine import Engine
from procmine.log import EventLog
from procmine.records import Records

__all__ = [
    "ActivityStats",
    "CaseVariants",
    "Edge",
    "ProcessGraph",
    "Variant",
    "discover",
    "discover_with_cases",
    "graph_of",
    "placed",
    "variant_edges",
]


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


def placed(t: ir.Table) -> ir.Table:
    """Events of any table with ``case_id, activity, ts, row`` placed in their cases: their
    successor (``next_activity``, ``next_ts``) and position (``pos``), by time, then row."""
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


@dataclass(frozen=True, slots=True)
class CaseVariants:
    """Which variant each case follows: the engine table ``table``, one row per case with
    ``case_id`` and ``variant`` (the variant's position in :attr:`ProcessGraph.variants`).

    It lives as long as the :func:`discover_with_cases` block that made it.
    """

    table: str


@contextmanager
def discover_with_cases(log: EventLog) -> Iterator[tuple[ProcessGraph, CaseVariants | None]]:
    """:func:`discover`, keeping which variant each case follows while the block runs.

    A later question about the paths of a set of cases
    (:func:`procmine.edges.characteristic_edges`) then reads one row per case and the
    variants' sequences instead of every event of those cases. ``None`` in place of the
    table on engines whose variants are not fingerprinted (Spark). The table is dropped when
    the block ends; the graph stays.

    >>> import pandas as pd
    >>> log = EventLog.from_pandas(pd.DataFrame({
    ...     "case": ["1", "1", "2", "2", "3"],
    ...     "activity": ["a", "b", "a", "b", "a"],
    ...     "timestamp": pd.date_range("2024-01-01", periods=5, freq="h"),
    ... }))
    >>> with discover_with_cases(log) as (graph, cases):
    ...     log.engine.table(cases.table).order_by("case_id").to_pyarrow().to_pydict()
    {'case_id': ['1', '2', '3'], 'variant': [0, 0, 1]}
    >>> [v.activities for v in graph.variants]
    [('a', 'b'), ('a',)]
    """
    engine = log.engine
    if engine.kind != "duckdb":
        yield discover(log), None
        return
    keep = engine.unique_name("case_variants")
    try:
        graph = graph_of(
            engine, log.sequence(), cases=log.stats.cases, events=log.stats.events, keep=keep
        )
        yield graph, CaseVariants(keep)
    finally:
        engine.drop(keep)


def graph_of(
    engine: Engine, t: ir.Table, *, cases: int, events: int, keep: str | None = None
) -> ProcessGraph:
    """The process graph of any event table with ``case_id, activity, ts, row, role``
    (and, if it has them, the placing columns ``pos, next_activity, next_ts``).

    Three queries over the events: the edges with their durations, the activities with
    their counts, and the variants. How many cases hold an edge or an activity, and how
    cases start and end, are then read off the variants (each variant counted once per
    case that follows it), not counted again over every event. With ``keep`` (DuckDB
    only), each case's variant is stored in the table of that name (:class:`CaseVariants`).
    """
    has_places = {"pos", "next_activity", "next_ts"} <= set(t.columns)
    # Without the placing columns: one sort of the events by case and time, stored, so that
    # every aggregate below reads the result.
    o = t if has_places else engine.materialize(placed(t), "ordered")
    try:
        edges_q = o.filter(o.next_activity.notnull()).mutate(
            dur=o.next_ts.epoch_seconds() - o.ts.epoch_seconds()
        )
        edge_rows = (
            edges_q.group_by(["activity", "next_activity"])
            .aggregate(
                count=edges_q.count(),
                mean=edges_q.dur.mean(),
                median=edges_q.dur.quantile(0.5),
                p90=edges_q.dur.quantile(0.9),
            )
            .to_pyarrow()
            .to_pylist()
        )
        activity_rows = (
            o.group_by(["activity", "role"]).aggregate(count=o.count()).to_pyarrow().to_pylist()
        )
        variants = _variants(engine, o, keep)
    finally:
        if not has_places:
            engine.drop(o.get_name())
    spread = _spread(variants.table)
    edges = tuple(
        sorted(
            (
                Edge(
                    source=str(r["activity"]),
                    target=str(r["next_activity"]),
                    count=int(r["count"]),
                    cases=spread.edge_cases[(str(r["activity"]), str(r["next_activity"]))],
                    mean_seconds=float(r["mean"]),
                    median_seconds=float(r["median"]),
                    p90_seconds=float(r["p90"]),
                )
                for r in edge_rows
            ),
            key=lambda e: (-e.count, e.source, e.target),
        )
    )
    activities = tuple(
        sorted(
            (
                ActivityStats(
                    name=str(r["activity"]),
                    count=int(r["count"]),
                    cases=spread.activity_cases[str(r["activity"])],
                    role=None if r["role"] is None else str(r["role"]),
                )
                for r in activity_rows
            ),
            key=lambda a: (-a.count, a.name),
        )
    )
    return ProcessGraph(
        activities=activities,
        edges=edges,
        start_activities=spread.starts,
        end_activities=spread.ends,
        variants=variants,
        cases=cases,
        events=events,
    )


@dataclass(frozen=True, slots=True)
class _Spread:
    """Case counts read off the variants."""

    edge_cases: Mapping[tuple[str, str], int]
    activity_cases: Mapping[str, int]
    starts: dict[str, int]
    ends: dict[str, int]


def _spread(variants: pa.Table) -> _Spread:
    """In how many cases each edge and activity occurs, and how cases start and end.

    Vectorised over the variants' flattened activities: an edge or activity is counted once
    per variant it occurs in, weighted by the variant's cases.
    """
    lists = variants.column("activities").combine_chunks()
    weight = variants.column("count").combine_chunks()
    flat = lists.flatten()
    parent = pc.list_parent_indices(lists)
    steps = pa.table({"v": parent, "a": flat, "n": pc.take(weight, parent)})
    once = steps.group_by(["v", "a"]).aggregate([("n", "max")])
    per_activity = once.group_by("a").aggregate([("n_max", "sum")]).to_pydict()
    pairs = variant_edges(variants)
    per_edge = (
        pairs.append_column("n", pc.take(weight, pairs.column("variant")))
        .group_by(["source", "target"])
        .aggregate([("n", "sum")])
        .to_pydict()
    )
    offsets = lists.offsets.to_numpy()
    firsts = pc.take(flat, pa.array(offsets[:-1]))
    lasts = pc.take(flat, pa.array(offsets[1:] - 1))
    return _Spread(
        edge_cases={
            (a, b): int(n)
            for a, b, n in zip(
                per_edge["source"], per_edge["target"], per_edge["n_sum"], strict=True
            )
        },
        activity_cases={
            a: int(n) for a, n in zip(per_activity["a"], per_activity["n_max_sum"], strict=True)
        },
        starts=_weighted(firsts, weight),
        ends=_weighted(lasts, weight),
    )


def variant_edges(variants: pa.Table) -> pa.Table:
    """The distinct edges of each variant: ``variant`` (its row in ``variants``, which has
    the ``activities`` column of :attr:`ProcessGraph.variants`), ``source``, ``target``.

    >>> table = pa.table({"activities": [["a", "b", "a", "b"], ["a"]]})
    >>> edges = variant_edges(table)
    >>> edges.sort_by([("variant", "ascending"), ("source", "ascending")]).to_pydict()
    {'variant': [0, 0], 'source': ['a', 'b'], 'target': ['b', 'a']}
    """
    lists = variants.column("activities").combine_chunks()
    flat = lists.flatten()
    parent = pc.cast(pc.list_parent_indices(lists), pa.int64())
    pairs = pa.table({"variant": parent[:-1], "source": flat[:-1], "target": flat[1:]})
    # Consecutive activities of one variant, each edge once per variant.
    within = pairs.filter(pc.equal(parent[:-1], parent[1:]))
    return within.group_by(["variant", "source", "target"], use_threads=False).aggregate([])


def _weighted(names: pa.Array, weight: pa.Array) -> dict[str, int]:
    """``{name: total weight}``, most first, ties by name."""
    found = pa.table({"a": names, "n": weight}).group_by("a").aggregate([("n", "sum")])
    pairs = sorted(
        zip(found.column("a").to_pylist(), found.column("n_sum").to_pylist(), strict=True),
        key=lambda an: (-an[1], an[0]),
    )
    return {str(a): int(n) for a, n in pairs}


def _variants(engine: Engine, o: ir.Table, keep: str | None = None) -> Records[Variant]:
    """The variants, most frequent first (ties by the sequence itself, so the order is
    deterministic)."""
    duckdb = engine.kind == "duckdb"
    table = _duckdb_variants(engine, o, keep) if duckdb else _collected_variants(o)
    total = pc.sum(table.column("count")).as_py() or 1
    variants = pa.table(
        {
            "activities": table.column("activities"),
            "count": table.column("count"),
            "share": pc.divide(pc.cast(table.column("count"), pa.float64()), float(total)),
        }
    )
    return Records(variants, Variant.from_row)


def _duckdb_variants(engine: Engine, o: ir.Table, keep: str | None = None) -> pa.Table:
    """Variants on DuckDB: cases are grouped by a fingerprint of their sequence, and only one
    case per fingerprint has its sequence collected. With ``keep``, the table of that name
    gets each case's variant (:class:`CaseVariants`).

    Collecting every case's sequence in order is a sort of all events; the fingerprint is a
    plain sum per case. It adds up a 64-bit hash of each (activity, position) pair; two
    different sequences of the same length share a fingerprint with a chance of about one in
    2^64 per pair of variants.
    """
    expr = o.select("case_id", "activity", "pos")
    engine.backend._run_pre_execute_hooks(expr)  # registers the memtables it reads
    events = engine.backend.compile(expr)
    con = engine.raw
    # Stored, not a CTE: the cases' fingerprints are what ``keep`` maps to the variants.
    k, v, listed = (quote_ident(engine.unique_name(p)) for p in ("cases", "fps", "variants"))
    try:
        execute(
            con,
            f"CREATE TEMP TABLE {k} AS SELECT case_id, sum(hash(activity, pos)::HUGEINT) AS h, "
            f"count(*) AS n FROM ({events}) GROUP BY case_id",
        )
        execute(
            con,
            f"CREATE TEMP TABLE {v} AS SELECT h, n, count(*) AS count, min(case_id) AS rep "
            f"FROM {k} GROUP BY h, n",
        )
        execute(
            con,
            f"CREATE TEMP TABLE {listed} AS SELECT row_number() OVER "
            "(ORDER BY count DESC, activities) - 1 AS variant, * FROM ("
            "SELECT v.rep, list(e.activity ORDER BY e.pos) AS activities, "
            f"any_value(v.count) AS count FROM ({events}) e JOIN {v} v ON e.case_id = v.rep "
            "GROUP BY v.rep)",
        )
        table: pa.Table = con.sql(
            f"SELECT activities, count FROM {listed} ORDER BY variant"
        ).to_arrow_table()
        if keep is not None:
            execute(
                con,
                f"CREATE TEMP TABLE {quote_ident(keep)} AS SELECT k.case_id, l.variant "
                f"FROM {k} k JOIN {v} v ON k.h = v.h AND k.n = v.n "
                f"JOIN {listed} l ON l.rep = v.rep",
            )
    finally:
        for name in (listed, v, k):
            execute(con, f"DROP TABLE IF EXISTS {name}")
    return table


def _collected_variants(o: ir.Table) -> pa.Table:
    """Variants on any engine: each case's activities collected in order, as small integers
    (hashing and comparing lists of strings is the cost), then mapped back to names."""
    names = o.select("activity").distinct()
    # The codes follow the names' order, so ordering lists of codes orders the names alike.
    codes = names.mutate(code=ibis.dense_rank().over(order_by=names.activity).cast("int32"))
    coded = o.select("case_id", "activity", "pos").join(codes, "activity")
    # Spark has no ordered aggregates: collect (position, code) pairs and sort them.
    pairs = coded.group_by("case_id").aggregate(
        pairs=ibis.struct({"pos": coded.pos, "code": coded.code}).collect()
    )
    traces = pairs.select("case_id", codes=pairs.pairs.sort().map(lambda p: p.code))
    counted = traces.group_by("codes").aggregate(count=traces.count())
    table: pa.Table = counted.order_by([ibis.desc("count"), "codes"]).to_pyarrow()
    lookup = codes.order_by("code").to_pyarrow()
    lists = table.column("codes").combine_chunks()
    activities = pa.ListArray.from_arrays(
        pc.subtract(lists.offsets, lists.offsets[0]),
        pc.take(lookup.column("activity").combine_chunks(), lists.flatten()),
    )
    return pa.table({"activities": activities, "count": table.column("count")})
