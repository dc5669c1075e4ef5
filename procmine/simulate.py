# SPDX-License-Identifier: AGPL-3.0-or-later
"""Seeded synthetic order logs with known ground truth.

A shop sells apparel-like products (families in sizes) in a dozen categories. Customers
place orders over time; orders are paid, shipped and delivered, and some are cancelled or
returned. A share of the reversals are *wrong-item* reversals: the customer wants another size
or a similar product, and because the shop has no exchange path (or only sometimes), they
place a replacement order: an exchange detour, whose variant the simulator records.

Noise the detectors must not be fooled by (each recorded as *not* a detour):

* ordinary repeat purchases, mostly of categories the customer has not bought recently, and
  with a small probability of the same category (``repeat_same_category``);
* cancels and returns without a reorder (change of mind), some followed by the customer
  leaving (lost sales);
* near misses: a reorder of the same family just outside the window, or of another category
  inside it;
* several orders open at once;
* payment failures (system cancel) followed by an exact re-purchase of the same SKU;
* merchant cancels (out of stock) followed by a substitute order;
* native exchanges on the original order (served, not a detour);
* rows with a blank customer id inside an order, and guest orders with no customer at all.

The truth table lists every planted detour (``customer, original_case, replacement_case,
variant``) and, computed from the generated orders by the rule of the lost-sale detector, every
lost sale (``variant`` ``after_cancel`` / ``after_return``).
"""

from __future__ import annotations

import datetime as dt
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

__all__ = ["SimulatedLog", "Simulation", "simulate", "write_log"]

DAY = 86400.0
HOUR = 3600.0

CATEGORIES: tuple[tuple[str, str, float], ...] = (
    # (name, SKU prefix, typical price)
    ("Shoes", "SHO", 89.0),
    ("Dresses", "DRS", 69.0),
    ("Jeans", "JNS", 59.0),
    ("Shirts", "SHT", 39.0),
    ("Jackets", "JKT", 129.0),
    ("Knitwear", "KNT", 49.0),
    ("Sportswear", "SPW", 45.0),
    ("Underwear", "UND", 19.0),
    ("Bags", "BAG", 79.0),
    ("Accessories", "ACC", 25.0),
    ("Kids", "KID", 29.0),
    ("Swimwear", "SWM", 35.0),
)
SIZES = ("XS", "S", "M", "L", "XL")
CHANNELS = ("web", "app", "marketplace")
REGIONS = ("north", "south", "east", "west")

ACT = {
    "order": "Order placed",
    "pay": "Payment captured",
    "pay_fail": "Payment failed",
    "cancel": "Order cancelled",
    "merchant_cancel": "Cancelled by merchant (out of stock)",
    "system_cancel": "Order cancelled by system",
    "ship": "Shipped",
    "deliver": "Delivered",
    "return_request": "Return requested",
    "return_ship": "Return shipped",
    "return_receive": "Return received",
    "refund": "Refund issued",
    "exchange": "Exchange requested",
    "exchange_ship": "Exchange shipped",
    "contact": "Customer contact",
}


@dataclass(frozen=True, slots=True)
class Simulation:
    """Parameters of a synthetic log. Probabilities are per order unless stated."""

    customers: int = 400
    days: int = 365
    start: dt.date = dt.date(2024, 1, 1)
    seed: int = 0
    orders_per_customer_year: float = 6.0
    cancel_rate: float = 0.07
    return_rate: float = 0.16
    #: share of customer reversals that are wrong-item swaps (they want a replacement)
    wrong_item_share: float = 0.55
    #: share of wrong-item returns served by a native exchange (the path exists, rarely used)
    exchange_share: float = 0.15
    payment_failure_rate: float = 0.03
    merchant_cancel_rate: float = 0.015
    #: an ordinary purchase repeats the category of the previous order (a true coincidence)
    repeat_same_category: float = 0.01
    #: after a non-swap reversal: a same-family reorder just outside the window / another
    #: category inside it
    near_miss_rate: float = 0.08
    second_open_order_rate: float = 0.05
    #: a replacement order is itself reversed and replaced again (a chain)
    chain_rate: float = 0.08
    churn_after_detour: float = 0.35
    churn_after_change_of_mind: float = 0.25
    contact_rate: float = 0.35
    blank_customer_rows: float = 0.01
    guest_order_rate: float = 0.02
    window_days: float = 14.0
    horizon_days: float = 90.0

    @classmethod
    def for_events(cls, events: int, **kwargs: Any) -> Simulation:
        """A simulation sized to produce at least about ``events`` events.

        The events per customer depend on every rate, so a small pilot run with the same
        parameters measures them and the number of customers is scaled from it.
        """
        pilot = cls(**{**kwargs, "customers": 2000})
        per_customer = simulate(pilot).events.num_rows / pilot.customers
        customers = max(10, math.ceil(events / per_customer * 1.05))
        return cls(**{**kwargs, "customers": customers})


