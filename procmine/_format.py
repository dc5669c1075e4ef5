# SPDX-License-Identifier: AGPL-3.0-or-later
"""How figures are written for people (the CLI table and the HTML report agree)."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["churn_text", "figure", "hours", "money", "percent", "points"]


def hours(value: float | None) -> str:
    """A time lost: hours below two days, days above.

    Examples
    --------
    >>> hours(45.77), hours(392.66), hours(None)
    ('45.8 h', '16.4 d', '')
    """
    if value is None:
        return ""
    return f"{value / 24:.1f} d" if value >= 48 else f"{value:.1f} h"


def money(value: float | None) -> str:
    """A whole amount with thousands separators (no currency).

    >>> money(4935.89)
    '4,936'
    """
    return "" if value is None else f"{value:,.0f}"


def percent(value: float | None) -> str:
    """A share as a percentage.

    >>> percent(0.1404)
    '14.0%'
    """
    return "" if value is None else f"{value:.1%}"


def points(value: float | None) -> str:
    """A difference of two rates in percentage points, signed.

    >>> points(-0.3533)
    '-35.3'
    """
    return "" if value is None else f"{value * 100:+.1f}"


def figure(value: Any, unit: str | None = None) -> str:
    """Any metric value for people, by its unit (fractions as % or percentage points).

    >>> figure(0.25, "fraction"), figure(-0.35, "fraction (treated - control)"), figure(1234.5)
    ('25.0%', '-35.0 pp', '1,234')
    """
    if value is None:
        return ""
    if unit and unit.startswith("fraction") and isinstance(value, float | int):
        return f"{points(value)} pp" if "treated - control" in unit else percent(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def churn_text(metrics: Mapping[str, Any]) -> str:
    """A finding's churn difference with its interval, and whether it is conclusive.

    >>> churn_text({"churn_difference": -0.35, "churn_difference_low": -0.5,
    ...             "churn_difference_high": -0.2})
    '-35.0 pp [-50.0, -20.0]'
    >>> churn_text({"churn_difference": None})
    'not estimated'
    """
    if metrics.get("churn_difference") is None:
        return "not estimated"
    lo, hi = metrics["churn_difference_low"], metrics["churn_difference_high"]
    verdict = "" if (lo > 0 or hi < 0) else " (inconclusive)"
    return f"{points(metrics['churn_difference'])} pp [{points(lo)}, {points(hi)}]{verdict}"
