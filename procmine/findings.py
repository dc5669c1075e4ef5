# SPDX-License-Identifier: AGPL-3.0-or-later
"""Typed results: instances (the evidence), findings (the scored aggregate), the document.

The findings document (``findings.json``, ``procmine analyze --json``) follows DESIGN.md
section 5::

    {"log": {...}, "findings": [{"id", "detector", "title", "severity", "metrics",
     "assumptions", "instances": [...]}, ...]}

with, per finding, also ``variant``, ``summary``, ``evidence``, ``units``, ``notes`` and the
``churn`` comparison.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, overload

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from procmine._sql import quote_ident, quote_literal
from procmine.records import Records

__all__ = [
    "INSTANCE_SCHEMA",
    "INSTANCE_SHOWN",
    "Cause",
    "Finding",
    "FindingEdge",
    "Findings",
    "Instance",
    "dump_chunks",
    "dumps",
    "json_rows",
    "json_value",
    "shown_columns",
]

#: Columns of every instance table, whatever the detector (unused ones are null).
INSTANCE_SCHEMA = pa.schema(
    [
        ("customer", pa.string()),
        ("original_case", pa.string()),
        ("replacement_case", pa.string()),
        ("variant", pa.string()),
        ("similarity", pa.string()),
        ("original_order_time", pa.timestamp("us")),
        ("anchor_time", pa.timestamp("us")),
        ("replacement_order_time", pa.timestamp("us")),
        ("replacement_end_time", pa.timestamp("us")),
        ("time_lost_hours", pa.float64()),
        ("amount_original", pa.float64()),
        ("amount_replacement", pa.float64()),
        ("refund_amount", pa.float64()),
        ("shipped", pa.bool_()),
        ("captured", pa.bool_()),
        ("chain_id", pa.string()),
        ("chain_position", pa.int64()),
        ("chain_length", pa.int64()),
        ("contacts", pa.int64()),
        ("step", pa.string()),
        ("repeats", pa.int64()),
        ("return_shipping_cost", pa.float64()),
        ("cost", pa.float64()),
    ]
)

#: The instance columns a table for people shows (the CSV and JSON have them all).
INSTANCE_SHOWN: tuple[str, ...] = (
    "customer",
    "original_case",
    "replacement_case",
    "variant",
    "similarity",
    "step",
    "repeats",
    "original_order_time",
    "anchor_time",
    "replacement_order_time",
    "time_lost_hours",
    "amount_original",
    "cost",
)


def shown_columns(rows: Sequence[Mapping[str, Any]]) -> tuple[str, ...]:
    """The columns of :data:`INSTANCE_SHOWN` that hold a value in some of ``rows``.

    Each detector fills its own columns (a detour its replacement, a rework its step), so a
    table for people leaves out those that are empty throughout; the customer and the order
    always stay.

    >>> shown_columns([{"customer": "c1", "original_case": "A", "step": "Shipped"}])
    ('customer', 'original_case', 'step')
    """
    always = {"customer", "original_case"}
    return tuple(
        c for c in INSTANCE_SHOWN if c in always or any(r.get(c) is not None for r in rows)
    )


@dataclass(frozen=True, slots=True)
class Instance:
    """One piece of evidence: a customer's original order and (for detours) its replacement.

    ``anchor_time`` is the cancel or the return request; ``time_lost_hours`` how much longer
    the customer waited for the right item than a clean order takes; ``cost`` the direct cost
    under the cost model (extra shipment, return label and handling, payment fee, contacts).
    For friction inside one order (rework, ping-pong, waits, contacts, vouchers) ``step`` names
    what happened (the repeated activity, ``A -> B`` for a transition, ``X <-> Y`` for a
    ping-pong between resources) and ``repeats`` how many extra times; ``anchor_time`` is
    when it started and ``time_lost_hours`` what it cost in time (see each detector).
    """

    customer: str
    original_case: str
    replacement_case: str | None
    variant: str
    similarity: str | None
    original_order_time: dt.datetime
    anchor_time: dt.datetime | None
    replacement_order_time: dt.datetime | None
    replacement_end_time: dt.datetime | None
    time_lost_hours: float | None
    amount_original: float | None
    amount_replacement: float | None
    refund_amount: float | None
    shipped: bool | None
    captured: bool | None
    chain_id: str | None
    chain_position: int | None
    chain_length: int | None
    contacts: int | None
    step: str | None
    repeats: int | None
    return_shipping_cost: float | None
    cost: float | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Instance:
        """Build from an Arrow row of :data:`INSTANCE_SCHEMA`."""
        return cls(**{f.name: row.get(f.name) for f in fields(cls)})  # type: ignore[arg-type]


def json_value(value: Any) -> Any:
    """A value as JSON can hold it: NaN and infinities become null, dates ISO 8601.

    >>> json_value(float("nan")), json_value(dt.date(2024, 3, 1)), json_value(2.5)
    (None, '2024-03-01', 2.5)
    """
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value


def json_rows(table: pa.Table) -> list[dict[str, Any]]:
    """The rows of ``table`` as JSON-ready dicts, as :func:`json_value` would make them.

    Converted a column at a time (non-finite floats become null in Arrow, times ISO 8601):
    a finding can have a hundred thousand instances, and a call per cell took seconds.

    >>> json_rows(pa.table({"x": [1.5, float("nan")], "t": [dt.datetime(2024, 3, 1), None]}))
    [{'x': 1.5, 't': '2024-03-01T00:00:00'}, {'x': None, 't': None}]
    """
    columns: list[list[Any]] = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type) or pa.types.is_date(column.type):
            columns.append([None if v is None else v.isoformat() for v in column.to_pylist()])
        elif pa.types.is_floating(column.type):
            finite = pc.if_else(pc.is_finite(column), column, pa.scalar(None, column.type))
            columns.append(finite.to_pylist())
        else:
            columns.append(column.to_pylist())
    names = table.column_names
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


@dataclass(frozen=True, slots=True)
class FindingEdge:
    """A directly-follows edge characteristic of a finding's cases.

    ``cases`` of the finding's cases take it (``share`` of them), ``lift`` times as often as
    the cases of the whole log do.
    """

    source: str
    target: str
    cases: int
    share: float
    lift: float

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "target": self.target,
            "cases": self.cases,
            "share": round(self.share, 4),
            "lift": round(self.lift, 2),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FindingEdge:
        """Rebuild from :meth:`to_dict`."""
        return cls(
            source=str(data["source"]),
            target=str(data["target"]),
            cases=int(data["cases"]),
            share=float(data["share"]),
            lift=float(data["lift"]),
        )


@dataclass(frozen=True, slots=True)
class Cause:
    """An attribute value that makes a finding more likely (see :mod:`procmine.causes`).

    Of the ``orders`` holding the value, ``affected`` are affected: a ``rate`` against
    ``rate_rest`` among the other orders, ``lift`` times as high, ``excess`` affected orders
    beyond the other orders' rate. ``p_value`` is one-sided (hypergeometric), ``q_value`` is
    Benjamini-Hochberg corrected over every value tested for the finding.

    >>> c = Cause("category", "Shoes", 412, 57, 0.138, 0.045, 3.07, 38.5, 2e-9, 1e-8, True)
    >>> c.describe()
    'category = Shoes: 3.1x as likely (n=412 orders, 57 affected, p<0.001)'
    """

    attribute: str
    value: str
    orders: int
    affected: int
    rate: float
    rate_rest: float
    lift: float
    excess: float
    p_value: float
    q_value: float
    significant: bool

    def describe(self) -> str:
        """One line for people: the value, its lift, the counts and the p-value."""
        p = "p<0.001" if self.p_value < 0.001 else f"p={self.p_value:.3f}"
        verdict = "" if self.significant else ", not significant after correction"
        return (
            f"{self.attribute} = {self.value}: {self.lift:.1f}x as likely (n={self.orders:,} "
            f"orders, {self.affected:,} affected, {p}{verdict})"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (with the :meth:`describe` text)."""
        return {
            "attribute": self.attribute,
            "value": self.value,
            "orders": self.orders,
            "affected": self.affected,
            "rate": round(self.rate, 6),
            "rate_rest": round(self.rate_rest, 6),
            "lift": json_value(round(self.lift, 3)),
            "excess": round(self.excess, 2),
            "p_value": self.p_value,
            "q_value": self.q_value,
            "significant": self.significant,
            "text": self.describe(),
        }


