# SPDX-License-Identifier: AGPL-3.0-or-later
"""Restarts and crashes lose nothing; concurrent clients get their own, correct results."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from api_helpers import SAMPLE, Service, half_upload, upload, wait_done

from api.faults import CRASH_POINTS
from procmine.simulate import Simulation, simulate, write_log


@pytest.fixture
def fresh(tmp_path: Path):  # type: ignore[no-untyped-def]
    svc = Service(tmp_path / "data", env={"PROCMINE_JOBS": "1"})
    yield svc
    svc.stop()


def _snapshot(client: Any, log_id: str, analysis_id: str) -> dict[str, Any]:
    findings = client.get(f"/analyses/{analysis_id}/findings", params={"limit": 500}).json()
    top = findings["items"][0]
    return {
        "log": client.get(f"/logs/{log_id}").json(),
        "analysis": client.get(f"/analyses/{analysis_id}").json(),
        "findings": findings,
        "instances": client.get(f"/findings/{top['id']}", params={"limit": 500}).json(),
        "csv": client.get(f"/findings/{top['id']}/instances.csv").text,
        "map": client.get(f"/analyses/{analysis_id}/maps/process.dot").text,
    }


def test_a_crash_in_the_middle_loses_nothing_and_reruns_the_interrupted_job(
    fresh: Service,
) -> None:
    with fresh.client() as client:
        log = upload(client, SAMPLE).json()
        done = wait_done(client, client.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
        before = _snapshot(client, log["id"], done["id"])
        # A slow job (many bootstrap replicates), killed while it runs.
        slow = client.post(
            f"/logs/{log['id']}/analyses", json={"churn": {"bootstrap": 60000}}
        ).json()
        deadline = time.monotonic() + 60
        while client.get(f"/analyses/{slow['id']}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        queued = client.post(f"/logs/{log['id']}/analyses", json={"windows": {"cancel": "5d"}})
        assert queued.json()["state"] == "queued"  # one worker: it waits behind the slow job

    fresh.restart(kill=True)  # SIGKILL: no chance to clean up

    with fresh.client() as client:
        assert _snapshot(client, log["id"], done["id"]) == before
        rerun = wait_done(client, slow["id"])
        assert rerun["state"] == "done" and rerun["attempts"] == 2, rerun
        assert wait_done(client, queued.json()["id"])["state"] == "done"
        assert client.get("/logs").json()["total"] == 1
    assert not list((fresh.data_dir / "uploads").iterdir())


def test_a_job_interrupted_too_often_is_marked_failed(fresh: Service) -> None:
    with fresh.client() as client:
        log = upload(client, SAMPLE).json()
        job = client.post(f"/logs/{log['id']}/analyses", json={"churn": {"bootstrap": 90000}})
        job_id = job.json()["id"]
    for _ in range(2):
        with fresh.client() as client:
            deadline = time.monotonic() + 60
            while client.get(f"/analyses/{job_id}").json()["state"] != "running":
                assert time.monotonic() < deadline
                time.sleep(0.05)
        fresh.restart(kill=True)
    with fresh.client() as client:
        failed = client.get(f"/analyses/{job_id}").json()
        assert failed["state"] == "failed"
        assert failed["error"]["type"] == "/problems/analysis-interrupted"
        # Asking again runs it again (a failed analysis is never reused).
        again = client.post(f"/logs/{log['id']}/analyses", json={"churn": {"bootstrap": 90000}})
        assert again.status_code == 202 and again.json()["id"] != job_id


def test_a_graceful_stop_requeues_the_running_job(fresh: Service) -> None:
    with fresh.client() as client:
        log = upload(client, SAMPLE).json()
        job_id = client.post(
            f"/logs/{log['id']}/analyses", json={"churn": {"bootstrap": 60000}}
        ).json()["id"]
        deadline = time.monotonic() + 60
        while client.get(f"/analyses/{job_id}").json()["state"] != "running":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    fresh.restart()  # SIGTERM
    with fresh.client() as client:
        result = wait_done(client, job_id)
        assert result["state"] == "done" and result["attempts"] == 1


def test_concurrent_uploads_and_analyses_do_not_mix(service: Service, tmp_path: Path) -> None:
    paths = []
    for seed in (1, 2):
        path = tmp_path / f"shop{seed}.csv"
        write_log(simulate(Simulation(customers=100, seed=seed)), path)
        paths.append(path)
    results: dict[str, Any] = {}
    errors: list[BaseException] = []

    def run(path: Path) -> None:
        try:
            with service.client() as client:
                log = upload(client, path).json()
                analysis = client.post(f"/logs/{log['id']}/analyses", json={}).json()
                done = wait_done(client, analysis["id"])
                items = client.get(
                    f"/analyses/{done['id']}/findings", params={"limit": 500}
                ).json()["items"]
                results[path.name] = (log, {f["key"]: f["instances"] for f in items})
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(p,)) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not errors, errors
    from procmine import analyze, read_log

    for path in paths:
        log, counts = results[path.name]
        assert log["name"] == path.name
        expected = analyze(read_log(path))
        assert log["events"] == expected.log.stats.events
        assert counts == {f.id: len(f.instances) for f in expected.findings}


def _leftovers(service: Service) -> list[str]:
    return sorted(
        str(p.relative_to(service.data_dir))
        for sub in ("uploads", "logs", "drafts")
        for p in (service.data_dir / sub).iterdir()
    )


def test_a_crash_during_an_upload_leaves_nothing_half_written(fresh: Service) -> None:
    with half_upload(fresh.port, SAMPLE.read_bytes()):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not _leftovers(fresh):
            time.sleep(0.05)
        assert _leftovers(fresh), "the upload never reached the disk"
        fresh.restart(kill=True)
    assert _leftovers(fresh) == []
    with fresh.client() as client:
        assert client.get("/logs").json()["total"] == 0
        assert upload(client, SAMPLE).status_code == 201


def test_a_full_disk_during_an_upload_is_refused_cleanly(tmp_path: Path) -> None:
    # What is in it does not matter: the write fails before anything reads it.
    big = tmp_path / "big.csv"
    big.write_bytes(SAMPLE.read_bytes() * 4)
    assert big.stat().st_size > 3_000_000 > 2 * SAMPLE.stat().st_size
    svc = Service(tmp_path / "data", file_size_limit=3_000_000)
    try:
        with svc.client() as client:
            r = client.post("/logs", files={"file": ("big.csv", big.read_bytes())})
            assert r.status_code == 507, r.text
            assert "nothing was kept" in r.json()["detail"]
            assert _leftovers(svc) == []
            # The service goes on, and a log that fits is stored.
            assert upload(client, SAMPLE).status_code == 201
            assert client.get("/health").status_code == 200
    finally:
        svc.stop()


def _consistent(service: Service) -> None:
    """What is on disk and in the database agrees: done analyses have every result file and
    their findings, nothing half-written is left, no result exists without its row."""
    import sqlite3

    with sqlite3.connect(service.data_dir / "procmine.sqlite") as db:
        done = dict(
            db.execute("SELECT id, findings_count FROM analyses WHERE state = 'done'").fetchall()
        )
        counts = dict(
            db.execute("SELECT analysis_id, count(*) FROM findings GROUP BY 1").fetchall()
        )
    folders = {p.name for p in (service.data_dir / "analyses").iterdir()}
    assert folders == set(done), "result folders without a done analysis, or the reverse"
    for analysis_id, n in done.items():
        folder = service.data_dir / "analyses" / analysis_id
        assert {"instances.parquet", "process.json", "journey.json"} <= {
            p.name for p in folder.iterdir()
        }
        assert counts.get(analysis_id, 0) == n


def test_kills_at_any_moment_of_an_analysis_leave_a_consistent_store(fresh: Service) -> None:
    """SIGKILL at points spread over a whole analysis, the write of its results included:
    after every restart the store is consistent, and the job finishes in the end."""
    with fresh.client() as client:
        log = upload(client, SAMPLE).json()
        t0 = time.monotonic()
        wait_done(client, client.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
        took = time.monotonic() - t0
    for i, share in enumerate((0.3, 0.6, 0.8, 0.9, 0.95, 1.0)):
        with fresh.client() as client:
            job = client.post(
                f"/logs/{log['id']}/analyses", json={"windows": {"cancel": f"{i + 2}d"}}
            ).json()
            time.sleep(took * share)
        fresh.restart(kill=True)
        _consistent(fresh)
        with fresh.client() as client:
            assert wait_done(client, job["id"])["state"] == "done"
        _consistent(fresh)


def _findings(client: Any, analysis_id: str) -> list[tuple[str, float, int]]:
    items = client.get(f"/analyses/{analysis_id}/findings", params={"limit": 500}).json()["items"]
    return [(f["key"], f["severity"], f["instances"]) for f in items]


@pytest.mark.parametrize("point", sorted(CRASH_POINTS))
def test_a_crash_inside_the_write_of_results_is_rolled_back_and_rerun(
    fresh: Service, point: str
) -> None:
    """The service kills itself (SIGKILL) at an exact point of storing results: half-written
    files, files without their rows, rows without their commit. After the restart none of it
    is visible, the earlier analysis is untouched, and the job runs again to the same result."""
    with fresh.client() as client:
        # The same file twice: the reference analysis runs on one, the crashing one on the
        # other (the same request on the same log would reuse the reference's result).
        log, other = upload(client, SAMPLE).json(), upload(client, SAMPLE).json()
        done = wait_done(client, client.post(f"/logs/{other['id']}/analyses", json={}).json()["id"])
        before = _snapshot(client, other["id"], done["id"])
    fresh.stop()
    fresh.env["PROCMINE_CRASH_AT"] = point
    fresh.start()
    with fresh.client() as client:
        job = client.post(f"/logs/{log['id']}/analyses", json={}).json()
    assert job["state"] == "queued"
    assert fresh.proc is not None
    assert fresh.proc.wait(timeout=120) == -9, "the crash point was never reached"
    del fresh.env["PROCMINE_CRASH_AT"]
    fresh.restart()
    _consistent(fresh)
    with fresh.client() as client:
        assert _snapshot(client, other["id"], done["id"]) == before
        rerun = wait_done(client, job["id"])
        assert rerun["state"] == "done" and rerun["attempts"] == 2, rerun
        assert _findings(client, job["id"]) == _findings(client, done["id"])
    _consistent(fresh)


def _mount_tmpfs(folder: Path, size: str) -> bool:
    import subprocess

    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_a_full_disk_while_writing_results_fails_the_job_cleanly(tmp_path: Path) -> None:
    """A real full file system (a 40 KiB tmpfs) under the results: the first result file fits,
    the next does not. The job fails with a 507 problem, nothing of its results is kept, the
    service goes on, and once there is room the same analysis requested again succeeds."""
    import subprocess

    data = tmp_path / "data"
    results = data / "analyses"
    results.mkdir(parents=True)
    if not _mount_tmpfs(results, "40k"):
        pytest.skip("mounting a tmpfs needs root (CAP_SYS_ADMIN)")
    svc = Service(data)
    try:
        with svc.client() as client:
            log = upload(client, SAMPLE).json()
            failed = wait_done(
                client, client.post(f"/logs/{log['id']}/analyses", json={}).json()["id"]
            )
            assert failed["state"] == "failed"
            assert failed["error"]["status"] == 507, failed["error"]
            assert "nothing of them was kept" in failed["error"]["detail"]
            assert list(results.iterdir()) == []
            assert client.get("/health").json()["status"] == "ok"
            assert "unexpected error" not in svc.output()
            # Room again: the same request now succeeds.
            subprocess.run(["mount", "-o", "remount,size=10m", str(results)], check=True)
            again = client.post(f"/logs/{log['id']}/analyses", json={}).json()
            assert wait_done(client, again["id"])["state"] == "done"
        _consistent(svc)
    finally:
        svc.stop()
        subprocess.run(["umount", str(results)], check=False)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


def test_an_analysis_worker_killed_by_the_system_fails_only_its_job(fresh: Service) -> None:
    """Each analysis runs in a worker process: when the OOM killer (here: a SIGKILL) takes
    it, the service goes on serving, the job is failed with the reason, and nothing of its
    results is kept."""
    import os
    import signal

    assert fresh.proc is not None
    with fresh.client() as client:
        log = upload(client, SAMPLE).json()
        idle = set(_descendants(fresh.proc.pid))  # the fork server
        job = client.post(
            f"/logs/{log['id']}/analyses", json={"churn": {"bootstrap": 60000}}
        ).json()
        deadline = time.monotonic() + 60
        while not (workers := set(_descendants(fresh.proc.pid)) - idle):
            assert time.monotonic() < deadline, "no worker process appeared"
            time.sleep(0.02)
        for pid in workers:
            os.kill(pid, signal.SIGKILL)
        failed = wait_done(client, job["id"])
        assert failed["state"] == "failed"
        assert failed["error"]["type"] == "/problems/analysis-died"
        assert "killed by signal 9" in failed["error"]["detail"]
        assert client.get("/health").json()["status"] == "ok"
        assert fresh.proc.poll() is None
        again = client.post(f"/logs/{log['id']}/analyses", json={}).json()
        assert wait_done(client, again["id"])["state"] == "done"
    _consistent(fresh)


def test_a_worker_that_outlived_its_service_records_nothing(tmp_path: Path) -> None:
    """The fork server and its workers die with the service, but should one finish after a
    restart has queued its job again (or failed it), its result must not count."""
    import shutil

    from api.store import Store, UploadMapping
    from procmine import analyze
    from procmine.engine import Engine

    store = Store(tmp_path / "data")
    src = tmp_path / "orders.csv"
    shutil.copyfile(SAMPLE, src)
    log = store.add_log("alice", src, src.stat().st_size, UploadMapping.parse(None))
    record, _ = store.create_analysis("alice", log.id, {})
    first = store.start(record.id)
    assert first is not None
    result = analyze(store.open_log(log.id, Engine.duckdb(threads=1), materialize=True))
    store.recover()  # a restart: the running job is queued again ...
    rerun = store.start(record.id)  # ... and started as attempt 2
    assert rerun is not None and rerun.attempts == first.attempts + 1
    store.save_result(record.id, result, attempt=first.attempts)  # the stale worker ends
    assert store.job(record.id).state == "running"  # type: ignore[union-attr]
    assert not (store.root / "analyses" / record.id).exists()
    store.save_result(record.id, result, attempt=rerun.attempts)
    assert store.job(record.id).state == "done"  # type: ignore[union-attr]
