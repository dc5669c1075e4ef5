# SPDX-License-Identifier: AGPL-3.0-or-later
"""Scoring: turn a detection into a finding with counts, time, money, churn and severity.

What is computed (DESIGN.md section 3):

* **frequency**: instances, affected customers, their share of customers and of orders, the
  rate per eligible reversal;
* **baseline**: the expected instances without friction, the *excess* (observed - expected)
  and the share that is genuine (excess / observed). Money scales with the excess;
* **time**: median and p90 of the time lost per instance (hours);
* **money**: refunded amount, direct cost per instance under the
  :class:`~procmine.config.CostModel` and in total for the excess instances;
* **churn**: the matched difference in the repurchase rate (or the lost-customer rate) against
  clean customers, with its interval (:mod:`procmine.churn`); an association, not a cause;
* **revenue at risk**: affected customers x drop in repurchase x forward revenue of a retained
  customer, only when the interval excludes zero (otherwise *inconclusive*, no number);
* **severity**: expected money at risk per month = (direct cost of the excess + conclusive
  revenue at risk) x 30.44 / observed days, in the log's currency.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from procmine.churn import ChurnModel, Comparison
from procmine.config import CostModel
from procmine.detect.base import DetectContext, Detection
from procmine.findings import INSTANCE_SCHEMA, Finding, Instance
from procmine.records import Records

__all__ = ["MONTH_DAYS", "apply_cost_model", "score_detection"]

MONTH_DAYS = 30.4375
SMALL_SAMPLE = 30


def _to_timestamp(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    seconds = pc.cast(col, pa.float64())
    micros = pc.cast(pc.round(pc.multiply(seconds, 1_000_000)), pa.int64())
    return pc.cast(micros, pa.timestamp("us"))


def apply_cost_model(
    instances: pa.Table, costs: CostModel, *, replacement: bool, per_repeat: float = 0.0
) -> pa.Table:
    """Add ``return_shipping_cost`` and ``cost`` and convert times to the instance schema.

    Per instance: an extra outbound shipment when the original had already been shipped and a
    replacement was sent (``replacement``); return label plus handling for a shipped original;
    the payment fee kept on a refund of a captured payment; each support contact; and
    ``per_repeat`` for each extra repetition (``repeats``). Instance columns a detector does
    not produce (``step`` and ``repeats`` for detours) are null.
    """
    n = instances.num_rows
    for name in ("step", "repeats"):
        if name not in instances.column_names:
            instances = instances.append_column(name, pa.nulls(n, INSTANCE_SCHEMA.field(name).type))
    repeats = np.nan_to_num(
        np.asarray(instances.column("repeats").to_numpy(zero_copy_only=False), dtype=float)
    )
    shipped = np.asarray(
        instances.column("shipped").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
    )
    captured = np.asarray(
        instances.column("captured").fill_null(False).to_numpy(zero_copy_only=False), dtype=bool
    )
    amount = np.nan_to_num(
        np.asarray(instances.column("amount_original").to_numpy(zero_copy_only=False), dtype=float)
    )
    refund = np.nan_to_num(
        np.asarray(instances.column("refund_amount").to_numpy(zero_copy_only=False), dtype=float)
    )
    contacts = np.nan_to_num(
        np.asarray(instances.column("contacts").to_numpy(zero_copy_only=False), dtype=float)
    )
    handling = (
        costs.return_handling_share * amount
        if costs.return_handling_share is not None
        else np.full(n, costs.return_handling)
    )
    return_cost = np.where(shipped, costs.return_label + handling, 0.0)
    fee = np.where(
        captured & (refund > 0), costs.payment_fee_rate * refund + costs.payment_fee_fixed, 0.0
    )
    outbound = np.where(shipped, costs.outbound_shipment, 0.0) if replacement else np.zeros(n)
    total = outbound + return_cost + fee + costs.contact * contacts + per_repeat * repeats
    columns: dict[str, Any] = {}
    for name in INSTANCE_SCHEMA.names:
        if name == "return_shipping_cost":
            columns[name] = pa.array(np.where(shipped, costs.return_label, 0.0), pa.float64())
        elif name == "cost":
            columns[name] = pa.array(total, pa.float64())
        elif name.endswith("_time"):
            source = name.removesuffix("_time") + "_s"
            columns[name] = _to_timestamp(instances.column(source))
        else:
            columns[name] = pc.cast(instances.column(name), INSTANCE_SCHEMA.field(name).type)
    return pa.table(columns, schema=INSTANCE_SCHEMA)


def _quantile(values: np.ndarray, q: float) -> float | None:
    values = values[~np.isnan(values)]
    return float(np.quantile(values, q)) if values.size else None


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None or (isinstance(x, float) and (math.isnan(x) or math.isinf(x))):
        return None
    return round(float(x), digits)


def _pp(x: float) -> str:
    return f"{x * 100:+.1f} pp"


def score_detection(
    detection: Detection,
    ctx: DetectContext,
    churn: ChurnModel,
) -> Finding:
    """Score one detection (see the module docstring); ``churn`` is shared by the findings
    of one analysis."""
    cfg = ctx.config
    costs = cfg.cost_model
    stats = ctx.log.stats
    is_detour = detection.kind == "detour"
    is_lost = detection.kind == "lost"
    table = apply_cost_model(
        detection.instances, costs, replacement=is_detour, per_repeat=detection.cost_per_repeat
    )
    n = table.num_rows
    customers = len(pc.unique(table.column("customer"))) if n else 0
    cost = np.asarray(table.column("cost").to_numpy(zero_copy_only=False), dtype=float)
    lost_hours = np.asarray(
        table.column("time_lost_hours").to_numpy(zero_copy_only=False), dtype=float
    )
    refunded = float(pc.sum(table.column("refund_amount")).as_py() or 0.0) if n else 0.0

    comparison: Comparison | None = None
    # No instances, no affected customers to compare (a lost sale's comparison also gives
    # its baseline, so it runs even then).
    if detection.treated is not None and (n or is_lost):
        comparison = churn.compare(detection.treated, lost=is_lost)

    expected = detection.expected
    # Without a baseline of its own, a detour or lost sale takes the matched control rate
    # (customers re-buy, or stop buying, anyway); friction inside an order has no baseline:
    # every instance is friction.
    if (
        expected is None
        and detection.kind != "friction"
        and comparison is not None
        and not math.isnan(comparison.control_rate)
    ):
        expected = comparison.control_rate * detection.eligible
    excess = None if expected is None else n - expected
    genuine = None
    if excess is not None and n:
        genuine = min(max(excess / n, 0.0), 1.0)
    mean_cost = float(cost.mean()) if n else 0.0
    excess_n = max(excess, 0.0) if excess is not None else float(n)
    # A lost sale's costs belong to the reversal before it, not to the customer leaving.
    direct_excess = 0.0 if is_lost else mean_cost * excess_n

    diff = comparison.difference if comparison else None
    forward = comparison.forward_revenue if comparison else math.nan
    conclusive = diff is not None and diff.excludes_zero and not math.isnan(forward)
    risk = risk_low = risk_high = None
    if conclusive and diff is not None:
        if not is_lost:
            # A drop in repurchase (negative difference) puts future revenue at risk.
            drop = max(-diff.estimate, 0.0)
            risk = customers * drop * forward
            risk_low = customers * max(-diff.high, 0.0) * forward
            risk_high = customers * max(-diff.low, 0.0) * forward
        else:
            # More customers lost than among comparable customers without friction.
            rise = max(diff.estimate, 0.0)
            risk = detection.eligible * rise * forward
            risk_low = detection.eligible * max(diff.low, 0.0) * forward
            risk_high = detection.eligible * max(diff.high, 0.0) * forward
    monthly = MONTH_DAYS / stats.observed_days
    severity = (direct_excess + (risk or 0.0)) * monthly

    matched = comparison.treated_matched if comparison else 0
    if matched >= 100 and conclusive:
        evidence = "A"
    elif matched >= SMALL_SAMPLE:
        evidence = "B"
    else:
        evidence = "C"
    notes = list(detection.notes)
    if 0 < n < SMALL_SAMPLE:
        notes.append(f"small sample: {n} instances; treat rates and money as indicative")
    if comparison is not None and comparison.difference is None and n:
        notes.append(
            f"churn not estimated: {comparison.treated_matched} matched customers "
            f"(at least {cfg.churn.min_matched} needed)"
        )
    elif comparison is not None and not conclusive and n:
        notes.append("churn difference inconclusive: its interval includes zero")
    if is_lost and detection.metrics.get("censored_reversals"):
        notes.append(
            f"{detection.metrics['censored_reversals']} reversals within the horizon of the "
            "log's end were not judged (too recent)"
        )

    metrics: dict[str, float | int | None] = {
        "instances": n,
        "affected_customers": customers,
        "share_of_customers": _round(customers / stats.customers if stats.customers else None),
        "share_of_orders": _round(n / stats.cases if stats.cases else None),
        "eligible": detection.eligible,
        "rate": _round(n / detection.eligible if detection.eligible else None),
        "expected_instances": _round(expected, 2),
        "excess_instances": _round(excess, 2),
        "genuine_share": _round(genuine),
        "baseline_rate": _round(detection.baseline_rate),
        "median_time_lost_hours": _round(_quantile(lost_hours, 0.5), 2),
        "p90_time_lost_hours": _round(_quantile(lost_hours, 0.9), 2),
        "refunded_amount": _round(refunded, 2),
        "direct_cost_per_instance": _round(mean_cost, 2),
        "direct_cost_excess": _round(direct_excess, 2),
        "churn_difference": _round(diff.estimate) if diff else None,
        "churn_difference_low": _round(diff.low) if diff else None,
        "churn_difference_high": _round(diff.high) if diff else None,
        "matched_customers": matched,
        "revenue_at_risk": _round(risk, 2),
        "revenue_at_risk_low": _round(risk_low, 2),
        "revenue_at_risk_high": _round(risk_high, 2),
        "monthly_money_at_risk": _round(severity, 2),
        **detection.metrics,
    }
    currency = costs.currency
    units = {
        "instances": "count",
        "affected_customers": "count",
        "eligible": "count",
        "share_of_customers": "fraction",
        "share_of_orders": "fraction",
        "rate": "fraction",
        "expected_instances": "count",
        "excess_instances": "count",
        "genuine_share": "fraction",
        "baseline_rate": "fraction",
        "median_time_lost_hours": "hours",
        "p90_time_lost_hours": "hours",
        "refunded_amount": currency,
        "direct_cost_per_instance": currency,
        "direct_cost_excess": currency,
        "churn_difference": "fraction (treated - control)",
        "churn_difference_low": "fraction (treated - control)",
        "churn_difference_high": "fraction (treated - control)",
        "matched_customers": "count",
        "revenue_at_risk": currency,
        "revenue_at_risk_low": currency,
        "revenue_at_risk_high": currency,
        "monthly_money_at_risk": f"{currency}/month",
        "lost_revenue": currency,
        "detour_share_of_swaps": "fraction",
        "excluded_merchant": "count",
        "excluded_payment_failure": "count",
        "excluded_bracketing": "count",
        "excluded_no_customer": "count",
        "native_exchanges": "count",
        "instances_in_chains": "count",
        "longest_chain": "count",
        "censored_reversals": "count",
        # the friction detectors' own figures
        "orders_affected": "count",
        "extra_executions": "count",
        "self_loop_instances": "count",
        "excluded_exchange": "count",
        "bounces": "count",
        "hours_beyond_threshold": "hours",
        "worst_transition_share_of_order_time": "fraction",
        "contacts": "count",
        "voucher_value": currency,
    }
    assumptions = {
        **detection.assumptions,
        "eligible": detection.eligible_label,
        "cost_model": {k: getattr(costs, k) for k in costs.__slots__},
        "churn": {
            "horizon": detection.assumptions.get("horizon"),
            "outcome": "no purchase within the horizon after the reversal"
            if is_lost
            else "repurchase within the horizon after the "
            + ("detour" if is_detour else "affected order"),
            "match_on": list(cfg.churn.match_on),
            "matched_on": list(comparison.matched_on) if comparison else [],
            "confidence": cfg.churn.confidence,
            "interpretation": "association, not a causal effect",
        },
        "severity": "expected money at risk per month: (direct cost of excess instances + "
        "conclusive revenue at risk) x 30.44 / observed days",
    }
    summary = _summary(
        detection,
        n,
        customers,
        stats.customers,
        excess,
        lost_hours,
        diff,
        conclusive,
        risk,
        currency,
    )
    return Finding(
        id=f"{detection.detector}:{detection.variant}",
        detector=detection.detector,
        variant=detection.variant,
        title=detection.title,
        summary=summary,
        severity=float(severity),
        evidence=evidence,
        metrics=metrics,
        units={k: v for k, v in units.items() if k in metrics},
        assumptions=assumptions,
        notes=tuple(notes),
        churn=comparison.to_dict() if comparison else None,
        instances=Records(table, Instance.from_row),
    )


def _summary(
    detection: Detection,
    n: int,
    customers: int,
    all_customers: int,
    excess: float | None,
    lost_hours: np.ndarray,
    diff: Any,
    conclusive: bool,
    risk: float | None,
    currency: str,
) -> str:
    share = f" ({customers / all_customers:.1%} of customers)" if all_customers else ""
    parts = [f"{n:,} instances, {customers:,} customers{share}"]
    if excess is not None:
        parts.append(f"{max(excess, 0):,.0f} above the baseline")
    median = _quantile(lost_hours, 0.5)
    if median is not None:
        parts.append(f"median {median / 24:.1f} days lost")
    if diff is not None:
        what = "repurchase" if detection.outcome == "repurchase" else "lost-customer rate"
        verdict = "" if conclusive else ", inconclusive"
        parts.append(
            f"{what} {_pp(diff.estimate)} [{_pp(diff.low)}, {_pp(diff.high)}] vs matched "
            f"customers{verdict}"
        )
    if risk is not None:
        parts.append(f"{risk:,.0f} {currency} revenue at risk")
    return "; ".join(parts)
