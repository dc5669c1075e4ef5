# SPDX-License-Identifier: AGPL-3.0-or-later
"""The streaming XES reader against pm4py's reader, the oracle: same columns, same values.

Every XES log of pm4py's own test data in ../shared/data (real logs: BPIC 2012, 2013, 2019,
2020, helpdesk, receipts, road traffic, sepsis, billing, ...) is read by both; a file built
here covers what those logs lack (every value type, trace attributes after the events, a
key repeated in one event, mixed types, dates with offsets).
"""

from __future__ import annotations

import gzip
import math
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import SHARED_DATA

from procmine import read_log
from procmine.errors import LogValidationError
from procmine.io import xes as xes_module
from procmine.io.xes import read_xes_table

#: Samples of logs the corpus also holds whole (bpic2012) or that add nothing but minutes.
_SAME_AGAIN = {"16_bpic2019_1t_per_variant.xes.gz", "17_bpic2012_1t_per_variant.xes.gz"}
CORPUS = sorted(
    p
    for pattern in ("pm4py-tests/xes/*.xes*", "pm4py-tests/compressed_xes/*.xes*")
    for p in SHARED_DATA.glob(pattern)
    if p.name not in _SAME_AGAIN
)


def _pm4py_frame(path: Path) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py

        frame: pd.DataFrame = pm4py.read_xes(str(path), show_progress_bar=False)
    return frame


def _ours(path: Path) -> pd.DataFrame:
    read = read_xes_table(path, compressed=path.name.endswith(".gz"))
    frame = read.table.to_pandas()
    for column in read.dates:
        frame[column] = pd.to_datetime(frame[column], utc=True, format="ISO8601")
    return frame


def _value(v: Any) -> Any:
    """A cell comparable across both readers (pm4py turns ints into floats)."""
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.tz_convert("UTC").to_pydatetime()
    if isinstance(v, bool):
        return v
    if isinstance(v, int | float):
        return float(v)
    return v


def _assert_same(ours: pd.DataFrame, theirs: pd.DataFrame, *, skip: tuple[str, ...] = ()) -> None:
    assert set(ours.columns) - set(skip) == set(theirs.columns) - set(skip)
    assert len(ours) == len(theirs)
    for column in set(ours.columns) - set(skip):
        a = [_value(v) for v in ours[column].tolist()]
        b = [_value(v) for v in theirs[column].tolist()]
        assert a == b, column


@pytest.mark.parametrize("path", CORPUS, ids=[p.name for p in CORPUS])
def test_every_real_log_reads_as_pm4py_reads_it(path: Path) -> None:
    try:
        theirs = _pm4py_frame(path)
    except Exception:
        pytest.skip("pm4py itself cannot read it")
    if theirs.empty or "concept:name" not in theirs:
        pytest.skip("a conformance fixture without events")
    # Nested attributes: pm4py keeps a {'value', 'children'} dict or a list; procmine keeps
    # the plain value and leaves lists out.
    nested = {
        c for c in theirs.columns if theirs[c].map(lambda v: isinstance(v, dict | list)).any()
    }
    try:
        ours = _ours(path)
    except LogValidationError:
        pytest.skip("refused for an empty trace, which pm4py drops silently")
    _assert_same(
        ours.drop(columns=[c for c in nested if c in ours]), theirs.drop(columns=list(nested))
    )


def test_the_corpus_is_there_or_skipped() -> None:
    if not CORPUS:
        pytest.skip("shared data not available: pm4py-tests")
    assert any(p.name == "bpic2012.xes.gz" for p in CORPUS)


XES = """<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <string key="concept:name" value="built here"/>
  <global scope="event"><string key="concept:name" value="unknown"/></global>
  <trace>
    <string key="concept:name" value="A"/>
    <int key="priority" value="3"/>
    <event>
      <string key="concept:name" value="Order placed"/>
      <date key="time:timestamp" value="2024-03-01T10:00:00.250+01:00"/>
      <float key="amount" value="80.5"/>
      <int key="items" value="2"/>
      <boolean key="gift" value="true"/>
      <id key="ref" value="x-1"/>
      <string key="note" value="first"/>
      <string key="note" value="second"/>
    </event>
    <event>
      <string key="concept:name" value="Order cancelled"/>
      <date key="time:timestamp" value="2024-03-01T12:00:00Z"/>
      <int key="amount" value="7"/>
      <boolean key="gift" value="false"/>
      <string key="items" value="many"/>
    </event>
    <date key="opened" value="2024-02-29T23:00:00"/>
  </trace>
  <trace>
    <string key="concept:name" value="B"/>
    <event>
      <string key="concept:name" value="Order placed"/>
      <date key="time:timestamp" value="2024-03-02T09:00:00+00:00"/>
    </event>
  </trace>
</log>
"""


def test_every_value_type_reads_as_pm4py_reads_it(tmp_path: Path) -> None:
    path = tmp_path / "built.xes.gz"
    path.write_bytes(gzip.compress(XES.encode()))
    ours, theirs = _ours(path), _pm4py_frame(path)
    # A key holding an int and a text: pm4py keeps a column of Python objects, procmine
    # the text of each (a column has one type).
    _assert_same(ours, theirs, skip=("items",))
    assert [_value(v) for v in ours["items"]] == ["2", "many", None]
    assert [_value(v) for v in theirs["items"]] == [2.0, "many", None]
    read = read_xes_table(path, compressed=True)
    types = {f.name: str(f.type) for f in read.table.schema}
    assert types["amount"] == "double"  # int and float in one key
    assert types["items"] == "string"  # int and text in one key
    assert types["gift"] == "bool"
    assert read.dates == {"time:timestamp", "case:opened"}
    # the last value of a repeated key
    assert [_value(v) for v in ours["note"]] == ["second", None, None]


def test_chunks_join_into_one_table(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Types settled per chunk must agree in the end: a key that is int in one chunk and
    # float or absent in another.
    monkeypatch.setattr(xes_module, "CHUNK_EVENTS", 1)
    path = tmp_path / "built.xes"
    path.write_text(XES)
    ours = _ours(path)
    _assert_same(ours, _pm4py_frame(path), skip=("items",))
    assert [_value(v) for v in ours["items"]] == ["2", "many", None]


def test_a_log_read_from_xes_is_mapped_as_before(tmp_path: Path) -> None:
    path = tmp_path / "built.xes"
    path.write_text(XES)
    log = read_log(path)
    assert log.mapping.get("case") == "case:concept:name"
    assert log.mapping.get("timestamp") == "time:timestamp"
    rows = log.to_pandas()[["case_id", "activity", "ts"]].values.tolist()
    assert [r[:2] for r in rows] == [
        ["A", "Order placed"],
        ["A", "Order cancelled"],
        ["B", "Order placed"],
    ]
    # 10:00:00.250 at +01:00 is 09:00:00.250 UTC
    assert rows[0][2] == pd.Timestamp("2024-03-01 09:00:00.250")


def test_a_date_that_is_not_a_date_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.xes"
    path.write_text(XES.replace("2024-03-01T12:00:00Z", "yesterday"))
    with pytest.raises(LogValidationError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.column == "time:timestamp" and problem.value == "yesterday"
    assert "event 2 has a date attribute 'time:timestamp' that is not a date" in problem.message
