# SPDX-License-Identifier: AGPL-3.0-or-later
"""Request rate and upload size limits per API key, against the real service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_helpers import SAMPLE, Service, assert_problem, upload

from api.ratelimit import Rate, RateLimiter

ALICE, BOB = "pm_alice_limits", "pm_bob_limits"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    keys = f"alice:plain:{ALICE};rate=6/min,bob:plain:{BOB};upload=100KB"
    svc = Service(
        tmp_path_factory.mktemp("limits") / "data",
        env={"PROCMINE_API_KEYS": keys, "PROCMINE_RATE_LIMIT": "1000/min"},
    )
    yield svc
    svc.stop()


def test_a_key_past_its_rate_gets_429_with_retry_after(limited: Service) -> None:
    with limited.client(ALICE) as alice, limited.client(BOB) as bob:
        answers = [alice.get("/logs") for _ in range(6)]
        assert [r.status_code for r in answers] == [200] * 6
        refused = alice.get("/logs")
        body = assert_problem(refused, 429)
        assert body["type"] == "/problems/too-many-requests"
        assert 1 <= int(refused.headers["retry-after"]) <= 10
        # Another key has its own budget; health is never limited.
        assert bob.get("/logs").status_code == 200
        assert alice.get("/health").status_code == 200
        # The web page counts against the same budget.
        alice.cookies.set("procmine_key", ALICE)
        assert alice.get("/", headers={"Accept": "text/html"}).status_code == 429


def test_a_key_with_a_smaller_upload_limit(limited: Service, tmp_path: Path) -> None:
    assert SAMPLE.stat().st_size > 100_000
    with limited.client(BOB) as bob:
        body = assert_problem(upload(bob, SAMPLE), 413)
        assert "100,000 bytes" in body["detail"]
        small = tmp_path / "small.csv"
        small.write_text("".join(SAMPLE.read_text("utf-8").splitlines(keepends=True)[:400]))
        assert upload(bob, small).status_code == 201


def test_token_bucket_refills_at_the_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(clock=lambda: now[0])
    rate = Rate(2, 1)
    assert limiter.take("a", rate) is None and limiter.take("a", rate) is None
    wait = limiter.take("a", rate)
    assert wait is not None and abs(wait - 0.5) < 1e-9
    assert limiter.take("b", rate) is None  # callers are separate
    now[0] = 0.5
    assert limiter.take("a", rate) is None
    now[0] = 100.0  # a long pause refills only up to the burst
    results = [limiter.take("a", rate) for _ in range(3)]
    assert results[:2] == [None, None] and results[2] is not None
