# SPDX-License-Identifier: AGPL-3.0-or-later
"""Process maps and the customer-journey map: content, limits, escaping, bounded rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from factories import OrderLog

from procmine import RenderError, detect, discover, read_frame
from procmine.discover import ActivityStats, Edge, ProcessGraph
from procmine.journey import journey_map
from procmine.log import EventLog
from procmine.records import Records
from procmine.render import process_map


def _graph(n_activities: int, n_edges: int) -> ProcessGraph:
    names = [f"step {i}" for i in range(n_activities)]
    edges = []
    for k in range(n_edges):
        a, b = names[k % n_activities], names[(k * 7 + 3) % n_activities]
        edges.append(Edge(a, b, 1000 - k, 10, 60.0 * k, 60.0 * k, 120.0 * k))
    acts = tuple(ActivityStats(n, 1000 - i, 100, None) for i, n in enumerate(names))
    import pyarrow as pa

    variants = Records(pa.table({"activities": [["x"]], "count": [1], "share": [1.0]}), lambda r: r)
    return ProcessGraph(acts, tuple(edges), {names[0]: 100}, {names[-1]: 100}, variants, 100, 1000)


def _edge_count(dot: str) -> int:
    return len(re.findall(r"\bn\d+ -> n\d+", dot))


def test_frequency_map_of_a_small_log() -> None:
    frame = pd.DataFrame(
        {
            "case": ["1", "1", "2", "2"],
            "activity": ["Order placed", "Order cancelled"] * 2,
            "timestamp": [
                "2024-01-01 10:00",
                "2024-01-01 12:00",
                "2024-01-02 10:00",
                "2024-01-02 16:00",
            ],
        }
    )
    m = process_map(discover(read_frame(frame)))
    assert "Order placed" in m.dot and "Order cancelled" in m.dot
    assert "#fee2e2" in m.dot  # the cancel is coloured as friction
    assert m.shown == {"activities": 2, "edges": 1}
    perf = process_map(discover(read_frame(frame)), overlay="performance")
    assert "4.0h" in perf.dot  # median of 2h and 6h


def test_large_logs_are_capped_to_a_legible_map() -> None:
    m = process_map(_graph(200, 1000))
    assert m.total == {"activities": 200, "edges": 1000}
    assert m.shown["activities"] == 60
    assert _edge_count(m.dot) == m.shown["edges"] <= 140
    tight = process_map(_graph(20, 100), max_edges=25)
    assert tight.shown["edges"] <= 30  # the backbone may add a few beyond the budget


def test_every_shown_activity_keeps_a_way_in_and_out() -> None:
    m = process_map(_graph(30, 300), max_edges=10)
    connected = set(re.findall(r"\b(n\d+) ->", m.dot)) | set(re.findall(r"-> (n\d+)", m.dot))
    declared = set(re.findall(r"^\s*(n\d+) \[", m.dot, re.M))
    assert declared <= connected


def test_names_from_the_log_are_escaped(tmp_path: Path) -> None:
    evil = '<script>alert("x")</script> & \\n "quoted"'
    frame = pd.DataFrame(
        {
            "case": ["1", "1"],
            "activity": [evil, "done"],
            "timestamp": ["2024-01-01 10:00", "2024-01-01 11:00"],
        }
    )
    m = process_map(discover(read_frame(frame)))
    svg = m.svg.decode()
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert m.save(tmp_path / "map.svg").read_bytes().startswith(b"<?xml")
    assert m.save(tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    assert m.save(tmp_path / "map.dot").read_text().startswith("digraph")
    with pytest.raises(RenderError):
        m.save(tmp_path / "map.jpg")
    assert m._repr_svg_().lstrip().startswith("<?xml")


def test_rendering_is_bounded_by_a_timeout() -> None:
    m = process_map(_graph(200, 1000), max_activities=200, max_edges=1000, timeout=0.01)
    with pytest.raises(RenderError, match="did not finish within"):
        m.render("svg")


def test_a_missing_graphviz_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(RenderError, match="install it"):
        process_map(_graph(3, 3)).render("svg")


def test_journey_map_highlights_the_detour_edges() -> None:
    b = OrderLog()
    for i in range(3):
        b.cancelled(f"a{i}", f"c{i}", i)
        b.delivered(f"b{i}", f"c{i}", i + 1, sku="SHOE-1-43")
    log = EventLog.from_pandas(b.frame())
    m = journey_map(log, detect(log))
    assert "A · Order cancelled" in m.dot and "B · Order placed" in m.dot
    detour = [line for line in m.dot.splitlines() if "detour: 3" in line]
    assert len(detour) == 1 and "#dc2626" in detour[0]
    # B is placed a day after A and delivered three days later: four days from A to the right
    # item where a clean order takes three, so one day lost.
    assert 'label="detour: 3 · median 1.0 d lost"' in detour[0]
    assert "(3 detours" in m.dot


def test_journey_map_without_detours_says_so() -> None:
    b = OrderLog()
    b.delivered("a", "c1", 0)
    log = EventLog.from_pandas(b.frame())
    m = journey_map(log, detect(log))
    assert "No exchange detours" in m.dot
    assert m.svg.startswith(b"<?xml")
