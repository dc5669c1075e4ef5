# SPDX-License-Identifier: AGPL-3.0-or-later
"""Run the ``procmine`` command line as a user would: a child process, its output captured."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run_cli(
    *args: str, cwd: Path | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """``procmine ARGS`` with this interpreter; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "procmine.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        check=False,
    )
