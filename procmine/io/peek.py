# SPDX-License-Identifier: AGPL-3.0-or-later
"""The first rows of a log file as they are, before any mapping or validation.

:func:`~procmine.io.read_log` refuses a log it cannot map (no timestamp column it recognises,
say). To let an analyst *fix* the mapping, a client has to show the file's own columns and a
few values first, whatever they are called: :func:`peek_log` reads only that much.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from procmine._sql import fetch_all, quote_ident
from procmine.config import ReadOptions
from procmine.engine import Engine
from procmine.errors import LogFormatError, Problem, ProblemCode
from procmine.io.sniff import sniff_format
from procmine.io.tabular import csv_header, decode_head, text_head
from procmine.mapping import ColumnMapping, ResolvedMapping, resolve_mapping

__all__ = ["RawPeek", "peek_log"]

#: How much of a CSV file is read to show its first rows.
_CSV_HEAD_BYTES = 256 * 1024
#: Longer cells are cut (a preview is for recognising columns, not reading documents).
_MAX_CELL = 200


@dataclass(frozen=True, slots=True)
class RawPeek:
    """A log file's columns and first rows as text, with the mapping procmine would guess.

    ``guess`` never fails: fields that cannot be guessed are simply absent from it.
    ``details`` tells how a CSV was read (``delimiter``, ``encoding``).
    """

    name: str
    format: str
    columns: tuple[str, ...]
    rows: tuple[tuple[str | None, ...], ...]
    guess: ResolvedMapping
    details: Mapping[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "format": self.format,
            "columns": list(self.columns),
            "rows": [list(r) for r in self.rows],
            "guess": self.guess.to_dict(),
            "details": dict(self.details),
        }


def _cell(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= _MAX_CELL else text[: _MAX_CELL - 1] + "…"


def peek_log(source: str | Path, rows: int = 10, options: ReadOptions | None = None) -> RawPeek:
    """The columns and first ``rows`` rows of a log file, read without mapping it.

    CSV reads only the first 256 KiB, Parquet only its first row group; XES and OCEL are
    parsed whole (pm4py reads them that way) and flattened as :func:`read_log` does.

    Raises :class:`~procmine.LogFormatError` when the file cannot be read at all.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "orders.csv"
    >>> _ = path.write_text("Order;When;Step\\nA;01.03.2024 10:00;placed\\n")
    >>> p = peek_log(path)
    >>> p.columns, p.rows, p.guess.get("case"), p.guess.get("timestamp")
    (('Order', 'When', 'Step'), (('A', '01.03.2024 10:00', 'placed'),), 'Order', None)
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    opts = options or ReadOptions()
    path = Path(source)
    fmt = sniff_format(path, opts.format)
    details: dict[str, str] = {}
    if fmt.kind == "csv":
        dialect = csv_header(
            path, compressed=fmt.compressed, encoding=opts.encoding, delimiter=opts.delimiter
        )
        columns = dialect.header
        head, whole = text_head(path, fmt.compressed, _CSV_HEAD_BYTES)
        text = decode_head(head, dialect.encoding)
        if not whole:
            text = text[: text.rfind("\n") + 1]  # the last line may be cut off
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=dialect.delimiter)
        body: list[tuple[str | None, ...]] = []
        try:
            next(reader, None)
            for record in reader:
                if len(body) >= rows:
                    break
                if record:
                    body.append(tuple(_cell(v) for v in record[: len(columns)]))
        except csv.Error as exc:
            raise LogFormatError(
                [
                    Problem(
                        ProblemCode.MALFORMED_FILE,
                        f"{path.name}: line {reader.line_num} is malformed: {exc}",
                        line=reader.line_num,
                    )
                ]
            ) from None
        details = {"delimiter": dialect.delimiter, "encoding": dialect.encoding}
    elif fmt.kind == "parquet":
        import pyarrow.parquet as pq

        from procmine.io.tabular import load_parquet

        # Through DuckDB, as read_log does, so that the same files are refused the same way.
        eng = Engine.duckdb()
        try:
            raw = load_parquet(eng.raw, path, Engine.unique_name("peek"))
            columns = tuple(c for c in raw.types if c != raw.row_col)
        finally:
            eng.backend.disconnect()
        first = next(pq.ParquetFile(path).iter_batches(batch_size=max(rows, 1)), None)
        table = first.to_pylist()[:rows] if first is not None else []
        body = [tuple(_cell(r.get(c)) for c in columns) for r in table]
    elif fmt.kind == "xes":
        from procmine.io.xes import read_xes_table

        # The reader read_log uses, so that the same columns are offered for mapping.
        xes = read_xes_table(path, compressed=fmt.compressed, skip_invalid=True)
        columns = tuple(xes.table.column_names)
        head = xes.table.slice(0, rows).to_pylist()
        body = [tuple(_cell(r.get(c)) for c in columns) for r in head]
    else:
        from procmine.io._pm4py import read_ocel2
        from procmine.io.ocel import flatten_ocel

        assert fmt.variant is not None
        eng = Engine.duckdb()
        try:
            frames = read_ocel2(path, kind=fmt.variant, compressed=fmt.compressed)
            flat = flatten_ocel(eng.raw, frames, opts, Engine.unique_name("peek"))
            name = quote_ident(flat.raw.name)
            columns = tuple(c for c in flat.raw.types if c != flat.raw.row_col)
            select = ", ".join(quote_ident(c) for c in columns)
            found = fetch_all(
                eng.raw,
                f"SELECT {select} FROM {name} ORDER BY {quote_ident(flat.raw.row_col)} "
                f"LIMIT {int(rows)}",
            )
        finally:
            eng.backend.disconnect()
        body = [tuple(_cell(v) for v in r) for r in found]
    return RawPeek(
        name=path.name,
        format=fmt.label,
        columns=tuple(columns),
        rows=tuple(body),
        guess=resolve_mapping(ColumnMapping(), columns, required=()),
        details=details,
    )
