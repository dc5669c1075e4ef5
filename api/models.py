# SPDX-License-Identifier: AGPL-3.0-or-later
"""Request and response models: the OpenAPI document a dashboard team generates a client from.

Requests forbid unknown fields (a typo must not be silently ignored); the library checks the
values again and names what is wrong (see ``procmine.config``).
"""

from __future__ import annotations

from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from procmine.roles import Role

__all__ = [
    "ActivityOut",
    "AnalysisOut",
    "AnalysisRequest",
    "DetectorOut",
    "FindingDetail",
    "FindingOut",
    "Health",
    "InstanceOut",
    "LogOut",
    "MappingIn",
    "MappingOut",
    "Page",
    "PreviewOut",
    "ProblemDetails",
    "ProblemItem",
]

T = TypeVar("T")


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProblemItem(BaseModel):
    """One problem in a log or a request, with where it is."""

    code: str = Field(description="Stable machine-readable code, e.g. `missing_column`.")
    message: str
    column: str | None = None
    row: int | None = Field(None, description="1-based data row (header excluded).")
    line: int | None = Field(None, description="1-based line in the file (CSV, XML).")
    value: str | None = None
    count: int | None = Field(None, description="How many rows have this problem.")
    severity: Literal["error", "warning"] = "error"
    field: str | None = Field(
        None, description="The mapping field it concerns (`case`, `timestamp`, ...), if any."
    )


class ProblemDetails(BaseModel):
    """RFC 9457 problem details: the body of every error response."""

    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "type": "/problems/invalid-log",
                "title": "The log cannot be used",
                "status": 422,
                "detail": "orders.csv: 2 timestamps cannot be read",
                "instance": "/logs",
                "problems": [
                    {
                        "code": "unparseable_timestamp",
                        "message": "row 17: '2024-13-45 10:00' is not a timestamp",
                        "column": "timestamp",
                        "row": 17,
                        "line": 18,
                        "value": "2024-13-45 10:00",
                        "count": None,
                        "severity": "error",
                    }
                ],
            }
        }
    )

    type: str = Field(description="A URI naming the kind of problem, or `about:blank`.")
    title: str
    status: int
    detail: str
    instance: str | None = None
    problems: list[ProblemItem] | None = None


class Page(BaseModel, Generic[T]):
    """A page of a list: ``next`` is the URL of the following page, if any."""

    items: list[T]
    total: int
    limit: int
    offset: int
    next: str | None = None


class ReadIn(_Request):
    """How to read the file (all optional: the format and dialect are detected)."""

    format: Literal["csv", "parquet", "xes", "ocel"] | None = None
    encoding: str | None = Field(None, examples=["latin-1"])
    delimiter: str | None = Field(None, min_length=1, max_length=1)
    skip_invalid_rows: bool = Field(False, strict=True)
    ocel_case_type: str | None = None
    ocel_customer_type: str | None = None
    ocel_product_type: str | None = None


class MappingIn(_Request):
    """Which column holds what, and which activity plays which role.

    The same keys as the CLI's flags. Fields left out are guessed.
    """

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "case": "order_id",
                "activity": "activity",
                "timestamp": "timestamp",
                "customer": "customer_id",
                "roles": {"cancel": ["Order cancelled"]},
            }
        },
    )

    case: str | None = None
    activity: str | None = None
    timestamp: str | None = None
    customer: str | None = None
    product: str | None = None
    family: str | None = None
    category: str | None = None
    amount: str | None = None
    resource: str | None = None
    timestamp_format: str | None = Field(None, examples=["%d/%m/%Y %H:%M"])
    unmapped: list[str] | None = Field(
        None,
        description="Optional fields the log does not have, so not to be guessed.",
        examples=[["customer"]],
    )
    steps: dict[str, str | None] | list[str] | None = Field(
        None,
        description="For a table with a row per order: the columns holding each step's time, "
        "in process order, instead of an activity and a timestamp column; as a list of "
        "columns, or {column: activity} (an activity of null is named after the column).",
        examples=[{"order_approved_at": "Payment captured", "order_delivered_at": None}],
    )
    roles: dict[Role, list[str]] | None = Field(
        None, description="{role: [activity labels]}; an empty list clears a role."
    )
    read: ReadIn | None = None


class MappingOut(BaseModel):
    """The mapping in force: the column of each field, which were guessed, all columns."""

    columns: dict[str, str | None]
    steps: dict[str, str] = Field(
        default_factory=dict,
        description="The step columns with their activities, for a table with a row per order.",
    )
    guessed: list[str]
    timestamp_format: str | None
    available: list[str]


class LogOut(BaseModel):
    """A stored log."""

    id: str
    name: str
    format: str
    size_bytes: int
    created: str
    mapping_version: int = Field(description="Goes up by one with every change of mapping.")
    events: int
    cases: int
    customers: int
    activities: int
    start: str
    end: str
    observed_days: float
    cases_without_customer: int
    mapping: MappingOut
    roles: dict[str, list[str]]
    activity_labels: list[str]
    timestamp_format: str | None
    warnings: list[ProblemItem]
    links: dict[str, str]


