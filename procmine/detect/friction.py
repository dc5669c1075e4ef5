# SPDX-License-Identifier: AGPL-3.0-or-later
"""Shared parts of the detectors of friction inside one order (DESIGN.md section 2.3).

Rework, ping-pong, waits, repeated contacts and vouchers all report instances of one shape
(the order, what happened as ``step``, how often as ``repeats``, when it began and what it cost
in time) and compare the customers they touched with clean customers the same way: one unit
per affected customer, their first affected order, watched for a repurchase from a day after
that order ended, exactly as the clean controls are (:func:`procmine.churn.control_units`).
"""

from __future__ import annotations

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from procmine.detect.base import DetectContext
from procmine.detect.orders import DAY
from procmine.findings import INSTANCE_SCHEMA

__all__ = [
    "NO_INSTANCES",
    "affected_units",
    "friction_instances",
    "most_common_steps",
    "ordered_events",
    "orders_affected",
]

#: The columns of :func:`friction_instances`, for a detector with nothing to look at (the
#: log lacks the role or column it needs): it answers at once instead of querying. They are
#: the instance schema before scoring: times as epoch seconds (``*_s``), no costs yet.
NO_INSTANCES = pa.schema(
    [
        (f.name.removesuffix("_time") + "_s", pa.float64()) if f.name.endswith("_time") else f
        for f in INSTANCE_SCHEMA
        if f.name not in ("return_shipping_cost", "cost")
    ]
).empty_table()


def ordered_events(ctx: DetectContext) -> tuple[ir.Table, ibis.expr.types.Window]:
    """The events placed in their cases (:meth:`~procmine.log.EventLog.sequence`) and the
    window that orders a case's events."""
    ev = ctx.log.sequence()
    return ev, ibis.window(group_by=ev.case_id, order_by=ev.pos)


def friction_instances(
    t: ir.Table,
    *,
    variant: ir.Value,
    step: ir.Value,
    repeats: ir.Value,
    anchor_s: ir.Value,
    time_lost_hours: ir.Value,
    contacts: ir.Value | None = None,
    refund: ir.Value | None = None,
    replacement_case: ir.Value | None = None,
    **extra: ir.Value,
) -> ir.Table:
    """Instance rows from ``t``, which must carry ``case_id`` joined to the order facts
    (``customer_id``, ``order_s``, ``amount``, ``ship_s``, ``pay_s``); columns of detours that
    do not apply are null; ``extra`` columns are carried along."""
    return t.select(
        customer=t.customer_id,
        original_case=t.case_id,
        replacement_case=replacement_case if replacement_case is not None else ibis.null("string"),
        variant=variant,
        similarity=ibis.null("string"),
        original_order_s=t.order_s,
        anchor_s=anchor_s.cast("float64"),
        replacement_order_s=ibis.null("float64"),
        replacement_end_s=ibis.null("float64"),
        time_lost_hours=time_lost_hours.cast("float64"),
        amount_original=t.amount,
        amount_replacement=ibis.null("float64"),
        refund_amount=refund if refund is not None else ibis.null("float64"),
        shipped=ibis.literal(False),
        captured=t.pay_s.notnull(),
        chain_id=ibis.null("string"),
        chain_position=ibis.null("int64"),
        chain_length=ibis.null("int64"),
        contacts=(contacts if contacts is not None else ibis.literal(0)).cast("int64"),
        step=step.cast("string"),
        repeats=repeats.cast("int64"),
        **extra,
    )


def affected_units(ctx: DetectContext, affected: ir.Table) -> ir.Table:
    """Watched churn units for the orders in ``affected`` (a ``case_id`` column).

    One unit per customer: their first affected order (orders of unknown customers cannot be
    followed), watched for ``windows.horizon`` from a day after it ended (delivery, else its
    last event), or from ``start_s`` when ``affected`` has that column (the friction came
    after the delivery, as a voucher for a return does).
    """
    from procmine.churn import watch

    f = ctx.orders.facts
    if "start_s" in affected.columns:
        cases = affected.group_by("case_id").aggregate(from_s=affected.start_s.min())
    else:
        cases = affected.select("case_id").distinct().mutate(from_s=ibis.null("float64"))
    j = f.join(cases, "case_id")
    j = j.filter(j.customer_id.notnull())
    j = j.mutate(from_s=ibis.greatest(j.end_s + DAY, j.from_s.coalesce(j.end_s + DAY)))
    first = j.mutate(
        r=ibis.row_number().over(
            ibis.window(group_by=j.customer_id, order_by=[j.order_s, j.case_id])
        )
    )
    first = first.filter(first.r == 0)
    horizon = ctx.config.windows.horizon.total_seconds()
    units = first.select(
        unit_id=first.case_id,
        customer_id=first.customer_id,
        case_id=first.case_id,
        start_s=first.from_s,
        stop_s=first.from_s + horizon,
    )
    return watch(ctx.orders, units)


def orders_affected(instances: pa.Table) -> int:
    """How many distinct orders the instances name (``original_case``)."""
    return len(pc.unique(instances.column("original_case")))


def most_common_steps(instances: pa.Table, lead: str, shown: int = 5) -> str | None:
    """A note naming the ``shown`` steps most instances have, or None without instances.

    >>> t = pa.table({"step": ["Shipped", "Paid", "Shipped"]})
    >>> most_common_steps(t, "most repeated")
    'most repeated: Shipped in 2 orders; Paid in 1 orders'
    """
    if not len(instances):
        return None
    counted = pc.value_counts(instances.column("step")).to_pylist()
    top = sorted(counted, key=lambda r: (-r["counts"], r["values"]))[:shown]
    return f"{lead}: " + "; ".join(f"{r['values']} in {r['counts']:,} orders" for r in top)
