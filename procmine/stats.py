# SPDX-License-Identifier: AGPL-3.0-or-later
"""Interval estimates used by the scoring: Wilson, Newcombe and a stratified bootstrap.

All functions are pure and vectorised with NumPy; they take counts, never event rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

__all__ = ["Interval", "newcombe_difference", "stratified_difference", "wilson"]


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a confidence interval."""

    estimate: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or below zero."""
        return self.low > 0 or self.high < 0


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson(successes: int, n: int, confidence: float = 0.95) -> Interval:
    """Wilson score interval for a proportion.

    Examples
    --------
    >>> iv = wilson(8, 10)
    >>> round(iv.estimate, 3), round(iv.low, 3), round(iv.high, 3)
    (0.8, 0.49, 0.943)
    """
    if n <= 0:
        return Interval(math.nan, math.nan, math.nan)
    z = _z(confidence)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> Interval:
    """Difference of two proportions ``k1/n1 - k2/n2`` with Newcombe's hybrid score interval.

    Examples
    --------
    >>> iv = newcombe_difference(56, 70, 48, 80)
    >>> round(iv.estimate, 4), round(iv.low, 4), round(iv.high, 4)
    (0.2, 0.0524, 0.3339)
    """
    if n1 <= 0 or n2 <= 0:
        return Interval(math.nan, math.nan, math.nan)
    a = wilson(k1, n1, confidence)
    b = wilson(k2, n2, confidence)
    d = a.estimate - b.estimate
    low = d - math.sqrt((a.estimate - a.low) ** 2 + (b.high - b.estimate) ** 2)
    high = d + math.sqrt((a.high - a.estimate) ** 2 + (b.estimate - b.low) ** 2)
    return Interval(d, low, high)


def stratified_difference(
    n_treated: npt.ArrayLike,
    k_treated: npt.ArrayLike,
    n_control: npt.ArrayLike,
    k_control: npt.ArrayLike,
    *,
    confidence: float = 0.95,
    replicates: int = 2000,
    seed: int = 0,
) -> Interval:
    """Average effect on the treated, ``sum n_t (p_t - p_c) / sum n_t``, over matched strata.

    The interval is a stratified bootstrap over units: resampling the ``n`` binary outcomes of
    a stratum with replacement gives exactly ``Binomial(n, k/n)`` successes, so the bootstrap
    is drawn from the per-stratum counts without touching the rows. Strata without controls
    must be dropped by the caller.

    Examples
    --------
    >>> iv = stratified_difference([50, 50], [10, 20], [500, 500], [200, 300], seed=1)
    >>> round(iv.estimate, 3)
    -0.2
    >>> iv.high < 0
    True
    """
    nt = np.asarray(n_treated, dtype=np.int64)
    kt = np.asarray(k_treated, dtype=np.int64)
    nc = np.asarray(n_control, dtype=np.int64)
    kc = np.asarray(k_control, dtype=np.int64)
    if nt.size == 0 or nt.sum() == 0 or (nc <= 0).any():
        return Interval(math.nan, math.nan, math.nan)
    weights = nt / nt.sum()
    pt = kt / nt
    pc = kc / nc
    estimate = float(np.sum(weights * (pt - pc)))
    rng = np.random.default_rng(seed)
    draws = _weighted_draws(rng, weights, nt, kt, replicates) - _weighted_draws(
        rng, weights, nc, kc, replicates
    )
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(estimate, float(low), float(high))


def _weighted_draws(
    rng: np.random.Generator,
    weight: npt.NDArray[np.float64],
    n: npt.NDArray[np.int64],
    k: npt.NDArray[np.int64],
    replicates: int,
) -> npt.NDArray[np.float64]:
    """Bootstrap draws of ``sum_i weight_i * k_i / n_i``, one per replicate.

    Each stratum's resampled proportion is ``Binomial(n, p) / n``, except for strata large
    enough for the normal approximation (``n >= 30`` with at least 5 successes and 5
    failures), whose weighted sum is drawn as one normal with the summed mean and variance.
    Strata alike in weight, ``n`` and ``k`` are drawn together: ``m`` of them sum to
    ``Binomial(m * n, p)``, exactly. A log with thousands of strata thus costs a few dozen
    draws per replicate, not thousands.
    """
    # Strata where every unit had the same outcome would never vary when resampled. They are
    # resampled at a rate pulled slightly inward ((k + 1/2) / (n + 1)), which gives them the
    # spread a small sample has, and shifted back so that their draws stay centred on k / n.
    observed = k / n
    p = np.where((k == 0) | (k == n), (k + 0.5) / (n + 1.0), observed)
    draws = np.full(replicates, float(np.sum(weight * (observed - p))))
    large = (n >= 30) & (k >= 5) & (n - k >= 5)
    if large.any():
        wl, pl = weight[large], p[large]
        mean = float(np.sum(wl * pl))
        sd = math.sqrt(float(np.sum(wl**2 * pl * (1 - pl) / n[large])))
        draws += mean + sd * rng.standard_normal(replicates)
    small = ~large
    if small.any():
        keys = np.stack([weight[small], n[small].astype(np.float64), k[small].astype(np.float64)])
        groups, copies = np.unique(keys, axis=1, return_counts=True)
        w, gn, gk = groups[0], groups[1].astype(np.int64), groups[2].astype(np.int64)
        gp = np.where((gk == 0) | (gk == gn), (gk + 0.5) / (gn + 1.0), gk / gn)
        successes = rng.binomial(gn * copies, gp, size=(replicates, gn.size))
        draws += successes @ (w / gn)
    return draws