@dataclass(frozen=True, slots=True)
class Finding:
    """A friction pattern found in the log, with its evidence and its price.

    ``id`` is stable across analyses (``detector:variant``), so a dashboard can follow a
    finding over time. ``severity`` is the expected money at risk per month in the log's
    currency (direct cost of the excess instances plus conclusive revenue at risk, scaled to a
    30.44-day month); ``evidence`` is ``A`` (at least 100 matched customers and a churn
    interval excluding zero), ``B`` (at least 30) or ``C`` (fewer: counts only).
    """

    id: str
    detector: str
    variant: str
    title: str
    summary: str
    severity: float
    evidence: str
    metrics: Mapping[str, float | int | None]
    units: Mapping[str, str]
    assumptions: Mapping[str, Any]
    notes: tuple[str, ...]
    churn: Mapping[str, Any] | None
    instances: Records[Instance] = field(repr=False)
    #: the map edges characteristic of its cases (set by :func:`~procmine.analysis.analyze`)
    edges: tuple[FindingEdge, ...] = ()
    #: attribute values that make it more likely (set by :func:`~procmine.analysis.detect`)
    causes: tuple[Cause, ...] = ()

    def to_dict(
        self, *, instances: bool = True, max_instances: int | None = None
    ) -> dict[str, Any]:
        """JSON-ready form (the ``findings`` entries of the document)."""
        data: dict[str, Any] = {
            "id": self.id,
            "detector": self.detector,
            "variant": self.variant,
            "title": self.title,
            "summary": self.summary,
            "severity": json_value(round(self.severity, 2)),
            "evidence": self.evidence,
            "metrics": {k: json_value(v) for k, v in self.metrics.items()},
            "units": dict(self.units),
            "assumptions": dict(self.assumptions),
            "notes": list(self.notes),
            "churn": self.churn,
            "edges": [e.to_dict() for e in self.edges],
            "causes": [c.to_dict() for c in self.causes],
        }
        if instances:
            table = self.instances.table
            if max_instances is not None:
                table = table.slice(0, max_instances)
            data["instances"] = json_rows(table)
        return data

    def metrics_frame(self) -> pd.DataFrame:
        """The metrics as a two-column frame (name, value) with their units."""
        return pd.DataFrame(
            {
                "metric": list(self.metrics),
                "value": list(self.metrics.values()),
                "unit": [self.units.get(k, "") for k in self.metrics],
            }
        )


