# SPDX-License-Identifier: AGPL-3.0-or-later
"""Shared fixtures: the real public logs beside the project, and small logs built in code."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT.parent / "shared" / "data").resolve()
sys.path.insert(0, str(Path(__file__).resolve().parent))


def shared(relative: str) -> Path:
    """A file under ../shared/data, or a clean skip when it is not there."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared data not available: {relative}")
    return path


@pytest.fixture(name="engine")
def fixture_engine() -> Iterator[object]:
    """A fresh embedded DuckDB engine per test."""
    from procmine.engine import Engine

    eng = Engine.duckdb(threads=1)
    yield eng
    eng.raw.close()


@pytest.fixture(name="tmp_csv")
def fixture_tmp_csv(tmp_path: Path):  # type: ignore[no-untyped-def]
    """Write text (or bytes) to a CSV file under tmp_path and return its path."""

    def write(content: str | bytes, name: str = "log.csv") -> Path:
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    return write


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The real REST service, shared by the tests of one module (no API keys)."""
    from api_helpers import Service

    svc = Service(tmp_path_factory.mktemp("svc") / "data")
    yield svc
    svc.stop()


@pytest.fixture
def api(service: Any) -> Iterator[Any]:
    """An HTTP client of the shared service."""
    with service.client() as client:
        yield client
