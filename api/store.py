# SPDX-License-Identifier: AGPL-3.0-or-later
"""Where the service keeps everything: the data directory and its SQLite database.

Layout of ``PROCMINE_DATA_DIR``::

    procmine.sqlite                  logs, analysis jobs, findings (api.db)
    uploads/<random>/<file name>     uploads in flight (emptied at every start)
    spill/<random>/                  what a query engine spills to disk while it runs
                                     (removed when it is done, emptied at every start)
    logs/<log id>/original/<name>    the uploaded file as received (kept for re-mapping)
    logs/<log id>/saved/             the validated log as Parquet (procmine.io.saved)
    analyses/<analysis id>/          instances.parquet, process.json, journey.json, maps/

Every directory is built under a hidden temporary name and renamed into place before the
database row that points to it is committed; at start-up, directories without a row (left by
a crash between the two) are removed. So a log or result is either complete or absent.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import re
import secrets
import shutil
import sqlite3
import tempfile
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from api.db import Database
from api.errors import Conflict, EngineOutOfMemory, InvalidRequest, NotFound
from api.faults import crash_point
from procmine.analysis import Analysis
from procmine.compare import BeforeAfter, change_map, compare_findings, compare_graphs
from procmine.config import ReadOptions, RunConfig, config_from_dict
from procmine.detect import get_detector, registered
from procmine.discover import ProcessGraph
from procmine.engine import Engine
from procmine.export import PROCESS_MAP_TITLES
from procmine.findings import INSTANCE_SCHEMA, Finding
from procmine.io import read_log
from procmine.io.saved import open_saved_log, save_log
from procmine.journey import JourneyGraph, journey_graph
from procmine.log import EventLog
from procmine.mapping import ColumnMapping
from procmine.preview import LogPreview, preview
from procmine.render import Overlay, ProcessMap, auto_limits, process_map, select_edges
from procmine.roles import Role, RoleMap

__all__ = [
    "AnalysisRecord",
    "FindingRecord",
    "LogRecord",
    "MapSize",
    "Store",
    "UploadMapping",
    "new_id",
    "now",
]

_log = logging.getLogger("procmine.api")

State = Literal["queued", "running", "done", "failed"]
MapName = Literal["process", "journey"]
MapFormat = Literal["svg", "png", "dot"]

#: How many variants of the process graph are kept with a result (the map needs none).
_KEPT_VARIANTS = 100
#: A job interrupted by a restart is run again this many times before it is marked failed.
MAX_ATTEMPTS = 2


def now() -> str:
    """The current time, ISO 8601 in UTC (how the store writes times)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def new_id(prefix: str) -> str:
    """A new random id such as ``log_0123456789abcdef``."""
    return f"{prefix}_{secrets.token_hex(8)}"


def safe_file_name(name: str | None) -> str:
    """A display and storage name for an uploaded file: no directories, no control characters.

    >>> safe_file_name("../../etc/passwd"), safe_file_name("C:\\\\x\\\\orders.csv")
    ('passwd', 'orders.csv')
    >>> safe_file_name(""), safe_file_name("..."), safe_file_name("a\\x00b.csv")
    ('upload', 'upload', 'ab.csv')
    """
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C").strip().lstrip(".")
    while len(text.encode("utf-8")) > 200:
        text = text[:-1]
    return text or "upload"


# ---------------------------------------------------------------------------------------------
# Records: what the routes turn into response models.


@dataclass(frozen=True, slots=True)
class LogRecord:
    """A stored log: its id, owner, file and the library's summary of it."""

    id: str
    owner: str
    name: str
    format: str
    size_bytes: int
    created: str
    mapping_version: int
    summary: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> LogRecord:
        return cls(
            id=row["id"],
            owner=row["owner"],
            name=row["name"],
            format=row["format"],
            size_bytes=row["size_bytes"],
            created=row["created"],
            mapping_version=row["mapping_version"],
            summary=json.loads(row["summary"]),
        )


@dataclass(frozen=True, slots=True)
class AnalysisRecord:
    """An analysis job and, once done, the size of its result."""

    id: str
    log_id: str
    owner: str
    state: State
    progress: float
    phase: str | None
    error: Mapping[str, Any] | None
    attempts: int
    created: str
    started: str | None
    finished: str | None
    findings_count: int | None
    request: Mapping[str, Any]
    parameters: Mapping[str, Any] | None
    mapping_version: int

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AnalysisRecord:
        return cls(
            id=row["id"],
            log_id=row["log_id"],
            owner=row["owner"],
            state=row["state"],
            progress=row["progress"],
            phase=row["phase"],
            error=json.loads(row["error"]) if row["error"] else None,
            attempts=row["attempts"],
            created=row["created"],
            started=row["started"],
            finished=row["finished"],
            findings_count=row["findings_count"],
            request=json.loads(row["request"]),
            parameters=json.loads(row["parameters"]) if row["parameters"] else None,
            mapping_version=row["mapping_version"],
        )


