# SPDX-License-Identifier: AGPL-3.0-or-later
"""The benchmark scripts still run (tiny sizes; the numbers are not checked, only produced)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``bench/<name>`` with ``args``; it must succeed."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / name), *args],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def test_bench_core_runs_and_compares_with_pm4py(tmp_path: Path) -> None:
    out = tmp_path / "results.md"
    _script(
        "bench_core.py",
        "--sizes",
        "3000",
        "--xes-sizes",
        "3000",
        "--scale-sizes",
        "3000",
        "--capped-sizes",
        "4000",
        "--spark-sizes",  # none: Spark's own tests compare the engines
        "--out",
        str(out),
        "--workdir",
        str(tmp_path / "work"),
    )
    text = out.read_text()
    assert "| CSV |" in text and "| Parquet |" in text and "| XES.gz |" in text
    # DuckDB alone, from Parquet only: its time and pm4py's over it close the row.
    parquet_row = next(line for line in text.splitlines() if "| Parquet |" in line)
    assert parquet_row.rstrip(" |").endswith("x") and "– | –" not in parquet_row
    assert "– | –" in next(line for line in text.splitlines() if "| CSV |" in line)
    assert "phases" in text and "200 activities" in text
    # capped at the largest of --scale-sizes, and at each --capped-sizes
    assert text.count("| Parquet, --memory-limit 3GB |") == 2
    assert "| rework_loop |" in text and "| building order facts |" in text


def test_ab_runs_two_versions_in_turn(tmp_path: Path) -> None:
    log = tmp_path / "orders.parquet"
    _script("_task.py", "simulate-parquet", str(log), "2000")
    out = tmp_path / "ab.md"
    _script("ab.py", str(log), "--before", "HEAD", "--rounds", "2", "--out", str(out))
    text = out.read_text()
    # Every run is a row, in the order taken: the two versions alternate.
    rows = [line.split("|") for line in text.splitlines() if line.startswith("| ")]
    assert [(r[1].strip(), r[2].strip()) for r in rows if r[3].strip().endswith(" s")] == [
        ("1", "HEAD"),
        ("1", "this checkout"),
        ("2", "HEAD"),
        ("2", "this checkout"),
    ]
    assert "Medians: HEAD" in text
    # The temporary worktree is gone.
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "list"], capture_output=True, text=True, check=True
    )
    assert "procmine-ab-" not in listed.stdout


def test_accuracy_script_runs() -> None:
    done = _script("accuracy.py", "--events", "4000")
    assert "| exchange_detour |" in done.stdout


def test_analysts_and_fifty_dashboards_at_once(tmp_path: Path) -> None:
    """The load benchmark, bounded: 4 uploads and analyses (two per job slot), 50 dashboards
    polling 15 times each; no error, and every analysis's findings equal the library's (the
    script checks)."""
    out = tmp_path / "load.md"
    _script(
        "service_load.py",
        "--uploaders",
        "4",
        "--pollers",
        "50",
        "--polls",
        "15",
        "--customers",
        "25",
        "--out",
        str(out),
    )
    text = out.read_text()
    assert "| dashboard polls | 750 |" in text and "Errors: 0;" in text
    assert "| analyses (queued + run) | 4 |" in text
