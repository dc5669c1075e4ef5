# SPDX-License-Identifier: AGPL-3.0-or-later
"""XES (and gzipped XES) straight into Arrow columns, in one streaming pass.

The hardened parser of :mod:`procmine.io.xes_check` (no DTD, no entities, no network, bounded
tokens and size) reads the file once; each event's attributes are collected as text, a
chunk of events at a time, and turned into typed Arrow columns by Arrow's vectorised casts.
The result has pm4py's column names (an event attribute by its key, a trace attribute as
``case:<key>``), so a log reads the same whichever reader made the table; pm4py's reader is
the oracle in the tests. Memory holds the finished columns plus one chunk of text, not a
tree of Python objects per event, which is what pm4py builds.

Values are typed by their XES element: ``string`` and ``id`` as text, ``int`` as 64-bit
integers, ``float`` as doubles, ``boolean`` as booleans, ``date`` as ISO 8601 text that
the table loader casts to timestamps (:func:`procmine.io.xes.DATE_COLUMNS`). A key holding
ints and floats becomes floats; any other mix, text. Nested attributes (the children of an
attribute, ``list`` and ``container`` values) are left out, as in pm4py's event frame.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from lxml import etree

from procmine.errors import LogFormatError, LogValidationError, Problem, ProblemCode
from procmine.io.expansion import check_expansion, damaged_gzip
from procmine.io.xes_check import (
    GuardedXml,
    XesSummary,
    _last_line,
    _local,
    _misplaced,
    _open,
    _refuse_dtd,
)

__all__ = ["XesTable", "read_xes_table"]

#: Events collected as text before they are turned into Arrow arrays.
CHUNK_EVENTS = 100_000
_MAX_EXAMPLES = 10
_VALUE_TYPES = {"string", "id", "int", "float", "boolean", "date"}
_ARROW = {
    "string": pa.string(),
    "id": pa.string(),
    "int": pa.int64(),
    "float": pa.float64(),
    "boolean": pa.bool_(),
    "date": pa.string(),
}


@dataclass(frozen=True, slots=True)
class XesTable:
    """The events of an XES file as one Arrow table, and what the pass saw.

    ``dates`` names the columns that hold XES dates (ISO 8601 text, to be cast to
    timestamps by the loader).
    """

    table: pa.Table
    summary: XesSummary
    dates: frozenset[str]


@dataclass
class _Chunk:
    """Up to :data:`CHUNK_EVENTS` events as text, column by column."""

    size: int = 0
    values: dict[str, list[str | None]] = field(default_factory=dict)
    kinds: dict[str, set[str]] = field(default_factory=dict)

    def put(self, row: int, key: str, kind: str, value: str | None) -> None:
        column = self.values.get(key)
        if column is None:
            column = self.values[key] = [None] * self.size
            self.kinds[key] = set()
        # A key repeated within one event: the last value wins, as in pm4py.
        if len(column) > row:
            column[row] = value
        else:
            column.append(value)
        self.kinds[key].add(kind)

    def close_row(self) -> None:
        self.size += 1
        for column in self.values.values():
            if len(column) < self.size:
                column.append(None)


def _kind(kinds: set[str]) -> str:
    """One XES type for a column that held ``kinds``."""
    if len(kinds) == 1:
        return next(iter(kinds))
    if kinds <= {"int", "float"}:
        return "float"
    return "string"


def _column(values: list[str | None], kind: str, key: str) -> pa.Array:
    text = pa.array(values, pa.string())
    if kind in ("string", "id", "date"):
        return text
    if kind == "boolean":
        text = pc.utf8_lower(pc.utf8_trim_whitespace(text))
    try:
        return text.cast(_ARROW[kind])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        # A value that is not what its element says (<int value="n/a">): keep the text.
        return text


_Part = tuple[dict[str, pa.Array], dict[str, str], int]


def _chunk_table(chunk: _Chunk) -> _Part:
    kinds = {key: _kind(k) for key, k in chunk.kinds.items()}
    columns = {key: _column(values, kinds[key], key) for key, values in chunk.values.items()}
    # A column whose text did not cast (a value not of its element's type) is text.
    kinds = {
        key: "string"
        if pa.types.is_string(columns[key].type) and kinds[key] not in ("id", "date")
        else kinds[key]
        for key in kinds
    }
    return columns, kinds, chunk.size


def _combine(parts: list[_Part]) -> tuple[pa.Table, set[str]]:
    """One table from the chunks' columns, each column in one type across the chunks."""
    order: dict[str, None] = {}
    kinds: dict[str, set[str]] = {}
    for columns, chunk_kinds, _ in parts:
        for key in columns:
            order.setdefault(key, None)
            kinds.setdefault(key, set()).add(chunk_kinds[key])
    final = {key: _kind(k) for key, k in kinds.items()}
    arrays: dict[str, pa.ChunkedArray] = {}
    for key in order:
        arrays[key] = _unify(key, final[key], parts)
        final[key] = (
            "string" if arrays[key].type == pa.string() and final[key] != "date" else final[key]
        )
    return pa.table(arrays), {k for k, v in final.items() if v == "date"}


