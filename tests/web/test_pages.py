# SPDX-License-Identifier: AGPL-3.0-or-later
"""The web page over HTTP against the real service: the flow, escaping, access and errors.

The browser tests (test_browser.py) drive the same pages in Chromium; these check what a
browser cannot see easily: headers, status codes, exact escaping, and the results against
the REST API's.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_helpers import SAMPLE, Service, assert_problem, renamed_sample, upload, wait_done
from factories import OrderLog

from api.drafts import DRAFT_TTL, Drafts
from api.settings import hash_key
from api.store import Store, UploadMapping
from procmine.render import _HIGHLIGHT as HIGHLIGHT

HTML = {"Accept": "text/html"}


def web_upload(client: httpx.Client, path: Path, name: str | None = None) -> str:
    """Upload through the web page's endpoint; returns the draft page's path."""
    with path.open("rb") as fh:
        r = client.post(
            "/ui/upload",
            files={"file": (name or path.name, fh)},
            headers={"Accept": "application/json"},
        )
    assert r.status_code == 201, r.text
    location: str = r.json()["location"]
    assert location.startswith("/ui/drafts/dr_")
    return location


class _Forms(HTMLParser):
    """The named controls of a page's forms with their current values (what a browser sends)."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self._select: str | None = None
        self._first_option: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "input" and a.get("name") and a.get("type") not in ("file", "radio", "range"):
            self.values[str(a["name"])] = a.get("value") or ""
        elif tag == "select" and a.get("name"):
            self._select = str(a["name"])
            self._first_option = None
        elif tag == "option" and self._select is not None:
            value = a.get("value") or ""
            if self._first_option is None:
                self._first_option = value
                self.values.setdefault(self._select, value)
            if "selected" in a:
                self.values[self._select] = value

    def handle_endtag(self, tag: str) -> None:
        if tag == "select":
            self._select = None


def form_values(page: str) -> dict[str, str]:
    parser = _Forms()
    parser.feed(page)
    return parser.values


