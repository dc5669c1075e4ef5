# SPDX-License-Identifier: AGPL-3.0-or-later
"""OCEL 2.0: flattening on the order type, the customer link, the items, and clear errors."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from conftest import shared
from factories import ocel_document as _ocel

from procmine import LogValidationError, ReadOptions, detect, read_log
from procmine.errors import ProblemCode


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