class ActivityOut(BaseModel):
    """An activity label, how often it occurs, and its role."""

    label: str
    count: int
    role: str | None
    guessed: bool


class PreviewOut(BaseModel):
    """The first rows of a log, its mapping and every activity with its role."""

    log_id: str
    name: str
    format: str
    mapping: MappingOut
    fields: list[str] = Field(description="The mapped fields: the keys of each row.")
    rows: list[dict[str, Any]]
    activities: list[ActivityOut]
    warnings: list[ProblemItem]


class WindowsIn(_Request):
    """Detector time windows, as durations such as `14d`, `72h`, `30m`, `2w`."""

    cancel: str | None = Field(None, examples=["14d"])
    returned: str | None = None
    lost_sale: str | None = None
    horizon: str | None = None
    contact: str | None = None


class SimilarityIn(_Request):
    """When a replacement order counts as "for a similar product"."""

    min_level: Literal["any", "category", "substitute", "same_sku", "variant"] | None = None
    family_pattern: str | None = None
    price_band: float | None = Field(None, strict=True, ge=0)
    amount_tolerance: float | None = Field(None, strict=True, ge=0)


class CostModelIn(_Request):
    """What a detour costs per instance (defaults in the README)."""

    currency: str | None = Field(None, min_length=1, max_length=8)
    outbound_shipment: float | None = Field(None, strict=True, ge=0)
    return_label: float | None = Field(None, strict=True, ge=0)
    return_handling: float | None = Field(None, strict=True, ge=0)
    return_handling_share: float | None = Field(None, strict=True, ge=0, le=1)
    payment_fee_rate: float | None = Field(None, strict=True, ge=0, le=1)
    payment_fee_fixed: float | None = Field(None, strict=True, ge=0)
    contact: float | None = Field(None, strict=True, ge=0)
    rework: float | None = Field(None, strict=True, ge=0)


class ReworkIn(_Request):
    """When a repeated activity is rework rather than a per-item step."""

    structural_share: float | None = Field(None, strict=True, gt=0, le=1)
    min_cases: int | None = Field(None, strict=True, ge=1)


class WaitsIn(_Request):
    """Service levels per transition, and the quantile other transitions are judged by."""

    sla: dict[str, str] | None = Field(
        None,
        description='Transition "A -> B" to its service level, e.g. {"Order placed -> '
        'Shipped": "48h"}.',
        examples=[{"Order placed -> Shipped": "48h"}],
    )
    quantile: float | None = Field(None, strict=True, ge=0.5, lt=1)
    min_transitions: int | None = Field(None, strict=True, ge=1)


class PeriodIn(_Request):
    """Analyse only the orders placed in [start, end) (ISO dates or times, UTC)."""

    start: str | None = Field(None, examples=["2024-01-01"])
    end: str | None = Field(None, examples=["2024-03-01"])


class ChurnIn(_Request):
    """How churn is compared between affected customers and matched controls."""

    match_on: list[Literal["prior_orders", "prior_spend", "tenure", "category", "month"]] | None = (
        None
    )
    confidence: float | None = Field(None, strict=True, gt=0.5, lt=1)
    bootstrap: int | None = Field(None, strict=True, ge=100, le=100_000)
    seed: int | None = Field(None, strict=True, ge=0, le=2**32 - 1)
    min_matched: int | None = Field(None, strict=True, ge=1, le=1_000_000)


class AnalysisRequest(_Request):
    """Parameters of an analysis; everything left out takes its documented default."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "detectors": ["exchange_detour", "lost_sale"],
                "windows": {"cancel": "14d", "returned": "14d"},
                "similarity": {"min_level": "category"},
                "cost_model": {"currency": "EUR", "return_label": 7.5},
            }
        },
    )

    detectors: list[str] | None = Field(
        None, description="Detector names (GET /detectors); all of them when left out."
    )
    windows: WindowsIn | None = None
    similarity: SimilarityIn | None = None
    cost_model: CostModelIn | None = None
    churn: ChurnIn | None = None
    rework: ReworkIn | None = None
    waits: WaitsIn | None = None
    period: PeriodIn | None = None
    roles: dict[Role, list[str]] | None = Field(
        None, description="Role overrides for this analysis: {role: [activity labels]}."
    )


class AnalysisOut(BaseModel):
    """An analysis job: its state and progress, and links to its results when done."""

    id: str
    log_id: str
    state: Literal["queued", "running", "done", "failed"]
    progress: float = Field(ge=0, le=1)
    phase: str | None
    error: ProblemDetails | None
    attempts: int
    created: str
    started: str | None
    finished: str | None
    findings_count: int | None
    mapping_version: int
    request: dict[str, Any]
    parameters: dict[str, Any] | None = Field(description="Every parameter, defaults included.")
    reused: bool = Field(False, description="True when an identical earlier request answered.")
    links: dict[str, str]


class FindingEdgeOut(BaseModel):
    """A process-map edge characteristic of a finding's cases (highlighted on its map)."""

    source: str
    target: str
    cases: int = Field(description="How many of the finding's cases take this path.")
    share: float = Field(description="The share of the finding's cases that take it.")
    lift: float = Field(description="How many times as common as among all cases.")