class Findings(Sequence[Finding]):
    """The findings of an analysis, most severe first.

    Examples
    --------
    >>> Findings([]).to_pandas().empty
    True
    """

    def __init__(self, findings: Sequence[Finding]) -> None:
        self._items = tuple(sorted(findings, key=lambda f: (-f.severity, f.id)))

    @overload
    def __getitem__(self, index: int) -> Finding: ...

    @overload
    def __getitem__(self, index: slice) -> Findings: ...

    def __getitem__(self, index: int | slice) -> Finding | Findings:
        if isinstance(index, slice):
            return Findings(self._items[index])
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._items)

    def get(self, finding_id: str) -> Finding | None:
        """The finding with ``finding_id``, if any."""
        return next((f for f in self._items if f.id == finding_id), None)

    def cases(self, columns: Sequence[str] = ("original_case",)) -> pa.Table:
        """``finding, case_id``: the orders named in ``columns`` of each finding's instances,
        one row per instance and column (repeats and blanks kept), for the engine to join.

        >>> Findings([]).cases().to_pydict()
        {'finding': [], 'case_id': []}
        """
        parts = [
            pa.table(
                {
                    "finding": pa.repeat(pa.scalar(f.id, pa.string()), len(f.instances)),
                    "case_id": f.instances.table.column(column),
                }
            )
            for f in self._items
            for column in columns
            if len(f.instances)
        ]
        if not parts:
            return pa.table(
                {"finding": pa.array([], pa.string()), "case_id": pa.array([], pa.string())}
            )
        return pa.concat_tables(parts)

    def to_pandas(self) -> pd.DataFrame:
        """One row per finding: id, detector, variant, severity, evidence and every metric."""
        rows = [
            {
                "id": f.id,
                "detector": f.detector,
                "variant": f.variant,
                "title": f.title,
                "severity": f.severity,
                "evidence": f.evidence,
                **f.metrics,
            }
            for f in self._items
        ]
        return pd.DataFrame(rows)

    def instances(self) -> pd.DataFrame:
        """All instances of all findings in one frame, with the finding id."""
        frames = [
            f.instances.to_pandas().assign(finding=f.id) for f in self._items if len(f.instances)
        ]
        if not frames:
            return pd.DataFrame(columns=[*INSTANCE_SCHEMA.names, "finding"])
        return pd.concat(frames, ignore_index=True)

    def __repr__(self) -> str:
        return f"Findings({', '.join(f.id for f in self._items)})"

    def _repr_html_(self) -> str:
        columns = [
            "id",
            "severity",
            "evidence",
            "instances",
            "affected_customers",
            "excess_instances",
            "median_time_lost_hours",
            "churn_difference",
            "revenue_at_risk",
        ]
        frame = self.to_pandas()
        html: str = frame[[c for c in columns if c in frame.columns]].to_html(
            index=False, float_format=lambda x: f"{x:,.2f}"
        )
        return html


