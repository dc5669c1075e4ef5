# SPDX-License-Identifier: AGPL-3.0-or-later
"""Properties of the exchange-detour detector, checked on random order logs (hypothesis).

Whatever the log: renaming ids, shuffling rows or adding unrelated customers never changes
the instances found, and the one-to-one rule always holds.
"""

from __future__ import annotations

import datetime as dt
import os
import random

import pandas as pd
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from procmine import AnalysisConfig, read_frame
from procmine.detect import DetectContext, build_order_tables
from procmine.detect.exchange import ExchangeDetour

settings.register_profile(
    "ci",
    max_examples=20,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "explore",
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

T0 = dt.datetime(2024, 1, 1)
LIFECYCLES = {
    "clean": [("Payment captured", 0.01), ("Shipped", 1), ("Delivered", 3)],
    "cancel": [("Payment captured", 0.01), ("Order cancelled", 0.2), ("Refund issued", 1)],
    "return": [
        ("Payment captured", 0.01),
        ("Shipped", 1),
        ("Delivered", 3),
        ("Return requested", 5),
        ("Return received", 8),
        ("Refund issued", 9),
    ],
    "payfail": [("Payment failed", 0.01), ("Order cancelled", 0.1)],
}

# Orders of a customer fall within a few weeks and share few families, so that one
# replacement often has several candidate originals (and the other way round): the
# assignment rules are exercised, not just the happy path.
order_strategy = st.tuples(
    st.integers(min_value=0, max_value=20 * 24),  # placement, in hours
    st.sampled_from(["F1", "F1", "F2", "G1"]),  # family
    st.sampled_from(["S", "M", "L"]),  # size
    st.sampled_from(["clean", "cancel", "cancel", "return", "return", "payfail"]),
)
log_strategy = st.lists(st.lists(order_strategy, min_size=1, max_size=6), min_size=1, max_size=4)


def _frame(customers: list[list[tuple[int, str, str, str]]], prefix: str = "") -> pd.DataFrame:
    rows = []
    for c, orders in enumerate(customers):
        for o, (hour, family, size, kind) in enumerate(orders):
            case = f"{prefix}o{c}-{o}"
            customer = f"{prefix}c{c}"
            placed = T0 + dt.timedelta(hours=hour)
            category = "Shoes" if family.startswith("F") else "Bags"
            rows.append((case, customer, "Order placed", placed, f"{family}-{size}", category))
            for activity, days in LIFECYCLES[kind]:
                rows.append(
                    (
                        case,
                        customer,
                        activity,
                        placed + dt.timedelta(days=days),
                        f"{family}-{size}",
                        category,
                    )
                )
    return pd.DataFrame(
        rows, columns=["order_id", "customer_id", "activity", "timestamp", "sku", "category"]
    )


def _instances(frame: pd.DataFrame) -> set[tuple[str, str, str, str]]:
    log = read_frame(frame)
    cfg = AnalysisConfig()
    ctx = DetectContext(log=log, config=cfg, orders=build_order_tables(log, cfg.similarity))
    found = set()
    for detection in ExchangeDetour().detect(ctx):
        table = detection.instances
        for row in table.select(
            ["customer", "original_case", "replacement_case", "variant"]
        ).to_pylist():
            found.add(
                (row["customer"], row["original_case"], row["replacement_case"], row["variant"])
            )
    return found


def _no_ties(frame: pd.DataFrame) -> bool:
    # Within one customer, two events at the same instant make "nearest" ambiguous, and the
    # tie is then broken by ids; real customers do not act twice in the same second.
    return not frame.duplicated(["customer_id", "timestamp"]).any()


@given(log_strategy, st.randoms(use_true_random=False))
def test_renaming_ids_does_not_change_the_instances(customers, rnd: random.Random) -> None:
    frame = _frame(customers)
    assume(_no_ties(frame))
    before = _instances(frame)
    ids = sorted(set(frame.order_id) | set(frame.customer_id))
    new_names = [f"id{rnd.getrandbits(40):x}" for _ in ids]
    assume(len(set(new_names)) == len(new_names))
    mapping = dict(zip(ids, new_names, strict=True))
    renamed = frame.assign(
        order_id=frame.order_id.map(mapping), customer_id=frame.customer_id.map(mapping)
    )
    back = {v: k for k, v in mapping.items()}
    after = {(back[c], back[a], back[b], v) for c, a, b, v in _instances(renamed)}
    assert after == before


@given(log_strategy, st.randoms(use_true_random=False))
def test_shuffling_rows_does_not_change_the_instances(customers, rnd: random.Random) -> None:
    frame = _frame(customers)
    assume(_no_ties(frame))
    order = list(range(len(frame)))
    rnd.shuffle(order)
    assert _instances(frame.iloc[order].reset_index(drop=True)) == _instances(frame)


@given(log_strategy, log_strategy)
def test_unrelated_customers_do_not_change_the_instances(customers, others) -> None:
    frame = _frame(customers)
    assume(_no_ties(frame))
    combined = pd.concat([frame, _frame(others, prefix="other-")], ignore_index=True)
    found = {i for i in _instances(combined) if not i[0].startswith("other-")}
    assert found == _instances(frame)


@given(log_strategy)
def test_each_order_is_matched_at_most_once_and_forward_in_time(customers) -> None:
    frame = _frame(customers)
    found = _instances(frame)
    originals = [a for _, a, _, _ in found]
    replacements = [b for _, _, b, _ in found]
    assert len(originals) == len(set(originals))
    assert len(replacements) == len(set(replacements))
    placed = frame[frame.activity == "Order placed"].set_index("order_id").timestamp
    cancels = frame[frame.activity == "Order cancelled"].groupby("order_id").timestamp.min()
    for _, a, b, variant in found:
        assert placed[b] > placed[a]
        if variant == "cancel_reorder":
            assert placed[b] <= cancels[a] + dt.timedelta(days=14)
        # a failed payment never starts a detour
        assert "Payment failed" not in set(frame[frame.order_id == a].activity)
