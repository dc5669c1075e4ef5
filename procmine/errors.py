# SPDX-License-Identifier: AGPL-3.0-or-later
"""Typed errors and the structured problems they carry.

The exception tree::

    ProcmineError                 base of everything procmine raises on purpose
    ├── LogError                  a log cannot be used as it is (user's mistake: exit 2, HTTP 422)
    │   ├── LogFormatError        the file cannot be read: unknown format, encoding, malformed XML
    │   └── LogValidationError    the file was read, its content is wrong: missing column, bad
    │                             timestamps, empty log, blank ids, ...
    ├── ConfigError               a mapping, role, option or config file is wrong (exit 2, HTTP 422)
    │   └── UnknownDetectorError  a detector name that is not registered
    ├── OutputError               results cannot be written where asked (exit 2)
    └── RenderError               a map could not be drawn (Graphviz missing or too slow)

Every :class:`LogError` and :class:`ConfigError` carries a tuple of :class:`Problem` values, so
that a command-line message and an HTTP problem-details body list *every* problem found, each
with the column, row, line and value it concerns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any, Literal

__all__ = [
    "ConfigError",
    "LogError",
    "LogFormatError",
    "LogValidationError",
    "OutputError",
    "Problem",
    "ProblemCode",
    "ProcmineError",
    "RenderError",
    "UnknownDetectorError",
    "first_line",
]


class ProblemCode(StrEnum):
    """Stable, machine-readable codes for problems (their values never change)."""

    UNKNOWN_FORMAT = "unknown_format"
    FILE_NOT_FOUND = "file_not_found"
    UNREADABLE_FILE = "unreadable_file"
    ENCODING = "encoding"
    MALFORMED_FILE = "malformed_file"
    EMPTY_LOG = "empty_log"
    EMPTY_CASE = "empty_case"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    BLANK_VALUE = "blank_value"
    UNPARSEABLE_TIMESTAMP = "unparseable_timestamp"
    MIXED_TIMESTAMP_FORMATS = "mixed_timestamp_formats"
    MIXED_TIMEZONES = "mixed_timezones"
    AMBIGUOUS_TIMESTAMP_FORMAT = "ambiguous_timestamp_format"
    UNPARSEABLE_NUMBER = "unparseable_number"
    BLANK_CUSTOMER = "blank_customer"
    CONFLICTING_CUSTOMER = "conflicting_customer"
    SKIPPED_ROWS = "skipped_rows"
    UNKNOWN_LABEL = "unknown_label"
    UNKNOWN_ROLE = "unknown_role"
    UNKNOWN_OPTION = "unknown_option"
    INVALID_OPTION = "invalid_option"
    UNKNOWN_OBJECT_TYPE = "unknown_object_type"
    NO_CUSTOMER_LINK = "no_customer_link"
    UNKNOWN_DETECTOR = "unknown_detector"
    TOO_MANY_ACTIVITIES = "too_many_activities"
    TOO_LARGE = "too_large"


Severity = Literal["error", "warning"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with (or worth knowing about) a log or a configuration.

    ``row`` is the 1-based data row (header excluded) and ``line`` the 1-based line in the file
    where the format has lines (CSV, XML); either is ``None`` when it does not apply.
    ``column`` is the log's own column name; ``field`` the mapping field it was used as.

    Examples
    --------
    >>> p = Problem(ProblemCode.MISSING_COLUMN, "column 'order_id' not found", column="order_id")
    >>> p.to_dict()["code"]
    'missing_column'
    """

    code: ProblemCode
    message: str
    column: str | None = None
    row: int | None = None
    line: int | None = None
    value: str | None = None
    count: int | None = None
    severity: Severity = "error"
    #: the mapping field (``case``, ``timestamp``, ...) the problem is about, where known
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The problem as a JSON-ready dict (the code as its string value)."""
        data = asdict(self)
        data["code"] = self.code.value
        return data


class ProcmineError(Exception):
    """Base class of all errors procmine raises on purpose."""


class _ProblemsError(ProcmineError):
    def __init__(self, problems: Iterable[Problem], *, summary: str | None = None) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        if not self.problems and summary is None:
            raise ValueError("an error needs at least one problem or a summary")
        self.summary = summary or self.problems[0].message
        super().__init__(self.summary)

    def __str__(self) -> str:
        errors = [p for p in self.problems if p.severity == "error"]
        if len(errors) <= 1:
            return self.summary
        lines = [self.summary, *(f"  - {p.message}" for p in errors[1:])]
        return "\n".join(lines)


class LogError(_ProblemsError):
    """A log that cannot be used as it is."""


class LogFormatError(LogError):
    """The file cannot be read: unknown format, wrong encoding, malformed XML or JSON."""


class LogValidationError(LogError):
    """The file was read but its content is unusable (missing columns, bad values, ...)."""


class ConfigError(_ProblemsError):
    """A column mapping, role, option or configuration file is wrong."""


class UnknownDetectorError(ConfigError):
    """A detector name that is not in the registry."""


class OutputError(ProcmineError):
    """Results cannot be written where asked (not a directory, no permission, disk full)."""


class RenderError(ProcmineError):
    """A process map could not be rendered (Graphviz missing, failed or timed out)."""


def first_line(error: BaseException | str) -> str:
    """The first non-blank line of an error's message, or ``""`` when it has none.

    Engines (DuckDB, Spark) put the gist on the first line and a stack or a hint of their
    own below it, which is no use to a procmine user.

    >>> first_line(RuntimeError("Out of Memory Error: failed to allocate\\nStack: ..."))
    'Out of Memory Error: failed to allocate'
    >>> first_line(RuntimeError())
    ''
    """
    text = str(error)
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
