# SPDX-License-Identifier: AGPL-3.0-or-later
"""A self-contained HTML report: findings, evidence, maps and the log's details.

Everything is inline (styles, SVG maps), so the file can be mailed and opened anywhere. Every
value that comes from a log (activity names, ids) is HTML-escaped by the template engine; the
maps are SVG produced by Graphviz, which escapes the text it draws.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Sequence
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from procmine import __version__
from procmine._format import hours, money, percent, points
from procmine.analysis import Analysis
from procmine.render import ProcessMap

__all__ = ["render_report"]

_INSTANCE_COLUMNS = (
    "customer",
    "original_case",
    "replacement_case",
    "variant",
    "similarity",
    "original_order_time",
    "anchor_time",
    "replacement_order_time",
    "time_lost_hours",
    "amount_original",
    "cost",
)
MAX_INSTANCES = 25


def _fmt(value: Any, unit: str | None = None) -> str:
    if value is None:
        return ""
    if unit and unit.startswith("fraction") and isinstance(value, float | int):
        return f"{points(value)} pp" if "treated - control" in unit else percent(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        return f"{value:,.2f}" if abs(value) < 1000 else f"{value:,.0f}"
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return str(value)


def _churn(finding: dict[str, Any]) -> str:
    m = finding["metrics"]
    if m.get("churn_difference") is None:
        return "not estimated"
    lo, hi = m["churn_difference_low"], m["churn_difference_high"]
    verdict = "" if (lo > 0 or hi < 0) else " (inconclusive)"
    return f"{points(m['churn_difference'])} pp [{points(lo)}, {points(hi)}]{verdict}"


def render_report(analysis: Analysis, maps: Sequence[ProcessMap]) -> str:
    """The report as one HTML string."""
    env = Environment(
        loader=PackageLoader("procmine", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(fmt=_fmt, money=money, pct=percent, hours=hours, churn=_churn)
    template = env.get_template("report.html.j2")
    findings = []
    for f in analysis.findings:
        data = f.to_dict(max_instances=MAX_INSTANCES)
        data["anchor"] = re.sub(r"[^a-z0-9]+", "-", f.id.lower())
        data["assumptions_text"] = json.dumps(data["assumptions"], indent=2, default=str)
        data["instances"] = f.instances.head(MAX_INSTANCES).to_pylist()
        findings.append(data)
    top = findings[0] if findings and findings[0]["severity"] else None
    return template.render(
        log=analysis.log.summary(),
        findings=findings,
        top=top,
        currency=analysis.config.cost_model.currency,
        maps=[{"title": m.title, "svg": _strip_xml_header(m.svg.decode("utf-8"))} for m in maps],
        instance_columns=_INSTANCE_COLUMNS,
        parameters=json.dumps(analysis.config.to_dict(), indent=2),
        created=analysis.created.strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )


def _strip_xml_header(svg: str) -> str:
    # An inline <svg> must not carry the XML declaration or DOCTYPE of a standalone file.
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg
