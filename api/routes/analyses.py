# SPDX-License-Identifier: AGPL-3.0-or-later
"""``/logs/{id}/analyses`` and ``/analyses``: start analyses and follow them."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response

from api.deps import Owner, PagingDep, RunnerDep, StoreDep, page
from api.models import AnalysisOut, AnalysisRequest, ComparisonOut, Page
from api.problems import problem_responses
from api.views import analysis_doc

router = APIRouter(tags=["analyses"])

LogId = Annotated[str, Path(max_length=64)]
AnalysisId = Annotated[str, Path(max_length=64, description="An analysis id.")]


@router.post(
    "/logs/{log_id}/analyses",
    status_code=202,
    response_model=AnalysisOut,
    responses={
        200: {"model": AnalysisOut, "description": "An identical request was answered before."},
        **problem_responses(400, 404, 422),
    },
)
def start_analysis(
    log_id: LogId,
    store: StoreDep,
    runner: RunnerDep,
    owner: Owner,
    params: Annotated[AnalysisRequest | None, Body()] = None,
) -> JSONResponse:
    """Start an analysis of the log as a background job (202 with its URL).

    An identical request on the same log (same parameters, same mapping) returns the stored
    analysis instead (200). Follow the job at `GET /analyses/{id}`.
    """
    request = (params or AnalysisRequest()).model_dump(mode="json", exclude_none=True)
    record, new = store.create_analysis(owner, log_id, request)
    if new:
        runner.submit(record.id)
    body = AnalysisOut.model_validate(analysis_doc(record, reused=not new))
    return JSONResponse(
        body.model_dump(mode="json"),
        status_code=202 if new else 200,
        headers={"Location": f"/analyses/{record.id}"},
    )


@router.get(
    "/logs/{log_id}/analyses",
    response_model=Page[AnalysisOut],
    responses=problem_responses(404, 422),
)
def list_analyses(
    request: Request, log_id: LogId, store: StoreDep, owner: Owner, paging: PagingDep
) -> Any:
    """The analyses of a log, newest first."""
    records, total = store.list_analyses(owner, log_id, paging.limit, paging.offset)
    return page(request, [analysis_doc(r) for r in records], total, paging)


@router.get(
    "/analyses/{analysis_id}", response_model=AnalysisOut, responses=problem_responses(404, 422)
)
def get_analysis(analysis_id: AnalysisId, store: StoreDep, owner: Owner) -> Any:
    """An analysis: state (queued, running, done, failed), progress, and result links."""
    return analysis_doc(store.get_analysis(owner, analysis_id))


@router.get(
    "/analyses/{analysis_id}/compare/{other_id}",
    response_model=ComparisonOut,
    responses=problem_responses(404, 409, 422),
)
async def compare_analyses(
    analysis_id: AnalysisId,
    other_id: AnalysisId,
    store: StoreDep,
    owner: Owner,
) -> Any:
    """Before (this analysis) vs after (`other_id`): per finding, the rates of both with
    their 95% intervals and the difference; per path of the process, the change in the share
    of orders taking it. Typically two logs exported before and after a process change."""
    result, _ = await run_in_threadpool(store.compare, owner, analysis_id, other_id)
    base = f"/analyses/{analysis_id}/compare/{other_id}"
    return {**result.to_dict(), "links": {"self": base, "map": f"{base}/map.svg"}}


@router.get(
    "/analyses/{analysis_id}/compare/{other_id}/map.svg",
    response_class=Response,
    responses={
        200: {
            "description": "The after process, paths coloured by change (green fewer, red more).",
            "content": {"image/svg+xml": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problem_responses(404, 409, 422),
    },
)
async def compare_map(
    analysis_id: AnalysisId,
    other_id: AnalysisId,
    store: StoreDep,
    owner: Owner,
) -> Response:
    """The change map of `GET /analyses/{id}/compare/{other_id}`."""
    data = await run_in_threadpool(store.change_map_svg, owner, analysis_id, other_id)
    return Response(data, media_type="image/svg+xml")
