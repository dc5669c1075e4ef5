# SPDX-License-Identifier: AGPL-3.0-or-later
"""peek_log: a file's own columns and first rows, before (and whatever) the mapping."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
import pytest
from factories import ocel_document

from procmine import LogFormatError, ReadOptions, read_log
from procmine.io.peek import peek_log
from procmine.simulate import Simulation, simulate, write_log


def test_csv_peek_reads_only_the_head_and_guesses_what_it_can(tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    rows = [
        f"A{i};2024-03-01 10:{i % 60:02d};placed;{'x' * 300 if i == 1 else i}"
        for i in range(50_000)
    ]
    path.write_text("Auftrag;Wann;Schritt;Notiz\n" + "\n".join(rows) + "\n", "latin-1")
    p = peek_log(path, rows=3)
    assert p.columns == ("Auftrag", "Wann", "Schritt", "Notiz")
    assert [r[0] for r in p.rows] == ["A0", "A1", "A2"]
    assert len(p.rows[1][3] or "") == 200 and (p.rows[1][3] or "").endswith("…")
    assert p.details == {"delimiter": ";", "encoding": "utf-8"}
    # Nothing is guessable here, and peeking does not fail for it (read_log would).
    assert dict(p.guess.columns) == {}
    with pytest.raises(Exception, match="no case column"):
        read_log(path)
    # A delimiter given is used.
    q = peek_log(path, rows=1, options=ReadOptions(delimiter=","))
    assert q.columns == ("Auftrag;Wann;Schritt;Notiz",)


def test_csv_gz_parquet_and_xes_peek_agree_with_the_file(tmp_path: Path) -> None:
    sim = simulate(Simulation(customers=15, seed=4))
    csv_path = tmp_path / "log.csv"
    write_log(sim, csv_path)
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    gz = tmp_path / "log.csv.gz"
    gz.write_bytes(gzip.compress(csv_path.read_bytes()))
    for path in (csv_path, gz):
        p = peek_log(path, rows=5)
        assert list(p.columns) == list(frame.columns)
        assert [list(r) for r in p.rows] == frame.head(5).values.tolist()
        assert p.guess.get("case") == "order_id" and p.guess.get("timestamp") == "timestamp"
    parquet = tmp_path / "log.parquet"
    write_log(sim, parquet)
    p = peek_log(parquet, rows=4)
    table = pd.read_parquet(parquet)
    assert list(p.columns) == list(table.columns)
    assert p.rows[0][list(table.columns).index("order_id")] == table["order_id"].iloc[0]
    assert len(p.rows) == 4 and p.format == "Parquet"
    xes = tmp_path / "log.xes"
    write_log(sim, xes)
    p = peek_log(xes, rows=2)
    assert "concept:name" in p.columns and "case:concept:name" in p.columns
    assert p.guess.get("activity") == "concept:name" and len(p.rows) == 2


def test_ocel_peek_shows_the_flattened_columns(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonocel"
    path.write_text(json.dumps(ocel_document()), "utf-8")
    p = peek_log(path, rows=10)
    log = read_log(path)
    assert p.format.startswith("OCEL 2.0")
    assert len(p.rows) == log.stats.events
    assert set(log.mapping.columns.values()) <= set(p.columns)


def test_a_file_no_reader_understands_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.bin"
    path.write_bytes(b"\x00\x01\x02")
    with pytest.raises(LogFormatError):
        peek_log(path)
    with pytest.raises(ValueError):
        peek_log(path, rows=-1)


@pytest.mark.parametrize("compressed", [False, True])
def test_rows_show_under_a_header_longer_than_the_first_read(
    tmp_path: Path, compressed: bool
) -> None:
    # 14,000 columns: a header of 322 KB, past the 256 KiB the preview reads first.
    columns = ["order_id", "activity", "timestamp"]
    columns += [f"extra_attribute_{i:06d}" for i in range(14_000)]
    rows = [[f"A{i}", "Order placed", f"2024-03-0{i + 1} 10:00", *[""] * 14_000] for i in range(3)]
    text = "\n".join(",".join(r) for r in [columns, *rows]) + "\n"
    path = tmp_path / ("wide.csv.gz" if compressed else "wide.csv")
    path.write_bytes(gzip.compress(text.encode()) if compressed else text.encode())
    peek = peek_log(path, rows=2)
    assert len(text.splitlines()[0]) > 256 * 1024 and len(peek.columns) == 14_003
    assert [r[:3] for r in peek.rows] == [tuple(r[:3]) for r in rows[:2]]
