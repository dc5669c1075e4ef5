# SPDX-License-Identifier: AGPL-3.0-or-later
"""Parameters of an analysis, with their documented defaults, and the TOML config file.

Every parameter is a field of a frozen dataclass, so an unknown option fails loudly instead of
being ignored. The defaults come from DESIGN.md sections 2-3 and the research in FRICTION.md.

A config file (``procmine analyze LOG --config procmine.toml``) looks like::

    [columns]
    case = "order_id"
    customer = "client"

    [roles]
    cancel = ["Order cancelled", "Storno"]

    [read]
    encoding = "latin-1"

    [windows]
    cancel = "14d"
    returned = "14d"

    [similarity]
    min_level = "substitute"

    [cost_model]
    currency = "EUR"
    return_label = 7.5

    [waits]
    sla = { "Order placed -> Shipped" = "48h", "Return received -> Refund issued" = "5d" }
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any, TypeVar

from procmine.errors import ConfigError, Problem, ProblemCode
from procmine.mapping import ColumnMapping
from procmine.roles import Role, parse_role

__all__ = [
    "AnalysisConfig",
    "ChurnConfig",
    "CostModel",
    "Period",
    "ReadOptions",
    "Rework",
    "RunConfig",
    "Similarity",
    "SimilarityLevel",
    "Waits",
    "Windows",
    "format_duration",
    "load_config",
    "parse_duration",
    "parse_instant",
]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(w|d|h|m|min|s)?\s*$", re.IGNORECASE)
_UNITS = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "min": 60, "s": 1}


def parse_duration(text: str | int | float | timedelta, *, name: str = "duration") -> timedelta:
    """Parse ``"14d"``, ``"72h"``, ``"30m"``, ``"2w"`` (a bare number means days).

    Examples
    --------
    >>> parse_duration("72h")
    datetime.timedelta(days=3)
    >>> parse_duration(14)
    datetime.timedelta(days=14)
    """
    if isinstance(text, timedelta):
        return text
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text) * 86400
    else:
        match = _DURATION.match(str(text))
        if not match:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        f"{name}: {text!r} is not a duration; write e.g. 14d, 72h, 30m or 2w",
                        value=str(text),
                    )
                ]
            )
        seconds = float(match.group(1)) * _UNITS[(match.group(2) or "d").lower()]
    if seconds <= 0:
        raise ConfigError(
            [Problem(ProblemCode.INVALID_OPTION, f"{name} must be positive", value=str(text))]
        )
    return timedelta(seconds=seconds)


def format_duration(value: timedelta) -> str:
    """The shortest exact form of a duration: ``14d``, ``36h``, ``90m``.

    Examples
    --------
    >>> format_duration(parse_duration("72h")), format_duration(parse_duration("36h"))
    ('3d', '36h')
    """
    seconds = int(value.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class SimilarityLevel(IntEnum):
    """How alike the product of a replacement order is to the original one (higher = closer).

    ``VARIANT`` (same family, other size or colour) is the true exchange signal; ``SAME_SKU``
    is a re-buy (flagged: it may be a quantity, address or payment fix); ``SUBSTITUTE`` is the
    same category at a unit price within the price band; ``CATEGORY`` is the same category at
    any price; ``ANY`` is any product.
    """

    ANY = 0
    CATEGORY = 1
    SUBSTITUTE = 2
    SAME_SKU = 3
    VARIANT = 4

    @property
    def label(self) -> str:
        """The lower-case name used in documents (``"same_sku"``)."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str | SimilarityLevel) -> SimilarityLevel:
        """Parse a level name (case-insensitive)."""
        if isinstance(text, SimilarityLevel):
            return text
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        f"unknown similarity level {text!r}; levels: "
                        + ", ".join(level.label for level in cls),
                        value=str(text),
                    )
                ]
            ) from None