@dataclass(frozen=True, slots=True)
class SimulatedLog:
    """The generated events and the ground truth."""

    events: pa.Table
    truth: pa.Table
    simulation: Simulation


@dataclass(slots=True)
class _Order:
    case: str
    customer: str | None
    placed: float
    sku: str
    family: str
    category: str
    price: float
    channel: str
    region: str
    events: list[tuple[str, float, float | None]] = field(default_factory=list)
    kind: str | None = None  # "cancel" | "return"
    anchor: float | None = None
    eligible: bool = False  # a customer reversal the detectors judge (not excluded)
    end: float = 0.0


class _Shop:
    def __init__(self, sim: Simulation) -> None:
        self.sim = sim
        self.rng = random.Random(sim.seed)
        self.t0 = dt.datetime.combine(sim.start, dt.time(), tzinfo=dt.UTC).timestamp()
        self.t_end = self.t0 + sim.days * DAY
        self.orders: list[_Order] = []
        self.by_customer: dict[str, list[_Order]] = {}
        self.truth: list[tuple[str, str, str, str]] = []
        self.log_end = self.t_end
        self.n = 0
        self.families = {
            name: [f"{prefix}-{i:04d}" for i in range(40)] for name, prefix, _ in CATEGORIES
        }
        self.prices = {
            fam: round(base * self.rng.uniform(0.6, 1.6), 2)
            for name, _, base in CATEGORIES
            for fam in self.families[name]
        }

    def next_case(self) -> str:
        self.n += 1
        return f"O{self.n:07d}"

    def product(self, category: str, family: str | None = None) -> tuple[str, str, float]:
        fam = family or self.rng.choice(self.families[category])
        return f"{fam}-{self.rng.choice(SIZES)}", fam, self.prices[fam]

    def other_size(self, sku: str, family: str) -> str:
        current = sku.rsplit("-", 1)[1]
        return f"{family}-{self.rng.choice([s for s in SIZES if s != current])}"

    def substitute(self, category: str, family: str, price: float) -> tuple[str, str, float]:
        # Another family of the category at a unit price within +-25% (inside the 30% band).
        candidates = [
            f
            for f in self.families[category]
            if f != family and 1 / 1.25 <= self.prices[f] / price <= 1.25
        ]
        fam = self.rng.choice(candidates) if candidates else family
        return f"{fam}-{self.rng.choice(SIZES)}", fam, self.prices[fam]

    def new_order(
        self,
        customer: str | None,
        t: float,
        category: str,
        *,
        sku: tuple[str, str, float] | None = None,
        channel: str | None = None,
        region: str = "north",
    ) -> _Order:
        s, fam, price = sku or self.product(category)
        order = _Order(
            case=self.next_case(),
            customer=customer,
            placed=t,
            sku=s,
            family=fam,
            category=category,
            price=price,
            channel=channel or self.rng.choice(CHANNELS),
            region=region,
        )
        order.events.append((ACT["order"], t, price))
        self.orders.append(order)
        if customer is not None:
            self.by_customer.setdefault(customer, []).append(order)
        return order


