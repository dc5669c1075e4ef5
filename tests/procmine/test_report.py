# SPDX-License-Identifier: AGPL-3.0-or-later
"""The findings document, the HTML report and writing an analysis to a folder."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from factories import OrderLog

from procmine import Analysis, analyze
from procmine.export import build_maps, write_analysis
from procmine.findings import dumps
from procmine.log import EventLog
from procmine.report import render_report

EVIL = '<script>alert("pwned")</script><img src=x onerror=alert(1)>'


@pytest.fixture(scope="module", name="analysis")
def fixture_analysis() -> Analysis:
    b = OrderLog()
    for i in range(4):
        b.cancelled(f"A{i}", f"<b>c{i}</b>", i)
        b.delivered(f"B{i}", f"<b>c{i}</b>", i + 1, sku="SHOE-1-43")
        b.event(f"B{i}", f"<b>c{i}</b>", EVIL, b.rows[-1]["timestamp"])
    return analyze(EventLog.from_pandas(b.frame()))


def test_the_document_has_the_designed_shape(analysis: Analysis) -> None:
    doc = json.loads(dumps(analysis.to_dict()))
    assert set(doc["log"]) >= {"events", "cases", "customers", "activities", "roles"}
    assert doc["log"]["roles"]["cancel"] == ["Order cancelled"]
    f = next(x for x in doc["findings"] if x["id"] == "exchange_detour:cancel_reorder")
    assert {
        "id",
        "detector",
        "title",
        "severity",
        "metrics",
        "assumptions",
        "instances",
        "units",
        "evidence",
        "summary",
        "notes",
        "variant",
    } <= set(f)
    assert len(f["instances"]) == 4
    assert f["instances"][0]["original_order_time"].startswith("2024-01-01")
    assert all(isinstance(v, int | float) or v is None for v in f["metrics"].values())


def test_findings_and_instances_as_frames(analysis: Analysis) -> None:
    frame = analysis.findings.to_pandas()
    assert {"id", "severity", "instances", "affected_customers"} <= set(frame.columns)
    assert list(frame["severity"]) == sorted(frame["severity"], reverse=True)
    inst = analysis.findings.instances()
    assert len(inst[inst.finding == "exchange_detour:cancel_reorder"]) == 4
    finding = analysis.findings.get("exchange_detour:cancel_reorder")
    assert finding is not None and finding.instances.to_pandas().shape[0] == 4
    assert finding.metrics_frame().set_index("metric").loc["instances", "value"] == 4
    html = analysis.findings._repr_html_()
    assert "<table" in html and "exchange_detour:cancel_reorder" in html


def test_the_report_is_self_contained_and_escapes_log_values(analysis: Analysis) -> None:
    html = render_report(analysis, list(build_maps(analysis).named().values()))
    assert "<script>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;c0&lt;/b&gt;" in html
    assert "<img" not in html and "&lt;img src=x" in html
    assert "<svg" in html and "<link" not in html and 'src="http' not in html
    assert "Cancelled and reordered" in html


def test_write_analysis_writes_every_file_readable_and_atomically(
    analysis: Analysis, tmp_path: Path
) -> None:
    old_umask = os.umask(0o022)
    try:
        written = write_analysis(analysis, tmp_path / "out")
    finally:
        os.umask(old_umask)
    names = sorted(p.name for p in written)
    assert names == sorted(
        ["findings.json", "report.html"]
        + [
            f"{s}.{e}"
            for s in ("process", "process-performance", "journey")
            for e in ("svg", "dot")
        ]
    )
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == names
    mode = stat.S_IMODE((tmp_path / "out" / "report.html").stat().st_mode)
    assert mode == 0o644
