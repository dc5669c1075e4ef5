# SPDX-License-Identifier: AGPL-3.0-or-later
"""A self-contained HTML report: findings, evidence, maps and the log's details.

Everything is inline (styles, SVG maps), so the file can be mailed and opened anywhere. Every
value that comes from a log (activity names, ids) is HTML-escaped by the template engine; the
maps are SVG produced by Graphviz, which escapes the text it draws.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from jinja2 import Environment, PackageLoader, select_autoescape

from procmine import __version__
from procmine._format import churn_text, figure, hours, money, percent
from procmine.analysis import Analysis
from procmine.findings import shown_columns
from procmine.render import ProcessMap, inline_svg

__all__ = ["render_report"]

MAX_INSTANCES = 25


def render_report(analysis: Analysis, maps: Sequence[ProcessMap]) -> str:
    """The report as one HTML string."""
    env = Environment(
        loader=PackageLoader("procmine", "templates"),
        autoescape=select_autoescape(["html", "j2"], default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(
        fmt=figure, money=money, pct=percent, hours=hours, churn=lambda f: churn_text(f["metrics"])
    )
    template = env.get_template("report.html.j2")
    findings = []
    for f in analysis.findings:
        data = f.to_dict(max_instances=MAX_INSTANCES)
        data["anchor"] = re.sub(r"[^a-z0-9]+", "-", f.id.lower())
        data["assumptions_text"] = json.dumps(data["assumptions"], indent=2, default=str)
        data["instances"] = f.instances.head(MAX_INSTANCES).to_pylist()
        data["columns"] = shown_columns(data["instances"])
        findings.append(data)
    top = findings[0] if findings and findings[0]["severity"] else None
    return template.render(
        log=analysis.log.summary(),
        findings=findings,
        top=top,
        currency=analysis.config.cost_model.currency,
        maps=[{"title": m.title, "svg": inline_svg(m.svg)} for m in maps],
        parameters=json.dumps(analysis.config.to_dict(), indent=2),
        created=analysis.created.strftime("%Y-%m-%d %H:%M UTC"),
        version=__version__,
    )
