# SPDX-License-Identifier: AGPL-3.0-or-later
"""Covariates, controls and the matched churn comparison."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from factories import OrderLog

from procmine import AnalysisConfig, detect, read_log
from procmine.churn import ChurnModel, control_units, covariates
from procmine.config import ChurnConfig, Similarity
from procmine.detect import build_order_tables
from procmine.engine import to_frame
from procmine.log import EventLog
from procmine.simulate import Simulation, simulate, write_log


def test_covariates_bucket_prior_orders_spend_and_tenure() -> None:
    b = OrderLog()
    for i, day in enumerate([0, 10, 20, 30, 200]):
        b.delivered(f"o{i}", "c1", day, amount=100.0)
    log = EventLog.from_pandas(b.frame())
    orders = build_order_tables(log, Similarity())
    rows = {r["case_id"]: r for r in covariates(orders).to_pyarrow().to_pylist()}
    assert [rows[f"o{i}"]["prior_orders"] for i in range(5)] == ["0", "1-2", "1-2", "3-5", "3-5"]
    # spend of the 90 days before: o3 (day 30) has three earlier orders of 100
    assert [rows[f"o{i}"]["prior_spend"] for i in range(5)] == ["0", "<200", "<1000", "<1000", "0"]
    assert [rows[f"o{i}"]["tenure"] for i in range(5)] == ["new", "<90d", "<90d", "<90d", "<365d"]
    assert rows["o0"]["category"] == "Shoes" and rows["o0"]["month"] == "2024-01"


def test_controls_are_clean_orders_before_any_reversal() -> None:
    b = OrderLog()
    b.delivered("k1", "calm", 0)
    b.delivered("k2", "calm", 10)
    b.delivered("r0", "rev", 0)
    b.cancelled("r1", "rev", 5)
    b.delivered("r2", "rev", 10)  # after the customer's first reversal: not a control
    b.delivered("end", "tail", 300, sku="HAT-1", category="Hats")
    log = EventLog.from_pandas(b.frame())
    orders = build_order_tables(log, Similarity())
    units = control_units(orders, 90 * 86400.0).to_pyarrow().to_pylist()
    by_case = {u["case_id"]: u for u in units}
    assert set(by_case) == {"k1", "k2", "r0", "end"}
    assert by_case["k1"]["repurchased"] and not by_case["k2"]["repurchased"]
    assert by_case["k1"]["observed"] and not by_case["end"]["observed"]


@pytest.mark.parametrize("lost", [False, True], ids=["repurchase", "lost"])
def test_control_counts_equal_the_units_counted_one_by_one(tmp_path: Path, lost: bool) -> None:
    """The model counts both kinds of control from one join; counting the units of
    :func:`control_units` per stratum must give the same numbers."""
    path = tmp_path / "log.csv"
    # Half a year of orders with a 90-day horizon: many units are not observed to the end.
    write_log(simulate(Simulation(customers=400, seed=5, days=180)), path)
    log = read_log(path)
    orders = build_order_tables(log, Similarity())
    horizon = 90 * 86400.0
    config = ChurnConfig()
    keys = list(config.match_on)
    units = to_frame(control_units(orders, horizon, lost=lost))
    assert 0 < units["observed"].sum() < len(units)
    assert 0 < units["outcome"].sum() < len(units)
    units = units[units["observed"]].merge(to_frame(covariates(orders)), on="case_id")
    units["revenue"] = units["forward_revenue"].where(units["repurchased"], 0.0)
    expected = (
        units.groupby(keys)
        .agg(
            c_n=("unit_id", "size"),
            c_k=("outcome", "sum"),
            c_rev=("revenue", "sum"),
            c_rep=("repurchased", "sum"),
        )
        .reset_index()
    )
    model = ChurnModel(log.engine, orders, config, horizon)
    got = model.control_counts(lost)
    got = got.assign(c_rev=got["c_rev"].fillna(0.0))
    assert len(got) == len(expected)
    pd.testing.assert_frame_equal(
        got.sort_values(keys).reset_index(drop=True)[expected.columns],
        expected.sort_values(keys).reset_index(drop=True),
        check_dtype=False,
    )


@pytest.fixture(scope="module", name="planted")
def fixture_planted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("churn") / "planted.csv"
    write_log(simulate(Simulation(customers=3000, seed=1, churn_after_detour=0.9)), path)
    return path


@pytest.mark.slow
def test_a_planted_drop_in_repurchase_is_found(planted: Path) -> None:
    found = detect(read_log(planted), AnalysisConfig(detectors=("exchange_detour",)))
    for finding in found:
        m = finding.metrics
        # 90% of detour customers stop buying; comparable customers repurchase within
        # 90 days about 70-80% of the time.
        assert -0.85 < m["churn_difference"] < -0.5
        assert m["churn_difference_high"] < 0
        assert m["revenue_at_risk"] is not None and m["revenue_at_risk"] > 0
        assert m["revenue_at_risk_low"] <= m["revenue_at_risk"] <= m["revenue_at_risk_high"]
        assert finding.evidence == "A"
        assert finding.churn is not None and finding.churn["matched_on"][0] == "prior_orders"


@pytest.mark.slow
def test_without_a_planted_effect_the_difference_is_small(tmp_path: Path) -> None:
    path = tmp_path / "calm.csv"
    write_log(simulate(Simulation(customers=3000, seed=11, churn_after_detour=0.0)), path)
    found = detect(read_log(path), AnalysisConfig(detectors=("exchange_detour",)))
    excluding_zero = 0
    for finding in found:
        m = finding.metrics
        assert abs(m["churn_difference"]) < 0.1
        if m["churn_difference_low"] < 0 < m["churn_difference_high"]:
            assert m["revenue_at_risk"] is None  # inconclusive: no number
            assert any("inconclusive" in n for n in finding.notes)
        else:
            excluding_zero += 1
    # Three 95% intervals: one may exclude zero by chance, not more.
    assert excluding_zero <= 1
