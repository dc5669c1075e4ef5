# SPDX-License-Identifier: AGPL-3.0-or-later
"""Write an analysis to a folder: findings.json, the maps and the HTML report.

Files are written to temporary names and renamed into place, so an interrupted run never
leaves a half-written file behind under a final name.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from procmine.analysis import Analysis
from procmine.errors import OutputError
from procmine.findings import dump_chunks
from procmine.journey import journey_map
from procmine.render import ProcessMap, process_map
from procmine.report import render_report

__all__ = [
    "PROCESS_MAP_TITLES",
    "AnalysisMaps",
    "build_maps",
    "document_chunks",
    "write_analysis",
    "write_files",
]

#: Title of the process map per overlay (the CLI's files, the report and the service agree).
PROCESS_MAP_TITLES = {
    "frequency": "Order process: how often",
    "performance": "Order process: how long (median)",
}


@dataclass(frozen=True)
class AnalysisMaps:
    """The maps of an analysis: process (frequency and performance) and customer journey."""

    process: ProcessMap
    process_performance: ProcessMap
    journey: ProcessMap

    def named(self) -> dict[str, ProcessMap]:
        """The maps by file stem."""
        return {
            "process": self.process,
            "process-performance": self.process_performance,
            "journey": self.journey,
        }


def build_maps(
    analysis: Analysis, *, max_edges: int | None = None, max_activities: int | None = None
) -> AnalysisMaps:
    """Draw the three maps of ``analysis``."""
    return AnalysisMaps(
        process=process_map(
            analysis.graph,
            overlay="frequency",
            max_edges=max_edges,
            max_activities=max_activities,
            title=PROCESS_MAP_TITLES["frequency"],
        ),
        process_performance=process_map(
            analysis.graph,
            overlay="performance",
            max_edges=max_edges,
            max_activities=max_activities,
            title=PROCESS_MAP_TITLES["performance"],
        ),
        journey=journey_map(
            analysis.log, analysis.findings, max_edges=max_edges, max_activities=max_activities
        ),
    )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _temporary_beside(path: Path) -> tuple[int, Path]:
    """A new private file next to ``path`` (its descriptor and name), to be renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    return fd, Path(tmp)


def _publish(tmp: Path, path: Path) -> None:
    """Move the finished ``tmp`` into place as ``path``, readable as a new file would be."""
    # mkstemp creates the file private (0600); a report is meant to be shared.
    os.chmod(tmp, 0o666 & ~_umask())
    os.replace(tmp, path)


def _atomic_write(path: Path, data: bytes | Iterable[bytes | memoryview]) -> None:
    fd, tmp = _temporary_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                for chunk in data:
                    fh.write(chunk)
        _publish(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _BackgroundWrite:
    """Writes ``chunks`` to a temporary file beside ``path`` in a thread of its own.

    :meth:`finish` waits for it and renames the file into place; :meth:`abandon` stops it
    and removes the file. The chunks are produced in that thread too (a findings document
    is encoded by its own DuckDB connection, which leaves the GIL while it works).
    """

    def __init__(self, path: Path, chunks: Iterable[bytes | memoryview]) -> None:
        self.path = path
        self._stop = threading.Event()
        self._error: BaseException | None = None
        fd, self._tmp = _temporary_beside(path)
        self._thread = threading.Thread(
            target=self._run, args=(fd, chunks), name="procmine-write", daemon=True
        )
        self._thread.start()

    def _run(self, fd: int, chunks: Iterable[bytes | memoryview]) -> None:
        try:
            with os.fdopen(fd, "wb") as fh:
                for chunk in chunks:
                    if self._stop.is_set():
                        return
                    fh.write(chunk)
        except BaseException as exc:  # handed to finish(), in the caller's thread
            self._error = exc
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()  # a generator's own clean-up (its connection), also when stopped

    def abandon(self) -> None:
        """Stop writing (after the chunk being written) and remove the temporary file."""
        self._stop.set()
        self._thread.join()
        self._tmp.unlink(missing_ok=True)

    def finish(self) -> None:
        """Wait for the write and move the file into place; its error, if it failed."""
        try:
            self._thread.join()
            if self._error is not None:
                raise self._error
            _publish(self._tmp, self.path)
        except BaseException as exc:
            # Also when interrupted while waiting: the thread stops, and no file is left.
            self._stop.set()
            self._tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise _cannot_write(self.path, exc) from None
            raise


def _cannot_write(path: Path, exc: OSError) -> OutputError:
    return OutputError(f"cannot write {path}: {exc.strerror or exc}")


def _folder(out_dir: str | Path) -> Path:
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    return out


def write_analysis(
    analysis: Analysis,
    out_dir: str | Path,
    *,
    png: bool = False,
    maps: AnalysisMaps | None = None,
    max_edges: int | None = None,
) -> list[Path]:
    """Write findings.json, the maps (SVG and DOT, PNG on request) and report.html.

    The maps are ``maps``, or drawn here (with at most ``max_edges`` paths). Returns the
    written paths.
    """
    out = _folder(out_dir)
    # The findings document can run to hundreds of megabytes: it is encoded and written in
    # the background while the maps are drawn and rendered (at 10M events, a second less).
    # Everything else is rendered before anything is written, so that a Graphviz failure
    # leaves no partial set; the document is renamed into place last, and removed if
    # anything failed.
    target = out / "findings.json"
    try:
        document = _BackgroundWrite(target, document_chunks(analysis))
    except OSError as exc:  # a folder that takes no files
        raise _cannot_write(target, exc) from None
    try:
        drawn = maps or build_maps(analysis, max_edges=max_edges)
        payloads: list[tuple[str, bytes | Iterable[bytes | memoryview]]] = []
        for stem, m in drawn.named().items():
            payloads.append((f"{stem}.svg", m.svg))
            payloads.append((f"{stem}.dot", m.dot.encode("utf-8")))
            if png:
                payloads.append((f"{stem}.png", m.png()))
        report = render_report(
            analysis, [drawn.process, drawn.process_performance, drawn.journey]
        ).encode("utf-8")
        payloads.append(("report.html", report))
        written = write_files(out, payloads)
    except BaseException:
        document.abandon()
        raise
    document.finish()
    return [*written, document.path]


def document_chunks(analysis: Analysis) -> Iterator[bytes | memoryview]:
    """The findings document of ``analysis`` as UTF-8 JSON, in pieces (see
    :func:`procmine.findings.dump_chunks`); ``b"".join`` of them is the whole document."""
    document = analysis.to_dict(instances=False)
    return dump_chunks(document, [f.instances.table for f in analysis.findings])


def write_files(
    out_dir: str | Path, payloads: Sequence[tuple[str, bytes | Iterable[bytes | memoryview]]]
) -> list[Path]:
    """Write files (name, bytes or an iterable of byte chunks) into ``out_dir``, each
    atomically.

    Raises :class:`OutputError` naming the folder or file that could not be written.
    """
    out = _folder(out_dir)
    written: list[Path] = []
    for name, data in payloads:
        path = out / name
        try:
            _atomic_write(path, data)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        written.append(path)
    return written
