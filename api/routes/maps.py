# SPDX-License-Identifier: AGPL-3.0-or-later
"""Process and journey maps of an analysis, rendered on request and cached with an ETag."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import Owner, StoreDep
from api.problems import problem_responses

router = APIRouter(tags=["maps"])


class MapName(StrEnum):
    """Which map."""

    process = "process"
    journey = "journey"


class MapFormat(StrEnum):
    """Which file format."""

    svg = "svg"
    png = "png"
    dot = "dot"


class Overlay(StrEnum):
    """What the edges show."""

    frequency = "frequency"
    performance = "performance"


_MEDIA = {"svg": "image/svg+xml", "png": "image/png", "dot": "text/vnd.graphviz"}


@router.get(
    "/analyses/{analysis_id}/maps/{name}.{fmt}",
    response_class=Response,
    responses={
        200: {
            "description": "The map.",
            "content": {
                media: {"schema": {"type": "string", "format": "binary"}}
                for media in _MEDIA.values()
            },
        },
        304: {"description": "Not modified (If-None-Match matched the ETag)."},
        **problem_responses(404, 409, 422),
    },
)
async def get_map(
    request: Request,
    analysis_id: Annotated[str, Path(max_length=64)],
    name: MapName,
    fmt: MapFormat,
    store: StoreDep,
    owner: Owner,
    overlay: Annotated[Overlay, Query(description="Edge labels: counts or durations.")] = (
        Overlay.frequency
    ),
    max_edges: Annotated[
        int | None, Query(ge=1, le=2000, description="Path filter: at most this many paths.")
    ] = None,
    max_activities: Annotated[
        int | None, Query(ge=1, le=500, description="At most this many activities.")
    ] = None,
    finding: Annotated[
        str | None,
        Query(
            max_length=64,
            description="A finding id of this analysis: its characteristic paths are drawn "
            "highlighted (process map only).",
        ),
    ] = None,
) -> Response:
    """Draw a map: `process` (the order process) or `journey` (the exchange detours).

    Without limits, the map is filtered to a legible size. Results never change once an
    analysis is done, so maps are cached and carry an ETag.
    """
    path = await run_in_threadpool(
        store.map_file,
        owner,
        analysis_id,
        name.value,
        fmt.value,
        overlay.value,
        max_edges,
        max_activities,
        finding,
    )
    data = path.read_bytes()
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=3600"}
    wanted = [t.strip() for t in request.headers.get("if-none-match", "").split(",")]
    if etag in wanted or "*" in wanted:
        return Response(status_code=304, headers=headers)
    return Response(data, media_type=_MEDIA[fmt.value], headers=headers)
