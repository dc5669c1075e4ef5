# SPDX-License-Identifier: AGPL-3.0-or-later
"""Order-level facts shared by the detectors, and the "similar follow-up order" query.

:func:`order_facts` turns the event table into one row per order (case): its customer, when it
was placed, paid, shipped, delivered, cancelled, returned and refunded, its amount, and
whether it is a *reversal* (a customer cancel or return) or a *clean* order. All times are
epoch seconds (``*_s`` columns), which keeps the arithmetic the same on every engine.

:func:`similar_followups` finds, for a set of anchor orders with a time window each, the later
orders of the same customer inside the window and how similar their products are
(:class:`~procmine.config.SimilarityLevel`). The exchange-detour detector, its baseline and
the lost-sale detector all use it, so they agree on what "a similar reorder" means.
"""

from __future__ import annotations

from dataclasses import dataclass

import ibis
import ibis.expr.types as ir

from procmine.config import Similarity, SimilarityLevel
from procmine.engine import Engine
from procmine.log import EventLog
from procmine.roles import Role

__all__ = ["OrderTables", "build_order_tables", "similar_followups"]

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class OrderTables:
    """Materialised per-order facts and per-order products, plus log-wide constants."""

    facts: ir.Table
    items: ir.Table
    log_end_s: float
    #: median order-to-delivery time of clean orders (seconds): the "no friction" duration
    clean_duration_s: float
    has_refund_role: bool
    has_exchange_role: bool
    has_products: bool
    #: whether any item has a category (else only same-SKU or same-family matches exist)
    has_categories: bool


def _min_ts(t: ir.Table, *roles: Role) -> ir.Value:
    return t.ts_s.min(where=t.role.isin([r.value for r in roles]))


