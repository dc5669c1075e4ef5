# SPDX-License-Identifier: AGPL-3.0-or-later
"""The friction detectors on the real public logs in ../shared/data, checked against counts
computed independently: pm4py's rework statistics, and waits and ping-pongs recounted in
plain pandas over the frame pm4py reads."""

from __future__ import annotations

import functools
import math
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from conftest import shared

from procmine import Findings, detect, read_log
from procmine.detect import registered
from procmine.log import EventLog
from procmine.roles import Role

LOGS = {
    "bpic2012": "pm4py-tests/compressed_xes/17_bpic2012_1t_per_variant.xes.gz",
    "helpdesk": "pm4py-tests/xes/helpdesk.xes.gz",
    "hospital_billing": "pm4py-tests/compressed_xes/14_Billing_1t_per_variant.xes.gz",
    "order_management": "ocel2-order-management/order-management.json.gz",
}


def _pm4py() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
    return pm4py


@pytest.fixture(scope="module", params=sorted(LOGS), name="analysed")
def fixture_analysed(request: pytest.FixtureRequest) -> tuple[str, Path, EventLog, Findings]:
    path = shared(LOGS[request.param])
    log = read_log(path)
    return request.param, path, log, detect(log)


@functools.cache
def _frame(name: str, path: Path) -> pd.DataFrame:
    """The log as pm4py reads it (orders flattened for OCEL), in case and time order.

    Cached: three tests recount the same frame; none of them changes it."""
    pm4py = _pm4py()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if name == "order_management":
            frame = pm4py.ocel_flattening(pm4py.read_ocel2_json(str(path)), "orders")
        else:
            frame = pm4py.read_xes(str(path), show_progress_bar=False)
    frame = frame.reset_index(drop=True)
    frame["_row"] = range(len(frame))
    return frame.sort_values(["case:concept:name", "time:timestamp", "_row"], kind="stable")


def test_every_detector_runs_and_gives_well_formed_instances(
    analysed: tuple[str, Path, EventLog, Findings],
) -> None:
    _, _, log, findings = analysed
    expected = {f"{name}:{v}" for name, cls in registered().items() for v in cls.variants}
    assert {f.id for f in findings} == expected
    cases = set(log.to_pandas()["case_id"])
    for f in findings:
        table = f.instances.to_pandas()
        assert set(table["original_case"]) <= cases, f.id
        assert (table["time_lost_hours"].dropna() >= 0).all(), f.id
        assert (table["repeats"].dropna() >= 1).all(), f.id
        rate = f.metrics["rate"]
        assert rate is None or (f.detector == "rework_loop" or 0 <= rate <= 1), f.id
        assert math.isfinite(f.severity) and f.severity >= 0, f.id


def test_rework_counts_equal_pm4py_rework_statistics(
    analysed: tuple[str, Path, EventLog, Findings],
) -> None:
    name, path, log, findings = analysed
    frame = _frame(name, path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm4py_counts = _pm4py().get_rework_cases_per_activity(frame)
    per_item = set(
        findings.get("rework_loop:repeated_step").assumptions["per_item_steps_not_counted"]  # type: ignore[union-attr]
    )
    # pm4py counts every activity; ours leaves out per-item steps, contacts and payments
    # (those are the payment_retry variant, counted from the first failure)
    skipped = {Role.CONTACT, Role.PAY, Role.PAY_FAIL}
    expected = {
        activity: int(n)
        for activity, n in pm4py_counts.items()
        if activity not in per_item and log.roles.role_of(activity) not in skipped
    }
    ours = Counter(
        i.step
        for fid in ("rework_loop:repeated_step", "rework_loop:redelivery")
        for i in findings.get(fid).instances  # type: ignore[union-attr]
    )
    assert dict(ours) == expected
    assert expected, "the log should have rework"


def test_waits_beyond_p90_equal_a_pandas_recount(
    analysed: tuple[str, Path, EventLog, Findings],
) -> None:
    name, path, _, findings = analysed
    frame = _frame(name, path)
    case = frame["case:concept:name"]
    nxt = frame.groupby(case, sort=False)[["concept:name", "time:timestamp"]].shift(-1)
    steps = pd.DataFrame(
        {
            "source": frame["concept:name"],
            "target": nxt["concept:name"],
            "wait": (nxt["time:timestamp"] - frame["time:timestamp"]).dt.total_seconds(),
        }
    ).dropna(subset=["target"])
    grouped = steps.groupby(["source", "target"])["wait"]
    limit = grouped.transform(lambda s: s.quantile(0.9) if len(s) >= 20 else math.nan)
    over = steps[steps["wait"] > limit]
    expected = Counter(f"{s} -> {t}" for s, t in zip(over["source"], over["target"], strict=True))
    p90 = findings.get("long_wait:over_p90")
    assert p90 is not None
    assert Counter(i.step for i in p90.instances) == expected
    assert p90.metrics["eligible"] == int(limit.notna().sum())


def test_ping_pong_equals_a_pandas_recount(
    analysed: tuple[str, Path, EventLog, Findings],
) -> None:
    name, path, log, findings = analysed
    frame = _frame(name, path)
    if not log.mapped("resource") or "org:resource" not in frame:
        # BPIC 2012 and billing samples name no resources; pm4py's flattening of the OCEL
        # log drops the employees, so there is nothing to recount against
        pytest.skip(f"{name}: no resource column to recount")
    frame = frame.dropna(subset=["org:resource"])
    expected: Counter[tuple[str, str]] = Counter()
    for case, resources in frame.groupby("case:concept:name", sort=False)["org:resource"]:
        runs = [r for i, r in enumerate(resources) if i == 0 or r != resources.iloc[i - 1]]
        for before, middle, after in zip(runs, runs[1:], runs[2:], strict=False):
            if before == after:
                pair = " <-> ".join(sorted((str(before), str(middle))))
                expected[(str(case), pair)] += 1
    found = findings.get("ping_pong:between_resources")
    assert found is not None
    assert {(i.original_case, i.step): i.repeats for i in found.instances} == dict(expected)
    assert expected, "the log should have ping-pong"
