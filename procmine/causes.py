# SPDX-License-Identifier: AGPL-3.0-or-later
"""Root causes: which attribute values make a finding more likely.

For every finding, each order of the log either is affected (it is an instance's original
order) or not. Each order has attribute values:

* ``category``: the category of its products;
* ``price_band``: its amount's quartile among all orders (``<= 40``, ``40-80``, ...);
* ``weekday``: the day it was placed;
* ``resource``: everyone who worked on it (an order can have several);
* every case-level dimension of the source (``channel``, ``region``, ``carrier``, ...,
  see :attr:`procmine.log.EventLog.dimensions`).

For a value ``v`` held by ``n`` orders, ``k`` of them affected, the *rate* ``k / n`` is set
against the rate among the other orders; the *lift* is their ratio and the *excess* the
affected orders beyond what the other orders' rate predicts, ``(rate - rate_rest) * n``
(FRICTION.md section 4, "Drivers"). The p-value is the one-sided hypergeometric (Fisher)
probability of ``k`` or more affected orders among ``n`` drawn from the log, and the
Benjamini-Hochberg correction over every value tested for the finding gives the q-value: a
cause is *significant* when ``q < alpha``. Values held by fewer than ``min_orders`` orders or
behind fewer than ``min_affected`` affected orders are not tested (too few to tell). The
significant causes come first, by excess. Like the churn difference, this is an association:
a cause is where to look, not proof.
"""

from __future__ import annotations

import dataclasses
import importlib
import itertools
import math
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import numpy as np

from procmine.detect.orders import OrderTables
from procmine.findings import Cause, Findings
from procmine.log import EventLog

__all__ = [
    "CauseSettings",
    "attribute_table",
    "benjamini_hochberg",
    "preload_statistics",
    "root_causes",
]

#: imported on first use (see :func:`preload_statistics`)
_STATS_MODULE = "scipy.stats"


@dataclass(frozen=True, slots=True)
class CauseSettings:
    """Thresholds of the root-cause search (see the module docstring)."""

    alpha: float = 0.05
    min_orders: int = 30
    min_affected: int = 5
    max_causes: int = 5


