# SPDX-License-Identifier: AGPL-3.0-or-later
"""One error shape for every error: RFC 9457 problem details (``application/problem+json``).

``type`` is a relative URI naming the kind of problem (``/problems/invalid-log``), or
``about:blank`` for plain HTTP errors (unknown route, wrong method); ``problems`` lists every
problem found in a log or a request, each with the column, row, line and value it concerns.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from api.errors import ApiError
from api.models import ProblemDetails, ProblemItem
from api.web.render import html, is_page_request
from procmine.errors import ConfigError, LogError

__all__ = ["PROBLEM_JSON", "install_handlers", "library_problem", "problem_responses"]

PROBLEM_JSON = "application/problem+json"

_log = logging.getLogger("procmine.api")

_DESCRIPTIONS = {
    400: "The request body cannot be parsed (not UTF-8 or not JSON).",
    401: "No API key, or an unknown one (header X-API-Key).",
    404: "No such resource, or not visible with this API key.",
    409: "The analysis is not done yet.",
    413: "The upload is larger than PROCMINE_MAX_UPLOAD_BYTES.",
    415: "The request body has the wrong media type.",
    422: "The log, the mapping or the parameters are wrong; `problems` lists every problem.",
    429: "Too many requests for this key (PROCMINE_RATE_LIMIT); `Retry-After` says when.",
    507: "The data directory is full; nothing of the request was kept.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these error statuses, and 401 (a key is needed when
    keys are on) and 429 (the caller's request rate is spent), which every route can give."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in sorted({401, 429, *statuses}):
        out[status] = {
            "description": _DESCRIPTIONS.get(status, HTTPStatus(status).phrase),
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/ProblemDetails"}}},
        }
    return out


def _response(
    request: Request,
    status: int,
    *,
    type_: str,
    title: str,
    detail: str,
    instance: str | None = None,
    problems: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    if is_page_request(request):
        # A browser on the web page gets a page it can read and leave, not a JSON document.
        page = html(
            request,
            "error.html",
            status,
            title=title,
            detail=detail,
            problems=problems or [],
        )
        if headers:
            page.headers.update(headers)
        return page
    body = ProblemDetails(
        type=type_,
        title=title,
        status=status,
        detail=detail,
        instance=instance,
        problems=None if problems is None else [ProblemItem.model_validate(p) for p in problems],
    )
    # Top-level members that do not apply are left out; inside a problem every key is
    # always present (null when it does not apply), so clients can read them uniformly.
    document = {k: v for k, v in body.model_dump().items() if v is not None}
    return JSONResponse(
        document,
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def library_problem(exc: LogError | ConfigError) -> dict[str, Any]:
    """The problem document of a library error: a bad log, or a bad mapping or parameter.

    Shared by the HTTP handlers and the job runner, so a job that fails on its parameters
    reports them exactly as a request refused up front would.
    """
    log = isinstance(exc, LogError)
    return {
        "type": "/problems/invalid-log" if log else "/problems/invalid-parameters",
        "title": "The log cannot be used" if log else "Invalid mapping or parameters",
        "status": 422,
        "detail": exc.summary,
        "problems": [p.to_dict() for p in exc.problems],
    }


def install_handlers(app: FastAPI) -> None:
    """Register the exception handlers that turn every error into problem details."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        return _response(
            request,
            exc.status,
            type_=f"/problems/{exc.slug}",
            title=exc.title,
            detail=exc.detail,
            instance=request.url.path,
            problems=[p.to_dict() for p in exc.problems] or None,
            headers=exc.headers or None,
        )

    async def library_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LogError | ConfigError)
        doc = library_problem(exc)
        return _response(
            request,
            doc["status"],
            type_=doc["type"],
            title=doc["title"],
            detail=doc["detail"],
            instance=request.url.path,
            problems=doc["problems"],
        )

    app.add_exception_handler(LogError, library_error)
    app.add_exception_handler(ConfigError, library_error)

    @app.exception_handler(RequestValidationError)
    async def request_error(request: Request, exc: RequestValidationError) -> Response:
        problems: list[dict[str, Any]] = []
        for err in exc.errors():
            where = ".".join(str(part) for part in err.get("loc", ()))
            value = err.get("input")
            problems.append(
                {
                    "code": "invalid_request",
                    "message": f"{where}: {err.get('msg', 'invalid')}",
                    "column": None,
                    "row": None,
                    "line": None,
                    "value": None if isinstance(value, dict | list) else _short(value),
                    "count": None,
                    "severity": "error",
                }
            )
        return _response(
            request,
            422,
            type_="/problems/invalid-request",
            title="Invalid request",
            detail=str(problems[0]["message"]) if problems else "the request is invalid",
            instance=request.url.path,
            problems=problems,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        headers = dict(exc.headers) if exc.headers else {}
        if exc.status_code == 405:
            # Starlette names only the first matching route's methods; GET and POST of one
            # path are separate routes here, so collect them all.
            headers["Allow"] = ", ".join(_allowed_methods(app, request.url.path))
        phrase = HTTPStatus(exc.status_code).phrase
        detail: str | None = (
            exc.detail if isinstance(exc.detail, str) and exc.detail != phrase else None
        )
        return _response(
            request,
            exc.status_code,
            type_="about:blank",
            title=phrase,
            detail=detail if detail else f"{request.method} {request.url.path}: {phrase.lower()}",
            instance=request.url.path,
            headers=headers or None,
        )

    @app.exception_handler(ClientDisconnect)
    async def client_gone(request: Request, exc: ClientDisconnect) -> Response:
        # The client hung up mid-upload (its partial file is already removed): nobody reads
        # this answer, and it is not the service's failure.
        _log.info("client disconnected during %s %s", request.method, request.url.path)
        return Response(status_code=400)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> Response:
        _log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _response(
            request,
            500,
            type_="/problems/internal-error",
            title="Internal error",
            detail="the service failed unexpectedly; its log has the details",
            instance=request.url.path,
        )


def _allowed_methods(app: FastAPI, path: str) -> list[str]:
    methods: set[str] = set()
    for route in app.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _short(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value)
    return text if len(text) <= 200 else text[:197] + "..."
