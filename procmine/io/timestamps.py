# SPDX-License-Identifier: AGPL-3.0-or-later
"""Timestamp parsing for text columns: detect one format, refuse mixed or unparseable values.

A text timestamp column is parsed with exactly one format. The format is chosen on a sample
and verified on every row in one scan; when no single format parses every value the user gets
an error that names the rows, the values and, for mixed columns, which formats were found.
Silently mixing ``DD/MM`` and ``MM/DD`` would reorder events, so it is refused, not guessed.

A CSV whose first rows look like ISO 8601 is read as ISO 8601 while it is loaded, in the same
pass (:func:`iso_reading_sql`); when every value read, that is the format the detection would
choose, and only a mix of values with and without an offset is left to check
(:func:`check_iso_reading`). Otherwise the column is detected and verified as above.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from procmine._sql import fetch_all, fetch_one, quote_ident, quote_literal
from procmine.errors import LogValidationError, Problem, ProblemCode

__all__ = [
    "TimestampFormat",
    "check_iso_reading",
    "detect_timestamp_format",
    "iso_reading_sql",
    "parse_expression",
]

ISO = "ISO 8601"
EPOCH_S = "epoch seconds"
EPOCH_MS = "epoch milliseconds"

# strptime formats tried after ISO 8601, in order of preference. Day-first comes before
# month-first: when both fit every value (all days <= 12) the choice is reported as ambiguous.
_FORMATS: tuple[str, ...] = (
    ISO,
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y %I:%M:%S %p",
    "%m/%d/%Y %I:%M %p",
    "%m/%d/%Y",
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%Y",
    "%d-%m-%Y %H:%M:%S",
    "%d-%m-%Y %H:%M",
    "%d-%m-%Y",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%Y/%m/%d",
    "%Y.%m.%d %H:%M:%S",
    "%Y%m%d%H%M%S",
    "%Y%m%d",
    "%d %b %Y %H:%M:%S",
    "%d %b %Y %H:%M",
    "%d %b %Y",
    "%b %d, %Y %H:%M:%S",
    "%b %d, %Y",
    "%a, %d %b %Y %H:%M:%S %z",
    EPOCH_S,
    EPOCH_MS,
)
_SAMPLE_ROWS = 20_000
_SMALL_SAMPLE = 500
_MAX_EXAMPLES = 10
#: An ISO value carrying a UTC offset: a time of day, then ``Z`` or ``+hh[:mm]``/``-hh[:mm]``.
#: The time is part of the pattern: a date alone ends in ``-dd`` too, which is no offset.
_TZ_SUFFIX = r"\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$"


@dataclass(frozen=True, slots=True)
class TimestampFormat:
    """The format a timestamp column is parsed with, and what was noticed on the way."""

    name: str
    warnings: tuple[Problem, ...] = ()


def parse_expression(value_sql: str, fmt: str) -> str:
    """SQL (DuckDB) turning the text ``value_sql`` into a naive UTC ``TIMESTAMP`` or NULL."""
    v = f"trim({value_sql})"
    if fmt == ISO:
        # Offsets are converted to UTC; values without one are taken as UTC. Parsing with a
        # time zone is three times slower, so a value that cannot carry an offset or a zone
        # name is read as a plain timestamp, which the cast of either kind reads alike.
        return (
            f"CASE WHEN {_plain(value_sql)} THEN try_cast({value_sql} AS TIMESTAMP) "
            f"ELSE timezone('UTC', try_cast({v} AS TIMESTAMPTZ)) END"
        )
    if fmt == EPOCH_S:
        return (
            f"CASE WHEN regexp_full_match({v}, '\\d{{9,10}}(\\.\\d+)?') "
            f"THEN timezone('UTC', to_timestamp(try_cast({v} AS DOUBLE))) END"
        )
    if fmt == EPOCH_MS:
        return (
            f"CASE WHEN regexp_full_match({v}, '\\d{{12,13}}') "
            f"THEN timezone('UTC', to_timestamp(try_cast({v} AS DOUBLE) / 1000)) END"
        )
    pattern = quote_literal(fmt)
    if "%z" in fmt or "%Z" in fmt:
        return f"timezone('UTC', try_strptime({v}, {pattern}))"
    return f"try_strptime({v}, {pattern})::TIMESTAMP"


def _plain(value_sql: str) -> str:
    """SQL: whether text ``value_sql`` cannot carry a UTC offset or a zone name (no '+', no
    '-' after the date, ending in a digit)."""
    return (
        f"(NOT contains({value_sql}, '+') AND NOT contains(substr({value_sql}, 11), '-') "
        f"AND right({value_sql}, 1) BETWEEN '0' AND '9')"
    )


def iso_reading_sql(value_sql: str) -> tuple[str, str]:
    """SQL reading text ``value_sql`` as ISO 8601 as it is loaded: its value (NULL where it
    does not read), and whether it may carry a UTC offset (only those values can, so only
    they are checked for a mix of values with and without one).

    A loader that stores both beside the text saves the format's detection, the check of
    every value and the parse when the events are placed: :func:`check_iso_reading`.
    """
    return parse_expression(value_sql, ISO), f"NOT {_plain(value_sql)}"


def check_iso_reading(
    con: Any,
    table: str,
    column: str,
    *,
    value_col: str,
    offset_col: str,
    n_values: int,
    n_offset: int,
    row_col: str = "__row",
    line_offset: int | None = None,
) -> TimestampFormat:
    """The format of ``table.column`` when every one of its ``n_values`` non-blank values was
    read as ISO 8601 while loading (into ``value_col``, by :func:`iso_reading_sql`): ISO 8601,
    the first format :func:`detect_timestamp_format` tries, and the one it would choose.

    What is left to check is a mix of values with and without a UTC offset (an error, as
    there); only the ``n_offset`` values flagged in ``offset_col`` may carry one.
    """
    col = quote_ident(column)
    with_tz = 0
    if n_offset:
        with_tz = int(
            fetch_one(
                con,
                f"SELECT count(*) FROM {table} WHERE {quote_ident(offset_col)} "
                f"AND {quote_ident(value_col)} IS NOT NULL "
                f"AND regexp_matches(trim({col}), '{_TZ_SUFFIX}')",
            )[0]
        )
    if with_tz and n_values - with_tz:
        nonblank = f"{col} IS NOT NULL AND trim({col}) <> ''"
        raise LogValidationError(
            _mixed_timezones(
                con, table, column, nonblank, row_col, line_offset, with_tz, n_values - with_tz
            )
        )
    return TimestampFormat(ISO)


def _examples(rows: Sequence[tuple[Any, ...]], column: str, line_offset: int | None) -> str:
    parts = []
    for row, value in rows[:3]:
        where = f"line {row + line_offset}" if line_offset is not None else f"row {row + 1}"
        parts.append(f"{where}: {value!r}")
    return "; ".join(parts)


def detect_timestamp_format(
    con: Any,
    table: str,
    column: str,
    *,
    row_col: str = "__row",
    explicit: str | None = None,
    line_offset: int | None = None,
    skip_invalid: bool = False,
) -> TimestampFormat:
    """Choose the one format that parses every non-blank value of ``table.column``.

    ``line_offset`` turns a 0-based row index into a file line (2 for a CSV with a header);
    ``None`` reports 1-based rows instead. With ``skip_invalid`` unparseable values only
    produce a warning (their rows are dropped by the caller).

    Raises :class:`LogValidationError` for unparseable values, mixed formats or a mix of
    values with and without a time-zone offset.
    """
    col = quote_ident(column)
    nonblank = f"{col} IS NOT NULL AND trim({col}) <> ''"
    if explicit is not None:
        return _verify(
            con, table, column, explicit, nonblank, row_col, line_offset, skip_invalid, ()
        )

    # The first rows plus a spread of later ones (exports often change format part-way).
    # Failing parses are slow, so all formats are tried on a small sample and only those
    # that fit it on the large one.
    sample = (
        f"(SELECT CAST({col} AS VARCHAR) AS v FROM {table} WHERE {nonblank} LIMIT {{n}}) "
        f"UNION ALL (SELECT CAST({col} AS VARCHAR) AS v FROM {table} WHERE {nonblank} "
        f"AND {row_col} % 997 = 0 LIMIT {{n}})"
    )
    candidates: tuple[str, ...] = _FORMATS
    counts: Sequence[Any] = ()
    n = 0
    for size in (_SMALL_SAMPLE, _SAMPLE_ROWS):
        counts_sql = ", ".join(f"count({parse_expression('v', fmt)})" for fmt in candidates)
        row = fetch_one(
            con, f"WITH s AS ({sample.format(n=size)}) SELECT count(*), {counts_sql} FROM s"
        )
        n, counts = int(row[0]), row[1:]
        if not n:
            return TimestampFormat(ISO)  # no values at all: the blank-value check reports it
        fitting = tuple(f for f, c in zip(candidates, counts, strict=True) if c == n)
        if not fitting:
            break
        if size != _SAMPLE_ROWS:
            candidates = fitting
    full_fits = [fmt for fmt, c in zip(candidates, counts, strict=True) if c == n]
    warnings: list[Problem] = []
    if full_fits:
        chosen = full_fits[0]
        rivals = [f for f in full_fits[1:] if _is_rival(chosen, f)]
        if rivals:
            warnings.append(
                Problem(
                    ProblemCode.AMBIGUOUS_TIMESTAMP_FORMAT,
                    f"timestamps in {column!r} fit both {chosen!r} and {rivals[0]!r} "
                    f"(no day above 12 in the sample); used {chosen!r}. "
                    "Set --timestamp-format if that is wrong.",
                    column=column,
                    severity="warning",
                )
            )
        return _verify(
            con,
            table,
            column,
            chosen,
            nonblank,
            row_col,
            line_offset,
            skip_invalid,
            tuple(warnings),
        )
    # No format parses the whole sample: find out whether values are mixed or just broken.
    ranked = sorted(
        (c, -i, fmt) for i, (fmt, c) in enumerate(zip(candidates, counts, strict=True)) if c > 0
    )
    best = ranked[-1][2] if ranked else ISO
    return _verify(con, table, column, best, nonblank, row_col, line_offset, skip_invalid, ())


def _is_rival(a: str, b: str) -> bool:
    """Whether two formats read the same text differently (day-first vs month-first)."""

    def kind(f: str) -> str:
        if f.startswith("%d/%m") or f.startswith("%d.%m") or f.startswith("%d-%m"):
            return "dmy"
        if f.startswith("%m/%d"):
            return "mdy"
        return "other"

    return {kind(a), kind(b)} == {"dmy", "mdy"}


def _verify(
    con: Any,
    table: str,
    column: str,
    fmt: str,
    nonblank: str,
    row_col: str,
    line_offset: int | None,
    skip_invalid: bool,
    warnings: tuple[Problem, ...],
) -> TimestampFormat:
    col = quote_ident(column)
    expr = parse_expression(col, fmt)
    failing_where = f"{nonblank} AND {expr} IS NULL"
    # One scan: failures and, for ISO values, how many carry a UTC offset.
    tz_count = (
        f"count(*) FILTER (WHERE regexp_matches(trim({col}), '{_TZ_SUFFIX}'))"
        if fmt == ISO
        else "0"
    )
    n_fail, with_tz, n_values = fetch_one(
        con,
        f"SELECT count(*) FILTER (WHERE {expr} IS NULL), {tz_count}, count(*) "
        f"FROM {table} WHERE {nonblank}",
    )
    without_tz = n_values - with_tz
    problems: list[Problem] = []
    if n_fail:
        rows = fetch_all(
            con,
            f"SELECT {row_col}, {col} FROM {table} WHERE {failing_where} "
            f"ORDER BY {row_col} LIMIT {_MAX_EXAMPLES}",
        )
        other = _other_formats(con, table, col, failing_where, exclude=fmt)
        # Nothing fits the (explicit) format, but the values do have one: say which.
        hint = f"; they look like {other[0][0]!r}" if other and n_fail == n_values else ""
        if other and not skip_invalid and not hint:
            described = ", ".join(f"{f!r} ({n:,} rows)" for f, n in other)
            problems.append(
                Problem(
                    ProblemCode.MIXED_TIMESTAMP_FORMATS,
                    f"column {column!r} mixes timestamp formats: {n_values - n_fail:,} rows "
                    f"use {fmt!r}, but {n_fail:,} rows use another format: {described}, e.g. "
                    f"{_examples(rows, column, line_offset)}. Convert the column to one "
                    "format, or set --timestamp-format to the one that is right.",
                    column=column,
                    row=int(rows[0][0]) + 1,
                    line=_line(rows[0][0], line_offset),
                    value=str(rows[0][1]),
                    count=int(n_fail),
                )
            )
        else:
            label = "dropped" if skip_invalid else "cannot be read"
            problems.append(
                Problem(
                    ProblemCode.UNPARSEABLE_TIMESTAMP,
                    f"{n_fail:,} timestamps in column {column!r} {label} as {fmt!r}{hint}: "
                    f"{_examples(rows, column, line_offset)}",
                    column=column,
                    row=int(rows[0][0]) + 1,
                    line=_line(rows[0][0], line_offset),
                    value=str(rows[0][1]),
                    count=int(n_fail),
                    severity="warning" if skip_invalid else "error",
                )
            )
            for r, value in rows[1:]:
                problems.append(
                    Problem(
                        ProblemCode.UNPARSEABLE_TIMESTAMP,
                        f"row {int(r) + 1}: timestamp {value!r} {label} as {fmt!r}",
                        column=column,
                        row=int(r) + 1,
                        line=_line(r, line_offset),
                        value=str(value),
                        severity="warning" if skip_invalid else "error",
                    )
                )
    if fmt == ISO and with_tz and without_tz:
        problems.extend(
            _mixed_timezones(
                con, table, column, nonblank, row_col, line_offset, int(with_tz), int(without_tz)
            )
        )
    errors = [p for p in problems if p.severity == "error"]
    if errors:
        raise LogValidationError(problems)
    return TimestampFormat(fmt, warnings + tuple(problems))


def _line(row: Any, line_offset: int | None) -> int | None:
    return int(row) + line_offset if line_offset is not None else None


def _other_formats(
    con: Any, table: str, col: str, failing_where: str, exclude: str
) -> list[tuple[str, int]]:
    candidates = [f for f in _FORMATS if f != exclude]
    counts_sql = ", ".join(f"count({parse_expression(col, f)})" for f in candidates)
    counts = fetch_one(con, f"SELECT {counts_sql} FROM {table} WHERE {failing_where}")
    found = [(f, int(c)) for f, c in zip(candidates, counts, strict=True) if c]
    found.sort(key=lambda fc: -fc[1])
    return found[:3]


def _mixed_timezones(
    con: Any,
    table: str,
    column: str,
    nonblank: str,
    row_col: str,
    line_offset: int | None,
    with_tz: int,
    without_tz: int,
) -> list[Problem]:
    col = quote_ident(column)
    minority_has_tz = with_tz < without_tz
    cond = "" if minority_has_tz else "NOT "
    rows = fetch_all(
        con,
        f"SELECT {row_col}, {col} FROM {table} WHERE {nonblank} AND "
        f"{cond}regexp_matches(trim({col}), '{_TZ_SUFFIX}') ORDER BY {row_col} LIMIT 3",
    )
    return [
        Problem(
            ProblemCode.MIXED_TIMEZONES,
            f"column {column!r} mixes timestamps with a UTC offset ({with_tz:,} rows) and "
            f"without one ({without_tz:,} rows), so their order cannot be trusted; e.g. "
            f"{_examples(rows, column, line_offset)}. Give every value an offset, or none.",
            column=column,
            row=int(rows[0][0]) + 1,
            line=_line(rows[0][0], line_offset),
            value=str(rows[0][1]),
            count=int(min(with_tz, without_tz)),
        )
    ]
