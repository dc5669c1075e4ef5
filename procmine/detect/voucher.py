# SPDX-License-Identifier: AGPL-3.0-or-later
"""Refund as voucher: a cancel or return settled with store credit instead of money.

Definition (DESIGN.md section 2.3, FRICTION.md section 3.3, "credit instead of refund"): a
customer's cancel or return (the reversals the exchange detour looks at, merchant cancels and
the other exclusions left out) whose order has an event with the role ``voucher`` (voucher,
store credit, gift card, bonus) and no ``refund`` event. Variants ``after_cancel`` and
``after_return``. The rate is per reversal *settled* (refunded or given a voucher), so it
reads as "the share of settlements paid in vouchers".

``anchor_time`` is the voucher, ``refund_amount`` its value (the amounts on the voucher
events, else the order's amount). A voucher keeps the money in the shop, so it has no direct
cost here; what it may cost is the customer, which the churn comparison measures (from a day
after the voucher, so redeeming it counts as a repurchase).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import ibis
import pyarrow.compute as pc

from procmine.config import format_duration
from procmine.detect.base import DetectContext, Detection, Detector, register
from procmine.detect.friction import (
    NO_INSTANCES,
    affected_units,
    friction_instances,
    ordered_events,
)
from procmine.detect.orders import DAY
from procmine.roles import Role

__all__ = ["RefundAsVoucher"]


@register
class RefundAsVoucher(Detector):
    """A cancel or return paid back with a voucher or store credit, not money."""

    name = "refund_as_voucher"
    title = "Refund as voucher"
    description = (
        "A customer's cancel or return is settled with a voucher, store credit or bonus "
        "instead of their money back."
    )
    variants: ClassVar[Mapping[str, str]] = {
        "after_cancel": "Cancel settled with a voucher",
        "after_return": "Return settled with a voucher",
    }

    def detect(self, ctx: DetectContext) -> list[Detection]:
        cfg = ctx.config
        ev, _ = ordered_events(ctx)
        vouchers = ev.filter(ev.role == Role.VOUCHER.value)
        vouchers = vouchers.group_by("case_id").aggregate(
            voucher_s=vouchers.ts_s.min(),
            voucher_amount=vouchers.amount.sum(),
            voucher_label=vouchers.activity.min(),
        )
        f = ctx.orders.facts
        rev = f.filter(f.kind.notnull() & f.exclusion.isnull())
        rev = rev.left_join(vouchers, "case_id").drop("case_id_right")
        by_voucher = rev.voucher_s.notnull() & rev.refund_s.isnull()
        settled = rev.filter(rev.voucher_s.notnull() | rev.refund_s.notnull())
        hits = rev.filter(by_voucher)
        inst = friction_instances(
            hits,
            variant=ibis.ifelse(hits.kind == "cancel", "after_cancel", "after_return"),
            step=hits.voucher_label,
            repeats=ibis.null("int64"),
            anchor_s=hits.voucher_s,
            time_lost_hours=ibis.null("float64"),
            refund=hits.voucher_amount.coalesce(hits.amount),
        )
        inst = inst.mutate(captured=ibis.literal(False))
        has_vouchers = ctx.log.roles.has(Role.VOUCHER)
        if has_vouchers:
            inst = ctx.engine.materialize(inst, "voucher")
        counts = {
            r["kind"]: int(r["n"])
            for r in settled.group_by("kind").aggregate(n=settled.count()).to_pyarrow().to_pylist()
        }
        detections = []
        for variant, title in self.variants.items():
            kind = "cancel" if variant == "after_cancel" else "return"
            subset = inst.filter(inst.variant == variant)
            notes = []
            treated = None
            if has_vouchers:
                arrow = subset.order_by(
                    ["customer", "original_order_s", "original_case"]
                ).to_pyarrow()
                units = subset.select(case_id=subset.original_case, start_s=subset.anchor_s + DAY)
                treated = affected_units(ctx, units)
            else:
                # Nothing to query: no event can be a voucher.
                arrow = NO_INSTANCES
                notes.append(
                    "no activity has the role voucher: if the log records store credit or "
                    "vouchers, set it with --role voucher=LABEL"
                )
            detections.append(
                Detection(
                    detector=self.name,
                    variant=variant,
                    title=title,
                    instances=arrow,
                    eligible=counts.get(kind, 0),
                    eligible_label=f"customer {kind}s settled (refund or voucher)",
                    expected=None,
                    baseline_rate=None,
                    treated=treated,
                    kind="friction",
                    metrics={
                        "voucher_value": round(
                            float(pc.sum(arrow.column("refund_amount")).as_py() or 0.0), 2
                        ),
                    },
                    assumptions={
                        "voucher_labels": list(ctx.log.roles.labels(Role.VOUCHER)),
                        "horizon": format_duration(cfg.windows.horizon),
                    },
                    notes=tuple(notes),
                )
            )
        return detections
