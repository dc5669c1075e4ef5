# SPDX-License-Identifier: AGPL-3.0-or-later
"""Errors the service raises on purpose, each mapped to one HTTP status and problem type.

Library errors (:class:`procmine.LogError`, :class:`procmine.ConfigError`) are mapped in
:mod:`api.problems`; these are the ones that only exist over HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from procmine.errors import Problem, first_line

__all__ = [
    "ApiError",
    "Conflict",
    "EngineOutOfMemory",
    "InsufficientStorage",
    "InvalidRequest",
    "NotFound",
    "PayloadTooLarge",
    "TooManyRequests",
    "Unauthorized",
    "UnsupportedMediaType",
]


class ApiError(Exception):
    """Base: an HTTP status, a problem type slug, a title and a human-readable detail."""

    status = 500
    slug = "internal-error"
    title = "Internal error"

    def __init__(
        self,
        detail: str,
        *,
        problems: Sequence[Problem] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.problems = tuple(problems)
        self.headers = dict(headers or {})

    def problem(self) -> dict[str, Any]:
        """The problem document of this error, as a failed job records it."""
        doc: dict[str, Any] = {
            "type": f"/problems/{self.slug}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if self.problems:
            doc["problems"] = [p.to_dict() for p in self.problems]
        return doc


class NotFound(ApiError):
    """No such resource (or not visible with this API key)."""

    status = 404
    slug = "not-found"
    title = "Not found"


class Conflict(ApiError):
    """The resource is not in a state that allows the request (e.g. results not ready)."""

    status = 409
    slug = "conflict"
    title = "Conflict"


class InvalidRequest(ApiError):
    """The request itself is malformed (form fields, JSON), beyond what the schema checks."""

    status = 422
    slug = "invalid-request"
    title = "Invalid request"


class PayloadTooLarge(ApiError):
    """The upload exceeds PROCMINE_MAX_UPLOAD_BYTES."""

    status = 413
    slug = "upload-too-large"
    title = "Upload too large"


class UnsupportedMediaType(ApiError):
    """The request body is not of the media type the endpoint accepts."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


class Unauthorized(ApiError):
    """No API key, or one that is not configured."""

    status = 401
    slug = "unauthorized"
    title = "Unauthorized"


class TooManyRequests(ApiError):
    """The caller has used up its request rate (``Retry-After`` says for how long)."""

    status = 429
    slug = "too-many-requests"
    title = "Too many requests"


class InsufficientStorage(ApiError):
    """The data directory has no room for the upload or the result."""

    status = 507
    slug = "insufficient-storage"
    title = "Insufficient storage"


class EngineOutOfMemory(ApiError):
    """A query engine needed more memory than the service gives it, even spilling to disk
    (``PROCMINE_ENGINE_MEMORY``): the log is too big for this service's settings, which is
    for its operator to change, not the user's request."""

    status = 503
    slug = "engine-out-of-memory"
    title = "Not enough memory for this log"

    @classmethod
    def from_engine(cls, limit: int | None, exc: Exception) -> EngineOutOfMemory:
        """The error for DuckDB's out-of-memory ``exc`` under a cap of ``limit`` bytes."""
        cap = f"{_size(limit)} (PROCMINE_ENGINE_MEMORY)" if limit else "its memory"
        first = first_line(exc) or type(exc).__name__
        return cls(
            f"the query engine needed more than {cap}, even spilling to disk ({first}); "
            "nothing was kept. Raise PROCMINE_ENGINE_MEMORY, or lower PROCMINE_JOBS so that "
            "each engine has more, and try again."
        )


def _size(n: int) -> str:
    """Bytes for people: ``3.0 GiB``, ``512 MiB``."""
    return f"{n / 1024**3:.1f} GiB" if n >= 1024**3 else f"{n / 1024**2:.0f} MiB"
