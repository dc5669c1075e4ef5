# SPDX-License-Identifier: AGPL-3.0-or-later
"""Order tables with a column per step's time (one row per order), read as event logs."""

from __future__ import annotations

import datetime as dt
import json
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cli_helpers import run_cli

from procmine import (
    ColumnMapping,
    ConfigError,
    EventLog,
    LogValidationError,
    ReadOptions,
    discover,
    open_saved_log,
    read_frame,
    read_log,
    save_log,
)
from procmine.errors import ProblemCode
from procmine.mapping import MAX_STEPS, resolve_mapping

OLIST = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "data"
    / "olist-ecommerce-sample"
    / "olist_orders_dataset.csv"
)

# Order A is paid in the minute it is placed: the steps' order must break the tie.
WIDE = (
    "order_id,customer_id,status,placed_at,paid_at,shipped_at,delivered_at,"
    "estimated_delivery_date\n"
    "A,c1,delivered,2024-03-01 10:00,2024-03-01 10:00,2024-03-02 09:00,2024-03-04 12:00,"
    "2024-03-05\n"
    "B,c1,canceled,2024-03-03 11:00,,,,2024-03-08\n"
    ",,,,,,,\n"
    "C,c2,shipped,2024-03-05 08:00,2024-03-05 08:00,2024-03-06 10:00,  ,2024-03-09\n"
)


