# SPDX-License-Identifier: AGPL-3.0-or-later
"""CSV and Parquet files into a raw DuckDB table, read by DuckDB's columnar readers.

The CSV dialect (delimiter, header) is decided here from the first lines with Python's csv
module, and DuckDB then reads the file with exactly that dialect and strict checking. DuckDB's
own sniffer is not used: on a file with one ragged row it can take the wrong line for the
header, and a silently mis-read header is worse than a clear error.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import shutil
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from procmine._sql import execute, fetch_all, quote_ident, quote_literal
from procmine.errors import LogFormatError, LogValidationError, Problem, ProblemCode, first_line
from procmine.io.sniff import nul_byte_error, open_text_head
from procmine.io.timestamps import iso_reading_sql

__all__ = [
    "CsvDialect",
    "IsoReading",
    "RawTable",
    "csv_header",
    "decode_head",
    "free_name",
    "load_csv",
    "load_parquet",
    "text_head",
]

_NATIVE_ENCODINGS = {
    "utf-8": "utf-8",
    "utf8": "utf-8",
    "utf-16": "utf-16",
    "utf16": "utf-16",
    "latin-1": "latin-1",
    "latin1": "latin-1",
    "iso-8859-1": "latin-1",
    "iso8859-1": "latin-1",
}
_DELIMITERS = (",", ";", "\t", "|")


def free_name(name: str, taken: set[str]) -> str:
    """``name``, or ``name`` with underscores added until no name in ``taken`` is it."""
    while name in taken:
        name += "_"
    return name


@dataclass(frozen=True, slots=True)
class IsoReading:
    """A text column read as ISO 8601 timestamps while its file was loaded
    (:func:`procmine.io.timestamps.iso_reading_sql`), in the same pass."""

    #: the source column
    column: str
    #: the table's column with each value read (NULL where it does not read as ISO 8601)
    value: str
    #: the table's column flagging values that may carry a UTC offset
    offset: str


@dataclass(frozen=True, slots=True)
class RawTable:
    """A table of raw rows in the engine: its name, column types and row-number column."""

    name: str
    types: dict[str, str]
    row_col: str = "__row"
    #: add to a 0-based row index to get the file line (CSV), or None where lines do not apply
    line_offset: int | None = None
    #: the column that orders rows of equal time within a case, where it is not ``row_col``
    #: (several events made of one row: :mod:`procmine.io.steps`)
    order_col: str | None = None
    #: a text column already read as ISO 8601 timestamps, if any
    iso: IsoReading | None = None


@dataclass(frozen=True, slots=True)
class CsvDialect:
    """How a CSV file is written: delimiter, encoding, header and duplicate header names."""

    delimiter: str
    encoding: str
    header: tuple[str, ...]
    duplicates: tuple[str, ...]


#: What :func:`text_head` reads first, unless asked for more.
_HEAD_BYTES = 64 * 1024


def text_head(path: Path, compressed: bool, size: int = _HEAD_BYTES) -> tuple[bytes, bool]:
    """The first ``size`` bytes of the (decompressed) file, and whether they are all of it.

    Where the first line (the header) is longer than ``size``, up to :data:`MAX_LINE_BYTES`
    more are read: a header of thousands of columns runs past a first read, which would cut
    it short (and leave no row under it).
    """
    head = open_text_head(path, compressed, size)
    if b"\n" in head or len(head) < size:
        return head, len(head) < size
    head = open_text_head(path, compressed, size + MAX_LINE_BYTES)
    return head, len(head) < size + MAX_LINE_BYTES


def decode_head(head: bytes, encoding: str) -> str:
    """The first bytes of a text file as text (undecodable bytes replaced, BOM dropped)."""
    return head.decode(encoding, errors="replace").lstrip("\ufeff")


def csv_header(
    path: Path, *, compressed: bool, encoding: str | None, delimiter: str | None
) -> CsvDialect:
    """Read the header line and decide the delimiter and encoding."""
    # Read whole: a header cut short would blame the first data row for having more fields.
    head, _ = text_head(path, compressed)
    end = head.find(b"\n")
    if end > MAX_LINE_BYTES or (end == -1 and len(head) > MAX_LINE_BYTES):
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.TOO_LARGE,
                    f"{path.name}: the header line is longer than {MAX_LINE_BYTES:,} bytes",
                    line=1,
                )
            ]
        )
    if encoding is None:
        encoding = "utf-16" if head.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise LogFormatError(
            [Problem(ProblemCode.ENCODING, f"unknown encoding {encoding!r}", value=encoding)]
        ) from None
    text = decode_head(head, encoding)
    lines = text.splitlines()
    if not lines or not lines[0].strip():
        raise LogValidationError(
            [Problem(ProblemCode.EMPTY_LOG, f"{path.name} has no header line", line=1)]
        )
    if delimiter is None:
        delimiter = _guess_delimiter(lines[:50])
    header = next(csv.reader(io.StringIO(lines[0]), delimiter=delimiter))
    names: list[str] = []
    seen: Counter[str] = Counter()
    duplicates: list[str] = []
    for i, raw_name in enumerate(header):
        name = raw_name.strip() or f"column{i + 1}"
        seen[name] += 1
        if seen[name] > 1:
            duplicates.append(name)
            name = f"{name}_{seen[name]}"
        names.append(name)
    return CsvDialect(
        delimiter=delimiter, encoding=encoding, header=tuple(names), duplicates=tuple(duplicates)
    )


def _guess_delimiter(lines: Sequence[str]) -> str:
    best, best_score = ",", -1.0
    sample = [ln for ln in lines if ln.strip()]
    for delim in _DELIMITERS:
        try:
            counts = [
                len(row) for row in csv.reader(io.StringIO("\n".join(sample)), delimiter=delim)
            ]
        except csv.Error:
            continue
        if not counts or counts[0] < 2:
            continue
        consistent = sum(1 for c in counts if c == counts[0]) / len(counts)
        score = consistent * 100 + counts[0]
        if score > best_score:
            best, best_score = delim, score
    return best


def _first_bad_line(path: Path, compressed: bool, encoding: str) -> tuple[int, int, str]:
    """Line, column and hex of the first byte that does not decode (only on the error path)."""
    decoder = codecs.getincrementaldecoder(encoding)()
    opener: Any = __import__("gzip").open if compressed else open
    line = 1
    with opener(path, "rb") as fh:
        for raw_line in fh:
            try:
                decoder.decode(raw_line)
            except UnicodeDecodeError as exc:
                return line, exc.start + 1, raw_line[exc.start : exc.start + 1].hex()
            line += 1
    return line, 0, ""


def _transcode(path: Path, compressed: bool, encoding: str, target: Path) -> None:
    opener: Any = __import__("gzip").open if compressed else open
    with opener(path, "rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        reader = codecs.getreader(encoding)(src, "strict")
        try:
            shutil.copyfileobj(reader, dst)
        except UnicodeDecodeError as exc:
            raise LogFormatError(
                [
                    Problem(
                        ProblemCode.ENCODING,
                        f"{path.name} is not valid {encoding}: {exc.reason} "
                        f"(byte 0x{exc.object[exc.start : exc.start + 1].hex()})",
                    )
                ]
            ) from None


_LINE = re.compile(r"CSV Error on Line: (\d+)")
#: DuckDB's longest CSV line (its ``max_line_size`` default); longer lines are refused.
MAX_LINE_BYTES = 2_000_000


def _physical_line_length(path: Path, compressed: bool, line: int) -> int:
    """Bytes of line ``line`` of the file, counted up to a little past the limit (error path
    only: it streams the file up to that line)."""
    opener: Any = __import__("gzip").open if compressed else open
    current, length = 1, 0
    with opener(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            start = 0
            while current < line:
                nl = chunk.find(b"\n", start)
                if nl == -1:
                    break
                current, start = current + 1, nl + 1
            if current < line:
                continue
            nl = chunk.find(b"\n", start)
            length += (nl if nl != -1 else len(chunk)) - start
            if nl != -1 or length > MAX_LINE_BYTES:
                return length
    return length


#: A value that starts as an ISO 8601 date does (with a time after it, or alone).
_ISO_START = re.compile(r"\d{4}-\d{1,2}-\d{1,2}(?:[ T]|$)")
#: How many of the first rows :func:`_looks_iso` reads.
_HEAD_ROWS = 200


def _looks_iso(
    path: Path, compressed: bool, encoding: str, dialect: CsvDialect, column: str
) -> bool:
    """Whether the non-blank values of ``column`` in the first rows start like ISO 8601
    dates (there are some, and no other): then :func:`load_csv` reads them as timestamps
    while loading. Only a guess, which costs nothing when wrong: a column with other values
    further down is checked and read as before."""
    if column not in dialect.header:
        return False
    head, whole = text_head(path, compressed)
    lines = decode_head(head, encoding).splitlines()
    if not whole:
        lines = lines[:-1]  # cut short by the read
    index = dialect.header.index(column)
    try:
        rows = list(
            csv.reader(
                io.StringIO("\n".join(lines[1 : _HEAD_ROWS + 1])), delimiter=dialect.delimiter
            )
        )
    except csv.Error:
        return False
    values = [r[index].strip() for r in rows if len(r) > index and r[index].strip()]
    return bool(values) and all(_ISO_START.match(v) for v in values)


def load_csv(
    con: Any,
    path: Path,
    table: str,
    *,
    compressed: bool,
    dialect: CsvDialect,
    columns: Sequence[str],
    iso: str | None = None,
) -> RawTable:
    """Read the CSV at ``path`` into temp table ``table`` with only ``columns`` (as text).

    Where the first values of column ``iso`` (one of ``columns``) look like ISO 8601
    timestamps, they are also read as timestamps in the same pass (:attr:`RawTable.iso`):
    ten million values are scanned once instead of three times (a sample for the format, a
    check of every value, and the parse when the events are placed).
    """
    encoding = _NATIVE_ENCODINGS.get(dialect.encoding.lower())
    source = path
    tmp_dir: str | None = None
    reading: IsoReading | None = None
    try:
        if encoding is None:
            # DuckDB reads UTF-8, UTF-16 and Latin-1 itself; anything else is transcoded once.
            tmp_dir = tempfile.mkdtemp(prefix="procmine-")
            source = Path(tmp_dir) / "log.csv"
            _transcode(path, compressed, dialect.encoding, source)
            encoding, compressed = "utf-8", False
        cols = ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in dialect.header)
        select = ", ".join(quote_ident(c) for c in columns)
        if iso is not None and _looks_iso(source, compressed, encoding, dialect, iso):
            taken = set(dialect.header)
            value, offset = free_name("__pm_ts", taken), free_name("__pm_ts_offset", taken)
            reading = IsoReading(iso, value, offset)
            value_sql, offset_sql = iso_reading_sql(quote_ident(iso))
            select += (
                f", {value_sql} AS {quote_ident(value)}, {offset_sql} AS {quote_ident(offset)}"
            )
        options = (
            f"columns={{{cols}}}, delim={quote_literal(dialect.delimiter)}, quote='\"', "
            f"escape='\"', header=true, auto_detect=false, encoding={quote_literal(encoding)}"
            + (", compression='gzip'" if compressed else "")
        )
        query = (
            f"CREATE OR REPLACE TEMP TABLE {quote_ident(table)} AS "
            f"SELECT {select} FROM read_csv({quote_literal(str(source))}, {options})"
        )
        try:
            execute(con, query)
        except duckdb.OutOfMemoryException:
            raise  # the engine's memory, not the file: never "a line is malformed"
        except Exception as exc:  # duckdb.InvalidInputException and friends
            raise _csv_error(exc, path, compressed, dialect) from None
    finally:
        if tmp_dir:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    if columns:
        # A stray NUL is kept by DuckDB inside a value, and would cut a name short in the
        # maps (C strings) and make the SVG invalid: refuse it with its line.
        nul = " OR ".join(f"contains({quote_ident(c)}, chr(0))" for c in columns)
        found = fetch_all(con, f"SELECT min(rowid) FROM {quote_ident(table)} WHERE {nul}")
        if found[0][0] is not None:
            execute(con, f"DROP TABLE IF EXISTS {quote_ident(table)}")
            raise nul_byte_error(path.name, int(found[0][0]) + 2)
    types = dict.fromkeys(columns, "VARCHAR")
    view = f"{table}_v"
    execute(
        con,
        f"CREATE OR REPLACE TEMP VIEW {quote_ident(view)} AS "
        f"SELECT rowid AS __row, * FROM {quote_ident(table)}",
    )
    return RawTable(name=view, types=types, row_col="__row", line_offset=2, iso=reading)


def _csv_error(exc: Exception, path: Path, compressed: bool, dialect: CsvDialect) -> LogFormatError:
    message = str(exc)
    match = _LINE.search(message)
    line = int(match.group(1)) if match else None
    if "Invalid unicode" in message or "byte sequence" in message:
        bad_line, column, byte = _first_bad_line(path, compressed, dialect.encoding)
        return LogFormatError(
            [
                Problem(
                    ProblemCode.ENCODING,
                    f"{path.name} is not {dialect.encoding.upper()} text: line {bad_line}, "
                    f"column {column} has byte 0x{byte}. If it was saved by Excel or an older "
                    "system, try --encoding latin-1 (or cp1252).",
                    line=bad_line,
                    value=f"0x{byte}",
                )
            ]
        )
    detail = ""
    for pattern in (
        r"Expected Number of Columns: \d+ Found: \d+",
        r"Value with unterminated quote",
    ):
        found = re.search(pattern, message)
        if found:
            detail = found.group(0)
    stated = re.search(r"Maximum line size of (\d+) bytes", message)
    limit = int(stated.group(1)) if stated else None
    # DuckDB also calls a quoted value longer than its buffer "unterminated".
    if (
        limit is None
        and detail
        and line is not None
        and _physical_line_length(path, compressed, line) > MAX_LINE_BYTES
    ):
        limit = MAX_LINE_BYTES
    if limit is not None:
        return LogFormatError(
            [
                Problem(
                    ProblemCode.TOO_LARGE,
                    f"{path.name}: line {line} is longer than {limit:,} bytes, the longest "
                    "line procmine reads (a value this long is not an event attribute)",
                    line=line,
                )
            ]
        )
    if "Expected Number of Columns" in detail:
        numbers = re.findall(r"\d+", detail)
        detail = f"it has {numbers[1]} fields where the header has {numbers[0]}"
    elif detail:
        detail = "a quoted value is never closed"
    else:
        detail = first_line(message).removeprefix("Invalid Input Error: ")
    original = re.search(r"Original Line: (.*)", message)
    value = original.group(1)[:200] if original else None
    where = f"line {line}" if line else "a line"
    hint = (
        f" (delimiter {dialect.delimiter!r}; set --delimiter if that is wrong)"
        if "fields" in detail
        else ""
    )
    return LogFormatError(
        [
            Problem(
                ProblemCode.MALFORMED_FILE,
                f"{path.name}: {where} is malformed: {detail}{hint}",
                line=line,
                value=value,
            )
        ]
    )


def load_parquet(con: Any, path: Path, table: str) -> RawTable:
    """Expose the Parquet file at ``path`` as view ``table`` with a ``__row`` column."""
    literal = quote_literal(str(path))
    try:
        described = fetch_all(con, f"DESCRIBE SELECT * FROM read_parquet({literal})")
    except Exception as exc:
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.MALFORMED_FILE,
                    f"{path.name} is not a readable Parquet file: "
                    f"{first_line(exc) or type(exc).__name__}",
                )
            ]
        ) from None
    types = {str(r[0]): str(r[1]) for r in described}
    execute(
        con,
        f"CREATE OR REPLACE TEMP VIEW {quote_ident(table)} AS "
        f"SELECT file_row_number AS __row, * EXCLUDE (file_row_number) "
        f"FROM read_parquet({literal}, file_row_number=true)",
    )
    return RawTable(name=table, types=types, row_col="__row", line_offset=None)
