# SPDX-License-Identifier: AGPL-3.0-or-later
"""Lost sale after a cancel or return: DESIGN.md section 2.2 on a log with known answers."""

from __future__ import annotations

from datetime import timedelta

import pytest
from factories import OrderLog

from procmine import AnalysisConfig, Findings, detect
from procmine.config import Windows
from procmine.log import EventLog


@pytest.fixture(scope="module", name="findings")
def fixture_findings() -> Findings:
    b = OrderLog()
    b.cancelled("gone-A", "gone", 0)  # cancels and never buys again
    b.returned("gone-R", "gone_after_return", 0)
    b.cancelled("back-A", "back", 0)
    b.delivered("back-B", "back", 40, sku="BAG-1", category="Bags")  # other category, in horizon
    b.cancelled("late-A", "too_late", 0)
    b.delivered("late-B", "too_late", 120, sku="BAG-2", category="Bags")  # after the horizon
    b.cancelled("swap-A", "swapped", 0)
    b.delivered("swap-B", "swapped", 2, sku="SHOE-1-43")  # a detour, not a lost sale
    b.cancelled("recent-A", "recent", 150)  # within 90 days of the log's end: not judged
    b.order("mc-A", "merchant", 0, then=[("Cancelled by merchant (out of stock)", "1d")])
    for i in range(5):
        b.delivered(f"bg-{i}", f"background{i}", 30 * i)
    b.delivered("end", "tail", 200, sku="HAT-1", category="Hats")
    return detect(EventLog.from_pandas(b.frame()), AnalysisConfig(detectors=("lost_sale",)))


def test_lost_sales_are_exactly_the_reversals_without_a_later_purchase(
    findings: Findings,
) -> None:
    found = {(i.customer, i.original_case, i.variant) for f in findings for i in f.instances}
    assert found == {
        ("gone", "gone-A", "after_cancel"),
        ("gone_after_return", "gone-R", "after_return"),
        ("too_late", "late-A", "after_cancel"),
    }


def test_recent_reversals_are_censored_and_counted(findings: Findings) -> None:
    cancel = findings.get("lost_sale:after_cancel")
    assert cancel is not None
    assert cancel.metrics["censored_reversals"] == 1
    # judged: gone, back, too_late, swapped (the merchant cancel is not a customer's)
    assert cancel.metrics["eligible"] == 4
    assert cancel.metrics["lost_revenue"] == pytest.approx(160.0)
    assert any("not judged" in n for n in cancel.notes)


def test_lost_sale_instances_have_no_replacement(findings: Findings) -> None:
    for f in findings:
        for inst in f.instances:
            assert inst.replacement_case is None and inst.time_lost_hours is None


def test_every_figure_has_a_unit(findings: Findings) -> None:
    for finding in findings:
        assert set(finding.metrics) <= set(finding.units), finding.id


@pytest.mark.parametrize(
    ("window_days", "lost"), [(20, True), (90, False)], ids=["window-inside", "window-beyond"]
)
def test_a_similar_reorder_after_the_horizon_saves_the_sale_only_inside_the_window(
    window_days: int, lost: bool
) -> None:
    """With a horizon of 30 days, a cancel followed by a similar order on day 60 bought
    nothing within the horizon: a lost sale, unless the window reaches day 60."""
    b = OrderLog()
    b.cancelled("A", "c1", 0)
    b.delivered("B", "c1", 60)  # the same product, after the horizon
    b.delivered("end", "tail", 200, sku="HAT-1", category="Hats")
    windows = Windows(lost_sale=timedelta(days=window_days), horizon=timedelta(days=30))
    found = detect(
        EventLog.from_pandas(b.frame()),
        AnalysisConfig(detectors=("lost_sale",), windows=windows),
    )
    cases = {i.original_case for f in found for i in f.instances}
    assert cases == ({"A"} if lost else set())
