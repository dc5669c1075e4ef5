# SPDX-License-Identifier: AGPL-3.0-or-later
"""Discovery: DFG and variants, with pm4py as the oracle on real public logs."""

from __future__ import annotations

import warnings
from typing import Any

import pandas as pd
import pytest
from conftest import shared
from factories import pandas_edge_cases

from procmine import ColumnMapping, discover, read_frame, read_log
from procmine.discover import ProcessGraph

XES_COLUMNS = ColumnMapping(
    case="case:concept:name", activity="concept:name", timestamp="time:timestamp"
)


def _pm4py() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
    return pm4py


def _assert_same_as_pm4py(graph: ProcessGraph, frame: pd.DataFrame) -> None:
    pm4py = _pm4py()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dfg, starts, ends = pm4py.discover_dfg(frame)
        variants = pm4py.get_variants(frame)
        perf = pm4py.discover_performance_dfg(frame, perf_aggregation_key="all")[0]
    assert graph.dfg() == {k: int(v) for k, v in dfg.items()}
    assert dict(graph.start_activities) == {k: int(v) for k, v in starts.items()}
    assert dict(graph.end_activities) == {k: int(v) for k, v in ends.items()}
    assert graph.variant_counts() == {tuple(k): int(v) for k, v in variants.items()}
    # How many cases take each edge (a loop's edge counts once per case): by pandas.
    assert {(e.source, e.target): e.cases for e in graph.edges} == pandas_edge_cases(
        frame, case="case:concept:name", activity="concept:name", timestamp="time:timestamp"
    )
    for edge in graph.edges:
        expected = perf[(edge.source, edge.target)]
        assert edge.mean_seconds == pytest.approx(expected["mean"], rel=1e-9, abs=1e-6)
        assert edge.median_seconds == pytest.approx(expected["median"], rel=1e-9, abs=1e-6)


@pytest.fixture(scope="module", name="bpic2012")
def fixture_bpic2012() -> pd.DataFrame:
    pm4py = _pm4py()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pm4py.read_xes(
            str(shared("pm4py-tests/xes/bpic2012.xes.gz")), show_progress_bar=False
        )


def test_small_log_by_hand() -> None:
    frame = pd.DataFrame(
        {
            "case": ["1", "1", "1", "2", "2", "3"],
            "activity": ["a", "b", "c", "a", "c", "a"],
            "timestamp": [
                "2024-01-01 00:00",
                "2024-01-01 01:00",
                "2024-01-01 03:00",
                "2024-01-02 00:00",
                "2024-01-02 04:00",
                "2024-01-03 00:00",
            ],
        }
    )
    g = discover(read_frame(frame))
    assert g.dfg() == {("a", "b"): 1, ("b", "c"): 1, ("a", "c"): 1}
    ac = next(e for e in g.edges if (e.source, e.target) == ("a", "c"))
    assert ac.median_seconds == 4 * 3600 and ac.cases == 1
    assert dict(g.start_activities) == {"a": 3}
    assert dict(g.end_activities) == {"c": 2, "a": 1}
    assert [(v.activities, v.count) for v in g.variants] == [
        (("a",), 1),
        (("a", "b", "c"), 1),
        (("a", "c"), 1),
    ]
    assert sum(v.share for v in g.variants) == pytest.approx(1.0)


def test_equal_timestamps_keep_file_order() -> None:
    frame = pd.DataFrame(
        {
            "case": ["1", "1", "1"],
            "activity": ["x", "y", "z"],
            "timestamp": ["2024-01-01 00:00"] * 3,
        }
    )
    assert discover(read_frame(frame)).dfg() == {("x", "y"): 1, ("y", "z"): 1}


def test_p90_matches_pandas() -> None:
    durations = [60, 120, 180, 600, 3600]
    rows = []
    for i, d in enumerate(durations):
        rows.append((str(i), "a", pd.Timestamp("2024-01-01")))
        rows.append((str(i), "b", pd.Timestamp("2024-01-01") + pd.Timedelta(seconds=d)))
    g = discover(read_frame(pd.DataFrame(rows, columns=["case", "activity", "timestamp"])))
    [edge] = g.edges
    assert edge.p90_seconds == pytest.approx(pd.Series(durations).quantile(0.9))


def test_running_example_xes_equals_pm4py() -> None:
    path = shared("pm4py-tests/xes/running-example.xes")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = _pm4py().read_xes(str(path), show_progress_bar=False)
    _assert_same_as_pm4py(discover(read_log(path)), frame)


@pytest.mark.parametrize("name", ["receipt.csv", "receipt.parquet"])
def test_receipt_read_by_duckdb_equals_pm4py(name: str) -> None:
    path = shared(f"pm4py-tests/csv_parquet/{name}")
    raw = pd.read_csv(path) if name.endswith(".csv") else pd.read_parquet(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = _pm4py().format_dataframe(
            raw,
            case_id="case:concept:name",
            activity_key="concept:name",
            timestamp_key="time:timestamp",
        )
    _assert_same_as_pm4py(discover(read_log(path)), frame)


def test_helpdesk_equals_pm4py() -> None:
    path = shared("pm4py-tests/xes/helpdesk.xes.gz")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = _pm4py().read_xes(str(path), show_progress_bar=False)
    _assert_same_as_pm4py(discover(read_log(path)), frame)


@pytest.mark.slow
def test_bpic2012_equals_pm4py(bpic2012: pd.DataFrame) -> None:
    # BPIC 2012 has many events with equal timestamps inside a case: the order of ties is
    # what makes or breaks equality with pm4py.
    graph = discover(read_frame(bpic2012, columns=XES_COLUMNS))
    assert graph.events == 262_200 and graph.cases == 13_087
    _assert_same_as_pm4py(graph, bpic2012)


def test_graph_to_dict_and_frames() -> None:
    frame = pd.DataFrame(
        {
            "case": ["1", "1"],
            "activity": ["a", "b"],
            "timestamp": ["2024-01-01 00:00", "2024-01-01 00:10"],
        }
    )
    g = discover(read_frame(frame))
    data = g.to_dict()
    assert data["variants"]["count"] == 1 and data["edges"][0]["count"] == 1
    assert list(g.edges_frame().columns)[:3] == ["source", "target", "count"]
    assert g.variants.to_pandas().shape == (1, 3)
