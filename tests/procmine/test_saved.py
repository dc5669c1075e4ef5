# SPDX-License-Identifier: AGPL-3.0-or-later
"""Saved logs: a round trip keeps everything, and a folder is complete or absent."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from factories import ocel_document

from procmine import (
    ConfigError,
    LogFormatError,
    OutputError,
    ReadOptions,
    analyze,
    open_saved_log,
    preview,
    read_log,
    save_log,
)
from procmine.io.canonical import SEQUENCE_COLUMNS

ROOT = Path(__file__).resolve().parents[2]


def test_a_saved_log_analyses_exactly_like_the_original(tmp_path: Path) -> None:
    log = read_log(ROOT / "sample_logs" / "orders.csv")
    folder = save_log(log, tmp_path / "saved")
    again = open_saved_log(folder)
    assert again.stats == log.stats
    assert again.mapping == log.mapping
    assert again.roles == log.roles
    assert again.source == log.source
    assert again.warnings == log.warnings
    assert again.to_pandas().equals(log.to_pandas())
    a, b = analyze(log), analyze(again)
    assert [(f.id, len(f.instances), f.severity) for f in a.findings] == [
        (f.id, len(f.instances), f.severity) for f in b.findings
    ]


def test_a_log_saved_before_events_were_placed_in_their_cases_still_opens(
    tmp_path: Path,
) -> None:
    # An older procmine saved the events without pos, prev/next activity and next time:
    # they are computed when the folder is opened, and the analysis is the same.
    log = read_log(ROOT / "sample_logs" / "orders.csv")
    folder = save_log(log, tmp_path / "saved")
    events = folder / "events.parquet"
    old = pq.read_table(events).drop_columns(list(SEQUENCE_COLUMNS))
    pq.write_table(old, events)
    a = analyze(log)
    for materialize in (False, True):
        again = open_saved_log(folder, materialize=materialize)
        assert set(SEQUENCE_COLUMNS) <= set(again.events().columns)
        b = analyze(again)
        assert a.graph.dfg() == b.graph.dfg()
        assert [(f.id, len(f.instances), f.severity) for f in a.findings] == [
            (f.id, len(f.instances), f.severity) for f in b.findings
        ]


def test_the_items_of_an_ocel_log_are_saved_too(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonocel"
    path.write_text(json.dumps(ocel_document()))
    log = read_log(path)
    assert log.items_table_name is not None
    again = open_saved_log(save_log(log, tmp_path / "saved"), materialize=True)
    assert again.items_table_name is not None
    assert [f.id for f in analyze(again).findings] == [f.id for f in analyze(log).findings]


def test_saving_never_overwrites_and_never_leaves_a_partial_folder(tmp_path: Path) -> None:
    log = read_log(ROOT / "sample_logs" / "orders.csv")
    save_log(log, tmp_path / "saved")
    with pytest.raises(OutputError, match="already exists"):
        save_log(log, tmp_path / "saved")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved"]


def test_a_folder_that_is_not_a_saved_log_is_refused(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError, match="not a saved procmine log"):
        open_saved_log(tmp_path)
    (tmp_path / "log.json").write_text('{"format_version": 99}')
    with pytest.raises(LogFormatError, match="version 99"):
        open_saved_log(tmp_path)


def test_preview_shows_the_first_rows_in_file_order_and_every_activity() -> None:
    log = read_log(ROOT / "sample_logs" / "orders.csv")
    p = preview(log, rows=3)
    first_lines = (ROOT / "sample_logs" / "orders.csv").read_text().splitlines()[1:4]
    assert [r["case"] for r in p.rows] == [line.split(",")[0] for line in first_lines]
    assert sum(a.count for a in p.activities) == log.stats.events
    assert {a.label for a in p.activities} == set(log.roles.activities)
    assert p.to_dict()["mapping"]["available"][:3] == ["order_id", "customer_id", "activity"]


def test_a_delimiter_must_be_one_character() -> None:
    with pytest.raises(ConfigError, match="one character"):
        ReadOptions(delimiter="")
    with pytest.raises(ConfigError, match="one character"):
        ReadOptions(delimiter=";;")