def _write(tmp_path: Path, text: str, name: str = "orders.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _events(log: EventLog) -> list[tuple[str, str, str]]:
    frame = log.to_pandas().sort_values(["case_id", "ts", "row"])
    rows = zip(frame.case_id, frame.activity, frame.ts, strict=True)
    return [(c, a, f"{t:%m-%d %H:%M}") for c, a, t in rows]


def test_a_row_per_order_with_a_column_per_step_is_read_as_events(tmp_path: Path) -> None:
    log = read_log(_write(tmp_path, WIDE))
    assert log.mapping.steps == (
        ("placed_at", "Placed"),
        ("paid_at", "Paid"),
        ("shipped_at", "Shipped"),
        ("delivered_at", "Delivered"),
    )
    assert {"steps", "case", "customer"} <= log.mapping.guessed
    assert log.mapping.get("activity") is None and log.mapping.get("timestamp") is None
    # Blank steps (B after placing, C's spaces) give no event; ties keep the steps' order.
    assert _events(log) == [
        ("A", "Placed", "03-01 10:00"),
        ("A", "Paid", "03-01 10:00"),
        ("A", "Shipped", "03-02 09:00"),
        ("A", "Delivered", "03-04 12:00"),
        ("B", "Placed", "03-03 11:00"),
        ("C", "Placed", "03-05 08:00"),
        ("C", "Paid", "03-05 08:00"),
        ("C", "Shipped", "03-06 10:00"),
    ]
    assert discover(log).dfg() == {
        ("Placed", "Paid"): 2,
        ("Paid", "Shipped"): 2,
        ("Shipped", "Delivered"): 1,
    }
    # The promised date is no step: it stays a column of the order, as does the status.
    assert log.dimensions == ("status", "estimated_delivery_date")
    assert [w.code for w in log.warnings] == [ProblemCode.SKIPPED_ROWS]
    assert log.roles.to_dict() == {
        "order": ["Placed"],
        "pay": ["Paid"],
        "ship": ["Shipped"],
        "deliver": ["Delivered"],
    }
    described = log.mapping.to_dict()
    assert described["steps"] == {
        "placed_at": "Placed",
        "paid_at": "Paid",
        "shipped_at": "Shipped",
        "delivered_at": "Delivered",
    }


def test_ties_keep_the_steps_order_whatever_the_rows_order(tmp_path: Path) -> None:
    """Many orders whose steps all share one minute: every case reads in the steps' order
    (the sort is not stable by itself: without the order key some would come out shuffled)."""
    rows = [f"O{i},c{i % 7},2024-03-01 10:{i % 60:02d}" for i in range(400)]
    text = "order_id,customer_id,created_at,paid_at,shipped_at\n" + "".join(
        f"{r},{r.split(',')[2]},{r.split(',')[2]}\n" for r in rows
    )
    log = read_log(_write(tmp_path, text))
    assert discover(log).dfg() == {("Created", "Paid"): 400, ("Paid", "Shipped"): 400}


def test_steps_named_with_their_activities(tmp_path: Path) -> None:
    path = _write(tmp_path, WIDE)
    steps = {"placed_at": "Order placed", "shipped_at": "Shipped", "delivered_at": None}
    log = read_log(path, columns={"steps": steps})
    assert log.mapping.steps == (
        ("placed_at", "Order placed"),
        ("shipped_at", "Shipped"),
        ("delivered_at", "Delivered"),
    )
    assert "steps" not in log.mapping.guessed
    assert log.stats.events == 6  # paid_at is not a step here, so its column stays
    assert "paid_at" in log.dimensions
    assert log.roles.to_dict()["order"] == ["Order placed"]
    # Also from the CLI, with a label for one step only.
    done = run_cli(
        "analyze",
        str(path),
        "--step",
        "placed_at=Order placed",
        "--step",
        "delivered_at",
        "--json",
        "-q",
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["log"]["mapping"]["steps"] == {
        "placed_at": "Order placed",
        "delivered_at": "Delivered",
    }
    assert doc["log"]["events"] == 4


def test_a_parquet_table_with_typed_times(tmp_path: Path) -> None:
    t0 = dt.datetime(2024, 3, 1, 10)
    table = pa.table(
        {
            "order_id": ["A", "B"],
            "created_at": pa.array([t0, t0 + dt.timedelta(days=1)], pa.timestamp("us")),
            "shipped_at": pa.array([t0 + dt.timedelta(hours=5), None], pa.timestamp("us")),
            # A date beside timestamps: the steps are then read as text, each in its format.
            "delivered_on_date": pa.array([dt.date(2024, 3, 3), None], pa.date32()),
        }
    )
    path = tmp_path / "orders.parquet"
    pq.write_table(table, path)
    log = read_log(path)
    assert [label for _, label in log.mapping.steps] == ["Created", "Shipped", "Delivered on"]
    assert _events(log) == [
        ("A", "Created", "03-01 10:00"),
        ("A", "Shipped", "03-01 15:00"),
        ("A", "Delivered on", "03-03 00:00"),
        ("B", "Created", "03-02 10:00"),
    ]
    typed = read_log(path, columns={"steps": ["created_at", "shipped_at"]})
    assert typed.source.timestamp_format == "timestamp"
    assert typed.stats.events == 3


def test_source_columns_named_like_the_melting_querys_own(tmp_path: Path) -> None:
    """Columns called like the names the melting query uses (its struct, flag and order key,
    its step and time columns) do not get in its way (a column "s" broke it once)."""
    path = _write(
        tmp_path,
        "order_id,s,__step,__none,__order,step,step time,placed_at,paid_at\n"
        "A,1,2,3,4,5,6,2024-03-01 10:00,2024-03-01 11:00\n"
        "B,1,2,3,4,5,6,2024-03-02 10:00,\n",
    )
    # Named: a column called "step" would be guessed as the activity.
    log = read_log(path, columns={"steps": ["placed_at", "paid_at"]})
    assert _events(log) == [
        ("A", "Placed", "03-01 10:00"),
        ("A", "Paid", "03-01 11:00"),
        ("B", "Placed", "03-02 10:00"),
    ]


def test_a_pandas_frame_with_step_columns() -> None:
    frame = pd.DataFrame(
        {
            "order_id": ["A", "B"],
            "ordered_at": pd.to_datetime(["2024-03-01 10:00", "2024-03-02 10:00"]),
            "cancelled_at": [pd.Timestamp("2024-03-01 11:00"), pd.NaT],
        }
    )
    log = read_frame(frame)
    assert _events(log) == [
        ("A", "Ordered", "03-01 10:00"),
        ("A", "Cancelled", "03-01 11:00"),
        ("B", "Ordered", "03-02 10:00"),
    ]
    assert log.roles.to_dict()["cancel"] == ["Cancelled"]


def test_a_saved_log_keeps_its_steps(tmp_path: Path) -> None:
    log = read_log(_write(tmp_path, WIDE))
    again = open_saved_log(save_log(log, tmp_path / "saved"))
    assert again.mapping == log.mapping and again.mapping.steps


def test_mistakes_in_step_columns_are_named(tmp_path: Path) -> None:
    path = _write(tmp_path, WIDE)
    with pytest.raises(LogValidationError) as missing:
        read_log(path, columns={"steps": ["placed_at", "payed_at"]})
    problem = missing.value.problems[0]
    assert problem.code is ProblemCode.MISSING_COLUMN and problem.field == "steps"
    assert "'payed_at'" in problem.message and "'paid_at'" in problem.message
    with pytest.raises(LogValidationError, match="either the steps or the activity"):
        read_log(path, columns={"steps": ["placed_at"], "activity": "status"})
    with pytest.raises(ConfigError, match="must be a list of column names"):
        ColumnMapping.from_dict({"steps": "placed_at"})
    with pytest.raises(ConfigError, match="must be a list of column names"):
        ColumnMapping.from_dict({"steps": {"placed_at": 3}})
    # An order with no time at all, and a time that is no time: named with their lines.
    bad = _write(
        tmp_path,
        "order_id,placed_at,paid_at\nA,2024-03-01 10:00,2024-03-01 11:00\nB,,\n"
        "C,2024-03-02 10:00,yesterday\n",
        "bad.csv",
    )
    with pytest.raises(LogValidationError) as wrong:
        read_log(bad)
    text = str(wrong.value)
    assert "line 3" in text and "line 4" in text and "'yesterday'" in text
    skipped = read_log(bad, options=ReadOptions(skip_invalid_rows=True))
    assert _events(skipped) == [
        ("A", "Placed", "03-01 10:00"),
        ("A", "Paid", "03-01 11:00"),
        ("C", "Placed", "03-02 10:00"),
    ]


def test_a_thousand_steps_at_most(tmp_path: Path) -> None:
    columns = ["order_id", *(f"step_{i}_at" for i in range(MAX_STEPS + 1))]
    with pytest.raises(LogValidationError) as info:
        resolve_mapping(ColumnMapping(), columns)
    problem = info.value.problems[0]
    assert problem.code is ProblemCode.TOO_LARGE and problem.count == MAX_STEPS + 1
    assert "--step COLUMN" in problem.message
    assert len(resolve_mapping(ColumnMapping(), columns[:-1]).steps) == MAX_STEPS


@pytest.mark.parametrize(
    ("columns", "steps"),
    [
        # A guessed activity (status) or timestamp (created_at) alone is no long log.
        (["order_id", "status", "paid_at", "shipped_at"], ["paid_at", "shipped_at"]),
        (["order_id", "created_at", "paidAt", "due_date"], ["created_at", "paidAt"]),
        # A long log stays one.
        (["order_id", "activity", "timestamp", "shipped_at", "paid_at"], []),
        # One time column is not a table of steps.
        (["order_id", "status", "paid_at", "estimated_delivery_date"], None),
        # An activity column makes a long log whose timestamp is to be named, not steps.
        (["order_id", "activity", "start_time", "end_time"], None),
    ],
)
def test_which_tables_are_guessed_to_have_steps(
    columns: list[str], steps: list[str] | None
) -> None:
    if steps is None:
        with pytest.raises(LogValidationError, match="--step COLUMN"):
            resolve_mapping(ColumnMapping(), columns)
        return
    resolved = resolve_mapping(ColumnMapping(), columns)
    assert [c for c, _ in resolved.steps] == steps
    assert ("steps" in resolved.guessed) == bool(steps)


@pytest.mark.skipif(not OLIST.exists(), reason="../shared/data/olist-ecommerce-sample absent")
def test_the_olist_orders_read_like_pm4py_reads_them_melted() -> None:
    """The real Olist orders (one row per order, a column per step): the events are the
    filled step cells, and the directly-follows counts equal pm4py's on the same table
    melted by pandas (ties broken by the steps' order, as the columns come)."""
    log = read_log(OLIST)
    steps = [c for c, _ in log.mapping.steps]
    assert steps == [
        "order_purchase_timestamp",
        "order_approved_at",
        "order_delivered_carrier_date",
        "order_delivered_customer_date",
    ]
    # Handed to the carrier is shipping, not delivery.
    assert log.roles.to_dict() == {
        "order": ["Purchase"],
        "ship": ["Delivered carrier"],
        "deliver": ["Delivered customer"],
    }
    frame = pd.read_csv(OLIST, dtype=str)
    frame = frame[frame.order_id.notna()]
    melted = frame.melt(id_vars=["order_id"], value_vars=steps, var_name="step", value_name="t")
    melted = melted[melted.t.notna() & (melted.t.str.strip() != "")].copy()
    melted["t"] = pd.to_datetime(melted.t, format="%m/%d/%Y %H:%M")
    melted["rank"] = melted.step.map({c: i for i, c in enumerate(steps)})
    melted["concept:name"] = melted.step.map(dict(log.mapping.steps))
    melted = melted.sort_values(["order_id", "t", "rank"], kind="stable")
    assert log.stats.events == len(melted)
    assert log.stats.cases == frame.order_id.nunique()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py

        formatted = pm4py.format_dataframe(
            melted.drop(columns=["step"]),
            case_id="order_id",
            activity_key="concept:name",
            timestamp_key="t",
        )
        # pm4py sorts by case and time, stably: the steps' order above stays for ties.
        dfg, _, _ = pm4py.discover_dfg(formatted)
    assert discover(log).dfg() == dict(dfg)
