# SPDX-License-Identifier: AGPL-3.0-or-later
"""The exchange detour: every rule of DESIGN.md section 2.1 on a log with known answers.

Each customer in :func:`scenario_log` is one scenario, named after what it tests; the
expected instances are listed in ``EXPECTED``.
"""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
from factories import OrderLog, at

from procmine import AnalysisConfig, Findings, SimilarityLevel, Windows, detect, parse_duration
from procmine.log import EventLog

# (customer, original, replacement, variant, similarity)
EXPECTED = {
    ("cancel_variant", "cv-A", "cv-B", "cancel_reorder", "variant"),
    ("reorder_then_cancel", "rc-A", "rc-B", "cancel_reorder", "variant"),
    ("return_after_refund", "ra-A", "ra-B", "return_reorder", "variant"),
    ("return_before_refund", "rb-A", "rb-B", "reorder_before_refund", "variant"),
    ("nearest", "nr-A2", "nr-B", "reorder_before_refund", "variant"),
    ("one_b_per_a", "ob-A", "ob-B1", "cancel_reorder", "variant"),
    ("chain", "ch-A", "ch-B", "cancel_reorder", "variant"),
    ("chain", "ch-B", "ch-C", "cancel_reorder", "variant"),
    ("late_cancel", "lc-A", "lc-B", "return_reorder", "variant"),
    ("same_sku", "ss-A", "ss-B", "cancel_reorder", "same_sku"),
    ("substitute", "su-A", "su-B", "cancel_reorder", "substitute"),
    ("category_only", "co-A", "co-B", "cancel_reorder", "category"),
}


def scenario_log() -> pd.DataFrame:
    b = OrderLog()
    # A background of clean orders sets the clean order-to-delivery time to 3 days.
    for i in range(6):
        b.delivered(f"bg-{i}", f"background{i}", 40 + i, sku=f"HAT-{i}-M", category="Hats")
    b.cancelled("cv-A", "cancel_variant", 0)
    b.delivered("cv-B", "cancel_variant", 1, sku="SHOE-1-43")
    # The right size ordered first, the wrong one cancelled afterwards.
    b.order(
        "rc-A",
        "reorder_then_cancel",
        0,
        then=[("Payment captured", "10m"), ("Order cancelled", "5h")],
    )
    b.delivered("rc-B", "reorder_then_cancel", "2h", sku="SHOE-1-43")
    b.returned("ra-A", "return_after_refund", 0)
    b.delivered("ra-B", "return_after_refund", 11, sku="SHOE-1-43")
    b.returned("rb-A", "return_before_refund", 0)
    b.delivered("rb-B", "return_before_refund", 7, sku="SHOE-1-43")
    b.cancelled("ow-A", "outside_window", 0)
    b.delivered("ow-B", "outside_window", 20, sku="SHOE-1-43")
    b.cancelled("oc-A", "other_category", 0)
    b.delivered("oc-B", "other_category", 1, sku="BAG-1", category="Bags")
    b.order(
        "pf-A", "payment_failure", 0, then=[("Payment failed", "5m"), ("Order cancelled", "1h")]
    )
    b.delivered("pf-B", "payment_failure", "2h")  # exact re-purchase, same SKU
    b.order(
        "mc-A",
        "merchant",
        0,
        then=[("Payment captured", "10m"), ("Cancelled by merchant (out of stock)", "1d")],
    )
    b.delivered("mc-B", "merchant", 2, sku="SHOE-1-43")
    b.order(
        "ex-A",
        "exchange",
        0,
        then=[
            ("Payment captured", "10m"),
            ("Shipped", "1d"),
            ("Delivered", "3d"),
            ("Return requested", "5d"),
            ("Exchange requested", "5d"),
        ],
    )
    b.delivered("ex-B", "exchange", 6, sku="SHOE-1-43")
    # Two sizes ordered at once (bracketing), one returned.
    b.returned("br-A", "bracketing", 0, sku="SHOE-7-42")
    b.event(
        "br-A", "bracketing", "Order placed", at(0), sku="SHOE-7-43", category="Shoes", amount=80
    )
    b.delivered("br-B", "bracketing", 11, sku="SHOE-7-44")
    # Two open reversals could be replaced by B: a return requested on day 5 and a cancel on
    # day 0. B (day 6) goes to the nearest preceding one, the return.
    b.order(
        "nr-A2",
        "nearest",
        -10,
        sku="SHOE-1-41",
        then=[
            ("Payment captured", "10m"),
            ("Shipped", "1d"),
            ("Delivered", "3d"),
            ("Return requested", "15d"),
            ("Refund issued", "22d"),
        ],
    )
    b.cancelled("nr-A1", "nearest", 0)
    b.delivered("nr-B", "nearest", 6, sku="SHOE-1-43")
    b.cancelled("ob-A", "one_b_per_a", 0)
    b.delivered("ob-B1", "one_b_per_a", 1, sku="SHOE-1-43")
    b.delivered("ob-B2", "one_b_per_a", 2, sku="SHOE-1-44")
    b.cancelled("ch-A", "chain", 0)
    b.cancelled("ch-B", "chain", 1, sku="SHOE-1-43")
    b.delivered("ch-C", "chain", 2, sku="SHOE-1-44")
    # Cancelled after shipping (intercepted): a return in effect.
    b.order(
        "lc-A",
        "late_cancel",
        0,
        then=[
            ("Payment captured", "10m"),
            ("Shipped", "1d"),
            ("Order cancelled", "2d"),
            ("Refund issued", "3d"),
        ],
    )
    b.delivered("lc-B", "late_cancel", 4, sku="SHOE-1-43")
    b.cancelled("ss-A", "same_sku", 0)
    b.delivered("ss-B", "same_sku", 1)
    b.cancelled("su-A", "substitute", 0, sku="SHOE-1-42", amount=80)
    b.delivered("su-B", "substitute", 1, sku="SHOE-9-40", amount=90)
    b.cancelled("co-A", "category_only", 0, sku="SHOE-1-42", amount=80)
    b.delivered("co-B", "category_only", 1, sku="SHOE-9-40", amount=200)
    b.cancelled("ng-A", None, 0)
    b.delivered("ng-B", None, 1, sku="SHOE-1-43")
    b.event("cv-B", "cancel_variant", "Customer contact", at("2d"))
    return b.frame()


