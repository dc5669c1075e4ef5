# SPDX-License-Identifier: AGPL-3.0-or-later
"""The exchange detour: a reversed order replaced by a new order for a similar product.

Definition (DESIGN.md section 2.1): a customer's order A ends in a customer cancel or a return,
and the same customer places a new order B for a similar product, where B's order event falls

* for a cancel: after A was placed and at most ``windows.cancel`` after the cancel (a
  customer may place the right order first and cancel the wrong one after);
* for a return: at or after the return request and at most ``windows.returned`` after it.

Variants: ``cancel_reorder`` (A cancelled before shipping), ``return_reorder`` (A returned,
B placed after the refund), ``reorder_before_refund`` (B placed while A's return was still
open, so the customer's money is locked twice). Excluded reversals: merchant or system
cancels (stock-out, fraud), payment failures, swaps served by a native ``exchange`` on A,
bracketing (A held two or more SKUs of one family), orders without a customer.

Assignment: each B is linked to at most one A and each A to at most one B. Pairs are ranked
by similarity (best first), then by the gap between A's anchor and B (nearest first); in
rounds, every pair that is the best pair of both its A and its B is taken and its A and B
leave the pool, until no candidate is left. Taking mutually-best pairs under one ranking
always makes progress, and each round is one set of window queries on the engine.
Chains (B itself reversed and replaced by C) are reported through ``chain_id`` (the first
order of the chain), ``chain_position`` and ``chain_length`` (orders in the chain).

Baseline: customers re-buy anyway. For each variant, clean orders of identified customers
are given a pseudo-reversal at the median time a reversal of that kind happens, and the share
of them followed by a similar order in the same window is the baseline rate ``p0``; the
expected number of instances is ``p0 x eligible reversals``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from procmine.config import SimilarityLevel, format_duration
from procmine.detect.base import DetectContext, Detection, Detector, register
from procmine.detect.orders import DAY, OrderTables, similar_followups
from procmine.engine import Engine
from procmine.roles import Role

__all__ = ["ExchangeDetour"]

#: after this many matching rounds the remaining candidates are left unassigned (each round
#: assigns at least one pair per customer with candidates, so real logs need a handful)
MAX_ROUNDS = 64
CONTACT_GRACE_S = 7 * DAY

_LEVEL_NAMES = {int(level): level.label for level in SimilarityLevel}


def _level_label(level: ir.IntegerValue) -> ir.StringValue:
    return ibis.cases(*((level == k, v) for k, v in _LEVEL_NAMES.items()), else_="any")


def assign_pairs(engine: Engine, candidates: ir.Table) -> ir.Table:
    """One-to-one assignment of candidate pairs by rounds of mutually-best pairs.

    ``candidates`` needs ``a_case``, ``b_case``, ``level``, ``gap_s``, ``b_order_s`` and
    ``a_anchor_s``. Returns the assigned pairs (same columns).
    """
    remaining = engine.materialize(candidates, "cand")
    picked_parts: list[ir.Table] = []
    for _ in range(MAX_ROUNDS):
        if remaining.count().to_pyarrow().as_py() == 0:
            break
        r = remaining
        key = [
            ibis.desc(r.level),
            r.gap_s,
            r.b_order_s,
            ibis.desc(r.a_anchor_s),
            r.a_case,
            r.b_case,
        ]
        ranked = r.mutate(
            ra=ibis.row_number().over(ibis.window(group_by=r.a_case, order_by=key)),
            rb=ibis.row_number().over(ibis.window(group_by=r.b_case, order_by=key)),
        )
        picked = engine.materialize(
            ranked.filter((ranked.ra == 0) & (ranked.rb == 0)).drop("ra", "rb"), "picked"
        )
        picked_parts.append(picked)
        taken_a = picked.select(t_a=picked.a_case)
        taken_b = picked.select(t_b=picked.b_case)
        rest = r.anti_join(taken_a, r.a_case == taken_a.t_a)
        rest = rest.anti_join(taken_b, rest.b_case == taken_b.t_b)
        remaining = engine.materialize(rest, "cand")
    if not picked_parts:
        return candidates.limit(0)
    return ibis.union(*picked_parts)


def _chains(engine: Engine, pairs: ir.Table) -> ir.Table:
    """``a_case, b_case, chain_id, chain_position, chain_length`` for assigned pairs.

    Each pair starts with its own A as the chain head and walks one link back per round
    (``head <- the A whose B is head``) until no head has a predecessor.
    """
    links = pairs.select(p_a=pairs.a_case, p_b=pairs.b_case)
    cur = engine.materialize(
        pairs.select("a_case", "b_case", chain_head=pairs.a_case, hops=ibis.literal(1)),
        "chain",
    )
    for _ in range(MAX_ROUNDS):
        j = cur.left_join(links, cur.chain_head == links.p_b)
        moved = j.p_a.notnull()
        if j.filter(moved).count().to_pyarrow().as_py() == 0:
            break
        cur = engine.materialize(
            j.select(
                "a_case",
                "b_case",
                chain_head=ibis.ifelse(moved, j.p_a, j.chain_head),
                hops=j.hops + moved.cast("int64"),
            ),
            "chain",
        )
    lengths = cur.group_by(c_head=cur.chain_head).aggregate(n_pairs=lambda t: t.count())
    out = cur.join(lengths, cur.chain_head == lengths.c_head)
    return out.select(
        "a_case",
        "b_case",
        chain_id=out.chain_head,
        chain_position=out.hops,
        chain_length=out.n_pairs + 1,
    )


@register
class ExchangeDetour(Detector):
    """Cancel-or-return followed by a reorder of a similar product: the missing exchange."""

    name = "exchange_detour"
    title = "Exchange detour"
    description = (
        "A customer cancels or returns an order and orders a similar product again within "
        "the window: a detour that stands in for a missing exchange path."
    )
    variants: ClassVar[Mapping[str, str]] = {
        "cancel_reorder": "Cancelled and reordered (no way to change an open order)",
        "return_reorder": "Returned and reordered after the refund (no exchange path)",
        "reorder_before_refund": "Reordered while the return was still open (money locked twice)",
    }

    def detect(self, ctx: DetectContext) -> list[Detection]:
        orders = ctx.orders
        cfg = ctx.config
        w_cancel = cfg.windows.cancel.total_seconds()
        w_return = cfg.windows.returned.total_seconds()
        f = orders.facts
        reversals = f.filter(f.kind.notnull() & f.exclusion.isnull())
        is_cancel = reversals.kind == "cancel"
        anchors = reversals.select(
            a_case=reversals.case_id,
            customer_id=reversals.customer_id,
            a_order_s=reversals.order_s,
            a_anchor_s=reversals.anchor_s,
            a_kind=reversals.kind,
            a_amount=reversals.amount,
            lo_s=ibis.ifelse(is_cancel, reversals.order_s, reversals.anchor_s),
            hi_s=reversals.anchor_s + ibis.ifelse(is_cancel, w_cancel, w_return),
        )
        cand = similar_followups(anchors, orders, cfg.similarity, engine=ctx.engine)
        cand = cand.mutate(gap_s=(cand.b_order_s - cand.a_anchor_s).abs())
        pairs = assign_pairs(
            ctx.engine,
            cand.select("a_case", "b_case", "level", "gap_s", "b_order_s", "a_anchor_s"),
        )
        enriched = _enrich(ctx, ctx.engine.materialize(pairs, "pairs"))
        instances = _instances(ctx, enriched)
        counts = _counts(orders)
        baselines = self._baselines(ctx)
        detections = []
        for variant, title in self.variants.items():
            inst = instances.filter(pc.equal(instances.column("variant"), variant))
            kind = "cancel" if variant == "cancel_reorder" else "return"
            eligible = counts[f"eligible_{kind}"]
            rate = baselines.get(variant)
            treated = _treated_units(ctx, enriched, variant)
            metrics: dict[str, float | int | None] = {
                "excluded_merchant": counts[f"merchant_{kind}"],
                "excluded_payment_failure": counts[f"payment_failure_{kind}"],
                "excluded_exchange": counts[f"exchange_{kind}"],
                "excluded_bracketing": counts[f"bracketing_{kind}"],
                "excluded_no_customer": counts[f"no_customer_{kind}"],
                "instances_in_chains": int(
                    pc.sum(pc.greater(inst.column("chain_length"), 2)).as_py() or 0
                )
                if inst.num_rows
                else 0,
                "longest_chain": int(pc.max(inst.column("chain_length")).as_py() or 0)
                if inst.num_rows
                else 0,
            }
            notes = list(ctx.missing_inputs())
            if orders.has_exchange_role:
                exchanges = counts["native_exchanges"]
                all_detours = int(instances.num_rows)
                metrics["native_exchanges"] = exchanges
                metrics["detour_share_of_swaps"] = (
                    all_detours / (all_detours + exchanges) if all_detours + exchanges else None
                )
            if variant == "reorder_before_refund" and not orders.has_refund_role:
                notes.append(
                    "the log has no refund activity, so every post-return reorder "
                    "counts as return_reorder"
                )
            if not orders.has_products:
                notes.append(
                    "the log has no product or category column: any reorder within "
                    "the window counts (similarity 'any')"
                )
            elif not orders.has_categories and cfg.similarity.min_level in (
                SimilarityLevel.CATEGORY,
                SimilarityLevel.SUBSTITUTE,
            ):
                notes.append(
                    "the log has products but no categories: only reorders of the same "
                    "product or family count; use --similarity any to count any reorder"
                )
            detections.append(
                Detection(
                    detector=self.name,
                    variant=variant,
                    title=title,
                    instances=inst,
                    eligible=eligible,
                    eligible_label="customer cancels" if kind == "cancel" else "customer returns",
                    expected=None if rate is None else rate * eligible,
                    baseline_rate=rate,
                    treated=treated,
                    kind="detour",
                    metrics=metrics,
                    assumptions={
                        "window": format_duration(
                            cfg.windows.cancel if kind == "cancel" else cfg.windows.returned
                        ),
                        "horizon": format_duration(cfg.windows.horizon),
                        "min_similarity": cfg.similarity.min_level.label
                        if orders.has_products
                        else "any",
                        "clean_order_to_delivery_hours": round(orders.clean_duration_s / 3600, 2),
                    },
                    notes=tuple(notes),
                )
            )
        return detections

    def _baselines(self, ctx: DetectContext) -> dict[str, float | None]:
        """Baseline rate per variant from clean orders with pseudo-reversals (module doc).

        One follow-up query covers the widest window; each variant's window is then a filter
        on its result, so the similarity join runs once.
        """
        orders = ctx.orders
        cfg = ctx.config
        f = orders.facts
        rev = f.filter(f.kind.notnull() & f.exclusion.isnull())
        lags = (
            rev.aggregate(
                cancel_lag=(rev.anchor_s - rev.order_s).quantile(0.5, where=rev.kind == "cancel"),
                return_lag=(
                    rev.anchor_s - rev.deliver_s.coalesce(rev.ship_s, rev.order_s)
                ).quantile(0.5, where=rev.kind == "return"),
                refund_lag=(rev.refund_s - rev.anchor_s).quantile(
                    0.5, where=(rev.kind == "return") & rev.refund_s.notnull()
                ),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        w_cancel = cfg.windows.cancel.total_seconds()
        w_return = cfg.windows.returned.total_seconds()
        clean = f.filter(f.clean)
        windows: dict[str, tuple[ir.Value, ir.Value]] = {}
        if lags["cancel_lag"] is not None:
            windows["cancel_reorder"] = (
                clean.order_s,
                clean.order_s + float(lags["cancel_lag"]) + w_cancel,
            )
        if lags["return_lag"] is not None:
            pseudo = clean.deliver_s.coalesce(clean.end_s) + float(lags["return_lag"])
            if orders.has_refund_role and lags["refund_lag"] is not None:
                refund_lag = float(lags["refund_lag"])
                windows["reorder_before_refund"] = (
                    pseudo,
                    pseudo + min(refund_lag, w_return) - 1.0,
                )
                # An empty window (refund after the window closes) gives a rate of zero.
                windows["return_reorder"] = (pseudo + refund_lag, pseudo + w_return)
            else:
                windows["return_reorder"] = (pseudo, pseudo + w_return)
        out: dict[str, float | None] = dict.fromkeys(self.variants)
        if not windows:
            return out
        bounds = {f"lo_{v}": lo for v, (lo, _) in windows.items()}
        bounds |= {f"hi_{v}": hi for v, (_, hi) in windows.items()}
        base = ctx.engine.materialize(
            clean.select(
                a_case=clean.case_id,
                customer_id=clean.customer_id,
                a_order_s=clean.order_s,
                a_amount=clean.amount,
                **bounds,
            ),
            "pseudo",
        )
        anchors = base.mutate(
            lo_s=ibis.least(*[base[f"lo_{v}"] for v in windows]),
            hi_s=ibis.greatest(*[base[f"hi_{v}"] for v in windows]),
        )
        follow = similar_followups(anchors, orders, cfg.similarity, engine=ctx.engine)
        hits: dict[str, ir.Value] = {}
        sizes: dict[str, ir.Value] = {}
        for v in windows:
            lo, hi = follow[f"lo_{v}"], follow[f"hi_{v}"]
            inside = (follow.b_order_s >= lo) & (follow.b_order_s <= hi) & (hi <= orders.log_end_s)
            hits[v] = follow.a_case.nunique(where=inside)
            sizes[v] = base.count(where=base[f"hi_{v}"] <= orders.log_end_s)
        k = follow.aggregate(**hits).to_pyarrow().to_pylist()[0]
        n = base.aggregate(**sizes).to_pyarrow().to_pylist()[0]
        for v in windows:
            out[v] = float(k[v] or 0) / n[v] if n[v] else None
        return out


def _counts(orders: OrderTables) -> dict[str, int]:
    f = orders.facts
    aggs: dict[str, ir.Value] = {}
    for kind in ("cancel", "return"):
        is_kind = f.kind == kind
        aggs[f"eligible_{kind}"] = f.count(where=is_kind & f.exclusion.isnull())
        for reason in ("merchant", "payment_failure", "exchange", "bracketing", "no_customer"):
            aggs[f"{reason}_{kind}"] = f.count(where=is_kind & (f.exclusion == reason))
    aggs["native_exchanges"] = f.count(where=f.exchange_s.notnull())
    row = f.aggregate(**aggs).to_pyarrow().to_pylist()[0]
    return {k: int(v or 0) for k, v in row.items()}


def _with_contacts(ctx: DetectContext, inst: ir.Table) -> ir.Table:
    """Count the customer's contact events from A's order to B's end plus a week."""
    ev = ctx.log.events()
    contacts = ev.filter(ev.role == Role.CONTACT.value)
    contacts = contacts.select(
        c_customer=contacts.customer_id, c_s=contacts.ts.epoch_seconds().cast("float64")
    )
    keyed = inst.mutate(_k=inst.original_case + "\x1f" + inst.replacement_case)
    j = keyed.left_join(
        contacts,
        [
            keyed.customer == contacts.c_customer,
            contacts.c_s >= keyed.original_order_s,
            contacts.c_s <= keyed.replacement_end_s + CONTACT_GRACE_S,
        ],
    )
    counted = j.group_by("_k").aggregate(contacts=j.c_s.count())
    return keyed.join(counted, "_k").drop("_k")


