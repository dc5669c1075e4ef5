# SPDX-License-Identifier: AGPL-3.0-or-later
"""Request rates per API key: a token bucket each, in the service's memory.

A key may make ``rate.count`` requests per ``rate.seconds`` on average and as a burst; past
that a request is refused with 429 and a ``Retry-After`` saying when the next one is allowed.
Without keys the bucket is per client address. Buckets live in the process (one service
process per data directory), so a restart starts them full.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Rate", "RateLimiter", "parse_rate"]

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$", re.IGNORECASE)
_SECONDS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}


@dataclass(frozen=True, slots=True)
class Rate:
    """``count`` requests per ``seconds``."""

    count: int
    seconds: float

    def __str__(self) -> str:
        unit = {1: "s", 60: "min", 3600: "h"}.get(int(self.seconds), f"{self.seconds:g}s")
        return f"{self.count}/{unit}"


def parse_rate(text: str, *, name: str = "rate") -> Rate | None:
    """``"600/min"`` -> Rate(600, 60); ``"off"`` or ``"0"`` -> None (no limit).

    >>> parse_rate("600/min"), parse_rate("5/s"), parse_rate("off")
    (Rate(count=600, seconds=60), Rate(count=5, seconds=1), None)
    """
    if text.strip().lower() in ("off", "0", "none", ""):
        return None
    match = _RATE.match(text)
    if not match or int(match.group(1)) < 1:
        raise ValueError(f"{name}: {text!r} is not a rate; write e.g. 600/min, 10/s or off")
    return Rate(int(match.group(1)), _SECONDS[match.group(2).lower()])


class RateLimiter:
    """Token buckets by caller; :meth:`take` says how long to wait when one is empty."""

    def __init__(self, clock: Callable[[], float] | None = None) -> None:
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # caller -> (tokens, last time)

    def take(self, caller: str, rate: Rate) -> float | None:
        """Spend one request of ``caller``: ``None`` if allowed, else seconds to wait."""
        now = self._clock()
        per_second = rate.count / rate.seconds
        with self._lock:
            tokens, last = self._buckets.get(caller, (float(rate.count), now))
            tokens = min(float(rate.count), tokens + (now - last) * per_second)
            if tokens >= 1.0:
                self._buckets[caller] = (tokens - 1.0, now)
                return None
            self._buckets[caller] = (tokens, now)
            return (1.0 - tokens) / per_second
