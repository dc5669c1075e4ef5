# SPDX-License-Identifier: AGPL-3.0-or-later
"""The mapping step of the web page: what the form shows, and what it sends back.

The form has one select per mapping field (the file's columns to choose from, the guess
preselected), the read options of a CSV, and one select per activity for its role. A file
with a row per order and a column per step's time shows its step columns instead of an
activity and a timestamp column, each with its activity's name to rename. Problems the
library finds are placed next to what they concern: a problem about a field beside that
field's select, a problem about a column that no field uses above that column in the
preview, anything else at the top.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from api.store import UploadMapping
from procmine.config import ReadOptions
from procmine.errors import ConfigError, LogError
from procmine.io.peek import RawPeek
from procmine.mapping import FIELDS, MAX_STEPS, REQUIRED_FIELDS, ColumnMapping
from procmine.preview import LogPreview
from procmine.roles import Role, parse_role

__all__ = ["FIELD_LABELS", "MappingForm", "build_form", "parse_form"]

FIELD_LABELS: Mapping[str, tuple[str, str]] = {
    "case": ("Case (order)", "one order, ticket or case: the unit the process runs through"),
    "activity": ("Activity", "what happened: 'Order placed', 'Order cancelled', ..."),
    "timestamp": ("Timestamp", "when it happened"),
    "customer": ("Customer", "who ordered: links a customer's orders (needed for detours)"),
    "product": ("Product", "SKU or product id: tells a swap from a new purchase"),
    "family": ("Product family", "style or model: sizes and colours of one product"),
    "category": ("Category", "product category, for similar-product matching"),
    "amount": ("Amount", "order value, for the money at risk"),
    "resource": ("Resource", "who handled the event: an employee, team or system"),
}
#: Delimiters a CSV can be read with (value sent, label shown); "" means "recognise it".
DELIMITERS = (
    ("", "recognise"),
    (",", "comma ,"),
    (";", "semicolon ;"),
    ("\t", "tab"),
    ("|", "bar |"),
)
ENCODINGS = (("", "recognise"), ("utf-8", "UTF-8"), ("latin-1", "Latin-1"), ("utf-16", "UTF-16"))
NO_ROLE = ""


@dataclass(frozen=True)
class FieldView:
    """One mapping field of the form."""

    name: str
    label: str
    hint: str
    required: bool
    selected: str | None
    guessed: bool
    errors: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True)
class ActivityView:
    """One activity label with its role select."""

    index: int
    label: str
    count: int
    role: str | None
    guessed: bool


@dataclass(frozen=True)
class MappingForm:
    """Everything the mapping template needs."""

    peek: RawPeek
    fields: tuple[FieldView, ...]
    timestamp_format: str
    delimiter: str
    encoding: str
    column_notes: Mapping[str, tuple[str, ...]]
    errors: tuple[str, ...]
    warnings: tuple[str, ...]
    activities: tuple[ActivityView, ...] | None
    roles: tuple[str, ...] = tuple(r.value for r in Role)
    field_of_column: Mapping[str, str] = field(default_factory=dict)
    #: the step columns with their activities, when the file has a row per order (each
    #: activity an input of the form, to rename it)
    steps: tuple[tuple[str, str | None], ...] = ()
    steps_guessed: bool = False

    @property
    def error_columns(self) -> frozenset[str]:
        """The file's columns that a problem concerns (marked in the preview)."""
        marked = {c for c, notes in self.column_notes.items() if notes}
        marked |= {f.selected for f in self.fields if f.errors and f.selected}
        return frozenset(marked)

    @property
    def ok(self) -> bool:
        """Whether the log reads cleanly with this mapping."""
        return (
            not self.errors
            and not any(f.errors for f in self.fields)
            and not any(self.column_notes.values())
        )


