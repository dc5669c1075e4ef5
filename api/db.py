# SPDX-License-Identifier: AGPL-3.0-or-later
"""The service's SQLite database: logs, analysis jobs and findings.

SQLite in WAL mode: readers never wait for the writer, and every change is one transaction,
so a crash leaves the database as it was after the last acknowledged change. Each operation
opens its own short-lived connection, which is safe from any thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Database"]

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS logs (
    id              TEXT PRIMARY KEY,
    owner           TEXT NOT NULL,
    name            TEXT NOT NULL,
    format          TEXT NOT NULL,
    size_bytes      INTEGER NOT NULL,
    created         TEXT NOT NULL,
    mapping_version INTEGER NOT NULL,
    summary         TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_owner ON logs (owner, created);

CREATE TABLE IF NOT EXISTS analyses (
    id              TEXT PRIMARY KEY,
    log_id          TEXT NOT NULL REFERENCES logs (id) ON DELETE CASCADE,
    owner           TEXT NOT NULL,
    request_key     TEXT NOT NULL,
    request         TEXT NOT NULL,
    mapping_version INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    progress        REAL NOT NULL DEFAULT 0,
    phase           TEXT,
    error           TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created         TEXT NOT NULL,
    started         TEXT,
    finished        TEXT,
    findings_count  INTEGER,
    parameters      TEXT
);
CREATE INDEX IF NOT EXISTS analyses_log ON analyses (log_id, created);
CREATE INDEX IF NOT EXISTS analyses_request ON analyses (log_id, request_key);

CREATE TABLE IF NOT EXISTS findings (
    id          TEXT PRIMARY KEY,
    analysis_id TEXT NOT NULL REFERENCES analyses (id) ON DELETE CASCADE,
    owner       TEXT NOT NULL,
    key         TEXT NOT NULL,
    detector    TEXT NOT NULL,
    variant     TEXT NOT NULL,
    title       TEXT NOT NULL,
    severity    REAL NOT NULL,
    evidence    TEXT NOT NULL,
    rank        INTEGER NOT NULL,
    instances   INTEGER NOT NULL,
    created     TEXT NOT NULL,
    document    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_analysis ON findings (analysis_id, rank);
CREATE INDEX IF NOT EXISTS findings_key ON findings (owner, key, created);
"""


class Database:
    """The SQLite file under the data directory, created (and migrated) on first use."""

    def __init__(self, path: Path) -> None:
        self.path = path
        con = sqlite3.connect(path, timeout=30, isolation_level=None)
        try:
            # WAL can only be switched on outside a transaction; it then sticks to the file.
            con.execute("PRAGMA journal_mode = WAL")
            version = con.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"{path} was written by a newer procmine (schema {version}); "
                    f"this one knows schema {SCHEMA_VERSION}"
                )
            if version < SCHEMA_VERSION:
                # IMMEDIATE: take the write lock first (waiting for it), as a deferred
                # transaction that must upgrade fails at once while an analysis worker writes.
                con.executescript(
                    f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
                )
        finally:
            con.close()

    @contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        """A connection whose changes are committed on success and rolled back on error."""
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("PRAGMA foreign_keys = ON")
            con.execute("PRAGMA busy_timeout = 30000")
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read-only snapshot (no write lock taken)."""
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        try:
            con.execute("BEGIN")
            try:
                yield con
            finally:
                con.execute("ROLLBACK")
        finally:
            con.close()
