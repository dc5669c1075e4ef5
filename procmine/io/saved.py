# SPDX-License-Identifier: AGPL-3.0-or-later
"""Save a validated log to a folder (Parquet plus a JSON description) and open it again.

Reading and validating a large CSV or XES file is the slow part of an analysis; a saved log is
opened in a fraction of the time and needs no mapping or validation again. The service stores
every upload this way. A saved folder holds::

    events.parquet   the canonical events (see procmine.io.canonical), in case/time order
    items.parquet    the order lines of an OCEL log, when it has them
    log.json         mapping, roles, statistics, source and the warnings met while reading

The folder is written under a temporary name and renamed into place, so it either exists
complete or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from procmine._sql import execute, fetch_all, quote_ident, quote_literal
from procmine.engine import Engine
from procmine.errors import LogFormatError, OutputError, Problem, ProblemCode
from procmine.io.canonical import SEQUENCE_COLUMNS, SEQUENCE_SQL, activity_enum
from procmine.log import EventLog, LogSource, LogStats
from procmine.mapping import ResolvedMapping
from procmine.roles import RoleMap, parse_role

__all__ = ["FORMAT_VERSION", "open_saved_log", "save_log"]

#: Bumped when the layout of a saved folder changes incompatibly.
FORMAT_VERSION = 1

_EVENTS = "events.parquet"
_ITEMS = "items.parquet"
_META = "log.json"


def _copy_out(eng: Engine, table: str, path: Path, order: str) -> None:
    execute(
        eng.raw,
        f"COPY (SELECT * FROM {quote_ident(table)} ORDER BY {order}) "
        f"TO {quote_literal(str(path))} (FORMAT parquet, COMPRESSION zstd)",
    )


def _describe(log: EventLog) -> dict[str, Any]:
    s, src, m, r = log.stats, log.source, log.mapping, log.roles
    return {
        "format_version": FORMAT_VERSION,
        "stats": {
            "events": s.events,
            "cases": s.cases,
            "customers": s.customers,
            "activities": s.activities,
            "start": s.start.isoformat(),
            "end": s.end.isoformat(),
            "cases_without_customer": s.cases_without_customer,
        },
        "source": {
            "name": src.name,
            "format": src.format,
            "timestamp_format": src.timestamp_format,
            "details": dict(src.details),
        },
        "mapping": {
            "columns": dict(m.columns),
            "steps": [list(pair) for pair in m.steps],
            "guessed": sorted(m.guessed),
            "timestamp_format": m.timestamp_format,
            "available": list(m.available),
        },
        "roles": {
            "by_label": {label: role.value for label, role in r.by_label.items()},
            "guessed": sorted(r.guessed),
            "activities": list(r.activities),
        },
        "warnings": [w.to_dict() for w in log.warnings],
        "has_items": log.items_table_name is not None,
    }


def save_log(log: EventLog, directory: str | Path) -> Path:
    """Write ``log`` to the new folder ``directory`` (which must not exist yet).

    Examples
    --------
    >>> import pandas as pd, tempfile, pathlib
    >>> log = EventLog.from_pandas(pd.DataFrame({
    ...     "order_id": ["o1", "o1"], "activity": ["Order placed", "Order cancelled"],
    ...     "timestamp": ["2024-01-01 10:00", "2024-01-01 12:00"], "customer": ["c1", "c1"]}))
    >>> folder = save_log(log, pathlib.Path(tempfile.mkdtemp()) / "saved")
    >>> again = open_saved_log(folder)
    >>> again.stats == log.stats, again.roles.to_dict() == log.roles.to_dict()
    (True, True)
    """
    target = Path(directory)
    if target.exists():
        raise OutputError(f"cannot save the log to {target}: it already exists")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.partial-"))
    except OSError as exc:
        raise OutputError(f"cannot save the log to {target}: {exc.strerror or exc}") from None
    try:
        eng = log.engine
        _copy_out(eng, log.table_name, partial / _EVENTS, "case_id, ts, row")
        if log.items_table_name:
            _copy_out(eng, log.items_table_name, partial / _ITEMS, "ALL")
        meta = json.dumps(_describe(log), ensure_ascii=False, indent=1)
        (partial / _META).write_text(meta, encoding="utf-8")
        # The folder is complete only once renamed: a crash before this leaves a hidden
        # ".partial" folder that no reader ever opens.
        os.rename(partial, target)
    except OSError as exc:
        shutil.rmtree(partial, ignore_errors=True)
        raise OutputError(f"cannot save the log to {target}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return target


def _problem(data: dict[str, Any]) -> Problem:
    return Problem(**{**data, "code": ProblemCode(data["code"])})


def open_saved_log(
    directory: str | Path, *, engine: Engine | None = None, materialize: bool = False
) -> EventLog:
    """Open a folder written by :func:`save_log`.

    The events stay in the Parquet file (a view over it) unless ``materialize`` copies them
    into the engine, which pays off when many queries scan them.
    """
    folder = Path(directory)
    try:
        meta = json.loads((folder / _META).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.UNREADABLE_FILE,
                    f"{folder} is not a saved procmine log ({exc.__class__.__name__}: {exc})",
                )
            ]
        ) from None
    if meta.get("format_version") != FORMAT_VERSION:
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.UNREADABLE_FILE,
                    f"{folder} was saved in layout version {meta.get('format_version')!r}; "
                    f"this procmine reads version {FORMAT_VERSION}",
                )
            ]
        )
    eng = engine or Engine.duckdb()
    kind = "TABLE" if materialize else "VIEW"

    def load(file: str, prefix: str, extra: str = "", window: str = "", cast: str = "") -> str:
        """Create the table or view; ``cast`` replaces columns before ``extra`` reads them."""
        name = Engine.unique_name(prefix)
        source = f"read_parquet({quote_literal(str(folder / file))})"
        if cast:
            source = f"(SELECT * REPLACE ({cast}) FROM {source})"
        execute(
            eng.raw,
            f"CREATE TEMP {kind} {quote_ident(name)} AS SELECT *{extra} FROM {source}{window}",
        )
        return name

    events = f"read_parquet({quote_literal(str(folder / _EVENTS))})"
    stored = {str(r[0]) for r in fetch_all(eng.raw, f"DESCRIBE SELECT * FROM {events}")}
    # A log saved before events carried their place in the case gets the placing columns
    # here, by the one sort read_log would have done.
    placed = set(SEQUENCE_COLUMNS) <= stored
    extra, window = (
        ("", "")
        if placed
        else (f", {SEQUENCE_SQL}", " WINDOW w AS (PARTITION BY case_id ORDER BY ts, row)")
    )
    if materialize:
        # Stored for many queries: the activity columns as an ENUM, as read_log stores them.
        with activity_enum(eng.raw, events, "activity") as kind_of:
            cols = ("activity", "prev_activity", "next_activity") if placed else ("activity",)
            cast = ", ".join(f"CAST({c} AS {kind_of}) AS {c}" for c in cols)
            table = load(_EVENTS, "events", extra, window, cast)
    else:
        table = load(_EVENTS, "events", extra, window)
    items = load(_ITEMS, "items") if meta["has_items"] else None
    s, src, m, r = meta["stats"], meta["source"], meta["mapping"], meta["roles"]
    return EventLog(
        engine=eng,
        table=table,
        mapping=ResolvedMapping(
            columns=m["columns"],
            guessed=frozenset(m["guessed"]),
            timestamp_format=m["timestamp_format"],
            available=tuple(m["available"]),
            # Saved before logs could have step columns: none.
            steps=tuple((c, label) for c, label in m.get("steps", ())),
        ),
        roles=RoleMap(
            by_label={label: parse_role(role) for label, role in r["by_label"].items()},
            guessed=frozenset(r["guessed"]),
            activities=tuple(r["activities"]),
        ),
        stats=LogStats(
            events=s["events"],
            cases=s["cases"],
            customers=s["customers"],
            activities=s["activities"],
            start=dt.datetime.fromisoformat(s["start"]),
            end=dt.datetime.fromisoformat(s["end"]),
            cases_without_customer=s["cases_without_customer"],
        ),
        source=LogSource(
            name=src["name"],
            format=src["format"],
            timestamp_format=src["timestamp_format"],
            details=src["details"],
        ),
        warnings=[_problem(w) for w in meta["warnings"]],
        items_table=items,
    )
