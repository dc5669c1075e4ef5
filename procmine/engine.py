# SPDX-License-Identifier: AGPL-3.0-or-later
"""The query engine that runs discovery and detectors.

Detectors are Ibis expressions, so the same code runs on the embedded DuckDB engine (the
default: in-process, multi-threaded, spills to disk) and on a distributed backend Ibis
supports. Loading files is engine-specific and lives in :mod:`procmine.io`.
"""

from __future__ import annotations

import itertools
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandas as pd

# Imported with procmine rather than through ``ibis.duckdb`` on the first connection: that
# lookup scans every installed package's entry points, a third of a second per process.
from ibis.backends.duckdb import Backend as _DuckDBBackend

from procmine._sql import execute, fetch_all, quote_ident, quote_literal

__all__ = ["Engine", "Scratch", "to_frame"]

_counter = itertools.count()
_counter_lock = threading.Lock()


class Scratch:
    """The tables :meth:`Engine.materialize` stored while a :meth:`Engine.scratch` block
    ran; they are dropped when it ends."""

    def __init__(self) -> None:
        self.names: list[str] = []


class Engine:
    """A connection to the backend that holds event tables and runs queries.

    Examples
    --------
    >>> eng = Engine.duckdb(threads=1)
    >>> eng.kind
    'duckdb'
    >>> import ibis, pyarrow as pa
    >>> t = eng.materialize(ibis.memtable(pa.table({"x": [40, 2]})), "example")
    >>> t.x.sum().to_pyarrow().as_py()
    42
    """

    def __init__(self, backend: Any, kind: str) -> None:
        self.backend = backend
        self.kind = kind
        #: Spark data frames behind materialized views, to release them when dropped
        self._frames: dict[str, Any] = {}
        #: the open :meth:`scratch` blocks, innermost last
        self._scratches: list[Scratch] = []

    @classmethod
    def duckdb(
        cls,
        *,
        database: str = ":memory:",
        threads: int | None = None,
        memory_limit: str | None = None,
        temp_directory: str | None = None,
    ) -> Engine:
        """An embedded DuckDB engine (in memory unless ``database`` names a file).

        ``threads`` defaults to the machine's cores; ``memory_limit`` (e.g. ``"2GB"``) caps
        DuckDB's memory, beyond which it spills to ``temp_directory``.
        """
        backend = _DuckDBBackend().connect(database)
        raw = backend.con
        # Timestamps are stored as UTC; a session time zone other than UTC would shift
        # naive timestamps when cast from strings with offsets.
        execute(raw, "SET TimeZone = 'UTC'")
        execute(raw, f"SET threads = {int(threads or os.cpu_count() or 1)}")
        # procmine reports its own progress; DuckDB's bar would write over it on stderr.
        execute(raw, "SET enable_progress_bar = false")
        if memory_limit:
            execute(raw, f"SET memory_limit = {quote_literal(memory_limit)}")
        if temp_directory:
            execute(raw, f"SET temp_directory = {quote_literal(temp_directory)}")
        return cls(backend, "duckdb")

    @classmethod
    def spark(cls, session: Any = None, *, master: str = "local[*]") -> Engine:
        """A Spark engine over ``session`` (default: a new local session on ``master``).

        PySpark is needed (``pip install 'procmine[spark]'``). On a cluster, pass the
        session your platform gives you; the events are read from Parquet or a table it can
        see (:func:`procmine.io.spark.read_spark_log`). The session's time zone is set to
        UTC: procmine's times are UTC throughout.
        """
        try:
            from pyspark.sql import SparkSession
        except ImportError:  # pragma: no cover - depends on the installation
            raise ImportError(
                "the Spark engine needs PySpark: pip install 'procmine[spark]'"
            ) from None
        if session is None:
            session = (
                SparkSession.builder.master(master)
                .appName("procmine")
                # Times are UTC throughout, as in the DuckDB engine.
                .config("spark.sql.session.timeZone", "UTC")
                .config("spark.ui.enabled", "false")
                .config("spark.ui.showConsoleProgress", "false")
                # A local session's shuffles have a few cores to spread over, not a
                # cluster's: Spark's default of 200 partitions is mostly scheduling.
                .config("spark.sql.shuffle.partitions", str(max(2, 2 * (os.cpu_count() or 1))))
                .getOrCreate()
            )
        else:
            session.conf.set("spark.sql.session.timeZone", "UTC")
        return cls(ibis.pyspark.connect(session), "spark")

    @property
    def raw(self) -> Any:
        """The underlying DuckDB connection (only for the DuckDB engine)."""
        if self.kind != "duckdb":
            raise TypeError(f"the {self.kind} engine has no DuckDB connection")
        return self.backend.con

    def table(self, name: str) -> ir.Table:
        """An Ibis expression for the table ``name``."""
        return self.backend.table(name)

    def materialize(
        self, expr: ir.Table, prefix: str = "t", *, scratch: Scratch | None = None
    ) -> ir.Table:
        """Compute ``expr`` into a temporary table and return an expression over that table.

        Used between the rounds of iterative queries (matching, chains) so that each round
        starts from stored rows instead of an ever-growing nested query. The table belongs
        to ``scratch`` (default: the innermost open :meth:`scratch` block, if any) and is
        dropped with it; outside any block it stays until :meth:`drop`.
        """
        name = self.unique_name(prefix)
        owner = scratch or (self._scratches[-1] if self._scratches else None)
        if owner is not None:
            owner.names.append(name)
        if self.kind == "spark":
            # Computed now and cut from its lineage, so that the rounds of an iterative
            # query do not re-run every earlier round; visible to SQL as a temporary view.
            self.backend._run_pre_execute_hooks(expr)  # registers the memtables it reads
            frame = self.backend._session.sql(self.backend.compile(expr)).localCheckpoint()
            frame.createOrReplaceTempView(name)
            self._frames[name] = frame
            return self.backend.table(name)
        return self._create_temp_table(name, expr)

    def _create_temp_table(self, name: str, expr: ir.Table) -> ir.Table:
        """``expr`` stored as the temporary DuckDB table ``name``, in one statement.

        The columns get the types of the expression's schema, as Ibis's ``create_table``
        gives them (it creates the table with those types, then inserts), and the table is
        known by that schema (nullable, as DuckDB describes it) rather than described
        again: ``create_table`` took three statements and a DESCRIBE, about 13 ms more for
        each of the thirty-five tables an analysis stores, a tenth of the time on small logs.
        """
        schema = expr.schema()
        if schema.null_fields:
            raise TypeError(f"cannot store columns without a type: {list(schema.null_fields)}")
        self.backend._run_pre_execute_hooks(expr)  # registers the memtables it reads
        types = self.backend.compiler.type_mapper
        columns = ", ".join(
            f"CAST({quote_ident(col)} AS {types.from_ibis(dtype).sql('duckdb')}) "
            f"AS {quote_ident(col)}"
            for col, dtype in schema.items()
        )
        query = self.backend.compile(expr)
        execute(
            self.raw, f"CREATE TEMP TABLE {quote_ident(name)} AS SELECT {columns} FROM ({query})"
        )
        stored = ibis.schema({col: dtype.copy(nullable=True) for col, dtype in schema.items()})
        table: ir.Table = ops.DatabaseTable(
            name, schema=stored, source=self.backend, namespace=ops.Namespace()
        ).to_expr()
        return table

    @contextmanager
    def scratch(self) -> Iterator[Scratch]:
        """A block whose materialized tables are dropped when it ends, so that an analysis
        holds one step's intermediate tables at a time rather than all of them.

        >>> import ibis, pyarrow as pa
        >>> eng = Engine.duckdb(threads=1)
        >>> def stored(name):
        ...     found = "SELECT 1 FROM duckdb_tables() WHERE table_name = ?"
        ...     return fetch_all(eng.raw, found, [name]) != []
        >>> with eng.scratch():
        ...     name = eng.materialize(ibis.memtable(pa.table({"x": [1]})), "tmp").get_name()
        ...     stored(name)
        True
        >>> stored(name)
        False
        """
        block = Scratch()
        self._scratches.append(block)
        try:
            yield block
        finally:
            self._scratches.remove(block)
            for name in reversed(block.names):
                self.drop(name)

    def drop(self, name: str) -> None:
        """Drop a table or view if it exists."""
        if self.kind == "duckdb":
            found = fetch_all(
                self.raw,
                "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? "
                "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ?",
                [name, name],
            )
            for (kind,) in found:
                execute(self.raw, f'DROP {kind} IF EXISTS "{name}"')
        elif self.kind == "spark":
            self.backend._session.catalog.dropTempView(name)
            frame = self._frames.pop(name, None)
            if frame is not None:
                frame.unpersist()
        else:  # pragma: no cover - other backends
            self.backend.drop_table(name, force=True)

    @staticmethod
    def unique_name(prefix: str) -> str:
        """A table name unique within this process (``prefix_<n>``)."""
        with _counter_lock:
            n = next(_counter)
        return f"_pm_{prefix}_{os.getpid()}_{n}"


def to_frame(expr: ir.Table) -> pd.DataFrame:
    """Run ``expr`` and return a pandas frame.

    Goes through Arrow on purpose: Ibis' own pandas conversion reads an option that pandas 3
    deprecates, so ``expr.to_pandas()`` warns on every call.
    """
    frame: pd.DataFrame = expr.to_pyarrow().to_pandas()
    return frame
