# SPDX-License-Identifier: AGPL-3.0-or-later
"""Analyses run as background jobs in a small thread pool.

Threads rather than processes: the heavy work happens inside DuckDB and NumPy, which release
the GIL, so the event loop keeps answering while an analysis runs. The job's state lives in the
database (api.store), not in memory, so a restart loses nothing: queued jobs are submitted
again and a job that was running is queued again (see ``Store.recover``).
"""

from __future__ import annotations

import errno
import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor

from api.problems import library_problem
from api.store import Store
from procmine.analysis import analyze
from procmine.engine import Engine
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


class _Stopping(Exception):
    """Raised inside a running analysis when the service shuts down."""


class JobRunner:
    """Runs queued analyses, at most ``workers`` at a time."""

    def __init__(self, store: Store, workers: int) -> None:
        self.store = store
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="analysis")
        self._stopping = threading.Event()
        self._futures: set[Future[None]] = set()
        self._lock = threading.Lock()

    def submit(self, analysis_id: str) -> None:
        """Run the queued analysis ``analysis_id`` when a worker is free."""
        future = self._pool.submit(self._run, analysis_id)
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
        """Stop: running analyses stop at their next step and go back to the queue."""
        self._stopping.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self, analysis_id: str) -> None:
        if self._stopping.is_set():
            return
        job = self.store.start(analysis_id)
        if job is None:
            return
        last = 0.0

        def progress(phase: str, fraction: float) -> None:
            nonlocal last
            if self._stopping.is_set():
                raise _Stopping
            now = time.monotonic()
            if now - last >= _PROGRESS_EVERY or fraction >= 1.0:
                last = now
                self.store.progress(analysis_id, phase, fraction)

        eng = Engine.duckdb(threads=self.store.engine_threads)
        try:
            run = self.store.run_config(job.request)
            progress("opening the log", 0.0)
            log = self.store.open_log(job.log_id, eng, materialize=True)
            if run.roles:
                log = log.with_roles(run.roles)
            analysis = analyze(log, run.analysis, progress=lambda m, f: progress(m, 0.9 * f))
            progress("storing the results", 0.95)
            self.store.save_result(analysis_id, analysis)
        except _Stopping:
            self.store.requeue(analysis_id)
        except (LogError, ConfigError) as exc:
            self.store.fail(analysis_id, library_problem(exc))
        except OSError as exc:
            if not _out_of_space(exc):
                _log.exception("analysis %s failed", analysis_id)
            self.store.fail(analysis_id, _storage_problem(exc))
        except ProcmineError as exc:
            self.store.fail(
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
            self.store.fail(
                analysis_id,
                {
                    "type": "/problems/internal-error",
                    "title": "Internal error",
                    "status": 500,
                    "detail": "the analysis failed unexpectedly; the service log has the details",
                },
            )
        finally:
            eng.backend.disconnect()
