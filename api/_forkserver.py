# SPDX-License-Identifier: AGPL-3.0-or-later
"""Imported by the analysis fork server when it starts (a preload module of api.jobs).

Ties the fork server's life to the service's: when the service dies, even by SIGKILL, the
kernel kills the fork server at once, and with it (see ``api.jobs.run_analysis``) every
analysis worker, so that no worker outlives a crashed service and races the job that the
restarted service queues again. Linux only (``prctl``); elsewhere this does nothing.
"""

from __future__ import annotations

import signal

__all__ = ["die_with_parent"]


def die_with_parent() -> None:
    """Ask the kernel to SIGKILL this process when the thread that started it exits."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
    except (OSError, AttributeError):  # not Linux: no prctl
        pass


def _in_the_fork_server() -> bool:
    try:
        with open("/proc/self/cmdline", "rb") as fh:
            return b"multiprocessing.forkserver import main" in fh.read()
    except OSError:
        return False


# Only in the fork server itself, never in the service or a test that imports this module.
if _in_the_fork_server():
    die_with_parent()
