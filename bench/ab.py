# SPDX-License-Identifier: AGPL-3.0-or-later
"""Two versions of procmine on one log, run alternately: did a change make the analysis faster?

On a shared machine the seconds of one run drift by a fifth within the hour, more than most
changes win. Runs of the two versions taken in turn (before, after, before, after, ...) meet
the same drift, so their medians compare where two separate benchmark runs cannot.

``--before`` is a git revision of this repository, checked out into a temporary worktree
(removed afterwards); ``--after`` is this checkout as it is, uncommitted changes included,
or another revision. Each run is the full ``procmine analyze`` of ``bench/_task.py`` (read,
discover, detect, score, maps, report) in a fresh process, with the version's own code,
after one untimed run of each::

    python bench/ab.py /tmp/orders-10000000.parquet --before main --rounds 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_core import run_task

ROOT = Path(__file__).resolve().parents[1]


@contextmanager
def _tree(revision: str | None) -> Iterator[Path]:
    """This checkout (``None``), or ``revision`` in a temporary git worktree."""
    if revision is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory(prefix="procmine-ab-") as tmp:
        path = Path(tmp) / "tree"
        added = subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(path), revision],
            capture_output=True,
            text=True,
            check=False,
        )
        if added.returncode != 0:
            raise SystemExit(f"cannot check out {revision!r}: {added.stderr.strip()}")
        try:
            yield path
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(path)], check=True
            )


def _env(tree: Path) -> dict[str, str]:
    """The environment that makes ``import procmine`` load ``tree``'s code (ahead of the
    installed, editable one), checked."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    found = subprocess.run(
        [sys.executable, "-P", "-c", "import procmine; print(procmine.__file__)"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(found).resolve().is_relative_to(tree.resolve()):
        raise SystemExit(f"procmine was imported from {found}, not from {tree}")
    return env


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return statistics.median(float(r[key]) for r in runs)


def table(log: Path, labels: tuple[str, str], runs: dict[str, list[dict[str, Any]]]) -> str:
    """The markdown report: every run in the order taken, then the medians."""
    before, after = labels
    lines = [
        f"`procmine analyze` of {log.name}, {before} against {after}, taken in turn:",
        "",
        "| round | version | wall time | peak memory | phases |",
        "|---:|---|---:|---:|---|",
    ]
    for i, pair in enumerate(zip(runs[before], runs[after], strict=True), start=1):
        for label, r in zip(labels, pair, strict=True):
            phases = ", ".join(f"{k} {v:.1f} s" for k, v in r["phases"].items())
            lines.append(
                f"| {i} | {label} | {r['seconds']:.2f} s | {r['peak_mb']:,.0f} MB | {phases} |"
            )
    b, a = _median(runs[before], "seconds"), _median(runs[after], "seconds")
    mb, ma = _median(runs[before], "peak_mb"), _median(runs[after], "peak_mb")
    lines += [
        "",
        f"Medians: {before} {b:.2f} s and {mb:,.0f} MB; {after} {a:.2f} s and {ma:,.0f} MB: "
        f"{after} takes {a / b:.2f}x the time and {ma / mb:.2f}x the memory of {before}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", type=Path, help="the log to analyse (CSV, Parquet, ...)")
    parser.add_argument("--before", required=True, help="git revision to compare against")
    parser.add_argument(
        "--after", default=None, help="git revision (default: this checkout as it is)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="runs of each version")
    parser.add_argument("--out", type=Path, help="also write the report here")
    args = parser.parse_args()
    if not args.log.exists():
        raise SystemExit(f"no such log: {args.log}")
    labels = (args.before, args.after or "this checkout")
    runs: dict[str, list[dict[str, Any]]] = {label: [] for label in labels}
    with (
        _tree(args.before) as before,
        _tree(args.after) as after,
        tempfile.TemporaryDirectory() as out,
    ):
        trees = dict(zip(labels, (before, after), strict=True))
        envs = {label: _env(tree) for label, tree in trees.items()}
        # An untimed run of each first: a fresh worktree compiles its modules on first use.
        for i in [-1, *range(args.rounds)]:
            for label in labels:
                result = run_task(
                    "procmine-analyze",
                    str(args.log),
                    str(Path(out) / f"{i}-{labels.index(label)}"),
                    task=trees[label] / "bench" / "_task.py",
                    env=envs[label],
                )
                if i < 0:
                    continue
                runs[label].append(result)
                print(f"round {i + 1}, {label}: {result['seconds']:.2f} s", file=sys.stderr)
    report = table(args.log, labels, runs)
    sys.stdout.write(report)
    if args.out:
        args.out.write_text(report)


if __name__ == "__main__":
    main()
