# SPDX-License-Identifier: AGPL-3.0-or-later
"""The canonical event log: a table in the engine plus what we know about it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import ibis
import ibis.expr.types as ir
import pandas as pd
import pyarrow as pa

from procmine.engine import Engine, to_frame
from procmine.errors import LogValidationError, Problem, ProblemCode
from procmine.mapping import ResolvedMapping
from procmine.roles import Role, RoleMap

__all__ = ["EventLog", "LogSource", "LogStats"]


@dataclass(frozen=True, slots=True)
class LogStats:
    """Size and time range of a log."""

    events: int
    cases: int
    customers: int
    activities: int
    start: dt.datetime
    end: dt.datetime
    cases_without_customer: int

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> LogStats:
        """From an aggregate row with ``events, cases, customers, activities, start, end,
        orphans`` (the cases without a customer), as every engine's size query returns it.

        Examples
        --------
        >>> import datetime as dt
        >>> day = dt.datetime(2024, 3, 1)
        >>> LogStats.from_row({"events": 3, "cases": 2, "customers": 1, "activities": 2,
        ...     "start": day, "end": day, "orphans": None}).cases_without_customer
        0
        """
        return cls(
            events=int(row["events"]),
            cases=int(row["cases"]),
            customers=int(row["customers"]),
            activities=int(row["activities"]),
            start=row["start"],
            end=row["end"],
            cases_without_customer=int(row["orphans"] or 0),
        )

    @property
    def observed_days(self) -> float:
        """Length of the observation period in days (at least one day)."""
        return max((self.end - self.start).total_seconds() / 86400, 1.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "events": self.events,
            "cases": self.cases,
            "customers": self.customers,
            "activities": self.activities,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "observed_days": round(self.observed_days, 2),
            "cases_without_customer": self.cases_without_customer,
        }


@dataclass(frozen=True, slots=True)
class LogSource:
    """Where a log came from and how it was read."""

    name: str
    format: str
    timestamp_format: str
    details: Mapping[str, str | None]


class EventLog:
    """A validated event log held by an :class:`~procmine.engine.Engine`.

    Create one with :func:`procmine.read_log` or :meth:`from_pandas`. The canonical columns
    are described in :mod:`procmine.io.canonical`.

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({
    ...     "order_id": ["o1", "o1", "o2"],
    ...     "activity": ["Order placed", "Order cancelled", "Order placed"],
    ...     "timestamp": ["2024-01-01 10:00", "2024-01-01 12:00", "2024-01-02 09:00"],
    ...     "customer_id": ["c1", "c1", "c1"],
    ... })
    >>> log = EventLog.from_pandas(df)
    >>> log.stats.events, log.stats.cases, log.stats.customers
    (3, 2, 1)
    >>> log.roles.labels(Role.CANCEL)
    ('Order cancelled',)
    """

    def __init__(
        self,
        *,
        engine: Engine,
        table: str,
        mapping: ResolvedMapping,
        roles: RoleMap,
        stats: LogStats,
        source: LogSource,
        warnings: Sequence[Problem] = (),
        items_table: str | None = None,
    ) -> None:
        self._engine = engine
        self._table = table
        self._items_table = items_table
        self._mapping = mapping
        self._roles = roles
        self._stats = stats
        self._source = source
        self._warnings = tuple(warnings)

    @classmethod
    def from_pandas(cls, frame: pd.DataFrame, **kwargs: Any) -> EventLog:
        """Build a log from a pandas frame (same mapping and role options as ``read_log``)."""
        from procmine.io import read_frame

        return read_frame(frame, **kwargs)

    @property
    def engine(self) -> Engine:
        """The engine holding the event table."""
        return self._engine

    @property
    def table_name(self) -> str:
        """Name of the canonical event table in the engine."""
        return self._table

    @property
    def items_table_name(self) -> str | None:
        """Name of the explicit items table (OCEL logs), if any."""
        return self._items_table

    @property
    def mapping(self) -> ResolvedMapping:
        """Which source column became which canonical column."""
        return self._mapping

    @property
    def roles(self) -> RoleMap:
        """The activity roles in force (guessed, then overridden)."""
        return self._roles

    @property
    def stats(self) -> LogStats:
        """Size and time range."""
        return self._stats

    @property
    def source(self) -> LogSource:
        """Where the log came from."""
        return self._source

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """Warnings met while reading (blank customers, skipped rows, ...)."""
        return self._warnings

    def events(self) -> ir.Table:
        """The canonical event table as an Ibis expression, with a ``role`` column joined in."""
        table = self._engine.table(self._table)
        labels = list(self._roles.by_label)
        if not labels:
            return table.mutate(role=ibis.null("string"))
        # A join against a small label->role table rather than a CASE per label: logs with
        # thousands of labelled activities stay one hash join.
        roles = ibis.memtable(
            pa.table(
                {
                    "activity": pa.array(labels, pa.string()),
                    "role": pa.array(
                        [self._roles.by_label[label].value for label in labels], pa.string()
                    ),
                }
            )
        )
        return table.left_join(roles, "activity").select(*table.columns, "role")

    def sequence(self) -> ir.Table:
        """:meth:`events` with each event placed in its case: ``pos`` (0-based, by time, then
        source order), ``prev_activity``, ``next_activity``, ``next_ts``, and ``ts_s`` (epoch
        seconds).

        A table built by :func:`procmine.read_log` stores the placing columns (one sort when
        it is read); for a table without them (a log saved by an older procmine) they are
        computed here.

        Examples
        --------
        >>> import pandas as pd
        >>> log = EventLog.from_pandas(pd.DataFrame({
        ...     "order_id": ["o1", "o1", "o1"],
        ...     "activity": ["Shipped", "Order placed", "Delivered"],
        ...     "timestamp": ["2024-01-02", "2024-01-01", "2024-01-03"]}))
        >>> s = log.sequence()
        >>> s.order_by("pos").select("pos", "prev_activity", "activity").to_pyarrow().to_pylist()[1]
        {'pos': 1, 'prev_activity': 'Order placed', 'activity': 'Shipped'}
        """
        ev = self.events()
        if "next_activity" not in ev.columns:
            w = ibis.window(group_by=ev.case_id, order_by=[ev.ts, ev.row])
            ev = ev.mutate(
                pos=ibis.row_number().over(w),
                prev_activity=ev.activity.lag().over(w),
                next_activity=ev.activity.lead().over(w),
                next_ts=ev.ts.lead().over(w),
            )
        return ev.mutate(ts_s=ev.ts.epoch_seconds().cast("float64"))

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The source's case-level dimension columns carried along (channel, region, ...).

        They are ``attr:<name>`` columns of the event table (:mod:`procmine.io.canonical`);
        root causes are looked for in them.
        """
        prefix = "attr:"
        columns = self._engine.table(self._table).columns
        return tuple(c.removeprefix(prefix) for c in columns if c.startswith(prefix))

    def mapped(self, field: str) -> bool:
        """Whether canonical field ``field`` (``customer``, ``product``, ...) came from the log."""
        return self._mapping.get(field) is not None

    def with_roles(self, overrides: Mapping[Role, Sequence[str]]) -> EventLog:
        """A log sharing this one's table with some roles set explicitly."""
        return EventLog(
            engine=self._engine,
            table=self._table,
            mapping=self._mapping,
            roles=self._roles.with_overrides(overrides),
            stats=self._stats,
            source=self._source,
            warnings=self._warnings,
            items_table=self._items_table,
        )

    def placed_between(
        self, start: dt.datetime | None = None, end: dt.datetime | None = None
    ) -> EventLog:
        """The orders placed in ``[start, end)``: every event of each case whose first event
        falls in the period (a period of one log, for :func:`procmine.compare.compare`).

        The events are copied into a table of their own in the same engine; mapping, roles
        and source stay (the name says the period). Times are UTC, as in the log.

        Examples
        --------
        >>> import pandas as pd
        >>> log = EventLog.from_pandas(pd.DataFrame({
        ...     "order_id": ["o1", "o1", "o2"],
        ...     "activity": ["Order placed", "Shipped", "Order placed"],
        ...     "timestamp": ["2024-02-27 10:00", "2024-03-02 10:00", "2024-03-05 09:00"]}))
        >>> march = log.placed_between(dt.datetime(2024, 3, 1))
        >>> march.stats.cases, march.stats.events, march.source.name
        (1, 1, 'dataframe [from 2024-03-01]')
        """
        from procmine.config import parse_instant

        # An aware time is converted to UTC, as the log's times are; a naive one is UTC.
        start = parse_instant(start, name="start") if start is not None else None
        end = parse_instant(end, name="end") if end is not None else None
        t = self._engine.table(self._table)
        first = t.group_by("case_id").aggregate(first_ts=t.ts.min())
        if start is not None:
            first = first.filter(first.first_ts >= ibis.literal(start))
        if end is not None:
            first = first.filter(first.first_ts < ibis.literal(end))
        kept = self._engine.materialize(t.semi_join(first, "case_id"), "period")
        row = (
            kept.aggregate(
                events=kept.count(),
                cases=kept.case_id.nunique(),
                customers=kept.customer_id.nunique(),
                activities=kept.activity.nunique(),
                start=kept.ts.min(),
                end=kept.ts.max(),
                orphans=kept.case_id.nunique(where=kept.customer_id.isnull()),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        if not row["events"]:
            raise LogValidationError(
                [
                    Problem(
                        ProblemCode.EMPTY_LOG,
                        f"{self._source.name} has no orders placed " + _period_text(start, end),
                    )
                ]
            )
        parts = [f"from {start:%Y-%m-%d}" if start else "", f"to {end:%Y-%m-%d}" if end else ""]
        return EventLog(
            engine=self._engine,
            table=kept.get_name(),
            mapping=self._mapping,
            roles=self._roles,
            stats=LogStats.from_row(row),
            source=LogSource(
                name=f"{self._source.name} [{' '.join(p for p in parts if p)}]",
                format=self._source.format,
                timestamp_format=self._source.timestamp_format,
                details=self._source.details,
            ),
            items_table=self._items_table,
        )

    def to_pandas(self) -> pd.DataFrame:
        """The canonical events (with roles) as a pandas frame, in case/time order."""
        t = self.events()
        return to_frame(t.order_by([t.case_id, t.ts, t.row]))

    def summary(self) -> dict[str, Any]:
        """The ``log`` section of the findings document."""
        return {
            "name": self._source.name,
            "format": self._source.format,
            **self._stats.to_dict(),
            "activities": list(self._roles.activities),
            "roles": self._roles.to_dict(),
            "mapping": self._mapping.to_dict(),
            "dimensions": list(self.dimensions),
            "timestamp_format": self._source.timestamp_format,
            "warnings": [w.to_dict() for w in self._warnings],
        }

    def close(self) -> None:
        """Drop the log's tables from the engine."""
        self._engine.drop(self._table)
        if self._items_table:
            self._engine.drop(self._items_table)

    def __repr__(self) -> str:
        s = self._stats
        return (
            f"EventLog({self._source.name!r}: {s.events:,} events, {s.cases:,} cases, "
            f"{s.customers:,} customers, {s.activities} activities)"
        )


def _period_text(start: dt.datetime | None, end: dt.datetime | None) -> str:
    if start and end:
        return f"from {start:%Y-%m-%d %H:%M} to before {end:%Y-%m-%d %H:%M}"
    if start:
        return f"from {start:%Y-%m-%d %H:%M} on"
    return f"before {end:%Y-%m-%d %H:%M}" if end else "at all"
