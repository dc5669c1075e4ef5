# SPDX-License-Identifier: AGPL-3.0-or-later
"""Small helpers for raw DuckDB statements.

DuckDB's Python client refuses new relation queries (which Ibis uses) while a result of
``execute()`` is still unread, so every raw statement here is read to the end at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["execute", "fetch_all", "fetch_one", "quote_ident", "quote_literal"]


def quote_ident(name: str) -> str:
    """A SQL identifier for ``name`` (double quotes, inner quotes doubled).

    >>> quote_ident('a"b')
    '"a""b"'
    """
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """A SQL string literal for ``text``.

    >>> quote_literal("O'Neil")
    "'O''Neil'"
    """
    return "'" + text.replace("'", "''") + "'"


def execute(con: Any, sql: str, params: Sequence[Any] | None = None) -> None:
    """Execute a statement and consume its result."""
    con.execute(sql, params).fetchall() if params is not None else con.execute(sql).fetchall()


def fetch_all(con: Any, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
    """All rows of a query."""
    cursor = con.execute(sql, params) if params is not None else con.execute(sql)
    return list(cursor.fetchall())


def fetch_one(con: Any, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...]:
    """The first row of a query that returns at least one row (the rest are consumed too)."""
    result = fetch_all(con, sql, params)
    return result[0]
