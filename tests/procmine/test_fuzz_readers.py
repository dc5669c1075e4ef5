# SPDX-License-Identifier: AGPL-3.0-or-later
"""Fuzzing the readers: whatever the bytes, read_log and peek_log end in a ProcmineError or
a log, never in another exception (which the service would turn into a 500).

Found so far, and fixed: a lone carriage return in a CSV cell broke peek_log's row reader,
and a file of just the two gzip magic bytes escaped as EOFError. The profile ``ci`` runs a
few dozen examples each (derandomised); ``HYPOTHESIS_PROFILE=explore`` runs many more.
"""

from __future__ import annotations

import contextlib
import gzip
import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from procmine import read_log
from procmine.errors import ProcmineError
from procmine.io.peek import peek_log

_EXAMPLES = 400 if os.environ.get("HYPOTHESIS_PROFILE") == "explore" else 40
_SETTINGS = settings(
    max_examples=_EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("HYPOTHESIS_PROFILE") != "explore",
    suppress_health_check=list(HealthCheck),
)

_CELLS = st.one_of(
    st.text(max_size=12),
    st.sampled_from(
        [
            "2024-01-01 10:00",
            "01/02/2024",
            "1704103200",
            "2024-01-01T10:00:00+02:00",
            "2024-13-45",
            "",
            '"',
            "a,b",
            "\x00",
            "\r",
            "\ufeff",
            "NaN",
        ]
    ),
)
_HEADER = st.lists(
    st.sampled_from(
        ["order_id", "activity", "timestamp", "customer_id", "amount", "sku", "x", "", "activity"]
    ),
    min_size=1,
    max_size=6,
)
_PREFIXES = [
    b"",
    b"<?xml version='1.0'?><log>",
    b"PAR1",
    b'{"objectTypes":',
    b"SQLite format 3\x00",
    b"order_id,activity,timestamp\n",
    b"\x1f\x8b",
]


def _only_typed_errors(path: Path) -> None:
    for read in (read_log, peek_log):
        with contextlib.suppress(ProcmineError):
            read(path)


@_SETTINGS
@example(header=["order_id"], rows=[["\r", ""]], delimiter=",", encoding="utf-8")
@given(
    header=_HEADER,
    rows=st.lists(st.lists(_CELLS, max_size=7), max_size=8),
    delimiter=st.sampled_from([",", ";", "\t"]),
    encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]),
)
def test_random_csv(
    tmp_path_factory: pytest.TempPathFactory,
    header: list[str],
    rows: list[list[str]],
    delimiter: str,
    encoding: str,
) -> None:
    text = delimiter.join(header) + "\n" + "\n".join(delimiter.join(r) for r in rows)
    path = tmp_path_factory.mktemp("csv") / "log.csv"
    path.write_bytes(text.encode(encoding, errors="replace"))
    _only_typed_errors(path)


@_SETTINGS
@example(data=b"", compress=False, prefix=b"\x1f\x8b")
@given(data=st.binary(max_size=300), compress=st.booleans(), prefix=st.sampled_from(_PREFIXES))
def test_random_bytes(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, compress: bool, prefix: bytes
) -> None:
    raw = prefix + data
    path = tmp_path_factory.mktemp("bytes") / "log.bin"
    path.write_bytes(gzip.compress(raw) if compress else raw)
    _only_typed_errors(path)
