# SPDX-License-Identifier: AGPL-3.0-or-later
"""The findings document, the HTML report and writing an analysis to a folder."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from factories import OrderLog

from procmine import Analysis, RenderError, analyze
from procmine.export import build_maps, document_chunks, write_analysis
from procmine.findings import INSTANCE_SCHEMA, PRETTY_INSTANCES, dump_chunks, dumps, json_rows
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


def test_write_analysis_writes_the_document_whole_and_nothing_when_a_map_fails(
    analysis: Analysis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    write_analysis(analysis, out)
    # Written in the background while the maps were drawn: the same bytes as in one go.
    assert (out / "findings.json").read_bytes() == b"".join(document_chunks(analysis))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    # Without Graphviz the maps cannot be rendered: the earlier files stay as they were, and
    # the document being written meanwhile is removed, not left half-written or renamed.
    monkeypatch.setenv("PATH", str(tmp_path / "no-graphviz-here"))
    with pytest.raises(RenderError, match="Graphviz is not installed"):
        write_analysis(analysis, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    fresh = tmp_path / "fresh"
    with pytest.raises(RenderError):
        write_analysis(analysis, fresh)
    assert list(fresh.iterdir()) == []


def _awkward_instances(n: int, seed: int) -> pa.Table:
    """An instance table with every kind of value the JSON must get right."""
    rng = np.random.default_rng(seed)
    texts = np.array(
        ["plain", 'quote " and \\ back', "tab\tnew\nline", "é ü 漢字 🙂", "\u2028", ""]
    )
    floats = rng.normal(100, 50, n)
    floats[rng.random(n) < 0.1] = np.nan
    floats[rng.random(n) < 0.05] = np.inf
    floats[rng.random(n) < 0.05] = -np.inf
    # 1906 to 2096; whole seconds as often as not.
    fraction = np.where(rng.random(n) < 0.5, 0, rng.integers(0, 1_000_000, n))
    micros = rng.integers(-2_000_000_000, 4_000_000_000, n) * 1_000_000 + fraction
    columns: dict[str, pa.Array] = {}
    for f in INSTANCE_SCHEMA:
        if pa.types.is_timestamp(f.type):
            values = pa.array(micros, pa.int64()).cast(f.type)
        elif pa.types.is_floating(f.type):
            values = pa.array(rng.permutation(floats), f.type)
        elif pa.types.is_integer(f.type):
            values = pa.array(rng.integers(-5, 10**12, n), f.type)
        elif pa.types.is_boolean(f.type):
            values = pa.array(rng.random(n) < 0.5)
        else:
            values = pa.array(rng.choice(texts, n), f.type)
        nulls = pa.array(rng.random(n) < 0.1)
        columns[f.name] = pc.if_else(nulls, pa.scalar(None, f.type), values)
    return pa.table(columns, schema=INSTANCE_SCHEMA)


def test_large_document_encoded_by_duckdb_reads_as_the_python_encoding() -> None:
    # Above PRETTY_INSTANCES the instances are encoded by DuckDB, in chunks; the document
    # must parse to exactly what the Python encoder writes.
    tables = [_awkward_instances(PRETTY_INSTANCES, 1), _awkward_instances(0, 2)]
    tables.append(_awkward_instances(7_777, 3))
    document = {
        "procmine": "x",
        "findings": [{"id": f"f{i}", "title": 'a "quoted" title'} for i in range(3)],
    }
    chunks = list(dump_chunks(document, tables, chunk_rows=4_096))
    assert len(chunks) > 3  # it was written in pieces
    via_python = {
        **document,
        "findings": [
            {**f, "instances": json_rows(t)}
            for f, t in zip(document["findings"], tables, strict=True)
        ],
    }
    assert json.loads(b"".join(chunks)) == json.loads(dumps(via_python))


def test_a_slice_that_duckdb_returns_in_several_batches_is_written_whole() -> None:
    # DuckDB hands back a slice of more than 131,072 rows as several Arrow batches; each
    # batch's text is written as it is, and only the very last row loses its comma.
    n = 250_000
    table = pa.table(
        {
            "original_case": pa.array([f'o"{i}' for i in range(n)]),
            "repeats": pa.array(range(n), pa.int64()),
        }
    )
    document = {"findings": [{"id": "f"}]}
    chunks = list(dump_chunks(document, [table], chunk_rows=n))
    # the document's head, "[", at least two batches, "]", the document's tail
    assert len(chunks) >= 6
    assert json.loads(b"".join(chunks))["findings"][0]["instances"] == json_rows(table)