def _enrich(ctx: DetectContext, pairs: ir.Table) -> ir.Table:
    """Assigned pairs with both orders' facts, the variant and the chain (materialised)."""
    orders = ctx.orders
    f = orders.facts
    a = f.select(
        a_case=f.case_id,
        customer_id=f.customer_id,
        a_order_s=f.order_s,
        a_kind=f.kind,
        a_amount=f.amount,
        a_refund_s=f.refund_s,
        a_refund_amount=f.refund_amount,
        a_pay_s=f.pay_s,
        a_ship_s=f.ship_s,
    )
    b = f.select(b_case=f.case_id, b_end_s=f.end_s, b_amount=f.amount)
    chains = _chains(ctx.engine, pairs)
    j = pairs.join(a, "a_case").join(b, "b_case").join(chains, ["a_case", "b_case"])
    if orders.has_refund_role:
        open_return = j.a_refund_s.isnull() | (j.b_order_s < j.a_refund_s)
    else:
        open_return = ibis.literal(False)
    variant = ibis.cases(
        (j.a_kind == "cancel", "cancel_reorder"),
        (open_return, "reorder_before_refund"),
        else_="return_reorder",
    )
    return ctx.engine.materialize(
        j.mutate(
            variant=variant,
            chain_end_s=j.b_end_s.max().over(ibis.window(group_by=j.chain_id)),
        ),
        "detours",
    )


