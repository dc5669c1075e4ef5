# SPDX-License-Identifier: AGPL-3.0-or-later
"""Is the service responsive while it analyses a very large log?

Starts ``procmine serve`` with a fresh data directory, uploads a small log and analyses it
(the analysis a dashboard watches), then uploads ``LOG`` (a large Parquet file, say ten
million events) and analyses it. While that analysis runs, ``--pollers`` dashboards ask for
``GET /health`` and ``GET /analyses/{small}/findings``, each waiting ``--pause`` between
requests as a dashboard does. Reports the latency of those requests (p50, p95, p99, max),
the upload and analysis times of the large log, and exits 1 on any failed request.

    python bench/service_big.py orders-10000000.parquet
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from service_load import _finished, _free_port, _percentile, _start

from procmine import __version__
from procmine.simulate import Simulation, simulate, write_log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log", type=Path, help="the large log to analyse (Parquet, CSV, ...)")
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument(
        "--pause", type=float, default=0.1, help="seconds between a poller's requests"
    )
    parser.add_argument("--jobs", type=int, default=1, help="PROCMINE_JOBS of the service")
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="procmine-big-"))
    small = work / "small.csv"
    write_log(simulate(Simulation(customers=200, seed=5)), small)
    port = _free_port()
    proc = _start(work / "data", port, args.jobs)
    base = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        with httpx.Client(base_url=base, timeout=3600) as c:
            with small.open("rb") as fh:
                log = c.post("/logs", files={"file": (small.name, fh)}).json()
            board = c.post(f"/logs/{log['id']}/analyses").json()["id"]
            _finished(c, board, 0.2)

            stop = threading.Event()

            def poll() -> None:
                with httpx.Client(base_url=base, timeout=60) as pc:
                    i = 0
                    while not stop.is_set():
                        url = "/health" if i % 2 else f"/analyses/{board}/findings"
                        t = time.perf_counter()
                        r = pc.get(url)
                        took = time.perf_counter() - t
                        with lock:
                            latencies.append(took)
                            if r.status_code != 200:
                                errors.append(f"{url}: {r.status_code}")
                        i += 1
                        time.sleep(args.pause)

            pollers = [threading.Thread(target=poll) for _ in range(args.pollers)]
            for t in pollers:
                t.start()
            t0 = time.perf_counter()
            with args.log.open("rb") as fh:
                r = c.post("/logs", files={"file": (args.log.name, fh)})
            if r.status_code != 201:
                errors.append(f"upload: {r.status_code} {r.text[:300]}")
            t1 = time.perf_counter()
            state = "not started"
            if r.status_code == 201:
                big = r.json()
                job = c.post(f"/logs/{big['id']}/analyses").json()
                state = _finished(c, job["id"], 0.5)
            t2 = time.perf_counter()
            stop.set()
            for t in pollers:
                t.join()
            if state != "done":
                errors.append(f"the large analysis ended {state}")
            events = r.json()["events"] if r.status_code == 201 else 0
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    ms = [x * 1000 for x in latencies]
    lines = [
        f"Measured on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, procmine {__version__}; service with "
        f"PROCMINE_JOBS={args.jobs}, client and service on loopback.",
        "",
        f"While the service reads and analyses a log of {events:,} events (upload and reading "
        f"{t1 - t0:.1f} s, analysis {t2 - t1:.1f} s), {args.pollers} dashboards ask for health "
        f"and the findings of another analysis, {args.pause * 1000:.0f} ms apart:",
        "",
        "| requests | p50 | p95 | p99 | max |",
        "|---:|---:|---:|---:|---:|",
        f"| {len(ms):,} | {_percentile(ms, 0.5):.0f} ms | {_percentile(ms, 0.95):.0f} ms | "
        f"{_percentile(ms, 0.99):.0f} ms | {max(ms):.0f} ms |",
        "",
        f"Errors: {len(errors)}" + (": " + "; ".join(errors[:10]) if errors else "."),
    ]
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", "utf-8")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
