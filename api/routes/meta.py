# SPDX-License-Identifier: AGPL-3.0-or-later
"""Health and the detector catalogue."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import Owner, RunnerDep, get_settings
from api.models import DetectorOut, Health
from api.problems import problem_responses
from procmine import __version__
from procmine.detect import registered

router = APIRouter(tags=["service"])


@router.get("/health", response_model=Health)
def health(request: Request, runner: RunnerDep) -> Any:
    """The service is up (no API key needed)."""
    return {
        "status": "ok",
        "version": __version__,
        "jobs": runner.busy,
        "auth": get_settings(request).auth_required,
    }


@router.get("/detectors", response_model=list[DetectorOut], responses=problem_responses())
def detectors(owner: Owner) -> Any:
    """The detectors an analysis can run, with their variants."""
    return [
        {
            "name": name,
            "title": cls.title,
            "description": cls.description,
            "variants": dict(cls.variants),
        }
        for name, cls in sorted(registered().items())
    ]
