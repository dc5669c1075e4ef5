# SPDX-License-Identifier: AGPL-3.0-or-later
"""schemathesis against the live service's OpenAPI document: no 500, no response off-schema.

Runs the schemathesis CLI (all checks, a bounded number of examples, a fixed seed) against a
service with API keys and a log already analysed, so authentication is checked too.
`positive_data_acceptance` is left out: the schema can say "a file", not "a valid event log",
so a schema-valid upload of random bytes is rightly refused with 422.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from api_helpers import SAMPLE, Service, upload, wait_done

from api.settings import hash_key

KEY = "pm_schemathesis"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    svc = Service(
        tmp_path_factory.mktemp("st") / "data",
        env={"PROCMINE_API_KEYS": f"st:sha256:{hash_key(KEY)}"},
    )
    with svc.client(KEY) as client:
        log = upload(client, SAMPLE).json()
        wait_done(client, client.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
    yield svc
    svc.stop()


def test_the_service_keeps_its_openapi_promises(keyed: Service, tmp_path: Path) -> None:
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a dev dependency"
    result = subprocess.run(
        [
            st,
            "run",
            f"{keyed.url}/openapi.json",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "15",
            "--seed",
            "20261123",
            "--header",
            f"X-API-Key: {KEY}",
            "--no-color",
            "--report-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,  # schemathesis keeps its example database in the working directory
    )
    tail = result.stdout[-6000:]
    assert result.returncode == 0, tail
    assert "Internal Server Error" not in keyed.output()
