# SPDX-License-Identifier: AGPL-3.0-or-later
"""Every file of the hostile corpus (``tests/corpus.py``) uploaded to a running service: a
refused file is a 422 problem document naming the library's problem and leaves nothing
stored; a readable one is stored under a safe name inside its own folder; after each, the
service still answers, and no upload is ever a 500."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from api_helpers import Service, assert_problem, stored, upload
from corpus import CORPUS, Hostile, Refused


@pytest.mark.parametrize("case", CORPUS, ids=[c.name for c in CORPUS])
def test_each_hostile_upload_is_answered_and_the_service_keeps_serving(
    case: Hostile, api: httpx.Client, service: Service, tmp_path: Path
) -> None:
    path = case.make(tmp_path)
    before = stored(service)
    response = upload(api, path, name=case.upload_name)
    expect = case.expect
    if isinstance(expect, Refused):
        body = assert_problem(response, 422)
        first = body["problems"][0]
        assert first["code"] == expect.code.value, first
        assert expect.says in first["message"]
        if expect.line is not None:
            assert first["line"] == expect.line
        if expect.column is not None:
            assert first["column"] == expect.column
        assert stored(service) == before
    else:
        assert response.status_code == 201, response.text
        log = response.json()
        assert (log["events"], log["cases"]) == (expect.events, expect.cases)
        kept = case.kept_name or path.name
        assert log["name"] == kept
        folder = service.data_dir / "logs" / log["id"] / "original"
        assert [p.name for p in folder.iterdir()] == [kept]
        assert not (service.data_dir.parent / "etc").exists()
        assert api.delete(f"/logs/{log['id']}").status_code == 204
    assert api.get("/health").json()["status"] == "ok"
    assert "unexpected error" not in service.output()
