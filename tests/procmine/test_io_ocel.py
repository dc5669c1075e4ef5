# SPDX-License-Identifier: AGPL-3.0-or-later
"""OCEL 2.0: flattening on the order type, the customer link, the items, and clear errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import shared

from procmine import LogValidationError, ReadOptions, detect, read_log
from procmine.errors import ProblemCode


def _ocel(*, customer_via: str = "o2o", extra_types: tuple[str, ...] = ()) -> dict[str, Any]:
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


@pytest.mark.parametrize("via", ["o2o", "e2o"])
def test_flattening_links_customers_and_finds_the_detour(tmp_path: Path, via: str) -> None:
    path = tmp_path / "orders.jsonocel"
    path.write_text(json.dumps(_ocel(customer_via=via)))
    log = read_log(path)
    assert log.source.details["case_type"] == "orders"
    assert log.source.details["customer_type"] == "customers"
    assert (log.stats.events, log.stats.cases, log.stats.customers) == (4, 2, 1)
    found = detect(log).get("exchange_detour:cancel_reorder")
    assert found is not None
    [instance] = list(found.instances)
    assert (instance.original_case, instance.replacement_case) == ("o1", "o2")
    assert instance.amount_original == 80.0
    items = log.engine.table(log.items_table_name).to_pyarrow().to_pylist()
    assert {(i["case_id"], i["product"], i["category"], i["price"]) for i in items} == {
        ("o1", "p42", "Shoes", 80.0),
        ("o2", "p43", "Shoes", 82.0),
    }
    assert instance.similarity == "substitute"


def test_gzipped_ocel_json(tmp_path: Path) -> None:
    path = tmp_path / "orders.json.gz"
    path.write_bytes(gzip.compress(json.dumps(_ocel()).encode()))
    assert read_log(path).stats.cases == 2


def test_object_types_can_be_named_and_a_wrong_name_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "orders.jsonocel"
    path.write_text(json.dumps(_ocel(extra_types=("Kunde",))))
    log = read_log(path, options=ReadOptions(ocel_customer_type="customers"))
    assert log.stats.customers == 1
    with pytest.raises(LogValidationError) as info:
        read_log(path, options=ReadOptions(ocel_case_type="Bestellung"))
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.UNKNOWN_OBJECT_TYPE
    assert "customers, items, orders, products" in problem.message


def test_a_log_without_customers_warns(tmp_path: Path) -> None:
    data = _ocel()
    data["objects"] = [o for o in data["objects"] if o["type"] != "customers"]
    data["objectTypes"] = [t for t in data["objectTypes"] if t["name"] != "customers"]
    path = tmp_path / "anon.jsonocel"
    path.write_text(json.dumps(data))
    log = read_log(path)
    assert any(w.code is ProblemCode.NO_CUSTOMER_LINK for w in log.warnings)
    assert log.stats.customers == 0


@pytest.mark.parametrize(
    "relative",
    [
        "ocel2-order-management/order-management.json.gz",
        "ocel2-order-management/order-management.xml.gz",
    ],
)
def test_the_reference_order_management_log(relative: str) -> None:
    log = read_log(shared(relative))
    # 2,000 orders of 15 customers; the order-level events: place, confirm, pay (2,000 each)
    # and 566 payment reminders.
    assert (log.stats.cases, log.stats.customers) == (2000, 15)
    assert log.stats.events == 6566
    assert log.stats.cases_without_customer == 0
    assert log.roles.to_dict()["order"] == ["place order"]


def test_ocel_sqlite() -> None:
    log = read_log(shared("ocpa-sample-logs/ocel2-running-example-order-management-early.sqlite"))
    assert log.stats.cases == 2000
    assert log.stats.customers == 3


def test_an_ocel_without_an_order_type_asks_for_one() -> None:
    path = shared("pm4py-tests/ocel/ocel20_example.jsonocel")
    log = read_log(path)  # "Purchase Order" contains "order"
    assert log.source.details["case_type"] == "Purchase Order"
    with pytest.raises(LogValidationError) as info:
        read_log(path, options=ReadOptions(ocel_case_type="Shipment"))
    assert (
        "Invoice, Payment, Purchase Order, Purchase Requisition" in info.value.problems[0].message
    )
