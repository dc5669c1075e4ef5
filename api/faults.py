# SPDX-License-Identifier: AGPL-3.0-or-later
"""Named crash points, so that tests can kill the service at an exact moment of a write.

A SIGKILL from outside lands wherever the process happens to be; a write of results takes
milliseconds, so the crash tests could not hit it reliably. With
``PROCMINE_CRASH_AT=<point>`` in its environment, the service kills itself with SIGKILL (no
cleanup, no flush: as a power cut or the OOM killer would) when it reaches that point.
Without the variable a crash point costs one dictionary lookup.

>>> crash_point("results.staged")  # PROCMINE_CRASH_AT is not set: nothing happens
"""

from __future__ import annotations

import os
import signal

__all__ = ["CRASH_POINTS", "crash_point"]

#: The points the service passes while it stores an analysis's results.
CRASH_POINTS = frozenset(
    {
        "results.staged",  # one result file written of three, in the staging folder
        "results.renamed",  # every file in place, the database not yet told
        "findings.inserted",  # the findings rows inserted, their transaction not committed
    }
)


def crash_point(name: str) -> None:
    """Kill this process (and the service) with SIGKILL if ``PROCMINE_CRASH_AT`` names ``name``."""
    assert name in CRASH_POINTS, name
    if os.environ.get("PROCMINE_CRASH_AT") == name:
        # In an analysis worker, the service goes down with it: a machine that loses power
        # loses both (the worker sets PROCMINE_SERVICE_PID).
        service = os.environ.get("PROCMINE_SERVICE_PID")
        if service:
            os.kill(int(service), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