#: Above this many instances a findings document is written compactly (see :func:`dumps`).
PRETTY_INSTANCES = 20_000


def dump_chunks(
    document: Mapping[str, Any], instances: Sequence[pa.Table], *, chunk_rows: int = 200_000
) -> Iterator[bytes | memoryview]:
    """A findings document as UTF-8 JSON, in pieces, with each finding's instances encoded
    by DuckDB instead of Python.

    ``document`` holds its findings without instances (``to_dict(instances=False)``);
    ``instances[i]`` is the instance table of finding ``i``. The result parses to what
    :func:`dumps` gives for the full document. Small documents are :func:`dumps` itself;
    above :data:`PRETTY_INSTANCES` instances, converting every cell to a Python object cost
    tens of seconds and gigabytes on a ten-million-event log, and the pieces let the
    caller write the file without holding it whole.

    >>> doc = {"findings": [{"id": "f", "instances": None}]}
    >>> t = pa.table({"x": [1.5, float("inf")], "t": [dt.datetime(2024, 3, 1, 0, 0, 0, 5), None]})
    >>> json.loads(b"".join(dump_chunks(doc, [t])))["findings"][0]["instances"]
    [{'x': 1.5, 't': '2024-03-01T00:00:00.000005'}, {'x': None, 't': None}]
    """
    findings = list(document.get("findings", ()))
    if len(findings) != len(instances):
        raise ValueError(f"{len(findings)} findings but {len(instances)} instance tables")
    if sum(t.num_rows for t in instances) <= PRETTY_INSTANCES:
        full = {
            **document,
            "findings": [
                {**f, "instances": json_rows(t)} for f, t in zip(findings, instances, strict=True)
            ],
        }
        yield dumps(full).encode("utf-8")
        return
    # A marker no finding can contain, replaced by the instances on the way out.
    marker = f"@instances-{uuid.uuid4().hex}@"
    text = json.dumps(
        {**document, "findings": [{**f, "instances": marker} for f in findings]},
        ensure_ascii=False,
        default=json_value,
        allow_nan=False,
    )
    pieces = text.split(json.dumps(marker))
    yield pieces[0].encode("utf-8")
    for table, piece in zip(instances, pieces[1:], strict=True):
        yield from _json_array(table, chunk_rows)
        yield piece.encode("utf-8")