@dataclass(frozen=True, slots=True)
class Windows:
    """Time windows of the detectors.

    ``cancel``: a replacement order must be placed after the cancelled order's creation and at
    most this long after the cancel. ``returned``: placed at most this long after the return
    request (or the first return event). ``lost_sale``: a cancel or return with no similar
    reorder within this window *and* no purchase at all within ``horizon`` is a lost sale.
    ``horizon``: the observation horizon for lost sales and for churn (repurchase within it).
    ``contact``: two contacts at most this far apart belong to one episode (repeated contacts;
    FRICTION.md: the same issue typically comes back within 7 days).
    """

    cancel: timedelta = timedelta(days=14)
    returned: timedelta = timedelta(days=14)
    lost_sale: timedelta = timedelta(days=30)
    horizon: timedelta = timedelta(days=90)
    contact: timedelta = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Similarity:
    """When is a replacement "for a similar product"?

    ``min_level``: the weakest :class:`SimilarityLevel` accepted (default: same category).
    ``family_pattern``: a regular expression whose first group extracts the product family
    from a SKU when the log has no family column (default: everything before the last ``-``,
    ``_`` or ``/``, so ``SHOE-0412-42`` belongs to family ``SHOE-0412``).
    ``price_band``: relative unit-price tolerance of ``SUBSTITUTE`` (0.3 = within +-30%).
    ``amount_tolerance``: if set, the replacement's amount must lie within
    ``[a / (1 + t), a * (1 + t)]`` of the original's (not applied to ``VARIANT``).
    """

    min_level: SimilarityLevel = SimilarityLevel.CATEGORY
    family_pattern: str = r"^(.+)[-_/][^-_/]+$"
    price_band: float = 0.3
    amount_tolerance: float | None = None


@dataclass(frozen=True, slots=True)
class CostModel:
    """What a detour costs the business per instance, in the log's currency.

    Defaults (FRICTION.md section 4, placeholders a shop should replace with its own):
    an extra outbound shipment 6.00, a return label 8.00, return handling 5.00 per return (or
    ``return_handling_share`` of the item price when set; Optoro/CBRE put the full cost of a
    return at about 27% of the price), a payment fee kept after a refund of a captured payment
    of 2.9% + 0.30, and 4.00 per support contact. A redelivery costs an extra outbound
    shipment and a retried payment ``payment_fee_fixed``; ``rework`` is the handling cost of
    redoing any other step, 0 by default because there is no published figure to start from.
    """

    currency: str = "EUR"
    outbound_shipment: float = 6.0
    return_label: float = 8.0
    return_handling: float = 5.0
    return_handling_share: float | None = None
    payment_fee_rate: float = 0.029
    payment_fee_fixed: float = 0.30
    contact: float = 4.0
    rework: float = 0.0


@dataclass(frozen=True, slots=True)
class ChurnConfig:
    """How churn is compared between affected customers and matched controls.

    Controls are clean orders of customers with no reversal up to that order, matched exactly
    on the ``match_on`` covariates of the original order: ``prior_orders`` (bucket 0, 1-2, 3-5,
    6-10, 11+), ``prior_spend`` (spend in the 90 days before: 0, <50, <200, <1000, 1000+),
    ``tenure`` (days since first order: new, <90, <365, 365+), ``category`` and ``month``.
    The difference is a stratified (ATT) difference in repurchase rates with a ``confidence``
    interval from a stratified bootstrap with ``bootstrap`` replicates. Below ``min_matched``
    matched affected customers no churn figure is given.
    """

    match_on: tuple[str, ...] = ("prior_orders", "prior_spend", "tenure", "category", "month")
    confidence: float = 0.95
    bootstrap: int = 2000
    seed: int = 0
    min_matched: int = 30


@dataclass(frozen=True, slots=True)
class Rework:
    """When a repeated activity is rework rather than the way the process works.

    An activity that repeats in at least ``structural_share`` of the cases it occurs in (and
    occurs in at least ``min_cases`` cases) is a per-item or per-attempt step (one pick per
    line, one reminder per week), not rework: it is left out and listed in the finding's
    assumptions. Rarer repeats are rework.
    """

    structural_share: float = 0.5
    min_cases: int = 20


@dataclass(frozen=True, slots=True)
class Waits:
    """Which waits are too long.

    ``sla`` maps a transition ``"A -> B"`` (activity labels) to its service level: a longer
    wait is a breach. Every other transition is judged against its own ``quantile`` (p90)
    of durations, once it occurs at least ``min_transitions`` times.
    """

    sla: Mapping[str, timedelta] = field(default_factory=dict)
    quantile: float = 0.9
    min_transitions: int = 20

    def __post_init__(self) -> None:
        # A private copy: the caller's dict, changed later, must not change a frozen config.
        object.__setattr__(self, "sla", dict(self.sla))

    def __hash__(self) -> int:
        # The generated hash would hash the dict and fail; configs key caches and sets.
        return hash((tuple(sorted(self.sla.items())), self.quantile, self.min_transitions))

    def pairs(self) -> dict[tuple[str, str], timedelta]:
        """The SLA table keyed by ``(source, target)``.

        >>> Waits(sla={"Order placed -> Shipped": parse_duration("48h")}).pairs()
        {('Order placed', 'Shipped'): datetime.timedelta(days=2)}
        """
        return {split_transition(key): value for key, value in self.sla.items()}


