# SPDX-License-Identifier: AGPL-3.0-or-later
"""procmine against pm4py, side by side in one run, on simulated order logs.

For each size, the same log (CSV, and XES where asked) is processed by

* procmine: ``read_log`` + ``discover`` (directly-follows graph with durations, variants);
* pm4py: ``pandas.read_csv`` + ``pm4py.format_dataframe`` (or ``pm4py.read_xes``) +
  ``discover_dfg`` + ``get_variants``;

and at the largest size the full ``procmine analyze`` (read, discover, detect, score, maps,
report). Every measurement runs in a fresh child process, so its peak memory (max RSS) is its
own. The DFG counts of both are compared; a difference fails the run.

    python bench/bench_core.py                       # 100k and 1M events (the README table)
    python bench/bench_core.py --sizes 5000 --xes-sizes 5000 --out /tmp/b.md   # a smoke run
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


def run_task(*args: str) -> dict[str, Any]:
    """Run one measurement in a child process; return its JSON result plus peak memory."""
    proc = subprocess.Popen(
        [sys.executable, str(TASK), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


def _compare(log: Path, size: int, pm4py_task: str, label: str) -> str:
    """Measure both tools on ``log`` (simulated first if missing); one table row."""
    if not log.exists():
        run_task("simulate", str(log), str(size))
    ours = run_task("procmine-discover", str(log))
    theirs = run_task(pm4py_task, str(log))
    for key in ("dfg", "variants"):
        if ours[key] != theirs[key]:
            raise SystemExit(f"{key} differ on {log.name}")
    return (
        f"| {ours['events']:,} | {label} | {_fmt_s(ours['seconds'])} | "
        f"{ours['peak_mb']:,.0f} MB | {_fmt_s(theirs['seconds'])} | "
        f"{theirs['peak_mb']:,.0f} MB | **{theirs['seconds'] / ours['seconds']:.1f}x** | "
        f"{theirs['peak_mb'] / ours['peak_mb']:.1f}x |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--xes-sizes", type=int, nargs="*", default=[100_000])
    parser.add_argument("--out", type=Path, default=HERE / "results.md")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()

    work = args.workdir or Path(tempfile.mkdtemp(prefix="procmine-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    rows: list[str] = []
    versions = run_task("versions")
    for size in args.sizes:
        rows.append(_compare(work / f"orders-{size}.csv", size, "pm4py-csv", "CSV"))
    for size in args.xes_sizes:
        rows.append(_compare(work / f"orders-{size}.xes.gz", size, "pm4py-xes", "XES.gz"))
    biggest = work / f"orders-{max(args.sizes)}.csv"
    full = run_task("procmine-analyze", str(biggest), str(work / "report"))
    phases = ", ".join(f"{k} {v:.1f} s" for k, v in full["phases"].items())
    analyze_row = (
        f"| {full['events']:,} | {_fmt_s(full['seconds'])} | {full['peak_mb']:,.0f} MB | {phases} |"
    )
    detector_rows = [
        f"| {name} | {_fmt_s(seconds)} |" for name, seconds in full["detectors"].items()
    ]
    machine = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        + ", ".join(f"{k} {v}" for k, v in versions.items() if k != "peak_mb")
    )
    table = "\n".join(
        [
            f"Measured {time.strftime('%Y-%m-%d')} on {machine}.",
            "",
            "Load + DFG (counts and durations) + variants; pm4py: read + format_dataframe + "
            "discover_dfg + get_variants. Ratio = pm4py time / procmine time (higher is better "
            "for procmine); memory = peak RSS of the process.",
            "",
            "| events | input | procmine | procmine peak | pm4py | pm4py peak | speed-up | "
            "memory ratio |",
            "|---:|---|---:|---:|---:|---:|---:|---:|",
            *rows,
            "",
            f"Full `procmine analyze` (read, discover, every detector ({full['findings']} "
            "findings), scoring, three maps, HTML report), one process:",
            "",
            "| events | wall time | peak memory | phases |",
            "|---:|---:|---:|---|",
            analyze_row,
            "",
            "Detect + score per detector, same run (`building order facts` is shared by all; "
            "`looking for root causes` covers every finding):",
            "",
            "| detector | detect + score |",
            "|---|---:|",
            *detector_rows,
            "",
        ]
    )
    args.out.write_text(table, encoding="utf-8")
    sys.stdout.write(table)


if __name__ == "__main__":
    main()
