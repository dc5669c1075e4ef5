# SPDX-License-Identifier: AGPL-3.0-or-later
"""Raw rows -> the canonical event table, with every validation a user's file needs.

The canonical table has fixed column names and types, whatever the source:

============  =========  ==============================================================
column        type       meaning
============  =========  ==============================================================
row           BIGINT     0-based position in the source (ties in time keep file order)
case_id       VARCHAR    the case (an order)
activity      VARCHAR    the activity label
ts            TIMESTAMP  when it happened, UTC
customer_id   VARCHAR    the customer of the case (a case attribute: one per case)
product       VARCHAR    SKU / product id on this row
family        VARCHAR    product family (style) on this row
category      VARCHAR    product category on this row
amount        DOUBLE     money on this row (order value, line value or refund)
resource      VARCHAR    who or what did it
attr:<name>   VARCHAR    a case-level dimension of the source (channel, region, carrier..)
pos           BIGINT     0-based position of the event in its case (by ``ts``, then ``row``)
prev_activity VARCHAR    the case's activity before this one (null for the first)
next_activity VARCHAR    the case's activity after this one (null for the last)
next_ts       TIMESTAMP  when the next activity happened
============  =========  ==============================================================

``attr:`` columns are the source's other columns that describe the order, not the event:
at most :data:`MAX_DIMENSION_VALUES` distinct values, one value per case. They are what root
causes (:mod:`procmine.causes`) are looked for in, beside the mapped fields.

Validation is lazy: all problems are collected and raised together.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from procmine._sql import execute, fetch_all, fetch_one
from procmine.errors import LogValidationError, Problem, ProblemCode
from procmine.io.tabular import RawTable, quote_ident
from procmine.io.timestamps import detect_timestamp_format, parse_expression
from procmine.mapping import ResolvedMapping

__all__ = [
    "CANONICAL_COLUMNS",
    "SEQUENCE_COLUMNS",
    "SEQUENCE_SQL",
    "CanonicalResult",
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
    """The canonical table that was built and the warnings met on the way."""

    table: str
    timestamp_format: str
    warnings: tuple[Problem, ...]


def _text(col: str) -> str:
    return f"nullif(trim(CAST({col} AS VARCHAR)), '')"


def _needs_cleaning(con: Any, raw: RawTable, columns: Mapping[str, str]) -> set[str]:
    """The (quoted) text columns with a value that is empty or has surrounding whitespace.

    Trimming costs a copy of every string; one cheap prefix/suffix scan tells which columns
    need it at all (in a clean export, none do).
    """
    text_cols = [
        quote_ident(c)
        for c in dict.fromkeys(columns.values())
        if raw.types.get(c, "VARCHAR").upper() == "VARCHAR"
    ]
    if not text_cols:
        return set()
    checks = ", ".join(
        f"bool_or({c} = '' OR starts_with({c}, ' ') OR ends_with({c}, ' ') "
        f"OR starts_with({c}, chr(9)) OR ends_with({c}, chr(9)) OR ends_with({c}, chr(13)))"
        for c in text_cols
    )
    flags = fetch_one(con, f"SELECT {checks} FROM {quote_ident(raw.name)}")
    return {c for c, flag in zip(text_cols, flags, strict=True) if flag}


def _dimension_columns(con: Any, raw: RawTable, columns: Mapping[str, str]) -> list[str]:
    """The unmapped source columns that are case-level dimensions (see the module docstring).

    Two scans whatever the number of columns: distinct values per column, then, for the
    candidates, the most distinct values any one case has.
    """
    used = set(columns.values()) | {raw.row_col}
    candidates = [c for c in raw.types if c not in used]
    if not candidates or "case" not in columns:
        return []
    src = quote_ident(raw.name)
    counts = fetch_one(
        con,
        "SELECT "
        + ", ".join(f"approx_count_distinct({_text(quote_ident(c))})" for c in candidates)
        + f" FROM {src}",
    )
    few = [
        c
        for c, n in zip(candidates, counts, strict=True)
        if 2 <= int(n or 0) <= MAX_DIMENSION_VALUES + 5
    ]
    if not few:
        return []
    case = quote_ident(columns["case"])
    # Constant within a case when its smallest and largest value agree: cheaper than
    # counting distinct values per case.
    per_case = ", ".join(
        f"min({_text(quote_ident(c))}) AS lo{i}, max({_text(quote_ident(c))}) AS hi{i}"
        for i, c in enumerate(few)
    )
    exact = ", ".join(f"count(DISTINCT {_text(quote_ident(c))})" for c in few)
    varies = fetch_one(
        con,
        "SELECT "
        + ", ".join(f"coalesce(bool_or(lo{i} <> hi{i}), false)" for i in range(len(few)))
        + f" FROM (SELECT {per_case} FROM {src} GROUP BY {case})",
    )
    distinct = fetch_one(con, f"SELECT {exact} FROM {src}")
    return [
        c
        for c, mixed, n in zip(few, varies, distinct, strict=True)
        if not mixed and 2 <= int(n or 0) <= MAX_DIMENSION_VALUES
    ][:MAX_DIMENSIONS]


def _where(row: int, line_offset: int | None) -> str:
    return f"line {row + line_offset}" if line_offset is not None else f"row {row + 1}"


def _line(row: int, line_offset: int | None) -> int | None:
    return row + line_offset if line_offset is not None else None


def _timestamp_sql(
    con: Any, raw: RawTable, column: str, fmt_hint: str | None, skip_invalid: bool
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
    """
    problems: list[Problem] = []
    src = quote_ident(raw.name)
    row = raw.row_col
    cols = {name: quote_ident(c) for name, c in mapping.columns.items()}
    case, act, ts_col = cols["case"], cols["activity"], cols["timestamp"]

    dirty = _needs_cleaning(con, raw, mapping.columns)

    def text(col: str) -> str:
        return _text(col) if col in dirty else f"CAST({col} AS VARCHAR)"

    mapped = list(dict.fromkeys(cols.values()))
    all_blank = " AND ".join(f"{text(c)} IS NULL" for c in mapped)
    nonblank_rows = f"NOT ({all_blank})"
    required = (("case", case), ("activity", act), ("timestamp", ts_col))
    # One scan for every count; examples are fetched only for the problems that exist.
    counts = fetch_one(
        con,
        f"SELECT count(*), count(*) FILTER (WHERE {all_blank}), "
        + ", ".join(
            f"count(*) FILTER (WHERE {nonblank_rows} AND {text(col)} IS NULL)"
            for _, col in required
        )
        + f" FROM {src}",
    )
    total_rows, blank_rows = int(counts[0]), int(counts[1])
    if total_rows - blank_rows == 0:
        raise LogValidationError(
            [Problem(ProblemCode.EMPTY_LOG, f"{source_name} has no events (no data rows)")]
        )
    if blank_rows:
        problems.append(
            Problem(
                ProblemCode.SKIPPED_ROWS,
                f"{blank_rows:,} completely blank rows were skipped",
                count=blank_rows,
                severity="warning",
            )
        )

    # Required values: a blank case, activity or timestamp makes the row meaningless.
    for (name, col), n_bad in zip(required, counts[2:], strict=True):
        if not n_bad:
            continue
        bad = fetch_all(
            con,
            f"SELECT {row} FROM {src} WHERE {nonblank_rows} AND {text(col)} IS NULL "
            f"ORDER BY {row} LIMIT {_MAX_EXAMPLES}",
        )
        column = mapping.columns[name]
        where = ", ".join(_where(int(r[0]), raw.line_offset) for r in bad)
        more = f" and {n_bad - len(bad):,} more" if n_bad > len(bad) else ""
        problems.append(
            Problem(
                ProblemCode.BLANK_VALUE,
                f"{name} column {column!r} was blank on {n_bad:,} rows, which were skipped "
                f"({where}{more})"
                if skip_invalid
                else f"{name} column {column!r} is blank on {n_bad:,} rows ({where}{more}); "
                "fill them, or pass --skip-invalid-rows to drop those rows",
                column=column,
                row=int(bad[0][0]) + 1,
                line=_line(int(bad[0][0]), raw.line_offset),
                count=int(n_bad),
                severity="warning" if skip_invalid else "error",
            )
        )

    ts_sql, ts_format = "NULL", ""
    ts_warnings: tuple[Problem, ...] = ()
    try:
        ts_sql, ts_format, ts_warnings = _timestamp_sql(
            con, raw, mapping.columns["timestamp"], mapping.timestamp_format, skip_invalid
        )
    except LogValidationError as exc:
        problems.extend(exc.problems)
    problems.extend(ts_warnings)

    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise LogValidationError(problems, summary=_summary(errors, source_name))

    text_exprs = {
        name: (text(cols[name]) if name in cols else "CAST(NULL AS VARCHAR)")
        for name in _TEXT_FIELDS
    }
    amount_sql = (
        _amount_sql(raw.types.get(mapping.columns["amount"], "VARCHAR"), cols["amount"])
        if "amount" in cols
        else "CAST(NULL AS DOUBLE)"
    )
    dims = _dimension_columns(con, raw, mapping.columns)
    dim_select = "".join(
        f", {_text(quote_ident(c))} AS {quote_ident(ATTR_PREFIX + c)}" for c in dims
    )
    dim_keep = "".join(f", {quote_ident(ATTR_PREFIX + c)}" for c in dims)
    tmp = f"{target}__base"
    execute(
        con,
        f"CREATE OR REPLACE TEMP TABLE {quote_ident(tmp)} AS SELECT "
        f"CAST({row} AS BIGINT) AS row, {text(case)} AS case_id, {text(act)} AS activity, "
        f"{ts_sql} AS ts, {text_exprs['customer']} AS customer_raw, "
        f"{text_exprs['product']} AS product, {text_exprs['family']} AS family, "
        f"{text_exprs['category']} AS category, {amount_sql} AS amount, "
        f"{text_exprs['resource']} AS resource"
        + (f", {text(cols['amount'])} AS amount_text" if "amount" in cols else "")
        + dim_select
        + f" FROM {src} WHERE {nonblank_rows}",
    )
    try:
        problems.extend(_amount_warnings(con, tmp, mapping, raw.line_offset))
        kept = "case_id IS NOT NULL AND activity IS NOT NULL AND ts IS NOT NULL"
        # One sort of the events by case and time gives the placing columns and the case's
        # customer (the smallest id its rows carry) together: the customer's window has the
        # same partition and order, only the whole case as its frame.
        execute(
            con,
            f"CREATE OR REPLACE TABLE {quote_ident(target)} AS "
            f"SELECT row, case_id, activity, ts, min(customer_raw) OVER whole AS customer_id, "
            f"product, family, category, amount, resource{dim_keep}, {SEQUENCE_SQL} "
            f"FROM {quote_ident(tmp)} WHERE {kept} "
            f"WINDOW w AS (PARTITION BY case_id ORDER BY ts, row), "
            f"whole AS (PARTITION BY case_id ORDER BY ts, row "
            f"ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)",
        )
        problems.extend(_customer_warnings(con, tmp, mapping, raw.line_offset))
    finally:
        execute(con, f"DROP TABLE IF EXISTS {quote_ident(tmp)}")

    n_events = fetch_one(con, f"SELECT count(*) FROM {quote_ident(target)}")[0]
    if n_events == 0:
        execute(con, f"DROP TABLE IF EXISTS {quote_ident(target)}")
        raise LogValidationError(
            [Problem(ProblemCode.EMPTY_LOG, f"{source_name} has no usable events"), *problems]
        )
    problems.extend(_time_range_warnings(con, target, mapping))
    return CanonicalResult(table=target, timestamp_format=ts_format, warnings=tuple(problems))