@pytest.fixture(scope="module", name="log")
def fixture_log() -> EventLog:
    return EventLog.from_pandas(scenario_log())


@pytest.fixture(scope="module", name="findings")
def fixture_findings(log: EventLog) -> Findings:
    return detect(log, AnalysisConfig(detectors=("exchange_detour",)))


def _found(findings: Findings) -> set[tuple[str, str, str, str, str]]:
    return {
        (i.customer, i.original_case, i.replacement_case or "", i.variant, i.similarity or "")
        for f in findings
        for i in f.instances
    }


def test_every_scenario_gives_exactly_the_expected_instances(findings: Findings) -> None:
    assert _found(findings) == EXPECTED


def test_one_finding_per_variant_with_stable_ids(findings: Findings) -> None:
    assert sorted(f.id for f in findings) == [
        "exchange_detour:cancel_reorder",
        "exchange_detour:reorder_before_refund",
        "exchange_detour:return_reorder",
    ]


def test_chains_are_reported(findings: Findings) -> None:
    rows = {
        i.original_case: (i.chain_id, i.chain_position, i.chain_length)
        for f in findings
        for i in f.instances
        if i.customer == "chain"
    }
    assert rows == {"ch-A": ("ch-A", 1, 3), "ch-B": ("ch-A", 2, 3)}
    cancel = findings.get("exchange_detour:cancel_reorder")
    assert cancel is not None and cancel.metrics["longest_chain"] == 3


def test_exclusions_are_counted(findings: Findings) -> None:
    cancel = findings.get("exchange_detour:cancel_reorder")
    ret = findings.get("exchange_detour:return_reorder")
    assert cancel is not None and ret is not None
    assert cancel.metrics["excluded_payment_failure"] == 1
    assert cancel.metrics["excluded_merchant"] == 0  # a merchant cancel is not a reversal
    assert cancel.metrics["excluded_no_customer"] == 1
    assert ret.metrics["excluded_exchange"] == 1
    assert ret.metrics["excluded_bracketing"] == 1
    assert ret.metrics["native_exchanges"] == 1
    # 12 detours against 1 native exchange
    assert ret.metrics["detour_share_of_swaps"] == pytest.approx(12 / 13)


def test_time_lost_is_measured_against_clean_orders(findings: Findings) -> None:
    cancel = findings.get("exchange_detour:cancel_reorder")
    assert cancel is not None
    inst = next(i for i in cancel.instances if i.original_case == "cv-A")
    # B delivered 3 days after its placement on day 1: 4 days after A was placed, while a
    # clean order takes 3 days, so one day was lost.
    assert inst.time_lost_hours == pytest.approx(24.0)
    assert inst.replacement_end_time == at(4)
    assert inst.anchor_time == at("5h")
    assert inst.contacts == 1


