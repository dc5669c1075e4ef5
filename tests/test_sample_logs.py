# SPDX-License-Identifier: AGPL-3.0-or-later
"""The bundled sample log: reproducible from its seed, and its README tells the truth.

Run ``python tests/test_sample_logs.py`` to print the tables sample_logs/README.md quotes.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pyarrow.csv as pacsv

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "orders.csv"
TRUTH = ROOT / "sample_logs" / "orders.truth.csv"
README = ROOT / "sample_logs" / "README.md"
SIMULATION = {"customers": 700, "seed": 42}


def findings_table() -> str:
    """The findings table of sample_logs/README.md, computed from the sample."""
    from procmine import analyze, read_log

    analysis = analyze(read_log(SAMPLE))
    lines = [
        "| finding | instances | customers | median time lost | repurchase vs matched (pp, 95% CI)"
        " | revenue at risk (EUR) | EUR/month | evidence |",
        "|---|---:|---:|---:|---|---:|---:|:-:|",
    ]
    for f in analysis.findings:
        m = f.metrics
        lost = m["median_time_lost_hours"]
        lost_text = (
            "" if lost is None else (f"{lost / 24:.1f} d" if lost >= 48 else f"{lost:.1f} h")
        )
        if m["churn_difference"] is None:
            churn = "not estimated"
        else:
            churn = (
                f"{m['churn_difference'] * 100:+.1f} [{m['churn_difference_low'] * 100:+.1f}, "
                f"{m['churn_difference_high'] * 100:+.1f}]"
            )
        risk = m["revenue_at_risk"]
        lines.append(
            f"| `{f.id}` | {m['instances']} | {m['affected_customers']} | {lost_text} | {churn} | "
            f"{'' if risk is None else f'{risk:,.0f}'} | {f.severity:,.0f} | {f.evidence} |"
        )
    return "\n".join(lines)


def truth_table() -> str:
    """Counts per variant in the truth file."""
    truth = pacsv.read_csv(TRUTH).column("variant").to_pylist()
    rows = ["| variant | planted |", "|---|---:|"]
    for variant in (
        "cancel_reorder",
        "return_reorder",
        "reorder_before_refund",
        "after_cancel",
        "after_return",
    ):
        rows.append(f"| `{variant}` | {truth.count(variant)} |")
    return "\n".join(rows)


def test_the_sample_is_reproducible_from_its_seed(tmp_path: Path) -> None:
    from procmine.simulate import Simulation, simulate, write_log

    write_log(simulate(Simulation(**SIMULATION)), tmp_path / "orders.csv")
    assert (tmp_path / "orders.csv").read_bytes() == SAMPLE.read_bytes()
    assert (tmp_path / "orders.truth.csv").read_bytes() == TRUTH.read_bytes()


def test_the_readme_quotes_the_current_findings() -> None:
    text = README.read_text(encoding="utf-8")
    assert findings_table() in text
    assert truth_table() in text


def test_the_analysis_finds_exactly_the_planted_detours() -> None:
    from procmine import AnalysisConfig, detect, read_log

    # The truth file plants detours and lost sales; the friction inside orders (contacts,
    # waits, redeliveries) comes from the simulated lifecycles and is not planted.
    found = detect(read_log(SAMPLE), AnalysisConfig(detectors=("exchange_detour", "lost_sale")))
    got = {
        (i.original_case, i.replacement_case or "", i.variant) for f in found for i in f.instances
    }
    truth = {
        (r["original_case"], r["replacement_case"] or "", r["variant"])
        for r in pacsv.read_csv(TRUTH).to_pylist()
    }
    assert got == truth


if __name__ == "__main__":  # pragma: no cover
    sys.stdout.write(truth_table() + "\n\n" + findings_table() + "\n")