def split_transition(text: str) -> tuple[str, str]:
    """``"A -> B"`` as ``("A", "B")``, or a :class:`ConfigError` naming the text.

    >>> split_transition(" Shipped->Delivered ")
    ('Shipped', 'Delivered')
    """
    source, sep, target = str(text).partition("->")
    if not sep or not source.strip() or not target.strip():
        raise ConfigError(
            [
                Problem(
                    ProblemCode.INVALID_OPTION,
                    f"waits.sla: {text!r} is not a transition; write it as 'A -> B' with the "
                    "two activity labels",
                    value=str(text),
                )
            ]
        )
    return source.strip(), target.strip()


@dataclass(frozen=True, slots=True)
class Period:
    """Analyse only the orders placed in ``[start, end)`` (UTC; a case is placed at its first
    event). Two analyses of one log's periods are what ``procmine compare --split`` and
    ``GET /analyses/{id}/compare/{other}`` compare. Empty: the whole log."""

    start: datetime | None = None
    end: datetime | None = None

    @property
    def whole(self) -> bool:
        """Whether no bound is set."""
        return self.start is None and self.end is None


def parse_instant(text: str | datetime, *, name: str) -> datetime:
    """An ISO date or time as naive UTC (an offset is converted; none means UTC).

    >>> parse_instant("2024-03-01", name="period.start")
    datetime.datetime(2024, 3, 1, 0, 0)
    >>> parse_instant("2024-03-01T02:00+02:00", name="period.start")
    datetime.datetime(2024, 3, 1, 0, 0)
    """
    if isinstance(text, datetime):
        at = text
    else:
        try:
            at = datetime.fromisoformat(str(text))
        except ValueError:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        f"{name}: {text!r} is not a date; write it as 2024-03-01 or "
                        "2024-03-01T12:00",
                        value=str(text),
                    )
                ]
            ) from None
    return at.astimezone(UTC).replace(tzinfo=None) if at.tzinfo else at


MATCH_COVARIATES: tuple[str, ...] = ("prior_orders", "prior_spend", "tenure", "category", "month")


