# SPDX-License-Identifier: AGPL-3.0-or-later
"""Recognise a log's format from its content (the extension is only a hint)."""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

from procmine.errors import LogFormatError, Problem, ProblemCode
from procmine.io.expansion import damaged_gzip

__all__ = ["FORMATS", "FileFormat", "nul_byte_error", "sniff_format"]

#: Formats a user can name with ``--format``.
FORMATS: tuple[str, ...] = ("csv", "parquet", "xes", "ocel")
#: Bytes text may hold: everything but the C0 controls other than tab, line feed and return.
_TEXT_BYTES = bytes(b for b in range(256) if b >= 0x20 or b in (0x09, 0x0A, 0x0D))


@dataclass(frozen=True, slots=True)
class FileFormat:
    """``kind`` is csv/parquet/xes/ocel; ``variant`` json/xml/sqlite for OCEL."""

    kind: str
    variant: str | None = None
    compressed: bool = False

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``"OCEL 2.0 (JSON)"`` or ``"XES (gzip)"``."""
        names = {"csv": "CSV", "parquet": "Parquet", "xes": "XES", "ocel": "OCEL 2.0"}
        text = names[self.kind]
        if self.variant:
            text += f" ({self.variant.upper()})"
        if self.compressed:
            text += " (gzip)"
        return text


def _head(path: Path, size: int = 64 * 1024) -> tuple[bytes, bool]:
    with path.open("rb") as fh:
        raw = fh.read(size)
    if raw[:2] == b"\x1f\x8b":
        # Decompress just the beginning: enough to see what is inside.
        try:
            d = zlib.decompressobj(16 + zlib.MAX_WBITS)
            return d.decompress(raw, size), True
        except zlib.error as exc:
            raise LogFormatError(
                [Problem(ProblemCode.MALFORMED_FILE, f"{path.name}: damaged gzip data ({exc})")]
            ) from None
    return raw, False


def sniff_format(path: Path, declared: str | None = None) -> FileFormat:
    """Decide the format of ``path`` from its first bytes.

    ``declared`` (from ``--format``) wins for text files, where content alone cannot tell CSV
    from other delimited text; binary signatures (Parquet, SQLite, gzip) are always trusted.
    """
    if not path.exists():
        raise LogFormatError([Problem(ProblemCode.FILE_NOT_FOUND, f"{path} does not exist")])
    if path.is_dir():
        raise LogFormatError(
            [Problem(ProblemCode.UNKNOWN_FORMAT, f"{path} is a directory, not a log file")]
        )
    try:
        size = path.stat().st_size
        head, compressed = _head(path)
    except OSError as exc:
        raise LogFormatError(
            [Problem(ProblemCode.UNREADABLE_FILE, f"cannot read {path}: {exc.strerror or exc}")]
        ) from None
    if size == 0:
        raise LogFormatError([Problem(ProblemCode.EMPTY_LOG, f"{path.name} is empty (0 bytes)")])
    if declared is not None and declared not in FORMATS:
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.UNKNOWN_FORMAT,
                    f"unknown format {declared!r}; formats: {', '.join(FORMATS)}",
                    value=declared,
                )
            ]
        )
    if head.startswith(b"PAR1"):
        return FileFormat("parquet")
    if head.startswith(b"SQLite format 3\x00"):
        return FileFormat("ocel", "sqlite", compressed)
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    lowered = text[:65536].lower()
    if text.startswith(b"<"):
        if b"<object-types" in lowered or b"<objects" in lowered or b"<events>" in lowered:
            return FileFormat("ocel", "xml", compressed)
        return FileFormat("xes", None, compressed)
    if text.startswith(b"{") or text.startswith(b"["):
        if b'"ocel:global-log"' in lowered or b'"ocel:events"' in lowered:
            raise LogFormatError(
                [
                    Problem(
                        ProblemCode.UNKNOWN_FORMAT,
                        f"{path.name} is an OCEL 1.0 log; procmine reads OCEL 2.0 (convert it, "
                        "e.g. with pm4py)",
                    )
                ]
            )
        if b'"objecttypes"' in lowered or b'"eventtypes"' in lowered or b'"objects"' in lowered:
            return FileFormat("ocel", "json", compressed)
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.UNKNOWN_FORMAT,
                    f"{path.name} is JSON but not an OCEL 2.0 log (no objectTypes/eventTypes)",
                )
            ]
        )
    if declared in ("xes", "ocel", "parquet"):
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.UNKNOWN_FORMAT,
                    f"{path.name} was given as {declared} but its content is not {declared}",
                )
            ]
        )
    if compressed:
        return FileFormat("csv", None, True)
    if b"\x00" in head[:4096] and not (
        head.startswith(b"\xff\xfe") or head.startswith(b"\xfe\xff")
    ):
        controls = head.translate(None, _TEXT_BYTES)
        if set(controls) == {0} and len(controls) * 100 <= max(len(head), 400):
            # Text with a stray NUL (a damaged export), not a binary file: say where.
            raise nul_byte_error(path.name, head[: head.index(b"\x00")].count(b"\n") + 1)
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.UNKNOWN_FORMAT,
                    f"{path.name} is a binary file of unknown format; procmine reads CSV, "
                    "Parquet, XES (.xes, .xes.gz) and OCEL 2.0 (JSON, XML, SQLite)",
                )
            ]
        )
    return FileFormat("csv")


def nul_byte_error(name: str, line: int) -> LogFormatError:
    """The error for a text log holding a NUL byte at ``line``."""
    return LogFormatError(
        [
            Problem(
                ProblemCode.MALFORMED_FILE,
                f"{name}: line {line} holds a NUL byte (0x00), which no text log has; the "
                "file is damaged or was saved by a program that pads with NULs",
                line=line,
                value="0x00",
            )
        ]
    )


def open_text_head(path: Path, compressed: bool, size: int = 64 * 1024) -> bytes:
    """The first ``size`` bytes of the (decompressed) content."""
    if compressed:
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(size)
        except (OSError, EOFError, zlib.error) as exc:
            raise damaged_gzip(path, exc) from None
    with path.open("rb") as fh:
        return fh.read(size)
