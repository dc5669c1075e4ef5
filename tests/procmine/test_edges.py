# SPDX-License-Identifier: AGPL-3.0-or-later
"""A finding's characteristic edges: known answers, and the counts checked by pandas."""

from __future__ import annotations

from pathlib import Path

from factories import OrderLog, pandas_edge_cases

from procmine import analyze, detect, read_log
from procmine._sql import fetch_all
from procmine.discover import Edge, discover_with_cases
from procmine.edges import MIN_LIFT, MIN_SHARE, characteristic_edges
from procmine.log import EventLog
from procmine.render import process_map, select_edges
from procmine.simulate import Simulation, simulate, write_log


def _log() -> EventLog:
    b = OrderLog()
    for i in range(20):
        # customer i cancels a pair of shoes and orders them again (an exchange detour) ...
        b.cancelled(f"A{i}", f"c{i}", f"{i}d")
        b.delivered(f"B{i}", f"c{i}", f"{i * 24 + 12}h")
        # ... and 60 other orders go through cleanly.
        for j in range(3):
            b.delivered(f"N{i}-{j}", f"n{i}-{j}", f"{i}d", category="Bags", sku=f"BAG-{j}")
    return EventLog.from_pandas(b.frame())


def test_the_cancel_path_marks_the_cancel_detour_and_nothing_ordinary() -> None:
    log = _log()
    result = analyze(log)
    finding = result.findings.get("exchange_detour:cancel_reorder")
    assert finding is not None and len(finding.instances) == 20
    edges = {(e.source, e.target): e for e in finding.edges}
    assert ("Payment captured", "Order cancelled") in edges
    # The replacement's ordinary path is common everywhere: not characteristic.
    assert ("Order placed", "Payment captured") not in edges
    assert ("Shipped", "Delivered") not in edges
    # Shares and lifts are what pandas counts on the same cases.
    frame = (
        log.events()
        .to_pyarrow()
        .to_pandas()
        .rename(columns={"case_id": "order_id", "ts": "timestamp"})
    )
    cases = set(finding.instances.table.column("original_case").to_pylist()) | set(
        finding.instances.table.column("replacement_case").to_pylist()
    )
    counts = pandas_edge_cases(frame, cases)
    everyone = pandas_edge_cases(frame)
    n_all = frame["order_id"].nunique()
    for key, e in edges.items():
        assert e.cases == counts[key]
        assert abs(e.share - counts[key] / len(cases)) < 1e-9
        assert abs(e.lift - e.share / (everyone[key] / n_all)) < 1e-9
        assert e.share >= MIN_SHARE and e.lift >= MIN_LIFT
    # The document carries them, rounded.
    doc = finding.to_dict(instances=False)["edges"]
    assert [(d["source"], d["target"]) for d in doc] == [
        (e.source, e.target) for e in finding.edges
    ]


def test_counting_by_variant_gives_the_edges_counting_events_gives(tmp_path: Path) -> None:
    # analyze() counts a finding's cases per edge from each case's variant; Spark, without
    # the variants' fingerprints, from the events. Every finding of a simulated log (swaps,
    # chains, rework, waits, contacts, lost sales) must get the same edges either way.
    path = tmp_path / "orders.parquet"
    write_log(simulate(Simulation(customers=1500, seed=5)), path)
    log = read_log(path)
    findings = detect(log)
    with discover_with_cases(log) as (graph, cases):
        assert cases is not None
        by_variant = characteristic_edges(log, graph, findings, cases)
        by_events = characteristic_edges(log, graph, findings)
    assert sum(len(f.edges) for f in by_events) >= 10
    assert [(f.id, f.edges) for f in by_variant] == [(f.id, f.edges) for f in by_events]
    # analyze() leaves no table of the cases' variants behind.
    tables = "SELECT table_name FROM duckdb_tables()"
    before = set(fetch_all(log.engine.raw, tables))
    analyze(log)
    assert set(fetch_all(log.engine.raw, tables)) == before


def test_a_log_without_findings_has_no_edges_to_mark() -> None:
    b = OrderLog()
    for i in range(10):
        b.delivered(f"N{i}", f"n{i}", f"{i}d")
    result = analyze(EventLog.from_pandas(b.frame()))
    assert all(f.edges == () for f in result.findings)


def test_highlighted_edges_are_drawn_however_rare() -> None:
    edges = [
        Edge("a", "b", 100, 100, 1, 1, 1),
        Edge("b", "c", 90, 90, 1, 1, 1),
        Edge("a", "c", 5, 5, 1, 1, 1),
        Edge("c", "a", 1, 1, 1, 1, 1),
    ]
    kept = select_edges(edges, ["a", "b", "c"], 1, keep=[("c", "a")])
    assert ("c", "a") in {(e.source, e.target) for e in kept}
    result = analyze(_log())
    finding = result.findings.get("exchange_detour:cancel_reorder")
    assert finding is not None
    pairs = [(e.source, e.target) for e in finding.edges]
    drawn = process_map(result.graph, max_edges=1, max_activities=1, highlight=pairs)
    for source, target in pairs:
        assert f"{source} -> {target}" in drawn.dot
    assert drawn.dot.count('color="#dc2626"') >= len(pairs)
