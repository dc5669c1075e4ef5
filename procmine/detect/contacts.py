# SPDX-License-Identifier: AGPL-3.0-or-later
"""Repeated contacts: a customer who had to get in touch again about the same trouble.

Definition (DESIGN.md section 2.3, FRICTION.md section 3.3): events with the role ``contact``
(a call, a complaint, a ticket, a chat). Contacts at most ``windows.contact`` (7 days) after
the previous one belong to the same *episode*; an episode of two or more contacts is an
instance:

* ``same_order``: two or more contacts about one order;
* ``same_customer``: two or more contacts of one customer about different orders (contacts
  about one order are ``same_order``). ``original_case`` is the order of the first contact
  and ``replacement_case`` that of the last.

``repeats`` counts the contacts after the first, ``anchor_time`` is the first contact and
``time_lost_hours`` the time until the last (how long the trouble kept coming back). Every
contact of the episode is priced at ``cost_model.contact``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from procmine.config import format_duration
from procmine.detect.base import DetectContext, Detection, Detector, register
from procmine.detect.friction import (
    NO_INSTANCES,
    affected_units,
    friction_instances,
    ordered_events,
)
from procmine.roles import Role

__all__ = ["RepeatedContact"]


def _episodes(contacts: ir.Table, key: str, window_s: float) -> ir.Table:
    """Number the contact episodes per ``key``: a gap above ``window_s`` starts a new one."""
    w = ibis.window(group_by=contacts[key], order_by=[contacts.ts, contacts.row])
    gap = contacts.ts_s - contacts.ts_s.lag().over(w)
    flagged = contacts.mutate(new=(gap.isnull() | (gap > window_s)).cast("int64"))
    cw = ibis.cumulative_window(group_by=flagged[key], order_by=[flagged.ts, flagged.row])
    return flagged.mutate(episode=flagged.new.sum().over(cw))


def _episode_figures(contacts: ir.Table) -> dict[str, ir.Value]:
    """Per episode: how many contacts, the first and last, and a contact label."""
    return {
        "n": contacts.count(),
        "first_s": contacts.ts_s.min(),
        "last_s": contacts.ts_s.max(),
        "label": contacts.activity.min(),
    }


def _episode_instances(
    episodes: ir.Table, variant: str, replacement_case: ir.Value | None = None
) -> ir.Table:
    """Instances of episodes (joined to their order's facts), as the module docstring says."""
    return friction_instances(
        episodes,
        variant=ibis.literal(variant),
        step=episodes.label,
        repeats=episodes.n - 1,
        anchor_s=episodes.first_s,
        time_lost_hours=(episodes.last_s - episodes.first_s) / 3600.0,
        contacts=episodes.n,
        replacement_case=replacement_case,
    )


@register
class RepeatedContact(Detector):
    """Two or more contacts about one order, or by one customer, within a week."""

    name = "repeated_contact"
    title = "Repeated contacts"
    description = (
        "A customer contacts support two or more times within the contact window (7 days) "
        "about one order, or about several of their orders: the first answer did not solve it."
    )
    variants: ClassVar[Mapping[str, str]] = {
        "same_order": "Contacted again about the same order",
        "same_customer": "Contacted again about another order",
    }

    def detect(self, ctx: DetectContext) -> list[Detection]:
        window_s = ctx.config.windows.contact.total_seconds()
        if not ctx.log.roles.has(Role.CONTACT):
            # Nothing to query: no event is a contact.
            return [
                self._detection(ctx, variant, NO_INSTANCES, None, 0) for variant in self.variants
            ]
        ev, _ = ordered_events(ctx)
        contacts = ev.filter(ev.role == Role.CONTACT.value)
        contacts = ctx.engine.materialize(
            contacts.select("case_id", "customer_id", "activity", "ts", "row", "ts_s"),
            "contacts",
        )
        facts = ctx.orders.facts

        per_order = _episodes(contacts, "case_id", window_s)
        po = per_order.group_by(["case_id", "episode"]).aggregate(**_episode_figures(per_order))
        same_order = _episode_instances(po.filter(po.n >= 2).join(facts, "case_id"), "same_order")

        known = contacts.filter(contacts.customer_id.notnull())
        per_customer = _episodes(known, "customer_id", window_s)
        # One frame over the whole episode: its first and its last contact's order.
        episode = ibis.window(
            group_by=[per_customer.customer_id, per_customer.episode],
            order_by=[per_customer.ts, per_customer.row],
            rows=(None, None),
        )
        per_customer = per_customer.mutate(
            first_case=per_customer.case_id.first().over(episode),
            last_case=per_customer.case_id.last().over(episode),
        )
        pc_ = per_customer.group_by(["customer_id", "episode"]).aggregate(
            **_episode_figures(per_customer),
            orders=per_customer.case_id.nunique(),
            case_id=per_customer.first_case.min(),
            last_case=per_customer.last_case.min(),
        )
        pc_ = pc_.filter((pc_.n >= 2) & (pc_.orders >= 2))
        pc_ = pc_.join(facts.drop("customer_id"), "case_id")
        same_customer = _episode_instances(pc_, "same_customer", replacement_case=pc_.last_case)

        totals = (
            contacts.aggregate(
                orders=contacts.case_id.nunique(), customers=contacts.customer_id.nunique()
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        detections = []
        for variant, inst, eligible in (
            ("same_order", same_order, totals["orders"]),
            ("same_customer", same_customer, totals["customers"]),
        ):
            inst = ctx.engine.materialize(inst, "contacts_inst")
            arrow = inst.order_by(
                ["customer", "original_order_s", "original_case", "anchor_s"]
            ).to_pyarrow()
            cases = inst.select(case_id=inst.original_case)
            if variant == "same_customer":
                cases = cases.union(inst.select(case_id=inst.replacement_case))
            detections.append(
                self._detection(ctx, variant, arrow, affected_units(ctx, cases), int(eligible or 0))
            )
        return detections

    def _detection(
        self,
        ctx: DetectContext,
        variant: str,
        arrow: pa.Table,
        treated: ir.Table | None,
        eligible: int,
    ) -> Detection:
        cfg = ctx.config
        notes = []
        if not ctx.log.roles.has(Role.CONTACT):
            notes.append(
                "no activity has the role contact: set it with --role contact=LABEL "
                "(a call, complaint or ticket activity)"
            )
        if variant == "same_customer" and not ctx.log.mapped("customer"):
            notes.append(
                "the log has no customer column, so contacts about different orders "
                "cannot be linked: name it with --customer"
            )
        return Detection(
            detector=self.name,
            variant=variant,
            title=self.variants[variant],
            instances=arrow,
            eligible=eligible,
            eligible_label="orders with a contact"
            if variant == "same_order"
            else "customers with a contact",
            expected=None,
            baseline_rate=None,
            treated=treated,
            kind="friction",
            metrics={
                "contacts": int(pc.sum(arrow.column("contacts")).as_py() or 0) if len(arrow) else 0,
            },
            assumptions={
                "contact_window": format_duration(cfg.windows.contact),
                "cost_per_contact": cfg.cost_model.contact,
                "horizon": format_duration(cfg.windows.horizon),
            },
            notes=tuple(notes),
        )
