# SPDX-License-Identifier: AGPL-3.0-or-later
"""Findings of analyses, their instances, and CSV export."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import StreamingResponse

from api.deps import Owner, PagingDep, StoreDep, page
from api.models import FindingDetail, FindingOut, Page
from api.problems import problem_responses
from api.views import finding_doc, instance_doc

router = APIRouter(tags=["findings"])

AnalysisId = Annotated[str, Path(max_length=64)]
FindingId = Annotated[str, Path(max_length=64, description="A finding id (`fd_...`).")]
Sort = Literal["severity", "-severity", "instances", "-instances", "key", "-key"]


@router.get(
    "/analyses/{analysis_id}/findings",
    response_model=Page[FindingOut],
    responses=problem_responses(404, 409, 422),
)
def list_findings(
    request: Request,
    analysis_id: AnalysisId,
    store: StoreDep,
    owner: Owner,
    paging: PagingDep,
    detector: Annotated[
        str | None, Query(max_length=100, description="Only this detector.")
    ] = None,
    min_severity: Annotated[
        float | None, Query(ge=0, le=1e15, description="Only findings at least this severe.")
    ] = None,
    sort: Annotated[Sort, Query(description="Sort key; `-` for descending.")] = "-severity",
) -> Any:
    """The findings of a finished analysis (409 while it runs), most severe first."""
    records, total = store.list_findings(
        owner,
        analysis_id,
        detector=detector,
        min_severity=min_severity,
        sort=sort,
        limit=paging.limit,
        offset=paging.offset,
    )
    return page(request, [finding_doc(r) for r in records], total, paging)


@router.get("/findings", response_model=Page[FindingOut], responses=problem_responses(422))
def finding_history(
    request: Request,
    store: StoreDep,
    owner: Owner,
    paging: PagingDep,
    key: Annotated[
        str,
        Query(
            max_length=200,
            description="The stable finding key, e.g. `exchange_detour:cancel_reorder`.",
        ),
    ],
    log_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Any:
    """One finding across all analyses (optionally of one log), newest first: its trend."""
    records, total = store.findings_by_key(owner, key, log_id, paging.limit, paging.offset)
    return page(request, [finding_doc(r) for r in records], total, paging)


@router.get(
    "/findings/{finding_id}",
    response_model=FindingDetail,
    responses=problem_responses(404, 422),
)
def get_finding(
    request: Request, finding_id: FindingId, store: StoreDep, owner: Owner, paging: PagingDep
) -> Any:
    """A finding with its assumptions and a page of its instances."""
    finding, rows, total = store.instances(owner, finding_id, paging.limit, paging.offset)
    doc = finding_doc(finding)
    doc["assumptions"] = finding.document["assumptions"]
    doc["notes"] = finding.document["notes"]
    doc["instances_page"] = page(request, [instance_doc(r) for r in rows], total, paging)
    return doc


@router.get(
    "/findings/{finding_id}/instances.csv",
    response_class=StreamingResponse,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "CSV"},
        **problem_responses(404, 422),
    },
)
def finding_csv(finding_id: FindingId, store: StoreDep, owner: Owner) -> StreamingResponse:
    """All instances of a finding as CSV (cells that a spreadsheet would run are quoted)."""
    chunks = store.instances_csv(owner, finding_id)
    return StreamingResponse(
        chunks,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{finding_id}-instances.csv"'},
    )
