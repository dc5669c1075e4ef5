# SPDX-License-Identifier: AGPL-3.0-or-later
"""Parquet, XES (.xes, .xes.gz) and content-based format recognition."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import shared

from procmine import LogFormatError, LogValidationError, ReadOptions, read_log
from procmine.errors import ProblemCode
from procmine.io.sniff import sniff_format


def _xes(traces: list[tuple[str, list[tuple[str, str]]]], *, customer: bool = True) -> str:
    parts = [
        '<?xml version="1.0" encoding="UTF-8" ?>',
        '<log xes.version="1.0" xmlns="http://www.xes-standard.org/">',
    ]
    for name, events in traces:
        parts.append(f'<trace><string key="concept:name" value="{name}"/>')
        if customer:
            parts.append(f'<string key="customer" value="cust-{name}"/>')
        for activity, ts in events:
            parts.append(
                f'<event><string key="concept:name" value="{activity}"/>'
                f'<date key="time:timestamp" value="{ts}"/></event>'
            )
        parts.append("</trace>")
    parts.append("</log>")
    return "\n".join(parts)


TRACES = [
    (
        "o1",
        [
            ("Order placed", "2024-01-01T10:00:00+01:00"),
            ("Order cancelled", "2024-01-01T12:00:00+01:00"),
        ],
    ),
    (
        "o2",
        [("Order placed", "2024-01-02T10:00:00+01:00"), ("Shipped", "2024-01-03T10:00:00+01:00")],
    ),
]


def test_xes_and_xes_gz(tmp_path: Path) -> None:
    plain = tmp_path / "log.xes"
    plain.write_text(_xes(TRACES))
    packed = tmp_path / "log.xes.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    for path in (plain, packed):
        log = read_log(path)
        assert (log.stats.events, log.stats.cases) == (4, 2)
        assert log.mapping.get("case") == "case:concept:name"
        assert log.mapping.get("customer") == "case:customer"
        assert log.stats.customers == 2
        first = log.to_pandas().iloc[0]
        assert first["ts"].to_pydatetime() == dt.datetime(2024, 1, 1, 9, 0)  # UTC
    assert sniff_format(packed).compressed


def test_truncated_xes_names_the_line(tmp_path: Path) -> None:
    text = _xes(TRACES)
    path = tmp_path / "cut.xes"
    path.write_text(text[: len(text) // 2])
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.MALFORMED_FILE
    assert "truncated" in problem.message and problem.line is not None


def test_truncated_gzip_is_reported(tmp_path: Path) -> None:
    data = gzip.compress(_xes(TRACES * 50).encode())
    path = tmp_path / "cut.xes.gz"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert info.value.problems[0].code is ProblemCode.MALFORMED_FILE


def test_malformed_xml_is_reported_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.xes"
    path.write_text(
        _xes(TRACES).replace(
            '<event><string key="concept:name" value="Shipped"/>',
            '<event><string key="concept:name" value="Shipped>',
            1,
        )
    )
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert "malformed" in info.value.problems[0].message
    assert "column" in info.value.problems[0].message


def test_xes_with_entities_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bomb.xes"
    path.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE log [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n'
        '<log><trace><event><string key="concept:name" value="&b;"/></event></trace></log>'
    )
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert "DTD or entities" in info.value.problems[0].message


def test_a_trace_without_events_is_named(tmp_path: Path) -> None:
    path = tmp_path / "empty-trace.xes"
    path.write_text(_xes([*TRACES, ("o3", [])]))
    with pytest.raises(LogValidationError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.EMPTY_CASE and problem.value == "o3"
    log = read_log(path, options=ReadOptions(skip_invalid_rows=True))
    assert log.stats.cases == 2
    assert any(w.code is ProblemCode.EMPTY_CASE for w in log.warnings)


def test_an_xes_without_traces_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "none.xes"
    path.write_text(_xes([]))
    with pytest.raises(LogValidationError) as info:
        read_log(path)
    assert info.value.problems[0].code is ProblemCode.EMPTY_LOG


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "other.xes",
            "<?xml version='1.0'?><catalog><book/></catalog>",
            "root element is <catalog>",
        ),
        (
            "old.jsonocel",
            '{"ocel:global-log": {"ocel:version": "1.0"}, "ocel:events": {}}',
            "OCEL 1.0",
        ),
        ("data.json", '{"rows": [1, 2]}', "not an OCEL 2.0 log"),
    ],
)
def test_files_of_another_kind_are_refused_with_a_reason(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert message in info.value.problems[0].message


@pytest.mark.parametrize(
    "name", ["dateIncorrectValue.xes", "noLog.xes", "elementIncorrect.xes", "traceOutOfPlace.xes"]
)
def test_broken_xes_edge_cases_from_pm4py_give_a_clear_error(name: str) -> None:
    path = shared(f"pm4py-tests/xes_importer_edge_cases/{name}")
    with pytest.raises((LogFormatError, LogValidationError)) as info:
        read_log(path)
    assert info.value.problems and info.value.problems[0].message


def test_parquet_with_typed_and_text_timestamps(tmp_path: Path) -> None:
    typed = pa.table(
        {
            "order_id": ["A", "A"],
            "activity": ["Order placed", "Shipped"],
            "timestamp": pa.array(
                [dt.datetime(2024, 1, 1, 10), dt.datetime(2024, 1, 2, 10)], pa.timestamp("ms")
            ),
            "amount": pa.array([12, None], pa.int32()),
        }
    )
    pq.write_table(typed, tmp_path / "typed.parquet")
    log = read_log(tmp_path / "typed.parquet")
    assert log.source.timestamp_format == "timestamp"
    assert log.to_pandas()["amount"].tolist()[0] == 12.0
    text = typed.set_column(2, "timestamp", pa.array(["2024-01-01 10:00", "2024-01-02 10:00"]))
    pq.write_table(text, tmp_path / "text.parquet")
    assert read_log(tmp_path / "text.parquet").source.timestamp_format == "ISO 8601"


def test_content_wins_over_a_lying_extension(tmp_path: Path) -> None:
    path = tmp_path / "really-parquet.csv"
    pq.write_table(pa.table({"case": ["1"], "activity": ["a"], "timestamp": ["2024-01-01"]}), path)
    assert sniff_format(path).kind == "parquet"
    assert read_log(path).stats.events == 1


def test_binary_garbage_and_declared_formats(tmp_path: Path) -> None:
    junk = tmp_path / "x.csv"
    junk.write_bytes(bytes(range(256)) * 10)
    with pytest.raises(LogFormatError) as info:
        read_log(junk)
    assert info.value.problems[0].code is ProblemCode.UNKNOWN_FORMAT
    text = tmp_path / "y.xes"
    text.write_text("a,b,c\n1,2,3\n")
    with pytest.raises(LogFormatError):
        read_log(text, options=ReadOptions(format="xes"))
    with pytest.raises(LogFormatError):
        read_log(text, options=ReadOptions(format="excel"))


def test_not_a_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.parquet"
    path.write_bytes(b"PAR1" + b"\x00" * 64)
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert "not a readable Parquet file" in info.value.problems[0].message


@pytest.mark.parametrize(
    "relative",
    [
        "pm4py-tests/xes/running-example.xes",
        "pm4py-tests/compressed_xes/01_running-example.xes.gz",
        "pm4py-tests/csv_parquet/running-example.csv",
        "pm4py-tests/csv_parquet/running-example.parquet",
    ],
)
def test_the_running_example_reads_the_same_in_every_format(relative: str) -> None:
    log = read_log(shared(relative))
    assert (log.stats.events, log.stats.cases, log.stats.activities) == (42, 6, 8)
