# SPDX-License-Identifier: AGPL-3.0-or-later
"""The FastAPI application: ``uvicorn api.main:app`` or ``procmine serve``."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlencode

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api.drafts import Drafts
from api.jobs import JobRunner
from api.problems import install_handlers
from api.ratelimit import RateLimiter
from api.routes import analyses, findings, logs, maps, meta
from api.settings import Settings
from api.store import Store
from api.web import pages
from api.web.auth import LoginRequired
from procmine import __version__

__all__ = ["create_app"]  # and `app`, built on first use (see __getattr__)

_log = logging.getLogger("procmine.api")

DESCRIPTION = """\
Upload order-lifecycle event logs, analyse them as background jobs, and read the findings
(exchange detours, lost sales, ...) with their price in money, time and churn, and the
process maps.

The flow: `POST /logs` (multipart upload) → `GET /logs/{id}/preview` (confirm the mapping)
→ `POST /logs/{id}/analyses` (202) → poll `GET /analyses/{id}` until `done` →
`GET /analyses/{id}/findings` → `GET /findings/{id}` and
`GET /analyses/{id}/maps/process.svg`.

Every error is an RFC 9457 problem-details document (`application/problem+json`). When the
service runs with API keys, every endpoint but `/health` and `/openapi.json` needs the
`X-API-Key` header, and each key sees only the logs uploaded with it.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application (settings from ``PROCMINE_*`` variables by default)."""
    cfg = settings or Settings.from_env()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        threads = max(1, (os.cpu_count() or 1) // cfg.jobs)
        store = Store(cfg.data_dir, engine_threads=threads, engine_memory=cfg.engine_memory)
        runner = JobRunner(store, cfg.jobs)
        app.state.settings = cfg
        app.state.store = store
        app.state.runner = runner
        app.state.limiter = RateLimiter()
        app.state.drafts = Drafts(store)
        app.state.drafts.recover()
        queued = store.recover()
        for analysis_id in queued:
            runner.submit(analysis_id)
        _log.info(
            "procmine %s serving data in %s (%d analyses queued, API keys %s)",
            __version__,
            cfg.data_dir,
            len(queued),
            "required" if cfg.auth_required else "off",
        )
        try:
            yield
        finally:
            runner.shutdown()

    # The interactive docs (/docs) with Swagger UI's files served by the service itself, not
    # from a CDN: they work where the service has no internet (the typical on-premises
    # install), and no third-party script runs next to the API. No ReDoc page: it fetches
    # its logo from its maker's CDN whatever the options.
    app = FastAPIOffline(
        static_url="/docs/static",
        redoc_url=None,
        title="procmine",
        version=__version__,
        summary="Find the friction in order-lifecycle event logs and price it.",
        description=DESCRIPTION,
        license_info={"name": "AGPL-3.0-or-later", "identifier": "AGPL-3.0-or-later"},
        lifespan=lifespan,
    )
    if cfg.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cfg.cors_origins),
            allow_methods=["GET", "POST", "PUT", "DELETE"],
            allow_headers=["X-API-Key", "Content-Type", "If-None-Match"],
            expose_headers=["ETag", "Location"],
        )
    install_handlers(app)

    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: Exception) -> RedirectResponse:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/ui/login?{urlencode({'next': exc.next_url})}", 303)

    for module in (meta, logs, analyses, findings, maps):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.mount(
        "/ui/static",
        StaticFiles(directory=Path(pages.__file__).parent / "static"),
        name="static",
    )
    return app


_app: FastAPI | None = None


def __getattr__(name: str) -> FastAPI:
    # `uvicorn api.main:app` looks the app up by name; building it on first use (not at
    # import) means importing this module never reads the environment.
    global _app
    if name != "app":
        raise AttributeError(name)
    if _app is None:
        _app = create_app()
    return _app
