# SPDX-License-Identifier: AGPL-3.0-or-later
"""Process maps with Graphviz: the order process and the customer journey across orders.

Rendering is bounded: a map shows at most ``max_activities`` activities and ``max_edges``
paths (the most frequent ones, while every shown activity keeps its most frequent way in and
out, so nothing floats), ``dot`` runs with a timeout, and on timeout the layout falls back to
``sfdp``; a log with thousands of activities never hangs the caller. Maps are plain values:
DOT source plus on-demand SVG/PNG, and they display inline in Jupyter.
"""

from __future__ import annotations

import math
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

import graphviz

from procmine.discover import ActivityStats, Edge, ProcessGraph
from procmine.errors import RenderError

__all__ = [
    "Overlay",
    "ProcessMap",
    "auto_limits",
    "format_duration_short",
    "inline_svg",
    "process_map",
    "select_edges",
]

Overlay = Literal["frequency", "performance"]

#: node fill colours by role: friction steps stand out, the happy path is calm
_ROLE_COLOURS: Mapping[str, str] = {
    "order": "#dbeafe",
    "pay": "#dbeafe",
    "ship": "#dcfce7",
    "deliver": "#dcfce7",
    "cancel": "#fee2e2",
    "merchant_cancel": "#fde68a",
    "pay_fail": "#fde68a",
    "return_request": "#fee2e2",
    "return_ship": "#fee2e2",
    "return_receive": "#fee2e2",
    "refund": "#fecaca",
    "exchange": "#bbf7d0",
    "contact": "#ede9fe",
}
_HIGHLIGHT = "#dc2626"
_PERF_SCALE = ("#9ca3af", "#f59e0b", "#ea580c", "#b91c1c")
DEFAULT_TIMEOUT_S = 30.0


