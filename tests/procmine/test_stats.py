# SPDX-License-Identifier: AGPL-3.0-or-later
"""Interval estimates against published values and exact computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from procmine.stats import newcombe_difference, stratified_difference, wilson


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    # Newcombe (1998), Table I: Wilson score intervals
    [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombe_1998(k: int, n: int, low: float, high: float) -> None:
    iv = wilson(k, n)
    assert iv.low == pytest.approx(low, abs=5e-4) and iv.high == pytest.approx(high, abs=5e-4)


def test_newcombe_difference_matches_the_published_example() -> None:
    # Newcombe (1998), method 10, example (a): 56/70 - 48/80 = 0.2000 (0.0524, 0.3339)
    iv = newcombe_difference(56, 70, 48, 80)
    assert (round(iv.estimate, 4), round(iv.low, 4), round(iv.high, 4)) == (0.2, 0.0524, 0.3339)
    assert iv.excludes_zero


def test_empty_samples_give_nan() -> None:
    assert math.isnan(wilson(0, 0).estimate)
    assert math.isnan(newcombe_difference(1, 0, 1, 2).low)
    assert math.isnan(stratified_difference([], [], [], []).estimate)


def test_stratified_difference_weights_by_treated_counts() -> None:
    # Stratum 1: 90 treated at 0.1 vs controls at 0.2; stratum 2: 10 treated at 0.5 vs 0.5.
    iv = stratified_difference([90, 10], [9, 5], [1000, 1000], [200, 500], seed=3)
    assert iv.estimate == pytest.approx(0.9 * (0.1 - 0.2) + 0.1 * 0.0)
    assert iv.low < iv.estimate < iv.high


def test_bootstrap_interval_covers_the_truth_about_95_percent_of_the_time() -> None:
    rng = np.random.default_rng(7)
    true_pt, true_pc = np.array([0.3, 0.5]), np.array([0.4, 0.5])
    nt, nc = np.array([80, 40]), np.array([400, 300])
    truth = float(((nt / nt.sum()) * (true_pt - true_pc)).sum())
    covered = 0
    trials = 200
    for i in range(trials):
        kt, kc = rng.binomial(nt, true_pt), rng.binomial(nc, true_pc)
        iv = stratified_difference(nt, kt, nc, kc, replicates=400, seed=i)
        covered += iv.low <= truth <= iv.high
    assert 0.88 <= covered / trials <= 0.99


def test_strata_where_all_outcomes_agree_keep_their_uncertainty() -> None:
    # One treated and one control unit per stratum, every outcome the same within a stratum:
    # a plain bootstrap would return a zero-width interval; the smoothed one does not, and it
    # stays centred on the estimate.
    iv = stratified_difference([1, 1], [1, 0], [1, 1], [0, 0], replicates=2000, seed=1)
    assert iv.estimate == 0.5
    assert iv.low < iv.estimate < iv.high
    assert iv.estimate - iv.low == pytest.approx(iv.high - iv.estimate, abs=0.3)
