# SPDX-License-Identifier: AGPL-3.0-or-later
"""``/logs``: upload, list, inspect, preview, re-map and delete logs."""

from __future__ import annotations

import json
import shutil
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import Owner, PagingDep, StoreDep, get_settings, page
from api.errors import InvalidRequest
from api.models import LogOut, MappingIn, Page, PreviewOut
from api.problems import problem_responses
from api.store import UploadMapping
from api.uploads import receive_upload
from api.views import log_doc, preview_doc
from procmine.errors import Problem, ProblemCode

router = APIRouter(tags=["logs"])

LogId = Annotated[str, Path(max_length=64, description="A log id from POST /logs.")]

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["file"],
                "properties": {
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "The log: CSV, Parquet, XES, XES.gz or OCEL 2.0 "
                        "(JSON, XML, SQLite). The format is read from the content.",
                    },
                    "mapping": {
                        "type": "string",
                        "description": "Optional JSON object (MappingIn): columns, roles and "
                        'read options, e.g. {"case": "order_id", "roles": {"cancel": '
                        '["Storno"]}}. Fields left out are guessed.',
                    },
                },
            },
            "encoding": {"mapping": {"contentType": "application/json"}},
        }
    },
}


def parse_mapping(text: str | None) -> UploadMapping:
    """The ``mapping`` form field, checked against :class:`MappingIn` and by the library."""
    if text is None or not text.strip():
        return UploadMapping.parse(None)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidRequest(f"form field 'mapping' is not valid JSON: {exc}") from None
    return mapping_from_model(_validate_mapping(data))


def _validate_mapping(data: Any) -> MappingIn:
    try:
        return MappingIn.model_validate(data)
    except ValidationError as exc:
        problems = [
            Problem(
                ProblemCode.INVALID_OPTION,
                f"mapping.{'.'.join(str(p) for p in err['loc'])}: {err['msg']}",
            )
            for err in exc.errors()
        ]
        raise InvalidRequest(
            "form field 'mapping' is not a valid mapping", problems=problems
        ) from None


def mapping_from_model(model: MappingIn) -> UploadMapping:
    """The library's view of a validated mapping."""
    return UploadMapping.parse(model.model_dump(mode="json", exclude_none=True))


@router.post(
    "/logs",
    status_code=201,
    response_model=LogOut,
    summary="Upload a log",
    openapi_extra={"requestBody": _UPLOAD_BODY},
    responses=problem_responses(413, 415, 422, 507),
)
async def upload_log(request: Request, store: StoreDep, owner: Owner) -> JSONResponse:
    """Upload a log (multipart field `file`), validate it and store it.

    The body is streamed to disk and refused as soon as it passes the size limit. A log that
    cannot be used is refused with 422 and every problem found; nothing of it is kept.
    """
    settings = get_settings(request)
    folder = store.new_upload_dir()
    try:
        upload = await receive_upload(request, folder, settings.upload_limit_for(owner))
        mapping = parse_mapping(upload.fields.get("mapping"))
        record = await run_in_threadpool(store.add_log, owner, upload.path, upload.size, mapping)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return JSONResponse(
        LogOut.model_validate(log_doc(record)).model_dump(mode="json"),
        status_code=201,
        headers={"Location": f"/logs/{record.id}"},
    )


@router.get("/logs", response_model=Page[LogOut], responses=problem_responses(422))
def list_logs(request: Request, store: StoreDep, owner: Owner, paging: PagingDep) -> Any:
    """The logs uploaded with this API key, newest first."""
    records, total = store.list_logs(owner, paging.limit, paging.offset)
    return page(request, [log_doc(r) for r in records], total, paging)


@router.get("/logs/{log_id}", response_model=LogOut, responses=problem_responses(404, 422))
def get_log(log_id: LogId, store: StoreDep, owner: Owner) -> Any:
    """A log's statistics, detected columns and activity roles."""
    return log_doc(store.get_log(owner, log_id))


@router.delete(
    "/logs/{log_id}",
    status_code=204,
    response_class=Response,
    responses=problem_responses(404, 422),
)
def delete_log(log_id: LogId, store: StoreDep, owner: Owner) -> Response:
    """Delete a log with all its analyses, findings and maps."""
    store.delete_log(owner, log_id)
    return Response(status_code=204)


@router.get(
    "/logs/{log_id}/preview", response_model=PreviewOut, responses=problem_responses(404, 422)
)
def preview_log(
    log_id: LogId,
    store: StoreDep,
    owner: Owner,
    rows: Annotated[int, Query(ge=0, le=1000, description="How many rows to show.")] = 20,
) -> Any:
    """The first rows, the mapping (which fields were guessed) and every activity's role.

    A client shows this to confirm the mapping before analysing, and corrects it with
    `PUT /logs/{log_id}/mapping` (columns) or the `roles` of the analysis request.
    """
    return preview_doc(log_id, store.preview(owner, log_id, rows))


@router.put(
    "/logs/{log_id}/mapping", response_model=LogOut, responses=problem_responses(400, 404, 409, 422)
)
def remap_log(log_id: LogId, mapping: MappingIn, store: StoreDep, owner: Owner) -> Any:
    """Read the log again with another mapping; on error the current mapping stays.

    Earlier analyses keep their results; new analyses use the new mapping.
    """
    return log_doc(store.remap_log(owner, log_id, mapping_from_model(mapping)))
