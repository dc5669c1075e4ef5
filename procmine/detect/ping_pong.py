# SPDX-License-Identifier: AGPL-3.0-or-later
"""Ping-pong: an order handed back and forth between two resources or departments.

Definition (DESIGN.md section 2.3; Celonis' *direct* ping-pong, FRICTION.md section 1): take an
order's events that name a resource, in time order, and collapse consecutive events of the
same resource into one *run*. A run of resource ``B`` between two runs of ``A`` (``A -> B ->
A``) is a bounce: the order went to ``B`` and came back. One instance per (order, pair of
resources): ``step`` is the pair (``A <-> B``, in alphabetical order), ``repeats`` the number
of bounces, ``anchor_time`` the first handover and ``time_lost_hours`` the time the order
spent away before coming back, summed over the bounces. Each bounce is priced at
``cost_model.rework`` (0 unless set).

Map the column that names who worked on an event (a person, a team, a department) with
``--resource``; a department column gives department ping-pong.
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
    most_common_steps,
    ordered_events,
    orders_affected,
)

__all__ = ["PingPong"]


@register
class PingPong(Detector):
    """An order bounced between two resources: A -> B -> A."""

    name = "ping_pong"
    title = "Ping-pong between resources"
    description = (
        "An order goes from one resource or department to another and back again "
        "(A -> B -> A): work handed over that returns unresolved."
    )
    variants: ClassVar[Mapping[str, str]] = {
        "between_resources": "Handed back and forth between two resources",
    }

    def detect(self, ctx: DetectContext) -> list[Detection]:
        if not ctx.log.mapped("resource"):
            return [
                self._detection(
                    ctx,
                    NO_INSTANCES,
                    None,
                    0,
                    (
                        "the log has no resource column, so hand-overs cannot be seen: name "
                        "it with --resource (a person, team or department column)",
                    ),
                )
            ]
        ev, _ = ordered_events(ctx)
        ev = ev.filter(ev.resource.notnull())
        w = ibis.window(group_by=ev.case_id, order_by=[ev.ts, ev.row])
        ev = ev.mutate(prev=ev.resource.lag().over(w))
        runs = ev.filter(ev.prev.isnull() | (ev.prev != ev.resource))
        wr = ibis.window(group_by=runs.case_id, order_by=[runs.ts, runs.row])
        runs = runs.mutate(
            before=runs.resource.lag().over(wr),
            after=runs.resource.lead().over(wr),
            back_s=runs.ts_s.lead().over(wr),
        )
        bounces = runs.filter(runs.before.notnull() & (runs.before == runs.after))
        bounces = bounces.mutate(
            pair=ibis.least(bounces.before, bounces.resource)
            + " <-> "
            + ibis.greatest(bounces.before, bounces.resource)
        )
        g = bounces.group_by(["case_id", "pair"]).aggregate(
            bounces=bounces.count(),
            first_s=bounces.ts_s.min(),
            away_s=(bounces.back_s - bounces.ts_s).sum(),
        )
        joined = g.join(ctx.orders.facts, "case_id")
        inst = friction_instances(
            joined,
            variant=ibis.literal("between_resources"),
            step=joined.pair,
            repeats=joined.bounces,
            anchor_s=joined.first_s,
            time_lost_hours=joined.away_s / 3600.0,
        )
        inst = ctx.engine.materialize(inst, "pingpong")
        table = inst.order_by(["customer", "original_order_s", "original_case", "step"])
        arrow = table.to_pyarrow()
        handed = (
            runs.filter(runs.before.notnull()).select("case_id").distinct().count().to_pyarrow()
        )
        top = most_common_steps(arrow, "most frequent")
        notes = [top] if top else []
        treated = affected_units(ctx, inst.select(case_id=inst.original_case))
        return [self._detection(ctx, arrow, treated, int(handed.as_py() or 0), tuple(notes))]

    def _detection(
        self,
        ctx: DetectContext,
        arrow: pa.Table,
        treated: ir.Table | None,
        eligible: int,
        notes: tuple[str, ...],
    ) -> Detection:
        cfg = ctx.config
        return Detection(
            detector=self.name,
            variant="between_resources",
            title=self.variants["between_resources"],
            instances=arrow,
            eligible=eligible,
            eligible_label="orders handed over at least once",
            expected=None,
            baseline_rate=None,
            treated=treated,
            kind="friction",
            cost_per_repeat=cfg.cost_model.rework,
            metrics={
                "bounces": int(pc.sum(arrow.column("repeats")).as_py() or 0) if len(arrow) else 0,
                "orders_affected": orders_affected(arrow),
            },
            assumptions={
                "resource_column": ctx.log.mapping.get("resource"),
                "cost_per_repeat": cfg.cost_model.rework,
                "horizon": format_duration(cfg.windows.horizon),
            },
            notes=notes,
        )
