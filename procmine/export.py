# SPDX-License-Identifier: AGPL-3.0-or-later
"""Write an analysis to a folder: findings.json, the maps and the HTML report.

Files are written to temporary names and renamed into place, so an interrupted run never
leaves a half-written file behind under a final name.
"""

from __future__ import annotations

import os
import tempfile
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


def _atomic_write(path: Path, data: bytes | Iterable[bytes | memoryview]) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            if isinstance(data, bytes):
                fh.write(data)
            else:
                for chunk in data:
                    fh.write(chunk)
        # mkstemp creates the file private (0600); a report is meant to be shared.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_analysis(
    analysis: Analysis,
    out_dir: str | Path,
    *,
    png: bool = False,
    maps: AnalysisMaps | None = None,
) -> list[Path]:
    """Write findings.json, the maps (SVG and DOT, PNG on request) and report.html.

    Returns the written paths.
    """
    drawn = maps or build_maps(analysis)
    # Render everything first, then write: a Graphviz failure must not leave a partial set.
    # The findings document is the exception: it is encoded while it is written (it can be
    # hundreds of megabytes), and comes last, after everything that can fail to render.
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
    payloads.append(("findings.json", document_chunks(analysis)))
    return write_files(out_dir, payloads)


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
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create the output folder {out}: {exc.strerror or exc}") from None
    written: list[Path] = []
    for name, data in payloads:
        path = out / name
        try:
            _atomic_write(path, data)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        written.append(path)
    return written
