# SPDX-License-Identifier: AGPL-3.0-or-later
"""Rework loops: a step of an order done more than once.

Definition (DESIGN.md section 2.3, FRICTION.md section 3.3): within one order (case), an
activity that occurs two or more times. One instance per (order, step), in three variants:

* ``payment_retry``: a failed payment (role ``pay_fail``) followed by another payment attempt
  (``pay`` or ``pay_fail``). The step is ``payment``; ``repeats`` counts the attempts after the
  first failure; each is priced at ``cost_model.payment_fee_fixed``.
* ``redelivery``: an activity with the role ``ship`` or ``deliver`` done again (a re-sent
  parcel, a second delivery attempt); each repeat is priced as an extra outbound shipment.
  Orders with a native ``exchange`` are left out (the exchange delivers the swapped item;
  counted as ``excluded_exchange``).
* ``repeated_step``: any other activity done again (address changed twice, data re-entered);
  each repeat is priced at ``cost_model.rework`` (0 unless set). Contacts are left to the
  repeated-contact detector.

``repeats`` is the number of extra executions and ``time_lost_hours`` the time from the first
execution (the first failure, for payments) to the last: how long the loop kept the order
busy. An activity that repeats in at least ``rework.structural_share`` of the orders it occurs
in is how the process works (one pick per item, a weekly reminder), not rework: it is left out
and listed under the assumptions. The counts of cases per repeated activity equal pm4py's
``get_rework_cases_per_activity`` for the activities kept (a test checks it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow.compute as pc

from procmine.config import format_duration
from procmine.detect.base import DetectContext, Detection, Detector, register
from procmine.detect.friction import (
    affected_units,
    friction_instances,
    most_common_steps,
    ordered_events,
    orders_affected,
)
from procmine.roles import Role

__all__ = ["Rework"]

PAYMENT_STEP = "payment"
_PAYMENT_ROLES = [Role.PAY.value, Role.PAY_FAIL.value]
_DELIVERY_ROLES = [Role.SHIP.value, Role.DELIVER.value]


#: Bits of an activity's hash that pick its slot in an order's fingerprint (32 slots, so
#: that a sum of slots cannot overflow a 64-bit integer).
_SLOT_BITS = 31


def _may_repeat(steps: ir.Table, engine_kind: str) -> ir.Table:
    """The events of the orders that may hold a repeated step, a superset of those that do.

    Nearly every (order, activity) pair occurs once, and grouping ten million of them exactly
    takes gigabytes. On DuckDB each activity sets one of 32 slots of an order's fingerprint,
    twice, from two halves of its hash: where the slots' sum exceeds their OR, two events of
    the order share a slot, so a repeated activity always shows (and two different
    activities sharing a slot in both halves rarely do). One group-by over the orders, a
    third of the cost of the pair-wise pass that other engines run (Ibis compiles no
    ``bit_or`` for Spark): one integer per (order, activity) pair, a collision only letting
    an extra pair through. Only the candidates' events are then grouped exactly.
    """
    if engine_kind == "duckdb":
        h = steps.activity.hash()
        one = ibis.literal(1, "int64")
        low = one << (h & _SLOT_BITS)
        high = one << ((h >> 32) & _SLOT_BITS)
        per_order = steps.group_by("case_id").aggregate(
            low_or=low.bit_or(), low_sum=low.sum(), high_or=high.bit_or(), high_sum=high.sum()
        )
        maybe = per_order.filter(
            (per_order.low_or != per_order.low_sum) & (per_order.high_or != per_order.high_sum)
        )
        return steps.semi_join(maybe.select("case_id"), "case_id")
    keyed = steps.mutate(pair=steps.case_id.hash() ^ steps.activity.hash())
    pairs = keyed.group_by("pair").aggregate(n=keyed.count())
    return keyed.semi_join(pairs.filter(pairs.n >= 2).select("pair"), "pair").drop("pair")


@register
class Rework(Detector):
    """A step of one order done more than once: payment retries, redeliveries, other redos."""

    name = "rework_loop"
    title = "Rework loops"
    description = (
        "A step of an order is done again: a failed payment retried, a parcel sent or "
        "delivered twice, an address changed twice. Steps that repeat in most orders (one "
        "per item) are not counted."
    )
    variants: ClassVar[Mapping[str, str]] = {
        "payment_retry": "Payment failed and retried",
        "redelivery": "Shipped or delivered more than once",
        "repeated_step": "Step done more than once",
    }

    def detect(self, ctx: DetectContext) -> list[Detection]:
        cfg = ctx.config
        ev, _ = ordered_events(ctx)
        ev = ev.filter(ev.role.isnull() | (ev.role != Role.CONTACT.value))
        is_payment = ev.role.isin(_PAYMENT_ROLES).fill_null(False)
        ev = ev.mutate(self_loop=(ev.prev_activity == ev.activity).fill_null(False))
        steps = ev.filter(~is_payment)
        candidates = _may_repeat(steps, ctx.engine.kind)
        by_step = candidates.group_by(["case_id", "activity"]).aggregate(
            role=candidates.role.max(),
            n=candidates.count(),
            first_s=candidates.ts_s.min(),
            last_s=candidates.ts_s.max(),
            self_loop=candidates.self_loop.any(),
        )
        by_step = by_step.filter(by_step.n >= 2)
        repeated = by_step.select(
            "case_id",
            step=by_step.activity,
            variant=ibis.ifelse(
                by_step.role.isin(_DELIVERY_ROLES).fill_null(False), "redelivery", "repeated_step"
            ),
            n="n",
            first_s="first_s",
            last_s="last_s",
            self_loop="self_loop",
        )
        # Payments are one step whatever the activity (authorised, failed, captured), and
        # the loop starts at the first failure: earlier successful payments (a deposit, a
        # split payment) are not part of it. Positions order a case's events, so no sort is
        # needed to find it.
        pays = ev.filter(is_payment)
        first_fail = pays.filter(pays.role == Role.PAY_FAIL.value)
        first_fail = first_fail.group_by("case_id").aggregate(first_fail=first_fail.pos.min())
        pays = pays.join(first_fail, "case_id").select(*pays.columns, "first_fail")
        pays = pays.filter(pays.pos >= pays.first_fail)
        retries = pays.group_by("case_id").aggregate(
            n=pays.count(),
            first_s=pays.ts_s.min(),
            last_s=pays.ts_s.max(),
            self_loop=pays.self_loop.any(),
        )
        retries = retries.filter(retries.n >= 2).select(
            "case_id",
            step=ibis.literal(PAYMENT_STEP),
            variant=ibis.literal("payment_retry"),
            n="n",
            first_s="first_s",
            last_s="last_s",
            self_loop="self_loop",
        )
        found = ctx.engine.materialize(repeated.union(retries), "rework")
        structural = self._structural(ctx, steps, found)
        loops = found
        if structural:
            loops = loops.filter(
                (loops.variant == "payment_retry") | ~loops.step.isin(list(structural))
            )
        f = ctx.orders.facts
        joined = loops.join(f, "case_id")
        # A native exchange ships and delivers the swapped item: the exchange path working,
        # not a redelivery.
        via_exchange = (joined.variant == "redelivery") & joined.exchange_s.notnull()
        excluded_exchange = int(via_exchange.cast("int64").sum().to_pyarrow().as_py() or 0)
        joined = joined.filter(~via_exchange)
        inst = friction_instances(
            joined,
            variant=joined.variant,
            step=joined.step,
            repeats=joined.n - 1,
            anchor_s=joined.first_s,
            time_lost_hours=(joined.last_s - joined.first_s) / 3600.0,
            self_loop=joined.self_loop,
        )
        inst = ctx.engine.materialize(inst, "rework_inst")
        eligible = self._eligible(ctx)
        costs = cfg.cost_model
        per_repeat = {
            "payment_retry": costs.payment_fee_fixed,
            "redelivery": costs.outbound_shipment,
            "repeated_step": costs.rework,
        }
        detections = []
        for variant, title in self.variants.items():
            subset = inst.filter(inst.variant == variant)
            table = subset.order_by(["customer", "original_order_s", "original_case", "step"])
            arrow = table.to_pyarrow()
            self_loops = int(pc.sum(arrow.column("self_loop")).as_py() or 0) if len(arrow) else 0
            top = most_common_steps(arrow, "most repeated")
            notes = [top] if top else []
            if variant == "payment_retry" and not ctx.log.roles.has(Role.PAY_FAIL):
                notes.append(
                    "no activity has the role pay_fail: set it with --role pay_fail=LABEL "
                    "to see payment retries"
                )
            detections.append(
                Detection(
                    detector=self.name,
                    variant=variant,
                    title=title,
                    instances=arrow.drop_columns(["self_loop"]),
                    eligible=eligible[variant],
                    eligible_label={
                        "payment_retry": "orders with a failed payment",
                        "redelivery": "orders shipped or delivered",
                        "repeated_step": "orders",
                    }[variant],
                    expected=None,
                    baseline_rate=None,
                    treated=affected_units(ctx, subset.select(case_id=subset.original_case)),
                    kind="friction",
                    cost_per_repeat=per_repeat[variant],
                    metrics={
                        "extra_executions": int(pc.sum(arrow.column("repeats")).as_py() or 0)
                        if len(arrow)
                        else 0,
                        "self_loop_instances": self_loops,
                        "orders_affected": orders_affected(arrow),
                        **(
                            {"excluded_exchange": excluded_exchange}
                            if variant == "redelivery"
                            else {}
                        ),
                    },
                    assumptions={
                        "per_item_steps_not_counted": sorted(structural),
                        "structural_share": cfg.rework.structural_share,
                        "cost_per_repeat": per_repeat[variant],
                        "horizon": format_duration(cfg.windows.horizon),
                    },
                    notes=tuple(notes),
                )
            )
        return detections

    @staticmethod
    def _structural(
        ctx: DetectContext, steps: ibis.expr.types.Table, found: ibis.expr.types.Table
    ) -> set[str]:
        """Steps that repeat in most orders they occur in (see the module docstring).

        The orders a step occurs in are its events less the repeats: each repeated
        (order, step) pair of ``found`` holds ``n`` events of one order.
        """
        rules = ctx.config.rework
        events = steps.group_by("activity").aggregate(events=steps.count())
        redone = found.filter(found.variant != "payment_retry")
        redone = redone.group_by("step").aggregate(
            repeated=redone.count(), extra=(redone.n - 1).sum()
        )
        share = events.join(redone, events.activity == redone.step)
        share = share.mutate(cases=share.events - share.extra)
        share = share.filter(
            (share.cases >= rules.min_cases)
            & (share.repeated >= share.cases * rules.structural_share)
        )
        return {str(r["step"]) for r in share.select("step").to_pyarrow().to_pylist()}

    @staticmethod
    def _eligible(ctx: DetectContext) -> dict[str, int]:
        # The order facts already say which orders failed a payment or shipped: one query.
        f = ctx.orders.facts
        row = (
            f.aggregate(
                orders=f.count(),
                failed=f.pay_fail_s.notnull().cast("int64").sum(),
                delivered=(f.ship_s.notnull() | f.deliver_s.notnull()).cast("int64").sum(),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        return {
            "payment_retry": int(row["failed"] or 0),
            "redelivery": int(row["delivered"] or 0),
            "repeated_step": int(row["orders"] or 0),
        }
