# SPDX-License-Identifier: AGPL-3.0-or-later
"""Detectors: one module per friction pattern, all registered in one registry.

The built-ins register themselves through :func:`register`, the same way an extension would.
"""

from __future__ import annotations

from procmine.detect import contacts as _contacts  # noqa: F401  (registers the detector)
from procmine.detect import exchange as _exchange  # noqa: F401  (registers the detector)
from procmine.detect import lost_sale as _lost_sale  # noqa: F401  (registers the detector)
from procmine.detect import ping_pong as _ping_pong  # noqa: F401  (registers the detector)
from procmine.detect import rework as _rework  # noqa: F401  (registers the detector)
from procmine.detect import voucher as _voucher  # noqa: F401  (registers the detector)
from procmine.detect import waits as _waits  # noqa: F401  (registers the detector)
from procmine.detect.base import (
    DetectContext,
    Detection,
    Detector,
    get_detector,
    register,
    registered,
)
from procmine.detect.orders import OrderTables, build_order_tables

__all__ = [
    "DetectContext",
    "Detection",
    "Detector",
    "OrderTables",
    "build_order_tables",
    "get_detector",
    "register",
    "registered",
]
