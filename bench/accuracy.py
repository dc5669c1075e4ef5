# SPDX-License-Identifier: AGPL-3.0-or-later
"""Precision and recall of the detectors against the simulator's ground truth.

    python bench/accuracy.py                      # 110k and 1M events (the README figures)
    python bench/accuracy.py --events 20000       # a quick run

An instance counts as correct when its (original order, replacement order, variant) equals a
planted one.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from procmine import detect, read_log
from procmine.simulate import Simulation, simulate, write_log

DETECTORS = {
    "exchange_detour": {"cancel_reorder", "return_reorder", "reorder_before_refund"},
    "lost_sale": {"after_cancel", "after_return"},
}


def measure(events: int, seed: int, work: Path) -> list[str]:
    sim = Simulation.for_events(events, seed=seed)
    log = simulate(sim)
    path = work / f"accuracy-{events}.csv"
    write_log(log, path)
    found = detect(read_log(path))
    truth = log.truth.to_pylist()
    rows = []
    for detector, variants in DETECTORS.items():
        expected = {
            (t["original_case"], t["replacement_case"] or "", t["variant"])
            for t in truth
            if t["variant"] in variants
        }
        got = {
            (i.original_case, i.replacement_case or "", i.variant)
            for f in found
            if f.detector == detector
            for i in f.instances
        }
        hits = len(expected & got)
        rows.append(
            f"| {log.events.num_rows:,} | {seed} | {detector} | {len(expected):,} | {len(got):,} "
            f"| {hits / max(len(got), 1):.3f} | {hits / max(len(expected), 1):.3f} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, nargs="+", default=[110_000, 1_000_000])
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()
    lines = [
        "| events | seed | detector | planted | found | precision | recall |",
        "|---:|---:|---|---:|---:|---:|---:|",
    ]
    with tempfile.TemporaryDirectory(prefix="procmine-accuracy-") as tmp:
        for events in args.events:
            lines += measure(events, args.seed, Path(tmp))
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
