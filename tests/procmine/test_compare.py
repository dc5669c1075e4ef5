# SPDX-License-Identifier: AGPL-3.0-or-later
"""Before vs after: two logs whose change is known by design, compared by the library and
by ``procmine compare``."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pandas as pd
import pytest
from cli_helpers import run_cli
from factories import OrderLog

from procmine import AnalysisConfig, analyze
from procmine.compare import FELL_COLOUR, SAME_COLOUR, BeforeAfter, change_map, compare
from procmine.config import Waits, parse_duration
from procmine.log import EventLog
from procmine.stats import newcombe_difference


def _period(detours: int, slow_every: int, customers: int = 60, start_day: int = 0) -> pd.DataFrame:
    """``detours`` customers cancel a shoe and reorder the next size; the rest order once.
    Every ``slow_every``-th order is delivered 5 days after shipping instead of 2; every fifth
    draws two contacts, in both periods alike."""
    b = OrderLog()
    for i in range(customers):
        delivered = "6d" if i % slow_every == 0 else "3d"
        then = [("Payment captured", "10m"), ("Shipped", "1d"), ("Delivered", delivered)]
        if i % 5 == 0:
            then += [("Customer contact", "7d"), ("Customer contact", "8d")]
        day, tag = start_day + i, f"{start_day}-{i}"
        if i < detours:
            b.cancelled(f"A{tag}", f"c{tag}", day)
            b.order(f"B{tag}", f"c{tag}", f"{day}.5", sku="SHOE-1-43", then=then)
        else:
            b.order(f"B{tag}", f"c{tag}", day, then=then)
    return b.frame()


@pytest.fixture(scope="module", name="result")
def fixture_result() -> tuple[BeforeAfter, object]:
    config = AnalysisConfig(waits=Waits(sla={"Shipped -> Delivered": parse_duration("3d")}))
    before = analyze(EventLog.from_pandas(_period(24, slow_every=2)), config)
    after = analyze(EventLog.from_pandas(_period(3, slow_every=10)), config)
    return compare(before, after), after


def test_the_rate_compared_is_per_opportunity(result: tuple[BeforeAfter, object]) -> None:
    change = result[0].get("exchange_detour:cancel_reorder")
    assert change is not None and change.before is not None and change.after is not None
    # every cancel was reordered before (24 of 24) and after (3 of 3): the detour's rate per
    # cancel did not move, so the verdict is "no clear change" ...
    assert (change.before.affected, change.before.eligible) == (24, 24)
    assert (change.after.affected, change.after.eligible) == (3, 3)
    assert change.verdict == "no clear change"


def test_paths_of_the_process_are_compared_by_share_of_orders(
    result: tuple[BeforeAfter, object],
) -> None:
    # ... but far fewer orders were cancelled: the path into the cancel fell
    edge = next(e for e in result[0].edges if e.target == "Order cancelled")
    assert (edge.cases_before, edge.cases_after) == (24, 3)
    expected = newcombe_difference(3, 63, 24, 84)
    assert edge.difference.estimate == pytest.approx(expected.estimate)
    assert edge.verdict == "fell"


def test_a_finding_that_became_rare_fell(result: tuple[BeforeAfter, object]) -> None:
    change = result[0].get("long_wait:over_sla")
    assert change is not None and change.before is not None and change.after is not None
    # deliveries later than the 3-day service level: 30 of 60 before, 6 of 60 after
    assert (change.before.affected, change.before.eligible) == (30, 60)
    assert (change.after.affected, change.after.eligible) == (6, 60)
    expected = newcombe_difference(6, 60, 30, 60)
    assert change.difference is not None
    assert change.difference.estimate == pytest.approx(expected.estimate)
    assert change.difference.high == pytest.approx(expected.high)
    assert change.verdict == "fell"
    assert result[0].findings[0].key == "long_wait:over_sla"  # the biggest fall first


def test_an_unchanged_finding_has_no_clear_change(result: tuple[BeforeAfter, object]) -> None:
    change = result[0].get("repeated_contact:same_order")
    assert change is not None and change.before is not None and change.after is not None
    assert (change.before.affected, change.after.affected) == (12, 12)
    assert change.verdict == "no clear change"
    assert change.describe().startswith("Contacted again about the same order: 100.0% -> ")
    returns = result[0].get("exchange_detour:return_reorder")
    assert returns is not None and returns.verdict == "no data"  # no returns in either


def test_the_change_map_colours_the_paths(result: tuple[BeforeAfter, object]) -> None:
    comparison, after = result
    drawn = change_map(after.graph, comparison.edges)  # type: ignore[attr-defined]
    assert FELL_COLOUR in drawn.dot and SAME_COLOUR in drawn.dot
    assert "pp" in drawn.dot and b"<svg" in drawn.svg


def test_procmine_compare_writes_the_comparison_and_the_map(tmp_path: Path) -> None:
    before, after = tmp_path / "jan.csv", tmp_path / "apr.csv"
    _period(24, slow_every=2).to_csv(before, index=False)
    _period(3, slow_every=10).to_csv(after, index=False)
    done = run_cli(
        "compare", str(before), str(after), "--json", "-q", "--out", str(tmp_path / "out")
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["before"] == "jan.csv" and doc["after"] == "apr.csv"
    keys = {c["key"]: c for c in doc["findings"]}
    assert keys["exchange_detour:cancel_reorder"]["after"]["eligible"] == 3
    assert json.loads((tmp_path / "out" / "compare.json").read_text()) == doc
    assert (tmp_path / "out" / "change.svg").read_bytes().startswith(b"<?xml")
    missing = run_cli("compare", str(before), str(tmp_path / "no.csv"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_one_log_split_at_a_date(tmp_path: Path) -> None:
    log = tmp_path / "year.csv"
    pd.concat([_period(24, slow_every=2), _period(3, slow_every=10, start_day=100)]).to_csv(
        log, index=False
    )
    config = tmp_path / "procmine.toml"
    config.write_text('[waits]\nsla = { "Shipped -> Delivered" = "3d" }\n', encoding="utf-8")
    done = run_cli(
        "compare", str(log), "--split", "2024-03-31", "--config", str(config), "--json", "-q"
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["before"] == "year.csv [to 2024-03-31]"
    assert doc["after"] == "year.csv [from 2024-03-31]"
    sla = next(c for c in doc["findings"] if c["key"] == "long_wait:over_sla")
    assert (sla["before"]["affected"], sla["after"]["affected"]) == (30, 6)
    assert sla["verdict"] == "fell"
    for bad, message in (
        (["--split", "March"], "is not a date"),
        ([str(log), "--split", "2024-03-31"], "either two logs"),
        (["--split", "2030-01-01"], "has no orders placed from 2030-01-01"),
    ):
        wrong = run_cli("compare", str(log), *bad, "-q")
        assert wrong.returncode == 2 and message in wrong.stderr, wrong.stderr
        assert "Traceback" not in wrong.stderr


def test_placed_between_keeps_every_event_of_the_orders_placed_in_the_period() -> None:
    whole = EventLog.from_pandas(
        pd.concat([_period(24, slow_every=2), _period(3, slow_every=10, start_day=100)])
    )
    at = dt.datetime(2024, 3, 31)
    before, after = whole.placed_between(None, at), whole.placed_between(at, None)
    assert before.stats.cases + after.stats.cases == whole.stats.cases
    assert before.stats.events + after.stats.events == whole.stats.events
    assert before.stats.end < at <= after.stats.start
    assert (before.stats.cases, after.stats.cases) == (84, 63)