@dataclass(frozen=True, slots=True)
class AnalysisConfig:
    """Everything that parameterises detection and scoring.

    Examples
    --------
    >>> cfg = AnalysisConfig(windows=Windows(cancel=parse_duration("3d")))
    >>> cfg.windows.cancel.days, cfg.similarity.min_level.label
    (3, 'category')
    """

    detectors: tuple[str, ...] | None = None
    windows: Windows = field(default_factory=Windows)
    similarity: Similarity = field(default_factory=Similarity)
    cost_model: CostModel = field(default_factory=CostModel)
    churn: ChurnConfig = field(default_factory=ChurnConfig)
    rework: Rework = field(default_factory=Rework)
    waits: Waits = field(default_factory=Waits)
    period: Period = field(default_factory=Period)

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        p = self.period
        if p.start is not None and p.end is not None and p.start >= p.end:
            problems.append(
                Problem(ProblemCode.INVALID_OPTION, "period.start must be before period.end")
            )
        if not 0 < self.rework.structural_share <= 1:
            problems.append(
                Problem(ProblemCode.INVALID_OPTION, "rework.structural_share must be in (0, 1]")
            )
        if not 0.5 <= self.waits.quantile < 1:
            problems.append(
                Problem(ProblemCode.INVALID_OPTION, "waits.quantile must be in [0.5, 1)")
            )
        for name, value in (
            ("rework.min_cases", self.rework.min_cases),
            ("waits.min_transitions", self.waits.min_transitions),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(
                    Problem(ProblemCode.INVALID_OPTION, f"{name} must be a whole number >= 1")
                )
        try:
            self.waits.pairs()
        except ConfigError as exc:
            problems.extend(exc.problems)
        unknown = set(self.churn.match_on) - set(MATCH_COVARIATES)
        if unknown:
            problems.append(
                Problem(
                    ProblemCode.INVALID_OPTION,
                    f"churn.match_on: unknown covariate(s) {', '.join(sorted(unknown))}; "
                    f"choose from {', '.join(MATCH_COVARIATES)}",
                )
            )
        if not 0.5 < self.churn.confidence < 1:
            problems.append(
                Problem(ProblemCode.INVALID_OPTION, "churn.confidence must be between 0.5 and 1")
            )
        if self.churn.bootstrap < 100:
            problems.append(
                Problem(ProblemCode.INVALID_OPTION, "churn.bootstrap needs at least 100 replicates")
            )
        if self.similarity.price_band < 0:
            problems.append(
                Problem(ProblemCode.INVALID_OPTION, "similarity.price_band must be >= 0")
            )
        try:
            pattern = re.compile(self.similarity.family_pattern)
            if pattern.groups < 1:
                problems.append(
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        "similarity.family_pattern needs a capture group for the family",
                        value=self.similarity.family_pattern,
                    )
                )
        except re.error as exc:
            problems.append(
                Problem(
                    ProblemCode.INVALID_OPTION,
                    f"similarity.family_pattern is not a valid regular expression: {exc}",
                    value=self.similarity.family_pattern,
                )
            )
        money = {f.name: getattr(self.cost_model, f.name) for f in fields(self.cost_model)}
        for name, value in money.items():
            if isinstance(value, float | int) and value < 0:
                problems.append(
                    Problem(ProblemCode.INVALID_OPTION, f"cost_model.{name} must be >= 0")
                )
        if problems:
            raise ConfigError(problems)

    def to_dict(self) -> dict[str, Any]:
        """The parameters as JSON-ready values (durations as ``14d``)."""
        w = self.windows
        s = self.similarity
        return {
            "detectors": list(self.detectors) if self.detectors else None,
            "windows": {
                "cancel": format_duration(w.cancel),
                "returned": format_duration(w.returned),
                "lost_sale": format_duration(w.lost_sale),
                "horizon": format_duration(w.horizon),
                "contact": format_duration(w.contact),
            },
            "similarity": {
                "min_level": s.min_level.label,
                "family_pattern": s.family_pattern,
                "price_band": s.price_band,
                "amount_tolerance": s.amount_tolerance,
            },
            "cost_model": {f.name: getattr(self.cost_model, f.name) for f in fields(CostModel)},
            "churn": {
                "match_on": list(self.churn.match_on),
                "confidence": self.churn.confidence,
                "bootstrap": self.churn.bootstrap,
                "seed": self.churn.seed,
                "min_matched": self.churn.min_matched,
            },
            "rework": {
                "structural_share": self.rework.structural_share,
                "min_cases": self.rework.min_cases,
            },
            "period": {
                "start": self.period.start.isoformat() if self.period.start else None,
                "end": self.period.end.isoformat() if self.period.end else None,
            },
            "waits": {
                "sla": {k: format_duration(v) for k, v in self.waits.sla.items()},
                "quantile": self.waits.quantile,
                "min_transitions": self.waits.min_transitions,
            },
        }


@dataclass(frozen=True, slots=True)
class ReadOptions:
    """How to read a log file.

    ``format`` overrides the detection (``csv``, ``parquet``, ``xes``, ``ocel``); ``encoding``
    and ``delimiter`` apply to CSV; ``skip_invalid_rows`` drops rows with a blank or unparseable
    case, activity or timestamp (with a warning) instead of refusing the log. For OCEL 2.0,
    ``ocel_case_type`` is the object type that becomes the case (the order) and
    ``ocel_customer_type`` the object type of customers; both are guessed when obvious.
    """

    format: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    skip_invalid_rows: bool = False
    ocel_case_type: str | None = None
    ocel_customer_type: str | None = None
    ocel_product_type: str | None = None

    def __post_init__(self) -> None:
        problems: list[Problem] = []
        if self.delimiter is not None and len(self.delimiter) != 1:
            problems.append(
                Problem(
                    ProblemCode.INVALID_OPTION,
                    f"read.delimiter must be one character, not {self.delimiter!r}",
                    value=self.delimiter,
                )
            )
        if problems:
            raise ConfigError(problems)


@dataclass(frozen=True, slots=True)
class RunConfig:
    """A whole run: how to read the log, map it, its roles and the analysis parameters."""

    columns: ColumnMapping = field(default_factory=ColumnMapping)
    roles: Mapping[Role, tuple[str, ...]] = field(default_factory=dict)
    read: ReadOptions = field(default_factory=ReadOptions)
    analysis: AnalysisConfig = field(default_factory=AnalysisConfig)


