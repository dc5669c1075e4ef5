# SPDX-License-Identifier: AGPL-3.0-or-later
"""Reading logs: CSV, Parquet, XES (.xes, .xes.gz) and OCEL 2.0 (JSON, XML, SQLite).

Everything ends in the same canonical event table (:mod:`procmine.io.canonical`), so the rest
of procmine never sees a source column name. CSV and Parquet are read by DuckDB's columnar
readers; XES and OCEL by pm4py (:mod:`procmine.io._pm4py`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from procmine._sql import execute, fetch_all, quote_ident
from procmine.config import ReadOptions
from procmine.engine import Engine
from procmine.errors import LogValidationError, Problem, ProblemCode
from procmine.io.canonical import build_events
from procmine.io.expansion import check_expansion
from procmine.io.sniff import FileFormat, sniff_format
from procmine.io.steps import melt_steps
from procmine.io.tabular import (
    CsvDialect,
    RawTable,
    csv_header,
    load_csv,
    load_parquet,
)
from procmine.log import EventLog, LogSource, LogStats
from procmine.mapping import ColumnMapping, ResolvedMapping, resolve_mapping
from procmine.roles import Role, guess_roles, parse_role

__all__ = ["MAX_ACTIVITIES", "read_frame", "read_log", "sniff_format"]

Progress = Callable[[str], None]
#: More distinct activity labels than this is not a process but a wrongly chosen column (an
#: event id, a comment); it is refused rather than drawn and role-guessed for minutes.
MAX_ACTIVITIES = 100_000
#: ``{role: [labels]}`` with roles as :class:`Role` or their names
RoleOverrides = Mapping[Role, Sequence[str]] | Mapping[str, Sequence[str]]


def _role_overrides(roles: RoleOverrides | None) -> dict[Role, list[str]]:
    out: dict[Role, list[str]] = {}
    items: list[tuple[Role | str, Sequence[str]]] = list((roles or {}).items())
    for key, labels in items:
        role = key if isinstance(key, Role) else parse_role(key)
        out.setdefault(role, [])
        out[role].extend(label for label in labels if label)
    return out


def read_log(
    source: str | Path,
    *,
    columns: ColumnMapping | Mapping[str, str] | None = None,
    roles: RoleOverrides | None = None,
    options: ReadOptions | None = None,
    engine: Engine | None = None,
    progress: Progress | None = None,
) -> EventLog:
    """Read, map and validate a log file into an :class:`EventLog`.

    Parameters
    ----------
    source
        Path of a CSV, Parquet, XES, XES.gz or OCEL 2.0 (JSON, XML, SQLite) file. The format
        is recognised from the content.
    columns
        Which column holds the case, activity, timestamp, customer, ... (see
        :class:`~procmine.mapping.ColumnMapping`); fields left out are guessed.
    roles
        ``{role: [labels]}`` overriding the guessed activity roles; an empty list clears a role.
    options
        :class:`~procmine.config.ReadOptions` (encoding, delimiter, OCEL object types, ...).
    engine
        The engine to load into (a new in-memory DuckDB engine by default). With a Spark
        engine (:meth:`Engine.spark <procmine.engine.Engine.spark>`), ``source`` is a
        Parquet file, folder or URI, or the name of a table the Spark session knows.

    Raises
    ------
    LogFormatError
        The file cannot be read (unknown format, encoding, malformed XML, ...).
    LogValidationError
        Its content is unusable (missing columns, bad timestamps, empty log, ...).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
    >>> _ = path.write_text(
    ...     "order_id,customer,activity,timestamp\\n"
    ...     "A,c1,Order placed,2024-03-01 10:00\\n"
    ...     "A,c1,Order cancelled,2024-03-01 11:00\\n"
    ...     "B,c1,Order placed,2024-03-02 09:30\\n"
    ... )
    >>> log = read_log(path)
    >>> log.stats.events, log.mapping.get("customer"), sorted(log.roles.to_dict())
    (3, 'customer', ['cancel', 'order'])
    """
    opts = options or ReadOptions()
    mapping = (
        columns if isinstance(columns, ColumnMapping) else ColumnMapping.from_dict(columns or {})
    )
    if engine is not None and engine.kind == "spark":
        from procmine.io.spark import read_spark_log

        return read_spark_log(
            source, engine=engine, columns=mapping, roles=roles, options=opts, progress=progress
        )
    path = Path(source)
    eng = engine or Engine.duckdb()
    con = eng.raw
    say = progress or (lambda _msg: None)
    fmt = sniff_format(path, opts.format)
    say(f"reading {path.name} ({fmt.label})")
    prefix = Engine.unique_name("raw")
    target = Engine.unique_name("events")
    warnings: list[Problem] = []
    items_table: str | None = None
    details: dict[str, str | None] = {}
    cleanup: list[str] = []
    try:
        if fmt.kind == "csv":
            if fmt.compressed:
                # DuckDB decompresses on its own, unbounded: a gzip bomb is refused first.
                check_expansion(path)
            dialect = csv_header(
                path, compressed=fmt.compressed, encoding=opts.encoding, delimiter=opts.delimiter
            )
            resolved = resolve_mapping(mapping, dialect.header)
            warnings += _duplicate_columns(dialect.duplicates, resolved)
            raw = load_csv(
                con,
                path,
                prefix,
                compressed=fmt.compressed,
                dialect=dialect,
                columns=_csv_columns(dialect, resolved),
                iso=None if resolved.steps else resolved.columns.get("timestamp"),
            )
            cleanup += [raw.name, prefix]
            details.update(delimiter=dialect.delimiter, encoding=dialect.encoding)
        elif fmt.kind == "parquet":
            raw = load_parquet(con, path, prefix)
            cleanup.append(raw.name)
            resolved = resolve_mapping(mapping, [c for c in raw.types if c != "__row"])
        elif fmt.kind == "xes":
            from procmine.io.xes import read_xes_table

            xes = read_xes_table(
                path, compressed=fmt.compressed, skip_invalid=opts.skip_invalid_rows
            )
            warnings += list(xes.summary.empty_traces)
            say(f"read {xes.summary.events:,} XES events")
            raw = _raw_from_frame(con, xes.table, prefix, dates=xes.dates, source=path.name)
            cleanup.append(raw.name)
            resolved = resolve_mapping(mapping, xes.table.column_names)
        else:
            from procmine.io._pm4py import read_ocel2
            from procmine.io.ocel import flatten_ocel

            assert fmt.variant is not None
            frames = read_ocel2(path, kind=fmt.variant, compressed=fmt.compressed)
            flat = flatten_ocel(con, frames, opts, prefix)
            raw, resolved, items_table = flat.raw, flat.mapping, flat.items_table
            cleanup.append(raw.name)
            warnings += list(flat.warnings)
            details.update(
                case_type=flat.case_type,
                customer_type=flat.customer_type,
                product_type=flat.product_type,
            )
        say("validating and mapping columns")
        inner = resolved
        if resolved.steps:
            raw, inner = melt_steps(con, raw, resolved, f"{prefix}_steps")
            cleanup.insert(0, raw.name)
        result = build_events(
            con, raw, inner, target, skip_invalid=opts.skip_invalid_rows, source_name=path.name
        )
        resolved = replace(
            resolved, timestamp_format=mapping.timestamp_format or result.timestamp_format
        )
        warnings += list(result.warnings)
    except BaseException:
        if items_table:
            eng.drop(items_table)
        eng.drop(target)
        raise
    finally:
        for name in cleanup:
            eng.drop(name)
    try:
        return _finish(
            eng,
            target,
            result.stats,
            resolved,
            roles,
            path.name,
            fmt,
            result.timestamp_format,
            warnings,
            items_table,
            details,
        )
    except BaseException:
        eng.drop(target)
        if items_table:
            eng.drop(items_table)
        raise


def read_frame(
    frame: pd.DataFrame,
    *,
    columns: ColumnMapping | Mapping[str, str] | None = None,
    roles: RoleOverrides | None = None,
    options: ReadOptions | None = None,
    engine: Engine | None = None,
    name: str = "dataframe",
) -> EventLog:
    """Like :func:`read_log`, for a pandas frame already in memory (notebooks, tests)."""
    opts = options or ReadOptions()
    mapping = (
        columns if isinstance(columns, ColumnMapping) else ColumnMapping.from_dict(columns or {})
    )
    eng = engine or Engine.duckdb()
    con = eng.raw
    prefix = Engine.unique_name("raw")
    target = Engine.unique_name("events")
    resolved = resolve_mapping(mapping, [str(c) for c in frame.columns])
    raw = _raw_from_frame(con, frame, prefix)
    melted: RawTable | None = None
    try:
        inner = resolved
        if resolved.steps:
            melted, inner = melt_steps(con, raw, resolved, f"{prefix}_steps")
        result = build_events(
            con, melted or raw, inner, target, skip_invalid=opts.skip_invalid_rows, source_name=name
        )
    finally:
        if melted is not None:
            eng.drop(melted.name)
        eng.drop(raw.name)
    resolved = replace(
        resolved, timestamp_format=mapping.timestamp_format or result.timestamp_format
    )
    return _finish(
        eng,
        target,
        result.stats,
        resolved,
        roles,
        name,
        FileFormat("csv"),
        result.timestamp_format,
        list(result.warnings),
        None,
        {"source": "pandas"},
    )


def _raw_from_frame(
    con: Any,
    frame: pd.DataFrame | pa.Table,
    table: str,
    *,
    dates: Collection[str] = (),
    source: str = "log",
) -> RawTable:
    """A pandas frame or Arrow table as a raw table; ``dates`` are ISO 8601 text columns
    (an XES file's dates), cast to timestamps with time zone here, all at once."""
    view = f"{table}_df"
    con.register(view, frame)
    try:
        if dates:
            _check_dates(con, view, dates, source)
        cast = ", ".join(
            f"CAST({quote_ident(c)} AS TIMESTAMPTZ) AS {quote_ident(c)}" for c in dates
        )
        execute(
            con,
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS "
            f"SELECT CAST(row_number() OVER () - 1 AS BIGINT) AS __row, "
            + (f"* REPLACE ({cast})" if dates else "*")
            + f" FROM {quote_ident(view)}",
        )
    finally:
        con.unregister(view)
    types = {str(r[0]): str(r[1]) for r in fetch_all(con, f"DESCRIBE {quote_ident(table)}")}
    return RawTable(name=table, types=types, row_col="__row", line_offset=None)


def _check_dates(con: Any, view: str, dates: Collection[str], source: str) -> None:
    """Refuse date attributes that are not dates, naming the attribute, value and event."""
    checks = " OR ".join(
        f"({quote_ident(c)} IS NOT NULL AND TRY_CAST({quote_ident(c)} AS TIMESTAMPTZ) IS NULL)"
        for c in dates
    )
    bad = fetch_all(
        con,
        f"SELECT n, {', '.join(quote_ident(c) for c in dates)} FROM "
        f"(SELECT row_number() OVER () AS n, * FROM {quote_ident(view)}) WHERE {checks} LIMIT 1",
    )
    if not bad:
        return
    n, *values = bad[0]
    for column, value in zip(dates, values, strict=True):
        if value is None:
            continue
        found = fetch_all(con, "SELECT TRY_CAST(? AS TIMESTAMPTZ)", [value])
        if found[0][0] is None:
            raise LogValidationError(
                [
                    Problem(
                        ProblemCode.UNPARSEABLE_TIMESTAMP,
                        f"{source}: event {int(n):,} has a date attribute {column!r} that is "
                        f"not a date: {value!r} (XES dates are ISO 8601, e.g. "
                        "2024-03-01T10:00:00+01:00)",
                        column=column,
                        row=int(n),
                        value=str(value)[:200],
                    )
                ]
            )


def _duplicate_columns(duplicates: Sequence[str], resolved: ResolvedMapping) -> list[Problem]:
    if not duplicates:
        return []
    used = set(resolved.columns.values())
    clashing = sorted({d for d in duplicates if d in used})
    if clashing:
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.DUPLICATE_COLUMN,
                    f"the header names column {name!r} more than once, and it is the "
                    f"{next(k for k, v in resolved.columns.items() if v == name)} column: "
                    "rename the duplicates so it is clear which one is meant",
                    column=name,
                    line=1,
                )
                for name in clashing
            ]
        )
    return [
        Problem(
            ProblemCode.DUPLICATE_COLUMN,
            f"the header names {', '.join(repr(d) for d in sorted(set(duplicates)))} more than "
            "once; the copies are not used",
            line=1,
            severity="warning",
        )
    ]