def build_order_tables(log: EventLog, similarity: Similarity) -> OrderTables:
    """Compute and materialise the order facts and items of ``log``."""
    engine = log.engine
    ev = log.events()
    ev = ev.mutate(ts_s=ev.ts.epoch_seconds().cast("float64"))
    has_order_amount = ev.amount.notnull() & (ev.role == Role.ORDER.value)
    g = ev.group_by("case_id").aggregate(
        customer_id=ev.customer_id.min(),
        first_s=ev.ts_s.min(),
        last_s=ev.ts_s.max(),
        order_s=_min_ts(ev, Role.ORDER),
        pay_s=_min_ts(ev, Role.PAY),
        pay_fail_s=_min_ts(ev, Role.PAY_FAIL),
        ship_s=_min_ts(ev, Role.SHIP),
        deliver_s=_min_ts(ev, Role.DELIVER),
        cancel_s=_min_ts(ev, Role.CANCEL),
        merchant_cancel_s=_min_ts(ev, Role.MERCHANT_CANCEL),
        return_request_s=_min_ts(ev, Role.RETURN_REQUEST),
        return_other_s=_min_ts(ev, Role.RETURN_SHIP, Role.RETURN_RECEIVE),
        refund_s=_min_ts(ev, Role.REFUND),
        exchange_s=_min_ts(ev, Role.EXCHANGE),
        contacts=ev.count(where=ev.role == Role.CONTACT.value),
        order_amount=ev.amount.sum(where=has_order_amount),
        any_amount=ev.amount.max(),
        refund_amount=ev.amount.sum(where=ev.role == Role.REFUND.value),
        category=ev.category.min(where=ev.role == Role.ORDER.value),
        any_category=ev.category.min(),
    )
    # The order's value: the amounts on its order event(s) (one per line, or one total), else
    # the largest amount seen on the case (a total repeated on every row).
    order_s = g.order_s.coalesce(g.first_s)
    # A refund after delivery with no cancel and no return event still means goods came back.
    return_s = ibis.coalesce(
        g.return_request_s,
        g.return_other_s,
        ibis.ifelse(
            g.refund_s.notnull()
            & g.deliver_s.notnull()
            & g.cancel_s.isnull()
            & (g.refund_s >= g.deliver_s),
            g.refund_s,
            ibis.null("float64"),
        ),
    )
    cancel_before_ship = g.cancel_s.notnull() & (g.ship_s.isnull() | (g.cancel_s <= g.ship_s))
    # A cancel after shipping (an intercepted or refused parcel) is a return in effect.
    late_cancel = g.cancel_s.notnull() & g.ship_s.notnull() & (g.cancel_s > g.ship_s)
    kind = ibis.cases(
        (return_s.notnull(), "return"),
        (cancel_before_ship, "cancel"),
        (late_cancel, "return"),
        else_=ibis.null("string"),
    )
    anchor_s = ibis.cases(
        (return_s.notnull(), return_s),
        (g.cancel_s.notnull(), g.cancel_s),
        else_=ibis.null("float64"),
    )
    facts = g.mutate(
        order_s=order_s,
        return_s=return_s,
        kind=kind,
        anchor_s=anchor_s,
        end_s=g.deliver_s.coalesce(g.last_s),
        amount=g.order_amount.coalesce(g.any_amount),
        category=g.category.coalesce(g.any_category),
    )
    items = _items(log, ev, similarity)
    items = engine.materialize(items, "items")
    has_categories = bool(items.category.notnull().any().to_pyarrow().as_py())
    bracketing = (
        items.filter(items.family.notnull() & items.product.notnull())
        .group_by(["case_id", "family"])
        .aggregate(skus=items.product.nunique())
        .filter(lambda t: t.skus >= 2)
        .select("case_id")
        .distinct()
        .mutate(bracketing=ibis.literal(True))
    )
    facts = facts.left_join(bracketing, "case_id").drop("case_id_right")
    payment_failed = (
        facts.pay_fail_s.notnull()
        & (facts.pay_fail_s <= facts.anchor_s)
        & (facts.pay_s.isnull() | (facts.pay_s < facts.pay_fail_s))
    )
    exclusion = ibis.cases(
        (facts.kind.isnull(), ibis.null("string")),
        (facts.customer_id.isnull(), "no_customer"),
        (facts.merchant_cancel_s.notnull(), "merchant"),
        (payment_failed, "payment_failure"),
        (facts.exchange_s.notnull(), "exchange"),
        (facts.bracketing.fill_null(False) & (facts.kind == "return"), "bracketing"),
        else_=ibis.null("string"),
    )
    clean = (
        facts.kind.isnull()
        & facts.customer_id.notnull()
        & facts.merchant_cancel_s.isnull()
        & facts.pay_fail_s.isnull()
        & facts.exchange_s.isnull()
        & facts.refund_s.isnull()
    )
    facts = facts.mutate(exclusion=exclusion, clean=clean)
    facts = facts.select(
        "case_id",
        "customer_id",
        "first_s",
        "last_s",
        "order_s",
        "pay_s",
        "pay_fail_s",
        "ship_s",
        "deliver_s",
        "cancel_s",
        "merchant_cancel_s",
        "return_s",
        "refund_s",
        "exchange_s",
        "contacts",
        "amount",
        "refund_amount",
        "category",
        "kind",
        "anchor_s",
        "end_s",
        "exclusion",
        "clean",
    )
    facts = engine.materialize(facts, "facts")
    bounds = facts.aggregate(end=facts.last_s.max())
    bounds_row = bounds.to_pyarrow().to_pylist()[0]
    clean = facts.filter(facts.clean)
    median_clean = (
        clean.aggregate(m=(clean.end_s - clean.order_s).quantile(0.5))
        .to_pyarrow()
        .to_pylist()[0]["m"]
    )
    return OrderTables(
        facts=facts,
        items=items,
        log_end_s=float(bounds_row["end"]),
        clean_duration_s=float(median_clean) if median_clean is not None else 0.0,
        has_refund_role=log.roles.has(Role.REFUND),
        has_exchange_role=log.roles.has(Role.EXCHANGE),
        has_categories=has_categories,
        has_products=any(log.mapped(f) for f in ("product", "family", "category"))
        or log.items_table_name is not None,
    )


def _items(log: EventLog, ev: ir.Table, similarity: Similarity) -> ir.Table:
    """One row per (order, product): SKU, family, category and unit price."""
    pattern = similarity.family_pattern
    if log.items_table_name is not None:
        it = log.engine.table(log.items_table_name)
        base = it.select("case_id", "product", "family", "category", "price")
    else:
        # The price of a product is the amount on its order event when there is one; amounts
        # on refund or shipping rows are not prices.
        priced = ev.role.isnull() | (ev.role == Role.ORDER.value)
        base = (
            ev.filter(ev.product.notnull() | ev.family.notnull() | ev.category.notnull())
            .group_by(["case_id", "product", "family", "category"])
            .aggregate(price=ev.amount.max(where=priced))
        )
    # The family pattern runs once per distinct product, not once per order line: a
    # catalogue has thousands of SKUs where a large log has millions of lines (at 10M
    # events, 0.4 s less).
    products = base.filter(base.family.isnull() & base.product.notnull()).select("product")
    products = products.distinct()
    families = products.select(
        f_product=products.product, f_family=products.product.re_extract(pattern, 1).nullif("")
    )
    j = base.left_join(families, base.product == families.f_product)
    return j.select(
        "case_id",
        "product",
        family=j.family.coalesce(j.f_family, j.product),
        category=j.category,
        price=j.price,
    )