def _lifecycle(
    shop: _Shop,
    order: _Order,
    *,
    reversal: str | None,
    exchange: bool = False,
    pay_fail: bool = False,
    merchant_cancel: bool = False,
) -> None:
    """Events of one order after its placement; sets kind, anchor and end."""
    rng = shop.rng
    t = order.placed
    ev = order.events
    if pay_fail:
        ev.append((ACT["pay_fail"], t + rng.uniform(60, 900), None))
        ev.append((ACT["system_cancel"], t + rng.uniform(HOUR, 3 * HOUR), None))
        order.kind, order.anchor, order.end = "cancel", ev[-1][1], ev[-1][1]
        return
    pay = t + rng.uniform(60, 1800)
    ev.append((ACT["pay"], pay, None))
    if merchant_cancel:
        ev.append((ACT["merchant_cancel"], pay + rng.uniform(0.3 * DAY, 2 * DAY), None))
        ev.append((ACT["refund"], ev[-1][1] + rng.uniform(HOUR, DAY), order.price))
        order.kind, order.anchor, order.end = "cancel", ev[-2][1], ev[-1][1]
        return
    if reversal == "cancel":
        c = pay + rng.uniform(0.5 * HOUR, 30 * HOUR)
        ev.append((ACT["cancel"], c, None))
        ev.append((ACT["refund"], c + rng.uniform(HOUR, 2 * DAY), order.price))
        order.kind, order.anchor, order.end, order.eligible = "cancel", c, ev[-1][1], True
        return
    ship = pay + rng.uniform(12 * HOUR, 48 * HOUR)
    deliver = ship + rng.uniform(1 * DAY, 4 * DAY)
    ev.append((ACT["ship"], ship, None))
    ev.append((ACT["deliver"], deliver, None))
    order.end = deliver
    if reversal != "return":
        return
    req = deliver + rng.uniform(1 * DAY, 8 * DAY)
    order.kind, order.anchor = "return", req
    if exchange:
        ev.append((ACT["return_request"], req, None))
        ev.append((ACT["exchange"], req + rng.uniform(HOUR, DAY), None))
        ev.append((ACT["exchange_ship"], ev[-1][1] + rng.uniform(DAY, 2 * DAY), None))
        order.end = ev[-1][1] + rng.uniform(DAY, 3 * DAY)
        ev.append((ACT["deliver"], order.end, None))
        return
    rship = req + rng.uniform(0.5 * DAY, 2 * DAY)
    rrecv = rship + rng.uniform(2 * DAY, 4 * DAY)
    refund = rrecv + rng.uniform(0.5 * DAY, 2 * DAY)
    ev.append((ACT["return_request"], req, None))
    ev.append((ACT["return_ship"], rship, None))
    ev.append((ACT["return_receive"], rrecv, None))
    ev.append((ACT["refund"], refund, order.price))
    order.end = refund
    order.eligible = True


def _refund_time(order: _Order) -> float | None:
    return next((t for a, t, _ in order.events if a == ACT["refund"]), None)


def _contacts(shop: _Shop, order: _Order, until: float) -> None:
    rng = shop.rng
    if rng.random() < shop.sim.contact_rate:
        for _ in range(rng.choice((1, 1, 2))):
            order.events.append((ACT["contact"], rng.uniform(order.placed, until), None))


def _swap(shop: _Shop, original: _Order, customer: str, depth: int) -> tuple[float, bool]:
    """Plant a replacement order for ``original`` (a wrong-item reversal); return the time it
    is done and whether the customer stays."""
    sim, rng = shop.sim, shop.rng
    assert original.anchor is not None
    w = sim.window_days * DAY
    if rng.random() < 0.7:
        sku = (shop.other_size(original.sku, original.family), original.family, original.price)
    else:
        sku = shop.substitute(original.category, original.family, original.price)
    if original.kind == "cancel":
        if rng.random() < 0.2:
            placed = rng.uniform(original.placed + 60, original.anchor - 60)  # reorder, then cancel
        else:
            placed = original.anchor + rng.uniform(600, 3 * DAY)
        variant = "cancel_reorder"
    else:
        refund = _refund_time(original)
        assert refund is not None
        if rng.random() < 0.4:
            placed = rng.uniform(original.anchor + 60, refund - 60)
            variant = "reorder_before_refund"
        else:
            latest = min(original.anchor + w - 60, refund + 5 * DAY)
            if latest <= refund + 60:
                placed = rng.uniform(original.anchor + 60, refund - 60)
                variant = "reorder_before_refund"
            else:
                placed = rng.uniform(refund + 60, latest)
                variant = "return_reorder"
    replacement = shop.new_order(
        customer,
        placed,
        original.category,
        sku=sku,
        channel=original.channel,
        region=original.region,
    )
    shop.truth.append((customer, original.case, replacement.case, variant))
    again = depth < 2 and rng.random() < sim.chain_rate
    if again:
        kind = "cancel" if rng.random() < 0.4 else "return"
        _lifecycle(shop, replacement, reversal=kind)
        done, stays = _swap(shop, replacement, customer, depth + 1)
    else:
        _lifecycle(shop, replacement, reversal=None)
        done, stays = replacement.end, rng.random() >= sim.churn_after_detour
    _contacts(shop, original, done)
    return done, stays


