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
    draws = (_resample(rng, nt, kt, replicates) - _resample(rng, nc, kc, replicates)) @ weights
    alpha = (1 - confidence) / 2
    low, high = np.quantile(draws, [alpha, 1 - alpha])
    return Interval(estimate, float(low), float(high))


def _resample(
    rng: np.random.Generator, n: npt.NDArray[np.int64], k: npt.NDArray[np.int64], replicates: int
) -> npt.NDArray[np.float64]:
    """Bootstrap proportions per stratum, ``replicates x strata``.

    ``Binomial(n, p) / n`` draws, except for strata large enough for the normal
    approximation (``n >= 30`` with at least 5 successes and 5 failures), which get normal
    draws with the same mean and variance: the same distribution to within the approximation,
    at a fraction of the cost when a log has thousands of strata.
    """
    # Strata where every unit had the same outcome would never vary when resampled. They are
    # resampled at a rate pulled slightly inward ((k + 1/2) / (n + 1)), which gives them the
    # spread a small sample has, and shifted back so that their draws stay centred on k / n.
    observed = k / n
    p = np.where((k == 0) | (k == n), (k + 0.5) / (n + 1.0), observed)
    out = np.empty((replicates, n.size))
    large = (n >= 30) & (k >= 5) & (n - k >= 5)
    if large.any():
        sd = np.sqrt(p[large] * (1 - p[large]) / n[large])
        out[:, large] = p[large] + sd * rng.standard_normal((replicates, int(large.sum())))
    small = ~large
    if small.any():
        out[:, small] = rng.binomial(n[small], p[small], size=(replicates, int(small.sum())))
        out[:, small] /= n[small]
    return out + (observed - p)
