# SPDX-License-Identifier: AGPL-3.0-or-later
"""Root causes: a planted cause comes first and is significant; a log without one reports
none as significant; the p-values are Fisher's exact test's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from factories import OrderLog
from scipy.stats import fisher_exact

from procmine import AnalysisConfig, detect
from procmine.causes import benjamini_hochberg
from procmine.findings import Finding
from procmine.log import EventLog


def _contacts_log(repeats_for: dict[str, int], orders_per_channel: dict[str, int]) -> pd.DataFrame:
    """Orders per channel; the first ``repeats_for[channel]`` of each get two contacts.

    Regions alternate order by order, independently of the contacts.
    """
    b = OrderLog()
    channels: dict[str, str] = {}
    i = 0
    for channel, n in orders_per_channel.items():
        for j in range(n):
            case = f"{channel}-{j}"
            then = [("Shipped", "1d"), ("Delivered", "3d")]
            if j < repeats_for[channel]:
                then += [("Customer contact", "4d"), ("Customer contact", "5d")]
            b.order(case, f"c{i}", i % 200, then=then)
            channels[case] = channel
            i += 1
    frame = b.frame()
    frame["channel"] = frame["order_id"].map(channels)
    frame["region"] = frame["order_id"].map(
        {case: ("north" if k % 2 else "south") for k, case in enumerate(channels)}
    )
    return frame


def _finding(frame: pd.DataFrame) -> Finding:
    found = detect(
        EventLog.from_pandas(frame), AnalysisConfig(detectors=("repeated_contact",))
    ).get("repeated_contact:same_order")
    assert found is not None
    return found


def test_a_planted_cause_comes_first_and_is_significant() -> None:
    # phone orders: 30 of 60 contact twice; web orders: 12 of 240
    finding = _finding(_contacts_log({"phone": 30, "web": 12}, {"phone": 60, "web": 240}))
    first = finding.causes[0]
    assert (first.attribute, first.value) == ("channel", "phone")
    assert first.significant and first.p_value < 0.001
    assert (first.orders, first.affected) == (60, 30)
    assert first.rate == pytest.approx(0.5) and first.rate_rest == pytest.approx(12 / 240)
    assert first.lift == pytest.approx(10.0)
    assert first.excess == pytest.approx((0.5 - 0.05) * 60)
    assert not any(c.significant for c in finding.causes if c.attribute == "region")
    assert "channel = phone: 10.0x as likely (n=60 orders, 30 affected, p<0.001)" in (
        first.describe()
    )


def test_a_log_without_a_cause_reports_none_as_significant() -> None:
    # one in ten orders of every channel contacts twice
    finding = _finding(_contacts_log({"phone": 10, "web": 20}, {"phone": 100, "web": 200}))
    assert len(finding.instances) == 30
    assert not any(c.significant for c in finding.causes)


def test_p_values_are_fishers_exact_test_and_q_values_benjamini_hochberg() -> None:
    finding = _finding(_contacts_log({"phone": 30, "web": 12}, {"phone": 60, "web": 240}))
    total_orders, total_affected = 300, 42
    for cause in finding.causes:
        table = [
            [cause.affected, cause.orders - cause.affected],
            [
                total_affected - cause.affected,
                total_orders - cause.orders - total_affected + cause.affected,
            ],
        ]
        _, p = fisher_exact(table, alternative="greater")
        assert cause.p_value == pytest.approx(p, rel=1e-6)
    p = np.array([0.001, 0.01, 0.02, 0.04, 0.5])
    # by hand: p * m / rank, then the running minimum from the largest rank down
    assert benjamini_hochberg(p).tolist() == pytest.approx([0.005, 0.025, 1 / 30, 0.05, 0.5])


def test_causes_are_in_the_findings_document() -> None:
    finding = _finding(_contacts_log({"phone": 30, "web": 12}, {"phone": 60, "web": 240}))
    document = finding.to_dict(instances=False)
    assert document["causes"][0]["attribute"] == "channel"
    assert document["causes"][0]["text"].startswith("channel = phone: 10.0x")


def test_the_statistics_are_imported_in_the_background_when_an_analysis_starts() -> None:
    """In a fresh interpreter: importing procmine leaves scipy.stats out (a CLI run that
    fails early never pays for it); starting the detectors imports it in a thread."""
    script = """
import sys, threading
import pandas as pd
from procmine import detect
from procmine.log import EventLog
print("scipy.stats" in sys.modules)
seen = []
original = threading.Thread.start
def start(self):
    seen.append(self.name)
    original(self)
threading.Thread.start = start
rows = [("A", "c1", "Order placed", "2024-03-01 10:00")]
frame = pd.DataFrame(rows, columns=["order_id", "customer", "activity", "ts"])
detect(EventLog.from_pandas(frame))
print("procmine-preload" in seen, "scipy.stats" in sys.modules)
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    )
    assert done.stdout.split() == ["False", "True", "True"]


def test_causes_count_the_orders_of_the_attribute_table(tmp_path: Path) -> None:
    """Root causes count each attribute from its own table; the long attribute table (one row
    per order, attribute and value) must give the same orders and affected orders."""
    from procmine import read_log
    from procmine.causes import CauseSettings, attribute_table, root_causes
    from procmine.detect import build_order_tables
    from procmine.engine import to_frame
    from procmine.simulate import Simulation, simulate, write_log

    path = tmp_path / "log.csv"
    write_log(simulate(Simulation(customers=600, seed=8)), path)
    log = read_log(path)
    assert log.dimensions  # channel and region, besides category, weekday and price band
    orders = build_order_tables(log, AnalysisConfig().similarity)
    everything = CauseSettings(min_orders=1, min_affected=1, max_causes=1000)
    findings = root_causes(log, orders, detect(log), everything)
    table = to_frame(attribute_table(log, orders))
    held = table.groupby(["attribute", "value"]).size()
    checked = 0
    for f in findings:
        affected = set(f.instances.table.column("original_case").to_pylist())
        hit = table[table["case_id"].isin(affected)].groupby(["attribute", "value"]).size()
        for c in f.causes:
            key = (c.attribute, c.value)
            assert (c.orders, c.affected) == (held[key], hit[key]), (f.id, key)
            checked += 1
    assert {a for a, _ in held.index} >= {"category", "weekday", "price_band", *log.dimensions}
    assert checked >= 20
