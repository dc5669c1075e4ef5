# SPDX-License-Identifier: AGPL-3.0-or-later
"""The hardened XML parsing shared by the XES reader (:mod:`procmine.io.xes`) and the OCEL 2.0
XML check: no DTD, no entities, no network, bounded tokens and size, so that a truncated or
malformed file is refused with its line and column, and a file that declares entities (XML
bombs, external entities) is refused outright."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import IO

from procmine.errors import LogFormatError, Problem, ProblemCode
from procmine.io.expansion import damaged_gzip, open_bounded

__all__ = [
    "MAX_TOKEN_BYTES",
    "MAX_XML_BYTES",
    "GuardedXml",
    "XesSummary",
    "check_xml_safety",
]

_MAX_EXAMPLES = 10
#: The longest run of bytes without a ``>`` (one tag with its attributes, or one text) that
#: is read. libxml2 refuses longer values anyway, but only after buffering all of them, and
#: a value of 2 GiB (a few MB as .xes.gz) crashes it; no event log needs a tenth of this.
MAX_TOKEN_BYTES = 10_000_000
#: The most XML read from one file, after decompression: a gzip bomb stops here.
MAX_XML_BYTES = 8 * 1024**3


class GuardedXml:
    """A binary file wrapper for an XML parser that refuses oversized tokens and content.

    Raises :class:`LogFormatError` from :meth:`read` (the parser passes it on) as soon as a
    token passes :data:`MAX_TOKEN_BYTES` or the content :data:`MAX_XML_BYTES`, so memory
    and time stay bounded whatever the file holds.
    """

    def __init__(self, fh: IO[bytes], name: str) -> None:
        self._fh = fh
        self._name = name
        self.total = 0
        self._since_close = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._fh.read(size if size and size > 0 else 1 << 20)
        self.total += len(chunk)
        if self.total > MAX_XML_BYTES:
            raise self._refuse(
                f"{self._name} holds more than {MAX_XML_BYTES / 1024**3:.0f} GiB of XML "
                "(after decompression); refused"
            )
        first = chunk.find(b">")
        if first == -1:
            self._since_close += len(chunk)
        elif self._since_close + first > MAX_TOKEN_BYTES:
            self._since_close += first
        else:
            self._since_close = len(chunk) - chunk.rfind(b">") - 1
        if self._since_close > MAX_TOKEN_BYTES:
            raise self._refuse(
                f"{self._name} has a tag or value longer than {MAX_TOKEN_BYTES:,} bytes "
                f"(before byte {self.total:,}); refused (no event log needs one)"
            )
        return chunk

    @staticmethod
    def _refuse(message: str) -> LogFormatError:
        return LogFormatError([Problem(ProblemCode.TOO_LARGE, message)])


@dataclass(frozen=True, slots=True)
class XesSummary:
    """What the structural pass saw: traces, events and the traces with no events."""

    traces: int
    events: int
    empty_traces: tuple[Problem, ...]


def _open(path: Path, compressed: bool) -> IO[bytes]:
    if compressed:
        # A gzip bomb stops at its expansion limit, long before MAX_XML_BYTES.
        return open_bounded(path)  # type: ignore[return-value]
    return path.open("rb")


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1] if "}" in text else text


def _refuse_dtd(path: Path, compressed: bool, kind: str) -> None:
    name = path.name
    try:
        with _open(path, compressed) as head_file:
            head = head_file.read(64 * 1024)
    except (OSError, EOFError) as exc:
        raise LogFormatError(
            [Problem(ProblemCode.MALFORMED_FILE, f"{name}: cannot decompress: {exc}")]
        ) from None
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.MALFORMED_FILE,
                    f"{name}: the {kind} file declares a DTD or entities, which {kind} never "
                    "needs; refused (a DTD can hide an XML bomb or read other files)",
                )
            ]
        )


def check_xml_safety(path: Path, *, compressed: bool, kind: str = "XML") -> None:
    """Refuse an XML file (OCEL 2.0 XML) that declares a DTD, holds an oversized token or
    decompresses beyond :data:`MAX_XML_BYTES`, before a parser that is not hardened reads it.
    """
    _refuse_dtd(path, compressed, kind)
    try:
        with _open(path, compressed) as fh:
            guarded = GuardedXml(fh, path.name)
            while guarded.read(1 << 20):
                pass
    except (OSError, EOFError) as exc:
        raise damaged_gzip(path, exc) from None


def _misplaced(tag: str, in_trace: bool, in_event: bool) -> str | None:
    """What is structurally wrong with an element opening here, if anything."""
    if tag == "event" and in_event:
        return "an <event> inside another <event>"
    if tag == "event" and not in_trace:
        return "an <event> outside any <trace>"
    if tag == "trace" and (in_trace or in_event):
        return "a <trace> inside another <trace> or <event>"
    return None


def _last_line(path: Path, compressed: bool) -> int:
    """Number of the file's last line (only read on the error path)."""
    count = 1
    with _open(path, compressed) as fh:
        try:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                count += chunk.count(b"\n")
        except (OSError, EOFError):
            pass  # a damaged gzip stream: count what could be read
    return count
