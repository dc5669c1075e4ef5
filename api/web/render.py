# SPDX-License-Identifier: AGPL-3.0-or-later
"""HTML responses of the web page: the template environment and the security headers.

Templates are autoescaped, so every value from a log (activity names, ids, file names) is
written as text, never as markup. The only markup inserted raw is the SVG of the maps, which
Graphviz produces and in which it escapes every label. The Content-Security-Policy lets the
page load only its own scripts and styles, so even a value that slipped through could not run.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from procmine import __version__
from procmine._format import churn_text, figure, hours, money, percent
from procmine.render import format_duration_short

__all__ = ["SECURITY_HEADERS", "html", "is_page_request"]

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}

_env = Environment(
    loader=PackageLoader("api.web", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(
    fmt=figure,
    money=money,
    pct=percent,
    hours=hours,
    churn=churn_text,
    duration=format_duration_short,
    version=__version__,
)
_env.filters["tojson_pretty"] = lambda v: json.dumps(v, indent=2, default=str)


def html(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with ``context`` (plus the request and whether keys are on)."""
    settings = getattr(request.app.state, "settings", None)
    body = _env.get_template(template).render(
        request=request, auth=bool(settings and settings.auth_required), **context
    )
    return HTMLResponse(body, status_code=status_code, headers=SECURITY_HEADERS)


def is_page_request(request: Request) -> bool:
    """Whether an error should be answered with an HTML page (a browser on the web page)."""
    path = request.url.path
    web = path == "/" or path.startswith("/ui/")
    return web and "text/html" in request.headers.get("accept", "")
