# SPDX-License-Identifier: AGPL-3.0-or-later
"""Friction inside orders (DESIGN.md section 2.3) on logs whose answers are known by design:
rework loops, ping-pong, long waits, repeated contacts and refunds as vouchers."""

from __future__ import annotations

import pytest
from factories import OrderLog, at

from procmine import AnalysisConfig, Findings, detect
from procmine.config import CostModel, Rework, Waits, parse_duration
from procmine.findings import Finding
from procmine.log import EventLog


def _get(findings: Findings, fid: str) -> Finding:
    found = findings.get(fid)
    assert found is not None, f"no finding {fid}: {findings}"
    return found


def _rows(finding: Finding) -> dict[tuple[str, str | None], tuple[int | None, float | None]]:
    """``(case, step) -> (repeats, time_lost_hours rounded)`` of every instance."""
    return {
        (i.original_case, i.step): (
            i.repeats,
            None if i.time_lost_hours is None else round(i.time_lost_hours, 3),
        )
        for i in finding.instances
    }


# -- rework ----------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="rework")
def fixture_rework() -> Findings:
    b = OrderLog()
    b.order(
        "retry",
        "c1",
        0,
        then=[
            ("Payment captured", "0d"),  # a deposit before the failure: not part of the loop
            ("Payment failed", "10m"),
            ("Payment failed", "20m"),
            ("Payment captured", "30m"),
            ("Shipped", "1d"),
            ("Delivered", "3d"),
        ],
    )
    b.order("failed-once", "c2", 0, then=[("Payment failed", "10m"), ("Order cancelled", "1h")])
    b.order("resent", "c3", 0, then=[("Shipped", "1d"), ("Shipped", "2d"), ("Delivered", "4d")])
    b.order(
        "address",
        "c4",
        0,
        then=[("Change address", "1h"), ("Payment captured", "2h"), ("Change address", "5h")],
    )
    b.order(
        "talkative",
        "c5",
        0,
        then=[("Customer contact", "1h"), ("Customer contact", "2h"), ("Shipped", "1d")],
    )
    # "Pick item" repeats in 4 of the 5 orders it occurs in: one pick per item, not rework.
    for i in range(4):
        b.order(f"picks{i}", f"p{i}", i, then=[("Pick item", "1h"), ("Pick item", "2h")])
    b.order("pick-once", "p9", 5, then=[("Pick item", "1h")])
    config = AnalysisConfig(
        detectors=("rework_loop",),
        rework=Rework(min_cases=3),
        cost_model=CostModel(rework=2.5),
    )
    return detect(EventLog.from_pandas(b.frame()), config)


def test_a_failed_payment_retried_is_a_payment_loop_from_the_first_failure(
    rework: Findings,
) -> None:
    retry = _get(rework, "rework_loop:payment_retry")
    # attempts after the first failure: one more failure and the capture, 20 minutes apart
    assert _rows(retry) == {("retry", "payment"): (2, round(20 / 60, 3))}
    assert retry.metrics["eligible"] == 2  # both orders with a failed payment
    fee = CostModel().payment_fee_fixed
    assert [i.cost for i in retry.instances] == [pytest.approx(2 * fee)]


def test_a_second_shipment_is_a_redelivery_priced_as_an_extra_shipment(
    rework: Findings,
) -> None:
    redelivery = _get(rework, "rework_loop:redelivery")
    assert _rows(redelivery) == {("resent", "Shipped"): (1, 24.0)}
    assert [i.cost for i in redelivery.instances] == [CostModel().outbound_shipment]


def test_other_repeats_are_rework_and_per_item_steps_are_not(rework: Findings) -> None:
    repeated = _get(rework, "rework_loop:repeated_step")
    assert _rows(repeated) == {("address", "Change address"): (2 - 1, 4.0)}
    assert repeated.assumptions["per_item_steps_not_counted"] == ["Pick item"]
    assert repeated.metrics["self_loop_instances"] == 0
    assert [i.cost for i in repeated.instances] == [2.5]


def test_repeated_contacts_are_not_rework(rework: Findings) -> None:
    steps = {i.step for f in rework for i in f.instances}
    assert "Customer contact" not in steps


def test_orders_with_more_steps_than_fingerprint_slots_are_counted_exactly() -> None:
    # 80 different steps cannot all have slots of their own among 32: such an order passes
    # the fingerprint pre-filter, and only the exact count may say whether a step repeats.
    steps = [f"Check {i:02d}" for i in range(80)]
    b = OrderLog()
    b.order("long", "c1", 0, then=[(name, f"{i + 1}m") for i, name in enumerate(steps)])
    b.order(
        "long-redo",
        "c2",
        0,
        then=[(name, f"{i + 1}m") for i, name in enumerate([*steps, "Check 07"])],
    )
    config = AnalysisConfig(detectors=("rework_loop",), rework=Rework(min_cases=3))
    repeated = _get(detect(EventLog.from_pandas(b.frame()), config), "rework_loop:repeated_step")
    assert _rows(repeated) == {("long-redo", "Check 07"): (1, round(73 / 60, 3))}


