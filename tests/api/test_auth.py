# SPDX-License-Identifier: AGPL-3.0-or-later
"""API keys: only health and OpenAPI answer without one; each key sees only its own data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from api_helpers import SAMPLE, Service, assert_problem, upload, wait_done

from api.settings import hash_key

ALICE, BOB = "pm_alice_secret", "pm_bob_secret"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    keys = f"alice:sha256:{hash_key(ALICE)},bob:sha256:{hash_key(BOB)}"
    svc = Service(tmp_path_factory.mktemp("keys") / "data", env={"PROCMINE_API_KEYS": keys})
    yield svc
    svc.stop()


@pytest.fixture(scope="module")
def alice_data(keyed: Service) -> dict[str, Any]:
    with keyed.client(ALICE) as client:
        log = upload(client, SAMPLE).json()
        analysis = wait_done(
            client, client.post(f"/logs/{log['id']}/analyses", json={}).json()["id"]
        )
        finding = client.get(f"/analyses/{analysis['id']}/findings").json()["items"][0]
    return {"log": log["id"], "analysis": analysis["id"], "finding": finding["id"]}


def _endpoints(d: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        ("GET", "/logs"),
        ("GET", f"/logs/{d['log']}"),
        ("GET", f"/logs/{d['log']}/preview"),
        ("GET", f"/logs/{d['log']}/analyses"),
        ("POST", f"/logs/{d['log']}/analyses"),
        ("PUT", f"/logs/{d['log']}/mapping"),
        ("GET", f"/analyses/{d['analysis']}"),
        ("GET", f"/analyses/{d['analysis']}/findings"),
        ("GET", f"/analyses/{d['analysis']}/compare/{d['analysis']}"),
        ("GET", f"/analyses/{d['analysis']}/compare/{d['analysis']}/map.svg"),
        ("GET", f"/analyses/{d['analysis']}/maps/process.svg"),
        ("GET", f"/findings/{d['finding']}"),
        ("GET", f"/findings/{d['finding']}/instances.csv"),
        ("GET", "/findings?key=exchange_detour:return_reorder"),
        ("GET", "/detectors"),
        ("DELETE", f"/logs/{d['log']}"),
    ]


def test_without_a_key_only_health_and_the_api_docs_answer(
    keyed: Service, alice_data: dict[str, Any]
) -> None:
    with keyed.client() as anonymous:
        assert anonymous.get("/health").json()["auth"] is True
        assert anonymous.get("/openapi.json").status_code == 200
        docs = anonymous.get("/docs")
        assert docs.status_code == 200
        assert "/docs/static/swagger-ui-bundle.js" in docs.text
        script = anonymous.get("/docs/static/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert "javascript" in script.headers["content-type"]
        assert_problem(anonymous.post("/logs", files={"file": ("a.csv", b"x")}), 401)
        for method, url in _endpoints(alice_data):
            r = anonymous.request(method, url, json={} if method in ("POST", "PUT") else None)
            body = assert_problem(r, 401)
            assert r.headers["www-authenticate"].startswith("ApiKey")
            assert "X-API-Key" in body["detail"], url
    with keyed.client("pm_wrong") as wrong:
        assert_problem(wrong.get("/logs"), 401)


def test_a_key_never_sees_or_changes_another_keys_data(
    keyed: Service, alice_data: dict[str, Any]
) -> None:
    with keyed.client(BOB) as bob:
        assert bob.get("/logs").json()["total"] == 0
        assert (
            bob.get("/findings", params={"key": "exchange_detour:return_reorder"}).json()["total"]
            == 0
        )
        for method, url in _endpoints(alice_data):
            if url in ("/logs", "/detectors") or url.startswith("/findings?"):
                continue
            r = bob.request(method, url, json={} if method in ("POST", "PUT") else None)
            assert_problem(r, 404)
        own = upload(bob, SAMPLE).json()
    with keyed.client(ALICE) as alice:
        # Alice's data is intact after Bob's attempts, and Bob's log is invisible to her.
        assert alice.get(f"/logs/{alice_data['log']}").status_code == 200
        assert alice.get(f"/findings/{alice_data['finding']}").status_code == 200
        assert [item["id"] for item in alice.get("/logs").json()["items"]] == [alice_data["log"]]
        assert_problem(alice.get(f"/logs/{own['id']}"), 404)


def test_keys_are_configured_as_digests(tmp_path: Path) -> None:
    from api.settings import Settings, SettingsError

    s = Settings.from_env({"PROCMINE_API_KEYS": f"ci:sha256:{hash_key('k')}"})
    assert s.api_keys[0].name == "ci" and s.api_keys[0].digest == hash_key("k")
    for bad in ("ci", "ci:k", "ci:sha256:abc", f"a b:sha256:{hash_key('k')}"):
        with pytest.raises(SettingsError):
            Settings.from_env({"PROCMINE_API_KEYS": bad})
