# SPDX-License-Identifier: AGPL-3.0-or-later
"""Hostile and broken files: each gets the library's typed error, quickly and in bounded
memory, never a crash (a segfault took down the whole process before the XML guard)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from factories import ocel_document

from procmine import LogFormatError, LogValidationError, read_log
from procmine.errors import ProblemCode
from procmine.io import MAX_ACTIVITIES
from procmine.io.peek import peek_log
from procmine.io.tabular import MAX_LINE_BYTES
from procmine.io.xes_check import MAX_TOKEN_BYTES


def _xes_with_value(path: Path, size: int) -> Path:
    with gzip.open(path, "wb", compresslevel=1) as fh:
        fh.write(b'<?xml version="1.0"?><log xes.version="1.0"><trace>')
        fh.write(b'<string key="concept:name" value="')
        chunk = b"A" * (1 << 20)
        for _ in range(size >> 20):
            fh.write(chunk)
        fh.write(b'"/></trace></log>')
    return path


def test_a_gzip_bomb_with_one_huge_value_is_refused_before_the_parser_buffers_it(
    tmp_path: Path,
) -> None:
    # 64 MiB of one attribute value in a file of a few hundred KB. Before the guard, libxml2
    # buffered all of it and, at 2 GiB, crashed the process.
    path = _xes_with_value(tmp_path / "bomb.xes.gz", 64 << 20)
    assert path.stat().st_size < 1 << 20
    for read in (read_log, peek_log):
        with pytest.raises(LogFormatError, match=f"longer than {MAX_TOKEN_BYTES:,} bytes"):
            read(path)


def test_entities_are_refused_in_xes_and_ocel_xml(tmp_path: Path) -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
    )
    xes = tmp_path / "laughs.xes"
    xes.write_text(laughs + '<log><trace><string key="concept:name" value="&lol2;"/></trace></log>')
    with pytest.raises(LogFormatError, match="declares a DTD or entities"):
        read_log(xes)
    xxe = tmp_path / "xxe.xmlocel"
    xxe.write_text(
        '<?xml version="1.0"?><!DOCTYPE log [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        "<log><object-types/><event-types/><objects/><events/></log>"
    )
    with pytest.raises(LogFormatError, match="OCEL XML file declares a DTD"):
        read_log(xxe)


@pytest.mark.parametrize("size", [3_000_000, 40_000_000])
def test_a_csv_line_too_long_is_said_to_be_too_long(tmp_path: Path, size: int) -> None:
    # DuckDB names the short case a line-size overflow, the long one an "unterminated quote";
    # both are one over-long value, and the message says so.
    path = tmp_path / "long.csv"
    with path.open("w") as fh:
        fh.write("order_id,activity,timestamp\nA,placed,2024-01-01 10:00\n")
        fh.write('B,"' + "x" * size + '",2024-01-01 11:00\n')
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.line == 3
    assert f"longer than {MAX_LINE_BYTES:,} bytes" in problem.message


def test_parquet_with_a_timestamp_column_of_the_wrong_type(tmp_path: Path) -> None:
    path = tmp_path / "types.parquet"
    pd.DataFrame(
        {"order_id": [1, 2], "activity": ["a", "b"], "timestamp": [True, False]}
    ).to_parquet(path)
    with pytest.raises(LogValidationError) as info:
        read_log(path)
    assert info.value.problems[0].column == "timestamp"
    assert "BOOLEAN" in info.value.problems[0].message


def test_a_file_whose_extension_lies_is_read_by_its_content(tmp_path: Path) -> None:
    lying = tmp_path / "orders.parquet"
    lying.write_text("order_id,activity,timestamp\nA,placed,2024-01-01 10:00\n")
    assert read_log(lying).source.format == "CSV"
    ocel = tmp_path / "orders.csv"
    ocel.write_text(json.dumps(ocel_document()))
    assert read_log(ocel).source.format.startswith("OCEL 2.0")


def test_an_activity_column_with_too_many_values_is_refused(tmp_path: Path) -> None:
    n = MAX_ACTIVITIES + 1
    path = tmp_path / "ids.parquet"
    pd.DataFrame(
        {
            "order_id": [f"o{i % 1000}" for i in range(n)],
            "activity": [f"event-{i}" for i in range(n)],
            "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(range(n), unit="s"),
        }
    ).to_parquet(path)
    with pytest.raises(LogValidationError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.code == ProblemCode.TOO_MANY_ACTIVITIES
    assert problem.field == "activity" and problem.column == "activity" and problem.count == n


def test_one_case_with_a_hundred_thousand_events_is_read(tmp_path: Path) -> None:
    path = tmp_path / "long.parquet"
    n = 100_000
    pd.DataFrame(
        {
            "order_id": ["big"] * n,
            "activity": ["Order placed", "Customer contact"] * (n // 2),
            "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(range(n), unit="s"),
        }
    ).to_parquet(path)
    log = read_log(path)
    assert (log.stats.events, log.stats.cases) == (n, 1)


def test_ocel_references_to_objects_that_do_not_exist_are_ignored(tmp_path: Path) -> None:
    doc = ocel_document()
    doc["events"].append(
        {
            "id": "e-dangling",
            "type": "cancel order",
            "time": "2024-03-02T10:00:00Z",
            "attributes": [],
            "relationships": [{"objectId": "o-missing", "qualifier": "order"}],
        }
    )
    doc["objects"][0]["relationships"].append({"objectId": "ghost", "qualifier": "places"})
    path = tmp_path / "dangling.jsonocel"
    path.write_text(json.dumps(doc))
    plain = tmp_path / "plain.jsonocel"
    plain.write_text(json.dumps(ocel_document()))
    # pm4py's reader drops them; the event with only a missing order is in no case.
    log, reference = read_log(path), read_log(plain)
    assert log.stats == reference.stats
