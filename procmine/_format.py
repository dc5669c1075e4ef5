# SPDX-License-Identifier: AGPL-3.0-or-later
"""How figures are written for people (the CLI table and the HTML report agree)."""

from __future__ import annotations

__all__ = ["hours", "money", "percent", "points"]


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
