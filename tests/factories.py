# SPDX-License-Identifier: AGPL-3.0-or-later
"""Builders for logs with known answers, written in code (no fixture files)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from procmine.config import parse_duration

T0 = dt.datetime(2024, 1, 1, 9, 0, 0)
#: events after placement (activity, delay) of the standard order lifecycles
LIFECYCLES: dict[str, list[tuple[str, str]]] = {
    "delivered": [("Payment captured", "10m"), ("Shipped", "1d"), ("Delivered", "3d")],
    "cancelled": [("Payment captured", "10m"), ("Order cancelled", "5h"), ("Refund issued", "1d")],
    "returned": [
        ("Payment captured", "10m"),
        ("Shipped", "1d"),
        ("Delivered", "3d"),
        ("Return requested", "5d"),
        ("Return shipped", "6d"),
        ("Return received", "9d"),
        ("Refund issued", "10d"),
    ],
}
COLUMNS = ["order_id", "customer_id", "activity", "timestamp", "sku", "category", "amount"]


def offset(value: str | float) -> dt.timedelta:
    """A duration such as ``"3d"``, ``"5h"`` or a number of days (zero allowed)."""
    if isinstance(value, int | float):
        return dt.timedelta(days=value)
    if value in ("0", "0d"):
        return dt.timedelta(0)
    return parse_duration(value)


def at(value: str | float) -> dt.datetime:
    """``T0`` plus an offset (see :func:`offset`)."""
    return T0 + offset(value)


@dataclass
class OrderLog:
    """An order log built step by step.

    >>> b = OrderLog()
    >>> _ = b.order("A", "c1", "0d", sku="SHOE-1-42", category="Shoes", amount=80,
    ...             then=[("Order cancelled", "2h")])
    >>> b.frame()[["order_id", "activity"]].values.tolist()
    [['A', 'Order placed'], ['A', 'Order cancelled']]
    """

    rows: list[dict[str, Any]] = field(default_factory=list)

    def event(
        self,
        case: str,
        customer: str | None,
        activity: str,
        when: dt.datetime,
        *,
        sku: str | None = None,
        category: str | None = None,
        amount: float | None = None,
        resource: str | None = None,
    ) -> OrderLog:
        self.rows.append(
            {
                "order_id": case,
                "customer_id": customer,
                "activity": activity,
                "timestamp": when,
                "sku": sku,
                "category": category,
                "amount": amount,
                "resource": resource,
            }
        )
        return self

    def order(
        self,
        case: str,
        customer: str | None,
        placed: str | float,
        *,
        sku: str | None = "SHOE-1-42",
        category: str | None = "Shoes",
        amount: float | None = 80.0,
        then: list[tuple[str, str]] | None = None,
    ) -> OrderLog:
        """An order placed at ``placed`` with events ``then`` at offsets after placement."""
        t = at(placed)
        self.event(case, customer, "Order placed", t, sku=sku, category=category, amount=amount)
        for activity, delay in then or []:
            value = amount if activity == "Refund issued" else None
            self.event(
                case,
                customer,
                activity,
                t + offset(delay),
                sku=sku,
                category=category,
                amount=value,
            )
        return self

    def delivered(
        self, case: str, customer: str | None, placed: str | float, **kw: Any
    ) -> OrderLog:
        """A clean order: placed, paid, shipped on day 1, delivered on day 3."""
        return self.order(case, customer, placed, then=LIFECYCLES["delivered"], **kw)

    def cancelled(
        self, case: str, customer: str | None, placed: str | float, **kw: Any
    ) -> OrderLog:
        """Placed, paid, cancelled by the customer 5 hours later, refunded the next day."""
        return self.order(case, customer, placed, then=LIFECYCLES["cancelled"], **kw)

    def returned(self, case: str, customer: str | None, placed: str | float, **kw: Any) -> OrderLog:
        """Delivered on day 3, return requested on day 5, refunded on day 10."""
        return self.order(case, customer, placed, then=LIFECYCLES["returned"], **kw)

    def frame(self) -> pd.DataFrame:
        """The rows as a frame; a ``resource`` column only when some event has one."""
        with_resource = any(r["resource"] is not None for r in self.rows)
        return pd.DataFrame(self.rows, columns=[*COLUMNS, "resource"] if with_resource else COLUMNS)


def ocel_document(
    *, customer_via: str = "o2o", extra_types: tuple[str, ...] = ()
) -> dict[str, Any]:
    """An order log: customer k1 orders o1 (shoe size 42), cancels, and orders o2 (size 43).

    ``customer_via`` links orders to customers by object-to-object relations ("o2o") or
    only through the place-order event ("e2o").
    """

    def obj(
        oid: str,
        typ: str,
        attrs: dict[str, Any] | None = None,
        rel: list[tuple[str, str]] | None = None,
    ) -> dict[str, Any]:
        return {
            "id": oid,
            "type": typ,
            "attributes": [
                {"name": k, "time": "1970-01-01T00:00:00Z", "value": v}
                for k, v in (attrs or {}).items()
            ],
            "relationships": [{"objectId": o, "qualifier": q} for o, q in (rel or [])],
        }

    def ev(eid: str, typ: str, time: str, rel: list[tuple[str, str]]) -> dict[str, Any]:
        return {
            "id": eid,
            "type": typ,
            "time": time,
            "attributes": [],
            "relationships": [{"objectId": o, "qualifier": q} for o, q in rel],
        }

    places = customer_via == "o2o"
    objects = [
        obj("k1", "customers", rel=[("o1", "places"), ("o2", "places")] if places else []),
        obj("o1", "orders", {"price": 80.0}, [("i1", "comprises")]),
        obj("o2", "orders", {"price": 82.0}, [("i2", "comprises")]),
        obj("i1", "items", {"price": 80.0}, [("p42", "is a")]),
        obj("i2", "items", {"price": 82.0}, [("p43", "is a")]),
        obj("p42", "products", {"price": 80.0, "category": "Shoes"}),
        obj("p43", "products", {"price": 82.0, "category": "Shoes"}),
    ] + [obj(f"x-{t}", t) for t in extra_types]
    # pm4py's reader keeps only objects that some event refers to, so the customer of the
    # O2O case is registered by an event of its own (the order link stays O2O-only).
    first = [("o1", "order"), ("i1", "item"), ("p42", "product")]
    second = [("o2", "order"), ("i2", "item"), ("p43", "product")]
    if not places:
        first.append(("k1", "customer"))
        second.append(("k1", "customer"))
    events = [
        ev("e0", "register customer", "2024-02-01T10:00:00Z", [("k1", "customer")]),
        ev("e1", "place order", "2024-03-01T10:00:00Z", first),
        ev("e2", "cancel order", "2024-03-01T12:00:00Z", [("o1", "order")]),
        ev("e3", "place order", "2024-03-02T09:00:00Z", second),
        ev("e4", "pay order", "2024-03-02T09:05:00Z", [("o2", "order")]),
    ]
    types = sorted({o["type"] for o in objects})
    return {
        "objectTypes": [{"name": t, "attributes": []} for t in types],
        "eventTypes": [
            {"name": n, "attributes": []}
            for n in ("register customer", "place order", "cancel order", "pay order")
        ],
        "objects": objects,
        "events": events,
    }


def pandas_edge_cases(
    frame: pd.DataFrame,
    cases: set[str] | None = None,
    *,
    case: str = "order_id",
    activity: str = "activity",
    timestamp: str = "timestamp",
) -> dict[tuple[str, str], int]:
    """``{(source, target): cases}`` counted by pandas: how many cases (of ``cases``, or of
    all) take each directly-follows edge, a loop's edge once per case; ties in time keep the
    frame's order, as pm4py's stable sort does."""
    ordered = frame.sort_values([case, timestamp], kind="stable")
    steps = ordered.assign(nxt=ordered.groupby(case, sort=False)[activity].shift(-1))
    steps = steps.dropna(subset=["nxt"])
    if cases is not None:
        steps = steps[steps[case].isin(cases)]
    counted = steps.groupby([activity, "nxt"])[case].nunique()
    return {(str(a), str(b)): int(n) for (a, b), n in counted.items()}
