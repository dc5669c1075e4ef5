# SPDX-License-Identifier: AGPL-3.0-or-later
"""Covariates, controls and the matched churn comparison."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import OrderLog

from procmine import AnalysisConfig, detect, read_log
from procmine.churn import (
    MIN_CONTROLS,
    MIN_MATCHED_SHARE,
    ChurnModel,
    control_units,
    covariates,
    matched_strata,
)
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


def _strata_by_pandas(
    t: pd.DataFrame, c: pd.DataFrame, keys: list[str], min_matched: int
) -> tuple[pd.DataFrame, list[str]]:
    """The matching spelled out with pandas' group-by and merge, level by level."""
    keys = keys or ["all"]
    total = int(t["t_n"].sum())
    best: tuple[pd.DataFrame, list[str]] | None = None
    for level in range(len(keys), 0, -1):
        by = keys[:level]
        tt = t.groupby(by, dropna=False)[["t_n", "t_k"]].sum().reset_index()
        cc = c.groupby(by, dropna=False)[["c_n", "c_k"]].sum().reset_index()
        merged = tt.merge(cc, on=by, how="left")
        matched = merged[merged["c_n"].fillna(0) >= MIN_CONTROLS]
        n = int(matched["t_n"].sum())
        if best is None or n > int(best[0]["t_n"].sum()):
            best = (matched, by)
        if n >= min_matched and n / total >= MIN_MATCHED_SHARE:
            return matched, by
    assert best is not None
    return best


@pytest.mark.parametrize("seed", range(40))
def test_matched_strata_equal_pandas_group_by_and_merge(seed: int) -> None:
    rng = np.random.default_rng(seed)
    keys = ["prior_orders", "prior_spend", "tenure", "category", "month"][: seed % 6]

    def counts(prefix: str, rows: int) -> pd.DataFrame:
        frame = pd.DataFrame(
            {
                "prior_orders": rng.choice(["0", "1-2", "3-5", "11+"], rows),
                "prior_spend": rng.choice(["0", "<50", "1000+"], rows),
                "tenure": rng.choice(["new", "<90d", "365d+"], rows),
                "category": rng.choice(np.array(["Shoes", "Bags", None], dtype=object), rows),
                "month": rng.choice([f"2024-{m:02d}" for m in range(1, 13)], rows),
                "all": "all",
            }
        ).drop_duplicates(subset=keys or ["all"])
        n = rng.integers(1, 30, len(frame))
        return frame.assign(**{f"{prefix}_n": n, f"{prefix}_k": rng.integers(0, n + 1)})

    t = counts("t", int(rng.integers(1, 300)))
    c = counts("c", int(rng.integers(1, 2000)))
    min_matched = int(rng.integers(1, 3000))
    got, used = matched_strata(t, c, keys, min_matched)
    want, want_used = _strata_by_pandas(t, c, keys, min_matched)
    assert used == want_used
    for column in ("t_n", "t_k", "c_n", "c_k"):
        assert got[column].tolist() == want[column].astype("int64").tolist()