def _customer(shop: _Shop, index: int) -> None:
    sim, rng = shop.sim, shop.rng
    cid = f"C{index:06d}"
    rate = rng.gammavariate(2.0, sim.orders_per_customer_year / 2.0) / 365.0
    rate = max(rate, 0.5 / 365)
    t = shop.t0 + rng.uniform(0, 0.8 * sim.days) * DAY
    region = rng.choice(REGIONS)
    recent: dict[str, float] = {}
    last_category: str | None = None
    while True:
        t += rng.expovariate(rate) * DAY
        if t >= shop.t_end:
            return
        guest = rng.random() < sim.guest_order_rate
        customer = None if guest else cid
        if last_category is not None and rng.random() < sim.repeat_same_category:
            category = last_category
        else:
            fresh = [c for c, _, _ in CATEGORIES if t - recent.get(c, -1e18) > 45 * DAY]
            category = rng.choice(fresh or [c for c, _, _ in CATEGORIES])
        recent[category] = t
        last_category = category
        order = shop.new_order(customer, t, category, region=region)
        r = rng.random()
        if r < sim.payment_failure_rate:
            _lifecycle(shop, order, reversal=None, pay_fail=True)
            if customer and rng.random() < 0.6:
                # An exact re-purchase after a failed payment: not a detour.
                again = shop.new_order(
                    customer,
                    order.end + rng.uniform(600, DAY),
                    category,
                    sku=(order.sku, order.family, order.price),
                    region=region,
                )
                _lifecycle(shop, again, reversal=None)
                recent[category] = again.placed
            continue
        if r < sim.payment_failure_rate + sim.merchant_cancel_rate:
            _lifecycle(shop, order, reversal=None, merchant_cancel=True)
            if customer and rng.random() < 0.5:
                sub = shop.substitute(category, order.family, order.price)
                again = shop.new_order(
                    customer,
                    order.end + rng.uniform(HOUR, 3 * DAY),
                    category,
                    sku=sub,
                    region=region,
                )
                _lifecycle(shop, again, reversal=None)
            continue
        u = rng.random()
        reversal = (
            "cancel"
            if u < sim.cancel_rate
            else "return"
            if u < sim.cancel_rate + sim.return_rate
            else None
        )
        wrong_item = (
            reversal is not None and customer is not None and rng.random() < sim.wrong_item_share
        )
        native_exchange = wrong_item and reversal == "return" and rng.random() < sim.exchange_share
        _lifecycle(shop, order, reversal=reversal, exchange=native_exchange)
        if rng.random() < sim.second_open_order_rate and customer:
            other = [
                c for c, _, _ in CATEGORIES if c != category and t - recent.get(c, -1e18) > 45 * DAY
            ]
            if other:
                cat2 = rng.choice(other)
                recent[cat2] = t
                second = shop.new_order(
                    customer, t + rng.uniform(HOUR, 2 * DAY), cat2, region=region
                )
                _lifecycle(shop, second, reversal=None)
        if reversal is None or customer is None:
            continue
        if native_exchange:
            _contacts(shop, order, order.end)
            continue
        if wrong_item:
            done, stays = _swap(shop, order, cid, 0)
            recent[category] = done
            t = max(t, done)
            if not stays:
                return
            continue
        # Change of mind: near misses, maybe the customer leaves.
        _contacts(shop, order, order.end)
        assert order.anchor is not None
        if rng.random() < sim.near_miss_rate:
            if rng.random() < 0.5:
                late = order.anchor + sim.window_days * DAY + rng.uniform(2 * DAY, 10 * DAY)
                miss = shop.new_order(
                    customer,
                    late,
                    category,
                    sku=(shop.other_size(order.sku, order.family), order.family, order.price),
                    region=region,
                )
            else:
                others = [c for c, _, _ in CATEGORIES if c != category]
                miss = shop.new_order(
                    customer,
                    order.anchor + rng.uniform(HOUR, 5 * DAY),
                    rng.choice(others),
                    region=region,
                )
            _lifecycle(shop, miss, reversal=None)
            recent[miss.category] = miss.placed
            t = max(t, miss.placed)
        elif rng.random() < sim.churn_after_change_of_mind:
            return