# -- ping-pong -------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="ping_pong")
def fixture_ping_pong() -> Finding:
    b = OrderLog()

    def case(name: str, customer: str, resources: list[str | None]) -> None:
        for hour, resource in enumerate(resources):
            b.event(name, customer, f"Step {hour}", at(f"{hour + 1}h"), resource=resource)

    case("once", "c1", ["Sales", "Sales", "Logistics", "Sales", "Billing"])
    case("thrice", "c2", ["Sales", "Logistics", "Sales", "Logistics", "Sales"])
    case("straight", "c3", ["Sales", "Logistics", "Billing"])
    case("gap", "c4", ["Sales", None, "Sales"])  # the unnamed event is no hand-over
    case("unnamed-between", "c5", ["Billing", "Sales", None, "Billing"])
    found = detect(EventLog.from_pandas(b.frame()), AnalysisConfig(detectors=("ping_pong",)))
    return _get(found, "ping_pong:between_resources")


def test_a_case_handed_back_is_a_ping_pong_counted_per_bounce(ping_pong: Finding) -> None:
    assert _rows(ping_pong) == {
        # Logistics took it at hour 3 and Sales had it back at hour 4
        ("once", "Logistics <-> Sales"): (1, 1.0),
        # S L S L S: three returns, each one hour away
        ("thrice", "Logistics <-> Sales"): (3, 3.0),
        ("unnamed-between", "Billing <-> Sales"): (1, 2.0),
    }
    assert ping_pong.metrics["eligible"] == 4  # every case with a hand-over but "gap"


def test_without_a_resource_column_ping_pong_says_what_to_map() -> None:
    b = OrderLog().delivered("A", "c1", 0)
    found = detect(EventLog.from_pandas(b.frame()), AnalysisConfig(detectors=("ping_pong",)))
    finding = _get(found, "ping_pong:between_resources")
    assert len(finding.instances) == 0
    assert any("--resource" in note for note in finding.notes)


# -- waits -----------------------------------------------------------------------------------


@pytest.fixture(scope="module", name="waits")
def fixture_waits() -> Findings:
    b = OrderLog()
    for i in range(19):
        b.order(f"ok{i}", f"c{i}", i, then=[("Payment captured", "10m"), ("Shipped", "2d")])
    b.order("slow-ship", "late", 30, then=[("Payment captured", "10m"), ("Shipped", "10d")])
    b.order("slow-pay", "payer", 31, then=[("Payment captured", "5h"), ("Shipped", "5h")])
    config = AnalysisConfig(
        detectors=("long_wait",),
        waits=Waits(sla={"Order placed -> Payment captured": parse_duration("1h")}),
    )
    return detect(EventLog.from_pandas(b.frame()), config)


def test_a_wait_beyond_its_sla_is_a_breach_by_the_time_beyond(waits: Findings) -> None:
    sla = _get(waits, "long_wait:over_sla")
    assert _rows(sla) == {("slow-pay", "Order placed -> Payment captured"): (None, 4.0)}
    assert sla.metrics["eligible"] == 21


def test_without_an_sla_a_wait_beyond_the_transitions_p90_is_too_long(waits: Findings) -> None:
    p90 = _get(waits, "long_wait:over_p90")
    # 19 shipments 2 days after payment minus 10 minutes; one 10 days: p90 is the usual wait
    usual = 2 * 24 - 10 / 60
    assert _rows(p90) == {("slow-ship", "Payment captured -> Shipped"): (None, (8 * 24))}
    assert p90.notes[0].startswith("Payment captured -> Shipped: 1 waits beyond its p90")
    assert f"({usual:,.1f} h)" in p90.notes[0]
    # the instance's order is 10 of the 21 orders' 48-hour-ish lifetimes
    assert 0 < p90.metrics["worst_transition_share_of_order_time"] < 1


def test_an_sla_for_a_transition_the_log_lacks_is_named() -> None:
    b = OrderLog().delivered("A", "c1", 0)
    config = AnalysisConfig(
        detectors=("long_wait",), waits=Waits(sla={"Packed -> Shipped": parse_duration("1d")})
    )
    found = detect(EventLog.from_pandas(b.frame()), config)
    notes = _get(found, "long_wait:over_sla").notes
    assert any("Packed -> Shipped: the log has no such transition" in n for n in notes)


# -- repeated contacts -----------------------------------------------------------------------


@pytest.fixture(scope="module", name="contacts")
def fixture_contacts() -> Findings:
    b = OrderLog()
    b.order(
        "twice",
        "c1",
        0,
        then=[("Customer contact", "1d"), ("Customer contact", "3d"), ("Customer contact", "20d")],
    )
    b.order("first", "c2", 0, then=[("Customer contact", "1d")])
    b.order("second", "c2", 2, then=[("Customer contact", "2d")])  # 3 days after the first
    b.order("far1", "c3", 0, then=[("Customer contact", "1d")])
    b.order("far2", "c3", 10, then=[("Customer contact", "1d")])  # 10 days later: new trouble
    b.order("guest", None, 0, then=[("Complaint", "1d"), ("Complaint", "1d")])
    config = AnalysisConfig(detectors=("repeated_contact",))
    return detect(EventLog.from_pandas(b.frame()), config)