def benjamini_hochberg(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (q-values), in the order of ``p``.

    >>> benjamini_hochberg(np.array([0.01, 0.04, 0.03])).round(3).tolist()
    [0.03, 0.04, 0.04]
    """
    m = len(p)
    if m == 0:
        return p
    order = np.argsort(p)
    ranked = p[order] * m / np.arange(1, m + 1)
    # Each q is the smallest adjusted value at its rank or above (monotone from the top).
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    q = np.empty(m)
    q[order] = np.minimum(ranked, 1.0)
    return q


@dataclass(frozen=True)
class _Attributes:
    """A table of ``case_id`` and attribute columns in which each order holds each value
    once; ``columns`` maps each attribute to its column (``a0``, ``a1``, ...: a source's
    dimension may have any name)."""

    table: ir.Table
    columns: dict[str, str]

    def values(self, *carried: str) -> list[tuple[str, ir.Table]]:
        """Per attribute, the ``case_id``, ``carried`` columns and ``value`` of the orders
        that have one."""
        out = []
        for attribute, column in self.columns.items():
            t = self.table.filter(self.table[column].notnull())
            out.append((attribute, t.select("case_id", *carried, value=t[column])))
        return out


def _attributes(log: EventLog, orders: OrderTables) -> list[_Attributes]:
    """The orders' attributes (module docstring), as few tables as they come from."""
    f = orders.facts
    per_order: dict[str, ir.Value] = {
        "category": f.category,
        "weekday": f.order_s.cast("int64").as_timestamp("s").day_of_week.full_name(),
    }
    band = _price_band(f)
    if band is not None:
        per_order["price_band"] = band
    found = [_named(f, per_order)]
    if log.mapped("resource"):
        # An order can have several: one row per (order, resource).
        ev = log.events()
        res = ev.filter(ev.resource.notnull()).select("case_id", "resource").distinct()
        found.append(_named(res, {"resource": res.resource}))
    if log.dimensions:
        # Dimensions hold one value per case, on every event (procmine.io.canonical): the
        # case's first event has them.
        first = log.sequence()
        first = first.filter(first.pos == 0)
        found.append(_named(first, {name: first[f"attr:{name}"] for name in log.dimensions}))
    return found


def _named(t: ir.Table, values: Mapping[str, ir.Value]) -> _Attributes:
    columns = {attribute: f"a{i}" for i, attribute in enumerate(values)}
    return _Attributes(t.select("case_id", **{columns[a]: v for a, v in values.items()}), columns)


def attribute_table(log: EventLog, orders: OrderTables) -> ir.Table:
    """One row per (order, attribute, value): the orders' attributes in one long table."""
    return ibis.union(
        *[
            t.select("case_id", attribute=ibis.literal(a), value=t.value)
            for group in _attributes(log, orders)
            for a, t in group.values()
        ]
    )


def _price_band(f: ir.Table) -> ir.Value | None:
    """Each order's amount quartile, labelled with its bounds (null without an amount);
    None when no order has one."""
    row = (
        f.aggregate(
            q1=f.amount.quantile(0.25), q2=f.amount.quantile(0.5), q3=f.amount.quantile(0.75)
        )
        .to_pyarrow()
        .to_pylist()[0]
    )
    cuts = sorted({float(v) for v in row.values() if v is not None})
    if not cuts:
        return None
    labels = [f"<= {cuts[0]:,.2f}"]
    labels += [f"{lo:,.2f} - {hi:,.2f}" for lo, hi in itertools.pairwise(cuts)]
    labels.append(f"> {cuts[-1]:,.2f}")
    return ibis.cases(
        (f.amount.isnull(), ibis.null("string")),
        *[(f.amount <= cut, label) for cut, label in zip(cuts, labels, strict=False)],
        else_=labels[-1],
    )


def root_causes(
    log: EventLog,
    orders: OrderTables,
    findings: Findings,
    settings: CauseSettings | None = None,
) -> Findings:
    """``findings`` with :attr:`~procmine.findings.Finding.causes` set.

    For all findings at once: how many orders hold each attribute value (one query), and how
    many of each finding's affected orders do (one join of the affected orders with each
    table of attributes, one query to count them); the tests run on those counts.
    """
    cfg = settings or CauseSettings()
    affected = findings.cases()
    if not affected.num_rows:
        return findings
    groups = _attributes(log, orders)
    # An order holds each value of an attribute once, so counting rows counts orders. The
    # affected orders are joined with each table of attributes once and counted per
    # attribute there, instead of as one long table of every (order, attribute, value)
    # (at 10M events, eleven million rows written and joined). The engine makes the
    # affected orders distinct: Arrow's group-by took half a second for a million instances.
    wanted = ibis.memtable(affected).filter(lambda t: t.case_id.notnull()).distinct()
    held = ibis.union(
        *[
            t.group_by("value").aggregate(n=t.count()).mutate(attribute=ibis.literal(a))
            for group in groups
            for a, t in group.values()
        ]
    )
    totals: dict[tuple[str, str], int] = {
        (str(r["attribute"]), str(r["value"])): int(r["n"]) for r in held.to_pyarrow().to_pylist()
    }
    engine = log.engine
    with engine.scratch():
        wanted = engine.materialize(wanted, "affected")
        hits = []
        for group in groups:
            # Stored: each attribute of the group is counted from it.
            joined = engine.materialize(group.table.join(wanted, "case_id"), "affected_attrs")
            for a, t in _Attributes(joined, group.columns).values("finding"):
                k = t.group_by(["finding", "value"]).aggregate(k=t.count())
                hits.append(k.mutate(attribute=ibis.literal(a)))
        hit_rows = ibis.union(*hits).to_pyarrow().to_pylist()
        counted = wanted.group_by("finding").aggregate(n=wanted.count()).to_pyarrow().to_pylist()
    per_finding: dict[str, list[dict[str, Any]]] = {}
    for r in hit_rows:
        per_finding.setdefault(str(r["finding"]), []).append(r)
    n_orders = log.stats.cases
    affected_counts = {str(r["finding"]): int(r["n"]) for r in counted}
    out = []
    for f in findings:
        rows = per_finding.get(f.id, [])
        causes = _test(rows, totals, n_orders, affected_counts.get(f.id, 0), cfg)
        out.append(dataclasses.replace(f, causes=causes))
    return Findings(out)


def preload_statistics() -> None:
    """Start importing SciPy's statistics in a background thread, if not yet imported.

    The tests need ``scipy.stats``, whose import takes half a second to a second, and most
    runs of the CLI (inspect, a failing read) never get that far, so it is not imported with
    this module. An analysis calls this when it starts: the import then runs while the
    engine's queries keep the main thread waiting, and is done (or nearly) when the causes
    are tested. Importing the same module from two threads is safe: the second waits for
    the first.

    >>> preload_statistics()
    """
    if _STATS_MODULE in sys.modules:
        return
    threading.Thread(
        target=importlib.import_module, args=(_STATS_MODULE,), name="procmine-preload", daemon=True
    ).start()


def _test(
    rows: list[dict[str, Any]],
    totals: Mapping[tuple[str, str], int],
    n_orders: int,
    k_total: int,
    cfg: CauseSettings,
) -> tuple[Cause, ...]:
    """Rates, lifts and corrected p-values of one finding's attribute values."""
    # Imported here, not with the module (see preload_statistics).
    from scipy.stats import hypergeom

    tested = []
    for r in rows:
        attribute, value, hits = str(r["attribute"]), str(r["value"]), int(r["k"])
        held = totals[(attribute, value)]
        # Too few orders or hits to tell; and a value every order holds says nothing about a
        # difference.
        if held >= cfg.min_orders and hits >= cfg.min_affected and held < n_orders:
            tested.append((attribute, value, held, hits))
    if not tested or k_total == 0:
        return ()
    n = np.array([t[2] for t in tested], dtype=float)
    k = np.array([t[3] for t in tested], dtype=float)
    rate = k / n
    rest = (k_total - k) / (n_orders - n)
    p = hypergeom.sf(k - 1, n_orders, k_total, n)
    q = benjamini_hochberg(np.asarray(p, dtype=float))
    causes = []
    for i, (attribute, value, orders, hits) in enumerate(tested):
        lift = rate[i] / rest[i] if rest[i] > 0 else math.inf
        if rate[i] <= rest[i]:
            continue
        causes.append(
            Cause(
                attribute=attribute,
                value=value,
                orders=orders,
                affected=hits,
                rate=float(rate[i]),
                rate_rest=float(rest[i]),
                lift=float(lift),
                excess=float((rate[i] - rest[i]) * orders),
                p_value=float(p[i]),
                q_value=float(q[i]),
                significant=bool(q[i] < cfg.alpha),
            )
        )
    causes.sort(key=lambda c: (not c.significant, -c.excess, c.attribute, c.value))
    return tuple(causes[: cfg.max_causes])
