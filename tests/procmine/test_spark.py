# SPDX-License-Identifier: AGPL-3.0-or-later
"""The Spark engine (local mode) gives what the DuckDB engine gives, on the same logs.

Both engines read the same Parquet file and run the whole analysis (discovery, every
detector, scoring, root causes, finding edges, maps); the findings documents must agree
value for value (floats to 1e-9: Spark divides decimals where DuckDB divides doubles).
"""

from __future__ import annotations

import gc
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from cli_helpers import run_cli
from factories import OrderLog, at

import procmine as pm
from procmine.config import Waits, parse_duration
from procmine.engine import Engine
from procmine.errors import LogFormatError, LogValidationError
from procmine.export import write_analysis

pytest.importorskip("pyspark")
if shutil.which("java") is None:  # pragma: no cover - depends on the machine
    pytest.skip("Spark needs Java", allow_module_level=True)

pytestmark = [
    # The Spark tests share one xdist worker: a JVM each would be slower.
    pytest.mark.xdist_group("spark"),
    # Py4J leaves its sockets to the Python to Java gateway for the garbage collector.
    pytest.mark.filterwarnings(
        "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
    ),
]

SAMPLE = Path(__file__).resolve().parents[2] / "sample_logs" / "orders.csv"


#: Settings for the tests' logs of a few dozen rows, where each of an analysis's hundreds of
#: queries is mostly planning and code generation: without code generation, adaptive
#: re-planning and shuffle partitions beyond one, the friction log's analysis takes about
#: two thirds of the time (Spark's results do not depend on them). The warehouse folder
#: goes to a temporary folder, not the working directory.
SMALL_DATA = {
    "spark.sql.codegen.wholeStage": "false",
    "spark.sql.codegen.factoryMode": "NO_CODEGEN",
    "spark.sql.adaptive.enabled": "false",
    "spark.sql.shuffle.partitions": "1",
}


