# SPDX-License-Identifier: AGPL-3.0-or-later
"""procmine against pm4py, and procmine at scale, side by side in one run, on simulated logs.

* Load + discovery at each ``--sizes``, from CSV and Parquet (and XES at ``--xes-sizes``):
  procmine's ``read_log`` + ``discover`` against pandas + ``pm4py.format_dataframe`` (or
  ``pm4py.read_xes``) + ``discover_dfg`` + ``discover_performance_dfg`` + ``get_variants``.
  The DFG counts and variants of both are compared; a difference fails the run. From
  Parquet, also DuckDB alone: the same results by one bare query, the engine's floor.
* The full ``procmine analyze`` (read, discover, detect, score, maps, report) at each
  ``--scale-sizes`` from Parquet; at the largest also from CSV, and with the engine's memory
  capped (``--memory-limit``); at each ``--capped-sizes`` (beyond memory) only capped.
* The full analysis on Spark in local mode against DuckDB at ``--spark-sizes``.
* Rendering the process map of a log with 200 activities.

Every measurement runs in a fresh child process, so its peak memory (max RSS) is its own.

    python bench/bench_core.py        # the README tables (about 20 minutes)
    python bench/bench_core.py --sizes 5000 --xes-sizes 5000 --scale-sizes 5000 \
        --capped-sizes 6000 --spark-sizes 5000 --out /tmp/b.md      # a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TASK = HERE / "_task.py"


def run_task(*args: str, task: Path = TASK, env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measurement in a child process (``task``, by default this folder's
    ``_task.py``); return its JSON result plus peak memory."""
    proc = subprocess.Popen(
        [sys.executable, str(task), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"task {args} failed ({code}):\n{err[-3000:]}")
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024  # Linux reports KiB
    return result


def _fmt_s(x: float) -> str:
    return f"{x:.1f} s" if x >= 10 else f"{x:.2f} s"


def _compare(log: Path, pm4py_task: str, label: str) -> str:
    """Measure both tools on ``log`` (and, from Parquet, DuckDB's floor); one table row."""
    ours = run_task("procmine-discover", str(log))
    theirs = run_task(pm4py_task, str(log))
    floor = run_task("duckdb-floor", str(log)) if log.suffix == ".parquet" else None
    for key in ("dfg", "variants"):
        for other in (ours, floor):
            if other is not None and other[key] != theirs[key]:
                raise SystemExit(f"{key} differ on {log.name}")
    bare = (
        f"{_fmt_s(floor['seconds'])} | {theirs['seconds'] / floor['seconds']:.1f}x"
        if floor is not None
        else "– | –"
    )
    return (
        f"| {ours['events']:,} | {label} | {_fmt_s(ours['seconds'])} | "
        f"{ours['peak_mb']:,.0f} MB | {_fmt_s(theirs['seconds'])} | "
        f"{theirs['peak_mb']:,.0f} MB | **{theirs['seconds'] / ours['seconds']:.1f}x** | "
        f"{theirs['peak_mb'] / ours['peak_mb']:.1f}x | {bare} |"
    )


def _analyze_row(log: Path, label: str, work: Path, *extra: str) -> tuple[str, dict[str, Any]]:
    full = run_task("procmine-analyze", str(log), str(work / f"report-{log.stem}"), *extra)
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in full["phases"].items())
    row = (
        f"| {full['events']:,} | {label} | {_fmt_s(full['seconds'])} | "
        f"{full['peak_mb']:,.0f} MB | {phases} |"
    )
    return row, full


