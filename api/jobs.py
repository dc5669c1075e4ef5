# SPDX-License-Identifier: AGPL-3.0-or-later
"""Analyses run as background jobs, each in a worker process of its own.

Processes rather than threads:
* the Python parts of an analysis (Ibis expression building, scoring, rendering) hold the
  GIL, and in threads they slowed the service's answers to seconds under load;
* a job that runs out of memory or crashes takes down its worker, not the service, and its
  analysis is marked failed with the reason;
* a DuckDB connection and its objects never meet another thread (a job once failed with
  "connection is busy" under load, most likely from a finalizer run by another thread).

Workers are forked from a ``forkserver``, a clean single-threaded process that has imported
procmine, so a worker starts in milliseconds without copying the service's threads. A small
thread pool in the service supervises them, at most ``workers`` at a time. The job's state
lives in the database (api.store), which workers write themselves, so a restart loses
nothing: queued jobs are submitted again and a job that was running is queued again (see
``Store.recover``).
"""

from __future__ import annotations

import errno
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from api._forkserver import die_with_parent
from api.errors import EngineOutOfMemory
from api.problems import library_problem
from api.store import Store
from procmine.analysis import analyze
from procmine.errors import ConfigError, LogError, ProcmineError

__all__ = ["JobRunner"]

_log = logging.getLogger("procmine.api")

#: Progress is written to the database at most this often (seconds).
_PROGRESS_EVERY = 0.5


def _out_of_space(exc: OSError) -> bool:
    # pyarrow's writer reports ENOSPC in its message and without an errno.
    return exc.errno in _NO_SPACE or "No space left" in str(exc)


_NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _storage_problem(exc: OSError) -> dict[str, object]:
    if _out_of_space(exc):
        return {
            "type": "/problems/insufficient-storage",
            "title": "Insufficient storage",
            "status": 507,
            "detail": (
                "the data directory is full: the results could not be written and nothing of "
                "them was kept; free space and request the analysis again"
            ),
        }
    return {
        "type": "/problems/internal-error",
        "title": "Internal error",
        "status": 500,
        "detail": f"the results could not be written ({exc.strerror or 'I/O error'}); the "
        "service log has the details",
    }


#: Workers are forked from here; preloading makes their start cheap.
_CONTEXT = multiprocessing.get_context("forkserver")
# scipy.stats too: root causes need it, and it takes half a second to import.
_CONTEXT.set_forkserver_preload(
    ["api._forkserver", "procmine.analysis", "api.store", "scipy.stats"]
)
#: How often a supervising thread looks at its worker and at the stop flag (seconds).
_WATCH_EVERY = 0.1


class JobRunner:
    """Runs queued analyses in worker processes, at most ``workers`` at a time."""

    def __init__(self, store: Store, workers: int) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analysis")
        self._stopping = threading.Event()
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()
        # Start the fork server now, not with the first analysis: it imports procmine once.
        multiprocessing.forkserver.ensure_running()

    def submit(self, analysis_id: str) -> None:
        """Run the queued analysis ``analysis_id`` when a worker is free."""
        future = self._pool.submit(self._supervise, analysis_id)
        with self._lock:
            self._futures.add(future)
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._futures.discard(future)

    @property
    def busy(self) -> int:
        """Jobs submitted and not yet finished."""
        with self._lock:
            return len(self._futures)

    def shutdown(self) -> None:
        """Stop: running analyses are stopped and go back to the queue."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _supervise(self, analysis_id: str) -> None:
        if self._stopping.is_set():
            return
        if self.store.start(analysis_id) is None:
            return
        worker = _CONTEXT.Process(
            target=run_analysis,
            args=(
                str(self.store.root),
                self.store.engine_threads,
                self.store.engine_memory,
                analysis_id,
                os.getpid(),
            ),
            name=f"procmine-analysis-{analysis_id}",
            daemon=True,
        )
        try:
            worker.start()
            while worker.exitcode is None:
                worker.join(_WATCH_EVERY)
                if self._stopping.is_set() and worker.exitcode is None:
                    worker.kill()
                    worker.join()
                    self.store.requeue(analysis_id)
                    return
        except Exception:
            _log.exception("analysis %s: the worker could not be run", analysis_id)
            self.store.fail(analysis_id, _INTERNAL)
            return
        code = worker.exitcode
        worker.close()
        if code != 0:
            # The worker records its own end; one that died (a signal, most often the OOM
            # killer's SIGKILL) could not, and its job would stay "running" until a restart.
            _log.error("analysis %s: its worker died (exit code %s)", analysis_id, code)
            self.store.fail(analysis_id, _died(code), only_running=True)


_INTERNAL = {
    "type": "/problems/internal-error",
    "title": "Internal error",
    "status": 500,
    "detail": "the analysis failed unexpectedly; the service log has the details",
}


def _died(code: int | None) -> dict[str, Any]:
    how = f"was killed by signal {-code}" if code is not None and code < 0 else "crashed"
    if code == -signal.SIGKILL:
        how += ", most likely by the system for lack of memory"
    return {
        "type": "/problems/analysis-died",
        "title": "Analysis process died",
        "status": 500,
        "detail": (
            f"the process running this analysis {how}; nothing of its results was kept. "
            "Request it again; if it recurs, give the service more memory or lower "
            "PROCMINE_JOBS so that each analysis has more."
        ),
    }


def run_analysis(
    root: str, threads: int, memory: int | None, analysis_id: str, service_pid: int
) -> None:
    """The worker: run one analysis that the service has marked running, and record its end.

    Every outcome is written to the database here: results and ``done``, or ``failed`` with
    a problem document. Runs in its own process (see the module docstring).
    """
    die_with_parent()  # the fork server dies with the service, and this worker with it
    # Ctrl-C in a terminal reaches the whole process group; the service stops its workers.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ["PROCMINE_SERVICE_PID"] = str(service_pid)  # for api.faults
    store = Store(Path(root), engine_threads=threads, engine_memory=memory)
    job = store.job(analysis_id)
    if job is None:  # deleted with its log since it started
        return
    last = 0.0

    def progress(phase: str, fraction: float) -> None:
        nonlocal last
        now = time.monotonic()
        if now - last >= _PROGRESS_EVERY or fraction >= 1.0:
            last = now
            store.progress(analysis_id, phase, fraction)

    try:
        # The engine's out-of-memory error comes out of the block as EngineOutOfMemory.
        with store.engine() as eng:
            run = store.run_config(job.request)
            progress("opening the log", 0.0)
            log = store.open_log(job.log_id, eng, materialize=True)
            if run.roles:
                log = log.with_roles(run.roles)
            analysis = analyze(log, run.analysis, progress=lambda m, f: progress(m, 0.9 * f))
            progress("storing the results", 0.95)
            store.save_result(analysis_id, analysis, attempt=job.attempts)
    except (LogError, ConfigError) as exc:
        store.fail(analysis_id, library_problem(exc))
    except EngineOutOfMemory as exc:
        _log.warning("analysis %s: %s", analysis_id, exc.detail)
        store.fail(analysis_id, exc.problem())
    except OSError as exc:
        if not _out_of_space(exc):
            _log.exception("analysis %s failed", analysis_id)
        store.fail(analysis_id, _storage_problem(exc))
    except ProcmineError as exc:
        store.fail(
            analysis_id,
            {
                "type": "/problems/analysis-failed",
                "title": "Analysis failed",
                "status": 500,
                "detail": str(exc),
            },
        )
    except Exception:
        _log.exception("analysis %s failed", analysis_id)
        store.fail(analysis_id, _INTERNAL)