@dataclass(frozen=True, slots=True)
class FindingRecord:
    """A stored finding: ``key`` is stable across analyses, ``id`` names this one."""

    id: str
    analysis_id: str
    log_id: str
    key: str
    rank: int
    instances: int
    created: str
    document: Mapping[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FindingRecord:
        return cls(
            id=row["id"],
            analysis_id=row["analysis_id"],
            log_id=row["log_id"],
            key=row["key"],
            rank=row["rank"],
            instances=row["instances"],
            created=row["created"],
            document=json.loads(row["document"]),
        )


@dataclass(frozen=True, slots=True)
class MapSize:
    """A map's paths: in all, the fewest its filter draws, and how many it draws by default."""

    total: int
    least: int
    default: int


@dataclass(frozen=True, slots=True)
class UploadMapping:
    """The ``mapping`` form field of an upload: columns, roles and read options."""

    columns: ColumnMapping
    roles: Mapping[Role, tuple[str, ...]]
    read: ReadOptions

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> UploadMapping:
        """From the JSON object ``{"case": ..., "roles": {role: [labels]}, "read": {...}}``."""
        data = dict(data or {})
        roles_data = data.pop("roles", None) or {}
        read_data = data.pop("read", None) or {}
        if not isinstance(roles_data, dict) or not isinstance(read_data, dict):
            raise InvalidRequest(
                "mapping: 'roles' must be an object {role: [labels]} and 'read' an object"
            )
        # The library's config parser checks every key and value and names what is wrong.
        run = config_from_dict({"columns": data, "roles": roles_data, "read": read_data})
        return cls(columns=run.columns, roles=run.roles, read=run.read)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (only what was given)."""
        out: dict[str, Any] = {k: v for k, v in self.columns.to_dict().items() if v}
        if self.roles:
            out["roles"] = {r.value: list(labels) for r, labels in self.roles.items()}
        read = {
            k: getattr(self.read, k)
            for k in ReadOptions.__slots__
            if getattr(self.read, k) not in (None, False)
        }
        if read:
            out["read"] = read
        return out


# ---------------------------------------------------------------------------------------------


class Store:
    """Logs, analyses and findings of the service, on disk and in SQLite."""

    def __init__(
        self, data_dir: Path, *, engine_threads: int = 1, engine_memory: int | None = None
    ) -> None:
        self.root = data_dir
        self.engine_threads = engine_threads
        #: bytes each engine may hold before it spills (None: DuckDB's default)
        self.engine_memory = engine_memory
        for sub in ("uploads", "spill", "logs", "analyses"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.db = Database(self.root / "procmine.sqlite")

    # -- paths --------------------------------------------------------------------------------

    def _log_dir(self, log_id: str) -> Path:
        return self.root / "logs" / log_id

    def _analysis_dir(self, analysis_id: str) -> Path:
        return self.root / "analyses" / analysis_id

    def new_upload_dir(self) -> Path:
        """A private folder for one upload in flight."""
        return Path(tempfile.mkdtemp(dir=self.root / "uploads"))

    @contextmanager
    def engine(self) -> Iterator[Engine]:
        """A DuckDB engine with the service's threads and memory, spilling into a private
        folder under ``spill/`` that is removed with it.

        DuckDB's out-of-memory error inside the block becomes :class:`EngineOutOfMemory`.
        """
        spill = Path(tempfile.mkdtemp(dir=self.root / "spill"))
        try:
            eng = Engine.duckdb(
                threads=self.engine_threads,
                memory_limit=f"{self.engine_memory}B" if self.engine_memory else None,
                temp_directory=str(spill),
            )
            try:
                yield eng
            except duckdb.OutOfMemoryException as exc:
                raise EngineOutOfMemory.from_engine(self.engine_memory, exc) from None
            finally:
                eng.backend.disconnect()
        finally:
            shutil.rmtree(spill, ignore_errors=True)

    # -- start-up -----------------------------------------------------------------------------

    def recover(self) -> list[str]:
        """Clean up after a crash; return the ids of analyses to (re)run, oldest first.

        Uploads in flight and folders without a database row are removed; an analysis that
        was running is queued again (up to ``MAX_ATTEMPTS`` starts in all), else marked failed.
        """
        for leftover in [*(self.root / "uploads").iterdir(), *(self.root / "spill").iterdir()]:
            shutil.rmtree(leftover, ignore_errors=True)
        with self.db.connect() as con:
            logs = {r[0] for r in con.execute("SELECT id FROM logs")}
            analyses = {r[0] for r in con.execute("SELECT id FROM analyses WHERE state = 'done'")}
            con.execute(
                "UPDATE analyses SET state = 'failed', finished = ?, phase = NULL, error = ? "
                "WHERE state = 'running' AND attempts >= ?",
                (now(), json.dumps(_interrupted()), MAX_ATTEMPTS),
            )
            con.execute(
                "UPDATE analyses SET state = 'queued', progress = 0, "
                "phase = 'queued again after a restart' WHERE state = 'running'"
            )
            queued = [
                r[0]
                for r in con.execute(
                    "SELECT id FROM analyses WHERE state = 'queued' ORDER BY created"
                )
            ]
        for folder in (self.root / "logs").iterdir():
            if folder.name not in logs:
                shutil.rmtree(folder, ignore_errors=True)
        for folder in (self.root / "analyses").iterdir():
            if folder.name not in analyses:
                shutil.rmtree(folder, ignore_errors=True)
        return queued

    # -- logs ---------------------------------------------------------------------------------

    def add_log(
        self, owner: str, upload: Path, size_bytes: int, mapping: UploadMapping
    ) -> LogRecord:
        """Read and validate the uploaded file, store it, and record it (blocking).

        Raises the library's :class:`~procmine.LogError` or :class:`~procmine.ConfigError`
        when the log or the mapping is wrong; nothing is kept then.
        """
        log_id = new_id("log")
        staging = self.root / "logs" / f".new-{log_id}"
        staging.mkdir()
        try:
            summary = self._read_and_save(upload, mapping, staging / "saved")
            (staging / "original").mkdir()
            os.replace(upload, staging / "original" / upload.name)
            (staging / "mapping.json").write_text(json.dumps(mapping.to_dict()), "utf-8")
            os.rename(staging, self._log_dir(log_id))
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        record = LogRecord(
            id=log_id,
            owner=owner,
            name=summary["name"],
            format=summary["format"],
            size_bytes=size_bytes,
            created=now(),
            mapping_version=1,
            summary=summary,
        )
        try:
            with self.db.connect() as con:
                con.execute(
                    "INSERT INTO logs (id, owner, name, format, size_bytes, created, "
                    "mapping_version, summary) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        record.id,
                        owner,
                        record.name,
                        record.format,
                        size_bytes,
                        record.created,
                        1,
                        json.dumps(record.summary),
                    ),
                )
        except BaseException:
            shutil.rmtree(self._log_dir(log_id), ignore_errors=True)
            raise
        return record

    def list_logs(self, owner: str, limit: int, offset: int) -> tuple[list[LogRecord], int]:
        """The owner's logs, newest first, and how many there are."""
        with self.db.read() as con:
            total = con.execute("SELECT count(*) FROM logs WHERE owner = ?", (owner,)).fetchone()[0]
            rows = con.execute(
                "SELECT * FROM logs WHERE owner = ? ORDER BY created DESC, id LIMIT ? OFFSET ?",
                (owner, limit, offset),
            ).fetchall()
        return [LogRecord.from_row(r) for r in rows], int(total)

    def get_log(self, owner: str, log_id: str) -> LogRecord:
        """One of the owner's logs (:class:`NotFound` for anyone else's)."""
        with self.db.read() as con:
            row = con.execute(
                "SELECT * FROM logs WHERE id = ? AND owner = ?", (log_id, owner)
            ).fetchone()
        if row is None:
            raise NotFound(f"there is no log {log_id!r}")
        return LogRecord.from_row(row)

    def delete_log(self, owner: str, log_id: str) -> None:
        """Delete a log with its analyses, findings and files."""
        with self.db.connect() as con:
            analyses = [
                r[0]
                for r in con.execute(
                    "SELECT a.id FROM analyses a JOIN logs l ON l.id = a.log_id "
                    "WHERE l.id = ? AND l.owner = ?",
                    (log_id, owner),
                )
            ]
            deleted = con.execute(
                "DELETE FROM logs WHERE id = ? AND owner = ?", (log_id, owner)
            ).rowcount
        if not deleted:
            raise NotFound(f"there is no log {log_id!r}")
        # Rename first so that a half-finished removal is never mistaken for a log.
        for folder in [self._log_dir(log_id), *(self._analysis_dir(a) for a in analyses)]:
            if folder.exists():
                doomed = folder.with_name(f".deleted-{folder.name}")
                os.rename(folder, doomed)
                shutil.rmtree(doomed, ignore_errors=True)

    def open_log(self, log_id: str, engine: Engine, *, materialize: bool = False) -> EventLog:
        """The stored log, opened in ``engine``."""
        return open_saved_log(
            self._log_dir(log_id) / "saved", engine=engine, materialize=materialize
        )

    def _read_and_save(self, source: Path, mapping: UploadMapping, target: Path) -> dict[str, Any]:
        """Read and validate ``source`` with ``mapping`` into the new folder ``target``.

        Returns the log's summary; on any error nothing of ``target`` is left.
        """
        with self.engine() as eng:
            log = read_log(
                source,
                columns=mapping.columns,
                roles=mapping.roles,
                options=mapping.read,
                engine=eng,
            )
            save_log(log, target)
            return log.summary()

    def preview(self, owner: str, log_id: str, rows: int) -> LogPreview:
        """The first rows, mapping and activity roles of a stored log."""
        self.get_log(owner, log_id)
        with self.engine() as eng:
            return preview(self.open_log(log_id, eng), rows=rows)

    def original_file(self, owner: str, log_id: str) -> Path:
        """The file as it was uploaded."""
        self.get_log(owner, log_id)
        originals = list((self._log_dir(log_id) / "original").iterdir())
        if len(originals) != 1:
            raise Conflict(f"the original file of log {log_id!r} is missing")
        return originals[0]

    def log_mapping(self, owner: str, log_id: str) -> UploadMapping:
        """The mapping the log was last read with (as given; guessed fields left out)."""
        self.get_log(owner, log_id)
        data = json.loads((self._log_dir(log_id) / "mapping.json").read_text("utf-8"))
        return UploadMapping.parse(data)

    def remap_log(self, owner: str, log_id: str, mapping: UploadMapping) -> LogRecord:
        """Read the kept original again with another mapping (the old one stays on error)."""
        record = self.get_log(owner, log_id)
        folder = self._log_dir(log_id)
        original = self.original_file(owner, log_id)
        staging = folder / f".saved-{secrets.token_hex(4)}"
        summary = self._read_and_save(original, mapping, staging)
        version = record.mapping_version + 1
        old = folder / f".old-{secrets.token_hex(4)}"
        os.rename(folder / "saved", old)
        os.rename(staging, folder / "saved")
        try:
            with self.db.connect() as con:
                con.execute(
                    "UPDATE logs SET mapping_version = ?, summary = ? WHERE id = ?",
                    (version, json.dumps(summary), log_id),
                )
        except BaseException:
            os.rename(folder / "saved", staging)
            os.rename(old, folder / "saved")
            shutil.rmtree(staging, ignore_errors=True)
            raise
        (folder / "mapping.json").write_text(json.dumps(mapping.to_dict()), "utf-8")
        shutil.rmtree(old, ignore_errors=True)
        return self.get_log(owner, log_id)

    # -- analyses -----------------------------------------------------------------------------

    def run_config(self, request: Mapping[str, Any]) -> RunConfig:
        """The library configuration of an analysis request (raises ConfigError)."""
        data = {k: v for k, v in request.items() if v is not None}
        detectors = data.pop("detectors", None)
        if detectors is not None:
            for name in detectors:
                get_detector(name)
            data["detectors"] = {"enabled": list(detectors)}
        return config_from_dict(data)

    def create_analysis(
        self, owner: str, log_id: str, request: Mapping[str, Any]
    ) -> tuple[AnalysisRecord, bool]:
        """Queue an analysis, or return the stored one for an identical request.

        Returns the record and whether it is new. A failed analysis is never reused: asking
        again runs it again.
        """
        log = self.get_log(owner, log_id)
        run = self.run_config(request)
        if run.roles:
            # The library's check against the log's labels, now: a typo is a 422 (with the
            # closest real labels), not a failed job.
            activities = tuple(log.summary["activities"])
            RoleMap(by_label={}, guessed=frozenset(), activities=activities).with_overrides(
                run.roles
            )
        canonical = {
            "parameters": run.analysis.to_dict(),
            # "All detectors" means the ones this version has: a result from before a
            # detector was added is not an answer to the same request.
            "detectors": sorted(run.analysis.detectors or registered()),
            "roles": {r.value: sorted(v) for r, v in sorted(run.roles.items())},
            "mapping_version": log.mapping_version,
        }
        key = hashlib.sha256(json.dumps(canonical, sort_keys=True).encode()).hexdigest()
        with self.db.connect() as con:
            row = con.execute(
                "SELECT * FROM analyses WHERE log_id = ? AND request_key = ? "
                "AND state != 'failed' ORDER BY created DESC LIMIT 1",
                (log_id, key),
            ).fetchone()
            if row is not None:
                return AnalysisRecord.from_row(row), False
            analysis_id = new_id("an")
            con.execute(
                "INSERT INTO analyses (id, log_id, owner, request_key, request, mapping_version, "
                "state, progress, phase, created, parameters) "
                "VALUES (?, ?, ?, ?, ?, ?, 'queued', 0, 'queued', ?, ?)",
                (
                    analysis_id,
                    log_id,
                    owner,
                    key,
                    json.dumps(dict(request)),
                    log.mapping_version,
                    now(),
                    json.dumps(canonical["parameters"]),
                ),
            )
        return self.get_analysis(owner, analysis_id), True

    def get_analysis(self, owner: str, analysis_id: str) -> AnalysisRecord:
        """One of the owner's analyses."""
        with self.db.read() as con:
            row = con.execute(
                "SELECT * FROM analyses WHERE id = ? AND owner = ?", (analysis_id, owner)
            ).fetchone()
        if row is None:
            raise NotFound(f"there is no analysis {analysis_id!r}")
        return AnalysisRecord.from_row(row)

    def list_analyses(
        self, owner: str, log_id: str, limit: int, offset: int
    ) -> tuple[list[AnalysisRecord], int]:
        """The analyses of one log, newest first."""
        self.get_log(owner, log_id)
        with self.db.read() as con:
            total = con.execute(
                "SELECT count(*) FROM analyses WHERE log_id = ? AND owner = ?", (log_id, owner)
            ).fetchone()[0]
            rows = con.execute(
                "SELECT * FROM analyses WHERE log_id = ? AND owner = ? "
                "ORDER BY created DESC, id LIMIT ? OFFSET ?",
                (log_id, owner, limit, offset),
            ).fetchall()
        return [AnalysisRecord.from_row(r) for r in rows], int(total)

    def finished_analyses(
        self,
        owner: str,
        limit: int,
        *,
        besides: str | None = None,
        log_first: str | None = None,
    ) -> list[tuple[AnalysisRecord, str]]:
        """The owner's finished analyses of any log, each with its log's name (what one
        analysis can be compared with), leaving out ``besides``: those of the log
        ``log_first`` first (the periods of one log are the likeliest comparison, and an
        owner with many logs would otherwise push them past ``limit``), then newest first."""
        with self.db.read() as con:
            rows = con.execute(
                "SELECT a.*, l.name AS log_name FROM analyses a JOIN logs l ON l.id = a.log_id "
                "WHERE a.owner = ? AND a.state = 'done' AND a.id IS NOT ? "
                "ORDER BY a.log_id IS ? DESC, a.created DESC, a.id LIMIT ?",
                (owner, besides, log_first, limit),
            ).fetchall()
        return [(AnalysisRecord.from_row(r), str(r["log_name"])) for r in rows]

    def job(self, analysis_id: str) -> AnalysisRecord | None:
        """The analysis ``analysis_id`` whoever owns it (for the job runner), or ``None``."""
        with self.db.read() as con:
            row = con.execute("SELECT * FROM analyses WHERE id = ?", (analysis_id,)).fetchone()
        return None if row is None else AnalysisRecord.from_row(row)

    def start(self, analysis_id: str) -> AnalysisRecord | None:
        """Mark a queued analysis running; ``None`` if it is gone or not queued."""
        with self.db.connect() as con:
            changed = con.execute(
                "UPDATE analyses SET state = 'running', started = ?, attempts = attempts + 1, "
                "progress = 0, phase = 'starting' WHERE id = ? AND state = 'queued'",
                (now(), analysis_id),
            ).rowcount
        return self.job(analysis_id) if changed else None

    def progress(self, analysis_id: str, phase: str, fraction: float) -> None:
        """Record how far a running analysis has got."""
        with self.db.connect() as con:
            con.execute(
                "UPDATE analyses SET phase = ?, progress = ? WHERE id = ? AND state = 'running'",
                (phase, round(min(max(fraction, 0.0), 1.0), 4), analysis_id),
            )

    def requeue(self, analysis_id: str) -> None:
        """Put a running analysis back in the queue (the service is stopping)."""
        with self.db.connect() as con:
            con.execute(
                "UPDATE analyses SET state = 'queued', progress = 0, attempts = attempts - 1, "
                "phase = 'queued again: the service stopped' WHERE id = ? AND state = 'running'",
                (analysis_id,),
            )

    def fail(
        self, analysis_id: str, problem: Mapping[str, Any], *, only_running: bool = False
    ) -> None:
        """Mark an analysis failed with a problem-details object saying why; with
        ``only_running``, only if it has not ended already."""
        running = " AND state = 'running'" if only_running else ""
        with self.db.connect() as con:
            con.execute(
                "UPDATE analyses SET state = 'failed', finished = ?, phase = NULL, error = ? "
                f"WHERE id = ?{running}",
                (now(), json.dumps(dict(problem)), analysis_id),
            )

    def save_result(self, analysis_id: str, analysis: Analysis, *, attempt: int) -> None:
        """Write the result files, then record the findings and mark the analysis done.

        ``attempt`` is the job's ``attempts`` when it started: a worker that outlived its
        service (a restart has queued the job again, or failed it) records nothing.
        """
        journey = journey_graph(analysis.log, analysis.findings)
        target = self._analysis_dir(analysis_id)
        staging = target.with_name(f".new-{analysis_id}")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            pq.write_table(_instances_table(analysis.findings), staging / "instances.parquet")
            crash_point("results.staged")
            (staging / "process.json").write_text(
                json.dumps(analysis.graph.to_dict(max_variants=_KEPT_VARIANTS)), "utf-8"
            )
            (staging / "journey.json").write_text(json.dumps(journey.to_dict()), "utf-8")
            if target.exists():  # left by a crash before the database commit of a rerun
                shutil.rmtree(target)
            os.rename(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        crash_point("results.renamed")
        created = now()
        with self.db.connect() as con:
            job = con.execute(
                "SELECT owner, state, attempts FROM analyses WHERE id = ?", (analysis_id,)
            ).fetchone()
            if job is None:  # the log was deleted while the analysis ran
                shutil.rmtree(target, ignore_errors=True)
                return
            if (job["state"], job["attempts"]) != ("running", attempt):
                # Superseded: an identical rerun may have finished (its files are these).
                if job["state"] != "done":
                    shutil.rmtree(target, ignore_errors=True)
                return
            for rank, f in enumerate(analysis.findings):
                con.execute(
                    "INSERT OR REPLACE INTO findings (id, analysis_id, owner, key, detector, "
                    "variant, title, severity, evidence, rank, instances, created, document) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        finding_id(analysis_id, f.id),
                        analysis_id,
                        job["owner"],
                        f.id,
                        f.detector,
                        f.variant,
                        f.title,
                        round(float(f.severity), 2),  # as the document shows it
                        f.evidence,
                        rank,
                        len(f.instances),
                        created,
                        json.dumps(f.to_dict(instances=False), default=str),
                    ),
                )
            crash_point("findings.inserted")
            con.execute(
                "UPDATE analyses SET state = 'done', progress = 1, phase = 'done', finished = ?, "
                "findings_count = ?, error = NULL WHERE id = ?",
                (created, len(analysis.findings), analysis_id),
            )

    # -- findings -----------------------------------------------------------------------------

    def _done(self, owner: str, analysis_id: str) -> AnalysisRecord:
        record = self.get_analysis(owner, analysis_id)
        if record.state != "done":
            raise Conflict(
                f"analysis {analysis_id!r} is {record.state}; its results exist once it is done"
            )
        return record

    def compare(
        self, owner: str, before_id: str, after_id: str
    ) -> tuple[BeforeAfter, ProcessGraph | None]:
        """Two finished analyses compared (before, after), and the after's process graph.

        Works on what is stored: the findings' figures and the process graphs.
        """
        records = [self._done(owner, i) for i in (before_id, after_id)]
        documents = []
        with self.db.read() as con:
            for record in records:
                rows = con.execute(
                    "SELECT document FROM findings WHERE analysis_id = ? AND owner = ?",
                    (record.id, owner),
                ).fetchall()
                documents.append([json.loads(r["document"]) for r in rows])
        folders = [self._analysis_dir(r.id) for r in records]
        graphs = [_graph(folder, "process") for folder in folders]
        names = [self.get_log(owner, r.log_id).name for r in records]
        result = BeforeAfter(
            before=f"{names[0]} ({records[0].id})",
            after=f"{names[1]} ({records[1].id})",
            findings=compare_findings(documents[0], documents[1]),
            edges=compare_graphs(graphs[0], graphs[1])
            if graphs[0] is not None and graphs[1] is not None
            else (),
            confidence=0.95,
        )
        return result, graphs[1]

    def change_map_svg(self, owner: str, before_id: str, after_id: str) -> bytes:
        """The after analysis's process coloured by the change from before (SVG)."""
        result, graph = self.compare(owner, before_id, after_id)
        return self.change_svg(result, graph)

    @staticmethod
    def change_svg(result: BeforeAfter, graph: ProcessGraph | None) -> bytes:
        """The change map of a :meth:`compare` result (SVG)."""
        if graph is None:  # pragma: no cover - every done analysis has its process
            raise NotFound("the analysis has no process map")
        return change_map(graph, result.edges).svg

    def list_findings(
        self,
        owner: str,
        analysis_id: str,
        *,
        detector: str | None,
        min_severity: float | None,
        sort: str,
        limit: int,
        offset: int,
    ) -> tuple[list[FindingRecord], int]:
        """The findings of a finished analysis, filtered, sorted and paginated."""
        self._done(owner, analysis_id)
        order = {
            "severity": "f.severity ASC, f.key",
            "-severity": "f.severity DESC, f.key",
            "key": "f.key ASC",
            "-key": "f.key DESC",
            "instances": "f.instances ASC, f.key",
            "-instances": "f.instances DESC, f.key",
        }[sort]
        where = ["f.analysis_id = ?", "f.owner = ?"]
        params: list[Any] = [analysis_id, owner]
        if detector:
            where.append("f.detector = ?")
            params.append(detector)
        if min_severity is not None:
            where.append("f.severity >= ?")
            params.append(min_severity)
        return self._findings(" AND ".join(where), params, order, limit, offset)

    def findings_by_key(
        self, owner: str, key: str, log_id: str | None, limit: int, offset: int
    ) -> tuple[list[FindingRecord], int]:
        """One finding (by its stable key) across all the owner's analyses, newest first."""
        where = ["f.owner = ?", "f.key = ?"]
        params: list[Any] = [owner, key]
        if log_id:
            where.append("a.log_id = ?")
            params.append(log_id)
        return self._findings(" AND ".join(where), params, "f.created DESC", limit, offset)

    def _findings(
        self, where: str, params: Sequence[Any], order: str, limit: int, offset: int
    ) -> tuple[list[FindingRecord], int]:
        base = f"FROM findings f JOIN analyses a ON a.id = f.analysis_id WHERE {where}"
        with self.db.read() as con:
            total = con.execute(f"SELECT count(*) {base}", params).fetchone()[0]
            rows = con.execute(
                f"SELECT f.*, a.log_id {base} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, limit, offset],
            ).fetchall()
        return [FindingRecord.from_row(r) for r in rows], int(total)

    def get_finding(self, owner: str, fid: str) -> FindingRecord:
        """One finding by its id."""
        with self.db.read() as con:
            row = con.execute(
                "SELECT f.*, a.log_id FROM findings f JOIN analyses a ON a.id = f.analysis_id "
                "WHERE f.id = ? AND f.owner = ?",
                (fid, owner),
            ).fetchone()
        if row is None:
            raise NotFound(f"there is no finding {fid!r}")
        return FindingRecord.from_row(row)

    def _instances(self, finding: FindingRecord) -> pa.Table:
        table = pq.read_table(
            self._analysis_dir(finding.analysis_id) / "instances.parquet",
            filters=[("finding", "=", finding.key)],
        )
        return table.drop_columns(["finding"])

    def instances(
        self, owner: str, fid: str, limit: int, offset: int
    ) -> tuple[FindingRecord, list[dict[str, Any]], int]:
        """A page of a finding's instances."""
        finding = self.get_finding(owner, fid)
        table = self._instances(finding)
        page = table.slice(offset, limit).to_pylist()
        return finding, page, table.num_rows

    def instances_csv(self, owner: str, fid: str) -> Iterator[bytes]:
        """All instances of a finding as CSV, safe to open in a spreadsheet."""
        table = _neutralise_formulas(self._instances(self.get_finding(owner, fid)))

        def chunks() -> Iterator[bytes]:
            for i, batch in enumerate(table.to_batches(max_chunksize=10_000) or [None]):
                sink = pa.BufferOutputStream()
                part = (
                    pa.Table.from_batches([batch], schema=table.schema)
                    if batch is not None
                    else table
                )
                pacsv.write_csv(part, sink, pacsv.WriteOptions(include_header=i == 0))
                yield sink.getvalue().to_pybytes()

        return chunks()

    # -- maps ---------------------------------------------------------------------------------

    def map_size(self, owner: str, analysis_id: str, name: MapName) -> MapSize:
        """How many paths a map has, and how many its path filter can show."""
        self._done(owner, analysis_id)
        graph = _graph(self._analysis_dir(analysis_id), name)
        if graph is None or not graph.edges:
            return MapSize(0, 0, 0)
        max_activities, default = auto_limits(len(graph.activities), len(graph.edges))
        shown = [a.name for a in graph.activities[:max_activities]]
        # Fewer paths than the backbone (every activity's main way in and out) are not drawn.
        least = len(select_edges(graph.edges, shown, 1))
        return MapSize(len(graph.edges), least, max(default, least))

    def map_file(
        self,
        owner: str,
        analysis_id: str,
        name: MapName,
        fmt: MapFormat,
        overlay: Overlay,
        max_edges: int | None,
        max_activities: int | None,
        finding: str | None = None,
    ) -> Path:
        """The rendered map (cached on disk: results never change once an analysis is done).

        ``finding`` (an id of this analysis) draws that finding's characteristic edges
        highlighted on the process map.
        """
        self._done(owner, analysis_id)
        highlight: list[tuple[str, str]] = []
        if finding:
            record = self.get_finding(owner, finding)
            if record.analysis_id != analysis_id:
                raise NotFound(f"analysis {analysis_id!r} has no finding {finding!r}")
            highlight = [(e["source"], e["target"]) for e in record.document.get("edges", [])]
        folder = self._analysis_dir(analysis_id)
        stem = f"{name}-{overlay}-{max_edges or 'auto'}-{max_activities or 'auto'}"
        if finding and name == "process":
            stem += f"-{finding}"
        path = folder / "maps" / f"{stem}.{fmt}"
        if path.exists():
            return path
        drawn = _draw(folder, name, overlay, max_edges, max_activities, highlight)
        data = drawn.dot.encode("utf-8") if fmt == "dot" else drawn.render(fmt)
        path.parent.mkdir(exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".map-")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
        return path


def _graph(folder: Path, name: MapName) -> ProcessGraph | None:
    if name == "journey":
        return JourneyGraph.from_dict(json.loads((folder / "journey.json").read_text())).graph
    return ProcessGraph.from_dict(json.loads((folder / "process.json").read_text()))


def _draw(
    folder: Path,
    name: MapName,
    overlay: Overlay,
    max_edges: int | None,
    max_activities: int | None,
    highlight: Sequence[tuple[str, str]] = (),
) -> ProcessMap:
    if name == "journey":
        journey = JourneyGraph.from_dict(json.loads((folder / "journey.json").read_text()))
        return journey.draw(overlay=overlay, max_edges=max_edges, max_activities=max_activities)
    graph = ProcessGraph.from_dict(json.loads((folder / "process.json").read_text()))
    return process_map(
        graph,
        overlay=overlay,
        max_edges=max_edges,
        max_activities=max_activities,
        highlight=highlight,
        title=PROCESS_MAP_TITLES[overlay],
    )


def finding_id(analysis_id: str, key: str) -> str:
    """The id of finding ``key`` (``detector:variant``) in one analysis."""
    return "fd_" + hashlib.sha256(f"{analysis_id}\x1f{key}".encode()).hexdigest()[:16]


def _interrupted() -> dict[str, Any]:
    return {
        "type": "/problems/analysis-interrupted",
        "title": "Analysis interrupted",
        "status": 500,
        "detail": (
            f"the service stopped while this analysis ran, {MAX_ATTEMPTS} times; "
            "request it again to retry"
        ),
    }


def _instances_table(findings: Sequence[Finding]) -> pa.Table:
    tables = [
        f.instances.table.select(INSTANCE_SCHEMA.names)
        .cast(INSTANCE_SCHEMA)
        .append_column("finding", pa.array([f.id] * len(f.instances), pa.string()))
        for f in findings
    ]
    schema = INSTANCE_SCHEMA.append(pa.field("finding", pa.string()))
    return pa.concat_tables(tables) if tables else schema.empty_table()


_FORMULA = re.compile(r"^[=+\-@\t\r]")


def _neutralise_formulas(table: pa.Table) -> pa.Table:
    """Prefix text cells that a spreadsheet would run as a formula with a quote (OWASP)."""
    columns = []
    for column in table.columns:
        if pa.types.is_string(column.type):
            values = [
                None if v is None else ("'" + v if _FORMULA.match(v) else v)
                for v in column.to_pylist()
            ]
            column = pa.chunked_array([pa.array(values, pa.string())])
        columns.append(column)
    return pa.table(columns, names=table.column_names)