def build_form(
    peek: RawPeek,
    mapping: UploadMapping,
    *,
    preview: LogPreview | None,
    error: LogError | ConfigError | None,
) -> MappingForm:
    """The form for ``mapping`` over the file ``peek`` shows.

    ``preview`` is the result of reading the log with ``mapping`` (its resolved columns,
    activities and roles), ``error`` the library's error when that failed.
    """
    resolved = preview.mapping if preview is not None else None
    steps: tuple[tuple[str, str | None], ...] = (
        tuple(resolved.steps) if resolved is not None else mapping.columns.steps
    )
    columns: dict[str, str | None] = {}
    guessed: set[str] = set()
    for name in FIELDS:
        given = getattr(mapping.columns, name)
        if given:
            columns[name] = given
        elif resolved is not None:
            columns[name] = resolved.get(name)
            if name in resolved.guessed:
                guessed.add(name)
        elif name not in mapping.columns.unmapped and (g := peek.guess.get(name)):
            columns[name] = g
            guessed.add(name)
        else:
            columns[name] = None
    field_of_column: dict[str, str] = {}
    for name, col in columns.items():
        # A column chosen twice belongs to the first field (required fields come first).
        if col:
            field_of_column.setdefault(col, name)

    by_field: dict[str, list[str]] = {}
    warn_field: dict[str, list[str]] = {}
    by_column: dict[str, list[str]] = {}
    general: list[str] = []
    warnings: list[str] = []
    problems = list(error.problems) if error is not None else []
    if error is not None and not problems:
        general.append(error.summary)
    for p in problems:
        about = p.field or (field_of_column.get(p.column) if p.column else None)
        if p.severity == "warning":
            (warn_field.setdefault(about, []) if about else warnings).append(p.message)
        elif about:
            by_field.setdefault(about, []).append(p.message)
        elif p.column and p.column in peek.columns:
            by_column.setdefault(p.column, []).append(p.message)
        else:
            general.append(p.message)
    if preview is not None:
        for w in preview.warnings:
            about = w.get("field") or field_of_column.get(w.get("column") or "")
            (warn_field.setdefault(about, []) if about else warnings).append(str(w["message"]))

    fields = tuple(
        FieldView(
            name=name,
            label=FIELD_LABELS[name][0],
            hint=(
                "given by the step columns below; choose one to read a row per event"
                if steps and name in ("activity", "timestamp")
                else FIELD_LABELS[name][1]
            ),
            required=name in REQUIRED_FIELDS and not (steps and name in ("activity", "timestamp")),
            selected=columns[name],
            guessed=name in guessed,
            errors=tuple(by_field.get(name, ())),
            warnings=tuple(warn_field.get(name, ())),
        )
        for name in FIELDS
    )
    activities = None
    if preview is not None:
        activities = tuple(
            ActivityView(i, a.label, a.count, a.role, a.guessed)
            for i, a in enumerate(preview.activities)
        )
    return MappingForm(
        peek=peek,
        fields=fields,
        timestamp_format=mapping.columns.timestamp_format or "",
        delimiter=mapping.read.delimiter or "",
        encoding=mapping.read.encoding or "",
        column_notes={k: tuple(v) for k, v in by_column.items()},
        errors=tuple(general),
        warnings=tuple(warnings),
        activities=activities,
        field_of_column=field_of_column,
        steps=steps,
        steps_guessed=resolved is not None and "steps" in resolved.guessed,
    )


def _steps(form: Mapping[str, Any]) -> dict[str, str | None]:
    """The steps the form sends: each step column (a hidden input) with its activity (a text
    input; blank names it after its column). Guessed steps left as they were guessed are
    not sent: they are guessed again, and stay marked as guessed. Steps ride along until an
    activity or a timestamp column is chosen instead (the caller drops them then)."""
    try:
        shown = min(int(str(form.get("steps", "0"))), MAX_STEPS)
    except ValueError:
        shown = 0
    steps: dict[str, str | None] = {}
    unchanged = True
    for i in range(shown):
        column = str(form.get(f"step-{i}", "") or "")
        if not column:
            continue
        label = " ".join(str(form.get(f"step-label-{i}", "") or "").split())
        steps[column] = label or None
        guess = form.get(f"step-guess-{i}")
        unchanged = unchanged and guess is not None and label == " ".join(str(guess).split())
    return {} if unchanged else steps


def parse_form(form: Mapping[str, Any], *, previous: UploadMapping) -> UploadMapping:
    """The mapping a submitted form asks for.

    The form carries the activity labels it showed (``act-<i>``, none when the log could not
    be read yet: the roles then stay as ``previous`` had them). Roles are sent for every role
    that a select changed, with exactly the labels chosen for it, which is what the library's
    overrides mean (:meth:`procmine.roles.RoleMap.with_overrides`); a label that is not in
    the log is refused there.
    """
    try:
        shown = min(int(str(form.get("activities", "0"))), 100_000)
    except ValueError:
        shown = 0
    activities = [str(form.get(f"act-{i}", "")) for i in range(shown)]
    columns: dict[str, Any] = {}
    unmapped = []
    for name in FIELDS:
        value = str(form.get(f"col-{name}", "") or "")
        if value:
            columns[name] = value
        elif name not in REQUIRED_FIELDS and f"col-{name}" in form:
            unmapped.append(name)
    fmt = str(form.get("timestamp_format", "") or "").strip()
    steps = _steps(form)
    if "activity" in columns or "timestamp" in columns:
        steps = {}
    mapping = ColumnMapping.from_dict(
        {**columns, "timestamp_format": fmt or None, "unmapped": unmapped, "steps": steps}
    )
    read = ReadOptions(
        **{
            **{k: getattr(previous.read, k) for k in ReadOptions.__slots__},
            "delimiter": str(form.get("delimiter", "") or "") or None,
            "encoding": str(form.get("encoding", "") or "") or None,
        }
    )
    roles: dict[Role, tuple[str, ...]] = dict(previous.roles)
    if activities:
        chosen: dict[Role, list[str]] = {}
        changed: set[Role] = set()
        for i, label in enumerate(activities):
            value = str(form.get(f"role-{i}", NO_ROLE) or NO_ROLE)
            before = str(form.get(f"role-was-{i}", NO_ROLE) or NO_ROLE)
            if value:
                chosen.setdefault(parse_role(value), []).append(label)
            if value != before:
                changed |= {parse_role(v) for v in (value, before) if v}
        for role in changed:
            roles[role] = tuple(chosen.get(role, ()))
    return UploadMapping(columns=mapping, roles=roles, read=read)
