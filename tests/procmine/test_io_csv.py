# SPDX-License-Identifier: AGPL-3.0-or-later
"""Reading CSV logs: dialects, encodings, and a clear error for every user mistake."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from procmine import ColumnMapping, LogFormatError, LogValidationError, ReadOptions, read_log
from procmine.errors import ProblemCode

HEADER = "order_id,customer,activity,timestamp,amount\n"


def test_reads_a_plain_csv_and_guesses_the_columns(tmp_csv) -> None:
    path = tmp_csv(
        HEADER
        + "A,c1,Order placed,2024-03-01 10:00:00,80\n"
        + "A,c1,Order cancelled,2024-03-01 12:00:00,\n"
        + "B,c1,Order placed,2024-03-02 09:00:00,79.5\n"
    )
    log = read_log(path)
    assert (log.stats.events, log.stats.cases, log.stats.customers) == (3, 2, 1)
    assert log.mapping.get("case") == "order_id"
    assert log.mapping.get("customer") == "customer"
    assert log.mapping.guessed >= {"case", "activity", "timestamp", "customer", "amount"}
    frame = log.to_pandas()
    assert frame["amount"].tolist()[0] == 80.0
    assert str(frame["ts"].iloc[0]) == "2024-03-01 10:00:00"


def test_explicit_columns_and_semicolons(tmp_csv) -> None:
    path = tmp_csv(
        "Bestellung;Kunde;Schritt;Zeit\n"
        "1;k1;Bestellung aufgegeben;01.03.2024 10:00\n"
        "1;k1;Storniert;01.03.2024 11:00\n"
    )
    log = read_log(
        path,
        columns=ColumnMapping(
            case="Bestellung", activity="Schritt", timestamp="Zeit", customer="Kunde"
        ),
    )
    assert log.stats.events == 2
    assert log.source.details["delimiter"] == ";"
    assert log.source.timestamp_format == "%d.%m.%Y %H:%M"
    assert log.roles.to_dict()["cancel"] == ["Storniert"]


def test_a_column_that_does_not_exist_is_named_with_a_suggestion(tmp_csv) -> None:
    path = tmp_csv(HEADER + "A,c1,x,2024-01-01,1\n")
    with pytest.raises(LogValidationError) as info:
        read_log(path, columns={"customer": "custmer"})
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.MISSING_COLUMN
    assert problem.column == "custmer"
    assert "'customer'" in problem.message  # the close match is suggested


def test_a_column_with_no_close_match_is_named_and_the_columns_listed(tmp_csv) -> None:
    path = tmp_csv(HEADER + "A,c1,x,2024-01-01,1\n")
    with pytest.raises(LogValidationError) as info:
        read_log(path, columns={"case": "zzz"})
    message = info.value.problems[0].message
    assert message.startswith("column 'zzz' (given for case) is not in the log. Columns: ")
    assert message.endswith("order_id, customer, activity, timestamp, amount")


def test_a_missing_required_column_lists_the_columns(tmp_csv) -> None:
    path = tmp_csv("order_id,what,when_it_was\nA,x,2024-01-01\n")
    with pytest.raises(LogValidationError) as info:
        read_log(path)
    messages = " ".join(p.message for p in info.value.problems)
    assert "no activity column" in messages and "no timestamp column" in messages
    assert "order_id, what, when_it_was" in messages


def test_header_only_is_an_empty_log(tmp_csv) -> None:
    with pytest.raises(LogValidationError) as info:
        read_log(tmp_csv(HEADER))
    assert info.value.problems[0].code is ProblemCode.EMPTY_LOG


def test_an_empty_file_is_refused(tmp_csv) -> None:
    with pytest.raises(LogFormatError) as info:
        read_log(tmp_csv(""))
    assert info.value.problems[0].code is ProblemCode.EMPTY_LOG


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(LogFormatError) as info:
        read_log(tmp_path / "nope.csv")
    assert info.value.problems[0].code is ProblemCode.FILE_NOT_FOUND


def test_a_ragged_row_names_its_line(tmp_csv) -> None:
    path = tmp_csv(HEADER + "A,c1,x,2024-01-01,1\nB,c1,y\nC,c2,z,2024-01-02,3\n")
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.MALFORMED_FILE
    assert problem.line == 3
    assert "3 fields where the header has 5" in problem.message


def test_an_unterminated_quote_is_reported(tmp_csv) -> None:
    path = tmp_csv(HEADER + 'A,c1,"x,2024-01-01,1\nB,c1,y,2024-01-02,2\n')
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    assert "quoted value is never closed" in info.value.problems[0].message


def test_wrong_encoding_names_line_and_byte_and_suggests_the_fix(tmp_csv) -> None:
    content = (HEADER + "A,c1,Caf\u00e9 order,2024-01-01,1\n").encode("latin-1")
    path = tmp_csv(content)
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.ENCODING
    assert problem.line == 2 and problem.value == "0xe9"
    assert "--encoding latin-1" in problem.message
    log = read_log(path, options=ReadOptions(encoding="latin-1"))
    assert log.roles.activities == ("Café order",)


def test_a_non_native_encoding_is_transcoded(tmp_csv) -> None:
    path = tmp_csv((HEADER + "A,c1,\u201cquoted\u201d step,2024-01-01,1\n").encode("cp1252"))
    log = read_log(path, options=ReadOptions(encoding="cp1252"))
    assert log.roles.activities == ("\u201cquoted\u201d step",)


def test_utf8_bom_and_utf16_are_read(tmp_csv) -> None:
    text = HEADER + "A,c1,x,2024-01-01,1\n"
    assert read_log(tmp_csv(b"\xef\xbb\xbf" + text.encode())).mapping.get("case") == "order_id"
    utf16 = read_log(tmp_csv(text.encode("utf-16"), "u16.csv"))
    assert utf16.stats.events == 1


def test_gzipped_csv(tmp_path: Path) -> None:
    path = tmp_path / "log.csv.gz"
    path.write_bytes(gzip.compress((HEADER + "A,c1,x,2024-01-01,1\n").encode()))
    assert read_log(path).stats.events == 1


def test_blank_case_or_activity_lists_the_rows(tmp_csv) -> None:
    path = tmp_csv(
        HEADER
        + "A,c1,Order placed,2024-01-01,1\n"
        + ",c1,Order placed,2024-01-02,1\n"
        + "B,c1,  ,2024-01-03,1\n"
    )
    with pytest.raises(LogValidationError) as info:
        read_log(path)
    by_column = {p.column: p for p in info.value.problems}
    assert by_column["order_id"].line == 3 and by_column["order_id"].count == 1
    assert by_column["activity"].line == 4
    assert "--skip-invalid-rows" in by_column["order_id"].message
    log = read_log(path, options=ReadOptions(skip_invalid_rows=True))
    assert log.stats.events == 1
    assert {w.code for w in log.warnings} == {ProblemCode.BLANK_VALUE}


def test_completely_blank_rows_are_skipped_with_a_warning(tmp_csv) -> None:
    path = tmp_csv(HEADER + "A,c1,x,2024-01-01,1\n,,,,\n,,,,\nB,c2,y,2024-01-02,2\n")
    log = read_log(path)
    assert log.stats.events == 2
    assert [w.count for w in log.warnings if w.code is ProblemCode.SKIPPED_ROWS] == [2]


def test_blank_customers_are_counted_filled_and_explained(tmp_csv) -> None:
    path = tmp_csv(
        HEADER
        + "A,c1,Order placed,2024-01-01 10:00,1\n"
        + "A,,Shipped,2024-01-02 10:00,\n"  # filled from its case
        + "B,,Order placed,2024-01-03 10:00,2\n"  # a case with no customer at all
        + "B,,Shipped,2024-01-04 10:00,\n"
    )
    log = read_log(path)
    warning = next(w for w in log.warnings if w.code is ProblemCode.BLANK_CUSTOMER)
    assert warning.count == 3 and warning.line == 3
    assert "1 of them were filled" in warning.message
    assert "1 cases (2 rows) have no customer at all" in warning.message
    assert "left out of the cross-order detectors" in warning.message
    frame = log.to_pandas()
    assert frame.loc[frame.case_id == "A", "customer_id"].tolist() == ["c1", "c1"]
    assert frame.loc[frame.case_id == "B", "customer_id"].isna().all()
    assert log.stats.cases_without_customer == 1


def test_a_case_blank_on_its_first_event_takes_its_customer_from_a_later_one(tmp_csv) -> None:
    # Written out of time order: the blank row is the case's first event, the id comes later.
    path = tmp_csv(
        HEADER
        + "A,c9,Shipped,2024-01-02 10:00,\n"
        + "A,,Order placed,2024-01-01 10:00,1\n"
        + "B,c1,Order placed,2024-01-03 10:00,2\n"
    )
    frame = read_log(path).to_pandas().sort_values(["case_id", "ts"])
    assert frame.customer_id.tolist() == ["c9", "c9", "c1"]


def test_case_dimensions_are_carried_and_filled_where_blank(tmp_csv) -> None:
    path = tmp_csv(
        "order_id,activity,timestamp,channel,note\n"
        "A,Order placed,2024-01-01 10:00,web,x1\n"
        "A,Shipped,2024-01-02 10:00,,x2\n"  # blank: the case's channel is carried
        "B,Order placed,2024-01-01 11:00,,x3\n"  # blank on the first event only
        "B,Shipped,2024-01-02 11:00,app,x1\n"
        "C,Order placed,2024-01-01 12:00,web,x2\n"
    )
    log = read_log(path)
    # `note` changes within a case: an event detail, not a dimension of the order.
    assert log.dimensions == ("channel",)
    frame = log.to_pandas().sort_values(["case_id", "ts"])
    assert frame["attr:channel"].tolist() == ["web", "web", "app", "app", "web"]


def test_conflicting_customers_in_one_case_are_reported(tmp_csv) -> None:
    path = tmp_csv(HEADER + "A,c2,x,2024-01-01,1\nA,c1,y,2024-01-02,1\n")
    log = read_log(path)
    warning = next(w for w in log.warnings if w.code is ProblemCode.CONFLICTING_CUSTOMER)
    assert "'c1', 'c2'" in warning.message
    assert set(log.to_pandas().customer_id) == {"c1"}


def test_amounts_with_currency_and_decimal_comma(tmp_csv) -> None:
    path = tmp_csv(
        "order_id;activity;timestamp;amount\n"
        "A;x;2024-01-01;\u20ac 1.234,50\n"
        "B;x;2024-01-02;12,5\n"
        "C;x;2024-01-03;$1,200.00\n"
        "D;x;2024-01-04;n/a\n"
    )
    log = read_log(path)
    amounts = dict(zip(log.to_pandas().case_id, log.to_pandas().amount, strict=True))
    assert amounts["A"] == 1234.5 and amounts["B"] == 12.5 and amounts["C"] == 1200.0
    assert amounts["D"] != amounts["D"]  # NaN: left empty
    warning = next(w for w in log.warnings if w.code is ProblemCode.UNPARSEABLE_NUMBER)
    assert warning.line == 5 and warning.value == "n/a"


def test_duplicate_header_names(tmp_csv) -> None:
    unused = tmp_csv("order_id,activity,timestamp,note,note\nA,x,2024-01-01,a,b\n")
    log = read_log(unused)
    assert any(w.code is ProblemCode.DUPLICATE_COLUMN for w in log.warnings)
    used = tmp_csv("order_id,activity,activity,timestamp\nA,x,y,2024-01-01\n", "dup.csv")
    with pytest.raises(LogValidationError) as info:
        read_log(used)
    assert info.value.problems[0].code is ProblemCode.DUPLICATE_COLUMN
    assert info.value.problems[0].column == "activity"


def test_whitespace_around_values_is_trimmed(tmp_csv) -> None:
    path = tmp_csv(HEADER + " A , c1 ,  Order placed , 2024-01-01 10:00 ,1\n")
    frame = read_log(path).to_pandas()
    assert frame[["case_id", "customer_id", "activity"]].values.tolist() == [
        ["A", "c1", "Order placed"]
    ]


@pytest.mark.parametrize("pad", [" ", "  "])
def test_values_padded_only_at_the_end_are_trimmed(tmp_csv, pad) -> None:
    # Nothing starts with a space: only the values' last characters show they need it.
    path = tmp_csv(
        HEADER
        + f"A{pad},c1{pad},Order placed{pad},2024-01-01 10:00,1\n"
        + "A,c1,Shipped,2024-01-02 10:00,\n"
    )
    log = read_log(path)
    frame = log.to_pandas()
    assert set(frame.case_id) == {"A"} and set(frame.customer_id) == {"c1"}
    assert sorted(frame.activity) == ["Order placed", "Shipped"]
    assert log.stats.cases == 1


def test_unknown_encoding_name(tmp_csv) -> None:
    with pytest.raises(LogFormatError) as info:
        read_log(tmp_csv(HEADER), options=ReadOptions(encoding="klingon"))
    assert info.value.problems[0].code is ProblemCode.ENCODING


def test_explicit_role_overrides_and_unknown_labels(tmp_csv) -> None:
    path = tmp_csv(HEADER + "A,c1,Placed,2024-01-01,1\nA,c1,Voided,2024-01-02,\n")
    log = read_log(path, roles={"order": ["Placed"]})
    assert log.roles.labels(log.roles.role_of("Placed")) == ("Placed",)
    assert log.roles.to_dict()["cancel"] == ["Voided"]
    from procmine.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        read_log(path, roles={"cancel": ["Voidd"]})
    assert "did you mean 'Voided'" in info.value.problems[0].message


def test_a_header_longer_than_the_first_read_is_read_whole(tmp_path: Path) -> None:
    """Twelve thousand columns (a header of about 90 KB, beyond the first 64 KiB read): the
    header is read whole, not cut short with the first data row blamed for its fields."""
    extra = [f"attribute_{i}" for i in range(12_000)]
    path = tmp_path / "wide.csv"
    path.write_text(
        ",".join(["order_id", "activity", "timestamp", *extra])
        + "\n"
        + ",".join(["A", "Order placed", "2024-03-01 10:00", *("x" for _ in extra)])
        + "\n"
    )
    log = read_log(path)
    assert log.stats.events == 1
    assert log.mapping.available[-1] == "attribute_11999"