def _json_array(table: pa.Table, chunk_rows: int) -> Iterator[bytes | memoryview]:
    """``table`` as a JSON array of objects (values as :func:`json_rows` gives them)."""
    import duckdb

    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        fields = []
        for f in table.schema:
            c = quote_ident(f.name)
            if pa.types.is_timestamp(f.type):
                # datetime.isoformat: seconds, then microseconds only when there are some
                # (one strftime either way: cheaper than appending the digits).
                value = (
                    f"CASE WHEN epoch_us({c}) % 1000000 = 0 "
                    f"THEN strftime({c}, '%Y-%m-%dT%H:%M:%S') "
                    f"ELSE strftime({c}, '%Y-%m-%dT%H:%M:%S.%f') END"
                )
            elif pa.types.is_floating(f.type):
                value = f"CASE WHEN isfinite({c}) THEN {c} END"
            else:
                value = c
            fields.append(f"{quote_literal(f.name)}: {value}")
        yield b"["
        # Each row ends with its comma, so that the text column's data buffers are the rows
        # joined: they are handed on as they are, without a copy (hundreds of megabytes on a
        # large log: combining DuckDB's batches into one array first took longer than
        # encoding them); only the very last comma is left out.
        query = f"SELECT CAST(to_json({{{', '.join(fields)}}}) AS VARCHAR) || ',' AS j FROM chunk"
        for start in range(0, table.num_rows, chunk_rows):
            # One slice at a time (zero-copy), so rows come back in order and memory holds
            # one slice's text.
            con.register("chunk", table.slice(start, chunk_rows))
            batches = [b for b in con.sql(query).to_arrow_table().column("j").chunks if len(b)]
            con.unregister("chunk")
            for i, rows in enumerate(batches):
                last = start + chunk_rows >= table.num_rows and i == len(batches) - 1
                yield _text_buffer(rows, drop_last_byte=last)
        yield b"]"
    finally:
        con.close()


def _text_buffer(rows: pa.Array, *, drop_last_byte: bool) -> memoryview:
    """The UTF-8 bytes of a text array's values, joined, as a view of its data buffer."""
    if not (pa.types.is_string(rows.type) or pa.types.is_large_string(rows.type)):
        rows = rows.cast(pa.large_string())  # a string view has no offsets buffer
    raw = memoryview(rows.buffers()[1])
    offsets = raw.cast("q") if pa.types.is_large_string(rows.type) else raw.cast("i")
    first, end = offsets[rows.offset], offsets[rows.offset + len(rows)]
    return memoryview(rows.buffers()[2])[first : end - 1 if drop_last_byte else end]


def dumps(document: Mapping[str, Any]) -> str:
    """Serialise a findings document (NaN becomes null, datetimes ISO 8601).

    Indented for people, unless it holds more than :data:`PRETTY_INSTANCES` instances:
    Python's JSON encoder indents in pure Python, which took seconds on a million-event log,
    and nobody reads such a document without a tool.
    """
    total = sum(len(f.get("instances", ())) for f in document.get("findings", ()))
    return json.dumps(
        document,
        indent=2 if total <= PRETTY_INSTANCES else None,
        ensure_ascii=False,
        default=json_value,
        allow_nan=False,
    )
