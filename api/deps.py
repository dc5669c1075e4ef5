# SPDX-License-Identifier: AGPL-3.0-or-later
"""Request dependencies: the store, the job runner, the caller's identity, pagination."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader

from api.errors import TooManyRequests, Unauthorized
from api.jobs import JobRunner
from api.ratelimit import RateLimiter
from api.settings import Settings, hash_key
from api.store import Store

__all__ = [
    "Owner",
    "Paging",
    "current_owner",
    "get_runner",
    "get_settings",
    "get_store",
    "limit_rate",
    "owner_of_key",
    "page",
]

_api_key = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key (see `procmine keygen`). Needed when PROCMINE_API_KEYS is set.",
)


def get_store(request: Request) -> Store:
    """The service's store."""
    store: Store = request.app.state.store
    return store


def get_runner(request: Request) -> JobRunner:
    """The service's job runner."""
    runner: JobRunner = request.app.state.runner
    return runner


def get_settings(request: Request) -> Settings:
    """The settings the service was started with."""
    settings: Settings = request.app.state.settings
    return settings


def owner_of_key(settings: Settings, key: str) -> str | None:
    """The name of the configured key ``key`` is, or ``None``.

    Every configured digest is compared, in constant time, so the response time does not
    tell how much of a guessed key was right or which key was close.
    """
    digest = hash_key(key)
    owner = None
    for configured in settings.api_keys:
        if hmac.compare_digest(digest, configured.digest):
            owner = configured.name
    return owner


def limit_rate(request: Request, settings: Settings, owner: str) -> None:
    """Count a request of ``owner`` against its rate; :class:`TooManyRequests` when spent."""
    rate = settings.rate_for(owner)
    if rate is None:
        return
    limiter: RateLimiter = request.app.state.limiter
    # Without keys everyone is "", so the bucket is per client address instead.
    caller = owner if owner else f"address:{request.client.host if request.client else '?'}"
    wait = limiter.take(caller, rate)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise TooManyRequests(
            f"more than {rate} requests; try again in {seconds} s",
            headers={"Retry-After": str(seconds)},
        )


def current_owner(
    request: Request,
    settings: Annotated[Settings, Depends(get_settings)],
    key: Annotated[str | None, Security(_api_key)] = None,
) -> str:
    """The name of the caller's key ("" when the service runs without keys), after its
    request is counted against its rate."""
    if not settings.auth_required:
        limit_rate(request, settings, "")
        return ""
    if not key:
        raise Unauthorized(
            "this service needs an API key in the X-API-Key header",
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
        )
    owner = owner_of_key(settings, key)
    if owner is None:
        raise Unauthorized(
            "the API key is not valid",
            headers={"WWW-Authenticate": 'ApiKey header="X-API-Key"'},
        )
    limit_rate(request, settings, owner)
    return owner


Owner = Annotated[str, Depends(current_owner)]
StoreDep = Annotated[Store, Depends(get_store)]
RunnerDep = Annotated[JobRunner, Depends(get_runner)]


@dataclass(frozen=True)
class Paging:
    """``limit`` and ``offset`` query parameters."""

    limit: int
    offset: int


def paging(
    settings: Annotated[Settings, Depends(get_settings)],
    limit: Annotated[
        int | None, Query(ge=1, le=500, description="Items per page (default 50).")
    ] = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000, description="Items to skip.")] = 0,
) -> Paging:
    """Pagination parameters, with the service's default page size."""
    return Paging(limit=min(limit or settings.page_size, settings.max_page_size), offset=offset)


PagingDep = Annotated[Paging, Depends(paging)]


def page(request: Request, items: list[Any], total: int, paging: Paging) -> dict[str, Any]:
    """A page document with the URL of the next page."""
    following = paging.offset + paging.limit
    nxt = (
        str(request.url.include_query_params(offset=following, limit=paging.limit))
        if following < total
        else None
    )
    return {
        "items": items,
        "total": total,
        "limit": paging.limit,
        "offset": paging.offset,
        "next": nxt,
    }
