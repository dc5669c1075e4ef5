# SPDX-License-Identifier: AGPL-3.0-or-later
"""Hostile input beyond the corpus (``tests/corpus.py``): the preview of the mapping step
meets the same guards as ``read_log``, and DuckDB's other way of failing on a long line."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus import CORPUS

from procmine import LogFormatError, read_log
from procmine.errors import ProblemCode
from procmine.io.expansion import EXPANSION_ALLOWANCE, expansion_limit
from procmine.io.peek import peek_log
from procmine.io.tabular import MAX_LINE_BYTES


@pytest.mark.parametrize(
    "name",
    [
        "gzip bomb XES of one 64 MiB value",
        "gzip bomb XES of events (1 GiB)",
        "gzip bomb OCEL JSON (1 GiB of padding)",
    ],
)
def test_the_preview_refuses_the_bombs_read_log_refuses(tmp_path: Path, name: str) -> None:
    # The mapping step peeks at a draft before any mapping exists; pm4py must never see a
    # bomb there either.
    case = next(c for c in CORPUS if c.name == name)
    with pytest.raises(LogFormatError) as info:
        peek_log(case.make(tmp_path))
    assert info.value.problems[0].code is ProblemCode.TOO_LARGE


def test_a_small_gzip_may_expand_to_the_allowance_whatever_its_ratio(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gz"
    path.write_bytes(b"\x1f\x8b" + b"\x00" * 100)
    assert expansion_limit(path) == EXPANSION_ALLOWANCE


def test_a_csv_line_over_duckdbs_buffer_is_said_to_be_too_long(tmp_path: Path) -> None:
    # DuckDB names this one a line-size overflow; the corpus's 100 MB field it calls an
    # "unterminated quote". Both are one over-long value, and the message says so.
    path = tmp_path / "long.csv"
    with path.open("w") as fh:
        fh.write("order_id,activity,timestamp\nA,placed,2024-01-01 10:00\n")
        fh.write('B,"' + "x" * 3_000_000 + '",2024-01-01 11:00\n')
    with pytest.raises(LogFormatError) as info:
        read_log(path)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.TOO_LARGE and problem.line == 3
    assert f"longer than {MAX_LINE_BYTES:,} bytes" in problem.message