def format_duration_short(seconds: float) -> str:
    """A compact human duration: ``45s``, ``12m``, ``5.2h``, ``3.1d``.

    Examples
    --------
    >>> format_duration_short(30), format_duration_short(720), format_duration_short(3 * 86400)
    ('30s', '12m', '3.0d')
    """
    if seconds != seconds:  # NaN
        return "?"
    if seconds < 60:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def _count(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.1f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    if n >= 1000:
        return f"{n / 1000:.1f}k"
    return str(n)


def select_edges(
    edges: Sequence[Edge],
    activities: Iterable[str],
    max_edges: int,
    keep: Iterable[tuple[str, str]] = (),
) -> list[Edge]:
    """The edges a map shows among ``activities``: a backbone, then the most frequent.

    The backbone is each activity's most frequent incoming and outgoing edge, so that no shown
    activity is left unconnected (it is kept even when it alone exceeds ``max_edges``), plus
    the ``keep`` edges (a highlighted finding's paths must show however rare they are); the
    remaining budget goes to the most frequent other edges.

    Examples
    --------
    >>> e = [Edge("a", "b", 10, 10, 1, 1, 1), Edge("b", "c", 4, 4, 1, 1, 1),
    ...      Edge("a", "c", 2, 2, 1, 1, 1), Edge("c", "a", 1, 1, 1, 1, 1)]
    >>> [(x.source, x.target) for x in select_edges(e, ["a", "b", "c"], 3)]
    [('a', 'b'), ('b', 'c'), ('c', 'a')]
    """
    shown = set(activities)
    pool = sorted(
        (e for e in edges if e.source in shown and e.target in shown),
        key=lambda e: (-e.count, e.source, e.target),
    )
    chosen: dict[tuple[str, str], Edge] = {}
    best_out: dict[str, Edge] = {}
    best_in: dict[str, Edge] = {}
    for e in pool:
        best_out.setdefault(e.source, e)
        best_in.setdefault(e.target, e)
    wanted = set(keep)
    for e in [
        *best_out.values(),
        *best_in.values(),
        *(e for e in pool if (e.source, e.target) in wanted),
    ]:
        chosen[(e.source, e.target)] = e
    for e in pool:
        if len(chosen) >= max(max_edges, 1):
            break
        chosen.setdefault((e.source, e.target), e)
    return sorted(chosen.values(), key=lambda e: (-e.count, e.source, e.target))


@dataclass(frozen=True)
class ProcessMap:
    """A rendered-on-demand map: DOT source, SVG and PNG, inline in Jupyter.

    ``shown`` and ``total`` count the activities and paths drawn and present.
    """

    dot: str
    title: str
    shown: Mapping[str, int] = field(default_factory=dict)
    total: Mapping[str, int] = field(default_factory=dict)
    timeout: float = DEFAULT_TIMEOUT_S

    def render(self, fmt: Literal["svg", "png"] = "svg") -> bytes:
        """Lay the map out with ``dot`` (falling back to ``sfdp`` on timeout)."""
        return _run_graphviz(self.dot, fmt, self.timeout)

    @cached_property
    def svg(self) -> bytes:
        """The map as SVG bytes."""
        return self.render("svg")

    def png(self) -> bytes:
        """The map as PNG bytes."""
        return self.render("png")

    def save(self, path: str | Path) -> Path:
        """Write the map; the format follows the extension (``.svg``, ``.png``, ``.dot``)."""
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix == ".dot":
            p.write_text(self.dot, encoding="utf-8")
        elif suffix == ".svg":
            p.write_bytes(self.svg)
        elif suffix == ".png":
            p.write_bytes(self.png())
        else:
            raise RenderError(f"unknown map format {suffix!r}: use .svg, .png or .dot")
        return p

    def _repr_svg_(self) -> str:
        return self.svg.decode("utf-8")


def inline_svg(svg: bytes | str) -> str:
    """An SVG document made fit to sit inside HTML: without its XML declaration and DOCTYPE.

    >>> inline_svg('<?xml version="1.0"?>\\n<!DOCTYPE svg>\\n<svg width="1"></svg>')
    '<svg width="1"></svg>'
    """
    text = svg.decode("utf-8") if isinstance(svg, bytes) else svg
    start = text.find("<svg")
    return text[start:] if start >= 0 else text


def _run_graphviz(dot: str, fmt: str, timeout: float) -> bytes:
    if shutil.which("dot") is None:
        raise RenderError(
            "Graphviz is not installed (no 'dot' command): install it, e.g. "
            "'apt-get install graphviz' or 'brew install graphviz'"
        )
    for engine in ("dot", "sfdp"):
        args = [engine, f"-T{fmt}"]
        if engine == "sfdp":
            args += ["-Goverlap=prism", "-Gsplines=true"]
        try:
            done = subprocess.run(
                args, input=dot.encode("utf-8"), capture_output=True, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired:
            continue
        if done.returncode == 0:
            return done.stdout
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"Graphviz failed: {message[-1] if message else 'unknown error'}")
    raise RenderError(
        f"Graphviz did not finish within {timeout:.0f}s even with the fast layout; "
        "show fewer paths (max_edges) or activities (max_activities)"
    )


def auto_limits(n_activities: int, n_edges: int) -> tuple[int, int]:
    """The activities and paths a map shows by default: ``(max_activities, max_edges)``.

    >>> auto_limits(12, 40), auto_limits(200, 3000)
    ((12, 30), (60, 132))
    """
    # Readable at 20 activities, still legible at 60: beyond 60 activities the least frequent
    # are left out, and paths are capped at about two per shown activity.
    max_activities = min(n_activities, 60)
    max_edges = min(n_edges, max(30, int(2.2 * max_activities)))
    return max_activities, max_edges


def _node_id(i: int) -> str:
    return f"n{i}"


def _text(*lines: str) -> str:
    """A Graphviz label from literal text lines: backslashes and ``<...>`` lose their special
    meaning (names come from the log), lines are joined with Graphviz's line break."""
    text: str = graphviz.nohtml("\\n".join(line.replace("\\", "\\\\") for line in lines))
    return text


def process_map(
    graph: ProcessGraph,
    *,
    overlay: Overlay = "frequency",
    max_activities: int | None = None,
    max_edges: int | None = None,
    highlight: Iterable[tuple[str, str]] = (),
    edge_notes: Mapping[tuple[str, str], str] | None = None,
    edge_colours: Mapping[tuple[str, str], str] | None = None,
    title: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> ProcessMap:
    """Draw ``graph`` as a directly-follows map.

    ``overlay`` labels edges with their frequency or their median duration (coloured from
    grey to red by duration). ``highlight`` edges are drawn bold red; ``edge_notes`` adds text
    to an edge's label; ``edge_colours`` colours edges (a before/after change map). Limits
    default to a legible size (see the module docstring).

    Examples
    --------
    >>> import pandas as pd
    >>> from procmine.log import EventLog
    >>> from procmine.discover import discover
    >>> log = EventLog.from_pandas(pd.DataFrame({
    ...     "case": ["1", "1", "2", "2"], "activity": ["Order placed", "Shipped"] * 2,
    ...     "timestamp": ["2024-01-01", "2024-01-02", "2024-01-01", "2024-01-03"]}))
    >>> m = process_map(discover(log))
    >>> '"Order placed' in m.dot and "2" in m.dot
    True
    """
    n_act, n_edges = len(graph.activities), len(graph.edges)
    auto_act, auto_edges = auto_limits(n_act, n_edges)
    max_act = max_activities if max_activities is not None else auto_act
    max_e = max_edges if max_edges is not None else auto_edges
    acts: list[ActivityStats] = list(graph.activities[: max(max_act, 1)])
    hl = set(highlight)
    # The activities of highlighted edges are shown whatever the activity limit.
    by_name = {a.name: a for a in graph.activities}
    for name in sorted({n for edge in hl for n in edge} - {a.name for a in acts}):
        if name in by_name:
            acts.append(by_name[name])
    names = [a.name for a in acts]
    shown_edges = select_edges(graph.edges, names, max_e, keep=hl)
    notes = dict(edge_notes or {})
    dot = _build_dot(
        acts,
        shown_edges,
        graph,
        overlay=overlay,
        highlight=hl,
        notes=notes,
        colours=dict(edge_colours or {}),
        title=title or f"Order process ({overlay})",
        subtitle=(
            f"{len(acts)} of {n_act} activities, {len(shown_edges)} of {n_edges} paths; "
            f"{graph.cases:,} cases"
        ),
    )
    return ProcessMap(
        dot=dot,
        title=title or "Order process",
        shown={"activities": len(acts), "edges": len(shown_edges)},
        total={"activities": n_act, "edges": n_edges},
        timeout=timeout,
    )


def _build_dot(
    acts: Sequence[ActivityStats],
    edges: Sequence[Edge],
    graph: ProcessGraph,
    *,
    overlay: Overlay,
    highlight: set[tuple[str, str]],
    notes: Mapping[tuple[str, str], str],
    colours: Mapping[tuple[str, str], str],
    title: str,
    subtitle: str,
) -> str:
    g = graphviz.Digraph("process")
    g.attr(
        rankdir="TB",
        labelloc="t",
        fontname="Helvetica",
        fontsize="16",
        label=_text(title, subtitle),
        nodesep="0.35",
        ranksep="0.45",
        bgcolor="white",
    )
    g.attr(
        "node",
        shape="box",
        style="rounded,filled",
        fontname="Helvetica",
        fontsize="11",
        color="#6b7280",
        penwidth="1",
    )
    g.attr("edge", fontname="Helvetica", fontsize="9", color="#6b7280", arrowsize="0.6")
    ids = {a.name: _node_id(i) for i, a in enumerate(acts)}
    max_count = max([e.count for e in edges] + [1])
    durations = sorted(e.median_seconds for e in edges)

    def width(count: int) -> str:
        return f"{1 + 4 * math.log1p(count) / math.log1p(max_count):.2f}"

    def perf_colour(seconds: float) -> str:
        if not durations:
            return _PERF_SCALE[0]
        rank = sum(1 for d in durations if d <= seconds) / len(durations)
        return _PERF_SCALE[min(int(rank * len(_PERF_SCALE)), len(_PERF_SCALE) - 1)]

    for a in acts:
        fill = _ROLE_COLOURS.get(a.role or "", "#f9fafb")
        g.node(
            ids[a.name],
            label=_text(a.name, _count(a.count)),
            fillcolor=fill,
            tooltip=_text(
                f"{a.name}: {a.count:,} events in {a.cases:,} cases"
                + (f"; role {a.role}" if a.role else "")
            ),
        )
    g.node(
        "start",
        label="",
        shape="circle",
        width="0.25",
        style="filled",
        fillcolor="#16a34a",
        color="#16a34a",
    )
    g.node(
        "end",
        label="",
        shape="doublecircle",
        width="0.2",
        style="filled",
        fillcolor="#111827",
        color="#111827",
    )
    # Start and end edges follow the same rule as paths: the main ones only (at least 2% of
    # cases, and always the most frequent), or they dominate a large map.
    floor = 0.02 * max(graph.cases, 1)
    for i, (name, n) in enumerate(graph.start_activities.items()):
        if name in ids and (i == 0 or n >= floor):
            g.edge("start", ids[name], label=_count(n), style="dashed", penwidth=width(n))
    for i, (name, n) in enumerate(graph.end_activities.items()):
        if name in ids and (i == 0 or n >= floor):
            g.edge(ids[name], "end", label=_count(n), style="dashed", penwidth=width(n))
    for e in edges:
        key = (e.source, e.target)
        if overlay == "performance":
            label = format_duration_short(e.median_seconds)
            colour = perf_colour(e.median_seconds)
        else:
            label = _count(e.count)
            colour = "#6b7280"
        colour = colours.get(key, colour)
        extra = notes.get(key)
        attrs = {
            # A highlighted edge's note already carries its count.
            "label": _text(extra)
            if extra and key in highlight
            else (_text(label, extra) if extra else _text(label)),
            "penwidth": width(e.count),
            "color": colour,
            "fontcolor": colour if overlay == "performance" or key in colours else "#374151",
            "tooltip": _text(
                f"{e.source} -> {e.target}: {e.count:,} times; median "
                f"{format_duration_short(e.median_seconds)}, p90 "
                f"{format_duration_short(e.p90_seconds)}"
            ),
        }
        if key in highlight:
            attrs.update(
                color=_HIGHLIGHT,
                fontcolor=_HIGHLIGHT,
                penwidth=f"{max(float(width(e.count)), 2.5):.2f}",
                style="bold",
            )
        g.edge(ids[e.source], ids[e.target], **attrs)
    source: str = g.source
    return source
