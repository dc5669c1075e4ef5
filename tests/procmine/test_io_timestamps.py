# SPDX-License-Identifier: AGPL-3.0-or-later
"""Timestamp columns: one format per column, detected, verified on every row."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from procmine import ColumnMapping, LogValidationError, ReadOptions, read_log
from procmine.errors import ProblemCode
from procmine.io.timestamps import ISO, parse_expression


def _log_of(tmp_csv, values: list[str], **kwargs):  # type: ignore[no-untyped-def]
    lines = "".join(f"C{i},step{i},{v}\n" for i, v in enumerate(values))
    return read_log(tmp_csv("case,activity,timestamp\n" + lines), **kwargs)


def _times(log) -> list[dt.datetime]:  # type: ignore[no-untyped-def]
    frame = log.to_pandas().sort_values("row")
    return [t.to_pydatetime() for t in frame["ts"]]


def test_iso_with_offsets_is_converted_to_utc(tmp_csv) -> None:
    log = _log_of(
        tmp_csv,
        ["2010-12-30 14:32:00+01:00", "2011-06-30T14:32:00.250+02:00", "2011-07-01T00:00:00Z"],
    )
    assert log.source.timestamp_format == "ISO 8601"
    assert _times(log) == [
        dt.datetime(2010, 12, 30, 13, 32),
        dt.datetime(2011, 6, 30, 12, 32, 0, 250000),
        dt.datetime(2011, 7, 1, 0, 0),
    ]


@pytest.mark.parametrize(
    "value",
    [
        " 2024-03-01 10:00",
        "2024-03-01 10:00 ",
        "2024-03-01",
        "2024-03-01T10:00:00.123456",
        "2024-3-1 10:00",
        "2024-03-01 24:00",
        "2024-02-30 10:00",
        "2024-03-01 10:00:00+02",
        "2024-03-01T10:00Z",
        "2024-03-01 10:00 Etc/GMT-1",
        "2024-03-01 10:00:00 UTC",
    ],
)
def test_iso_values_without_an_offset_read_as_with_the_zone_aware_cast(value: str) -> None:
    # The reader casts values that cannot carry an offset as plain timestamps (faster); the
    # result must be what the zone-aware cast, used for the rest, gives.
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    fast = con.execute(f"SELECT {parse_expression('x', ISO)} FROM (SELECT ? AS x)", [value])
    got = fast.fetchone()
    zoned = con.execute(
        "SELECT timezone('UTC', try_cast(trim(x) AS TIMESTAMPTZ)) FROM (SELECT ? AS x)", [value]
    ).fetchone()
    assert got == zoned


@pytest.mark.parametrize(
    ("values", "fmt", "expected"),
    [
        (
            ["25/12/2024 18:30", "01/02/2024 07:05"],
            "%d/%m/%Y %H:%M",
            dt.datetime(2024, 12, 25, 18, 30),
        ),
        (["12/25/2024 6:30", "1/2/2024 7:05"], "%m/%d/%Y %H:%M", dt.datetime(2024, 12, 25, 6, 30)),
        (["25.12.2024", "01.02.2024"], "%d.%m.%Y", dt.datetime(2024, 12, 25)),
        (["20241225183000", "20240102070500"], "%Y%m%d%H%M%S", dt.datetime(2024, 12, 25, 18, 30)),
        (["1735151400", "1704179100"], "epoch seconds", dt.datetime(2024, 12, 25, 18, 30)),
        (
            ["1735151400000", "1704179100000"],
            "epoch milliseconds",
            dt.datetime(2024, 12, 25, 18, 30),
        ),
    ],
)
def test_common_formats_are_detected(tmp_csv, values, fmt, expected) -> None:  # type: ignore[no-untyped-def]
    log = _log_of(tmp_csv, values)
    assert log.source.timestamp_format == fmt
    assert _times(log)[0] == expected


def test_day_month_ambiguity_is_reported(tmp_csv) -> None:
    log = _log_of(tmp_csv, ["01/02/2024 10:00", "03/04/2024 10:00"])
    warning = next(w for w in log.warnings if w.code is ProblemCode.AMBIGUOUS_TIMESTAMP_FORMAT)
    assert "%d/%m/%Y %H:%M" in warning.message and "%m/%d/%Y %H:%M" in warning.message
    assert _times(log)[0] == dt.datetime(2024, 2, 1, 10, 0)
    explicit = _log_of(
        tmp_csv,
        ["01/02/2024 10:00", "03/04/2024 10:00"],
        columns=ColumnMapping(timestamp_format="%m/%d/%Y %H:%M"),
    )
    assert _times(explicit)[0] == dt.datetime(2024, 1, 2, 10, 0)
    assert not explicit.warnings


def test_mixed_formats_are_refused_with_rows_and_formats(tmp_csv) -> None:
    values = ["2024-01-05 10:00"] * 30 + ["25/01/2024 10:00", "26/01/2024 11:00"]
    with pytest.raises(LogValidationError) as info:
        _log_of(tmp_csv, values)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.MIXED_TIMESTAMP_FORMATS
    assert problem.count == 2 and problem.line == 32 and problem.value == "25/01/2024 10:00"
    assert "'%d/%m/%Y %H:%M' (2 rows)" in problem.message


def test_unparseable_values_are_listed(tmp_csv) -> None:
    values = ["2024-01-05 10:00", "yesterday", "2024-01-06 10:00", "soon"]
    with pytest.raises(LogValidationError) as info:
        _log_of(tmp_csv, values)
    problems = info.value.problems
    assert problems[0].code is ProblemCode.UNPARSEABLE_TIMESTAMP
    assert problems[0].count == 2
    assert [(p.line, p.value) for p in problems] == [(3, "yesterday"), (5, "soon")]
    log = _log_of(tmp_csv, values, options=ReadOptions(skip_invalid_rows=True))
    assert log.stats.events == 2


def test_mixing_values_with_and_without_offset_is_refused(tmp_csv) -> None:
    values = ["2024-01-05 10:00:00+01:00"] * 5 + ["2024-01-05 10:30:00"]
    with pytest.raises(LogValidationError) as info:
        _log_of(tmp_csv, values)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.MIXED_TIMEZONES
    assert problem.line == 7 and problem.count == 1


@pytest.mark.parametrize("offset", ["Z", "+01:00", "-0500", "+01"])
def test_a_date_alone_is_no_offset_beside_offset_times(tmp_csv, offset) -> None:
    # "2024-01-05" ends in "-05", which is a date, not a UTC offset: beside local times it
    # reads as they do, beside times with an offset it is the odd one out.
    log = _log_of(tmp_csv, ["2024-01-05", "2024-01-05 10:30:00", "2024-01-06 08:00"])
    assert log.stats.events == 3
    with pytest.raises(LogValidationError) as info:
        _log_of(tmp_csv, ["2024-01-05", *[f"2024-01-05 10:0{i}:00{offset}" for i in range(3)]])
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.MIXED_TIMEZONES
    assert problem.line == 2 and problem.count == 1


def test_explicit_format_that_does_not_fit(tmp_csv) -> None:
    with pytest.raises(LogValidationError) as info:
        _log_of(tmp_csv, ["2024-01-05"], columns=ColumnMapping(timestamp_format="%d/%m/%Y"))
    assert info.value.problems[0].code is ProblemCode.UNPARSEABLE_TIMESTAMP


def test_far_past_or_future_dates_are_flagged(tmp_csv) -> None:
    log = _log_of(tmp_csv, ["1900-01-01 00:00", "2024-01-01 00:00"])
    assert any("before 1990" in w.message for w in log.warnings)


# --- Timestamps read while the CSV is loaded --------------------------------------------------
# ISO 8601 text is read into a column of its own as the file is loaded (RawTable.iso), and the
# format's detection, check and parse are then skipped. The result must be what reading the
# text afterwards gives, in every case: the same times, format and warnings, or the same errors.

_HEAD = [f"2024-03-01 10:{i % 60:02d}:00" for i in range(250)]  # looks ISO: read while loading


def _build(path, *, read_while_loading: bool, skip_invalid: bool = False):  # type: ignore[no-untyped-def]
    from procmine.io.canonical import build_events
    from procmine.io.tabular import csv_header, load_csv
    from procmine.mapping import ColumnMapping, resolve_mapping

    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    dialect = csv_header(path, compressed=False, encoding=None, delimiter=None)
    resolved = resolve_mapping(ColumnMapping(), dialect.header)
    raw = load_csv(
        con,
        path,
        "raw",
        compressed=False,
        dialect=dialect,
        # The mapped columns only, as read_log reads a CSV with many columns.
        columns=[c for c in dialect.header if c in resolved.columns.values()],
        iso="timestamp" if read_while_loading else None,
    )
    try:
        built = build_events(con, raw, resolved, "events", skip_invalid=skip_invalid)
    except LogValidationError as exc:
        return raw.iso is not None, [(p.code, p.message, p.line) for p in exc.problems]
    rows = con.execute("SELECT row, ts FROM events ORDER BY row").fetchall()
    warnings = [(p.code, p.message, p.line) for p in built.warnings]
    return raw.iso is not None, (rows, built.timestamp_format, warnings)


@pytest.mark.parametrize(
    "tail",
    [
        [],  # all naive ISO
        ["2024-03-02T08:00:00.5", "2024-3-2 9:00", "2024-03-03", " 2024-03-04 10:00 "],
        ["", "   "],  # blank timestamps: reported as missing
        ["2024-03-02 10:00:00+02:00", "2024-03-02T10:00Z"],  # offsets beside plain values
        ["03/04/2024 10:00"],  # another format far down the file
        ["soon", "2024-02-30 10:00"],  # unreadable values
        ["1970-01-01 00:00:00", "2999-01-01 00:00:00"],  # far past and future: a warning
    ],
)
@pytest.mark.parametrize("skip_invalid", [False, True])
def test_timestamps_read_while_loading_equal_those_read_after(
    tmp_csv, tail: list[str], skip_invalid: bool
) -> None:
    lines = [f"C{i % 40},step{i % 3},{v}" for i, v in enumerate(_HEAD + tail)]
    path = tmp_csv("case,activity,timestamp\n" + "\n".join(lines) + "\n")
    read, during = _build(path, read_while_loading=True, skip_invalid=skip_invalid)
    plain, after = _build(path, read_while_loading=False, skip_invalid=skip_invalid)
    assert read and not plain
    assert during == after


def test_all_offsets_are_read_while_loading_and_converted(tmp_csv) -> None:
    values = [f"2024-03-01T10:{i % 60:02d}:00+02:00" for i in range(50)]
    path = tmp_csv(
        "case,activity,timestamp\n" + "".join(f"C{i},step,{v}\n" for i, v in enumerate(values))
    )
    read, (rows, fmt, warnings) = _build(path, read_while_loading=True)
    assert read and fmt == ISO and warnings == []
    assert rows[0][1] == dt.datetime(2024, 3, 1, 8, 0)


@pytest.mark.parametrize(
    "first",
    ["01/03/2024 10:00", "1709287200", "", "2024/03/01 10:00"],
)
def test_a_head_that_does_not_look_iso_is_read_after_loading(tmp_csv, first: str) -> None:
    lines = [f"C{i},step,{v}" for i, v in enumerate([first, *_HEAD])]
    path = tmp_csv("case,activity,timestamp\n" + "\n".join(lines) + "\n")
    read, _ = _build(path, read_while_loading=True, skip_invalid=True)
    assert read == (first == "")  # a blank first value does not count against the guess


def test_a_later_format_is_named_with_its_line_when_the_head_was_iso(tmp_csv) -> None:
    lines = [f"C{i},step,{v}" for i, v in enumerate([*_HEAD, "03/04/2024 10:00", *_HEAD])]
    path = tmp_csv("case,activity,timestamp\n" + "\n".join(lines) + "\n")
    with pytest.raises(LogValidationError) as err:
        read_log(path)
    problem = err.value.problems[0]
    assert problem.code == ProblemCode.MIXED_TIMESTAMP_FORMATS
    assert problem.line == len(_HEAD) + 2 and problem.value == "03/04/2024 10:00"


@pytest.mark.parametrize(
    "values", [["01/03/2024 10:00", "02/03/2024 11:00"], ["2024-03-01 10:00", "2024-03-01 11:00"]]
)
def test_a_quote_in_the_timestamp_columns_name(tmp_csv, values: list[str]) -> None:
    # The format's detection quoted the name without doubling the quote: a SQL syntax error.
    path = tmp_csv('case,activity,"time ""local"""\n' + "".join(f"A,s{v},{v}\n" for v in values))
    log = read_log(path, columns={"timestamp": 'time "local"'})
    assert log.stats.events == 2


def test_timestamps_are_read_while_loading_under_a_header_longer_than_the_first_read(
    tmp_csv,
) -> None:
    extra = [f"extra_attribute_{i:06d}" for i in range(4_000)]  # a 92 KB header
    lines = [",".join(["case", "activity", "timestamp", *extra])]
    lines += [",".join([f"C{i}", "step", v, *[""] * len(extra)]) for i, v in enumerate(_HEAD[:5])]
    path = tmp_csv("\n".join(lines) + "\n")
    assert len(lines[0]) > 64 * 1024
    read, during = _build(path, read_while_loading=True)
    plain, after = _build(path, read_while_loading=False)
    assert read and not plain
    assert during == after