def _instances(ctx: DetectContext, j: ir.Table) -> pa.Table:
    """The evidence rows (see :class:`procmine.findings.Instance`), times in epoch seconds."""
    orders = ctx.orders
    captured = j.a_pay_s.notnull() & (j.a_pay_s <= j.a_anchor_s)
    shipped = (j.a_kind == "return") | (j.a_ship_s.notnull() & (j.a_ship_s <= j.a_anchor_s))
    refund = ibis.cases(
        (j.a_refund_amount.notnull() & (j.a_refund_amount > 0), j.a_refund_amount),
        (j.a_refund_s.notnull() | captured, j.a_amount),
        else_=0.0,
    )
    lost_s = ibis.greatest(j.b_end_s - j.a_order_s - orders.clean_duration_s, 0.0)
    inst = j.select(
        customer=j.customer_id,
        original_case=j.a_case,
        replacement_case=j.b_case,
        variant=j.variant,
        similarity=_level_label(j.level),
        original_order_s=j.a_order_s,
        anchor_s=j.a_anchor_s,
        replacement_order_s=j.b_order_s,
        replacement_end_s=j.b_end_s,
        time_lost_hours=lost_s / 3600.0,
        amount_original=j.a_amount,
        amount_replacement=j.b_amount,
        refund_amount=refund.cast("float64"),
        shipped=shipped,
        captured=captured,
        chain_id=j.chain_id,
        chain_position=j.chain_position.cast("int64"),
        chain_length=j.chain_length.cast("int64"),
    )
    inst = _with_contacts(ctx, inst)
    return inst.order_by(["customer", "original_order_s", "original_case"]).to_pyarrow()


def _treated_units(ctx: DetectContext, j: ir.Table, variant: str) -> ir.Table:
    """One unit per affected customer: their first instance of ``variant``, watched from the
    end of its chain plus a day (so a chain's own replacement orders are not repurchases)."""
    from procmine.churn import watch

    j = j.filter(j.variant == variant)
    first = j.mutate(
        r=ibis.row_number().over(
            ibis.window(group_by=j.customer_id, order_by=[j.a_order_s, j.a_case])
        )
    )
    first = first.filter(first.r == 0)
    units = first.select(
        unit_id=first.a_case,
        customer_id=first.customer_id,
        case_id=first.a_case,
        start_s=first.chain_end_s + DAY,
        stop_s=first.chain_end_s + DAY + ctx.config.windows.horizon.total_seconds(),
    )
    return watch(ctx.orders, units)