def test_contacts_within_a_week_about_one_order_are_repeated(contacts: Findings) -> None:
    same = _get(contacts, "repeated_contact:same_order")
    assert _rows(same) == {
        ("twice", "Customer contact"): (1, 48.0),  # the third, 17 days on, is a new episode
        ("guest", "Complaint"): (1, 0.0),
    }
    assert same.metrics["eligible"] == 6
    assert [i.cost for i in same.instances if i.original_case == "twice"] == [
        2 * CostModel().contact
    ]


def test_contacts_of_one_customer_about_two_orders_are_repeated(contacts: Findings) -> None:
    other = _get(contacts, "repeated_contact:same_customer")
    assert [(i.customer, i.original_case, i.replacement_case) for i in other.instances] == [
        ("c2", "first", "second")
    ]
    assert _rows(other) == {("first", "Customer contact"): (1, 72.0)}
    assert other.metrics["eligible"] == 3  # customers with a contact (the guest is unknown)


# -- refund as voucher ------------------------------------------------------------------------


@pytest.fixture(scope="module", name="vouchers")
def fixture_vouchers() -> Findings:
    b = OrderLog()
    b.order("credit", "c1", 0, then=[("Order cancelled", "2h"), ("Store credit issued", "1d")])
    b.order("money", "c2", 0, then=[("Order cancelled", "2h"), ("Refund issued", "1d")])
    b.order(
        "gift",
        "c3",
        0,
        amount=120.0,
        then=[
            ("Shipped", "1d"),
            ("Delivered", "3d"),
            ("Return requested", "5d"),
            ("Return received", "9d"),
            ("Gift card issued", "10d"),
        ],
    )
    b.order(
        "merchant",
        "c4",
        0,
        then=[("Cancelled by merchant (out of stock)", "1h"), ("Voucher issued", "1d")],
    )
    b.order("plain", "c5", 0, then=[("Order cancelled", "2h")])  # not settled in the log
    config = AnalysisConfig(detectors=("refund_as_voucher",))
    return detect(EventLog.from_pandas(b.frame()), config)


def test_a_cancel_settled_with_store_credit_is_a_voucher_refund(vouchers: Findings) -> None:
    cancel = _get(vouchers, "refund_as_voucher:after_cancel")
    assert [(i.original_case, i.step) for i in cancel.instances] == [
        ("credit", "Store credit issued")
    ]
    # settled cancels of customers: credit and money (the merchant's cancel is not one)
    assert cancel.metrics["eligible"] == 2
    assert cancel.metrics["rate"] == 0.5
    assert cancel.instances[0].anchor_time == at("1d")


def test_a_return_settled_with_a_gift_card_is_a_voucher_refund(vouchers: Findings) -> None:
    ret = _get(vouchers, "refund_as_voucher:after_return")
    assert [(i.original_case, i.refund_amount) for i in ret.instances] == [("gift", 120.0)]
    assert ret.metrics["voucher_value"] == 120.0
    # a voucher keeps the money in the shop: no payment fee is lost on a refund
    assert ret.instances[0].captured is False


def test_without_a_voucher_activity_the_finding_says_what_to_map() -> None:
    b = OrderLog().cancelled("A", "c1", 0)
    found = detect(
        EventLog.from_pandas(b.frame()), AnalysisConfig(detectors=("refund_as_voucher",))
    )
    assert any("--role voucher" in n for n in _get(found, "refund_as_voucher:after_cancel").notes)


def test_a_native_exchange_delivering_the_swap_is_no_redelivery() -> None:
    b = OrderLog()
    b.order(
        "swap",
        "c1",
        0,
        then=[
            ("Shipped", "1d"),
            ("Delivered", "3d"),
            ("Exchange requested", "5d"),
            ("Exchange shipped", "6d"),
            ("Delivered", "8d"),
        ],
    )
    b.order("again", "c2", 0, then=[("Delivered", "3d"), ("Delivered", "4d")])
    found = detect(EventLog.from_pandas(b.frame()), AnalysisConfig(detectors=("rework_loop",)))
    redelivery = _get(found, "rework_loop:redelivery")
    assert _rows(redelivery) == {("again", "Delivered"): (1, 24.0)}
    assert redelivery.metrics["excluded_exchange"] == 1


def test_every_figure_of_the_friction_findings_has_a_unit(
    rework: Findings, waits: Findings, contacts: Findings, vouchers: Findings
) -> None:
    for findings in (rework, waits, contacts, vouchers):
        for finding in findings:
            missing = set(finding.metrics) - set(finding.units)
            assert not missing, (finding.id, missing)