def _unify(key: str, kind: str, parts: list[_Part]) -> pa.ChunkedArray:
    """The chunks of column ``key`` in type ``kind`` (or as text, if one does not cast)."""
    for target in (_ARROW[kind], pa.string()):
        pieces = []
        try:
            for columns, _, size in parts:
                array = columns.get(key)
                if array is None:
                    pieces.append(pa.nulls(size, target))
                else:
                    pieces.append(array if array.type == target else array.cast(target))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return pa.chunked_array(pieces, target)
    raise AssertionError("every column casts to text")  # pragma: no cover


def _attributes(element: etree._Element) -> Iterator[tuple[str, str, str | None]]:
    """The (key, type, value) of an element's direct attribute children."""
    for child in element:
        kind = _local(child.tag)
        if kind in _VALUE_TYPES:
            key = child.get("key")
            if key is not None:
                yield key, kind, child.get("value")


def _release(element: etree._Element) -> None:
    """Free a finished element and the finished siblings before it, so that memory holds
    one trace's worth of XML however long the file is."""
    element.clear()  # its tail (whitespace) too: lxml's default
    parent = element.getparent()
    if parent is None:  # the root: nothing before it
        return
    while element.getprevious() is not None:
        del parent[0]


def read_xes_table(path: Path, *, compressed: bool, skip_invalid: bool = False) -> XesTable:
    """Read ``path`` into an Arrow table with pm4py's columns, checking it on the way.

    Raises :class:`LogFormatError` for a file that is not a well-formed XES log (with the
    line and column), declares a DTD, or decompresses or tokenises beyond the limits; and
    :class:`LogValidationError` for traces without events (unless ``skip_invalid``) or a log
    without any event.
    """
    name = path.name
    _refuse_dtd(path, compressed, "XES")
    if compressed:
        # Decompressing is a hundred times faster than parsing: a bomb is refused in a
        # second, not after a minute of parsing up to its expansion limit.
        check_expansion(path)
    parts: list[_Part] = []
    trace_parts: list[_Part] = []
    chunk, traces_chunk = _Chunk(), _Chunk()
    trace_of_event: list[int] = []
    traces = events = n_empty = 0
    empty: list[Problem] = []
    in_trace = in_event = root_seen = False
    trace_events = 0
    trace_attrs: dict[str, tuple[str, str | None]] = {}

    def flush() -> None:
        nonlocal chunk
        if chunk.size:
            parts.append(_chunk_table(chunk))
            chunk = _Chunk()

    try:
        with _open(path, compressed) as fh:
            parser = etree.iterparse(
                GuardedXml(fh, name),
                events=("start", "end"),
                tag=("{*}log", "{*}trace", "{*}event"),
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
                remove_comments=True,
            )
            for action, elem in parser:
                tag = _local(elem.tag)
                if action == "start":
                    if not root_seen:
                        root_seen = True
                        root = elem.getroottree().getroot()
                        if tag != "log" or root is not elem:
                            raise _not_xes(name, _local(root.tag), root.sourceline)
                    misplaced = _misplaced(tag, in_trace, in_event)
                    if misplaced:
                        raise LogFormatError(
                            [
                                Problem(
                                    ProblemCode.MALFORMED_FILE,
                                    f"{name} is not a valid XES log: {misplaced} at line "
                                    f"{elem.sourceline}",
                                    line=elem.sourceline,
                                )
                            ]
                        )
                    if tag == "trace":
                        in_trace, trace_events, trace_attrs = True, 0, {}
                    elif tag == "event":
                        in_event = True
                    continue
                if tag == "event":
                    row = chunk.size
                    for key, kind, value in _attributes(elem):
                        chunk.put(row, key, kind, value)
                    chunk.close_row()
                    trace_of_event.append(traces)
                    events += 1
                    trace_events += 1
                    in_event = False
                    # The trace's own attributes that came before this event are kept; the
                    # finished events are dropped, so memory holds one trace's worth of XML.
                    for key, kind, value in _attributes(elem.getparent()):
                        trace_attrs[key] = (kind, value)
                    _release(elem)
                    if chunk.size >= CHUNK_EVENTS:
                        flush()
                elif tag == "trace":
                    for key, kind, value in _attributes(elem):
                        trace_attrs[key] = (kind, value)
                    if trace_events == 0:
                        n_empty += 1
                        if len(empty) < _MAX_EXAMPLES:
                            case = trace_attrs.get("concept:name", ("", None))[1]
                            label = f"case {case!r}" if case else f"trace #{traces + 1}"
                            empty.append(
                                Problem(
                                    ProblemCode.EMPTY_CASE,
                                    f"{label} (line {elem.sourceline}) has no events",
                                    line=elem.sourceline,
                                    value=case,
                                    severity="warning" if skip_invalid else "error",
                                )
                            )
                    row = traces_chunk.size
                    for key, (kind, value) in trace_attrs.items():
                        traces_chunk.put(row, key, kind, value)
                    traces_chunk.close_row()
                    traces += 1
                    in_trace = False
                    _release(elem)
            flush()
            if not root_seen:
                root = parser.root
                raise _not_xes(
                    name,
                    None if root is None else _local(root.tag),
                    None if root is None else root.sourceline,
                )
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (None, None)
        reason = re.sub(r",? line \d+, column \d+", "", (exc.msg or str(exc)).split(" (")[0])
        truncated = line is not None and line >= _last_line(path, compressed)
        what = "is truncated (it ends in the middle of the XML)" if truncated else "is malformed"
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.MALFORMED_FILE,
                    f"{name} {what}: {reason.strip()} at line {line}, column {column}",
                    line=line,
                )
            ]
        ) from None
    except (OSError, EOFError) as exc:
        raise damaged_gzip(path, exc) from None
    if not root_seen:
        raise _not_xes(name, None, None)
    if n_empty and not skip_invalid:
        extra = f" ({n_empty:,} in all)" if n_empty > len(empty) else ""
        summary = f"{name}: {n_empty:,} trace(s) have no events{extra}; " + empty[0].message
        raise LogValidationError(empty, summary=summary)
    if events == 0:
        raise LogValidationError(
            [Problem(ProblemCode.EMPTY_LOG, f"{name} holds no events ({traces} traces)")]
        )
    table, dates = _combine(parts)
    if table.num_columns == 0:
        raise LogValidationError(
            [
                Problem(
                    ProblemCode.MISSING_COLUMN,
                    f"the events of {name} have no attributes (no activity, no time)",
                )
            ]
        )
    if traces_chunk.size:
        trace_parts.append(_chunk_table(traces_chunk))
        per_trace, trace_dates = _combine(trace_parts)
        index = pa.array(trace_of_event, pa.int64())
        for key in per_trace.column_names:
            case_column = f"case:{key}"
            if case_column in table.column_names:
                continue  # an event attribute of that name is kept, as pm4py keeps it
            table = table.append_column(case_column, per_trace.column(key).take(index))
            if key in trace_dates:
                dates.add(case_column)
    return XesTable(
        table=table,
        summary=XesSummary(traces=traces, events=events, empty_traces=tuple(empty)),
        dates=frozenset(dates),
    )


def _not_xes(name: str, tag: str | None, line: int | None) -> LogFormatError:
    found = f"the root element is <{tag}>" if tag else "it has no <log> element"
    return LogFormatError(
        [
            Problem(
                ProblemCode.MALFORMED_FILE,
                f"{name}: not an XES log ({found}, expected <log>)",
                line=line,
            )
        ]
    )
