# SPDX-License-Identifier: AGPL-3.0-or-later
"""A look at a log before analysing it: its first rows, the mapping and the activity roles.

An analyst confirms (or corrects) three things before trusting any finding: which column is
the case, the activity, the timestamp, the customer ...; which activity means "cancelled" or
"return requested"; and that the values look right. :func:`preview` gathers exactly that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from procmine.findings import json_value
from procmine.log import EventLog, LogStats
from procmine.mapping import FIELDS, ResolvedMapping

__all__ = ["ActivityPreview", "LogPreview", "preview"]

# canonical column -> mapping field
_FIELD_OF_COLUMN = {
    "case_id": "case",
    "activity": "activity",
    "ts": "timestamp",
    "customer_id": "customer",
    "product": "product",
    "family": "family",
    "category": "category",
    "amount": "amount",
    "resource": "resource",
}


@dataclass(frozen=True, slots=True)
class ActivityPreview:
    """One activity label: how often it occurs and the role it plays (guessed or set)."""

    label: str
    count: int
    role: str | None
    guessed: bool


@dataclass(frozen=True, slots=True)
class LogPreview:
    """The first rows of a log with its mapping, roles and statistics.

    ``rows`` are the first events in file order, keyed by mapping field (``case``,
    ``activity``, ``timestamp``, ...), with only the fields the log maps; ``activities`` are
    all activity labels, most frequent first.
    """

    name: str
    format: str
    mapping: ResolvedMapping
    rows: tuple[dict[str, Any], ...]
    activities: tuple[ActivityPreview, ...]
    stats: LogStats
    warnings: tuple[dict[str, Any], ...]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "name": self.name,
            "format": self.format,
            "mapping": self.mapping.to_dict(),
            "fields": [f for f in FIELDS if self.mapping.get(f) is not None],
            "rows": [{k: json_value(v) for k, v in r.items()} for r in self.rows],
            "activities": [
                {"label": a.label, "count": a.count, "role": a.role, "guessed": a.guessed}
                for a in self.activities
            ],
            "stats": self.stats.to_dict(),
            "warnings": list(self.warnings),
        }


def preview(log: EventLog, rows: int = 20) -> LogPreview:
    """The first ``rows`` events of ``log``, its mapping and every activity with its role.

    Examples
    --------
    >>> import pandas as pd
    >>> log = EventLog.from_pandas(pd.DataFrame({
    ...     "Order": ["o1", "o1", "o2"],
    ...     "Status": ["Order placed", "Order cancelled", "Order placed"],
    ...     "Time": ["2024-01-01 10:00", "2024-01-01 12:00", "2024-01-02 09:00"]}))
    >>> p = preview(log, rows=2)
    >>> p.mapping.get("case"), [r["activity"] for r in p.rows]
    ('Order', ['Order placed', 'Order cancelled'])
    >>> [(a.label, a.count, a.role) for a in p.activities]
    [('Order placed', 2, 'order'), ('Order cancelled', 1, 'cancel')]
    """
    if rows < 0:
        raise ValueError("rows must be >= 0")
    t = log.engine.table(log.table_name)
    fields = [c for c, f in _FIELD_OF_COLUMN.items() if log.mapped(f)]
    head = t.order_by(t.row).limit(rows).select(*fields).to_pyarrow().to_pylist()
    first = tuple({_FIELD_OF_COLUMN[k]: v for k, v in r.items()} for r in head)
    counts = t.group_by("activity").aggregate(n=t.count()).to_pyarrow().to_pylist()
    acts = sorted(
        (
            ActivityPreview(
                label=str(r["activity"]),
                count=int(r["n"]),
                role=(role.value if (role := log.roles.role_of(r["activity"])) else None),
                guessed=r["activity"] in log.roles.guessed,
            )
            for r in counts
        ),
        key=lambda a: (-a.count, a.label),
    )
    return LogPreview(
        name=log.source.name,
        format=log.source.format,
        mapping=log.mapping,
        rows=first,
        activities=tuple(acts),
        stats=log.stats,
        warnings=tuple(w.to_dict() for w in log.warnings),
    )
