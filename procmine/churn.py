# SPDX-License-Identifier: AGPL-3.0-or-later
"""Matched comparison of what customers do next: affected customers against clean controls.

A *unit* is one customer at one moment: the original order whose covariates describe them,
a window start after which we watch for a repurchase, and the outcome. Controls are clean
orders (no cancel, return, failed payment, exchange or refund) of customers who had no
reversal up to that order, watched from the order's delivery (or last event) plus one day.

Treated and control units are matched exactly on the covariates of ``ChurnConfig.match_on``
(buckets of prior orders, prior 90-day spend and tenure, the category and the month of the
original order) and compared with :func:`procmine.stats.stratified_difference`. Units whose
window is not fully inside the log are not observed and left out (right censoring).
This is an association, not a causal effect.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np
import numpy.typing as npt
import pandas as pd

from procmine.config import ChurnConfig
from procmine.detect.orders import DAY, OrderTables
from procmine.engine import Engine, Scratch, to_frame
from procmine.stats import Interval, newcombe_difference, stratified_difference

__all__ = [
    "ChurnModel",
    "Comparison",
    "control_units",
    "covariates",
    "matched_strata",
    "watch",
]


def covariates(orders: OrderTables) -> ir.Table:
    """Per order: the matching covariates of its customer at the time it was placed."""
    f = orders.facts.filter(orders.facts.customer_id.notnull())
    w = ibis.window(group_by=f.customer_id, order_by=[f.order_s, f.case_id])
    spend_w = ibis.range_window(
        group_by=f.customer_id, order_by=f.order_s, preceding=90 * DAY, following=0
    )
    first = f.order_s.min().over(ibis.window(group_by=f.customer_id))
    prior = ibis.row_number().over(w)
    spend = f.amount.fill_null(0).sum().over(spend_w) - f.amount.fill_null(0)
    tenure = (f.order_s - first) / DAY
    month = f.order_s.cast("int64").as_timestamp("s").strftime("%Y-%m")
    return f.select(
        "case_id",
        prior_orders=ibis.cases(
            (prior == 0, "0"),
            (prior <= 2, "1-2"),
            (prior <= 5, "3-5"),
            (prior <= 10, "6-10"),
            else_="11+",
        ),
        prior_spend=ibis.cases(
            (spend <= 0, "0"),
            (spend < 50, "<50"),
            (spend < 200, "<200"),
            (spend < 1000, "<1000"),
            else_="1000+",
        ),
        tenure=ibis.cases(
            (prior == 0, "new"),
            (tenure < 90, "<90d"),
            (tenure < 365, "<365d"),
            else_="365d+",
        ),
        category=f.category.fill_null("(none)"),
        month=month,
    )


def watch(orders: OrderTables, units: ir.Table, *, lost: bool = False) -> ir.Table:
    """Add ``observed``, ``repurchased``, ``outcome`` and ``forward_revenue`` to ``units``.

    ``units`` needs ``unit_id``, ``customer_id``, ``case_id``, ``start_s`` and ``stop_s``: a
    unit repurchased when the customer placed an order (other than ``case_id``) in
    ``(start_s, stop_s]``, and is observed when ``stop_s`` lies inside the log. ``outcome``
    is ``repurchased``, or its negation (the customer was lost) with ``lost``;
    ``forward_revenue`` is the value of those later orders.
    """
    f = orders.facts
    later = f.select(
        l_customer=f.customer_id, l_case=f.case_id, l_order_s=f.order_s, l_amount=f.amount
    )
    j = units.left_join(
        later,
        [
            units.customer_id == later.l_customer,
            units.case_id != later.l_case,
            later.l_order_s > units.start_s,
            later.l_order_s <= units.stop_s,
        ],
    )
    agg = j.group_by("unit_id").aggregate(n_later=j.l_case.count(), revenue=j.l_amount.sum())
    out = units.join(agg, "unit_id")
    repurchased = out.n_later > 0
    return out.mutate(
        observed=out.stop_s <= orders.log_end_s,
        repurchased=repurchased,
        outcome=~repurchased if lost else repurchased,
        forward_revenue=out.revenue.fill_null(0.0),
    ).drop("n_later", "revenue")


def _control_orders(orders: OrderTables) -> ir.Table:
    """Clean orders of identified customers with no reversal up to that order."""
    f = orders.facts.filter(orders.facts.customer_id.notnull())
    first_reversal = (
        f.filter(f.kind.notnull())
        .group_by(r_customer=f.customer_id)
        .aggregate(first_rev_s=lambda t: t.order_s.min())
    )
    c = f.filter(f.clean).left_join(first_reversal, f.customer_id == first_reversal.r_customer)
    return c.filter(c.first_rev_s.isnull() | (c.first_rev_s > c.order_s))


def _control_window(c: ir.Table, horizon_s: float, *, lost: bool) -> tuple[ir.Value, ir.Value]:
    """``(start, stop)`` of a control unit's watch window (see :func:`control_units`)."""
    if lost:
        return c.order_s, c.end_s + horizon_s
    return c.end_s + DAY, c.end_s + DAY + horizon_s


