# SPDX-License-Identifier: AGPL-3.0-or-later
"""Waits: a transition between two steps of an order that took too long.

Definition (DESIGN.md section 2.3, FRICTION.md section 3.3): every directly-follows
transition ``A -> B`` inside an order (the same edges as the process map) has a duration.
It is too long when it exceeds

* ``over_sla``: the service level set for that transition in ``waits.sla``
  (``--sla 'Order placed -> Shipped=48h'``), or else
* ``over_p90``: the transition's own ``waits.quantile`` (p90) of durations in this log, for
  transitions seen at least ``waits.min_transitions`` times (fewer give no stable p90).

One instance per wait too long: ``step`` is ``A -> B``, ``anchor_time`` when ``A`` happened,
``time_lost_hours`` the time beyond the threshold. The notes name the worst transitions (most
hours beyond their threshold) and how much of the order-to-end time (placement to delivery,
else to the last event) the transition takes across all orders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc

from procmine.config import format_duration
from procmine.detect.base import DetectContext, Detection, Detector, register
from procmine.detect.friction import (
    affected_units,
    friction_instances,
    ordered_events,
    orders_affected,
)

__all__ = ["LongWait"]

#: the worst transitions named in a finding's notes
WORST_SHOWN = 3


@register
class LongWait(Detector):
    """A transition that took longer than its SLA or than its own p90."""

    name = "long_wait"
    title = "Long waits"
    description = (
        "A step follows the previous one later than its service level (or, without one, "
        "later than 90% of the same transitions): where orders wait."
    )
    variants: ClassVar[Mapping[str, str]] = {
        "over_sla": "Waited longer than the service level",
        "over_p90": "Waited longer than 90% of the same transitions",
    }

    def detect(self, ctx: DetectContext) -> list[Detection]:
        cfg = ctx.config.waits
        steps, _ = ordered_events(ctx)
        steps = steps.mutate(target=steps.next_activity)
        # Exact microseconds, not a difference of epoch seconds: at 1.7e9 s a double's error
        # is about 1e-7 s, enough to scatter equal millisecond waits around their p90.
        steps = steps.filter(steps.target.notnull()).select(
            "case_id",
            source=steps.activity,
            target=steps.target,
            start_s=steps.ts_s,
            wait_s=steps.next_ts.delta(steps.ts, unit="microsecond") / 1e6,
        )
        sla = cfg.pairs()
        # Two passes over the events: one for each transition's threshold (and its count and
        # time in all), one for the waits beyond it; everything else reads those results.
        thresholds = self._thresholds(ctx, steps, sla)
        judged = steps.join(
            thresholds.select("source", "target", "limit_s", "variant"), ["source", "target"]
        )
        over = ctx.engine.materialize(judged.filter(judged.wait_s > judged.limit_s), "waits_over")
        joined = over.join(ctx.orders.facts, "case_id")
        inst = friction_instances(
            joined,
            variant=joined.variant,
            step=joined.source + " -> " + joined.target,
            repeats=ibis.null("int64"),
            anchor_s=joined.start_s,
            time_lost_hours=(joined.wait_s - joined.limit_s) / 3600.0,
        )
        inst = ctx.engine.materialize(inst, "waits_inst")
        worst = self._worst(ctx, thresholds, over)
        counts = {
            r["variant"]: int(r["n"])
            for r in thresholds.group_by("variant")
            .aggregate(n=thresholds.n.sum())
            .to_pyarrow()
            .to_pylist()
        }
        present = {
            (r["source"], r["target"])
            for r in thresholds.filter(thresholds.variant == "over_sla")
            .select("source", "target")
            .to_pyarrow()
            .to_pylist()
        }
        detections = []
        for variant, title in self.variants.items():
            subset = inst.filter(inst.variant == variant)
            arrow = subset.order_by(
                ["customer", "original_order_s", "original_case", "anchor_s", "step"]
            ).to_pyarrow()
            rows = [r for r in worst if r.variant == variant]
            notes = [r.describe(cfg.quantile) for r in rows[:WORST_SHOWN]]
            if variant == "over_sla":
                if not sla:
                    notes.append(
                        "no service levels set: give them with --sla 'A -> B=48h' or [waits] "
                        "sla in the config file"
                    )
                for source, target in sorted(set(sla) - present):
                    notes.append(
                        f"service level for {source} -> {target}: the log has no such transition"
                    )
            detections.append(
                Detection(
                    detector=self.name,
                    variant=variant,
                    title=title,
                    instances=arrow,
                    eligible=counts.get(variant, 0),
                    eligible_label="transitions judged",
                    expected=None,
                    baseline_rate=None,
                    treated=affected_units(ctx, subset.select(case_id=subset.original_case)),
                    kind="friction",
                    metrics={
                        "hours_beyond_threshold": round(
                            float(pc.sum(arrow.column("time_lost_hours")).as_py() or 0.0), 2
                        ),
                        "orders_affected": orders_affected(arrow),
                        "worst_transition_share_of_order_time": round(rows[0].share, 4)
                        if rows
                        else None,
                    },
                    assumptions={
                        "sla": {f"{a} -> {b}": format_duration(v) for (a, b), v in sla.items()},
                        "quantile": cfg.quantile,
                        "min_transitions": cfg.min_transitions,
                        "order_time": "placement to delivery, else to the order's last event",
                        "horizon": format_duration(ctx.config.windows.horizon),
                    },
                    notes=tuple(notes),
                )
            )
        return detections

    @staticmethod
    def _thresholds(
        ctx: DetectContext, steps: ir.Table, sla: Mapping[tuple[str, str], object]
    ) -> ir.Table:
        """One row per judged transition: ``source``, ``target``, ``limit_s``, ``variant``,
        and ``n`` and ``spent_s``, how often it occurs and its time in all."""
        cfg = ctx.config.waits
        stats = steps.group_by(["source", "target"]).aggregate(
            n=steps.count(), q=steps.wait_s.quantile(cfg.quantile), spent_s=steps.wait_s.sum()
        )
        table = pa.table(
            {
                "s_source": pa.array([a for a, _ in sla], pa.string()),
                "s_target": pa.array([b for _, b in sla], pa.string()),
                "sla_s": pa.array(
                    [v.total_seconds() for v in sla.values()],  # type: ignore[attr-defined]
                    pa.float64(),
                ),
            }
        )
        sla_t = ibis.memtable(table)
        j = stats.left_join(sla_t, [stats.source == sla_t.s_source, stats.target == sla_t.s_target])
        j = j.select(
            "source",
            "target",
            limit_s=ibis.coalesce(
                j.sla_s, ibis.ifelse(j.n >= cfg.min_transitions, j.q, ibis.null("float64"))
            ),
            variant=ibis.ifelse(j.sla_s.notnull(), "over_sla", "over_p90"),
            n="n",
            spent_s="spent_s",
        )
        return ctx.engine.materialize(j.filter(j.limit_s.notnull()), "waits_limits")

    @staticmethod
    def _worst(ctx: DetectContext, thresholds: ir.Table, over: ir.Table) -> list[_Worst]:
        """Per judged transition with waits too long, most hours beyond first."""
        f = ctx.orders.facts
        total = f.aggregate(t=(f.end_s - f.order_s).sum()).to_pyarrow().to_pylist()[0]["t"]
        beyond = over.group_by(["source", "target"]).aggregate(
            waits=over.count(), beyond_s=(over.wait_s - over.limit_s).sum()
        )
        j = beyond.join(thresholds, ["source", "target"])
        rows = [
            _Worst(
                source=str(r["source"]),
                target=str(r["target"]),
                variant=str(r["variant"]),
                waits=int(r["waits"]),
                limit_hours=float(r["limit_s"]) / 3600,
                beyond_hours=float(r["beyond_s"]) / 3600,
                share=float(r["spent_s"]) / float(total) if total else 0.0,
            )
            for r in j.to_pyarrow().to_pylist()
        ]
        return sorted(rows, key=lambda r: (-r.beyond_hours, r.source, r.target))


@dataclass(frozen=True, slots=True)
class _Worst:
    """A transition's waits too long: how many, its threshold, the hours beyond it, and the
    share of all order time the transition takes."""

    source: str
    target: str
    variant: str
    waits: int
    limit_hours: float
    beyond_hours: float
    share: float

    def describe(self, quantile: float) -> str:
        what = "the service level" if self.variant == "over_sla" else f"its p{quantile * 100:g}"
        return (
            f"{self.source} -> {self.target}: {self.waits:,} waits beyond {what} "
            f"({self.limit_hours:,.1f} h), {self.beyond_hours:,.0f} h beyond it in all; the "
            f"transition takes {self.share:.0%} of all order time"
        )
