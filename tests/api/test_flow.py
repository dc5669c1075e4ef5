# SPDX-License-Identifier: AGPL-3.0-or-later
"""Upload -> preview -> analyse -> findings -> instances -> maps, over HTTP, for every format.

The service's findings must equal what the library finds in the same file: the service adds
storage and HTTP, never its own analysis.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

import httpx
import pytest
from api_helpers import assert_problem, upload, wait_done
from factories import ocel_document

from procmine import analyze, compare, read_log
from procmine.simulate import Simulation, simulate, write_log


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("logs")
    sim = simulate(Simulation(customers=120, seed=11))
    paths = {}
    for fmt, name in [
        ("csv", "orders.csv"),
        ("parquet", "orders.parquet"),
        ("xes", "orders.xes"),
        ("xes.gz", "orders.xes.gz"),
    ]:
        write_log(sim, folder / name, truth_path=folder / f"{fmt}.truth.csv")
        paths[fmt] = folder / name
    ocel = folder / "orders.jsonocel"
    ocel.write_text(json.dumps(ocel_document()))
    paths["ocel"] = ocel
    return paths


@pytest.mark.parametrize("fmt", ["csv", "parquet", "xes", "xes.gz", "ocel"])
def test_the_whole_flow_for_every_format(
    api: httpx.Client, logs: dict[str, Path], fmt: str
) -> None:
    path = logs[fmt]
    expected = analyze(read_log(path))

    r = upload(api, path)
    assert r.status_code == 201, r.text
    log = r.json()
    assert r.headers["location"] == f"/logs/{log['id']}"
    assert log["name"] == path.name
    assert log["events"] == expected.log.stats.events
    assert log["cases"] == expected.log.stats.cases
    assert api.get(f"/logs/{log['id']}").json() == log

    preview = api.get(f"/logs/{log['id']}/preview", params={"rows": 5}).json()
    assert len(preview["rows"]) == min(5, log["events"])
    assert set(preview["rows"][0]) == set(preview["fields"])
    assert sum(a["count"] for a in preview["activities"]) == log["events"]

    r = api.post(f"/logs/{log['id']}/analyses", json={})
    assert r.status_code == 202, r.text
    analysis = wait_done(api, r.json()["id"])
    assert analysis["state"] == "done", analysis
    assert analysis["findings_count"] == len(expected.findings)

    page = api.get(f"/analyses/{analysis['id']}/findings", params={"limit": 500}).json()
    got = {f["key"]: f for f in page["items"]}
    assert list(got) == [f.id for f in expected.findings]  # same findings, same order
    for f in expected.findings:
        assert got[f.id]["instances"] == len(f.instances)
        assert got[f.id]["severity"] == pytest.approx(round(f.severity, 2))

    top = page["items"][0]
    detail = api.get(f"/findings/{top['id']}", params={"limit": 3}).json()
    assert detail["instances_page"]["total"] == top["instances"]
    assert len(detail["instances_page"]["items"]) == min(3, top["instances"])
    assert detail["assumptions"]
    rows = list(csv.DictReader(io.StringIO(api.get(f"/findings/{top['id']}/instances.csv").text)))
    assert len(rows) == top["instances"]
    expected_cases = sorted(
        expected.findings.get(top["key"]).instances.table.column("original_case").to_pylist()
    )
    assert sorted(r["original_case"] for r in rows) == expected_cases

    for name in ("process", "journey"):
        svg = api.get(f"/analyses/{analysis['id']}/maps/{name}.svg")
        assert svg.status_code == 200
        assert svg.headers["content-type"] == "image/svg+xml"
        assert b"<svg" in svg.content
        dot = api.get(f"/analyses/{analysis['id']}/maps/{name}.dot")
        assert dot.text.lstrip().startswith(("digraph", "strict digraph"))


def test_maps_take_an_overlay_and_a_path_filter_and_carry_an_etag(
    api: httpx.Client, logs: dict[str, Path]
) -> None:
    log = upload(api, logs["csv"]).json()
    analysis = wait_done(api, api.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
    base = f"/analyses/{analysis['id']}/maps/process"
    freq = api.get(f"{base}.dot", params={"overlay": "frequency"}).text
    perf = api.get(f"{base}.dot", params={"overlay": "performance"}).text
    assert freq != perf and "how long" in perf
    few = api.get(f"{base}.dot", params={"max_edges": 3}).text
    assert few.count("->") < freq.count("->")
    png = api.get(f"{base}.png")
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"

    first = api.get(f"{base}.svg")
    etag = first.headers["etag"]
    again = api.get(f"{base}.svg", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = api.get(
        f"{base}.svg", params={"overlay": "performance"}, headers={"If-None-Match": etag}
    )
    assert other.status_code == 200 and other.headers["etag"] != etag


def test_findings_carry_their_edges_and_maps_highlight_them(
    api: httpx.Client, logs: dict[str, Path]
) -> None:
    log = upload(api, logs["csv"]).json()
    analysis = wait_done(api, api.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
    findings = api.get(f"/analyses/{analysis['id']}/findings").json()["items"]
    library = analyze(read_log(logs["csv"])).findings
    for f in findings:
        expected = library.get(f["key"])
        assert expected is not None
        assert [(e["source"], e["target"]) for e in f["edges"]] == [
            (e.source, e.target) for e in expected.edges
        ]
    top = next(f for f in findings if f["edges"])
    assert top["links"]["map"].endswith(f"?finding={top['id']}")
    base = f"/analyses/{analysis['id']}/maps/process.dot"
    marked = api.get(base, params={"finding": top["id"]}).text
    plain = api.get(base).text
    assert marked.count("#dc2626") >= len(top["edges"]) and "#dc2626" not in plain
    assert_problem(api.get(base, params={"finding": "fd_0000000000000000"}), 404)


def test_unmapped_fields_are_left_out(api: httpx.Client, logs: dict[str, Path]) -> None:
    log = upload(api, logs["csv"], mapping={"unmapped": ["customer", "amount"]}).json()
    assert log["mapping"]["columns"]["customer"] is None
    assert log["mapping"]["columns"]["amount"] is None
    bad = upload(api, logs["csv"], mapping={"unmapped": ["timestamp"]})
    assert "not an optional field" in assert_problem(bad, 422)["problems"][0]["message"]


def test_identical_requests_reuse_the_result_and_other_parameters_do_not(
    api: httpx.Client, logs: dict[str, Path]
) -> None:
    log = upload(api, logs["csv"]).json()
    params = {"windows": {"cancel": "7d"}, "cost_model": {"return_label": 5.5}}
    first = api.post(f"/logs/{log['id']}/analyses", json=params)
    assert first.status_code == 202
    done = wait_done(api, first.json()["id"])
    again = api.post(f"/logs/{log['id']}/analyses", json=params)
    assert again.status_code == 200 and again.json()["reused"] is True
    assert again.json()["id"] == done["id"]
    # 168h is the same window as 7d: the same request after normalisation.
    same = api.post(f"/logs/{log['id']}/analyses", json={**params, "windows": {"cancel": "168h"}})
    assert same.json()["id"] == done["id"]
    other = api.post(f"/logs/{log['id']}/analyses", json={"windows": {"cancel": "3d"}})
    assert other.status_code == 202 and other.json()["id"] != done["id"]
    assert done["parameters"]["windows"]["cancel"] == "7d"
    assert done["parameters"]["cost_model"]["return_label"] == 5.5
    listed = api.get(f"/logs/{log['id']}/analyses").json()
    assert {a["id"] for a in listed["items"]} == {done["id"], other.json()["id"]}


def test_findings_filter_sort_paginate_and_keep_stable_keys(
    api: httpx.Client, logs: dict[str, Path]
) -> None:
    log = upload(api, logs["csv"]).json()
    a1 = wait_done(api, api.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
    url = f"/analyses/{a1['id']}/findings"
    everything = api.get(url, params={"limit": 500}).json()["items"]
    assert len(everything) >= 3
    severities = [f["severity"] for f in everything]
    assert severities == sorted(severities, reverse=True)
    ascending = api.get(url, params={"sort": "severity", "limit": 500}).json()["items"]
    assert [f["severity"] for f in ascending] == sorted(severities)
    only = api.get(url, params={"detector": "lost_sale"}).json()["items"]
    assert only and {f["detector"] for f in only} == {"lost_sale"}
    threshold = severities[1]
    severe = api.get(url, params={"min_severity": threshold}).json()
    assert all(f["severity"] >= threshold for f in severe["items"]) and severe["total"] >= 2

    pages, next_url = [], f"{url}?limit=2"
    while next_url:
        body = api.get(next_url).json()
        pages.extend(f["key"] for f in body["items"])
        next_url = body["next"]
    assert pages == [f["key"] for f in everything]

    # A newer upload of the same data: same keys, new ids, and the history endpoint links them.
    log2 = upload(api, logs["csv"]).json()
    a2 = wait_done(api, api.post(f"/logs/{log2['id']}/analyses", json={}).json()["id"])
    second = api.get(f"/analyses/{a2['id']}/findings", params={"limit": 500}).json()["items"]
    assert [f["key"] for f in second] == [f["key"] for f in everything]
    assert not {f["id"] for f in second} & {f["id"] for f in everything}
    key = everything[0]["key"]
    history = api.get("/findings", params={"key": key}).json()["items"]
    assert {h["analysis_id"] for h in history} >= {a1["id"], a2["id"]}


def test_the_mapping_can_be_corrected_after_upload(api: httpx.Client, tmp_path: Path) -> None:
    path = tmp_path / "two_ids.csv"
    path.write_text(
        "order_id,shop_order,customer_id,activity,timestamp\n"
        "A,S1,c1,Order placed,2024-03-01 10:00\n"
        "A,S1,c1,Order cancelled,2024-03-01 12:00\n"
        "B,S1,c1,Order placed,2024-03-02 09:00\n"
    )
    log = upload(api, path).json()
    assert log["mapping"]["columns"]["case"] == "order_id"
    assert "shop_order" in log["mapping"]["available"]
    assert log["cases"] == 2

    bad = api.put(f"/logs/{log['id']}/mapping", json={"case": "no_such_column"})
    assert bad.status_code == 422
    assert api.get(f"/logs/{log['id']}").json()["mapping_version"] == 1

    fixed = api.put(f"/logs/{log['id']}/mapping", json={"case": "shop_order"})
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["mapping_version"] == 2
    assert fixed.json()["cases"] == 1
    assert fixed.json()["mapping"]["guessed"] == sorted(
        set(fixed.json()["mapping"]["guessed"]) - {"case"}
    )


def test_a_table_of_step_columns_over_http(api: httpx.Client, tmp_path: Path) -> None:
    """A row per order with a column per step's time: guessed on upload, named in a
    correction (the mapping's ``steps``, as in the CLI's --step)."""
    path = tmp_path / "steps.csv"
    path.write_text(
        "order_id,customer_id,placed_at,paid_at,shipped_at\n"
        "A,c1,2024-03-01 10:00,2024-03-01 10:05,2024-03-02 09:00\n"
        "B,c1,2024-03-03 11:00,,\n"
    )
    log = upload(api, path).json()
    assert log["events"] == 4 and "steps" in log["mapping"]["guessed"]
    assert log["mapping"]["steps"] == {
        "placed_at": "Placed",
        "paid_at": "Paid",
        "shipped_at": "Shipped",
    }
    fixed = api.put(
        f"/logs/{log['id']}/mapping",
        json={"steps": {"placed_at": "Order placed", "shipped_at": "Shipped"}},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["events"] == 3
    assert fixed.json()["mapping"]["steps"] == {
        "placed_at": "Order placed",
        "shipped_at": "Shipped",
    }
    bad = api.put(f"/logs/{log['id']}/mapping", json={"steps": "placed_at"})
    assert assert_problem(bad, 422)["problems"][0]["message"].startswith("body.steps")
    missing = api.put(f"/logs/{log['id']}/mapping", json={"steps": ["placed_at", "payed_at"]})
    assert "'payed_at' (given for steps)" in assert_problem(missing, 422)["problems"][0]["message"]
    assert api.get(f"/logs/{log['id']}").json()["events"] == 3  # the mapping in force stays


def test_roles_given_with_the_upload_and_with_the_analysis(
    api: httpx.Client, tmp_path: Path
) -> None:
    path = tmp_path / "storno.csv"
    path.write_text(
        "order_id,customer_id,activity,timestamp,category\n"
        "A,c1,Bestellung,2024-03-01 10:00,Shoes\n"
        "A,c1,Abbruch,2024-03-01 12:00,Shoes\n"
        "B,c1,Bestellung,2024-03-02 09:00,Shoes\n"
    )
    mapping = {"roles": {"order": ["Bestellung"], "cancel": ["Abbruch"]}}
    log = upload(api, path, mapping=mapping).json()
    assert log["roles"]["cancel"] == ["Abbruch"]
    analysis = wait_done(api, api.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
    keys = [f["key"] for f in api.get(f"/analyses/{analysis['id']}/findings").json()["items"]]
    assert "exchange_detour:cancel_reorder" in keys

    # The same log analysed with the cancel role cleared finds no cancel detour.
    r = api.post(f"/logs/{log['id']}/analyses", json={"roles": {"cancel": []}})
    cleared = wait_done(api, r.json()["id"])
    detail = api.get(f"/analyses/{cleared['id']}/findings").json()["items"]
    by_key = {f["key"]: f for f in detail}
    assert by_key.get("exchange_detour:cancel_reorder", {"instances": 0})["instances"] == 0


def test_deleting_a_log_removes_it_with_its_results(api: httpx.Client, service, logs) -> None:  # type: ignore[no-untyped-def]
    log = upload(api, logs["csv"]).json()
    analysis = wait_done(api, api.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
    finding = api.get(f"/analyses/{analysis['id']}/findings").json()["items"][0]
    assert (service.data_dir / "logs" / log["id"]).is_dir()
    assert api.delete(f"/logs/{log['id']}").status_code == 204
    for url in (
        f"/logs/{log['id']}",
        f"/analyses/{analysis['id']}",
        f"/findings/{finding['id']}",
        f"/analyses/{analysis['id']}/maps/process.svg",
    ):
        assert api.get(url).status_code == 404, url
    assert not (service.data_dir / "logs" / log["id"]).exists()
    assert not (service.data_dir / "analyses" / analysis["id"]).exists()
    assert api.delete(f"/logs/{log['id']}").status_code == 404


def test_csv_exports_neutralise_formulas_from_the_log(api: httpx.Client, tmp_path: Path) -> None:
    """Ids that a spreadsheet would run as formulas (= + - @) reach the instances CSV as text."""
    from factories import OrderLog

    evil = ['=HYPERLINK("http://x","y")', "+1+1", "-2+3", "@SUM(A1)"]
    b = OrderLog()
    for i in range(12):
        who = f"{evil[i % 4]}{i}"
        b.cancelled(f"{evil[(i + 1) % 4]}A{i}", who, f"{i}d")
        b.order(f"B{i}", who, f"{i * 24 + 8}h")
    path = tmp_path / "formulas.csv"
    b.frame().to_csv(path, index=False)
    log = upload(api, path).json()
    analysis = wait_done(api, api.post(f"/logs/{log['id']}/analyses", json={}).json()["id"])
    items = api.get(f"/analyses/{analysis['id']}/findings").json()["items"]
    detour = next(f for f in items if f["detector"] == "exchange_detour")
    text = api.get(f"/findings/{detour['id']}/instances.csv").text
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == detour["instances"] >= 8
    for row in rows:
        for column in ("customer", "original_case"):
            assert row[column][0] == "'" and row[column][1] in "=+-@", row[column]
    # The JSON API gives the values as they are in the log.
    page = api.get(f"/findings/{detour['id']}", params={"limit": 1}).json()
    assert page["instances_page"]["items"][0]["customer"][0] in "=+-@"


def test_friction_parameters_and_instances_over_http(
    api: httpx.Client, logs: dict[str, Path]
) -> None:
    log = upload(api, logs["csv"]).json()
    request = {
        "detectors": ["long_wait", "repeated_contact"],
        "waits": {"sla": {"Order placed -> Payment captured": "5m"}},
        "windows": {"contact": "3d"},
    }
    started = api.post(f"/logs/{log['id']}/analyses", json=request)
    assert started.status_code == 202, started.text
    analysis = wait_done(api, started.json()["id"])
    assert analysis["parameters"]["waits"]["sla"] == {"Order placed -> Payment captured": "5m"}
    assert analysis["parameters"]["windows"]["contact"] == "3d"
    findings = api.get(f"/analyses/{analysis['id']}/findings").json()["items"]
    assert {f["detector"] for f in findings} == {"long_wait", "repeated_contact"}
    sla = next(f for f in findings if f["key"] == "long_wait:over_sla")
    detail = api.get(f"/findings/{sla['id']}").json()
    rows = detail["instances_page"]["items"]
    assert rows, "the simulator pays 1 to 30 minutes after the order"
    assert {r["step"] for r in rows} == {"Order placed -> Payment captured"}
    # root causes come with every finding: the simulator's channel and region are carried
    tested = {c["attribute"] for f in findings for c in f["causes"]}
    assert tested & {"channel", "region", "category", "weekday", "price_band"}
    for cause in detail["causes"]:
        assert cause["text"].startswith(f"{cause['attribute']} = {cause['value']}:")
        assert 0 <= cause["q_value"] <= 1 and cause["lift"] > 1
    assert all(r["time_lost_hours"] > 0 for r in rows)

    bad = api.post(f"/logs/{log['id']}/analyses", json={"waits": {"sla": {"Shipped": "1d"}}})
    problem = assert_problem(bad, 422)
    assert "'Shipped' is not a transition" in json.dumps(problem)


def test_two_analyses_compared_over_http(api: httpx.Client, logs: dict[str, Path]) -> None:
    ids = []
    for _ in range(2):  # the same file twice: two logs, two analyses, nothing changed
        log = upload(api, logs["csv"]).json()
        started = api.post(f"/logs/{log['id']}/analyses", json={})
        ids.append(wait_done(api, started.json()["id"])["id"])
    r = api.get(f"/analyses/{ids[0]}/compare/{ids[1]}")
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["before"] == f"orders.csv ({ids[0]})" and doc["after"] == f"orders.csv ({ids[1]})"
    keys = {c["key"] for c in doc["findings"]}
    assert "exchange_detour:cancel_reorder" in keys and "long_wait:over_p90" in keys
    for change in doc["findings"]:
        # the same orders before and after: nothing changed
        assert change["verdict"] in ("no clear change", "no data"), change
        if change["difference"]:
            assert change["difference"]["estimate"] == 0
            assert change["before"]["affected"] == change["after"]["affected"]
    assert doc["edges"] and all(e["cases_before"] == e["cases_after"] for e in doc["edges"])
    svg = api.get(doc["links"]["map"])
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    assert b"<svg" in svg.content
    assert_problem(api.get(f"/analyses/{ids[0]}/compare/an_missing"), 404)


def test_two_periods_of_one_log_compared_over_http(
    api: httpx.Client, logs: dict[str, Path]
) -> None:
    log = upload(api, logs["csv"]).json()
    ids = []
    for period in ({"end": "2024-07-01"}, {"start": "2024-07-01"}):
        started = api.post(f"/logs/{log['id']}/analyses", json={"period": period})
        assert started.status_code == 202, started.text
        done = wait_done(api, started.json()["id"])
        assert done["state"] == "done", done
        assert done["parameters"]["period"] == {
            "start": "2024-07-01T00:00:00" if "start" in period else None,
            "end": "2024-07-01T00:00:00" if "end" in period else None,
        }
        ids.append(done["id"])
    expected = read_log(logs["csv"])
    halves = [
        expected.placed_between(None, dt.datetime(2024, 7, 1)),
        expected.placed_between(dt.datetime(2024, 7, 1), None),
    ]
    assert sum(h.stats.cases for h in halves) == expected.stats.cases
    doc = api.get(f"/analyses/{ids[0]}/compare/{ids[1]}").json()
    library = {c.key: c for c in compare(analyze(halves[0]), analyze(halves[1])).findings}
    for change in doc["findings"]:
        ours = library[change["key"]]
        assert change["verdict"] == ours.verdict, change["key"]
        if ours.before is not None:
            assert change["before"]["affected"] == ours.before.affected
            assert change["before"]["eligible"] == ours.before.eligible
    bad = api.post(f"/logs/{log['id']}/analyses", json={"period": {"start": "July"}})
    assert "is not a date" in json.dumps(assert_problem(bad, 422))