def _summary(errors: list[Problem], source_name: str) -> str:
    if len(errors) == 1:
        return f"{source_name}: {errors[0].message}"
    return f"{source_name}: {len(errors)} problems: {errors[0].message}"


def _amount_warnings(
    con: Any, tmp: str, mapping: ResolvedMapping, line_offset: int | None
) -> list[Problem]:
    if "amount" not in mapping.columns:
        return []
    where = "amount IS NULL AND amount_text IS NOT NULL"
    n = fetch_one(con, f"SELECT count(*) FROM {quote_ident(tmp)} WHERE {where}")[0]
    if not n:
        return []
    rows = fetch_all(
        con, f"SELECT row, amount_text FROM {quote_ident(tmp)} WHERE {where} ORDER BY row LIMIT 3"
    )
    column = mapping.columns["amount"]
    examples = "; ".join(f"{_where(int(r), line_offset)}: {v!r}" for r, v in rows)
    return [
        Problem(
            ProblemCode.UNPARSEABLE_NUMBER,
            f"{n:,} values in amount column {column!r} are not numbers and were left empty "
            f"({examples})",
            column=column,
            row=int(rows[0][0]) + 1,
            line=_line(int(rows[0][0]), line_offset),
            value=str(rows[0][1]),
            count=int(n),
            severity="warning",
        )
    ]