def wait_page_done(client: httpx.Client, analysis_path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        status: dict[str, Any] = client.get(f"{analysis_path}/status").json()
        if status["state"] in ("done", "failed"):
            return status
        time.sleep(0.2)
    raise AssertionError("the analysis did not finish")


def test_upload_map_analyse_read(service: Service, tmp_path: Path) -> None:
    """The whole flow: a log whose timestamp column is not recognised is fixed in the
    mapping step, analysed, and every figure on the pages is the REST API's."""
    with service.client() as web:
        draft = web_upload(web, renamed_sample(tmp_path))
        page = web.get(draft, headers=HTML)
        assert page.status_code == 200
        # The problem sits beside the timestamp select, not only in a list at the top.
        field = re.search(r'id="field-timestamp".*?</div>\s*</div>', page.text, re.S)
        assert field is not None and 'id="err-timestamp"' in field.group(0)
        assert "no timestamp column" in field.group(0)
        assert 'aria-invalid="true"' in field.group(0)
        assert "Activity roles" not in page.text  # roles only once the columns read cleanly

        values = form_values(page.text)
        assert values["col-case"] == "order_id" and values["col-timestamp"] == ""
        values["col-timestamp"] = "booked"
        checked = web.post(draft, data={**values, "action": "check"}, headers=HTML)
        assert checked.status_code == 200, checked.text
        assert "reads cleanly" in checked.text and 'id="err-timestamp"' not in checked.text
        values = form_values(checked.text)
        assert values["col-timestamp"] == "booked"
        n_activities = int(values["activities"])
        labels = [values[f"act-{i}"] for i in range(n_activities)]
        assert "Order cancelled" in labels

        done = web.post(
            draft, data={**values, "action": "analyse"}, headers=HTML, follow_redirects=False
        )
        assert done.status_code == 303
        analysis_path = done.headers["location"]
        assert analysis_path.startswith("/ui/analyses/an_")
        assert wait_page_done(web, analysis_path)["state"] == "done"
        # The draft became a log: it is gone from the drafts.
        assert web.get(draft, headers=HTML).status_code == 404

        analysis_id = analysis_path.rsplit("/", 1)[1]
        rest = web.get(f"/analyses/{analysis_id}/findings", params={"limit": 500}).json()
        page = web.get(analysis_path, headers=HTML).text
        # Cards in severity order, the same findings as the REST API, with their headline.
        ids = re.findall(r'id="card-(fd_[0-9a-f]+)"', page)
        assert ids == [f["id"] for f in rest["items"]]
        top = rest["items"][0]
        assert f"{top['severity']:,.0f} EUR" in page
        assert f"{top['metrics']['affected_customers']:,}" in page
        assert "svg" in page and 'class="map-view"' in page

        # The finding page: its paths highlighted, instances paginated, the CSV the API's.
        fpage = web.get(f"/ui/findings/{top['id']}", headers=HTML)
        assert fpage.status_code == 200
        assert top["edges"], "the top finding has characteristic edges"
        assert fpage.text.count(f'stroke="{HIGHLIGHT}"') >= len(top["edges"])
        for edge in top["edges"]:
            assert f"<td>{edge['source']}</td><td>{edge['target']}</td>" in fpage.text
        # Its root causes, the same as the REST API's, one row each.
        assert top["causes"], "the sample's top finding has tested attribute values"
        causes = re.search(r'id="causes">.*?<tbody>(.*?)</tbody>', fpage.text, re.S)
        assert causes is not None and causes.group(1).count("<tr>") == len(top["causes"])
        for cause in top["causes"]:
            assert f"<td>{cause['attribute']}</td><td>{cause['value']}</td>" in causes.group(1)
        table = re.search(r'id="instances">.*?<tbody>(.*?)</tbody>', fpage.text, re.S)
        assert table is not None
        assert table.group(1).count("<tr>") == min(25, top["instances"])
        last = -(-top["instances"] // 25)
        assert f"Page 1 of {last}" in fpage.text
        assert web.get(f"/ui/findings/{top['id']}?page={last + 1}", headers=HTML).status_code == 409
        csv_web = web.get(f"/ui/findings/{top['id']}/instances.csv")
        assert csv_web.headers["content-disposition"].startswith("attachment;")
        assert csv_web.content == web.get(f"/findings/{top['id']}/instances.csv").content


def test_map_fragment_follows_the_controls(service: Service, tmp_path: Path) -> None:
    with service.client() as client:
        log = upload(client, SAMPLE).json()
        analysis = client.post(f"/logs/{log['id']}/analyses").json()
        wait_done(client, analysis["id"])
        findings = client.get(f"/analyses/{analysis['id']}/findings").json()["items"]
        base = f"/ui/analyses/{analysis['id']}/map"
        least = int(re.findall(r'data-least="(\d+)"', client.get(base).text)[0])
        assert 1 < least < 30
        freq = client.get(base, params={"overlay": "frequency", "paths": least + 1}).text
        perf = client.get(base, params={"overlay": "performance", "paths": least + 1}).text
        assert 'data-overlay="frequency"' in freq and 'data-overlay="performance"' in perf
        assert "how often" in freq and "how long" in perf
        # The slider says what the map draws.
        assert f'data-paths="{least + 1}"' in freq and f"{least + 1} of 37 paths" in freq
        fewest = client.get(base, params={"paths": 1}).text
        assert f'data-paths="{least}"' in fewest and f"{least} of 37 paths" in fewest
        wide = client.get(base, params={"paths": 30}).text
        assert wide.count('class="edge"') > freq.count('class="edge"')
        journey = client.get(base, params={"name": "journey"}).text
        assert "Customer journey" in journey
        plain = client.get(base).text
        marked = client.get(base, params={"finding": findings[0]["id"]}).text
        assert HIGHLIGHT not in plain
        assert marked.count(f'stroke="{HIGHLIGHT}"') >= len(findings[0]["edges"]) > 0
        # A finding of another analysis is not this analysis's.
        other = client.post(f"/logs/{log['id']}/analyses", json={"detectors": ["lost_sale"]}).json()
        wait_done(client, other["id"])
        r = client.get(f"/ui/analyses/{other['id']}/map", params={"finding": findings[0]["id"]})
        assert r.status_code == 404


def test_roles_and_unmapped_fields_are_corrected_in_the_form(
    service: Service, tmp_path: Path
) -> None:
    with service.client() as web:
        draft = web_upload(web, SAMPLE)
        values = form_values(web.get(draft, headers=HTML).text)
        labels = {values[f"act-{i}"]: i for i in range(int(values["activities"]))}
        contact = labels["Customer contact"]
        assert values[f"role-{contact}"] == "contact"
        values[f"role-{contact}"] = ""  # not a contact after all
        values["col-customer"] = ""  # and the log has no customer column
        r = web.post(draft, data={**values, "action": "analyse"}, follow_redirects=False)
        assert r.status_code == 303, r.text
        analysis_id = r.headers["location"].rsplit("/", 1)[1]
        log_id = web.get(f"/analyses/{analysis_id}").json()["log_id"]
        log = web.get(f"/logs/{log_id}").json()
        assert log["mapping"]["columns"]["customer"] is None
        assert "Customer contact" not in log["roles"].get("contact", [])
        # The log page shows the stored mapping; changing nothing re-analyses as it is.
        page = web.get(f"/ui/logs/{log_id}", headers=HTML).text
        again = form_values(page)
        assert again["col-customer"] == "" and again[f"role-{contact}"] == ""
        r = web.post(f"/ui/logs/{log_id}", data={**again, "action": "analyse"})
        assert r.status_code == 303
        assert r.headers["location"] == f"/ui/analyses/{analysis_id}"  # the same request
        assert web.get(f"/logs/{log_id}").json()["mapping_version"] == 1
        # A bad column choice keeps the stored mapping and says what is wrong.
        again["col-timestamp"] = "sku"
        bad = web.post(f"/ui/logs/{log_id}", data={**again, "action": "analyse"}, headers=HTML)
        assert bad.status_code == 422
        assert re.search(r'id="err-timestamp"[^>]*>.*sku', bad.text, re.S)
        # ... and the column itself is marked in the preview of the file.
        assert re.search(r'<th scope="col" class="col-error">\s*sku\b', bad.text)
        assert len(re.findall(r'class="col-error"', bad.text)) == 1
        assert web.get(f"/logs/{log_id}").json()["mapping_version"] == 1


def test_values_from_the_log_are_escaped_everywhere(service: Service, tmp_path: Path) -> None:
    """Activity names, ids and the file name with HTML in them are shown as text."""
    evil_activity = "<script>alert('act')</script>"
    evil_customer = '"><img src=x onerror=alert(1)>'
    b = OrderLog()
    for i in range(12):
        b.cancelled(f"A{i}", f"{evil_customer}{i}", f"{i}d")
        b.order(f"B{i}", f"{evil_customer}{i}", f"{i * 24 + 8}h", then=[(evil_activity, "1h")])
        b.delivered(f"C{i}", f"c{i}", f"{i}d")
    path = tmp_path / "evil.csv"
    b.frame().to_csv(path, index=False)
    with service.client() as web:
        draft = web_upload(web, path, name="<i onclick=alert(3)>evil.csv")
        pages = [web.get(draft, headers=HTML).text]
        values = form_values(pages[0])
        r = web.post(draft, data={**values, "action": "analyse"}, follow_redirects=False)
        analysis_path = r.headers["location"]
        assert wait_page_done(web, analysis_path)["state"] == "done"
        analysis_id = analysis_path.rsplit("/", 1)[1]
        log_id = web.get(f"/analyses/{analysis_id}").json()["log_id"]
        findings = web.get(f"/analyses/{analysis_id}/findings").json()["items"]
        assert findings
        pages += [
            web.get("/", headers=HTML).text,
            web.get(f"/ui/logs/{log_id}", headers=HTML).text,
            web.get(analysis_path, headers=HTML).text,
            *(web.get(f"/ui/findings/{f['id']}", headers=HTML).text for f in findings),
        ]
        for page in pages:
            assert "<script>alert" not in page and "<img src=x" not in page
            assert "<i onclick" not in page
        assert any("&lt;script&gt;alert" in p for p in pages)
        assert any("&lt;i onclick=alert(3)&gt;evil.csv" in p for p in pages)
        assert any("&lt;img src=x onerror=alert(1)&gt;" in p for p in pages[4:])


def test_pages_need_nothing_from_the_internet(service: Service) -> None:
    with service.client() as web:
        home = web.get("/", headers=HTML)
        csp = home.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "script-src 'self'" in csp
        assert home.headers["x-content-type-options"] == "nosniff"
        refs = re.findall(r'(?:src|href)="([^"]+)"', home.text)
        assert refs and all(r.startswith(("/", "#")) for r in refs), refs
        for ref in [r for r in refs if r.startswith("/ui/static/")]:
            asset = web.get(ref)
            assert asset.status_code == 200
            # The SVG namespace is a name, not an address that is fetched.
            text = asset.text.replace("http://www.w3.org/2000/svg", "")
            assert "http://" not in text and "https://" not in text


def test_errors_are_pages_for_browsers_and_problems_for_clients(service: Service) -> None:
    with service.client() as web:
        page = web.get("/ui/logs/log_nope", headers=HTML)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        assert "there is no log" in page.text and 'href="/"' in page.text
        assert_problem(web.get("/ui/logs/log_nope", headers={"Accept": "application/json"}), 404)
        assert web.get("/ui/drafts/..%2F..%2Fetc", headers=HTML).status_code == 404
        # An upload refused by the service comes back as a problem the page script shows.
        bad = web.post(
            "/ui/upload",
            files={"file": ("x.csv", b"not,a\nlog")},
            headers={"Accept": "application/json", "Content-Type": "text/plain"},
        )
        assert bad.status_code == 415
        r = web.post(
            "/ui/upload",
            content=b"--x--",
            headers={
                "Accept": "application/json",
                "Content-Type": "multipart/form-data; boundary=x",
            },
        )
        assert_problem(r, 422)
        # A file no reader understands gets a page that says so (the draft stays to discard).
        draft = web_upload(web, _write(Path(service.data_dir.parent) / "junk.bin", b"\x00\x01"))
        junk = web.get(draft, headers=HTML)
        assert junk.status_code == 422 and "cannot be read" in junk.text


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_cross_site_form_posts_are_refused(service: Service) -> None:
    with service.client() as web:
        log = upload(web, SAMPLE).json()
        r = web.post(
            f"/ui/logs/{log['id']}/delete",
            headers={"Origin": "https://evil.example", **HTML},
            follow_redirects=False,
        )
        assert r.status_code == 403
        assert web.get(f"/logs/{log['id']}").status_code == 200
        r = web.post(
            f"/ui/logs/{log['id']}/delete",
            headers={"Origin": service.url, **HTML},
            follow_redirects=False,
        )
        assert r.status_code == 303
        assert web.get(f"/logs/{log['id']}").status_code == 404


@pytest.fixture(scope="module")
def keyed_web(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    keys = f"alice:sha256:{hash_key('pm_alice_web')},bob:plain:pm_bob_web"
    svc = Service(tmp_path_factory.mktemp("webkeys") / "data", env={"PROCMINE_API_KEYS": keys})
    yield svc
    svc.stop()


def test_login_cookie_and_owners(keyed_web: Service) -> None:
    with keyed_web.client() as anonymous:
        r = anonymous.get("/ui/findings/fd_x?page=2", headers=HTML, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/ui/login?next=%2Fui%2Ffindings%2Ffd_x%3Fpage%3D2"
        assert anonymous.get("/", follow_redirects=False).status_code == 303
        wrong = anonymous.post("/ui/login", data={"key": "pm_wrong", "next": "/"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        assert "procmine_key" not in wrong.headers.get("set-cookie", "")
    with keyed_web.client() as alice:
        r = alice.post(
            "/ui/login",
            data={"key": "pm_alice_web", "next": "https://evil.example/"},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == "/"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        draft = web_upload(alice, SAMPLE)
        values = form_values(alice.get(draft).text)
        r = alice.post(draft, data={**values, "action": "analyse"}, follow_redirects=False)
        analysis_path = r.headers["location"]
        assert alice.get("/").text.count('href="/ui/logs/log_') == 1
    with keyed_web.client() as bob:
        bob.post("/ui/login", data={"key": "pm_bob_web"})
        assert 'href="/ui/logs/log_' not in bob.get("/").text
        assert bob.get(draft, headers=HTML).status_code == 404
        assert bob.get(analysis_path, headers=HTML).status_code == 404
        assert bob.get(f"{analysis_path}/status").status_code == 404
        alices = {"before": analysis_path.rsplit("/", 1)[1]}
        alices["after"] = alices["before"]
        assert bob.get("/ui/compare", params=alices, headers=HTML).status_code == 404
        # The cookie is the page's: the REST API still wants the header.
        assert bob.get("/logs").status_code == 401
        out = bob.post("/ui/logout", follow_redirects=False)
        assert out.status_code == 303 and 'procmine_key=""' in out.headers["set-cookie"]


def test_drafts_expire_and_never_cross_owners(tmp_path: Path) -> None:
    store = Store(tmp_path / "data")
    drafts = Drafts(store)
    src = tmp_path / "in.csv"
    src.write_bytes(SAMPLE.read_bytes())
    kept = drafts.add("alice", src, src.stat().st_size)
    assert not src.exists() and kept.path.read_bytes() == SAMPLE.read_bytes()
    assert [d.id for d in drafts.list("alice")] == [kept.id] and drafts.list("bob") == []
    old = tmp_path / "old.csv"
    old.write_text("x")
    stale = drafts.add("alice", old, 1)
    meta = drafts.root / stale.id / "draft.json"
    data = json.loads(meta.read_text())
    data["created"] = (dt.datetime.now(dt.UTC) - DRAFT_TTL - dt.timedelta(minutes=1)).isoformat()
    meta.write_text(json.dumps(data))
    (drafts.root / ".new-dr_half").mkdir()
    drafts.recover()
    assert [d.id for d in drafts.list("alice")] == [kept.id]
    assert sorted(p.name for p in drafts.root.iterdir()) == [kept.id]
    record = drafts.confirm("alice", kept.id, UploadMapping.parse(None))
    assert record.summary["events"] > 0 and drafts.list("alice") == []


def test_an_analysis_is_offered_its_own_logs_analyses_first(tmp_path: Path) -> None:
    """The comparison picker lists at most a page of analyses: those of the same log come
    first however many newer analyses other logs have."""
    import procmine as pm

    store = Store(tmp_path / "data")

    def stored_log() -> str:
        src = tmp_path / "upload.csv"
        src.write_bytes(SAMPLE.read_bytes())
        return store.add_log("alice", src, src.stat().st_size, UploadMapping.parse(None)).id

    mine, other = stored_log(), stored_log()
    with store.engine() as engine:
        # Only the records' logs and times order the list: one result serves every record.
        result = pm.analyze(store.open_log(mine, engine, materialize=True))

        def finished(log_id: str, days: int) -> str:
            windows = {"windows": {"cancel": f"{days}d"}}
            record, _ = store.create_analysis("alice", log_id, windows)
            running = store.start(record.id)
            assert running is not None
            store.save_result(record.id, result, attempt=running.attempts)
            return record.id

        older = [finished(mine, days) for days in (2, 3)]
        newer = [finished(other, days) for days in (4, 5, 6)]  # created after the log's own
    picked = store.finished_analyses("alice", 3, besides=older[0], log_first=mine)
    assert [rec.id for rec, _ in picked] == [older[1], newer[2], newer[1]]
    newest = store.finished_analyses("alice", 3, besides=older[0])
    assert [rec.id for rec, _ in newest] == [newer[2], newer[1], newer[0]]
    assert store.finished_analyses("bob", 3, log_first=mine) == []


STEPS_CSV = (
    "order_id,customer_id,status,placed_at,paid_at,shipped_at\n"
    "A,c1,shipped,2024-03-01 10:00,2024-03-01 10:05,2024-03-02 09:00\n"
    "B,c1,placed,2024-03-03 11:00,,\n"
)


def test_a_table_of_step_columns_on_the_mapping_page(service: Service, tmp_path: Path) -> None:
    """A row per order with a column per step's time: the page lists the steps (guessed on
    a web upload) with their activities to rename, keeps steps named over REST through a
    check, and drops them once an activity and a timestamp column are chosen instead."""
    path = tmp_path / "steps.csv"
    path.write_text(STEPS_CSV)

    def activities(values: dict[str, str]) -> list[str]:
        return [values[f"act-{i}"] for i in range(int(values["activities"]))]

    def guessed(page: str) -> bool:
        steps = re.search(r'id="field-steps".*?</div>', page, re.S)
        assert steps is not None
        return 'class="badge">guessed' in steps.group(0)

    with service.client() as web:
        draft = web_upload(web, path)
        page = web.get(draft, headers=HTML).text
        assert guessed(page) and "reads cleanly" in page
        values = form_values(page)
        assert (values["step-1"], values["step-label-1"]) == ("paid_at", "Paid")
        assert 'for="step-label-1"' in page  # each name has its label
        # Checked as it was guessed, the steps stay guessed.
        again = web.post(draft, data={**values, "action": "check"}, headers=HTML).text
        assert guessed(again) and form_values(again)["step-label-1"] == "Paid"
        # Renamed: the events carry the new name; blank: the name derived from the column.
        renamed = {**values, "step-label-1": " Payment  captured ", "step-label-2": ""}
        checked = web.post(draft, data={**renamed, "action": "check"}, headers=HTML)
        assert checked.status_code == 200 and "reads cleanly" in checked.text
        assert not guessed(checked.text)
        after = form_values(checked.text)
        assert (after["step-label-1"], after["step-label-2"]) == ("Payment captured", "Shipped")
        assert {"Payment captured", "Shipped"} <= set(activities(after))
        assert "Paid" not in activities(after)

        named = {"steps": {"placed_at": "Order placed", "shipped_at": "Shipped"}}
        log = upload(web, path, mapping=named).json()
        assert log["events"] == 3
        page = web.get(f"/ui/logs/{log['id']}", headers=HTML).text
        values = form_values(page)
        assert (values["steps"], values["step-0"], values["step-label-0"]) == (
            "2",
            "placed_at",
            "Order placed",
        )
        checked = web.post(
            f"/ui/logs/{log['id']}", data={**values, "action": "check"}, headers=HTML
        )
        assert checked.status_code == 200 and not guessed(checked.text)
        assert form_values(checked.text)["step-label-0"] == "Order placed"
        long = {**values, "col-activity": "status", "col-timestamp": "placed_at", "action": "check"}
        as_events = web.post(f"/ui/logs/{log['id']}", data=long, headers=HTML)
        assert as_events.status_code == 200, as_events.text
        assert 'id="field-steps"' not in as_events.text and "reads cleanly" in as_events.text


def test_login_is_a_no_op_without_keys(service: Service) -> None:
    with service.client() as web:
        r = web.post("/ui/login", data={"key": "anything", "next": "/ui/x"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/ui/x"
        assert "set-cookie" not in r.headers


def _analysed_periods(client: httpx.Client, folder: Path) -> tuple[str, str]:
    """Two logs analysed: before an exchange path existed, and after most swaps use it."""
    from procmine.simulate import Simulation, simulate, write_log

    ids = []
    for name, share, seed in (("before.csv", 0.0, 3), ("after.csv", 0.9, 4)):
        path = folder / name
        write_log(simulate(Simulation(customers=300, exchange_share=share, seed=seed)), path)
        log = upload(client, path).json()
        started = client.post(f"/logs/{log['id']}/analyses", json={})
        ids.append(wait_done(client, started.json()["id"])["id"])
    return ids[0], ids[1]


def test_two_analyses_compared_on_a_page(service: Service, tmp_path: Path) -> None:
    """The analysis page offers the other finished analyses; the comparison page shows the
    REST API's figures (GET /analyses/{before}/compare/{after}) and the change map."""
    with service.client() as client:
        before, after = _analysed_periods(client, tmp_path)
        page = client.get(f"/ui/analyses/{after}", headers=HTML).text
        offered = re.findall(r'<option value="([^"]+)"', page)
        assert before in offered and after not in offered
        # The other period is another log's analysis: offered under "Other logs".
        assert '<optgroup label="Other logs">' in page and "This log" not in page
        r = client.get("/ui/compare", params={"before": before, "after": after}, headers=HTML)
        assert r.status_code == 200 and r.headers["content-security-policy"]
        doc = client.get(f"/analyses/{before}/compare/{after}").json()
    rows = {
        key: row
        for row in re.findall(r"<tr class=\"verdict-.*?</tr>", r.text, re.S)
        for key in re.findall(r"<code class=\"muted\">([^<]+)</code>", row)
    }
    assert set(rows) == {c["key"] for c in doc["findings"]}
    for change in doc["findings"]:
        row = rows[change["key"]]
        assert f"<td>{change['verdict']}</td>" in row, change["key"]
        if change["difference"]:
            assert f"{change['difference']['estimate'] * 100:+.1f} pp" in row
        if change["before"]:
            assert f"{change['before']['affected']:,} of {change['before']['eligible']:,}" in row
    # The simulated exchange path takes most swaps off the detour: the page says so.
    detours = [rows[k] for k in rows if k.startswith("exchange_detour:")]
    assert any("<td>fell</td>" in row for row in detours)
    assert f"/ui/compare?before={after}&amp;after={before}" in r.text  # the swap
    assert r.text.count("<svg") == 1 and "Change in the share of orders per path" in r.text
    with service.client() as client:
        params = {"before": before, "after": "an_missing"}
        missing = client.get("/ui/compare", params=params, headers=HTML)
    assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]


@pytest.mark.parametrize(
    ("period", "text"),
    [
        (None, ""),
        ({"start": None, "end": None}, ""),
        ({"start": "2024-07-01T00:00:00", "end": None}, " · orders placed from 2024-07-01"),
        ({"start": None, "end": "2024-07-01T00:00:00"}, " · orders placed before 2024-07-01"),
        (
            {"start": "2024-03-01T00:00:00", "end": "2024-07-01T00:00:00"},
            " · orders placed 2024-03-01 to 2024-07-01",
        ),
    ],
)
def test_an_analysis_of_a_period_says_which(period: dict[str, Any] | None, text: str) -> None:
    """What the compare choices and the comparison page add to a log's name, so that two
    analyses of one log (before and after a date) can be told apart."""
    from types import SimpleNamespace

    from api.web.render import _env

    macros = _env.get_template("_macros.html").make_module()
    record = SimpleNamespace(parameters={"period": period} if period is not None else None)
    assert str(macros.period(record)) == text


def test_before_and_after_a_date_from_the_log_page(service: Service) -> None:
    """A date on the log's page starts the analyses of the two periods and leads to their
    comparison, which waits for both and then shows the REST API's figures."""
    with service.client() as client:
        log = upload(client, SAMPLE).json()
        page = client.get(f"/ui/logs/{log['id']}", headers=HTML).text
        assert 'action="/ui/logs/' in page and 'id="split-form"' in page
        bad = client.post(f"/ui/logs/{log['id']}/compare", data={"date": "July"}, headers=HTML)
        assert bad.status_code == 422 and "July&#39;, is not a date (YYYY-MM-DD)" in bad.text
        r = client.post(
            f"/ui/logs/{log['id']}/compare",
            data={"date": "2024-07-01"},
            headers=HTML,
            follow_redirects=False,
        )
        assert r.status_code == 303
        query = dict(re.findall(r"(before|after)=([^&]+)", r.headers["location"]))
        first = client.get(r.headers["location"], headers=HTML)
        assert first.status_code == 200
        # Until both are done the page follows the unfinished one.
        states = [client.get(f"/analyses/{query[k]}").json()["state"] for k in query]
        assert ('id="progress"' in first.text) == any(s != "done" for s in states)
        docs = {k: wait_done(client, v) for k, v in query.items()}
        assert docs["before"]["parameters"]["period"]["end"] == "2024-07-01T00:00:00"
        assert docs["after"]["parameters"]["period"]["start"] == "2024-07-01T00:00:00"
        done = client.get(r.headers["location"], headers=HTML).text
        doc = client.get(f"/analyses/{query['before']}/compare/{query['after']}").json()
        listed = client.get(f"/ui/logs/{log['id']}", headers=HTML).text
    assert 'id="progress"' not in done
    assert "orders placed before 2024-07-01" in done and "orders placed from 2024-07-01" in done
    for change in doc["findings"]:
        assert f'<code class="muted">{change["key"]}</code>' in done
    assert "orders placed before 2024-07-01" in listed and "orders placed from 2024-07-01" in listed


def test_a_period_without_orders_is_said_on_the_comparison(service: Service) -> None:
    with service.client() as client:
        log = upload(client, SAMPLE).json()
        r = client.post(
            f"/ui/logs/{log['id']}/compare",
            data={"date": "2000-01-01"},
            headers=HTML,
            follow_redirects=False,
        )
        query = dict(re.findall(r"(before|after)=([^&]+)", r.headers["location"]))
        states = {k: wait_done(client, v)["state"] for k, v in query.items()}
        page = client.get(r.headers["location"], headers=HTML)
    assert states == {"before": "failed", "after": "done"}
    assert page.status_code == 200
    assert "The analysis of the before period failed" in page.text
    assert "no orders placed before 2000-01-01" in page.text
    assert 'id="progress"' not in page.text and 'id="finding-changes"' not in page.text
