# SPDX-License-Identifier: AGPL-3.0-or-later
"""The activity columns are stored as an ENUM in text order: a byte per event, and every
query, ordering and result reads as it would with text."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from procmine import analyze, discover, read_log
from procmine._sql import fetch_all
from procmine.engine import Engine
from procmine.io.saved import open_saved_log, save_log

# Text order differs from the order of first appearance; a quote, a non-ASCII letter and
# upper/lower case test the type's creation and its order.
NAMES = ["zeta step", "Order placed", "O'Brien's check", "Ärger", "alpha", "Order cancelled"]


def _log_file(tmp_path: Path, extra: int = 0) -> Path:
    rows = []
    names = NAMES + [f"step {i:03d}" for i in range(extra)]
    for case in range(40):
        for i, name in enumerate(names[case % 3 :] if not extra else names):
            ts = f"2024-03-01 10:{i // 60:02d}:{i % 60:02d}"
            rows.append((f"o{case}", f"c{case % 7}", name, ts))
    path = tmp_path / "log.csv"
    pd.DataFrame(rows, columns=["order_id", "customer", "activity", "timestamp"]).to_csv(
        path, index=False
    )
    return path


def test_activities_are_an_enum_in_text_order(tmp_path: Path, engine: Engine) -> None:
    log = read_log(_log_file(tmp_path), engine=engine)
    table = log.table_name
    kinds = fetch_all(
        engine.raw,
        f"SELECT DISTINCT typeof(activity), typeof(prev_activity), typeof(next_activity) "
        f"FROM {table}",
    )
    assert len(kinds) == 1 and len(set(kinds[0])) == 1
    enum = kinds[0][0]
    assert enum.startswith("ENUM(")
    (values,) = fetch_all(engine.raw, f"SELECT enum_range(NULL::{enum})")[0]
    assert list(values) == sorted(NAMES)  # text (byte) order, not first appearance
    by_enum = fetch_all(engine.raw, f"SELECT DISTINCT activity FROM {table} ORDER BY activity")
    by_text = fetch_all(
        engine.raw, f"SELECT DISTINCT activity::VARCHAR AS a FROM {table} ORDER BY a"
    )
    assert [r[0] for r in by_enum] == [r[0] for r in by_text]
    # Python sees text, as before.
    frame = log.to_pandas()
    assert set(frame["activity"]) == set(NAMES)
    assert all(isinstance(v, str) for v in frame["activity"])
    assert {a.name for a in discover(log).activities} == set(NAMES)


def test_more_than_255_activities_and_a_whole_analysis(tmp_path: Path, engine: Engine) -> None:
    log = read_log(_log_file(tmp_path, extra=300), engine=engine)
    graph = discover(log)
    assert len(graph.activities) == len(NAMES) + 300
    assert graph.variants.table.num_rows == 1
    assert analyze(log).findings  # every detector runs over the ENUM columns


def test_a_saved_log_opened_for_analysis_has_the_enum_and_the_same_results(
    tmp_path: Path, engine: Engine
) -> None:
    log = read_log(_log_file(tmp_path), engine=engine)
    save_log(log, tmp_path / "saved")
    opened = open_saved_log(tmp_path / "saved", engine=engine, materialize=True)
    kinds = fetch_all(engine.raw, f"SELECT DISTINCT typeof(next_activity) FROM {opened.table_name}")
    assert [k[0][:5] for k in kinds] == ["ENUM("]
    assert discover(opened).to_dict() == discover(log).to_dict()


def _activity_types(engine: Engine) -> list[str]:
    rows = fetch_all(
        engine.raw, "SELECT type_name FROM duckdb_types() WHERE type_name LIKE '_pm_activity_%'"
    )
    return [r[0] for r in rows]


def test_an_engine_reading_many_logs_keeps_no_type_per_log(tmp_path: Path, engine: Engine) -> None:
    # The service and notebooks read log after log into one engine: each read made a type,
    # and the catalog grew by one per log. The columns keep their ENUM without the type.
    path = _log_file(tmp_path)
    logs = [read_log(path, engine=engine) for _ in range(3)]
    save_log(logs[0], tmp_path / "saved")
    opened = open_saved_log(tmp_path / "saved", engine=engine, materialize=True)
    assert _activity_types(engine) == []
    for log in [*logs, opened]:
        (kind,) = fetch_all(engine.raw, f"SELECT DISTINCT typeof(activity) FROM {log.table_name}")
        assert kind[0].startswith("ENUM(")
    # Tables derived from a log's events (a period, the detectors' tables) still work.
    first = discover(logs[0]).to_dict()
    assert discover(logs[2]).to_dict() == first == discover(opened).to_dict()
    assert [f.id for f in analyze(logs[1]).findings] == [f.id for f in analyze(opened).findings]


def test_a_log_saved_before_events_were_placed_opens_with_the_enum(
    tmp_path: Path, engine: Engine
) -> None:
    import pyarrow.parquet as pq

    from procmine.io.canonical import SEQUENCE_COLUMNS

    log = read_log(_log_file(tmp_path), engine=engine)
    folder = save_log(log, tmp_path / "saved")
    events = folder / "events.parquet"
    pq.write_table(pq.read_table(events).drop_columns(list(SEQUENCE_COLUMNS)), events)
    opened = open_saved_log(folder, engine=engine, materialize=True)
    kinds = fetch_all(
        engine.raw,
        f"SELECT DISTINCT typeof(activity), typeof(prev_activity), typeof(next_activity) "
        f"FROM {opened.table_name}",
    )
    assert len(kinds) == 1 and len(set(kinds[0])) == 1 and kinds[0][0].startswith("ENUM(")
    assert discover(opened).to_dict() == discover(log).to_dict()
