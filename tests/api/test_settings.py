# SPDX-License-Identifier: AGPL-3.0-or-later
"""PROCMINE_* settings, and the service's command-line entry points."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import (
    MIN_ENGINE_MEMORY,
    Settings,
    SettingsError,
    auto_engine_memory,
    hash_key,
    parse_size,
    total_memory,
)


def test_defaults_and_every_variable() -> None:
    default = Settings.from_env({})
    assert default.data_dir == Path("procmine-data")
    assert default.max_upload_bytes == 1024**3 and not default.auth_required
    s = Settings.from_env(
        {
            "PROCMINE_DATA_DIR": "/srv/pm",
            "PROCMINE_MAX_UPLOAD_BYTES": "2GiB",
            "PROCMINE_CORS_ORIGINS": "https://a.example, https://b.example",
            "PROCMINE_JOBS": "3",
        }
    )
    assert s.data_dir == Path("/srv/pm")
    assert s.max_upload_bytes == 2 * 1024**3
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert s.jobs == 3


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PROCMINE_MAX_UPLOAD_BYTES", "lots"),
        ("PROCMINE_MAX_UPLOAD_BYTES", "0"),
        ("PROCMINE_JOBS", "0"),
        ("PROCMINE_JOBS", "two"),
        ("PROCMINE_RATE_LIMIT", "fast"),
        ("PROCMINE_RATE_LIMIT", "0/min"),
        ("PROCMINE_API_KEYS", f"a:sha256:{'0' * 64};rate=lots"),
        ("PROCMINE_API_KEYS", f"a:sha256:{'0' * 64};rate=off"),
        ("PROCMINE_API_KEYS", f"a:sha256:{'0' * 64};upload=0"),
        ("PROCMINE_API_KEYS", f"a:sha256:{'0' * 64};colour=red"),
        ("PROCMINE_ENGINE_MEMORY", "plenty"),
        ("PROCMINE_ENGINE_MEMORY", "64MB"),
    ],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


def test_rate_and_upload_limits_per_key() -> None:
    default = Settings.from_env({})
    assert str(default.rate_limit) == "1200/min"
    s = Settings.from_env(
        {
            "PROCMINE_RATE_LIMIT": "10/s",
            "PROCMINE_MAX_UPLOAD_BYTES": "1GB",
            "PROCMINE_API_KEYS": f"a:sha256:{'0' * 64};rate=120/min;upload=50MB,"
            f"b:sha256:{'1' * 64};upload=5GB,c:plain:secret",
        }
    )
    assert [str(s.rate_for(k)) for k in ("a", "b", "c")] == ["120/min", "10/s", "10/s"]
    # A key's upload limit never exceeds the service's.
    assert [s.upload_limit_for(k) for k in ("a", "b", "c")] == [50_000_000, 10**9, 10**9]
    assert Settings.from_env({"PROCMINE_RATE_LIMIT": "off"}).rate_limit is None


def test_engine_memory_is_shared_out_among_the_jobs_by_default() -> None:
    total = total_memory()
    assert total is not None and 0 < total <= os.sysconf("SC_PAGE_SIZE") * os.sysconf(
        "SC_PHYS_PAGES"
    )
    one, four = (Settings.from_env({"PROCMINE_JOBS": str(n)}).engine_memory for n in (1, 4))
    # 80% of the memory among the jobs and one upload being read.
    assert one == int(0.8 * total / 2) and four == int(0.8 * total / 5)
    assert Settings.from_env({"PROCMINE_ENGINE_MEMORY": "3GiB"}).engine_memory == 3 * 1024**3
    assert Settings.from_env({"PROCMINE_ENGINE_MEMORY": "off"}).engine_memory is None
    auto = Settings.from_env({"PROCMINE_ENGINE_MEMORY": " Auto ", "PROCMINE_JOBS": "1"})
    assert auto.engine_memory == one
    # A small machine with many jobs still gives each engine enough to work.
    assert auto_engine_memory(64, 1024**3) == MIN_ENGINE_MEMORY
    assert auto_engine_memory(2, None) is None


@pytest.mark.parametrize(
    ("path", "text", "capped"),
    [
        ("memory.max", "8589934592\n", True),  # cgroup v2: docker run --memory 8g
        ("memory/memory.limit_in_bytes", "8589934592\n", True),  # cgroup v1
        ("memory.max", "max\n", False),  # v2 without a limit
        ("memory/memory.limit_in_bytes", "9223372036854771712\n", False),  # v1 without
    ],
)
def test_a_containers_memory_limit_is_the_total(
    tmp_path: Path, path: str, text: str, capped: bool
) -> None:
    machine = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(text)
    expected = min(machine, 8 * 1024**3) if capped else machine
    assert total_memory(tmp_path) == expected
    assert total_memory(tmp_path / "absent") == machine


def test_sizes() -> None:
    assert parse_size("1GiB") == 1024**3
    assert parse_size("10 mb") == 10_000_000


def test_keygen_prints_a_key_and_its_digest_entry() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from procmine.cli import main; main()", "keygen", "dashboard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    lines = dict(line.split(":", 1) for line in out.strip().splitlines())
    key = lines["key"].strip()
    assert lines["entry"].strip() == f"dashboard:sha256:{hash_key(key)}"
    assert Settings.from_env({"PROCMINE_API_KEYS": lines["entry"].strip()}).auth_required


def test_serve_refuses_bad_settings_without_a_traceback() -> None:
    r = subprocess.run(
        [sys.executable, "-c", "from procmine.cli import main; main()", "serve"],
        capture_output=True,
        text=True,
        env={"PROCMINE_JOBS": "none", "PATH": ""},
    )
    assert r.returncode == 2
    assert "PROCMINE_JOBS" in r.stderr and "Traceback" not in r.stderr
