# SPDX-License-Identifier: AGPL-3.0-or-later
"""Column mapping: which column of a log holds the case, the activity, the timestamp, ...

Logs name their columns in many ways (``order_id``, ``case:concept:name``, ``Order No``), so a
column that is not given explicitly is guessed from a list of obvious names. The guess is
recorded (:attr:`ResolvedMapping.guessed`) so that a user sees it and can correct it.

Order tables often hold one row per order with a column per step's time (``order_approved_at``,
``order_delivered_customer_date``) instead of an activity and a timestamp column. Those
*step columns* (:attr:`ColumnMapping.steps`) make one event per filled cell, named after the
column; without an activity column, a table with two or more time-named columns is read so.
"""

from __future__ import annotations

import difflib
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

from procmine.errors import ConfigError, LogValidationError, Problem, ProblemCode

__all__ = [
    "FIELDS",
    "REQUIRED_FIELDS",
    "ColumnMapping",
    "ResolvedMapping",
    "resolve_mapping",
    "step_labels",
]

#: The canonical fields a log column can be mapped to, in display order.
FIELDS: tuple[str, ...] = (
    "case",
    "activity",
    "timestamp",
    "customer",
    "product",
    "family",
    "category",
    "amount",
    "resource",
)
REQUIRED_FIELDS: tuple[str, ...] = ("case", "activity", "timestamp")

# Candidate names per field, best first, compared after normalisation (lower case, letters and
# digits only). XES names come first because XES-derived tables often *also* carry a
# human-named copy of a column ("Activity" beside "concept:name") and the XES one is canonical.
_CANDIDATES: dict[str, tuple[str, ...]] = {
    "case": (
        "case:concept:name",
        "order_id",
        "orderid",
        "order_number",
        "order_no",
        "ordernr",
        "order",
        "case_id",
        "caseid",
        "case",
        "case_concept_name",
        "bestellnummer",
        "trace_id",
        "process_instance",
        "ticket_id",
    ),
    "activity": (
        "concept:name",
        "activity",
        "activity_name",
        "event",
        "event_name",
        "event_type",
        "action",
        "status",
        "step",
        "task",
        "operation",
        "aktivitaet",
    ),
    "timestamp": (
        "time:timestamp",
        "timestamp",
        "event_timestamp",
        "event_time",
        "datetime",
        "date_time",
        "ts",
        "time",
        "date",
        "occurred_at",
        "created_at",
        "complete_timestamp",
        "end_timestamp",
        "zeitstempel",
    ),
    "customer": (
        "case:customer",
        "customer_id",
        "customerid",
        "customer",
        "customer_unique_id",
        "client_id",
        "clientid",
        "client",
        "buyer_id",
        "buyer",
        "user_id",
        "account_id",
        "shopper_id",
        "kundennummer",
        "kunde",
    ),
    "product": (
        "sku",
        "product_sku",
        "product_id",
        "productid",
        "product",
        "item_id",
        "itemid",
        "article",
        "article_id",
        "stockcode",
        "stock_code",
        "item",
        "artikel",
    ),
    "family": ("family", "product_family", "style", "style_id", "model", "parent_sku"),
    "category": (
        "category",
        "product_category",
        "category_name",
        "product_category_name",
        "product_type",
        "kategorie",
    ),
    "amount": (
        "amount",
        "order_amount",
        "value",
        "order_value",
        "total",
        "order_total",
        "price",
        "unit_price",
        "line_amount",
        "revenue",
        "gmv",
        "payment_value",
        "betrag",
    ),
    "resource": (
        "org:resource",
        "resource",
        "employee",
        "agent",
        "performer",
        "handler",
        "user",
    ),
}


