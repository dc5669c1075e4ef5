# SPDX-License-Identifier: AGPL-3.0-or-later
"""Parquet files and Spark tables into the canonical event table of a Spark engine.

The Spark counterpart of :func:`procmine.io.canonical.build_events`, written with Spark's
DataFrame API so that nothing leaves the cluster: the same canonical columns (the placing
columns included, one window over the events of each case), the same customer rule (the
smallest id a case carries), the same required values. Logs of this size come from a
lake, not from a spreadsheet export, so the reader expects typed columns: timestamps as
timestamps, dates, epoch numbers or ISO 8601 text.

What the DuckDB reader does beyond that is not done here: CSV, XES and OCEL files (read
them with the default engine, or convert them to Parquet), ``--timestamp-format``, and the
case dimensions (``attr:`` columns) that root causes look at besides category, price band,
weekday and resource.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from procmine.config import ReadOptions
from procmine.engine import Engine
from procmine.errors import LogFormatError, LogValidationError, Problem, ProblemCode, first_line
from procmine.io.canonical import ATTR_PREFIX, MAX_DIMENSION_VALUES, MAX_DIMENSIONS
from procmine.log import EventLog, LogSource, LogStats
from procmine.mapping import ColumnMapping, ResolvedMapping, resolve_mapping
from procmine.roles import guess_roles

__all__ = ["read_spark_log"]

_TEXT_FIELDS = {
    "customer": "customer_raw",
    "product": "product",
    "family": "family",
    "category": "category",
    "resource": "resource",
}


def read_spark_log(
    source: str | Path,
    *,
    engine: Engine,
    columns: ColumnMapping | None = None,
    roles: Any = None,
    options: ReadOptions | None = None,
    progress: Any = None,
) -> EventLog:
    """Read a Parquet file (or folder, or URI) or a Spark table into ``engine``.

    ``source`` is tried as a path first; if there is no such file, as the name of a table
    the Spark session knows (``sales.order_events``). Called by :func:`procmine.read_log`
    when its engine is a Spark engine.
    """
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    opts = options or ReadOptions()
    mapping = columns or ColumnMapping()
    say = progress or (lambda _msg: None)
    session = engine.backend._session
    df, name, label = _source_frame(session, source, opts)
    say(f"reading {name} ({label}) on Spark")
    resolved = resolve_mapping(mapping, list(df.columns))
    if resolved.steps:
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.INVALID_OPTION,
                    "step columns ("
                    + ", ".join(c for c, _ in resolved.steps)
                    + ") are made into events by the default engine only; on Spark, give "
                    "a table with an activity and a timestamp column (Spark's stack() melts "
                    "the steps into one), or name them with --activity and --timestamp",
                    field="steps",
                )
            ]
        )
    if mapping.timestamp_format:
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.INVALID_OPTION,
                    "the Spark engine reads timestamps typed as timestamps, dates, epoch "
                    "numbers or ISO 8601 text; --timestamp-format is for the default engine",
                    field="timestamp",
                )
            ]
        )
    cols = resolved.columns
    types = dict(df.dtypes)

    def text(column: str) -> Any:
        return _text(F, column)

    ts_column = cols["timestamp"]
    ts, ts_format = _timestamp(F, df, ts_column, types[ts_column])
    amount = (
        F.expr(f"try_cast({_ident(cols['amount'])} AS DOUBLE)")
        if "amount" in cols
        else F.lit(None).cast("double")
    )
    base = df.select(
        F.monotonically_increasing_id().alias("row"),
        text(cols["case"]).alias("case_id"),
        text(cols["activity"]).alias("activity"),
        ts.alias("ts"),
        *[
            (text(cols[field]) if field in cols else F.lit(None).cast("string")).alias(alias)
            for field, alias in _TEXT_FIELDS.items()
        ],
        amount.alias("amount"),
    )
    say("validating and mapping columns")
    counts = base.agg(
        F.count(F.lit(1)).alias("rows"),
        *[F.count(F.when(F.col(c).isNull(), 1)).alias(c) for c in ("case_id", "activity", "ts")],
    ).first()
    assert counts is not None
    problems = _blank_problems(counts, resolved, opts.skip_invalid_rows)
    if any(p.severity == "error" for p in problems):
        raise LogValidationError(problems, summary=f"{name}: {problems[0].message}")
    if "customer" in cols:
        problems += _customer_warnings(F, base, cols["customer"])
    kept = base.where("case_id IS NOT NULL AND activity IS NOT NULL AND ts IS NOT NULL")
    w = Window.partitionBy("case_id").orderBy("ts", "row")
    whole = w.rowsBetween(Window.unboundedPreceding, Window.unboundedFollowing)
    dims = _dimension_columns(F, df, cols)
    kept = (
        kept.join(
            df.select(
                text(cols["case"]).alias("case_id"), *[text(c).alias(ATTR_PREFIX + c) for c in dims]
            )
            .where("case_id IS NOT NULL")
            .groupBy("case_id")
            .agg(*[F.min(ATTR_PREFIX + c).alias(ATTR_PREFIX + c) for c in dims]),
            "case_id",
        )
        if dims
        else kept
    )
    events = kept.select(
        "row",
        "case_id",
        "activity",
        "ts",
        F.min("customer_raw").over(whole).alias("customer_id"),
        "product",
        "family",
        "category",
        "amount",
        "resource",
        *[F.col(_ident(ATTR_PREFIX + c)) for c in dims],
        (F.row_number().over(w) - 1).cast("bigint").alias("pos"),
        F.lag("activity").over(w).alias("prev_activity"),
        F.lead("activity").over(w).alias("next_activity"),
        F.lead("ts").over(w).alias("next_ts"),
    )
    table = engine.unique_name("events")
    stored = events.localCheckpoint()
    stored.createOrReplaceTempView(table)
    engine._frames[table] = stored
    try:
        return _finish(engine, table, stored, resolved, roles, name, label, ts_format, problems)
    except BaseException:
        engine.drop(table)
        raise


def _customer_warnings(F: Any, base: Any, column: str) -> list[Problem]:
    """Blank and conflicting customer ids, counted as the DuckDB reader counts them."""
    per_case = base.groupBy("case_id").agg(
        F.count("customer_raw").alias("known"),
        F.count(F.lit(1)).alias("n"),
        F.min("customer_raw").alias("lo"),
        F.max("customer_raw").alias("hi"),
    )
    real = F.col("case_id").isNotNull()
    row = per_case.agg(
        F.sum(F.col("n") - F.col("known")).alias("blank"),
        F.sum(F.when(real & (F.col("known") > 0), F.col("n") - F.col("known"))).alias("filled"),
        F.count(F.when(real & (F.col("known") == 0), 1)).alias("orphans"),
        F.sum(F.when(real & (F.col("known") == 0), F.col("n"))).alias("orphan_rows"),
        F.count(F.when(real & (F.col("lo") != F.col("hi")), 1)).alias("conflicts"),
    ).first()
    out: list[Problem] = []
    if row is None:
        return out
    blank = int(row["blank"] or 0)
    if blank:
        parts = []
        if row["filled"]:
            parts.append(
                f"{int(row['filled']):,} of them were filled from other rows of the same case"
            )
        if row["orphans"]:
            parts.append(
                f"{int(row['orphans']):,} cases ({int(row['orphan_rows'] or 0):,} rows) have no "
                "customer at all: they stay in the process map and variants but are left out of "
                "the cross-order detectors (exchange detour, lost sale)"
            )
        out.append(
            Problem(
                ProblemCode.BLANK_CUSTOMER,
                f"customer column {column!r} is blank on {blank:,} rows"
                + ("; " + "; ".join(parts) if parts else ""),
                column=column,
                count=blank,
                severity="warning",
            )
        )
    if row["conflicts"]:
        n = int(row["conflicts"])
        out.append(
            Problem(
                ProblemCode.CONFLICTING_CUSTOMER,
                f"{n:,} cases carry more than one customer id in {column!r}; the smallest id "
                "is used for the whole case",
                column=column,
                count=n,
                severity="warning",
            )
        )
    return out


def _text(F: Any, column: str) -> Any:
    """A source column as trimmed text, blank as null (the DuckDB reader's rule)."""
    return F.expr(f"nullif(trim(CAST({_ident(column)} AS STRING)), '')")


def _dimension_columns(F: Any, df: Any, mapped: Mapping[str, str]) -> list[str]:
    """The unmapped columns that are case dimensions, by the DuckDB reader's rule
    (:func:`procmine.io.canonical._per_case`)."""
    used = set(mapped.values())
    candidates = [c for c in df.columns if c not in used]
    if not candidates:
        return []

    def text(column: str) -> Any:
        return _text(F, column)

    rough = df.agg(*[F.approx_count_distinct(text(c)) for c in candidates]).first()
    few = [
        c
        for c, n in zip(candidates, rough or (), strict=True)
        if 2 <= int(n or 0) <= MAX_DIMENSION_VALUES + 5
    ]
    if not few:
        return []
    per_case = df.groupBy(text(mapped["case"]).alias("__case")).agg(
        *[F.min(text(c)).alias(f"lo{i}") for i, c in enumerate(few)],
        *[F.max(text(c)).alias(f"hi{i}") for i, c in enumerate(few)],
    )
    varies = per_case.agg(
        *[
            F.coalesce(F.max(F.col(f"lo{i}") != F.col(f"hi{i}")), F.lit(False))
            for i in range(len(few))
        ]
    ).first()
    distinct = df.agg(*[F.countDistinct(text(c)) for c in few]).first()
    return [
        c
        for c, mixed, n in zip(few, varies or (), distinct or (), strict=True)
        if not mixed and 2 <= int(n or 0) <= MAX_DIMENSION_VALUES
    ][:MAX_DIMENSIONS]


def _ident(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def _source_frame(session: Any, source: str | Path, opts: ReadOptions) -> tuple[Any, str, str]:
    """The data frame of ``source``, its name and what it is."""
    text = str(source)
    path = Path(text)
    if path.exists() or "://" in text:
        if path.is_file():
            from procmine.io.sniff import sniff_format

            fmt = sniff_format(path, opts.format)
            if fmt.kind != "parquet":
                raise LogFormatError(
                    [
                        Problem(
                            ProblemCode.UNKNOWN_FORMAT,
                            f"{path.name} is {fmt.label}: the Spark engine reads Parquet files "
                            "and Spark tables. Read it with the default engine, or convert it "
                            "to Parquet first",
                            value=fmt.label,
                        )
                    ]
                )
        try:
            return session.read.parquet(text), path.name or text, "Parquet"
        except Exception as exc:  # pyspark's AnalysisException and friends
            raise LogFormatError(
                [
                    Problem(
                        ProblemCode.MALFORMED_FILE,
                        f"{text} is not readable as Parquet by Spark: {first_line(exc)[:300]}",
                    )
                ]
            ) from None
    if session.catalog.tableExists(text):
        return session.table(text), text, "spark table"
    raise LogFormatError(
        [
            Problem(
                ProblemCode.FILE_NOT_FOUND,
                f"{text!r} is neither a file nor a table the Spark session knows",
                value=text,
            )
        ]
    )


def _timestamp(F: Any, df: Any, column: str, typ: str) -> tuple[Any, str]:
    """The UTC wall time of ``column`` as TIMESTAMP_NTZ, like the DuckDB engine's ``ts``."""
    col = F.col(column)
    if typ in ("timestamp", "timestamp_ntz"):
        return col.cast("timestamp_ntz"), "timestamp"
    if typ == "date":
        return col.cast("timestamp_ntz"), "date"
    if typ in ("tinyint", "smallint", "int", "bigint", "float", "double") or typ.startswith(
        "decimal"
    ):
        # Epoch numbers: seconds, milliseconds or microseconds, told apart by magnitude.
        row = df.agg(F.max(F.abs(col))).first()
        mx = float(row[0] or 0) if row is not None else 0.0
        divisor = 1 if mx < 1e11 else (1_000 if mx < 1e14 else 1_000_000)
        label = {1: "epoch seconds", 1_000: "epoch milliseconds", 1_000_000: "epoch microseconds"}
        seconds = col.cast("double") / divisor
        return F.timestamp_micros((seconds * 1_000_000).cast("bigint")).cast(
            "timestamp_ntz"
        ), label[divisor]
    if typ == "string":
        # ISO 8601 text; an offset is turned into UTC (the session's time zone).
        return F.expr(f"try_to_timestamp({_ident(column)})").cast("timestamp_ntz"), "ISO 8601"
    raise LogValidationError(
        [
            Problem(
                ProblemCode.UNPARSEABLE_TIMESTAMP,
                f"timestamp column {column!r} holds {typ} values, not timestamps, dates, "
                "epoch numbers or text; choose the column with the event times",
                column=column,
                value=typ,
            )
        ]
    )


def _blank_problems(counts: Any, resolved: ResolvedMapping, skip: bool) -> list[Problem]:
    problems: list[Problem] = []
    if int(counts["rows"]) == 0:
        raise LogValidationError([Problem(ProblemCode.EMPTY_LOG, "the log has no events")])
    for field, column in (("case", "case_id"), ("activity", "activity"), ("timestamp", "ts")):
        n = int(counts[column])
        if not n:
            continue
        source = resolved.columns[field]
        what = "blank or unreadable" if field == "timestamp" else "blank"
        problems.append(
            Problem(
                ProblemCode.UNPARSEABLE_TIMESTAMP
                if field == "timestamp"
                else ProblemCode.BLANK_VALUE,
                f"{field} column {source!r} was {what} on {n:,} rows, which were skipped"
                if skip
                else f"{field} column {source!r} is {what} on {n:,} rows; fix them, or pass "
                "--skip-invalid-rows to drop those rows",
                column=source,
                count=n,
                severity="warning" if skip else "error",
            )
        )
    return problems


def _finish(
    engine: Engine,
    table: str,
    events: Any,
    resolved: ResolvedMapping,
    roles: Any,
    name: str,
    label: str,
    ts_format: str,
    warnings: list[Problem],
) -> EventLog:
    from pyspark.sql import functions as F

    from procmine.io import MAX_ACTIVITIES, _role_overrides

    row = events.agg(
        F.count(F.lit(1)).alias("events"),
        F.countDistinct("case_id").alias("cases"),
        F.countDistinct("customer_id").alias("customers"),
        F.countDistinct("activity").alias("activities"),
        F.min("ts").alias("start"),
        F.max("ts").alias("end"),
        F.countDistinct(F.when(F.col("customer_id").isNull(), F.col("case_id"))).alias("orphans"),
    ).first()
    assert row is not None
    if not row["events"]:
        raise LogValidationError([Problem(ProblemCode.EMPTY_LOG, f"{name} has no usable events")])
    if int(row["activities"]) > MAX_ACTIVITIES:
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.TOO_MANY_ACTIVITIES,
                    f"the activity column {resolved.columns['activity']!r} has "
                    f"{int(row['activities']):,} distinct values, more than the "
                    f"{MAX_ACTIVITIES:,} a process can have: is it an id or a free-text column?",
                    column=resolved.columns["activity"],
                    field="activity",
                    count=int(row["activities"]),
                )
            ]
        )
    activities = [r[0] for r in events.select("activity").distinct().collect()]
    role_map = guess_roles(activities).with_overrides(_role_overrides(roles))
    return EventLog(
        engine=engine,
        table=table,
        mapping=replace(resolved, timestamp_format=ts_format),
        roles=role_map,
        stats=LogStats.from_row(row.asDict()),
        source=LogSource(name=name, format=label, timestamp_format=ts_format, details={}),
        warnings=warnings,
    )