def _lost_sales(shop: _Shop) -> list[tuple[str, str, str, str]]:
    """Eligible reversals with no order by the customer in (placed, anchor + horizon]."""
    horizon = shop.sim.horizon_days * DAY
    out = []
    for customer, orders in shop.by_customer.items():
        placed = sorted(o.placed for o in orders)
        for o in orders:
            if not o.eligible or o.anchor is None or o.anchor + horizon > shop.log_end:
                continue
            hi = o.anchor + horizon
            later = [p for p in placed if o.placed < p <= hi]
            if not later:
                variant = "after_cancel" if o.kind == "cancel" else "after_return"
                out.append((customer, o.case, "", variant))
    return out


def simulate(sim: Simulation | None = None) -> SimulatedLog:
    """Generate a log and its ground truth (see the module docstring).

    Examples
    --------
    >>> log = simulate(Simulation(customers=20, seed=3))
    >>> set(log.truth.column("variant").to_pylist()) <= {
    ...     "cancel_reorder", "return_reorder", "reorder_before_refund",
    ...     "after_cancel", "after_return"}
    True
    >>> log.events.num_rows > 100
    True
    """
    sim = sim or Simulation()
    shop = _Shop(sim)
    for i in range(sim.customers):
        _customer(shop, i + 1)
    # Events after the end of the observation period are not in the log (right censoring).
    rows: list[tuple[str, str | None, str, float, str, str, float | None, str, str]] = []
    for o in shop.orders:
        for activity, t, amount in o.events:
            if t < shop.t_end:
                rows.append(
                    (
                        o.case,
                        o.customer,
                        activity,
                        t,
                        o.sku,
                        o.category,
                        amount,
                        o.channel,
                        o.region,
                    )
                )
    rows.sort(key=lambda r: (r[3], r[0]))
    shop.log_end = max(r[3] for r in rows)
    rng = random.Random(sim.seed + 1)
    customers = [
        None if (c is not None and rng.random() < sim.blank_customer_rows) else c
        for _, c, *_ in rows
    ]
    events = pa.table(
        {
            "order_id": [r[0] for r in rows],
            "customer_id": customers,
            "activity": [r[2] for r in rows],
            "timestamp": pa.array([int(r[3] * 1_000_000) for r in rows], pa.timestamp("us")),
            "sku": [r[4] for r in rows],
            "category": [r[5] for r in rows],
            "amount": pa.array([r[6] for r in rows], pa.float64()),
            "channel": [r[7] for r in rows],
            "region": [r[8] for r in rows],
        }
    )
    # A planted detour is observable only if its reversal and its replacement order happened
    # before the end of the log.
    by_case = {o.case: o for o in shop.orders}
    truth_rows = [
        t
        for t in shop.truth
        if (by_case[t[1]].anchor or shop.t_end) < shop.t_end and by_case[t[2]].placed < shop.t_end
    ]
    truth_rows += _lost_sales(shop)
    truth = pa.table(
        {
            "customer": [t[0] for t in truth_rows],
            "original_case": [t[1] for t in truth_rows],
            "replacement_case": [t[2] or None for t in truth_rows],
            "variant": [t[3] for t in truth_rows],
        }
    )
    return SimulatedLog(events=events, truth=truth, simulation=sim)


# Simulated values never contain the delimiter or quotes, so no field needs quoting.
_CSV_OPTIONS = pacsv.WriteOptions(quoting_style="none")


