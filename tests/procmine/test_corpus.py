# SPDX-License-Identifier: AGPL-3.0-or-later
"""Every file of the hostile corpus (``tests/corpus.py``) gets its expected answer from
``read_log``, and reading it adds at most ``MEMORY_BOUND_MIB`` to the process's peak memory.

Each file is read in a child forked from a clean server process that has imported procmine
and pm4py, so that the child's growth in peak resident memory is the read's alone.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from corpus import CORPUS, MEMORY_BOUND_MIB, Hostile, Reads, Refused

_CONTEXT = multiprocessing.get_context("forkserver")


def _kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/self/status")


def _read(path: str) -> dict[str, Any]:
    """Runs in the child: read the file, say what happened and how much memory it took."""
    from procmine import read_log
    from procmine.errors import LogError

    start = _kib("VmRSS")
    try:
        log = read_log(Path(path))
        outcome: dict[str, Any] = {
            "read": (log.stats.events, log.stats.cases),
            "warnings": [(w.code.value, w.message) for w in log.warnings],
        }
    except LogError as exc:
        first = exc.problems[0]
        outcome = {
            "error": type(exc).__name__,
            "problem": (first.code.value, first.message, first.line, first.column),
        }
    outcome["grew_mib"] = (_kib("VmHWM") - start) / 1024
    return outcome


@pytest.fixture(scope="module")
def pool() -> Iterator[Any]:
    # A fresh child per file (maxtasksperchild=1): peak memory is per process.
    _CONTEXT.set_forkserver_preload(["procmine", "pm4py", "corpus"])
    with _CONTEXT.Pool(1, maxtasksperchild=1) as p:
        yield p


# Hostile names matter to the service only (tests/api/test_hostile_uploads.py); the library never
# builds a path from them.
FILES = [c for c in CORPUS if c.upload_name is None]


@pytest.mark.parametrize("case", FILES, ids=[c.name for c in FILES])
def test_each_hostile_file_gets_its_answer_in_bounded_memory(
    case: Hostile, tmp_path: Path, pool: Any
) -> None:
    path = case.make(tmp_path)
    outcome = pool.apply(_read, (str(path),))
    expect = case.expect
    if isinstance(expect, Refused):
        assert outcome.get("error") == expect.error, outcome
        code, message, line, column = outcome["problem"]
        assert code == expect.code.value, message
        assert expect.says in message
        if expect.line is not None:
            assert line == expect.line, message
        if expect.column is not None:
            assert column == expect.column, message
    else:
        assert isinstance(expect, Reads)
        assert outcome.get("read") == (expect.events, expect.cases), outcome
        if expect.warns is not None:
            assert any(
                code == expect.warns.value and expect.warning_says in message
                for code, message in outcome["warnings"]
            ), outcome["warnings"]
    assert outcome["grew_mib"] < MEMORY_BOUND_MIB, f"{outcome['grew_mib']:.0f} MiB"
