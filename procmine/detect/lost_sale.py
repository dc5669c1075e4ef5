# SPDX-License-Identifier: AGPL-3.0-or-later
"""Lost sale after a cancel or return: the customer did not come back.

Definition (DESIGN.md section 2.2): a customer's cancel or return (the same eligible reversals
as the exchange detour) with no similar reorder within ``windows.lost_sale`` and no purchase
at all within ``windows.horizon`` after it. Only reversals whose horizon lies fully inside
the log are judged (later ones are *censored*: we cannot know yet). Variants:
``after_cancel`` and ``after_return``.

The baseline is the matched comparison: clean orders of customers without friction, watched
for the same horizon (see :mod:`procmine.churn`); the expected number of lost sales is the
matched control rate of "no purchase" times the reversals judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from procmine.config import SimilarityLevel, format_duration
from procmine.detect.base import DetectContext, Detection, Detector, register
from procmine.detect.orders import similar_followups

__all__ = ["LostSale"]


@register
class LostSale(Detector):
    """A customer's cancel or return after which the customer bought nothing again."""

    name = "lost_sale"
    title = "Lost sale after cancel or return"
    description = (
        "A customer cancels or returns an order and places no similar order within the "
        "window and no order at all within the horizon: the customer may be gone."
    )
    variants: ClassVar[Mapping[str, str]] = {
        "after_cancel": "Lost after a cancel",
        "after_return": "Lost after a return",
    }

    def detect(self, ctx: DetectContext) -> list[Detection]:
        from procmine.churn import watch

        orders = ctx.orders
        cfg = ctx.config
        horizon = cfg.windows.horizon.total_seconds()
        window = cfg.windows.lost_sale.total_seconds()
        f = orders.facts
        rev = f.filter(f.kind.notnull() & f.exclusion.isnull())
        # Watch from A's creation (for a cancel the replacement may come before the cancel)
        # to the horizon after the reversal.
        units = rev.select(
            unit_id=rev.case_id,
            customer_id=rev.customer_id,
            case_id=rev.case_id,
            start_s=rev.order_s,
            stop_s=rev.anchor_s + horizon,
            a_kind=rev.kind,
            anchor_s=rev.anchor_s,
            order_s=rev.order_s,
            amount=rev.amount,
            refund=rev.refund_amount.nullif(0.0).coalesce(rev.amount),
        )
        watched = ctx.engine.materialize(watch(orders, units, lost=True), "lost")
        lost = watched.filter(watched.observed & watched.outcome)
        if window > horizon:
            # A similar reorder after the horizon but inside the window also saves the sale.
            # With the window inside the horizon (the default) no lost customer has one:
            # any such reorder is a purchase within the horizon, so the search is skipped
            # (at 10M events, a second).
            anchors = rev.select(
                a_case=rev.case_id,
                customer_id=rev.customer_id,
                a_order_s=rev.order_s,
                a_amount=rev.amount,
                lo_s=ibis.ifelse(rev.kind == "cancel", rev.order_s, rev.anchor_s),
                hi_s=rev.anchor_s + window,
            )
            similar = similar_followups(anchors, orders, cfg.similarity, engine=ctx.engine)
            similar = similar.select("a_case").distinct()
            lost = lost.anti_join(similar, lost.case_id == similar.a_case)
        # Stored once: both variants read it.
        lost = ctx.engine.materialize(lost, "lost_only")
        detections = []
        counts = (
            watched.group_by("a_kind")
            .aggregate(
                observed=watched.observed.cast("int64").sum(),
                censored=(~watched.observed).cast("int64").sum(),
            )
            .to_pyarrow()
            .to_pylist()
        )
        by_kind = {row["a_kind"]: row for row in counts}
        for variant, title in self.variants.items():
            kind = "cancel" if variant == "after_cancel" else "return"
            subset = lost.filter(lost.a_kind == kind)
            inst = subset.select(
                customer=subset.customer_id,
                original_case=subset.case_id,
                replacement_case=ibis.null("string"),
                variant=ibis.literal(variant),
                similarity=ibis.null("string"),
                original_order_s=subset.order_s,
                anchor_s=subset.anchor_s,
                replacement_order_s=ibis.null("float64"),
                replacement_end_s=ibis.null("float64"),
                time_lost_hours=ibis.null("float64"),
                amount_original=subset.amount,
                amount_replacement=ibis.null("float64"),
                refund_amount=subset.refund,
                shipped=ibis.literal(kind == "return"),
                captured=ibis.null("boolean"),
                chain_id=ibis.null("string"),
                chain_position=ibis.null("int64"),
                chain_length=ibis.null("int64"),
                contacts=ibis.literal(0).cast("int64"),
            ).order_by(["customer", "original_order_s", "original_case"])
            table: pa.Table = inst.to_pyarrow()
            row = by_kind.get(kind, {"observed": 0, "censored": 0})
            treated = watched.filter(watched.a_kind == kind).drop(
                "a_kind", "anchor_s", "order_s", "amount", "refund"
            )
            detections.append(
                Detection(
                    detector=self.name,
                    variant=variant,
                    title=title,
                    instances=table,
                    eligible=int(row["observed"] or 0),
                    eligible_label=("customer cancels" if kind == "cancel" else "customer returns")
                    + " with the full horizon observed",
                    expected=None,
                    baseline_rate=None,
                    treated=treated,
                    kind="lost",
                    metrics={
                        "censored_reversals": int(row["censored"] or 0),
                        "lost_revenue": float(
                            pc.sum(table.column("amount_original")).as_py() or 0.0
                        ),
                    },
                    notes=ctx.missing_inputs(),
                    assumptions={
                        "window": format_duration(cfg.windows.lost_sale),
                        "horizon": format_duration(cfg.windows.horizon),
                        "min_similarity": cfg.similarity.min_level.label
                        if orders.has_products
                        else SimilarityLevel.ANY.label,
                    },
                )
            )
        return detections