def write_log(log: SimulatedLog, path: str | Path, *, truth_path: str | Path | None = None) -> Path:
    """Write the events (CSV, Parquet or XES by extension) and the truth (CSV) next to them.

    Returns the path of the truth file (``<name>.truth.csv`` unless ``truth_path`` is given).
    """
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    suffix = (
        "".join(p.suffixes[-2:]).lower() if p.name.lower().endswith(".gz") else p.suffix.lower()
    )
    events = log.events
    if suffix == ".parquet":
        pq.write_table(events, p)
    elif suffix in (".xes", ".xes.gz"):
        _write_xes(events, p)
    else:
        text = events.set_column(
            events.schema.get_field_index("timestamp"),
            "timestamp",
            pa.array(
                [v.strftime("%Y-%m-%d %H:%M:%S") for v in events.column("timestamp").to_pylist()]
            ),
        )
        pacsv.write_csv(text, p, write_options=_CSV_OPTIONS)
    stem = p.name.split(".")[0]
    tp = Path(truth_path) if truth_path else p.with_name(f"{stem}.truth.csv")
    pacsv.write_csv(log.truth, tp, write_options=_CSV_OPTIONS)
    return tp


def _write_xes(events: pa.Table, path: Path) -> None:
    """The events as XES (gzipped for ``.xes.gz``), written as text a trace at a time.

    One trace per order (in order of first appearance, its events in table order) with the
    order id as ``concept:name`` and the customer as the trace attribute ``customer``; every
    other column is an event attribute of its type. pm4py's writer took twenty minutes for
    a million events; this takes seconds.
    """
    import gzip
    from html import escape

    import numpy as np
    import pandas as pd

    frame = events.to_pandas()
    # Traces in order of first appearance, each with its events in table order.
    codes, _ = pd.factorize(frame["order_id"])
    frame = frame.iloc[np.argsort(codes, kind="stable")]
    first_customer = frame.groupby("order_id", sort=False)["customer_id"].first()
    names = [c for c in frame.columns if c not in ("order_id", "customer_id")]
    keys = {"activity": "concept:name", "timestamp": "time:timestamp"}
    columns: list[list[str | None]] = []
    for column in names:
        if column == "timestamp":
            text = frame[column].dt.strftime("%Y-%m-%dT%H:%M:%S+00:00")
        else:
            text = frame[column].astype("string")
        kind = "date" if column == "timestamp" else "float" if column == "amount" else "string"
        key = escape(keys.get(column, column))
        columns.append(
            [
                None if pd.isna(v) else f'<{kind} key="{key}" value="{escape(v)}"/>'
                for v in text.tolist()
            ]
        )
    cases = frame["order_id"].tolist()

    def trace_head(case: str) -> str:
        customer = first_customer.get(case)
        who = (
            ""
            if customer is None or pd.isna(customer)
            else f'<string key="customer" value="{escape(str(customer))}"/>'
        )
        return f'<trace><string key="concept:name" value="{escape(str(case))}"/>{who}'

    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as fh:
        fh.write(
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            '<log xes.version="1849-2016" xmlns="http://www.xes-standard.org/">\n'
            '<extension name="Concept" prefix="concept" '
            'uri="http://www.xes-standard.org/concept.xesext"/>\n'
            '<extension name="Time" prefix="time" uri="http://www.xes-standard.org/time.xesext"/>\n'
        )
        previous = None
        out: list[str] = []
        for i, case in enumerate(cases):
            if case != previous:
                if previous is not None:
                    out.append("</trace>\n")
                out.append(trace_head(case))
                previous = case
            out.append("<event>")
            out.extend(c[i] for c in columns if c[i] is not None)  # type: ignore[misc]
            out.append("</event>")
            if len(out) > 100_000:
                fh.write("".join(out))
                out = []
        if previous is not None:
            out.append("</trace>\n")
        fh.write("".join(out))
        fh.write("</log>\n")


def describe(truth: pa.Table) -> dict[str, int]:
    """Counts per variant in a truth table."""
    out: dict[str, int] = {}
    for v in truth.column("variant").to_pylist():
        out[v] = out.get(v, 0) + 1
    return out
