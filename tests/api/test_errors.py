# SPDX-License-Identifier: AGPL-3.0-or-later
"""One error shape for every error, every problem named, and nothing of a refused upload kept."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from api_helpers import SAMPLE, Service, assert_problem, half_upload, stored, upload, wait_done


def test_the_problem_document_shape_is_pinned(api: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "order_id,activity,timestamp\n"
        "A,Order placed,2024-03-01 10:00\n"
        "A,Order cancelled,not a time\n"
        ",Order placed,2024-03-02 09:00\n"
    )
    body = assert_problem(upload(api, path), 422)
    assert set(body) == {"type", "title", "status", "detail", "instance", "problems"}
    assert body["type"] == "/problems/invalid-log"
    assert body["title"] == "The log cannot be used"
    assert body["instance"] == "/logs"
    for problem in body["problems"]:
        assert set(problem) == {
            "code",
            "message",
            "column",
            "row",
            "line",
            "value",
            "count",
            "severity",
            "field",
        }
    by_code = {p["code"]: p for p in body["problems"]}
    assert by_code["unparseable_timestamp"]["column"] == "timestamp"
    assert by_code["unparseable_timestamp"]["value"] == "not a time"
    assert by_code["unparseable_timestamp"]["line"] == 3
    assert by_code["blank_value"]["column"] == "order_id"


def test_a_bad_log_leaves_nothing_behind(
    api: httpx.Client, service: Service, tmp_path: Path
) -> None:
    before = stored(service)
    path = tmp_path / "no_time.csv"
    path.write_text("order_id,activity\nA,Order placed\n")
    body = assert_problem(upload(api, path), 422)
    assert any(p["code"] == "missing_column" for p in body["problems"])
    assert stored(service) == before
    names = [item["id"] for item in api.get("/logs", params={"limit": 500}).json()["items"]]
    assert all(n in before[0] for n in names)


@pytest.mark.parametrize(
    ("mapping", "fragment"),
    [
        ("{not json", "not valid JSON"),
        ('{"case": "order_id", "colour": "x"}', "colour"),
        ('{"roles": {"teleport": ["x"]}}', "teleport"),
        ('{"case": 5}', "case"),
    ],
)
def test_a_bad_mapping_is_named(api: httpx.Client, mapping: str, fragment: str) -> None:
    with SAMPLE.open("rb") as fh:
        r = api.post("/logs", files={"file": ("orders.csv", fh)}, data={"mapping": mapping})
    body = assert_problem(r, 422)
    assert fragment in body["detail"] + " ".join(p["message"] for p in body.get("problems", []))


def test_a_mapped_column_that_does_not_exist_lists_the_real_ones(api: httpx.Client) -> None:
    r = upload(api, SAMPLE, mapping={"customer": "client"})
    body = assert_problem(r, 422)
    problem = body["problems"][0]
    assert problem["code"] == "missing_column" and problem["column"] == "client"
    assert "customer_id" in problem["message"]


def test_requests_that_are_not_uploads(api: httpx.Client) -> None:
    assert_problem(
        api.post("/logs", content=b"a,b\n1,2\n", headers={"content-type": "text/csv"}), 415
    )
    body = assert_problem(
        api.post("/logs", data={"mapping": "{}"}, files={"other": ("x", b"1")}), 422
    )
    assert "'file'" in body["detail"]
    r = api.post(
        "/logs",
        # The body ends in the middle of the file part: no closing boundary.
        content=b'--xyz\r\nContent-Disposition: form-data; name="file"; filename="a.csv"'
        b"\r\n\r\nabc",
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert_problem(r, 422)


def test_http_errors_are_problems_too(api: httpx.Client) -> None:
    body = assert_problem(api.get("/no/such/route"), 404)
    assert body["type"] == "about:blank" and body["title"] == "Not Found"
    assert_problem(api.patch("/logs"), 405)
    assert_problem(api.get("/logs/log_0000000000000000"), 404)
    assert_problem(api.get("/analyses/an_0"), 404)
    assert_problem(api.get("/findings/fd_0"), 404)
    assert_problem(api.get("/analyses/an_0/maps/process.svg"), 404)
    assert_problem(api.get("/analyses/an_0/maps/process.gif"), 422)
    assert_problem(api.get("/logs", params={"limit": 0}), 422)
    assert_problem(api.get("/logs", params={"offset": -1}), 422)


def test_bad_analysis_parameters_are_refused_before_any_job(api: httpx.Client) -> None:
    log = upload(api, SAMPLE).json()
    url = f"/logs/{log['id']}/analyses"
    cases = [
        ({"detectors": ["exchange_detour", "teleport"]}, "teleport"),
        ({"windows": {"cancel": "soon"}}, "soon"),
        ({"similarity": {"min_level": "nearly"}}, "min_level"),
        ({"similarity": {"family_pattern": "(unclosed"}}, "family_pattern"),
        ({"cost_model": {"return_label": -1}}, "return_label"),
        ({"roles": {"cancel": ["Order cancelld"]}}, "Order cancelld"),
        ({"window": {}}, "window"),
    ]
    for params, fragment in cases:
        body = assert_problem(api.post(url, json=params), 422)
        text = body["detail"] + " ".join(p["message"] + str(p["value"]) for p in body["problems"])
        assert fragment in text, (params, body)
    assert api.get(url).json()["total"] == 0
    assert_problem(api.post(url, content=b"{", headers={"content-type": "application/json"}), 422)


def test_results_of_an_unfinished_analysis_are_a_conflict(
    api: httpx.Client, tmp_path: Path
) -> None:
    # Many bootstrap replicates keep the job busy long enough to ask while it runs.
    log = upload(api, SAMPLE).json()
    r = api.post(f"/logs/{log['id']}/analyses", json={"churn": {"bootstrap": 100000}})
    analysis = r.json()
    seen = assert_problem(api.get(f"/analyses/{analysis['id']}/findings"), 409)
    assert "queued" in seen["detail"] or "running" in seen["detail"]
    assert_problem(api.get(f"/analyses/{analysis['id']}/maps/process.svg"), 409)
    assert wait_done(api, analysis["id"])["state"] == "done"


@pytest.fixture(scope="module")
def small_limit(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    svc = Service(
        tmp_path_factory.mktemp("limit") / "data", env={"PROCMINE_MAX_UPLOAD_BYTES": "200KB"}
    )
    yield svc
    svc.stop()


def test_an_upload_over_the_limit_is_refused_and_not_kept(
    small_limit: Service, tmp_path: Path
) -> None:
    big = tmp_path / "big.csv"
    big.write_bytes(SAMPLE.read_bytes())  # about 900 KB
    with small_limit.client() as client:
        body = assert_problem(upload(client, big), 413)
        assert "200,000" in body["detail"]

        # Without a Content-Length the limit is enforced while streaming.
        def chunks():  # type: ignore[no-untyped-def]
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x.csv"\r\n\r\n'
            for _ in range(40):
                yield b"x" * 10_000
            yield b"\r\n--b--\r\n"

        r = client.post(
            "/logs", content=chunks(), headers={"content-type": "multipart/form-data; boundary=b"}
        )
        assert_problem(r, 413)
        assert client.get("/logs").json()["total"] == 0
    assert stored(small_limit) == ([], [])


def test_an_upload_cut_off_half_way_leaves_nothing(service: Service) -> None:
    before = stored(service)
    with half_upload(service.port, SAMPLE.read_bytes()):
        # Wait until the half-sent file is on disk, then drop the connection.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and stored(service)[1] == before[1]:
            time.sleep(0.05)
        assert stored(service)[1] != before[1], "the upload never reached the disk"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and stored(service) != before:
        time.sleep(0.05)
    assert stored(service) == before
    with service.client() as client:
        assert client.get("/health").status_code == 200
    # A client hanging up is not the service's failure: no 500 in its log.
    assert "unexpected error" not in service.output()
