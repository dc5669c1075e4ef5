# SPDX-License-Identifier: AGPL-3.0-or-later
"""Who is using the web page: the API key, entered once and kept in a cookie.

A browser cannot add an ``X-API-Key`` header to a link or a form, so the page asks for the key
once and keeps it in an ``HttpOnly``, ``SameSite=Strict`` cookie (``Secure`` over HTTPS). The
cookie is only read by the page's own routes (``/`` and ``/ui/...``); the REST API still takes
the header alone. ``SameSite=Strict`` keeps other sites' forms from riding on the cookie, and
every state-changing request must also come from this origin (:func:`same_origin`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request

from api.deps import get_settings, limit_rate, owner_of_key
from api.errors import ApiError
from api.settings import Settings

__all__ = ["COOKIE", "LoginRequired", "WebOwner", "safe_next", "same_origin", "web_owner"]

COOKIE = "procmine_key"


class LoginRequired(Exception):
    """The page needs a key first; ``next`` is where to go after logging in."""

    def __init__(self, next_url: str) -> None:
        super().__init__(next_url)
        self.next_url = next_url


class CrossOrigin(ApiError):
    """A state-changing request that did not come from this service's own pages."""

    status = 403
    slug = "cross-origin"
    title = "Forbidden"


def safe_next(value: str | None) -> str:
    """A local path to return to after logging in (anything else becomes ``/``).

    >>> safe_next("/ui/logs/log_1?x=1"), safe_next("//evil.example/"), safe_next("https://x")
    ('/ui/logs/log_1?x=1', '/', '/')
    """
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def web_owner(request: Request, settings: Annotated[Settings, Depends(get_settings)]) -> str:
    """The owner of the key in the cookie ("" without keys); else :class:`LoginRequired`."""
    if not settings.auth_required:
        limit_rate(request, settings, "")
        return ""
    key = request.cookies.get(COOKIE)
    owner = owner_of_key(settings, key) if key else None
    if owner is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise LoginRequired(safe_next(target if request.method == "GET" else "/"))
    limit_rate(request, settings, owner)
    return owner


def same_origin(request: Request) -> None:
    """Refuse a state-changing request whose ``Origin`` (or ``Referer``) is another site."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if origin is None:
        return  # not sent by browsers on every request; SameSite=Strict still applies
    host = request.headers.get("host", "")
    if urlsplit(origin).netloc != host:
        raise CrossOrigin(f"a request from {origin!r} cannot change data on this service")


WebOwner = Annotated[str, Depends(web_owner)]
SameOrigin = Depends(same_origin)