def similar_followups(
    anchors: ir.Table,
    orders: OrderTables,
    similarity: Similarity,
    *,
    engine: Engine,
    min_level: SimilarityLevel | None = None,
) -> ir.Table:
    """Later orders of the same customer inside each anchor's window, with their similarity.

    ``anchors`` needs ``a_case``, ``customer_id``, ``a_order_s``, ``lo_s`` and ``hi_s``
    (inclusive window bounds, epoch seconds); any other columns are carried along. The result
    has one row per (anchor, follow-up) with ``b_case``, ``b_order_s``, ``level`` (an int,
    see :class:`SimilarityLevel`) and the follow-up's facts as ``b_*`` columns, keeping only
    levels at or above ``min_level`` (default: the configured minimum). The candidate pairs
    are stored in ``engine`` (in its current scratch block) when their products are compared.
    """
    threshold = int(min_level if min_level is not None else similarity.min_level)
    f = orders.facts
    b = f.select(
        b_case=f.case_id,
        b_customer=f.customer_id,
        b_order_s=f.order_s,
        b_end_s=f.end_s,
        b_amount=f.amount,
    )
    cand = anchors.join(
        b,
        [
            anchors.customer_id == b.b_customer,
            anchors.a_case != b.b_case,
            b.b_order_s > anchors.a_order_s,
            b.b_order_s >= anchors.lo_s,
            b.b_order_s <= anchors.hi_s,
        ],
    ).drop("b_customer")
    if not orders.has_products or threshold == SimilarityLevel.ANY:
        return cand.mutate(level=ibis.literal(int(SimilarityLevel.ANY)))
    # Stored once: the pairs' products are compared, and the pairs that reach the threshold
    # are joined back with them. Left to the query, the engine ran the join of anchors and
    # orders twice, the second time with the whole order table as a hash table for a few
    # thousand pairs (at 10M events, 1.3 s of the exchange baselines' 2.5 s).
    cand = engine.materialize(cand, "followups")
    it = orders.items
    ia = it.select(
        a_case=it.case_id,
        a_product=it.product,
        a_family=it.family,
        a_category=it.category,
        a_price=it.price,
    )
    ib = it.select(
        b_case=it.case_id,
        b_product=it.product,
        b_family=it.family,
        b_category=it.category,
        b_price=it.price,
    )
    pairs = cand.select("a_case", "b_case").distinct()
    joined = pairs.join(ia, "a_case").join(ib, "b_case")
    band = 1.0 + similarity.price_band
    in_band = (
        joined.a_price.notnull()
        & joined.b_price.notnull()
        & (joined.a_price > 0)
        & (joined.b_price > 0)
        & (
            ibis.greatest(joined.a_price, joined.b_price)
            <= band * ibis.least(joined.a_price, joined.b_price)
        )
    )
    same_category = joined.a_category.notnull() & (joined.a_category == joined.b_category)
    level = ibis.cases(
        (
            joined.a_product.notnull() & (joined.a_product == joined.b_product),
            int(SimilarityLevel.SAME_SKU),
        ),
        (
            joined.a_family.notnull() & (joined.a_family == joined.b_family),
            int(SimilarityLevel.VARIANT),
        ),
        (same_category & in_band, int(SimilarityLevel.SUBSTITUTE)),
        (same_category, int(SimilarityLevel.CATEGORY)),
        else_=int(SimilarityLevel.ANY),
    )
    levels = (
        joined.mutate(level=level)
        .group_by(["a_case", "b_case"])
        .aggregate(level=lambda t: t.level.max())
    )
    # The threshold is above ANY here, so a pair without items in common is dropped anyway:
    # an inner join with the few pairs that reach it (thousands among millions of
    # candidates on a large log) instead of a left join with all of them, then a filter.
    levels = levels.filter(levels.level >= threshold)
    out = cand.join(levels, ["a_case", "b_case"])
    if similarity.amount_tolerance is not None and "a_amount" in anchors.columns:
        tol = 1.0 + similarity.amount_tolerance
        ok = (
            (out.level == int(SimilarityLevel.VARIANT))
            | out.a_amount.isnull()
            | out.b_amount.isnull()
            | ((out.b_amount <= tol * out.a_amount) & (out.b_amount * tol >= out.a_amount))
        )
        out = out.filter(ok)
    return out