_T = TypeVar("_T")


def _build(cls: type[_T], data: Mapping[str, Any], section: str, **convert: Any) -> _T:
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(
            [
                Problem(
                    ProblemCode.UNKNOWN_OPTION,
                    f"[{section}] has no option {key!r}; options: {', '.join(sorted(known))}",
                    value=key,
                )
                for key in unknown
            ]
        )
    values: dict[str, Any] = {}
    for key, value in data.items():
        fn = convert.get(key)
        values[key] = fn(value) if fn else value
    try:
        return cls(**values)
    except TypeError as exc:
        raise ConfigError([Problem(ProblemCode.INVALID_OPTION, f"[{section}]: {exc}")]) from None


def config_from_dict(data: Mapping[str, Any]) -> RunConfig:
    """Build a :class:`RunConfig` from the parsed TOML (or JSON) document."""
    sections = {
        "columns",
        "roles",
        "read",
        "windows",
        "similarity",
        "cost_model",
        "churn",
        "detectors",
        "rework",
        "waits",
        "period",
    }
    unknown = sorted(set(data) - sections)
    if unknown:
        raise ConfigError(
            [
                Problem(
                    ProblemCode.UNKNOWN_OPTION,
                    f"unknown section [{key}]; sections: {', '.join(sorted(sections))}",
                    value=key,
                )
                for key in unknown
            ]
        )
    columns = ColumnMapping.from_dict(data.get("columns", {}))
    roles: dict[Role, tuple[str, ...]] = {}
    for role_name, labels in data.get("roles", {}).items():
        role = parse_role(role_name)
        if isinstance(labels, str):
            labels = [labels]
        roles[role] = tuple(str(label) for label in labels)
    read = _build(ReadOptions, data.get("read", {}), "read")
    windows = _build(
        Windows,
        data.get("windows", {}),
        "windows",
        **{
            n: (lambda v, n=n: parse_duration(v, name=f"windows.{n}"))
            for n in ("cancel", "returned", "lost_sale", "horizon", "contact")
        },
    )
    similarity = _build(
        Similarity, data.get("similarity", {}), "similarity", min_level=SimilarityLevel.parse
    )
    cost_model = _build(CostModel, data.get("cost_model", {}), "cost_model")
    churn = _build(ChurnConfig, data.get("churn", {}), "churn", match_on=tuple)
    rework = _build(Rework, data.get("rework", {}), "rework")
    waits = _build(Waits, data.get("waits", {}), "waits", sla=_sla_table)
    period = _build(
        Period,
        data.get("period", {}),
        "period",
        start=lambda v: parse_instant(v, name="period.start"),
        end=lambda v: parse_instant(v, name="period.end"),
    )
    detectors_section = data.get("detectors", {})
    detectors = _build(_DetectorsSection, detectors_section, "detectors").enabled
    analysis = AnalysisConfig(
        detectors=tuple(detectors) if detectors else None,
        windows=windows,
        similarity=similarity,
        cost_model=cost_model,
        churn=churn,
        rework=rework,
        waits=waits,
        period=period,
    )
    return RunConfig(columns=columns, roles=roles, read=read, analysis=analysis)


def _sla_table(data: Any) -> dict[str, timedelta]:
    if not isinstance(data, Mapping):
        raise ConfigError(
            [
                Problem(
                    ProblemCode.INVALID_OPTION,
                    'waits.sla must be a table of "A -> B" = duration, e.g. '
                    '{ "Order placed -> Shipped" = "48h" }',
                )
            ]
        )
    table: dict[str, timedelta] = {}
    for key, value in data.items():
        source, target = split_transition(key)
        table[f"{source} -> {target}"] = parse_duration(value, name=f"waits.sla[{key!r}]")
    return table


@dataclass(frozen=True, slots=True)
class _DetectorsSection:
    enabled: list[str] | None = None


def load_config(path: str | Path) -> RunConfig:
    """Read a TOML config file (see the module docstring for its sections)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            [Problem(ProblemCode.FILE_NOT_FOUND, f"config file {str(p)!r} does not exist")]
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [Problem(ProblemCode.INVALID_OPTION, f"config file {p.name}: {exc}")]
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(
            [Problem(ProblemCode.ENCODING, f"config file {p.name} is not UTF-8 text")]
        ) from None
    return config_from_dict(data)