@pytest.fixture(scope="module", name="spark")
def fixture_spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.master("local[2]").appName("procmine-tests")
    settings = {
        **SMALL_DATA,
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(tmp_path_factory.mktemp("spark-warehouse")),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    engine = Engine.spark(builder.getOrCreate())
    session = engine.backend._session
    session.sparkContext.setLogLevel("ERROR")
    yield engine
    session.stop()
    # Py4J's sockets to the JVM are closed by the garbage collector: collect them here,
    # under this module's warning filter, not in whichever test runs next on this worker.
    gc.collect()


def _same(a: Any, b: Any, path: str = "") -> list[str]:
    """Where two JSON documents differ (floats compared to 1e-9 relative)."""
    if isinstance(a, float) and isinstance(b, float | int):
        return [] if math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) else [f"{path}: {a} {b}"]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{path}: keys {sorted(set(a) ^ set(b))}"]
        return [d for k in a for d in _same(a[k], b[k], f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items vs {len(b)}"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _same(x, y, f"{path}[{i}]")
        ]
    return [] if a == b else [f"{path}: {a!r} {b!r}"]


def _document(analysis: pm.Analysis) -> dict[str, Any]:
    doc = json.loads(json.dumps(analysis.to_dict(), default=str))
    doc.pop("created")
    # The DuckDB reader also names the first row of a warning; Spark rows have no file line.
    doc["log"]["warnings"] = [(w["code"], w["count"]) for w in doc["log"]["warnings"]]
    return doc


def _both(path: Path, spark: Engine, config: pm.AnalysisConfig) -> tuple[pm.Analysis, pm.Analysis]:
    on_duckdb = pm.analyze(pm.read_log(path), config)
    on_spark = pm.analyze(pm.read_log(path, engine=spark), config)
    return on_duckdb, on_spark


def _friction_log() -> OrderLog:
    """Every detector has something to find: detours, a lost sale, rework, hand-overs,
    waits over an SLA, repeated contacts and a refund as a voucher."""
    b = OrderLog()
    for i in range(6):
        b.cancelled(f"A{i}", f"c{i}", i)
        b.delivered(f"B{i}", f"c{i}", i + 1, sku="SHOE-1-43")
        b.returned(f"R{i}", f"r{i}", i)
        b.delivered(f"S{i}", f"r{i}", i + 11, sku="SHOE-1-44")
    b.cancelled("lost", "gone", 2)
    b.order(
        "retry",
        "p1",
        0,
        then=[
            ("Payment failed", "10m"),
            ("Payment failed", "20m"),
            ("Payment captured", "30m"),
            ("Shipped", "3d"),
        ],
    )
    b.order("resent", "p2", 0, then=[("Shipped", "1d"), ("Shipped", "2d"), ("Delivered", "4d")])
    b.order(
        "asked",
        "p3",
        0,
        then=[
            ("Customer contacted support", "1h"),
            ("Customer contacted support", "2d"),
            ("Order cancelled", "3d"),
            ("Store credit issued", "4d"),
        ],
    )
    for hour, resource in enumerate(["ann", "bob", "ann", "bob", "cy"]):
        b.event("bounce", "p4", f"Step {hour}", at(f"{hour + 1}h"), resource=resource)
    for i in range(12):
        b.delivered(f"D{i}", f"d{i}", i % 5, category="Shirts" if i % 2 else "Shoes")
    return b


def test_the_sample_log_gives_the_same_document(spark: Engine, tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(pacsv.read_csv(SAMPLE), path)
    # The exchange detours (matching across orders, churn) here; every detector runs on the
    # friction log below.
    a, b = _both(path, spark, pm.AnalysisConfig(detectors=("exchange_detour",)))
    assert a.graph.dfg() == b.graph.dfg()
    assert a.graph.variant_counts() == b.graph.variant_counts()
    assert b.log.dimensions == a.log.dimensions == ("channel", "region")
    assert any(f.metrics.get("instances") for f in b.findings)
    assert _same(_document(a), _document(b)) == []
    for x, y in zip(a.findings, b.findings, strict=True):
        assert x.instances.table.equals(y.instances.table), x.id


def test_every_friction_detector_gives_the_same_findings(spark: Engine, tmp_path: Path) -> None:
    frame = _friction_log().frame()
    path = tmp_path / "friction.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path)
    config = pm.AnalysisConfig(waits=Waits(sla={"Order placed -> Shipped": parse_duration("12h")}))
    a, b = _both(path, spark, config)
    found = {f.id for f in b.findings if f.metrics.get("instances")}
    assert {
        "exchange_detour:cancel_reorder",
        "exchange_detour:return_reorder",
        "rework_loop:payment_retry",
        "rework_loop:redelivery",
        "ping_pong:between_resources",
        "long_wait:over_sla",
        "repeated_contact:same_order",
        "refund_as_voucher:after_cancel",
    } <= found
    assert _same(_document(a), _document(b)) == []
    # The maps are drawn from the Spark engine too (the journey map queries it).
    written = write_analysis(b, tmp_path / "out")
    assert {p.name for p in written} >= {"journey.svg", "process.svg", "report.html"}


def test_a_spark_table_with_epoch_times_and_iso_text(spark: Engine) -> None:
    session = spark.backend._session
    rows = [
        ("A", "c1", "Order placed", 1_709_287_200_000, "2024-03-01T10:00:00Z"),
        ("A", "c1", "Order cancelled", 1_709_290_800_000, "2024-03-01T12:00:00+01:00"),
        ("B", "c1", "Order placed", 1_709_370_000_000, "2024-03-02T09:00:00"),
    ]
    session.createDataFrame(
        rows, "order_id string, customer string, activity string, epoch_ms long, iso string"
    ).createOrReplaceTempView("orders_epoch")
    by_epoch = pm.read_log("orders_epoch", engine=spark, columns={"timestamp": "epoch_ms"})
    by_text = pm.read_log("orders_epoch", engine=spark, columns={"timestamp": "iso"})
    assert by_epoch.source.format == "spark table"
    assert by_epoch.source.timestamp_format == "epoch milliseconds"
    times = sorted(r["ts"] for r in by_text.events().select("ts").to_pyarrow().to_pylist())
    # "+01:00" is an hour before UTC noon: 11:00 UTC
    assert [t.isoformat() for t in times] == [
        "2024-03-01T10:00:00",
        "2024-03-01T11:00:00",
        "2024-03-02T09:00:00",
    ]
    assert by_epoch.stats.events == 3 and by_epoch.stats.cases == 2
    assert pm.discover(by_epoch).dfg() == {("Order placed", "Order cancelled"): 1}


def test_mistakes_are_named(spark: Engine, tmp_path: Path) -> None:
    session = spark.backend._session
    session.createDataFrame(
        [
            ("A", "Order placed", "2024-03-01 10:00"),
            (None, "Shipped", "2024-03-01 11:00"),
            ("B", "Shipped", "not a time"),
        ],
        "order_id string, activity string, timestamp string",
    ).createOrReplaceTempView("orders_bad")
    with pytest.raises(LogValidationError) as bad:
        pm.read_log("orders_bad", engine=spark)
    text = str(bad.value)
    assert "case column 'order_id' is blank on 1 rows" in text
    assert "timestamp column 'timestamp' is blank or unreadable on 1 rows" in text
    skipped = pm.read_log(
        "orders_bad", engine=spark, options=pm.ReadOptions(skip_invalid_rows=True)
    )
    assert skipped.stats.events == 1
    with pytest.raises(LogFormatError, match="neither a file nor a table"):
        pm.read_log("no_such_table", engine=spark)
    csv = tmp_path / "orders.csv"
    shutil.copy(SAMPLE, csv)
    with pytest.raises(LogFormatError, match="the Spark engine reads Parquet files"):
        pm.read_log(csv, engine=spark)


def test_step_columns_are_refused_by_name(spark: Engine) -> None:
    """A table with a column per step is melted by the default engine only: on Spark the
    reader says so instead of reading nonsense."""
    spark.backend._session.createDataFrame(
        [("A", "2024-03-01 10:00", "2024-03-01 11:00")],
        "order_id string, placed_at string, paid_at string",
    ).createOrReplaceTempView("orders_steps")
    with pytest.raises(LogValidationError, match=r"step columns \(placed_at, paid_at\)"):
        pm.read_log("orders_steps", engine=spark)


def test_the_cli_runs_on_spark(tmp_path: Path) -> None:
    path = tmp_path / "orders.parquet"
    pq.write_table(pacsv.read_csv(SAMPLE), path)
    done = run_cli(
        "analyze",
        str(path),
        "--engine",
        "spark",
        "--spark-master",
        "local[1]",
        "--detector",
        "long_wait",
        "--json",
        "-q",
        timeout=600,
        cwd=tmp_path,  # Spark's warehouse folder is made in the working directory
        # The CLI's own session settings (its shuffle partitions) win over these.
        env={
            "PYSPARK_SUBMIT_ARGS": " ".join(f"--conf {k}={v}" for k, v in SMALL_DATA.items())
            + " pyspark-shell"
        },
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(done.stdout)
    assert doc["log"]["format"] == "Parquet"
    found = {f["id"]: f["metrics"]["instances"] for f in doc["findings"]}
    assert set(found) == {"long_wait:over_p90", "long_wait:over_sla"}
    assert found["long_wait:over_p90"] > 0
    wrong = run_cli(
        "analyze",
        str(path),
        "--engine",
        "spark",
        "--memory-limit",
        "1GB",
        timeout=120,
        cwd=tmp_path,
    )
    assert wrong.returncode == 2 and "size Spark with its own configuration" in wrong.stderr
