# SPDX-License-Identifier: AGPL-3.0-or-later
"""Service settings, read from ``PROCMINE_*`` environment variables.

==========================  ==================  ==============================================
variable                    default             meaning
==========================  ==================  ==============================================
PROCMINE_DATA_DIR           ./procmine-data     uploaded logs (Parquet), results, the SQLite db
PROCMINE_API_KEYS           (none: open)        comma-separated ``name:sha256:<hex>`` entries,
                                                each optionally with ``;rate=120/min`` and
                                                ``;upload=100MB`` (that key's own limits)
PROCMINE_MAX_UPLOAD_BYTES   1GiB                largest accepted upload (``500MB``, ``2GiB``)
PROCMINE_RATE_LIMIT         1200/min            requests per key (per client without keys);
                                                ``off`` for none
PROCMINE_CORS_ORIGINS       (none)              comma-separated origins allowed by CORS
PROCMINE_JOBS               2                   analyses that run at the same time
PROCMINE_ENGINE_MEMORY      auto                memory each query engine (an analysis, an
                                                upload being read) may hold before it spills
                                                to disk: a size, ``auto`` (80% of the
                                                machine's or container's memory shared out
                                                among the jobs and one upload) or ``off``
                                                (DuckDB's own default, 80% for each)
==========================  ==================  ==============================================
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from api.ratelimit import Rate, parse_rate

__all__ = [
    "MIN_ENGINE_MEMORY",
    "ApiKey",
    "Settings",
    "SettingsError",
    "auto_engine_memory",
    "hash_key",
    "parse_size",
    "total_memory",
]

_SIZE = re.compile(r"^\s*(\d+)\s*(b|kb|kib|mb|mib|gb|gib|k|m|g)?\s*$", re.IGNORECASE)
_FACTORS = {
    "b": 1,
    "k": 1024,
    "kb": 1000,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1000**3,
    "gib": 1024**3,
}
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


class SettingsError(ValueError):
    """A ``PROCMINE_*`` variable has a value that cannot be used."""


def parse_size(text: str, *, name: str = "size") -> int:
    """``"1GiB"`` -> 1073741824; a bare number is bytes.

    >>> parse_size("500MB"), parse_size("2k"), parse_size("123")
    (500000000, 2048, 123)
    """
    match = _SIZE.match(text)
    if not match:
        raise SettingsError(f"{name}: {text!r} is not a size; write e.g. 1073741824, 500MB, 1GiB")
    value = int(match.group(1)) * _FACTORS[(match.group(2) or "b").lower()]
    if value <= 0:
        raise SettingsError(f"{name} must be positive")
    return value


def hash_key(key: str) -> str:
    """The SHA-256 hex digest under which an API key is configured and compared."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A configured API key: its owner's name, the SHA-256 digest of the secret, and the
    key's own request rate and upload size limits (the service's when ``None``)."""

    name: str
    digest: str
    rate: Rate | None = None
    max_upload_bytes: int | None = None


def _key_options(name: str, options: list[str]) -> tuple[Rate | None, int | None]:
    rate: Rate | None = None
    upload: int | None = None
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip()
        try:
            if key == "rate" and sep:
                rate = parse_rate(value, name=f"key {name!r} rate")
                if rate is None:
                    raise ValueError(f"key {name!r}: a key's rate cannot be 'off'")
            elif key == "upload" and sep:
                upload = parse_size(value, name=f"key {name!r} upload")
            else:
                raise ValueError(
                    f"key {name!r}: unknown option {option!r}; use rate=N/min or upload=SIZE"
                )
        except ValueError as exc:
            raise SettingsError(f"PROCMINE_API_KEYS: {exc}") from None
    return rate, upload


def _parse_keys(text: str) -> tuple[ApiKey, ...]:
    keys: list[ApiKey] = []
    for entry in (e.strip() for e in text.split(",")):
        if not entry:
            continue
        entry, *options = entry.split(";")
        name, sep, rest = entry.partition(":")
        if not sep or not name or not rest:
            raise SettingsError(
                "PROCMINE_API_KEYS: each entry is name:sha256:<hex digest> "
                "(create one with `procmine keygen NAME`)"
            )
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
            raise SettingsError(
                f"PROCMINE_API_KEYS: key name {name!r} may use letters, digits, '_', '.', '-'"
            )
        scheme, sep, digest = rest.partition(":")
        if scheme == "sha256" and sep:
            if not _HEX64.match(digest):
                raise SettingsError(
                    f"PROCMINE_API_KEYS: the digest of key {name!r} is not 64 hex characters"
                )
        elif scheme == "plain" and sep:
            # For development and tests only: the secret itself in the environment.
            digest = hash_key(digest)
        else:
            raise SettingsError(
                f"PROCMINE_API_KEYS: key {name!r} must be given as {name}:sha256:<hex digest>"
            )
        if any(k.name == name for k in keys):
            raise SettingsError(f"PROCMINE_API_KEYS: key name {name!r} appears twice")
        rate, upload = _key_options(name, options)
        keys.append(ApiKey(name=name, digest=digest, rate=rate, max_upload_bytes=upload))
    return tuple(keys)


#: Requests per minute per key by default: a dashboard polling every few seconds from dozens
#: of screens stays well below it; a runaway script does not.
DEFAULT_RATE = Rate(1200, 60)


#: Below this a query engine cannot hold one sort's working set of even a small log.
MIN_ENGINE_MEMORY = 128 * 1024**2


def total_memory(cgroup: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The memory this process may use: the machine's, or its container's when smaller
    (cgroup v2 ``memory.max`` or v1 ``memory/memory.limit_in_bytes`` under ``cgroup``);
    None when unknown."""
    found: list[int] = []
    with contextlib.suppress(OSError, ValueError, AttributeError):  # not POSIX
        found.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    for limit in (cgroup / "memory.max", cgroup / "memory" / "memory.limit_in_bytes"):
        try:
            text = limit.read_text().strip()
        except OSError:
            continue
        # "max" (v2) or a huge number (v1) means no limit.
        if text.isdigit() and int(text) < 2**60:
            found.append(int(text))
    return min(found) if found else None


