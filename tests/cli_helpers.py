# SPDX-License-Identifier: AGPL-3.0-or-later
"""Run the ``procmine`` command line as a user would: a child process, its output captured."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path


def run_cli(
    *args: str,
    cwd: Path | None = None,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """``procmine ARGS`` with this interpreter, ``env`` added to the environment; never
    raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "procmine.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **env} if env else None,
        check=False,
    )
