# SPDX-License-Identifier: AGPL-3.0-or-later
"""The service's query engines: capped by PROCMINE_ENGINE_MEMORY, spilling inside the data
directory, and a clear problem (not a 500 "internal error") when a log needs more."""

from __future__ import annotations

import multiprocessing
import os
import shutil
from pathlib import Path

import pytest
from api_helpers import SAMPLE, Service, upload, wait_done

from api.errors import EngineOutOfMemory
from api.jobs import run_analysis
from api.store import Store, UploadMapping
from procmine._sql import fetch_one


def _copy_of_sample(folder: Path) -> Path:
    src = folder / "orders.csv"
    shutil.copyfile(SAMPLE, src)
    return src


def test_engines_are_capped_and_spill_into_the_data_dir(tmp_path: Path) -> None:
    store = Store(tmp_path / "data", engine_memory=256 * 1024**2)
    with store.engine() as eng:
        limit, spill = fetch_one(
            eng.raw,
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')",
        )
        assert limit == "256.0 MiB"
        assert Path(spill).parent == store.root / "spill" and Path(spill).is_dir()
    assert list((store.root / "spill").iterdir()) == []


def test_an_upload_beyond_the_engine_memory_is_refused_and_nothing_kept(tmp_path: Path) -> None:
    store = Store(tmp_path / "data", engine_memory=1024**2)
    with pytest.raises(EngineOutOfMemory, match="PROCMINE_ENGINE_MEMORY") as caught:
        src = _copy_of_sample(tmp_path)
        store.add_log("alice", src, src.stat().st_size, UploadMapping.parse(None))
    assert caught.value.status == 503
    assert list((store.root / "logs").iterdir()) == []
    assert list((store.root / "spill").iterdir()) == []


def test_an_analysis_beyond_the_engine_memory_fails_with_a_clear_problem(tmp_path: Path) -> None:
    """The worker's engine gets the cap: at 8 MB the analysis cannot run, and its job is failed
    with the reason and what to change, not an internal error; nothing of it is kept."""
    store = Store(tmp_path / "data")
    src = _copy_of_sample(tmp_path)
    log = store.add_log("alice", src, src.stat().st_size, UploadMapping.parse(None))
    record, _ = store.create_analysis("alice", log.id, {})
    assert store.start(record.id) is not None
    # A process of its own, as the service runs it (the worker sets signals and dies with
    # its parent).
    worker = multiprocessing.get_context("spawn").Process(
        target=run_analysis, args=(str(store.root), 1, 8 * 1024**2, record.id, os.getpid())
    )
    worker.start()
    worker.join(120)
    assert worker.exitcode == 0
    job = store.job(record.id)
    assert job is not None and job.state == "failed"
    assert job.error is not None
    assert job.error["type"] == "/problems/engine-out-of-memory"
    assert "PROCMINE_ENGINE_MEMORY" in job.error["detail"] and "0.0 GiB" not in job.error["detail"]
    assert list((store.root / "analyses").iterdir()) == []
    assert list((store.root / "spill").iterdir()) == []


def test_a_service_with_capped_engines_analyses_and_leaves_no_spill(tmp_path: Path) -> None:
    svc = Service(tmp_path / "data", env={"PROCMINE_ENGINE_MEMORY": "128MiB"})
    try:
        with svc.client() as client:
            log = upload(client, SAMPLE)
            assert log.status_code == 201, log.text
            job = client.post(f"/logs/{log.json()['id']}/analyses", json={}).json()
            done = wait_done(client, job["id"])
            assert done["state"] == "done", done
            assert client.get(f"/analyses/{job['id']}/findings").json()["items"]
        assert list((tmp_path / "data" / "spill").iterdir()) == []
    finally:
        svc.stop()