def _customer_warnings(
    con: Any, tmp: str, mapping: ResolvedMapping, line_offset: int | None
) -> list[Problem]:
    if "customer" not in mapping.columns:
        return []
    column = mapping.columns["customer"]
    t = quote_ident(tmp)
    # One pass over the cases answers every count; examples are looked up only for the
    # problems that exist.
    blank_rows, filled_rows, orphan_cases, orphan_rows, conflicting = fetch_one(
        con,
        f"WITH c AS (SELECT case_id, count(customer_raw) AS n_known, count(*) AS n, "
        f"min(customer_raw) AS lo, max(customer_raw) AS hi FROM {t} GROUP BY case_id) "
        f"SELECT coalesce(sum(n - n_known), 0), "
        f"coalesce(sum(n - n_known) FILTER (WHERE n_known > 0 AND case_id IS NOT NULL), 0), "
        f"count(*) FILTER (WHERE n_known = 0 AND case_id IS NOT NULL), "
        f"coalesce(sum(n) FILTER (WHERE n_known = 0 AND case_id IS NOT NULL), 0), "
        f"count(*) FILTER (WHERE lo <> hi AND case_id IS NOT NULL) FROM c",
    )
    out: list[Problem] = []
    if blank_rows:
        first = fetch_one(
            con, f"SELECT row FROM {t} WHERE customer_raw IS NULL ORDER BY row LIMIT 1"
        )[0]
        parts = []
        if filled_rows:
            parts.append(
                f"{int(filled_rows):,} of them were filled from other rows of the same case"
            )
        if orphan_cases:
            parts.append(
                f"{int(orphan_cases):,} cases ({int(orphan_rows):,} rows) have no customer at all: "
                "they stay in the process map and variants but are left out of the cross-order "
                "detectors (exchange detour, lost sale)"
            )
        out.append(
            Problem(
                ProblemCode.BLANK_CUSTOMER,
                f"customer column {column!r} is blank on {int(blank_rows):,} rows "
                f"(first: {_where(int(first), line_offset)}); " + "; ".join(parts),
                column=column,
                row=int(first) + 1,
                line=_line(int(first), line_offset),
                count=int(blank_rows),
                severity="warning",
            )
        )
    if conflicting:
        n = int(conflicting)
        conflicts = fetch_all(
            con,
            f"SELECT case_id, list(DISTINCT customer_raw ORDER BY customer_raw)[:3] FROM {t} "
            f"WHERE customer_raw IS NOT NULL AND case_id IS NOT NULL GROUP BY case_id "
            f"HAVING count(DISTINCT customer_raw) > 1 ORDER BY case_id LIMIT 3",
        )
        examples = "; ".join(f"case {c!r}: {', '.join(map(repr, v))}" for c, v in conflicts)
        out.append(
            Problem(
                ProblemCode.CONFLICTING_CUSTOMER,
                f"{n:,} cases carry more than one customer id in {column!r} ({examples}); "
                "the smallest id is used for the whole case",
                column=column,
                value=str(conflicts[0][0]),
                count=int(n),
                severity="warning",
            )
        )
    return out


def _time_range_warnings(con: Any, table: str, mapping: ResolvedMapping) -> list[Problem]:
    lo = dt.datetime(1990, 1, 1)
    hi = dt.datetime.now(dt.UTC).replace(tzinfo=None) + dt.timedelta(days=366)
    n, first = fetch_one(
        con,
        f"SELECT count(*), min(ts) FILTER (WHERE ts < ? OR ts > ?) FROM {quote_ident(table)} "
        f"WHERE ts < ? OR ts > ?",
        [lo, hi, lo, hi],
    )
    if not n:
        return []
    return [
        Problem(
            ProblemCode.UNPARSEABLE_TIMESTAMP,
            f"{n:,} timestamps in {mapping.columns['timestamp']!r} lie before 1990 or more "
            f"than a year in the future (e.g. {first}); check the timestamp format",
            column=mapping.columns["timestamp"],
            value=str(first),
            count=int(n),
            severity="warning",
        )
    ]
