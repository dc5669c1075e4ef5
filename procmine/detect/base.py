# SPDX-License-Identifier: AGPL-3.0-or-later
"""What a detector is, what it returns, and the registry the built-ins go through."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import ibis.expr.types as ir
import pyarrow as pa

from procmine.config import AnalysisConfig
from procmine.detect.orders import OrderTables
from procmine.engine import Engine
from procmine.errors import Problem, ProblemCode, UnknownDetectorError
from procmine.log import EventLog
from procmine.roles import Role

__all__ = ["DetectContext", "Detection", "Detector", "get_detector", "register", "registered"]


@dataclass(frozen=True)
class DetectContext:
    """Everything a detector may use: the log, the parameters and the shared order tables."""

    log: EventLog
    config: AnalysisConfig
    orders: OrderTables

    @property
    def engine(self) -> Engine:
        """The engine holding the log."""
        return self.log.engine

    def missing_inputs(self) -> tuple[str, ...]:
        """Why the cross-order detectors cannot see anything in this log, if that is so.

        Examples
        --------
        A log without a customer column, or without any cancel or return activity, gives
        findings with no instances; these notes tell the analyst what to map.
        """
        notes = []
        if not self.log.mapped("customer"):
            notes.append(
                "the log has no customer column, so orders cannot be linked to customers: "
                "name it with --customer (or --ocel-customer-type)"
            )
        reversal_roles = (Role.CANCEL, Role.RETURN_REQUEST, Role.RETURN_SHIP, Role.RETURN_RECEIVE)
        if not any(self.log.roles.has(role) for role in reversal_roles):
            notes.append(
                "no activity has the role cancel or return: if the log has them under other "
                "names, set them with --role cancel=LABEL or --role return_request=LABEL"
            )
        return tuple(notes)


@dataclass(frozen=True)
class Detection:
    """A detector's raw result for one variant, before scoring.

    ``instances`` is the evidence (one row per instance; the columns of
    :class:`procmine.findings.Instance`). ``eligible`` counts the opportunities (for
    example customer cancels), so that ``len(instances) / eligible`` is a rate.
    ``expected`` is the number of instances the baseline predicts without friction (``None``
    when the baseline comes from the matched comparison instead, or when there is none).
    ``treated`` are the units (see :mod:`procmine.churn`) whose outcome is compared with clean
    controls.

    ``kind`` says how it is scored (:func:`procmine.score.score_detection`):

    * ``detour``: an order replaced by another; costs include the extra outbound shipment,
      money scales with the excess over the baseline, churn compares repurchase;
    * ``lost``: a customer who did not come back; the comparison is of lost-customer rates
      and the baseline is the matched control rate;
    * ``friction``: trouble inside an order (rework, ping-pong, waits, contacts, vouchers);
      no baseline, every instance's direct cost counts, churn compares repurchase.

    ``cost_per_repeat`` is charged per :attr:`~procmine.findings.Instance.repeats` (an extra
    shipment for a redelivery, a payment fee for a retried payment).
    """

    detector: str
    variant: str
    title: str
    instances: pa.Table
    eligible: int
    eligible_label: str
    expected: float | None
    baseline_rate: float | None
    treated: ir.Table | None
    kind: Literal["detour", "lost", "friction"]
    metrics: Mapping[str, float | int | None] = field(default_factory=dict)
    assumptions: Mapping[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    cost_per_repeat: float = 0.0

    @property
    def outcome(self) -> Literal["repurchase", "lost"]:
        """What the churn comparison counts: a repurchase, or (for lost sales) its absence."""
        return "lost" if self.kind == "lost" else "repurchase"


class Detector(ABC):
    """A friction pattern. Subclasses set the class attributes and implement :meth:`detect`.

    ``detect`` must express its work as engine queries (Ibis expressions over the context's
    tables); only results come back to Python.
    """

    name: ClassVar[str]
    title: ClassVar[str]
    description: ClassVar[str]
    variants: ClassVar[Mapping[str, str]]

    @abstractmethod
    def detect(self, ctx: DetectContext) -> list[Detection]:
        """Find the instances of the pattern, one :class:`Detection` per variant."""


_REGISTRY: dict[str, type[Detector]] = {}


def register(cls: type[Detector]) -> type[Detector]:
    """Class decorator adding a detector to the registry (built-ins use it too)."""
    if cls.name in _REGISTRY and _REGISTRY[cls.name] is not cls:
        raise ValueError(f"a detector named {cls.name!r} is already registered")
    _REGISTRY[cls.name] = cls
    return cls


def registered() -> dict[str, type[Detector]]:
    """All registered detectors by name."""
    return dict(_REGISTRY)


def get_detector(name: str) -> Detector:
    """A new instance of the detector ``name``, or :class:`UnknownDetectorError`."""
    try:
        return _REGISTRY[name]()
    except KeyError:
        raise UnknownDetectorError(
            [
                Problem(
                    ProblemCode.UNKNOWN_DETECTOR,
                    f"unknown detector {name!r}; detectors: {', '.join(sorted(_REGISTRY))}",
                    value=name,
                )
            ]
        ) from None