def test_money_per_instance(findings: Findings) -> None:
    ret = findings.get("exchange_detour:return_reorder")
    assert ret is not None
    inst = next(i for i in ret.instances if i.original_case == "ra-A")
    assert inst.refund_amount == 80.0 and inst.shipped and inst.captured
    # outbound 6 + return label 8 + handling 5 + fee 2.9% of 80 + 0.30
    assert inst.cost == pytest.approx(6 + 8 + 5 + 0.029 * 80 + 0.30)
    cancel = findings.get("exchange_detour:cancel_reorder")
    assert cancel is not None
    cv = next(i for i in cancel.instances if i.original_case == "cv-A")
    # cancelled before shipping, payment captured: only the fee and one contact
    assert cv.cost == pytest.approx(0.029 * 80 + 0.30 + 4.0)


def _run(log: EventLog, **changes: object) -> set[tuple[str, str, str, str, str]]:
    cfg = AnalysisConfig(detectors=("exchange_detour",))
    for key, value in changes.items():
        cfg = dataclasses.replace(cfg, **{key: value})
    return _found(detect(log, cfg))


def test_stricter_similarity_keeps_only_variants(log: EventLog) -> None:
    from procmine.config import Similarity

    strict = _run(log, similarity=Similarity(min_level=SimilarityLevel.VARIANT))
    assert strict == {e for e in EXPECTED if e[4] == "variant"}
    loose = _run(log, similarity=Similarity(min_level=SimilarityLevel.ANY))
    assert ("other_category", "oc-A", "oc-B", "cancel_reorder", "any") in loose


def test_a_longer_window_reaches_the_late_reorder(log: EventLog) -> None:
    wide = _run(log, windows=Windows(cancel=parse_duration("30d")))
    assert ("outside_window", "ow-A", "ow-B", "cancel_reorder", "variant") in wide


def test_amount_tolerance_drops_dissimilar_amounts(log: EventLog) -> None:
    from procmine.config import Similarity

    found = _run(log, similarity=Similarity(amount_tolerance=0.5))
    assert ("category_only", "co-A", "co-B", "cancel_reorder", "category") not in found
    assert ("substitute", "su-A", "su-B", "cancel_reorder", "substitute") in found


def test_baseline_counts_clean_customers_who_rebuy_anyway() -> None:
    b = OrderLog()
    # 10 customers cancel and reorder (10 detours, 10 clean replacement orders); 20 other
    # customers place a clean order and 5 of them buy a similar item again two days later
    # (5 more clean orders).
    for i in range(10):
        b.cancelled(f"a{i}", f"d{i}", i, sku=f"SHOE-{i}-42")
        b.delivered(f"b{i}", f"d{i}", i + 1, sku=f"SHOE-{i}-43")
    for i in range(20):
        b.delivered(f"c{i}", f"k{i}", i, sku=f"SHOE-{i}-42")
        if i < 5:
            b.delivered(f"r{i}", f"k{i}", i + 2, sku=f"SHOE-{i}-44")
    b.delivered("late", "tail", 120, sku="HAT-1-M", category="Hats")  # the log runs on
    finding = detect(
        EventLog.from_pandas(b.frame()), AnalysisConfig(detectors=("exchange_detour",))
    ).get("exchange_detour:cancel_reorder")
    assert finding is not None
    assert finding.metrics["instances"] == 10
    # Clean orders whose window ends inside the log: 10 + 20 + 5 = 35 ("late" ends after the
    # log); 5 of them are followed by a similar order within the window.
    assert finding.metrics["baseline_rate"] == pytest.approx(5 / 35, abs=1e-4)
    assert finding.metrics["expected_instances"] == pytest.approx(10 * 5 / 35, abs=0.01)
    assert finding.metrics["excess_instances"] == pytest.approx(10 - 10 * 5 / 35, abs=0.01)
    assert finding.metrics["genuine_share"] == pytest.approx(1 - 5 / 35, abs=1e-4)


def test_a_log_without_products_matches_any_reorder() -> None:
    b = OrderLog()
    b.cancelled("A", "c1", 0, sku=None, category=None)
    b.delivered("B", "c1", 1, sku=None, category=None)
    frame = b.frame().drop(columns=["sku", "category"])
    finding = detect(
        EventLog.from_pandas(frame), AnalysisConfig(detectors=("exchange_detour",))
    ).get("exchange_detour:cancel_reorder")
    assert finding is not None
    assert [(i.original_case, i.similarity) for i in finding.instances] == [("A", "any")]
    assert any("no product or category column" in n for n in finding.notes)
