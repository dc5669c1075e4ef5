# SPDX-License-Identifier: AGPL-3.0-or-later
"""The simulator, and the detectors measured against its ground truth."""

from __future__ import annotations

from pathlib import Path

import pyarrow.csv as pacsv
import pytest

from procmine import detect, read_log
from procmine.simulate import Simulation, describe, simulate, write_log


def test_the_same_seed_gives_the_same_log() -> None:
    a = simulate(Simulation(customers=50, seed=11))
    b = simulate(Simulation(customers=50, seed=11))
    c = simulate(Simulation(customers=50, seed=12))
    assert a.events.equals(b.events) and a.truth.equals(b.truth)
    assert not a.events.equals(c.events)


def test_the_log_has_the_promised_noise() -> None:
    log = simulate(Simulation(customers=300, seed=5))
    activities = set(log.events.column("activity").to_pylist())
    assert {
        "Payment failed",
        "Cancelled by merchant (out of stock)",
        "Exchange requested",
        "Customer contact",
        "Return requested",
    } <= activities
    customers = log.events.column("customer_id").to_pylist()
    assert any(c is None for c in customers)  # blank customer ids
    kinds = describe(log.truth)
    assert {"cancel_reorder", "return_reorder", "reorder_before_refund"} <= set(kinds)


def test_write_log_in_every_format(tmp_path: Path) -> None:
    log = simulate(Simulation(customers=15, seed=2))
    for name in ("o.csv", "o.parquet", "o.xes.gz"):
        truth = write_log(log, tmp_path / name)
        assert truth.name == "o.truth.csv"
        read = read_log(tmp_path / name)
        assert read.stats.events == log.events.num_rows
    assert pacsv.read_csv(tmp_path / "o.truth.csv").num_rows == log.truth.num_rows


@pytest.mark.slow
def test_precision_and_recall_on_a_noisy_log_of_100k_events(tmp_path: Path) -> None:
    sim = Simulation.for_events(110_000, seed=2024)
    log = simulate(sim)
    assert log.events.num_rows >= 100_000
    write_log(log, tmp_path / "noisy.csv")
    found = detect(read_log(tmp_path / "noisy.csv"))
    truth = log.truth.to_pylist()
    for detector, variants in (
        ("exchange_detour", {"cancel_reorder", "return_reorder", "reorder_before_refund"}),
        ("lost_sale", {"after_cancel", "after_return"}),
    ):
        expected = {
            (t["original_case"], t["replacement_case"], t["variant"])
            for t in truth
            if t["variant"] in variants
        }
        got = {
            (i.original_case, i.replacement_case, i.variant)
            for f in found
            if f.detector == detector
            for i in f.instances
        }
        hits = len(expected & got)
        precision, recall = hits / len(got), hits / len(expected)
        assert precision >= 0.98, (detector, precision)
        assert recall >= 0.98, (detector, recall)
        assert len(expected) > 300
