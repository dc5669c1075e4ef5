# SPDX-License-Identifier: AGPL-3.0-or-later
"""PROCMINE_* settings, and the service's command-line entry points."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from api.settings import Settings, SettingsError, hash_key, parse_size


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
    ],
)
def test_bad_values_are_named(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: value})


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