def _normalise(name: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", name.lower())


#: The most step columns a table can have: an order has a handful of steps, and each is
#: an expression of the query that melts them (thousands of them take seconds to plan).
MAX_STEPS = 1_000

# A step column's name ends with one of these words (``paid_at``, ``order_approved_date``).
_TIME_WORDS = frozenset({"timestamp", "datetime", "date", "time", "at", "ts"})
# A time column with one of these words is a promise or a plan, not a step that happened
# (``order_estimated_delivery_date``): it is left as a column, not made into events.
_PLAN_WORDS = frozenset(
    {
        "estimated",
        "expected",
        "promised",
        "planned",
        "scheduled",
        "due",
        "deadline",
        "target",
        "eta",
        "sla",
        "limit",
    }
)


def _words(name: str) -> list[str]:
    """The words of a column name: split at non-letters and at lower-to-upper case changes."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [w for w in re.split(r"[^0-9a-zA-Z]+", spaced.lower()) if w]


def _is_step_column(name: str) -> bool:
    words = _words(name)
    return len(words) >= 2 and words[-1] in _TIME_WORDS and not _PLAN_WORDS & set(words)


def step_labels(columns: Sequence[str]) -> list[str]:
    """The activities of step columns: each name without its final time word and without a
    first word all of ``columns`` share, as words, first letter capitalised.

    Examples
    --------
    >>> step_labels(["order_purchase_timestamp", "order_approved_at", "order_carrier_date"])
    ['Purchase', 'Approved', 'Carrier']
    >>> step_labels(["paidAt"]), step_labels(["date"])
    (['Paid'], ['Date'])
    """
    split = [_words(c) for c in columns]
    for words in split:
        if len(words) > 1 and words[-1] in _TIME_WORDS:
            del words[-1]
    firsts = {words[0] if words else "" for words in split}
    shared = firsts.pop() if len(columns) > 1 and len(firsts) == 1 else None
    labels = []
    for column, words in zip(columns, split, strict=True):
        if shared and len(words) > 1:
            words = words[1:]
        text = " ".join(words)
        labels.append(text[:1].upper() + text[1:] if text else column)
    return labels


@dataclass(frozen=True, slots=True)
class ColumnMapping:
    """Which log column holds each canonical field; ``None`` means "guess it".

    Examples
    --------
    >>> m = ColumnMapping(case="Order No", activity="Status")
    >>> m.case
    'Order No'
    >>> ColumnMapping.from_dict({"case": "id", "customer": "client"}).customer
    'client'
    >>> ColumnMapping.from_dict({"steps": {"paid_at": "Payment captured", "sent_at": None}}).steps
    (('paid_at', 'Payment captured'), ('sent_at', None))
    """

    case: str | None = None
    activity: str | None = None
    timestamp: str | None = None
    customer: str | None = None
    product: str | None = None
    family: str | None = None
    category: str | None = None
    amount: str | None = None
    resource: str | None = None
    #: strptime-style format of the timestamp column (``%d/%m/%Y %H:%M``); guessed if None.
    timestamp_format: str | None = None
    #: optional fields the log does not have, so not to be guessed (``("customer",)``)
    unmapped: tuple[str, ...] = ()
    #: step columns instead of an activity and a timestamp column: (column, activity) in the
    #: order of the process (it breaks ties between steps at the same time); an activity of
    #: None is named after the column (:func:`step_labels`)
    steps: tuple[tuple[str, str | None], ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ColumnMapping:
        """Build a mapping from a dict (a TOML table, a JSON object), refusing unknown keys."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.UNKNOWN_OPTION,
                        f"unknown column-mapping key {key!r}; known keys: "
                        + ", ".join(sorted(known)),
                        value=key,
                    )
                    for key in unknown
                ]
            )
        data = dict(data)
        steps = _parse_steps(data.pop("steps", None))
        unmapped = data.pop("unmapped", None) or ()
        if isinstance(unmapped, str) or not all(isinstance(u, str) for u in unmapped):
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        "column mapping 'unmapped' must be a list of field names",
                        value=repr(unmapped),
                    )
                ]
            )
        wrong = [u for u in unmapped if u not in FIELDS or u in REQUIRED_FIELDS]
        if wrong:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        f"'unmapped' lists {u!r}, which is not an optional field; optional "
                        f"fields: {', '.join(f for f in FIELDS if f not in REQUIRED_FIELDS)}",
                        value=u,
                    )
                    for u in wrong
                ]
            )
        bad = [k for k, v in data.items() if v is not None and not isinstance(v, str)]
        if bad:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        f"column mapping {k!r} must be a column name (a string)",
                        value=repr(data[k]),
                    )
                    for k in bad
                ]
            )
        return cls(
            **{k: (v or None) for k, v in data.items()},
            unmapped=tuple(dict.fromkeys(unmapped)),
            steps=steps,
        )

    def merged(self, other: ColumnMapping) -> ColumnMapping:
        """This mapping with every field that ``other`` sets taken from ``other``."""
        updates = {f.name: getattr(other, f.name) for f in fields(other) if getattr(other, f.name)}
        updates["unmapped"] = tuple(dict.fromkeys([*self.unmapped, *other.unmapped]))
        return replace(self, **updates)

    def to_dict(self) -> dict[str, Any]:
        """The mapping as a plain dict (``unmapped`` as a list)."""
        data: dict[str, Any] = {f.name: getattr(self, f.name) for f in fields(self)}
        data["unmapped"] = list(self.unmapped)
        data["steps"] = dict(self.steps)
        return data