def _log(work: Path, size: int) -> Path:
    """The simulated Parquet log of ``size`` events (a CSV of it beside), made once."""
    path = work / f"orders-{size}.parquet"
    if not path.exists():
        run_task("simulate-parquet", str(path), str(size))
    return path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--xes-sizes", type=int, nargs="*", default=[1_000_000])
    parser.add_argument(
        "--scale-sizes", type=int, nargs="*", default=[100_000, 1_000_000, 10_000_000]
    )
    parser.add_argument(
        "--capped-sizes",
        type=int,
        nargs="*",
        default=[30_000_000],
        help="sizes analysed only with the memory cap (out of core)",
    )
    parser.add_argument("--spark-sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--memory-limit", default="3GB", help="the capped run at the largest size")
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="procmine-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    versions = run_task("versions")
    rows: list[str] = []
    for size in args.sizes:
        log = _log(work, size)
        rows.append(_compare(log.with_suffix(".csv"), "pm4py-csv", "CSV"))
        rows.append(_compare(log, "pm4py-parquet", "Parquet"))
    for size in args.xes_sizes:
        xes = work / f"orders-{size}.xes.gz"
        if not xes.exists():
            run_task("simulate", str(xes), str(size))
        rows.append(_compare(xes, "pm4py-xes", "XES.gz"))

    scale_rows: list[str] = []
    detector_rows: list[str] = []
    detector_events = 0
    biggest = max(args.scale_sizes) if args.scale_sizes else None
    for size in args.scale_sizes:
        log = _log(work, size)
        row, full = _analyze_row(log, "Parquet", work)
        scale_rows.append(row)
        if size == biggest:
            detector_rows = [
                f"| {name} | {_fmt_s(seconds)} |" for name, seconds in full["detectors"].items()
            ]
            detector_events = full["events"]
            scale_rows.append(_analyze_row(log.with_suffix(".csv"), "CSV", work)[0])
            capped = f"Parquet, --memory-limit {args.memory_limit}"
            scale_rows.append(_analyze_row(log, capped, work, "duckdb", args.memory_limit)[0])
    for size in args.capped_sizes:
        log = _log(work, size)
        capped = f"Parquet, --memory-limit {args.memory_limit}"
        scale_rows.append(_analyze_row(log, capped, work, "duckdb", args.memory_limit)[0])

    spark_rows: list[str] = []
    for size in args.spark_sizes:
        log = _log(work, size)
        duck = run_task("procmine-analyze", str(log), str(work / "report-duck"))
        spark = run_task("procmine-analyze", str(log), str(work / "report-spark"), "spark")
        spark_rows.append(
            f"| {duck['events']:,} | {_fmt_s(duck['seconds'])} | {_fmt_s(spark['seconds'])} | "
            f"{spark['seconds'] / duck['seconds']:.1f}x |"
        )

    drawn = run_task("map-200", "200")
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "peak_mb")
    )
    table = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {machine}.",
            "",
            "Load + DFG (counts and durations) + variants; pm4py: read + format_dataframe + "
            "discover_dfg + discover_performance_dfg + get_variants. Ratio = pm4py time / "
            "procmine time (higher is better for procmine); memory = peak RSS of the process. "
            "The DFG counts and variants of both are compared, and must be equal. "
            "DuckDB alone: one query straight from the Parquet file for the same DFG and "
            "variants (equal too), without procmine's validation, stored event table or Ibis: "
            "about the least work the engine can do for them, so pm4py's time over it is "
            "about the highest speed-up a tool built on DuckDB can reach on this machine.",
            "",
            "| events | input | procmine | procmine peak | pm4py | pm4py peak | speed-up | "
            "memory ratio | DuckDB alone | pm4py / DuckDB alone |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            "Full `procmine analyze` (read, discover, every detector, scoring, root causes; "
            "maps+report: the findings' paths on the map, three maps, HTML report, "
            "findings.json), one process each:",
            "",
            "| events | input | wall time | peak memory | phases |",
            "|---:|---|---:|---:|---|",
            *scale_rows,
            "",
            f"Detect + score per detector at {detector_events:,} events from Parquet "
            "(`building order facts` is "
            "shared by all; `looking for root causes` covers every finding):",
            "",
            "| detector | detect + score |",
            "|---|---:|",
            *detector_rows,
            "",
            "The same full analysis on Spark in local mode (`local[*]`, one machine), against "
            "DuckDB, same Parquet file:",
            "",
            "| events | DuckDB | Spark local | Spark / DuckDB |",
            "|---:|---:|---:|---:|",
            *spark_rows,
            "",
            f"Process map of a log with {drawn['activities']} activities and "
            f"{drawn['edges']:,} distinct paths: rendered in {drawn['seconds']:.2f} s, "
            f"{drawn['shown']} paths shown.",
            "",
        ]
    )
    args.out.write_text(table, encoding="utf-8")
    sys.stdout.write(table)


if __name__ == "__main__":
    main()
