# SPDX-License-Identifier: AGPL-3.0-or-later
"""The engine's scratch tables: an analysis holds one step's intermediate tables at a time
and leaves nothing behind but the log."""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa
import pytest

from procmine import analyze, read_log
from procmine._sql import fetch_all
from procmine.engine import Engine, Scratch

SAMPLE = Path(__file__).resolve().parents[2] / "sample_logs" / "orders.csv"


def _ours(engine: Engine) -> set[str]:
    rows = fetch_all(
        engine.raw,
        "SELECT table_name FROM duckdb_tables() UNION ALL SELECT view_name FROM duckdb_views() "
        "WHERE NOT internal",
    )
    return {str(r[0]) for r in rows if str(r[0]).startswith("_pm_")}


def _table(engine: Engine, prefix: str, scratch: Scratch | None = None) -> str:
    expr = ibis.memtable(pa.table({"x": [1, 2]}))
    return str(engine.materialize(expr, prefix, scratch=scratch).get_name())


def test_scratch_tables_are_dropped_with_their_block_even_on_an_error(engine: Engine) -> None:
    kept = _table(engine, "kept")  # outside any block: stays
    with pytest.raises(RuntimeError), engine.scratch():
        doomed = _table(engine, "doomed")
        assert doomed in _ours(engine)
        raise RuntimeError("a detector failed")
    assert _ours(engine) == {kept}


def test_a_table_can_belong_to_an_outer_block(engine: Engine) -> None:
    with engine.scratch() as outer:
        with engine.scratch():
            shared = _table(engine, "shared", outer)
            own = _table(engine, "own")
        # The inner block took its own table and left the outer one's.
        assert shared in _ours(engine) and own not in _ours(engine)
    assert shared not in _ours(engine)


def test_an_analysis_leaves_only_the_log_in_the_engine(engine: Engine) -> None:
    log = read_log(SAMPLE, engine=engine)
    before = _ours(engine)
    analysis = analyze(log)
    assert analysis.findings.get("exchange_detour:return_reorder").instances
    assert _ours(engine) == before


def test_a_stored_table_is_known_by_the_types_duckdb_gives_it(engine: Engine) -> None:
    # materialize stores in one statement and does not describe the table: the schema it
    # hands back must be the one DuckDB describes, for every kind of column the detectors
    # store, the log's ENUM activities and the counts included.
    log = read_log(SAMPLE, engine=engine)
    ev = log.events()
    per_case = ev.group_by("case_id").aggregate(
        n=ev.count(),
        first=ev.ts.min(),
        amount=ev.amount.max(),
        activities=ev.activity.collect(),
        cancelled=(ev.role == "cancel").any(),
        last=ev.activity.max(),
    )
    expr = per_case.mutate(
        pair=ibis.struct({"case": per_case.case_id, "n": per_case.n}),
        share=per_case.n / 3,
        nothing=ibis.null("string"),
    )
    stored = engine.materialize(expr, "typed")
    described = engine.table(stored.get_name())
    assert stored.schema() == described.schema()
    assert stored.schema().names == expr.schema().names
    key = ["case_id"]
    assert stored.order_by(key).to_pyarrow().equals(expr.order_by(key).to_pyarrow())
    # As Ibis's create_table stored them: the ENUM'd activity as text.
    types = {str(r[0]): str(r[1]) for r in fetch_all(engine.raw, f"DESCRIBE {stored.get_name()}")}
    assert types["last"] == "VARCHAR" and types["activities"] == "VARCHAR[]"
