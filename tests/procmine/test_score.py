# SPDX-License-Identifier: AGPL-3.0-or-later
"""Scoring: cost model arithmetic and how the headline figures are put together."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest

from procmine import AnalysisConfig, CostModel, Findings, detect, read_log
from procmine.findings import INSTANCE_SCHEMA
from procmine.score import MONTH_DAYS, apply_cost_model
from procmine.simulate import Simulation, simulate, write_log


def _raw_instances() -> pa.Table:
    return pa.table(
        {
            "customer": ["c1", "c2"],
            "original_case": ["a1", "a2"],
            "replacement_case": ["b1", "b2"],
            "variant": ["return_reorder", "cancel_reorder"],
            "similarity": ["variant", "variant"],
            "original_order_s": [0.0, 0.0],
            "anchor_s": [86400.0, 3600.0],
            "replacement_order_s": [2 * 86400.0, 7200.0],
            "replacement_end_s": [5 * 86400.0, 3 * 86400.0],
            "time_lost_hours": [48.0, 1.0],
            "amount_original": [100.0, 50.0],
            "amount_replacement": [100.0, 50.0],
            "refund_amount": [100.0, 0.0],
            "shipped": [True, False],
            "captured": [True, False],
            "chain_id": ["a1", "a2"],
            "chain_position": [1, 1],
            "chain_length": [2, 2],
            "contacts": [2, 0],
        }
    )


def test_cost_model_arithmetic_and_schema() -> None:
    table = apply_cost_model(_raw_instances(), CostModel(), replacement=True)
    assert table.schema == INSTANCE_SCHEMA
    costs = table.column("cost").to_pylist()
    # shipped and returned: outbound 6 + label 8 + handling 5 + fee 2.9% of 100 + 0.30 + 2 x 4
    assert costs[0] == pytest.approx(6 + 8 + 5 + 2.9 + 0.30 + 8)
    assert costs[1] == 0.0  # cancelled before capture and shipping: free
    assert table.column("return_shipping_cost").to_pylist() == [8.0, 0.0]
    assert str(table.column("anchor_time")[0].as_py()) == "1970-01-02 00:00:00"


def test_handling_as_a_share_of_the_price() -> None:
    model = CostModel(
        return_handling_share=0.27,
        contact=0.0,
        payment_fee_rate=0.0,
        payment_fee_fixed=0.0,
        outbound_shipment=0.0,
        return_label=0.0,
    )
    table = apply_cost_model(_raw_instances(), model, replacement=True)
    assert table.column("cost").to_pylist() == [pytest.approx(27.0), 0.0]


def test_no_outbound_cost_without_a_replacement() -> None:
    table = apply_cost_model(_raw_instances(), CostModel(), replacement=False)
    assert table.column("cost").to_pylist()[0] == pytest.approx(8 + 5 + 2.9 + 0.30 + 8)


@pytest.fixture(scope="module", name="findings")
def fixture_findings(tmp_path_factory: pytest.TempPathFactory) -> tuple[Findings, float]:
    path = tmp_path_factory.mktemp("score") / "log.csv"
    write_log(simulate(Simulation(customers=2500, seed=4, churn_after_detour=0.8)), path)
    log = read_log(path)
    return detect(log), log.stats.observed_days


@pytest.mark.slow
def test_severity_is_monthly_money_at_risk(findings: tuple[Findings, float]) -> None:
    found, days = findings
    for f in found:
        m = f.metrics
        if f.detector == "exchange_detour":
            assert m["direct_cost_excess"] == pytest.approx(
                m["direct_cost_per_instance"] * max(m["excess_instances"], 0), rel=1e-3, abs=0.05
            )
        risk = m["revenue_at_risk"] or 0.0
        direct = m["direct_cost_excess"] or 0.0
        assert f.severity == pytest.approx((direct + risk) * MONTH_DAYS / days, rel=1e-6)
        assert m["monthly_money_at_risk"] == pytest.approx(f.severity, abs=0.01)
    severities = [f.severity for f in found]
    assert severities == sorted(severities, reverse=True)


@pytest.mark.slow
def test_revenue_at_risk_follows_the_churn_difference(findings: tuple[Findings, float]) -> None:
    found, _ = findings
    for f in found:
        if f.detector != "exchange_detour":
            continue
        m = f.metrics
        assert f.churn is not None
        expected = m["affected_customers"] * -m["churn_difference"] * f.churn["forward_revenue"]
        assert m["revenue_at_risk"] == pytest.approx(expected, rel=1e-3)
        assert "association, not a causal effect" in f.assumptions["churn"]["interpretation"]


def test_units_and_assumptions_are_stated(tmp_path: Path) -> None:
    path = tmp_path / "small.csv"
    write_log(simulate(Simulation(customers=60, seed=9)), path)
    cfg = AnalysisConfig(cost_model=CostModel(currency="GBP"))
    found = detect(read_log(path), dataclasses.replace(cfg, detectors=("exchange_detour",)))
    f = found[0]
    assert f.units["refunded_amount"] == "GBP" and f.units["monthly_money_at_risk"] == "GBP/month"
    assert f.assumptions["window"] == "14d" and f.assumptions["horizon"] == "90d"
    assert f.assumptions["cost_model"]["currency"] == "GBP"
    assert f.evidence == "C" and any("small sample" in n for n in f.notes)
