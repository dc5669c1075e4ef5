# SPDX-License-Identifier: AGPL-3.0-or-later
"""One benchmark measurement, run in its own process by bench_core.py (prints one JSON line).

The timed region starts after the imports, so both tools are measured on their work, not on
Python start-up; the imports are timed separately.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any


def _dfg_key(dfg: dict[tuple[str, str], int]) -> list[list[Any]]:
    return sorted([a, b, int(n)] for (a, b), n in dfg.items())


def _variants_key(variants: dict[tuple[str, ...], int]) -> list[list[Any]]:
    return sorted([list(k), int(v)] for k, v in variants.items())


def simulate(path: str, events: str) -> dict[str, Any]:
    from procmine.simulate import Simulation, simulate, write_log

    log = simulate(Simulation.for_events(int(events), seed=7))
    write_log(log, path)
    return {"events": log.events.num_rows}


def procmine_discover(path: str) -> dict[str, Any]:
    import procmine as pm

    start = time.perf_counter()
    log = pm.read_log(path)
    graph = pm.discover(log)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "events": log.stats.events,
        "dfg": _dfg_key(graph.dfg()),
        "variants": _variants_key(graph.variant_counts()),
    }


def duckdb_floor(path: str) -> dict[str, Any]:
    """About the least work DuckDB itself does for the same results: one query straight from
    the Parquet file (no validation, no stored event table, no Ibis) for the DFG counts, the
    DFG's mean durations and the variants, one sort shared by all. pm4py's time over this
    one is about the highest speed-up a tool built on the engine reaches on this machine."""
    import duckdb

    from procmine._sql import quote_literal

    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    # Ties in time keep the file's order, as pandas' stable sort in format_dataframe does.
    query = f"""
        WITH e AS MATERIALIZED (
            SELECT order_id, activity, lead(activity) OVER w AS nxt,
                   epoch(lead("timestamp") OVER w - "timestamp") AS seconds,
                   row_number() OVER w AS pos
            FROM read_parquet({quote_literal(path)}, file_row_number = true)
            WINDOW w AS (PARTITION BY order_id ORDER BY "timestamp", file_row_number)
        )
        SELECT 'dfg', [activity, nxt], count(*), avg(seconds) FROM e
        WHERE nxt IS NOT NULL GROUP BY activity, nxt
        UNION ALL
        SELECT 'variant', v, count(*), NULL
        FROM (SELECT list(activity ORDER BY pos) AS v FROM e GROUP BY order_id) GROUP BY v
    """
    start = time.perf_counter()
    rows = con.execute(query).fetchall()
    seconds = time.perf_counter() - start
    dfg = {(pair[0], pair[1]): n for kind, pair, n, _ in rows if kind == "dfg"}
    variants = {tuple(v): n for kind, v, n, _ in rows if kind == "variant"}
    return {
        "seconds": seconds,
        "events": sum(n * len(v) for v, n in variants.items()),
        "dfg": _dfg_key(dfg),
        "variants": _variants_key(variants),
    }


def _pm4py() -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pm4py
    return pm4py


def _pm4py_discover(load: Any) -> dict[str, Any]:
    """Time ``load()`` (returning pm4py's event frame) plus DFG, performance DFG, variants."""
    pm4py = _pm4py()
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        df = load(pm4py)
        dfg, _, _ = pm4py.discover_dfg(df)
        pm4py.discover_performance_dfg(df)
        variants = pm4py.get_variants(df)
    seconds = time.perf_counter() - start
    return {
        "seconds": seconds,
        "events": len(df),
        "dfg": _dfg_key(dfg),
        "variants": _variants_key(variants),
    }


def pm4py_csv(path: str) -> dict[str, Any]:
    import pandas as pd

    return _pm4py_discover(
        lambda pm4py: pm4py.format_dataframe(
            pd.read_csv(path),
            case_id="order_id",
            activity_key="activity",
            timestamp_key="timestamp",
        )
    )


def pm4py_parquet(path: str) -> dict[str, Any]:
    import pandas as pd

    return _pm4py_discover(
        lambda pm4py: pm4py.format_dataframe(
            pd.read_parquet(path),
            case_id="order_id",
            activity_key="activity",
            timestamp_key="timestamp",
        )
    )


def pm4py_xes(path: str) -> dict[str, Any]:
    return _pm4py_discover(lambda pm4py: pm4py.read_xes(path, show_progress_bar=False))


def simulate_parquet(path: str, events: str) -> dict[str, Any]:
    """A simulated log as Parquet, and the same events as CSV beside it (written by DuckDB:
    formatting ten million timestamps in Python would take minutes)."""
    import duckdb

    from procmine.simulate import Simulation, simulate, write_log

    log = simulate(Simulation.for_events(int(events), seed=7))
    write_log(log, path)
    csv = str(Path(path).with_suffix(".csv"))
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.sql(
        f"COPY (SELECT * REPLACE (strftime(timestamp, '%Y-%m-%d %H:%M:%S') AS timestamp) "
        f"FROM read_parquet('{path}')) TO '{csv}' (HEADER)"
    )
    return {"events": log.events.num_rows}


def map_200(activities: str) -> dict[str, Any]:
    """Discover a log with ``activities`` distinct activities and render its process map."""
    import numpy as np
    import pandas as pd

    import procmine as pm
    from procmine.render import process_map

    rng = np.random.default_rng(1)
    names = [f"Step {i:03d}" for i in range(int(activities))]
    rows = []
    for case in range(20_000):
        start = int(rng.integers(0, len(names) - 10))
        steps = np.cumsum(rng.integers(-2, 5, int(rng.integers(3, 12))))
        for j, k in enumerate(steps):
            name = names[min(len(names) - 1, max(0, start + int(k)))]
            rows.append(
                (f"c{case}", name, pd.Timestamp("2024-01-01") + pd.Timedelta(hours=case + j))
            )
    graph = pm.discover(
        pm.EventLog.from_pandas(pd.DataFrame(rows, columns=["case", "activity", "timestamp"]))
    )
    start = time.perf_counter()
    drawn = process_map(graph, overlay="frequency")
    svg = drawn.svg
    return {
        "seconds": time.perf_counter() - start,
        "activities": len(graph.activities),
        "edges": len(graph.edges),
        "shown": drawn.dot.count(" -> "),
        "svg_bytes": len(svg),
    }


def procmine_analyze(
    path: str, out: str, engine: str = "duckdb", memory_limit: str = ""
) -> dict[str, Any]:
    import procmine as pm
    from procmine.discover import discover_with_cases
    from procmine.edges import characteristic_edges
    from procmine.engine import Engine
    from procmine.export import write_analysis

    phases: dict[str, float] = {}
    eng = None
    if engine == "spark":
        eng = Engine.spark(master="local[*]")
        eng.backend._session.sparkContext.setLogLevel("ERROR")
    elif memory_limit:
        import tempfile

        eng = Engine.duckdb(memory_limit=memory_limit, temp_directory=tempfile.mkdtemp())
    start = time.perf_counter()
    t = start
    log = pm.read_log(path, engine=eng)
    phases["read"], t = time.perf_counter() - t, time.perf_counter()
    marks: list[tuple[str, float]] = []

    def mark(message: str, _fraction: float) -> None:
        # "detecting NAME" starts a detector's work; scoring its findings follows.
        if message.startswith("detecting ") or message in (
            "building order facts",
            "looking for root causes",
            "done",
        ):
            marks.append((message.removeprefix("detecting "), time.perf_counter()))

    findings = pm.detect(log, progress=mark)
    phases["detect+score"], t = time.perf_counter() - t, time.perf_counter()
    detectors = {name: end - begin for (name, begin), (_, end) in itertools.pairwise(marks)}
    # As `procmine analyze` does: discovery after the detectors, keeping each case's
    # variant for the findings' characteristic paths on the maps.
    with discover_with_cases(log) as (graph, cases):
        phases["discover"], t = time.perf_counter() - t, time.perf_counter()
        findings = characteristic_edges(log, graph, findings, cases)
    analysis = pm.Analysis(
        log=log,
        graph=graph,
        findings=findings,
        config=pm.AnalysisConfig(),
        created=__import__("datetime").datetime.now(),
    )
    write_analysis(analysis, Path(out))
    phases["maps+report"] = time.perf_counter() - t
    return {
        "seconds": time.perf_counter() - start,
        "events": log.stats.events,
        "phases": phases,
        "detectors": detectors,
        "findings": len(findings),
    }


def versions() -> dict[str, Any]:
    import duckdb
    import ibis

    import procmine

    pm4py = _pm4py()
    return {
        "procmine": procmine.__version__,
        "duckdb": duckdb.__version__,
        "ibis": ibis.__version__,
        "pm4py": pm4py.__version__,
    }


TASKS = {
    "simulate": simulate,
    "simulate-parquet": simulate_parquet,
    "map-200": map_200,
    "procmine-discover": procmine_discover,
    "duckdb-floor": duckdb_floor,
    "pm4py-csv": pm4py_csv,
    "pm4py-parquet": pm4py_parquet,
    "pm4py-xes": pm4py_xes,
    "procmine-analyze": procmine_analyze,
    "versions": versions,
}

if __name__ == "__main__":
    name, *rest = sys.argv[1:]
    sys.stdout.write(json.dumps(TASKS[name](*rest)) + "\n")
