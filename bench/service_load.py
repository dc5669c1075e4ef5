# SPDX-License-Identifier: AGPL-3.0-or-later
"""The service under load: analysts uploading and analysing while dashboards poll findings.

Starts ``procmine serve`` on a loopback port with a fresh data directory, then, at the same
time:

* ``--uploaders`` clients each upload their own simulated order log (a different seed each,
  so results that got mixed up would show), start an analysis, poll it until it is done and
  read its findings, which must equal what the library finds in the same file;
* ``--pollers`` dashboard clients poll ``GET /analyses/{id}/findings`` of an earlier analysis
  and ``GET /health`` without pause until the uploaders are done (or ``--polls`` each).

Reports throughput and latency (p50, p95, p99, max) of the polls, the upload and analysis
times, and every error; exits 1 on any error or wrong result. The rate limit is switched off
(all clients share one address). The client runs in one Python process with one thread per
client, so its own overhead is part of the latencies.

    python bench/service_load.py                            # 8 uploaders, 50 pollers
    python bench/service_load.py --uploaders 2 --pollers 4 --customers 60   # a smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

from procmine import __version__, analyze, read_log
from procmine.simulate import Simulation, simulate, write_log


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(data: Path, port: int, jobs: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PROCMINE_DATA_DIR": str(data),
        "PROCMINE_JOBS": str(jobs),
        "PROCMINE_RATE_LIMIT": "off",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from procmine.cli import main; main()",
            "serve",
            "--port",
            str(port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("the service did not start")


def _finished(client: httpx.Client, analysis_id: str, pause: float) -> str:
    """Ask for an analysis's state every ``pause`` seconds until it is done or failed."""
    while (state := client.get(f"/analyses/{analysis_id}").json()["state"]) not in (
        "done",
        "failed",
    ):
        time.sleep(pause)
    return str(state)


def _expected(path: Path) -> dict[str, int]:
    return {f.id: len(f.instances) for f in analyze(read_log(path)).findings}


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploaders", type=int, default=8)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--customers", type=int, default=400, help="per uploaded log")
    parser.add_argument("--jobs", type=int, default=2, help="PROCMINE_JOBS of the service")
    parser.add_argument(
        "--polls", type=int, default=0, help="polls per dashboard (default: until the end)"
    )
    parser.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="procmine-load-"))
    logs = []
    for i in range(args.uploaders + 1):
        path = work / f"orders-{i}.csv"
        write_log(simulate(Simulation(customers=args.customers, seed=100 + i)), path)
        logs.append(path)
    expected = {p.name: _expected(p) for p in logs}
    with logs[1].open() as fh:
        events = sum(1 for _ in fh) - 1
    port = _free_port()
    proc = _start(work / "data", port, args.jobs)
    base = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    lock = threading.Lock()

    def fail(message: str) -> None:
        with lock:
            errors.append(message)

    try:
        with httpx.Client(base_url=base, timeout=300) as c, logs[0].open("rb") as fh:
            log = c.post("/logs", files={"file": (logs[0].name, fh)}).json()
            board = c.post(f"/logs/{log['id']}/analyses").json()["id"]
            _finished(c, board, 0.2)

        stop = threading.Event()
        latencies: list[float] = []
        timings: list[tuple[float, float]] = []

        def poll() -> None:
            with httpx.Client(base_url=base, timeout=60) as c:
                i = 0
                while not stop.is_set() and not (args.polls and i >= args.polls):
                    url = "/health" if i % 5 == 4 else f"/analyses/{board}/findings"
                    t = time.perf_counter()
                    r = c.get(url)
                    took = time.perf_counter() - t
                    if r.status_code != 200:
                        fail(f"poll {url}: {r.status_code}")
                    with lock:
                        latencies.append(took)
                    i += 1

        def analyse(path: Path) -> None:
            with httpx.Client(base_url=base, timeout=600) as c, path.open("rb") as fh:
                t0 = time.perf_counter()
                r = c.post("/logs", files={"file": (path.name, fh)})
                if r.status_code != 201:
                    fail(f"upload {path.name}: {r.status_code} {r.text[:200]}")
                    return
                t1 = time.perf_counter()
                job = c.post(f"/logs/{r.json()['id']}/analyses").json()
                state = _finished(c, job["id"], 0.25)
                t2 = time.perf_counter()
                if state != "done":
                    fail(f"analysis of {path.name} {state}")
                    return
                items = c.get(f"/analyses/{job['id']}/findings", params={"limit": 500}).json()
                got = {f["key"]: f["instances"] for f in items["items"]}
                if got != expected[path.name]:
                    fail(f"{path.name}: findings {got} differ from the library's")
                with lock:
                    timings.append((t1 - t0, t2 - t1))

        pollers = [threading.Thread(target=poll) for _ in range(args.pollers)]
        uploaders = [threading.Thread(target=analyse, args=(p,)) for p in logs[1:]]
        started = time.perf_counter()
        for t in pollers + uploaders:
            t.start()
        for t in uploaders:
            t.join()
        wall = time.perf_counter() - started
        stop.set()
        for t in pollers:
            t.join()
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)

    ms = [x * 1000 for x in latencies]
    uploads = [u for u, _ in timings]
    runs = [a for _, a in timings]
    lines = [
        f"Measured on {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, procmine {__version__}; service with "
        f"PROCMINE_JOBS={args.jobs}, client and service on loopback.",
        "",
        f"{args.uploaders} analysts each upload a log of about {events:,} events and analyse "
        f"it while {args.pollers} dashboards poll findings and health without pause"
        + (f", {args.polls} times each" if args.polls else "")
        + f" ({wall:.1f} s in all):",
        "",
        "| | count | throughput | p50 | p95 | p99 | max |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| dashboard polls | {len(ms):,} | {len(ms) / wall:,.0f}/s | "
        f"{_percentile(ms, 0.5):.0f} ms | {_percentile(ms, 0.95):.0f} ms | "
        f"{_percentile(ms, 0.99):.0f} ms | {max(ms):.0f} ms |",
        f"| uploads | {len(uploads)} | | {statistics.median(uploads):.2f} s | | | "
        f"{max(uploads):.2f} s |",
        f"| analyses (queued + run) | {len(runs)} | | {statistics.median(runs):.2f} s | | | "
        f"{max(runs):.2f} s |",
        "",
        f"Errors: {len(errors)}; every analysis's findings equal the library's on its file.",
    ]
    if errors:
        lines[-1] = f"Errors: {len(errors)}: " + "; ".join(errors[:10])
    report = "\n".join(lines)
    print(report)
    if args.out:
        args.out.write_text(report + "\n", "utf-8")
    return 1 if errors or len(timings) != args.uploaders else 0


if __name__ == "__main__":
    sys.exit(main())
