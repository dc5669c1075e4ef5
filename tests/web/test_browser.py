# SPDX-License-Identifier: AGPL-3.0-or-later
"""The web page in a real browser: Debian's Chromium driven by Playwright, against the real
service started with `procmine serve`.

The analyst's path: upload a log whose timestamp column procmine cannot recognise, correct it
in the mapping step, run the analysis, open the top finding, switch the map overlay, move the
path slider, zoom with the keyboard, download the CSV, and delete the log. Screenshots of the
main pages go to ``$PROCMINE_SCREENSHOTS`` when it is set (``scripts/screenshots.sh`` points
it at ``docs/screenshots``), else to the test's temporary folder.

Chromium comes from Debian (``apt-get install chromium``, done by ``scripts/setup.sh --dev``);
Playwright's own browser download is not used.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_helpers import SAMPLE, Service, renamed_sample, wait_done

playwright = pytest.importorskip("playwright.sync_api")

CHROMIUM = os.environ.get("PROCMINE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
# Chromium as root in a container, with nothing reaching for the network (the machine has none).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"no Chromium at {CHROMIUM}: install Debian's chromium (scripts/setup.sh --dev does) "
            "or set PROCMINE_CHROMIUM"
        )
    with playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, service: Service) -> Iterator[Any]:
    context = browser.new_context(
        base_url=service.url, viewport={"width": 1366, "height": 900}, accept_downloads=True
    )
    # Nothing may be fetched from anywhere but the service itself.
    outside: list[str] = []
    context.route(
        re.compile(r"^(?!" + re.escape(service.url) + ").*"),
        lambda route: (outside.append(route.request.url), route.abort()),
    )
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield pg
    context.close()
    assert not outside, f"the page fetched from outside the service: {outside}"
    assert not errors, f"JavaScript errors: {errors}"


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("PROCMINE_SCREENSHOTS")
    folder = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def view_box(pg: Any) -> list[float]:
    return [float(v) for v in str(pg.get_attribute("#maps .map-view svg", "viewBox")).split()]


def test_analyst_path(page: Any, service: Service, tmp_path: Path, shots: Path) -> None:
    pg = page
    pg.goto("/")
    pg.screenshot(path=str(shots / "1-home.png"))

    # Upload with the file picker: the progress bar runs, then the mapping step opens.
    # The progress bar's last value is kept across the navigation that follows the upload.
    pg.evaluate(
        """() => {
            const bar = document.getElementById("upload-progress");
            new MutationObserver(() => sessionStorage.setItem("upload", bar.value))
                .observe(bar, { attributes: true });
        }"""
    )
    pg.set_input_files("#file", str(renamed_sample(tmp_path, "orders-2024.csv")))
    pg.click("#upload-form button[type=submit]")
    pg.wait_for_url(re.compile(r"/ui/drafts/dr_"))
    assert pg.evaluate("sessionStorage.getItem('upload')") == "100"

    # The timestamp column was not recognised: said in plain words beside its select.
    error = pg.locator("#err-timestamp")
    assert "no timestamp column" in error.inner_text()
    assert pg.get_attribute("#col-timestamp", "aria-invalid") == "true"
    assert pg.locator("#roles").count() == 0
    pg.screenshot(path=str(shots / "2-mapping-problem.png"), full_page=True)

    # Correct it with the keyboard: focus the select and choose the column.
    pg.focus("#col-timestamp")
    pg.select_option("#col-timestamp", "booked")
    pg.click("button[value=check]")
    pg.wait_for_selector("#roles")
    assert pg.locator("#err-timestamp").count() == 0
    assert "reads cleanly" in pg.inner_text("main")
    # The roles were guessed; "Customer contact" is a contact.
    contact = pg.locator("#roles tr", has_text="Customer contact").locator("select")
    assert contact.input_value() == "contact"
    pg.screenshot(path=str(shots / "3-mapping.png"), full_page=True)

    pg.click("#analyse")
    pg.wait_for_url(re.compile(r"/ui/analyses/an_"))
    pg.wait_for_selector("#findings", timeout=240_000)
    cards = pg.locator("#findings > li")
    assert cards.count() >= 3
    first = cards.nth(0)
    assert "per month at risk" in first.inner_text()
    assert "Affected customers" in first.inner_text()
    assert "Churn difference" in first.inner_text()
    pg.screenshot(path=str(shots / "4-findings.png"), full_page=True)

    # Maps: the overlay switch redraws the map in place.
    assert pg.get_attribute("#maps .map-view", "data-overlay") == "frequency"
    pg.check("#maps input[name=overlay][value=performance]")
    pg.wait_for_selector("#maps .map-view[data-overlay=performance]")
    assert "how long" in pg.inner_text("#maps .map-view")
    # The path slider: fewer paths, fewer edges drawn.
    edges_before = pg.locator("#maps .map-view g.edge").count()
    slider = pg.locator("#maps-paths")
    least = int(slider.get_attribute("min") or 1)
    slider.fill(str(least))
    pg.wait_for_selector(f"#maps .map-view[data-paths='{least}']")
    assert pg.locator("#maps .map-view g.edge").count() < edges_before
    assert f"{least} of" in pg.inner_text("#maps .paths-out")
    # Zoom by keyboard and by button; Fit restores the whole map.
    whole = view_box(pg)
    pg.focus("#maps .map-view")
    pg.keyboard.press("+")
    zoomed = view_box(pg)
    assert zoomed != whole
    assert zoomed[2] < whole[2]
    pg.keyboard.press("ArrowRight")
    assert view_box(pg) != zoomed
    pg.click("#maps [data-zoom=reset]")
    assert view_box(pg) == whole
    # The journey map of the detours.
    pg.check("#maps input[name=map][value=journey]")
    pg.wait_for_selector("#maps .map-view[data-name=journey]")
    # "Show on map" draws the top finding's paths highlighted on the process map.
    first.locator(".show-on-map").click()
    pg.wait_for_selector("#maps .map-view[data-name=process][data-finding^=fd_]")
    assert pg.locator("#maps .map-view g.edge path[stroke='#dc2626']").count() >= 1
    assert "highlighted" in (first.get_attribute("class") or "")
    pg.locator("#maps").screenshot(path=str(shots / "5-map-highlight.png"))

    # Open the top finding: its paths, its instances (paginated) and the CSV.
    title = first.locator("h3 a").inner_text()
    first.locator("h3 a").click()
    pg.wait_for_selector("#instances")
    assert pg.inner_text("h1").startswith(title)
    assert pg.locator("#edges tbody tr").count() >= 1
    assert pg.locator("#maps .map-view g.edge path[stroke='#dc2626']").count() >= 1
    rows = pg.locator("#instances tbody tr")
    assert 1 <= rows.count() <= 25
    first_row = rows.nth(0).inner_text()
    pg.screenshot(path=str(shots / "6-finding.png"), full_page=True)
    assert pg.locator(".pager a[rel=next]").count() == 1  # the top finding has > 25
    pg.click(".pager a[rel=next]")
    pg.wait_for_url(re.compile(r"page=2"))
    assert "Page 2 of" in pg.inner_text(".pager")
    assert pg.locator("#instances tbody tr").nth(0).inner_text() != first_row
    pg.go_back()
    with pg.expect_download() as download_info:
        pg.click("#csv")
    download = download_info.value
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    assert saved.name.endswith("-instances.csv")
    lines = saved.read_text("utf-8").splitlines()
    header = lines[0].replace('"', "").split(",")
    assert header[:3] == ["customer", "original_case", "replacement_case"]
    count = re.search(r"Instances \(([\d,]+)\)", pg.inner_text("main"))
    assert count is not None and len(lines) - 1 == int(count.group(1).replace(",", ""))

    # Back to the list: the log is there with its analysis; delete it (confirming).
    pg.goto("/")
    row = pg.locator("#logs tbody tr", has_text="orders-2024.csv")
    assert row.count() == 1 and "done" in row.inner_text()
    pg.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.danger").click()
    pg.wait_for_load_state()
    assert pg.locator("#logs tbody tr", has_text="orders-2024.csv").count() == 0


def test_drag_and_drop_upload_shows_progress(page: Any, tmp_path: Path) -> None:
    pg = page
    pg.goto("/")
    content = SAMPLE.read_text("utf-8")
    # A drop as the browser delivers it: a DataTransfer holding the file.
    transfer = pg.evaluate_handle(
        """(text) => {
            const dt = new DataTransfer();
            dt.items.add(new File([text], "dropped.csv", { type: "text/csv" }));
            return dt;
        }""",
        content,
    )
    pg.dispatch_event("#upload-form", "dragenter", {"dataTransfer": transfer})
    assert "dragging" in (pg.get_attribute("#upload-form", "class") or "")
    pg.dispatch_event("#upload-form", "drop", {"dataTransfer": transfer})
    pg.wait_for_url(re.compile(r"/ui/drafts/dr_"))
    assert "dropped.csv" in pg.inner_text("h1")
    # The upload is waiting as a draft on the start page until it is mapped or discarded.
    pg.goto("/")
    assert pg.locator("text=Uploads waiting for their mapping").count() == 1
    pg.once("dialog", lambda dialog: dialog.accept())
    pg.locator("tr", has_text="dropped.csv").locator("button.danger").click()
    pg.wait_for_load_state()
    assert pg.locator("text=dropped.csv").count() == 0


@pytest.fixture(scope="module")
def small_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    svc = Service(
        tmp_path_factory.mktemp("small") / "data", env={"PROCMINE_MAX_UPLOAD_BYTES": "4096"}
    )
    yield svc
    svc.stop()


def test_refused_upload_is_explained_on_the_page(browser: Any, small_service: Service) -> None:
    context = browser.new_context(base_url=small_service.url)
    try:
        pg = context.new_page()
        pg.goto("/")
        status = pg.locator("#upload-status")
        # Too large for this service: said in the page before a byte is sent ...
        pg.set_input_files("#file", str(SAMPLE))
        pg.click("#upload-form button[type=submit]")
        assert "larger than this service accepts" in status.inner_text()
        assert "error" in (status.get_attribute("class") or "")
        # ... and by the service itself when the page's own check is bypassed.
        pg.evaluate("document.getElementById('upload-form').dataset.maxBytes = '999999999'")
        pg.click("#upload-form button[type=submit]")
        # A locator wait, not wait_for_function: a string predicate is polled with eval in
        # the page, which the page's Content-Security-Policy forbids (it failed whenever the
        # answer took longer than the first check).
        pg.locator("#upload-status", has_text="refused").wait_for()
        assert "4,096 bytes" in status.inner_text()
        assert pg.url.endswith("/")
    finally:
        context.close()


def test_analysis_progress_then_findings(page: Any, service: Service, tmp_path: Path) -> None:
    """A larger log, so that the analysis is still running when its page opens."""
    from procmine.simulate import Simulation, simulate, write_log

    path = tmp_path / "large.parquet"
    write_log(simulate(Simulation(customers=6000, seed=11)), path)
    with service.client() as client, path.open("rb") as fh:
        log = client.post("/logs", files={"file": ("large.parquet", fh)}).json()
        analysis = client.post(f"/logs/{log['id']}/analyses").json()
    pg = page
    seen: list[float] = []
    pg.on(
        "response",
        lambda r: seen.append(r.json()["progress"]) if r.url.endswith("/status") else None,
    )
    pg.goto(f"/ui/analyses/{analysis['id']}")
    assert pg.locator("#analysis-progress").is_visible()
    assert pg.locator("#analysis-phase").get_attribute("role") == "status"
    # The page follows the job by itself and shows the findings when it is done.
    pg.wait_for_selector("#findings", timeout=240_000)
    assert seen and seen == sorted(seen)
    assert pg.locator("#progress").count() == 0


def test_api_docs_render_from_the_service_alone(page: Any, service: Service) -> None:
    """Swagger UI at /docs loads its script and styles from the service: the page fixture
    refuses every other address (a CDN's included) and fails on JavaScript errors."""
    pg = page
    pg.goto("/docs")
    pg.locator(".swagger-ui .info .title", has_text="procmine").wait_for()
    assert pg.locator(".opblock-summary-path", has_text="/logs").count() >= 1
    with service.client() as client:
        assert client.get("/redoc").status_code == 404  # ReDoc would fetch from its CDN


def test_before_and_after_compared_on_the_page(
    page: Any, service: Service, tmp_path: Path, shots: Path
) -> None:
    """From an analysis, pick the analysis of the period before, compare, read which
    findings fell, and swap the two; the change map zooms like the others."""
    from procmine.simulate import Simulation, simulate, write_log

    ids = []
    with service.client() as client:
        for name, share, seed in (("before.csv", 0.0, 3), ("after.csv", 0.9, 4)):
            path = tmp_path / name
            write_log(simulate(Simulation(customers=300, exchange_share=share, seed=seed)), path)
            with path.open("rb") as fh:
                log = client.post("/logs", files={"file": (name, fh)}).json()
            started = client.post(f"/logs/{log['id']}/analyses", json={}).json()
            ids.append(wait_done(client, started["id"])["id"])
    pg = page
    pg.goto(f"/ui/analyses/{ids[1]}")
    pg.select_option("#compare-before", ids[0])
    pg.click("#compare button[type=submit]")
    pg.wait_for_selector("#finding-changes")
    pg.screenshot(path=str(shots / "7-before-after.png"))
    # Each row names its finding's key; the simulated exchange path cut the detours.
    fell = sorted(pg.locator("#finding-changes tr.verdict-fell code").all_inner_texts())
    assert any(key.startswith("exchange_detour:") for key in fell)
    svg = pg.locator(".map-view svg")
    before_box = str(svg.get_attribute("viewBox"))
    pg.click(".map-toolbar [data-zoom=in]")
    assert str(svg.get_attribute("viewBox")) != before_box
    pg.click("text=Swap before and after")
    pg.wait_for_selector("#finding-changes")
    assert sorted(pg.locator("#finding-changes tr.verdict-rose code").all_inner_texts()) == fell


def test_before_and_after_a_date_waits_for_both_analyses(page: Any, service: Service) -> None:
    """From a log's page: a date starts the analyses of both periods, and the comparison page
    follows them until it can show the comparison, by itself."""
    with service.client() as client, SAMPLE.open("rb") as fh:
        log = client.post("/logs", files={"file": ("orders.csv", fh)}).json()
    pg = page
    polled: list[str] = []
    pg.on("response", lambda r: polled.append(r.url) if r.url.endswith("/status") else None)
    pg.goto(f"/ui/logs/{log['id']}")
    pg.fill("#split-date", "2024-07-01")
    pg.click("#split-form button[type=submit]")
    pg.wait_for_url(re.compile(r"/ui/compare\?before=an_\w+&after=an_\w+$"))
    pg.wait_for_selector("#finding-changes", timeout=240_000)
    text = pg.locator("dl.figures").inner_text()
    assert "orders placed before 2024-07-01" in text and "orders placed from 2024-07-01" in text
    assert pg.locator("#progress").count() == 0
    # The analyses take seconds, the redirect none: the page waited, asking for their state.
    assert polled