def _parse_steps(value: Any) -> tuple[tuple[str, str | None], ...]:
    """``steps`` of a mapping dict: a list of column names, or an object column -> activity."""
    if value is None:
        return ()
    pairs: list[tuple[Any, Any]] | None = None
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, (list, tuple)):
        pairs = [(v, None) for v in value]
    wrong = (
        repr(value)
        if pairs is None
        else ", ".join(
            repr(c)
            for c, label in pairs
            if not isinstance(c, str) or not c or not isinstance(label, (str, type(None)))
        )
    )
    if wrong or pairs is None:
        raise ConfigError(
            [
                Problem(
                    ProblemCode.INVALID_OPTION,
                    "column mapping 'steps' must be a list of column names, or a table of "
                    "column name = activity",
                    value=wrong,
                )
            ]
        )
    return tuple((c, label or None) for c, label in dict(pairs).items())


@dataclass(frozen=True, slots=True)
class ResolvedMapping:
    """A mapping checked against a log's columns: every field is a real column or ``None``."""

    columns: Mapping[str, str]
    guessed: frozenset[str] = field(default_factory=frozenset)
    timestamp_format: str | None = None
    #: every column of the source, in file order (what a client can offer for re-mapping)
    available: tuple[str, ...] = ()
    #: the step columns with their activities, if the log has them instead of an activity
    #: and a timestamp column (see :attr:`ColumnMapping.steps`)
    steps: tuple[tuple[str, str], ...] = ()

    def get(self, name: str) -> str | None:
        """The column mapped to canonical field ``name``, or ``None``."""
        return self.columns.get(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the column per field and which of them were guessed."""
        return {
            "columns": {f: self.columns.get(f) for f in FIELDS},
            "steps": dict(self.steps),
            "guessed": sorted(self.guessed),
            "timestamp_format": self.timestamp_format,
            "available": list(self.available),
        }


def _closest(name: str, columns: Iterable[str]) -> list[str]:
    cols = list(columns)
    by_norm = {_normalise(c): c for c in cols}
    close = difflib.get_close_matches(_normalise(name), list(by_norm), n=3, cutoff=0.6)
    return [by_norm[c] for c in close]


def resolve_mapping(
    mapping: ColumnMapping,
    columns: Sequence[str],
    *,
    required: Sequence[str] = REQUIRED_FIELDS,
) -> ResolvedMapping:
    """Check ``mapping`` against ``columns`` and guess the fields it leaves open.

    Raises :class:`LogValidationError` listing every explicitly named column that does not exist
    and every required field that could not be found or guessed.

    Without an activity column (given or guessed) and without a timestamp column given, two or
    more columns named like times (``paid_at``, ``order_delivered_date``; not plans such as
    ``estimated_delivery_date``) are guessed as step columns, in file order.

    Examples
    --------
    >>> r = resolve_mapping(ColumnMapping(), ["Order ID", "Event", "Time", "Customer"])
    >>> r.get("case"), r.get("activity"), r.get("timestamp"), r.get("customer")
    ('Order ID', 'Event', 'Time', 'Customer')
    >>> sorted(r.guessed)
    ['activity', 'case', 'customer', 'timestamp']
    >>> r = resolve_mapping(ColumnMapping(), ["order_id", "created_at", "paid_at", "due_date"])
    >>> r.steps, r.get("timestamp")
    ((('created_at', 'Created'), ('paid_at', 'Paid')), None)
    """
    problems: list[Problem] = []
    resolved: dict[str, str] = {}
    available = list(columns)

    def missing(wanted: str, name: str) -> Problem:
        hint = _closest(wanted, available)
        suggestion = f"; did you mean {', '.join(repr(h) for h in hint)}?" if hint else "."
        return Problem(
            ProblemCode.MISSING_COLUMN,
            f"column {wanted!r} (given for {name}) is not in the log{suggestion} "
            f"Columns: {', '.join(available)}",
            column=wanted,
            field=name,
        )

    for name in FIELDS:
        wanted = getattr(mapping, name)
        if wanted is None:
            continue
        if wanted in available:
            resolved[name] = wanted
        else:
            problems.append(missing(wanted, name))
    problems += [missing(c, "steps") for c, _ in mapping.steps if c not in available]
    if mapping.steps and (mapping.activity or mapping.timestamp):
        problems.append(
            Problem(
                ProblemCode.INVALID_OPTION,
                "step columns stand for the activity and timestamp columns: give either "
                "the steps or the activity and timestamp columns, not both",
                field="steps",
            )
        )

    taken = set(resolved.values()) | {c for c, _ in mapping.steps}
    guessed: set[str] = set()
    by_norm: dict[str, str] = {}
    for col in available:
        by_norm.setdefault(_normalise(col), col)
    for name in FIELDS:
        if name in resolved or getattr(mapping, name) is not None or name in mapping.unmapped:
            continue
        if mapping.steps and name in ("activity", "timestamp"):
            continue
        for candidate in _CANDIDATES[name]:
            found = by_norm.get(_normalise(candidate))
            if found is not None and found not in taken:
                resolved[name] = found
                taken.add(found)
                guessed.add(name)
                break

    steps = [(c, label) for c, label in mapping.steps]
    given = mapping.activity is not None or mapping.timestamp is not None
    # Half a long log's columns is no log: a guessed timestamp (``created_at``) may be the
    # first of several steps, a guessed ``status`` the order's state. A column named like an
    # activity (``activity``, ``event``) keeps the log long: its timestamp is to be named.
    state = _normalise(resolved.get("activity", "status")) in ("status", "state")
    if not steps and not given and state and not {"activity", "timestamp"} <= set(resolved):
        half = {resolved[f] for f in ("activity", "timestamp") if f in resolved}
        timed = [c for c in available if c not in taken - half and _is_step_column(c)]
        if len(timed) >= 2:
            steps = [(c, None) for c in timed]
            guessed.add("steps")
            for f in ("activity", "timestamp"):
                if resolved.pop(f, None) is not None:
                    guessed.discard(f)

    for name in required:
        if steps and name in ("activity", "timestamp"):
            continue
        if name not in resolved and getattr(mapping, name) is None:
            problems.append(
                Problem(
                    ProblemCode.MISSING_COLUMN,
                    f"no {name} column: none of the columns ({', '.join(available)}) looks like "
                    f"one; name it with --{name} COLUMN"
                    + (
                        ", or give the columns that hold each step's time with --step COLUMN"
                        if name in ("activity", "timestamp")
                        else ""
                    ),
                    column=None,
                    field=name,
                )
            )
    if len(steps) > MAX_STEPS:
        problems.append(
            Problem(
                ProblemCode.TOO_LARGE,
                f"{len(steps):,} step columns"
                + (" (columns named like times)" if "steps" in guessed else "")
                + f": a table of steps has at most {MAX_STEPS:,}; name the steps with "
                "--step COLUMN, or the activity and timestamp columns",
                field="steps",
                count=len(steps),
            )
        )
    if problems:
        raise LogValidationError(problems)
    derived = step_labels([c for c, _ in steps])
    labelled = [(c, label or d) for (c, label), d in zip(steps, derived, strict=True)]
    uses = Counter(label for _, label in labelled)
    # Two columns that would give the same activity keep their own names instead.
    labelled = [
        (c, label if uses[label] == 1 or named else c)
        for (c, label), (_, named) in zip(labelled, steps, strict=True)
    ]
    return ResolvedMapping(
        columns=resolved,
        guessed=frozenset(guessed),
        timestamp_format=mapping.timestamp_format,
        available=tuple(available),
        steps=tuple(labelled),
    )