def control_units(orders: OrderTables, horizon_s: float, *, lost: bool = False) -> ir.Table:
    """Clean orders of customers with no reversal up to that order, watched as controls.

    For repurchase comparisons the window is ``(end + 1 day, end + 1 day + horizon]`` (end =
    delivery, or last event); for lost-customer comparisons it is ``(order, end + horizon]``,
    mirroring how reversals are judged.
    """
    c = _control_orders(orders)
    start, stop = _control_window(c, horizon_s, lost=lost)
    units = c.select(
        unit_id=c.case_id,
        customer_id=c.customer_id,
        case_id=c.case_id,
        start_s=start,
        stop_s=stop,
    )
    return watch(orders, units, lost=lost)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Outcome rates of treated units against exactly matched controls.

    ``difference`` is the stratified difference treated - control (for example the change in
    the 90-day repurchase rate) with its bootstrap interval; ``naive`` is the unmatched
    difference (Newcombe interval), shown because the gap between the two tells how much the
    matching corrected. ``forward_revenue`` is the mean revenue in the horizon of control
    units that repurchased (the value of a retained customer).
    """

    treated: int
    treated_observed: int
    treated_matched: int
    controls: int
    strata: int
    treated_rate: float
    control_rate: float
    difference: Interval | None
    naive: Interval | None
    forward_revenue: float
    matched_on: tuple[str, ...] = ()

    @property
    def expected_treated_outcomes(self) -> float:
        """How many matched treated units would have the outcome at the control rate."""
        if self.treated_matched == 0 or math.isnan(self.control_rate):
            return math.nan
        return self.control_rate * self.treated_matched

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "treated": self.treated,
            "treated_observed": self.treated_observed,
            "treated_matched": self.treated_matched,
            "controls": self.controls,
            "strata": self.strata,
            "treated_rate": _num(self.treated_rate),
            "control_rate": _num(self.control_rate),
            "difference": _iv(self.difference),
            "naive_difference": _iv(self.naive),
            "forward_revenue": _num(self.forward_revenue),
            "matched_on": list(self.matched_on),
        }


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 6)


def _iv(iv: Interval | None) -> dict[str, float | None] | None:
    if iv is None:
        return None
    return {"estimate": _num(iv.estimate), "low": _num(iv.low), "high": _num(iv.high)}


#: a coarser match is tried when fewer than this share of treated units find controls
MIN_MATCHED_SHARE = 0.8
#: a stratum needs this many control units to count as a match: a rate from one or two
#: controls is mostly noise, and its bootstrap would pretend it has none
MIN_CONTROLS = 10


def matched_strata(
    t_counts: pd.DataFrame, c_counts: pd.DataFrame, keys: list[str], min_matched: int
) -> tuple[pd.DataFrame, list[str]]:
    """The strata of treated units with controls, and the covariates that define them.

    ``t_counts`` has ``t_n`` and ``t_k`` (units, outcomes) and ``c_counts`` ``c_n`` and
    ``c_k`` per combination of ``keys`` (``all`` when there are none). A stratum of the
    treated is matched when it holds at least :data:`MIN_CONTROLS` controls. When fewer than
    :data:`MIN_MATCHED_SHARE` of the treated units (or fewer than ``min_matched``) are
    matched, the last key is dropped and the strata are summed again, down to the first key;
    if none is enough, the level that matched the most. Returns ``t_n, t_k, c_n, c_k`` per
    matched stratum, in the keys' order (missing values last), and the keys used.

    >>> t = pd.DataFrame({"a": ["x", "y"], "b": ["p", "q"], "t_n": [5, 5], "t_k": [1, 2]})
    >>> c = pd.DataFrame({"a": ["x", "y"], "b": ["q", "q"], "c_n": [30, 30], "c_k": [9, 3]})
    >>> strata, used = matched_strata(t, c, ["a", "b"], min_matched=1)
    >>> used, strata.to_dict("list")
    (['a'], {'t_n': [5, 5], 't_k': [1, 2], 'c_n': [30, 30], 'c_k': [9, 3]})
    """
    keys = list(keys) or ["all"]
    n_t, n_c = len(t_counts), len(c_counts)
    # Each key column is coded once over both tables (sorted, missing last, as pandas groups
    # them), and a stratum at each level is one number (its codes in mixed radix, ranked),
    # summed by bincount: pandas' two group-bys and a merge per level took about 45 ms a
    # comparison.
    codes: list[npt.NDArray[np.int64]] = []
    radix: list[int] = []
    for key in keys:
        values = pd.concat([t_counts[key], c_counts[key]], ignore_index=True)
        code, uniques = pd.factorize(values, sort=True, use_na_sentinel=False)
        codes.append(code.astype(np.int64))
        radix.append(max(len(uniques), 1))
    zeros_t, zeros_c = np.zeros(n_t, np.int64), np.zeros(n_c, np.int64)
    counts = {
        "t_n": np.concatenate([t_counts["t_n"].to_numpy(np.int64), zeros_c]),
        "t_k": np.concatenate([t_counts["t_k"].to_numpy(np.int64), zeros_c]),
        "c_n": np.concatenate([zeros_t, c_counts["c_n"].to_numpy(np.int64)]),
        "c_k": np.concatenate([zeros_t, c_counts["c_k"].to_numpy(np.int64)]),
    }
    treated_row = np.concatenate([np.ones(n_t), np.zeros(n_c)])
    total = int(counts["t_n"].sum())
    best: tuple[pd.DataFrame, list[str]] | None = None
    level = len(keys)
    while True:
        inverse = np.zeros(n_t + n_c, np.int64)
        for code, size in zip(codes[:level], radix[:level], strict=True):
            # Ranked again after each key, so that many keys of many values never overflow.
            ids, inverse = np.unique(inverse * size + code, return_inverse=True)
        sums = {
            name: np.bincount(inverse, weights=v, minlength=len(ids)).astype(np.int64)
            for name, v in counts.items()
        }
        # Strata of the treated only, as a merge of the controls onto them would give.
        keep = (np.bincount(inverse, weights=treated_row, minlength=len(ids)) > 0) & (
            sums["c_n"] >= MIN_CONTROLS
        )
        matched = pd.DataFrame({name: v[keep] for name, v in sums.items()})
        n = int(matched["t_n"].sum())
        if best is None or n > int(best[0]["t_n"].sum()):
            best = (matched, keys[:level])
        enough = n >= min_matched and (not total or n / total >= MIN_MATCHED_SHARE)
        if enough or level <= 1:
            return (matched, keys[:level]) if enough else best
        level -= 1


class ChurnModel:
    """Compares treated units with controls; shared parts are computed once per analysis.

    The covariates of every order and the counts of the control units per covariate
    combination (one set for repurchase, one for lost-customer comparisons) are computed on
    first use and reused by every finding. Matching is exact on ``match_on``: a treated unit
    is matched when its stratum holds at least ``MIN_CONTROLS`` control units. When fewer than
    80% of the treated units (or fewer than ``min_matched``) are matched, the last covariate
    is dropped and matching is retried (``prior_orders`` is always kept), and the covariates
    actually used are reported.
    """

    def __init__(
        self,
        engine: Engine,
        orders: OrderTables,
        config: ChurnConfig,
        horizon_s: float,
        *,
        scratch: Scratch | None = None,
    ) -> None:
        self._engine = engine
        self._orders = orders
        self._config = config
        self._horizon_s = horizon_s
        # The covariates are stored once and read by every finding's comparison: they
        # belong to the analysis's scratch, not to that of the detector that asks first.
        self._scratch = scratch
        self._cov: ir.Table | None = None
        self._controls: dict[bool, pd.DataFrame] = {}
        self._keys = list(config.match_on)

    @property
    def covariates(self) -> ir.Table:
        """The materialised covariates of every order of an identified customer."""
        if self._cov is None:
            self._cov = self._engine.materialize(
                covariates(self._orders).select("case_id", *self._keys),
                "cov",
                scratch=self._scratch,
            )
        return self._cov

    def _counts(self, units: ir.Table, prefix: str) -> pd.DataFrame:
        u = units.filter(units.observed).join(self.covariates, "case_id")
        by = self._keys or [ibis.literal("all").name("all")]
        return to_frame(
            u.group_by(by).aggregate(
                **{
                    f"{prefix}_n": u.count(),
                    f"{prefix}_k": u.outcome.cast("int64").sum(),
                    f"{prefix}_rev": u.forward_revenue.sum(where=u.repurchased),
                    f"{prefix}_rep": u.repurchased.cast("int64").sum(),
                }
            )
        )

    def control_counts(self, lost: bool) -> pd.DataFrame:
        """Counts of the control units per covariate combination (cached).

        Both kinds (repurchase and lost customer) are counted on first use, from one join
        of the control orders with the customers' later orders over the union of the two
        windows: the join is the cost (at 10M events, two million units), and the two
        kinds differ only in which later orders fall inside and when a unit is observed.
        """
        if lost not in self._controls:
            self._controls = self._both_control_counts()
        return self._controls[lost]

    def _both_control_counts(self) -> dict[bool, pd.DataFrame]:
        orders = self._orders
        c = _control_orders(orders)
        # Column suffix of each kind: the repurchase comparison, and the lost-customer one.
        kinds = {False: "rep", True: "lost"}
        columns: dict[str, ir.Value] = {}
        for lost, kind in kinds.items():
            start, stop = _control_window(c, self._horizon_s, lost=lost)
            columns[f"start_{kind}"] = start
            columns[f"stop_{kind}"] = stop
            columns[f"observed_{kind}"] = stop <= orders.log_end_s
        units = c.select(unit_id=c.case_id, customer_id=c.customer_id, **columns)
        f = orders.facts
        later = f.select(
            l_customer=f.customer_id, l_case=f.case_id, l_order_s=f.order_s, l_amount=f.amount
        )
        j = units.left_join(
            later,
            [
                units.customer_id == later.l_customer,
                units.unit_id != later.l_case,
                later.l_order_s > ibis.least(units.start_rep, units.start_lost),
                later.l_order_s <= ibis.greatest(units.stop_rep, units.stop_lost),
            ],
        )
        per_unit: dict[str, ir.Value] = {}
        for kind in kinds.values():
            inside = (j.l_order_s > j[f"start_{kind}"]) & (j.l_order_s <= j[f"stop_{kind}"])
            per_unit[f"n_{kind}"] = j.l_case.count(where=inside)
            per_unit[f"rev_{kind}"] = j.l_amount.sum(where=inside)
            # One value per unit: carried through the group-by without hashing it.
            per_unit[f"observed_{kind}"] = j[f"observed_{kind}"].any()
        agg = j.group_by("unit_id").aggregate(**per_unit)
        u = agg.join(self.covariates, agg.unit_id == self.covariates.case_id)
        by = self._keys or [ibis.literal("all").name("all")]
        sums: dict[str, ir.Value] = {}
        for lost, kind in kinds.items():
            observed = u[f"observed_{kind}"]
            repurchased = u[f"n_{kind}"] > 0
            outcome = ~repurchased if lost else repurchased
            sums[f"c_n_{kind}"] = u.count(where=observed)
            sums[f"c_k_{kind}"] = u.count(where=observed & outcome)
            sums[f"c_rev_{kind}"] = u[f"rev_{kind}"].sum(where=observed & repurchased)
            sums[f"c_rep_{kind}"] = u.count(where=observed & repurchased)
        counts = to_frame(u.group_by(by).aggregate(**sums))
        measures = ("c_n", "c_k", "c_rev", "c_rep")
        out: dict[bool, pd.DataFrame] = {}
        for lost, kind in kinds.items():
            part = counts[[*(self._keys or ["all"]), *(f"{m}_{kind}" for m in measures)]]
            part = part.rename(columns={f"{m}_{kind}": m for m in measures})
            # A covariate combination with no observed unit of this kind is not a stratum.
            out[lost] = part[part["c_n"] > 0].reset_index(drop=True)
        return out

    def compare(self, treated: ir.Table, *, lost: bool) -> Comparison:
        """Compare watched ``treated`` units with the matched controls.

        Only observed units count. Treated units whose stratum has no control are unmatched
        and left out of the difference.
        """
        config = self._config
        # Stored once: the units are a deep expression (a detector's query), and compiling
        # it for each of the two queries below cost more than running them on small logs.
        treated = self._engine.materialize(treated, "treated")
        t_counts = self._counts(treated, "t")
        c_counts = self.control_counts(lost)
        totals = (
            treated.aggregate(n=treated.count(), o=treated.observed.cast("int64").sum())
            .to_pyarrow()
            .to_pylist()[0]
        )
        c_total = int(c_counts["c_n"].sum()) if len(c_counts) else 0
        c_k = int(c_counts["c_k"].sum()) if len(c_counts) else 0
        c_rev = float(c_counts["c_rev"].fillna(0).sum()) if len(c_counts) else 0.0
        c_rep = int(c_counts["c_rep"].sum()) if len(c_counts) else 0
        t_total = int(t_counts["t_n"].sum()) if len(t_counts) else 0
        t_k = int(t_counts["t_k"].sum()) if len(t_counts) else 0
        matched, matched_on = (
            matched_strata(t_counts, c_counts, self._keys, config.min_matched)
            if t_total and c_total
            else (pd.DataFrame(), [])
        )
        n_matched = int(matched["t_n"].sum()) if len(matched) else 0
        difference: Interval | None = None
        control_rate = treated_rate = math.nan
        if n_matched >= config.min_matched:
            difference = stratified_difference(
                matched["t_n"].to_numpy(),
                matched["t_k"].to_numpy(),
                matched["c_n"].to_numpy(),
                matched["c_k"].to_numpy(),
                confidence=config.confidence,
                replicates=config.bootstrap,
                seed=config.seed,
            )
        if n_matched:
            w = matched["t_n"].to_numpy() / n_matched
            control_rate = float((w * matched["c_k"].to_numpy() / matched["c_n"].to_numpy()).sum())
            treated_rate = float(matched["t_k"].sum() / n_matched)
        naive = (
            newcombe_difference(t_k, t_total, c_k, c_total, config.confidence)
            if t_total and c_total
            else None
        )
        return Comparison(
            treated=int(totals["n"] or 0),
            treated_observed=int(totals["o"] or 0),
            treated_matched=n_matched,
            controls=c_total,
            strata=len(matched),
            treated_rate=treated_rate,
            control_rate=control_rate,
            difference=difference,
            naive=naive,
            forward_revenue=c_rev / c_rep if c_rep else math.nan,
            matched_on=tuple(k for k in matched_on if k != "all"),
        )