def auto_engine_memory(jobs: int, total: int | None) -> int | None:
    """The engine memory of ``PROCMINE_ENGINE_MEMORY=auto``: 80% of ``total`` shared out
    among ``jobs`` analyses and one upload being read, and never below
    :data:`MIN_ENGINE_MEMORY`; None (DuckDB's default) when the total is unknown.

    >>> round(auto_engine_memory(2, 24 * 1024**3) / 1024**3, 2)  # 2 jobs, 24 GiB
    6.4
    """
    if total is None:
        return None
    return max(MIN_ENGINE_MEMORY, int(0.8 * total / (jobs + 1)))


def _engine_memory(text: str, jobs: int) -> int | None:
    name = "PROCMINE_ENGINE_MEMORY"
    value = text.strip().lower()
    if value == "auto":
        return auto_engine_memory(jobs, total_memory())
    if value == "off":
        return None
    size = parse_size(text, name=name)
    if size < MIN_ENGINE_MEMORY:
        raise SettingsError(
            f"{name}: {text!r} is too little for a query engine; give at least 128MiB "
            "(or 'auto', or 'off' for DuckDB's default)"
        )
    return size


def _rate(text: str) -> Rate | None:
    try:
        return parse_rate(text, name="PROCMINE_RATE_LIMIT")
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service needs to start; see the module docstring for the variables."""

    data_dir: Path = field(default_factory=lambda: Path("procmine-data"))
    api_keys: tuple[ApiKey, ...] = ()
    max_upload_bytes: int = 1024**3
    cors_origins: tuple[str, ...] = ()
    jobs: int = 2
    #: bytes each query engine may hold before it spills to disk; None for DuckDB's default
    engine_memory: int | None = None
    #: requests per key (per client address without keys); None for no limit
    rate_limit: Rate | None = DEFAULT_RATE
    #: rows per page when a client gives no limit, and the most it may ask for
    page_size: int = 50
    max_page_size: int = 500

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the ``PROCMINE_*`` variables (``os.environ`` by default)."""
        e = os.environ if env is None else env
        jobs_text = e.get("PROCMINE_JOBS", "2")
        if not jobs_text.strip().isdigit() or int(jobs_text) < 1:
            raise SettingsError(f"PROCMINE_JOBS: {jobs_text!r} is not a positive whole number")
        return cls(
            data_dir=Path(e.get("PROCMINE_DATA_DIR") or "procmine-data"),
            api_keys=_parse_keys(e.get("PROCMINE_API_KEYS", "")),
            max_upload_bytes=parse_size(
                e.get("PROCMINE_MAX_UPLOAD_BYTES", str(1024**3)), name="PROCMINE_MAX_UPLOAD_BYTES"
            ),
            cors_origins=tuple(
                o.strip() for o in e.get("PROCMINE_CORS_ORIGINS", "").split(",") if o.strip()
            ),
            jobs=int(jobs_text),
            engine_memory=_engine_memory(e.get("PROCMINE_ENGINE_MEMORY", "auto"), int(jobs_text)),
            rate_limit=_rate(e.get("PROCMINE_RATE_LIMIT", str(DEFAULT_RATE))),
        )

    def key(self, owner: str) -> ApiKey | None:
        """The configured key of ``owner``."""
        return next((k for k in self.api_keys if k.name == owner), None)

    def rate_for(self, owner: str) -> Rate | None:
        """The request rate ``owner`` may make (its key's own, else the service's)."""
        key = self.key(owner)
        return key.rate if key is not None and key.rate is not None else self.rate_limit

    def upload_limit_for(self, owner: str) -> int:
        """The largest upload ``owner`` may make (never above the service's limit)."""
        key = self.key(owner)
        own = key.max_upload_bytes if key is not None else None
        return min(own, self.max_upload_bytes) if own else self.max_upload_bytes

    @property
    def auth_required(self) -> bool:
        """Whether requests need an API key (any key configured)."""
        return bool(self.api_keys)