class CauseOut(BaseModel):
    """An attribute value that makes a finding more likely (a root cause)."""

    attribute: str = Field(description="category, price_band, weekday, resource or a column.")
    value: str
    orders: int = Field(description="Orders with this value.")
    affected: int = Field(description="Of them, affected by the finding.")
    rate: float = Field(description="affected / orders.")
    rate_rest: float = Field(description="The rate among the other orders.")
    lift: float | None = Field(description="rate / rate_rest.")
    excess: float = Field(description="Affected orders beyond the other orders' rate.")
    p_value: float = Field(description="One-sided hypergeometric (Fisher) p-value.")
    q_value: float = Field(description="Benjamini-Hochberg corrected over the finding's values.")
    significant: bool = Field(description="q_value below 0.05.")
    text: str = Field(description="The cause in one line, for people.")


class RateOut(BaseModel):
    """A finding in one period: affected of eligible, the rate with its 95% interval."""

    affected: int
    eligible: int
    rate: float | None
    rate_low: float | None
    rate_high: float | None
    severity: float | None = Field(description="Money at risk per month in that period.")


class IntervalOut(BaseModel):
    """An estimate with its 95% interval."""

    estimate: float | None
    low: float | None
    high: float | None


class FindingChangeOut(BaseModel):
    """One finding before and after."""

    key: str = Field(description="`detector:variant`.")
    title: str
    before: RateOut | None
    after: RateOut | None
    difference: IntervalOut | None = Field(description="after - before (Newcombe interval).")
    verdict: Literal["fell", "rose", "no clear change", "only before", "only after", "no data"]
    text: str


class EdgeChangeOut(BaseModel):
    """A path of the process: the cases taking it before and after, and the change in share."""

    source: str
    target: str
    cases_before: int
    cases_after: int
    difference: IntervalOut | None
    verdict: Literal["fell", "rose", "no clear change", "only before", "only after", "no data"]


class ComparisonOut(BaseModel):
    """Two analyses compared: did the friction fall after a process change?"""

    before: str
    after: str
    confidence: float
    findings: list[FindingChangeOut] = Field(description="Biggest fall first.")
    edges: list[EdgeChangeOut]
    links: dict[str, str]


class FindingOut(BaseModel):
    """A finding: a friction pattern with its figures (instances on the detail endpoint)."""

    id: str = Field(description="This finding in this analysis.")
    key: str = Field(
        description="Stable across analyses (`detector:variant`): follow a finding over time."
    )
    analysis_id: str
    log_id: str
    rank: int = Field(description="0 for the most severe finding of its analysis.")
    detector: str
    variant: str
    title: str
    summary: str
    severity: float | None = Field(description="Money at risk per month, in the log's currency.")
    evidence: Literal["A", "B", "C"]
    metrics: dict[str, float | int | None]
    units: dict[str, str]
    churn: dict[str, Any] | None
    causes: list[CauseOut] = Field(
        [],
        description="Attribute values that make it more likely, significant ones first "
        "(absent from analyses made before root causes existed).",
    )
    edges: list[FindingEdgeOut] = Field(
        description="Map edges characteristic of its cases: "
        "`GET /analyses/{id}/maps/process.svg?finding={id}` draws them highlighted."
    )
    instances: int
    created: str
    links: dict[str, str]


class InstanceOut(BaseModel):
    """One piece of evidence: an original order and (for detours) its replacement."""

    customer: str | None
    original_case: str | None
    replacement_case: str | None
    variant: str | None
    similarity: str | None
    original_order_time: str | None
    anchor_time: str | None
    replacement_order_time: str | None
    replacement_end_time: str | None
    time_lost_hours: float | None
    amount_original: float | None
    amount_replacement: float | None
    refund_amount: float | None
    shipped: bool | None
    captured: bool | None
    chain_id: str | None
    chain_position: int | None
    chain_length: int | None
    contacts: int | None
    # Absent from instances stored before the friction detectors existed.
    step: str | None = None
    repeats: int | None = None
    return_shipping_cost: float | None
    cost: float | None


class FindingDetail(FindingOut):
    """A finding with the assumptions behind it and a page of its instances."""

    assumptions: dict[str, Any]
    notes: list[str]
    instances_page: Page[InstanceOut]


class Health(BaseModel):
    """The service is up."""

    status: Literal["ok"]
    version: str
    jobs: int = Field(description="Analyses queued or running in this process.")
    auth: bool = Field(description="Whether requests need an API key.")


class DetectorOut(BaseModel):
    """A registered detector and its variants (each variant is one finding)."""

    name: str
    title: str
    description: str
    variants: dict[str, str]
