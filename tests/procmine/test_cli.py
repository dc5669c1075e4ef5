# SPDX-License-Identifier: AGPL-3.0-or-later
"""The procmine command, run as a real process: outputs, exit status, no tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import run_cli

from procmine.simulate import Simulation, simulate, write_log


@pytest.fixture(scope="module", name="orders")
def fixture_orders(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cli") / "orders.csv"
    write_log(simulate(Simulation(customers=300, seed=3)), path)
    return path


def test_analyze_prints_the_findings_table(orders: Path) -> None:
    done = run_cli("analyze", str(orders))
    assert done.returncode == 0, done.stderr
    assert "exchange_detour:cancel_reorder" in done.stdout
    assert "EUR/month" in done.stdout
    assert "Activity roles" in done.stderr and "Order cancelled" in done.stderr
    # long waits were found (over p90) but none over an SLA: the empty variant is named,
    # not the whole detector
    assert "long_wait:over_sla: nothing found" in done.stdout
    assert "long_wait: nothing found" not in done.stdout
    assert "Root causes" in done.stdout


def test_analyze_json_is_the_findings_document(orders: Path) -> None:
    done = run_cli("analyze", str(orders), "--json", "-q")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["log"]["events"] > 1000 and "roles" in doc["log"]
    finding = doc["findings"][0]
    assert {"id", "detector", "title", "severity", "metrics", "assumptions", "instances"} <= set(
        finding
    )
    instance = finding["instances"][0]
    assert {"customer", "original_case", "replacement_case", "variant"} <= set(instance)
    assert done.stderr == ""


def test_a_capped_engine_finds_the_same(orders: Path, tmp_path: Path) -> None:
    # A memory cap this low makes DuckDB spill its sorts and joins to disk; the findings
    # must not change, and the spill folder must be gone afterwards.
    capped = run_cli(
        "analyze",
        str(orders),
        "--json",
        "-q",
        "--memory-limit",
        "64MB",
        "--threads",
        "1",
        cwd=tmp_path,
    )
    plain = run_cli("analyze", str(orders), "--json", "-q")
    assert capped.returncode == 0, capped.stderr
    a, b = json.loads(capped.stdout), json.loads(plain.stdout)
    for doc in (a, b):
        doc.pop("created")
    assert a == b
    assert list(tmp_path.iterdir()) == []  # nothing spilled into the working folder


@pytest.mark.parametrize("limit", ["1MB", "8MB"])
def test_an_engine_out_of_memory_says_so_and_writes_nothing(
    orders: Path, tmp_path: Path, limit: str
) -> None:
    # 1MB fails while the CSV is read (once reported as "a line is malformed"), 8MB later,
    # in the analysis (once an "internal error ... bug in procmine").
    out = tmp_path / "out"
    done = run_cli("analyze", str(orders), "--out", str(out), "--memory-limit", limit)
    assert done.returncode == 1, done.stderr
    assert "ran out of memory" in done.stderr and "--memory-limit" in done.stderr
    assert "malformed" not in done.stderr and "bug in procmine" not in done.stderr
    assert not out.exists()


def test_analyze_out_writes_report_maps_and_findings(orders: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    done = run_cli("analyze", str(orders), "--out", str(out), "--png", "-q")
    assert done.returncode == 0, done.stderr
    names = {p.name for p in out.iterdir()}
    for stem in ("process", "process-performance", "journey"):
        assert {f"{stem}.svg", f"{stem}.dot", f"{stem}.png"} <= names
    assert {"findings.json", "report.html"} <= names
    assert not [n for n in names if n.endswith(".tmp")]
    assert json.loads((out / "findings.json").read_text())["findings"]


def test_options_reach_the_analysis(orders: Path) -> None:
    done = run_cli(
        "analyze",
        str(orders),
        "--json",
        "-q",
        "--cancel-window",
        "3d",
        "--similarity",
        "variant",
        "--cost",
        "return_label=11",
        "--currency",
        "USD",
        "--detector",
        "exchange_detour",
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    params = doc["parameters"]
    assert params["windows"]["cancel"] == "3d"
    assert params["similarity"]["min_level"] == "variant"
    assert params["cost_model"]["return_label"] == 11.0
    assert {f["detector"] for f in doc["findings"]} == {"exchange_detour"}
    assert all(i["similarity"] == "variant" for f in doc["findings"] for i in f["instances"])


def test_config_file_and_roles(orders: Path, tmp_path: Path) -> None:
    config = tmp_path / "procmine.toml"
    config.write_text(
        '[windows]\ncancel = "2d"\n[cost_model]\ncurrency = "CHF"\n[roles]\ncontact = []\n'
    )
    done = run_cli(
        "analyze", str(orders), "--config", str(config), "--json", "-q", "--role", "exchange="
    )
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["parameters"]["windows"]["cancel"] == "2d"
    assert doc["parameters"]["cost_model"]["currency"] == "CHF"
    assert "contact" not in doc["log"]["roles"] and "exchange" not in doc["log"]["roles"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing.csv"], "does not exist"),
        (["{orders}", "--customer", "client"], "column 'client' (given for customer)"),
        (["{orders}", "--role", "cancel=Storno"], "no activity 'Storno' in the log"),
        (["{orders}", "--role", "kancel=Order cancelled"], "unknown role 'kancel'"),
        (["{orders}", "--cancel-window", "soon"], "is not a duration"),
        (["{orders}", "--similarity", "close"], "unknown similarity level"),
        (["{orders}", "--cost", "lunch=3"], "KEY one of"),
        (["{orders}", "--detector", "nope"], "unknown detector 'nope'"),
        (["{orders}", "--config", "nope.toml"], "does not exist"),
        (["{orders}", "--timestamp-format", "%d/%m/%Y"], "cannot be read as '%d/%m/%Y'"),
        (["{orders}", "--memory-limit", "lots"], "'lots' is not a size such as 512MB"),
    ],
)
def test_user_mistakes_exit_2_with_one_clear_message(
    orders: Path, args: list[str], message: str
) -> None:
    done = run_cli("analyze", *[a.format(orders=orders) for a in args], "-q")
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_an_output_folder_that_cannot_be_made_exits_2(orders: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    done = run_cli("analyze", str(orders), "--out", str(blocker / "report"), "-q")
    assert done.returncode == 2
    assert "cannot create the output folder" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_an_output_folder_that_takes_no_files_exits_2(orders: Path) -> None:
    # /proc/self exists, and nobody (root included) can create a file in it.
    done = run_cli("analyze", str(orders), "--out", "/proc/self", "-q")
    assert done.returncode == 2, done.stderr
    assert "cannot write /proc/self/findings.json" in done.stderr
    assert "Traceback" not in done.stderr and "bug in procmine" not in done.stderr


def test_a_log_without_customers_or_reversals_says_why_nothing_was_found(tmp_path: Path) -> None:
    log = tmp_path / "process.csv"
    log.write_text("case,activity,timestamp\n1,register,2024-01-01\n1,decide,2024-01-02\n")
    done = run_cli("analyze", str(log), "-q")
    assert done.returncode == 0
    assert "exchange_detour: nothing found" in done.stdout
    assert "no customer column" in done.stdout and "--role cancel=LABEL" in done.stdout


def test_a_bad_csv_exits_2_and_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("order_id,activity,timestamp\nA,x,2024-01-01\nB,y,someday\n")
    done = run_cli("analyze", str(bad))
    assert done.returncode == 2
    assert "line 3" in done.stderr and "'someday'" in done.stderr
    assert "Traceback" not in done.stderr


def test_inspect_detectors_and_simulate(tmp_path: Path) -> None:
    target = tmp_path / "sim.parquet"
    done = run_cli("simulate", "--out", str(target), "--customers", "40", "--seed", "5")
    assert done.returncode == 0, done.stderr
    assert target.exists() and (tmp_path / "sim.truth.csv").exists()
    assert "wrote" in done.stderr
    shown = run_cli("inspect", str(target))
    assert shown.returncode == 0 and "customer=customer_id (guessed)" in shown.stderr
    listed = run_cli("detectors")
    assert "exchange_detour" in listed.stdout and "reorder_before_refund" in listed.stdout
    both = run_cli("simulate", "--out", str(target), "--customers", "4", "--events", "400")
    assert both.returncode == 2 and "not both" in both.stderr
