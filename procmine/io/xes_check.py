# SPDX-License-Identifier: AGPL-3.0-or-later
"""A fast, safe structural check of an XES file before pm4py reads it.

pm4py drops traces without events silently and reports malformed XML with lxml's raw
message; this pass streams the file once with a hardened parser (no DTD, no entities, no
network), so a truncated or malformed file is refused with its line and column, a file that
declares entities is refused outright (XML bombs, external entities), and a trace without
events is named.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lxml import etree

from procmine.errors import LogFormatError, LogValidationError, Problem, ProblemCode

__all__ = ["XesSummary", "check_xes"]

_MAX_EXAMPLES = 10


@dataclass(frozen=True, slots=True)
class XesSummary:
    """What the structural pass saw: traces, events and the traces with no events."""

    traces: int
    events: int
    empty_traces: tuple[Problem, ...]


def _open(path: Path, compressed: bool) -> IO[bytes]:
    if compressed:
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return path.open("rb")


def _local(tag: object) -> str:
    text = str(tag)
    return text.rsplit("}", 1)[-1] if "}" in text else text


def check_xes(path: Path, *, compressed: bool, skip_invalid: bool = False) -> XesSummary:
    """Stream ``path`` once and raise a :class:`LogError` for anything pm4py would mishandle."""
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
                    f"{name}: the XES file declares a DTD or entities, which XES never needs; "
                    "refused (a DTD can hide an XML bomb or read other files)",
                )
            ]
        )

    traces = events = 0
    in_trace_events = 0
    empty: list[Problem] = []
    n_empty = 0
    depth_trace = False
    in_event = False
    root_seen = False
    try:
        with _open(path, compressed) as fh:
            parser = etree.iterparse(
                fh,
                events=("start", "end"),
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
                        if tag != "log":
                            raise LogFormatError(
                                [
                                    Problem(
                                        ProblemCode.MALFORMED_FILE,
                                        f"{name}: not an XES log (the root element is <{tag}>, "
                                        "expected <log>)",
                                        line=elem.sourceline,
                                    )
                                ]
                            )
                    misplaced = _misplaced(tag, depth_trace, in_event)
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
                        depth_trace = True
                        in_trace_events = 0
                    elif tag == "event":
                        in_event = True
                        in_trace_events += 1
                    continue
                if tag == "event":
                    events += 1
                    in_event = False
                    elem.clear(keep_tail=False)
                elif tag == "trace":
                    traces += 1
                    depth_trace = False
                    if in_trace_events == 0:
                        n_empty += 1
                        if len(empty) < _MAX_EXAMPLES:
                            case = _trace_name(elem)
                            label = f"case {case!r}" if case else f"trace #{traces}"
                            empty.append(
                                Problem(
                                    ProblemCode.EMPTY_CASE,
                                    f"{label} (line {elem.sourceline}) has no events",
                                    line=elem.sourceline,
                                    value=case,
                                    severity="warning" if skip_invalid else "error",
                                )
                            )
                    elem.clear(keep_tail=False)
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
        raise LogFormatError(
            [
                Problem(
                    ProblemCode.MALFORMED_FILE,
                    f"{name}: the compressed file is damaged or truncated ({exc})",
                )
            ]
        ) from None
    if not root_seen:
        raise LogFormatError([Problem(ProblemCode.EMPTY_LOG, f"{name} is empty")])
    if n_empty and not skip_invalid:
        extra = f" ({n_empty:,} in all)" if n_empty > len(empty) else ""
        summary = f"{name}: {n_empty:,} trace(s) have no events{extra}; " + empty[0].message
        raise LogValidationError(empty, summary=summary)
    if events == 0:
        raise LogValidationError(
            [Problem(ProblemCode.EMPTY_LOG, f"{name} holds no events ({traces} traces)")]
        )
    return XesSummary(traces=traces, events=events, empty_traces=tuple(empty))


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


def _trace_name(trace: etree._Element) -> str | None:
    for child in trace:
        if _local(child.tag) == "string" and child.get("key") == "concept:name":
            return child.get("value")
    return None
