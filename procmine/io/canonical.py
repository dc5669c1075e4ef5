# SPDX-License-Identifier: AGPL-3.0-or-later
"""Raw rows -> the canonical event table, with every validation a user's file needs.

The canonical table has fixed column names and types, whatever the source:

============  =========  ==============================================================
column        type       meaning
============  =========  ==============================================================
row           BIGINT     0-based position in the source (ties in time keep file order)
case_id       VARCHAR    the case (an order)
activity      ENUM       the activity label (see below)
ts            TIMESTAMP  when it happened, UTC
customer_id   VARCHAR    the customer of the case (a case attribute: one per case)
product       VARCHAR    SKU / product id on this row
family        VARCHAR    product family (style) on this row
category      VARCHAR    product category on this row
amount        DOUBLE     money on this row (order value, line value or refund)
resource      VARCHAR    who or what did it
attr:<name>   VARCHAR    a case-level dimension of the source (channel, region, carrier..)
pos           BIGINT     0-based position of the event in its case (by ``ts``, then ``row``)
prev_activity ENUM       the case's activity before this one (null for the first)
next_activity ENUM       the case's activity after this one (null for the last)
next_ts       TIMESTAMP  when the next activity happened
============  =========  ==============================================================

The activity columns share one ENUM type of the log's activities, in text order
(:func:`activity_enum`): to queries and to Ibis they read as text.

``attr:`` columns are the source's other columns that describe the order, not the event:
at most :data:`MAX_DIMENSION_VALUES` distinct values, one value per case, carried by every
event of the case. They are what root
causes (:mod:`procmine.causes`) are looked for in, beside the mapped fields.

Validation is lazy: all problems are collected and raised together.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from procmine._sql import execute, fetch_all, fetch_one, quote_ident
from procmine.errors import LogValidationError, Problem, ProblemCode
from procmine.io.tabular import RawTable
from procmine.io.timestamps import (
    ISO,
    check_iso_reading,
    detect_timestamp_format,
    parse_expression,
)
from procmine.mapping import ResolvedMapping

__all__ = [
    "CANONICAL_COLUMNS",
    "SEQUENCE_COLUMNS",
    "SEQUENCE_SQL",
    "STATS_SQL",
    "CanonicalResult",
    "activity_enum",
    "build_events",
]

CANONICAL_COLUMNS: dict[str, str] = {
    "row": "BIGINT",
    "case_id": "VARCHAR",
    "activity": "VARCHAR",
    "ts": "TIMESTAMP",
    "customer_id": "VARCHAR",
    "product": "VARCHAR",
    "family": "VARCHAR",
    "category": "VARCHAR",
    "amount": "DOUBLE",
    "resource": "VARCHAR",
}
#: The columns that place an event in its case, computed once when the table is built (one
#: sort) so that discovery and the detectors never sort the events again.
SEQUENCE_COLUMNS: dict[str, str] = {
    "pos": "BIGINT",
    "prev_activity": "VARCHAR",
    "next_activity": "VARCHAR",
    "next_ts": "TIMESTAMP",
}
#: The sequence columns over a window ``w`` of the events of a case in time order.
SEQUENCE_SQL = (
    "row_number() OVER w - 1 AS pos, lag(activity) OVER w AS prev_activity, "
    "lead(activity) OVER w AS next_activity, lead(ts) OVER w AS next_ts"
)
_TEXT_FIELDS = ("customer", "product", "family", "category", "resource")
#: A source column with at most this many distinct values, constant within each case, is
#: carried as a dimension (``attr:<name>``); more values is an id or free text.
MAX_DIMENSION_VALUES = 50
#: At most this many dimension columns are carried (the first in the source's order).
MAX_DIMENSIONS = 12
ATTR_PREFIX = "attr:"
_MAX_EXAMPLES = 5
_NUMERIC = (
    "TINYINT",
    "SMALLINT",
    "INTEGER",
    "BIGINT",
    "HUGEINT",
    "UTINYINT",
    "USMALLINT",
    "UINTEGER",
    "UBIGINT",
    "FLOAT",
    "DOUBLE",
    "REAL",
)


@dataclass(frozen=True, slots=True)
class CanonicalResult:
    """The canonical table that was built, its size (:data:`STATS_SQL`'s columns) and the
    warnings met on the way."""

    table: str
    timestamp_format: str
    warnings: tuple[Problem, ...]
    stats: Mapping[str, Any]


#: The size of a canonical table (the columns of :meth:`procmine.log.LogStats.from_row`). A
#: case's first event (``pos = 0``) stands for the case, and the customer is a case
#: attribute: cases and customers are counted on one row per case, not on every event.
STATS_SQL = (
    "count(*) AS events, count(*) FILTER (WHERE pos = 0) AS cases, "
    "count(DISTINCT customer_id) FILTER (WHERE pos = 0) AS customers, "
    "count(DISTINCT activity) AS activities, min(ts) AS start, max(ts) AS end, "
    "count(*) FILTER (WHERE pos = 0 AND customer_id IS NULL) AS orphans"
)


def _text(col: str) -> str:
    return f"nullif(trim(CAST({col} AS VARCHAR)), '')"


def _is_text(raw: RawTable, column: str) -> bool:
    return raw.types.get(column, "VARCHAR").upper() == "VARCHAR"


def _blank(raw: RawTable, column: str) -> str:
    """SQL true when ``column``'s value is what :func:`_text` turns into NULL (missing, empty
    or only spaces), without trimming every value: only the empty string and values starting
    with a space or a control character sort before ``'!'``, and a string comparison is far
    cheaper than a trim."""
    col = quote_ident(column)
    if not _is_text(raw, column):
        return f"({col} IS NULL)"
    return f"({col} IS NULL OR ({col} < '!' AND trim({col}) = ''))"


def _dirty(col: str) -> str:
    """SQL aggregate, true when some value of text column ``col`` may need :func:`_text`'s
    cleaning: empty, or starting or ending with a space or a control character (a first or
    last character before ``'!'``).

    The last character's code is read off the reversed string: a third of the cost of three
    ``ends_with`` tests, on ten million values of seven columns a second less.
    """
    return f"coalesce(bool_or({col} < '!' OR ascii(reverse({col})) < 33), false)"


@dataclass(frozen=True, slots=True)
class _FirstPass:
    """What one scan of the source tells before anything is built."""

    rows: int
    blank_rows: int
    #: rows (not completely blank) missing their case, activity, timestamp
    missing: tuple[int, int, int]
    #: the quoted text columns (mapped or dimension candidates) with a value that may need
    #: trimming (in a clean export, none)
    dirty: frozenset[str]
    #: unmapped columns with few enough distinct values to be case dimensions
    candidates: tuple[str, ...]
    #: text amounts that are not numbers
    bad_amounts: int
    #: where the timestamps were read while loading (:attr:`RawTable.iso`): the values that
    #: were read, and those of them that may carry a UTC offset
    iso: tuple[int, int] | None = None


def _first_pass(
    con: Any, raw: RawTable, columns: Mapping[str, str], amount_sql: str | None
) -> _FirstPass:
    """Counts, cleaning needs and dimension candidates of the source, in one scan.

    Trimming costs a copy of every string, so it is applied only to the columns this scan
    finds in need of it. Dimension candidates are counted approximately here (a column far
    beyond :data:`MAX_DIMENSION_VALUES` is an id or free text) and exactly later.
    """
    src = quote_ident(raw.name)
    mapped = list(dict.fromkeys(columns.values()))
    used = set(mapped) | {raw.row_col, raw.order_col}
    others = [c for c in raw.types if c not in used] if "case" in columns else []
    iso = raw.iso if raw.iso is not None and raw.iso.column == columns.get("timestamp") else None
    # Timestamps read while loading are not cleaned: their text is not used again.
    read = (
        {iso.column} if iso is not None and list(columns.values()).count(iso.column) == 1 else set()
    )
    text_cols = [quote_ident(c) for c in [*mapped, *others] if _is_text(raw, c) and c not in read]
    # Each row's blank flags are computed once, below, and counted several times above.
    flags = {
        "b_all": "(" + " AND ".join(_blank(raw, c) for c in mapped) + ")",
        **{f"b_{f}": _blank(raw, columns[f]) for f in ("case", "activity", "timestamp")},
    }
    if amount_sql is not None:
        flags["b_amount"] = f"(({amount_sql}) IS NULL AND NOT {_blank(raw, columns['amount'])})"
    parts = [
        "count(*)",
        "count(*) FILTER (WHERE b_all)",
        *(
            f"count(*) FILTER (WHERE NOT b_all AND b_{f})"
            for f in ("case", "activity", "timestamp")
        ),
        *(_dirty(c) for c in text_cols),
        *(f"approx_count_distinct({quote_ident(c)})" for c in others),
    ]
    if amount_sql is not None:
        parts.append("count(*) FILTER (WHERE NOT b_all AND b_amount)")
    inner = [
        *(f"{v} AS {k}" for k, v in flags.items()),
        *dict.fromkeys([*text_cols, *map(quote_ident, others)]),
    ]
    if iso is not None:
        value, offset = quote_ident(iso.value), quote_ident(iso.offset)
        parts += [f"count({value})", f"count(*) FILTER (WHERE {offset} AND {value} IS NOT NULL)"]
        inner += [value, offset]
    found = fetch_one(con, f"SELECT {', '.join(parts)} FROM (SELECT {', '.join(inner)} FROM {src})")
    needs = found[5 : 5 + len(text_cols)]
    counts = found[5 + len(text_cols) : 5 + len(text_cols) + len(others)]
    return _FirstPass(
        rows=int(found[0]),
        blank_rows=int(found[1]),
        missing=(int(found[2]), int(found[3]), int(found[4])),
        dirty=frozenset(c for c, flag in zip(text_cols, needs, strict=True) if flag),
        # A few more than the limit: an empty string or a spaced copy of a value counts
        # here, not in the exact count.
        candidates=tuple(
            c
            for c, n in zip(others, counts, strict=True)
            if 2 <= int(n or 0) <= MAX_DIMENSION_VALUES + 5
        ),
        bad_amounts=int(found[len(parts) - (3 if iso else 1)]) if amount_sql is not None else 0,
        iso=(int(found[-2]), int(found[-1])) if iso is not None else None,
    )


@dataclass(frozen=True, slots=True)
class _PerCase:
    """What one grouped pass over the cases tells: dimensions and customer counts."""

    dimensions: tuple[str, ...]
    #: blank customer rows, those of them filled from the case, cases (rows) without any
    #: customer, cases with conflicting customers
    customers: tuple[int, int, int, int, int] | None


def _per_case(
    con: Any,
    raw: RawTable,
    case: str,
    customer: str | None,
    candidates: Mapping[str, str],
    nonblank: str,
) -> _PerCase:
    """Which candidates are case dimensions (one value per case, 2 to
    :data:`MAX_DIMENSION_VALUES` values in all), and how customers sit in their cases: one
    group-by over the cases for both.

    ``candidates`` maps each candidate column to its text expression. A dimension's smallest
    and largest value agree in every case (cheaper than counting distinct values per case);
    its distinct values are then counted on one value per case. Values are compared by their
    64-bit hashes, which a group-by keeps far cheaper than strings (the per-case minimum of
    ten million strings costs a second); two different values of one column share a hash
    with a chance of about one in 2^64 per pair.
    """
    if customer is None and not candidates:
        return _PerCase((), None)
    inner = [f"{case} AS k"]
    outer = []
    for i, v in enumerate(candidates.values()):
        inner.append(f"min({_hashed(v)}) AS lo{i}, max({_hashed(v)}) AS hi{i}")
        outer.append(f"coalesce(bool_or(lo{i} <> hi{i}), false), count(DISTINCT lo{i})")
    if customer is not None:
        inner.append(
            f"count({customer}) AS n_known, count(*) AS n, min({_hashed(customer)}) AS lo, "
            f"max({_hashed(customer)}) AS hi"
        )
        outer.append(
            "coalesce(sum(n - n_known), 0), "
            "coalesce(sum(n - n_known) FILTER (WHERE n_known > 0 AND k IS NOT NULL), 0), "
            "count(*) FILTER (WHERE n_known = 0 AND k IS NOT NULL), "
            "coalesce(sum(n) FILTER (WHERE n_known = 0 AND k IS NOT NULL), 0), "
            "count(*) FILTER (WHERE lo <> hi AND k IS NOT NULL)"
        )
    found = fetch_one(
        con,
        f"SELECT {', '.join(outer)} FROM (SELECT {', '.join(inner)} "
        f"FROM {quote_ident(raw.name)} WHERE {nonblank} GROUP BY 1)",
    )
    dims = [
        c
        for i, c in enumerate(candidates)
        if not found[2 * i] and 2 <= int(found[2 * i + 1] or 0) <= MAX_DIMENSION_VALUES
    ]
    tail = found[2 * len(candidates) :]
    return _PerCase(
        dimensions=tuple(dims[:MAX_DIMENSIONS]),
        customers=(int(tail[0]), int(tail[1]), int(tail[2]), int(tail[3]), int(tail[4]))
        if customer is not None
        else None,
    )


def _hashed(value: str) -> str:
    """SQL: the 64-bit hash of text ``value``, NULL where it is NULL (as ``min`` and
    ``max`` skip a missing value, not count it as one)."""
    return f"CASE WHEN ({value}) IS NULL THEN NULL ELSE hash({value}) END"


def _where(row: int, line_offset: int | None) -> str:
    return f"line {row + line_offset}" if line_offset is not None else f"row {row + 1}"


def _line(row: int, line_offset: int | None) -> int | None:
    return row + line_offset if line_offset is not None else None


def _timestamp_sql(
    con: Any,
    raw: RawTable,
    column: str,
    fmt_hint: str | None,
    skip_invalid: bool,
    first: _FirstPass,
) -> tuple[str, str, tuple[Problem, ...]]:
    col = quote_ident(column)
    typ = raw.types.get(column, "VARCHAR").upper()
    if typ.startswith("TIMESTAMP WITH TIME ZONE") or typ == "TIMESTAMPTZ":
        return f"timezone('UTC', {col})", "timestamp with time zone", ()
    if typ.startswith("TIMESTAMP") or typ == "DATETIME":
        return f"CAST({col} AS TIMESTAMP)", "timestamp", ()
    if typ == "DATE":
        return f"CAST({col} AS TIMESTAMP)", "date", ()
    if typ.startswith(_NUMERIC) or typ.startswith("DECIMAL"):
        # Epoch numbers: seconds, milliseconds or microseconds, told apart by magnitude.
        mx = fetch_one(con, f"SELECT max(abs({col})) FROM {quote_ident(raw.name)}")[0]
        divisor = 1 if (mx or 0) < 1e11 else (1_000 if mx < 1e14 else 1_000_000)
        label = {1: "epoch seconds", 1_000: "epoch milliseconds", 1_000_000: "epoch microseconds"}
        return (
            f"timezone('UTC', to_timestamp(CAST({col} AS DOUBLE) / {divisor}))",
            label[divisor],
            (),
        )
    if not typ.startswith(("VARCHAR", "TEXT", "STRING")):
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.UNPARSEABLE_TIMESTAMP,
                    f"timestamp column {column!r} holds {typ} values, not timestamps, "
                    "dates, epoch numbers or text; choose the column with the event times",
                    column=column,
                    value=typ,
                )
            ]
        )
    if raw.iso is not None and first.iso is not None and fmt_hint in (None, ISO):
        n_read, n_offset = first.iso
        n_values = first.rows - first.blank_rows - first.missing[2]
        # Every value read as ISO 8601 while loading: the format detection would choose it.
        # Otherwise it runs as ever, and names the values that do not read.
        if n_read == n_values:
            fmt = check_iso_reading(
                con,
                quote_ident(raw.name),
                column,
                value_col=raw.iso.value,
                offset_col=raw.iso.offset,
                n_values=n_values,
                n_offset=n_offset,
                row_col=raw.row_col,
                line_offset=raw.line_offset,
            )
            return quote_ident(raw.iso.value), fmt.name, fmt.warnings
    fmt = detect_timestamp_format(
        con,
        quote_ident(raw.name),
        column,
        row_col=raw.row_col,
        explicit=fmt_hint,
        line_offset=raw.line_offset,
        skip_invalid=skip_invalid,
    )
    return parse_expression(col, fmt.name), fmt.name, fmt.warnings


def _amount_sql(typ: str, col: str) -> str:
    if typ.upper().startswith(_NUMERIC) or typ.upper().startswith("DECIMAL"):
        return f"CAST({col} AS DOUBLE)"
    # Text amounts: plain numbers cast directly; otherwise drop currency symbols and spaces,
    # and read "1.234,50" and "12,5" as decimal-comma numbers.
    v = f"regexp_replace(trim(CAST({col} AS VARCHAR)), '[^0-9,.+-]', '', 'g')"
    return (
        f"CASE WHEN {col} IS NULL THEN NULL "
        f"WHEN try_cast({col} AS DOUBLE) IS NOT NULL THEN try_cast({col} AS DOUBLE) "
        f"WHEN {_text(col)} IS NULL THEN NULL "
        f"WHEN regexp_full_match({v}, '[+-]?\\d{{1,3}}(\\.\\d{{3}})+,\\d+|[+-]?\\d+,\\d{{1,2}}') "
        f"THEN try_cast(replace(replace({v}, '.', ''), ',', '.') AS DOUBLE) "
        f"ELSE try_cast(replace({v}, ',', '') AS DOUBLE) END"
    )


def build_events(
    con: Any,
    raw: RawTable,
    mapping: ResolvedMapping,
    target: str,
    *,
    skip_invalid: bool = False,
    source_name: str = "log",
) -> CanonicalResult:
    """Validate ``raw`` and write the canonical event table ``target``.

    Raises :class:`LogValidationError` listing every problem found (blank ids, unreadable
    timestamps, an empty log). Returns the warnings (blank customers, skipped rows, ...).

    The source is scanned twice before the table is built (counts, then one pass over the
    cases) and the table is written by one sort of the events; examples for a message are
    looked up only when there is something to report.
    """
    problems: list[Problem] = []
    src = quote_ident(raw.name)
    row = raw.order_col or raw.row_col
    cols = {name: quote_ident(c) for name, c in mapping.columns.items()}
    case, act = cols["case"], cols["activity"]
    mapped = list(dict.fromkeys(mapping.columns.values()))
    amount_type = raw.types.get(mapping.columns.get("amount", ""), "VARCHAR")
    amount_sql = _amount_sql(amount_type, cols["amount"]) if "amount" in cols else None
    first = _first_pass(
        con,
        raw,
        mapping.columns,
        amount_sql if amount_sql is not None and not _is_numeric(amount_type) else None,
    )

    def text(col: str) -> str:
        return _text(col) if col in first.dirty else f"CAST({col} AS VARCHAR)"

    # Completely blank rows are skipped; in a file without any, no row is checked again.
    nonblank = (
        "NOT (" + " AND ".join(_blank(raw, c) for c in mapped) + ")" if first.blank_rows else "TRUE"
    )
    if first.rows - first.blank_rows == 0:
        raise LogValidationError(
            [Problem(ProblemCode.EMPTY_LOG, f"{source_name} has no events (no data rows)")]
        )
    if first.blank_rows:
        problems.append(
            Problem(
                ProblemCode.SKIPPED_ROWS,
                f"{first.blank_rows:,} completely blank rows were skipped",
                count=first.blank_rows,
                severity="warning",
            )
        )

    # Required values: a blank case, activity or timestamp makes the row meaningless.
    for name, n_bad in zip(("case", "activity", "timestamp"), first.missing, strict=True):
        if n_bad:
            problems.append(
                _missing_problem(con, raw, mapping, name, n_bad, nonblank, skip_invalid)
            )

    ts_sql, ts_format = "NULL", ""
    ts_warnings: tuple[Problem, ...] = ()
    try:
        ts_sql, ts_format, ts_warnings = _timestamp_sql(
            con, raw, mapping.columns["timestamp"], mapping.timestamp_format, skip_invalid, first
        )
    except LogValidationError as exc:
        problems.extend(exc.problems)
    problems.extend(ts_warnings)

    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise LogValidationError(problems, summary=_summary(errors, source_name))

    customer = text(cols["customer"]) if "customer" in cols else None
    candidates = {c: text(quote_ident(c)) for c in first.candidates}
    per_case = _per_case(con, raw, text(case), customer, candidates, nonblank)
    if first.bad_amounts:
        problems.append(
            _amount_problem(con, raw, mapping, amount_sql or "NULL", first.bad_amounts, nonblank)
        )
    if per_case.customers is not None and customer is not None:
        problems.extend(
            _customer_warnings(
                con, raw, mapping, per_case.customers, text(case), customer, nonblank
            )
        )

    text_exprs = {
        name: (text(cols[name]) if name in cols else "CAST(NULL AS VARCHAR)")
        for name in _TEXT_FIELDS
    }
    dims = per_case.dimensions
    dim_select = "".join(f", {candidates[c]} AS {quote_ident(ATTR_PREFIX + c)}" for c in dims)
    # A dimension is a case attribute: every event carries its case's value, also where the
    # source left it blank on some rows (as with the customer). It holds one value per case
    # (checked above), so the case's first non-blank value is it: the window reads it
    # without comparing strings.
    dim_keep = "".join(
        f", first_value({quote_ident(ATTR_PREFIX + c)} IGNORE NULLS) OVER whole "
        f"AS {quote_ident(ATTR_PREFIX + c)}"
        for c in dims
    )
    customer_keep = _customer_keep(per_case.customers)
    with activity_enum(con, src, text(act), nonblank) as activity_type:
        # One sort of the events by case and time gives the placing columns and the case's
        # customer and dimensions together: their window has the same partition and order,
        # only the whole case as its frame.
        execute(
            con,
            f"CREATE OR REPLACE TABLE {quote_ident(target)} AS "
            f"SELECT row, case_id, activity, ts, {customer_keep} AS customer_id, "
            f"product, family, category, amount, resource{dim_keep}, {SEQUENCE_SQL} FROM ("
            f"SELECT CAST({row} AS BIGINT) AS row, {text(case)} AS case_id, "
            f"CAST({text(act)} AS {activity_type}) AS activity, {ts_sql} AS ts, "
            f"{text_exprs['customer']} AS customer_raw, "
            f"{text_exprs['product']} AS product, {text_exprs['family']} AS family, "
            f"{text_exprs['category']} AS category, "
            f"{amount_sql or 'CAST(NULL AS DOUBLE)'} AS amount, "
            f"{text_exprs['resource']} AS resource{dim_select} FROM {src} WHERE {nonblank}) "
            f"WHERE case_id IS NOT NULL AND activity IS NOT NULL AND ts IS NOT NULL "
            f"WINDOW w AS (PARTITION BY case_id ORDER BY ts, row), "
            f"whole AS (PARTITION BY case_id ORDER BY ts, row "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
        )
    stats = _stats(con, target)
    n_odd, first_odd = int(stats.pop("odd")), stats.pop("odd_first")
    if stats["events"] == 0:
        execute(con, f"DROP TABLE IF EXISTS {quote_ident(target)}")
        raise LogValidationError(
            [Problem(ProblemCode.EMPTY_LOG, f"{source_name} has no usable events"), *problems]
        )
    if n_odd:
        column = mapping.columns["timestamp"]
        problems.append(
            Problem(
                ProblemCode.UNPARSEABLE_TIMESTAMP,
                f"{n_odd:,} timestamps in {column!r} lie before 1990 or more than a year in "
                f"the future (e.g. {first_odd}); check the timestamp format",
                column=column,
                value=str(first_odd),
                count=n_odd,
                severity="warning",
            )
        )
    return CanonicalResult(
        table=target, timestamp_format=ts_format, warnings=tuple(problems), stats=stats
    )


def _customer_keep(counts: tuple[int, int, int, int, int] | None) -> str:
    """SQL for a case's customer in the build's window ``whole``: the smallest id its rows
    carry (``customer_raw``).

    Where no case carries two ids (``counts`` from :func:`_per_case`), that is the case's
    first non-blank id, which the window reads without comparing strings; where no row is
    blank either, it is the row's own id.
    """
    if counts is None:
        return "customer_raw"
    # The same five counts, in the same order, as _customer_warnings reads them.
    blank_rows, _filled, _orphan_cases, _orphan_rows, conflicting = counts
    if conflicting:
        return "min(customer_raw) OVER whole"
    if blank_rows:
        return "first_value(customer_raw IGNORE NULLS) OVER whole"
    return "customer_raw"


@contextmanager
def activity_enum(con: Any, src: str, activity: str, where: str = "TRUE") -> Iterator[str]:
    """A new ENUM type of the values of ``activity`` in ``src`` (rows where ``where``
    holds), quoted, for the activity columns of the tables created inside the block.

    An activity is then one byte per event (two past 255 activities) instead of a string in
    each of ``activity``, ``prev_activity`` and ``next_activity``: half a gigabyte less on
    ten million events, and grouping and comparing by activity compare integers. Its values
    are in the order text sorts in, so ordering by an activity orders as text would; to the
    queries (and to Ibis) it reads as text.

    The type is dropped when the block ends: a DuckDB column keeps its ENUM's values itself,
    so the tables built from the type (and the tables derived from them) stay as they are,
    and an engine that reads many logs does not collect a type per log in its catalog.
    """
    name = quote_ident(f"_pm_activity_{uuid.uuid4().hex}")
    execute(
        con,
        f"CREATE TYPE {name} AS ENUM (SELECT DISTINCT a FROM (SELECT {activity} AS a "
        f"FROM {src} WHERE {where}) WHERE a IS NOT NULL ORDER BY a)",
    )
    try:
        yield name
    finally:
        execute(con, f"DROP TYPE IF EXISTS {name}")


def _is_numeric(typ: str) -> bool:
    return typ.upper().startswith(_NUMERIC) or typ.upper().startswith("DECIMAL")


def _summary(errors: list[Problem], source_name: str) -> str:
    if len(errors) == 1:
        return f"{source_name}: {errors[0].message}"
    return f"{source_name}: {len(errors)} problems: {errors[0].message}"


def _missing_problem(
    con: Any,
    raw: RawTable,
    mapping: ResolvedMapping,
    name: str,
    n_bad: int,
    nonblank: str,
    skip_invalid: bool,
) -> Problem:
    """A required field blank on ``n_bad`` rows, with the first rows as examples."""
    column = mapping.columns[name]
    bad = fetch_all(
        con,
        f"SELECT {raw.row_col} FROM {quote_ident(raw.name)} WHERE {nonblank} "
        f"AND {_blank(raw, column)} ORDER BY {raw.row_col} LIMIT {_MAX_EXAMPLES}",
    )
    where = ", ".join(_where(int(r[0]), raw.line_offset) for r in bad)
    more = f" and {n_bad - len(bad):,} more" if n_bad > len(bad) else ""
    return Problem(
        ProblemCode.BLANK_VALUE,
        f"{name} column {column!r} was blank on {n_bad:,} rows, which were skipped ({where}{more})"
        if skip_invalid
        else f"{name} column {column!r} is blank on {n_bad:,} rows ({where}{more}); "
        "fill them, or pass --skip-invalid-rows to drop those rows",
        column=column,
        row=int(bad[0][0]) + 1,
        line=_line(int(bad[0][0]), raw.line_offset),
        count=int(n_bad),
        severity="warning" if skip_invalid else "error",
    )


def _amount_problem(
    con: Any, raw: RawTable, mapping: ResolvedMapping, amount_sql: str, n: int, nonblank: str
) -> Problem:
    column = mapping.columns["amount"]
    col = quote_ident(column)
    rows = fetch_all(
        con,
        f"SELECT {raw.row_col}, {_text(col)} FROM {quote_ident(raw.name)} WHERE {nonblank} "
        f"AND ({amount_sql}) IS NULL AND NOT {_blank(raw, column)} "
        f"ORDER BY {raw.row_col} LIMIT 3",
    )
    examples = "; ".join(f"{_where(int(r), raw.line_offset)}: {v!r}" for r, v in rows)
    return Problem(
        ProblemCode.UNPARSEABLE_NUMBER,
        f"{n:,} values in amount column {column!r} are not numbers and were left empty "
        f"({examples})",
        column=column,
        row=int(rows[0][0]) + 1,
        line=_line(int(rows[0][0]), raw.line_offset),
        value=str(rows[0][1]),
        count=int(n),
        severity="warning",
    )


def _customer_warnings(
    con: Any,
    raw: RawTable,
    mapping: ResolvedMapping,
    counts: tuple[int, int, int, int, int],
    case: str,
    customer: str,
    nonblank: str,
) -> list[Problem]:
    """Blank and conflicting customers, from the per-case counts (examples looked up)."""
    blank_rows, filled_rows, orphan_cases, orphan_rows, conflicting = counts
    column = mapping.columns["customer"]
    src = quote_ident(raw.name)
    out: list[Problem] = []
    if blank_rows:
        first = fetch_one(
            con,
            f"SELECT {raw.row_col} FROM {src} WHERE {nonblank} AND {customer} IS NULL "
            f"ORDER BY {raw.row_col} LIMIT 1",
        )[0]
        parts = []
        if filled_rows:
            parts.append(f"{filled_rows:,} of them were filled from other rows of the same case")
        if orphan_cases:
            parts.append(
                f"{orphan_cases:,} cases ({orphan_rows:,} rows) have no customer at all: "
                "they stay in the process map and variants but are left out of the cross-order "
                "detectors (exchange detour, lost sale)"
            )
        out.append(
            Problem(
                ProblemCode.BLANK_CUSTOMER,
                f"customer column {column!r} is blank on {blank_rows:,} rows "
                f"(first: {_where(int(first), raw.line_offset)}); " + "; ".join(parts),
                column=column,
                row=int(first) + 1,
                line=_line(int(first), raw.line_offset),
                count=blank_rows,
                severity="warning",
            )
        )
    if conflicting:
        conflicts = fetch_all(
            con,
            f"SELECT {case} AS k, list(DISTINCT {customer} ORDER BY {customer})[:3] FROM {src} "
            f"WHERE {nonblank} AND {customer} IS NOT NULL AND {case} IS NOT NULL GROUP BY k "
            f"HAVING count(DISTINCT {customer}) > 1 ORDER BY k LIMIT 3",
        )
        examples = "; ".join(f"case {c!r}: {', '.join(map(repr, v))}" for c, v in conflicts)
        out.append(
            Problem(
                ProblemCode.CONFLICTING_CUSTOMER,
                f"{conflicting:,} cases carry more than one customer id in {column!r} "
                f"({examples}); the smallest id is used for the whole case",
                column=column,
                value=str(conflicts[0][0]),
                count=conflicting,
                severity="warning",
            )
        )
    return out


def _stats(con: Any, table: str) -> dict[str, Any]:
    """The table's size (:data:`STATS_SQL`) and its times that look misread (``odd``, the
    first as ``odd_first``: before 1990 or more than a year ahead), in one scan."""
    lo = dt.datetime(1990, 1, 1)
    hi = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=366)
    odd = "ts < $lo OR ts > $hi"
    cursor = con.execute(
        f"SELECT {STATS_SQL}, count(*) FILTER (WHERE {odd}) AS odd, "
        f"min(ts) FILTER (WHERE {odd}) AS odd_first FROM {quote_ident(table)}",
        {"lo": lo, "hi": hi},
    )
    names = [d[0] for d in cursor.description]
    return dict(zip(names, cursor.fetchall()[0], strict=True))