def _finish(
    eng: Engine,
    table: str,
    size: Mapping[str, Any],
    resolved: ResolvedMapping,
    roles: RoleOverrides | None,
    name: str,
    fmt: FileFormat,
    ts_format: str,
    warnings: list[Problem],
    items_table: str | None,
    details: Mapping[str, str | None],
) -> EventLog:
    stats = LogStats.from_row(size)
    if stats.activities > MAX_ACTIVITIES:
        column = resolved.get("activity")
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.TOO_MANY_ACTIVITIES,
                    f"the activity column {column!r} has {stats.activities:,} distinct values, "
                    f"more than the {MAX_ACTIVITIES:,} a process can have: is it an id or a "
                    "free-text column? Choose the column that names the step (e.g. "
                    "'Order cancelled')",
                    column=column,
                    field="activity",
                    count=stats.activities,
                )
            ]
        )
    activities = [
        r[0] for r in fetch_all(eng.raw, f"SELECT DISTINCT activity FROM {quote_ident(table)}")
    ]
    role_map = guess_roles(activities).with_overrides(_role_overrides(roles))
    return EventLog(
        engine=eng,
        table=table,
        mapping=resolved,
        roles=role_map,
        stats=stats,
        source=LogSource(name=name, format=fmt.label, timestamp_format=ts_format, details=details),
        warnings=warnings,
        items_table=items_table,
    )


#: A CSV with more columns than this is read with only its mapped ones: its other columns
#: could be case dimensions (``attr:``), but reading dozens of them costs memory at scale.
MAX_CSV_COLUMNS = 40


def _csv_columns(dialect: CsvDialect, resolved: ResolvedMapping) -> list[str]:
    """The mapped columns, and the others too when there are few (see MAX_CSV_COLUMNS)."""
    mapped = sorted(set(resolved.columns.values()) | {c for c, _ in resolved.steps})
    if len(dialect.header) > MAX_CSV_COLUMNS:
        return mapped
    others = [c for c in dialect.header if c not in mapped and c not in dialect.duplicates]
    return mapped + list(dict.fromkeys(others))
