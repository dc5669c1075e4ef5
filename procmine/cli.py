# SPDX-License-Identifier: AGPL-3.0-or-later
"""The ``procmine`` command.

``procmine analyze LOG`` is the main job (DESIGN.md section 5). A user's mistake (a bad file,
a wrong column, an unknown option) ends with exit status 2 and one readable message on
stderr, never a traceback. ``--json`` prints the findings document to stdout and nothing else
goes to stdout; progress and messages go to stderr.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from procmine import __version__

__all__ = ["main"]

err = Console(stderr=True, highlight=False, soft_wrap=True)
# Piped or redirected output gets a width that fits the findings table, not rich's 80.
out = Console(highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160)


def _fail(message: str, *, code: int = 2) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True)
    sys.exit(code)


@contextmanager
def _user_errors(debug: bool) -> Iterator[None]:
    """Turn procmine's typed errors into exit status 2, anything else into a short message."""
    import duckdb

    from procmine.errors import ConfigError, LogError, OutputError, RenderError, first_line

    try:
        yield
    except (LogError, ConfigError) as exc:
        lines = [exc.summary] + [
            f"  - {p.message}" for p in exc.problems[1:] if p.severity == "error"
        ]
        _fail(_escape("\n".join(lines)))
    except OutputError as exc:
        _fail(_escape(str(exc)))
    except RenderError as exc:
        _fail(_escape(str(exc)), code=1)
    except duckdb.OutOfMemoryException as exc:
        detail = first_line(exc) or "out of memory"
        _fail(
            _escape(
                f"the query engine ran out of memory, even spilling to disk ({detail}); "
                "give it more with --memory-limit, or fewer --threads"
            ),
            code=1,
        )
    except KeyboardInterrupt:
        _fail("interrupted", code=130)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as exc:
        if debug:
            raise
        _fail(
            _escape(f"internal error: {type(exc).__name__}: {exc}")
            + "\n  (this is a bug in procmine; rerun with --debug for the traceback and report it)",
            code=1,
        )


def _escape(text: str) -> str:
    return text.replace("[", "\\[")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str], None]]:
    if not enabled:
        yield lambda _msg: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)
        yield lambda msg: progress.update(task, description=msg)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="procmine")
def main() -> None:
    """procmine: find the friction in order logs (exchange detours, lost sales) and price it."""


def _mapping_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option("--case", help="Column with the case (order) id."),
        click.option("--activity", help="Column with the activity label."),
        click.option("--timestamp", help="Column with the event time."),
        click.option("--timestamp-format", help="strptime format of the timestamp column."),
        click.option(
            "--step",
            "steps",
            multiple=True,
            metavar="COLUMN[=ACTIVITY]",
            help="A column holding the time of one step of the order, for a table with a "
            "row per order instead of an activity and a timestamp column (repeatable, in "
            "process order; the activity defaults to the column's name).",
        ),
        click.option("--customer", help="Column with the customer id."),
        click.option("--product", help="Column with the product id / SKU."),
        click.option("--family", help="Column with the product family (style)."),
        click.option("--category", help="Column with the product category."),
        click.option("--amount", help="Column with the money amount."),
        click.option("--resource", help="Column with the resource (who did it)."),
        click.option(
            "--role",
            "roles",
            multiple=True,
            metavar="ROLE=LABEL",
            help="Give an activity label a role (repeatable; ROLE= clears a role).",
        ),
        click.option(
            "--config",
            "config_path",
            type=click.Path(dir_okay=False),
            help="TOML config file (columns, roles, windows, cost model, ...).",
        ),
        click.option(
            "--format",
            "fmt",
            type=click.Choice(["csv", "parquet", "xes", "ocel"]),
            help="Input format, when the content does not tell.",
        ),
        click.option("--encoding", help="Text encoding of a CSV file (default: UTF-8)."),
        click.option("--delimiter", help="Field delimiter of a CSV file (default: guessed)."),
        click.option(
            "--skip-invalid-rows",
            is_flag=True,
            help="Drop rows with a blank or unreadable case, activity or timestamp.",
        ),
        click.option("--ocel-case-type", help="OCEL object type that is the order (case)."),
        click.option("--ocel-customer-type", help="OCEL object type of customers."),
        click.option("--ocel-product-type", help="OCEL object type of products."),
        click.option("--debug", is_flag=True, hidden=True),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run_config(params: dict[str, Any]) -> Any:
    """Merge the config file (if any) with the command-line options (which win)."""
    from procmine.config import RunConfig, load_config
    from procmine.mapping import ColumnMapping
    from procmine.roles import parse_role_assignment

    config = load_config(params["config_path"]) if params.get("config_path") else RunConfig()
    columns = ColumnMapping.from_dict(
        {
            k: params.get(k)
            for k in (
                "case",
                "activity",
                "timestamp",
                "customer",
                "product",
                "family",
                "category",
                "amount",
                "resource",
                "timestamp_format",
            )
        }
        | {"steps": dict(_step_option(text) for text in params.get("steps") or ()) or None}
    )
    roles: dict[Any, tuple[str, ...]] = dict(config.roles)
    assigned: dict[Any, list[str]] = {}
    for text in params.get("roles") or ():
        role, label = parse_role_assignment(text)
        assigned.setdefault(role, [])
        if label:
            assigned[role].append(label)
    roles.update({role: tuple(labels) for role, labels in assigned.items()})
    read_updates = {
        "format": params.get("fmt"),
        "encoding": params.get("encoding"),
        "delimiter": params.get("delimiter"),
        "ocel_case_type": params.get("ocel_case_type"),
        "ocel_customer_type": params.get("ocel_customer_type"),
        "ocel_product_type": params.get("ocel_product_type"),
    }
    read = dataclasses.replace(
        config.read,
        **{k: v for k, v in read_updates.items() if v is not None},
        skip_invalid_rows=bool(params.get("skip_invalid_rows")) or config.read.skip_invalid_rows,
    )
    return dataclasses.replace(
        config, columns=config.columns.merged(columns), roles=roles, read=read
    )


def _step_option(text: str) -> tuple[str, str | None]:
    """``COLUMN=ACTIVITY`` or ``COLUMN`` of ``--step``."""
    column, _, activity = text.partition("=")
    if not column.strip():
        raise click.BadParameter(
            f"{text!r}: expected COLUMN or COLUMN=ACTIVITY", param_hint="--step"
        )
    return column, activity.strip() or None


_MEMORY = re.compile(r"\s*\d+(\.\d+)?\s*(k|m|g|t)i?b\s*", re.IGNORECASE)


def _engine_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--engine",
            "engine_kind",
            type=click.Choice(["duckdb", "spark"]),
            default="duckdb",
            show_default=True,
            help="Query engine: embedded DuckDB, or Spark for logs beyond one machine "
            "(LOG is then a Parquet file, folder or URI, or a Spark table name).",
        ),
        click.option(
            "--spark-master",
            metavar="URL",
            help="With --engine spark: the cluster to run on (default local[*]).",
        ),
        click.option(
            "--memory-limit",
            metavar="SIZE",
            help="Most memory the query engine may hold, e.g. 3GB; beyond it, work spills "
            "to a temporary folder (default: 80% of the machine's memory).",
        ),
        click.option(
            "--threads",
            type=click.IntRange(min=1),
            help="Threads of the query engine (default: one per core).",
        ),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _engine(params: dict[str, Any]) -> Any:
    """The engine the options ask for (None: the default one read_log makes)."""
    limit, threads = params.get("memory_limit"), params.get("threads")
    if params.get("engine_kind") == "spark":
        if limit is not None or threads is not None:
            raise click.BadParameter(
                "--memory-limit and --threads set the DuckDB engine; size Spark with its "
                "own configuration (spark-defaults.conf, --spark-master)",
                param_hint="--engine spark",
            )
        from procmine.engine import Engine

        return Engine.spark(master=params.get("spark_master") or "local[*]")
    if params.get("spark_master"):
        raise click.BadParameter("needs --engine spark", param_hint="--spark-master")
    if limit is None and threads is None:
        return None
    if limit is not None and not _MEMORY.fullmatch(limit):
        raise click.BadParameter(
            f"{limit!r} is not a size such as 512MB or 3GB", param_hint="--memory-limit"
        )
    import atexit
    import shutil
    import tempfile

    from procmine.engine import Engine

    # Spilled work goes to a folder of its own, removed when the command ends (DuckDB's
    # default would be a .tmp folder in the current directory).
    spill = tempfile.mkdtemp(prefix="procmine-spill-")
    atexit.register(shutil.rmtree, spill, ignore_errors=True)
    return Engine.duckdb(memory_limit=limit, threads=threads, temp_directory=spill)


def _read(log_path: str, config: Any, say: Callable[[str], None], engine: Any = None) -> Any:
    from procmine.io import read_log

    return read_log(
        log_path,
        columns=config.columns,
        roles=config.roles,
        options=config.read,
        progress=say,
        engine=engine,
    )


def _print_log(log: Any) -> None:
    s = log.stats
    err.print(
        f"[bold]{_escape(log.source.name)}[/] ({log.source.format}): {s.events:,} events, "
        f"{s.cases:,} cases, {s.customers:,} customers, {s.activities} activities, "
        f"{s.start:%Y-%m-%d} to {s.end:%Y-%m-%d}"
    )
    cols = ", ".join(
        f"{field}={_escape(col)}" + (" (guessed)" if field in log.mapping.guessed else "")
        for field, col in log.mapping.columns.items()
    )
    if log.mapping.steps:
        cols += ", steps=" + " > ".join(
            f"{_escape(col)} ({_escape(label)})" for col, label in log.mapping.steps
        )
        cols += " (guessed)" if "steps" in log.mapping.guessed else ""
    err.print(f"[dim]columns:[/] {cols}")
    roles = log.roles
    table = Table(
        title="Activity roles (override with --role ROLE=LABEL)",
        title_justify="left",
        show_edge=False,
        pad_edge=False,
    )
    table.add_column("role")
    table.add_column("labels")
    for role, labels in roles.to_dict().items():
        marked = [
            _escape(lb) + (" [dim](guessed)[/]" if lb in roles.guessed else "") for lb in labels
        ]
        table.add_row(role, ", ".join(marked))
    if roles.unmapped:
        shown = ", ".join(_escape(a) for a in roles.unmapped[:12])
        more = f" and {len(roles.unmapped) - 12} more" if len(roles.unmapped) > 12 else ""
        table.add_row("[dim](none)[/]", f"[dim]{shown}{more}[/]")
    err.print(table)
    for w in log.warnings:
        err.print(f"[yellow]warning:[/] {_escape(w.message)}")


def _findings_table(findings: Sequence[Any], currency: str) -> Table:
    from procmine._format import hours, money, percent, points

    table = Table(title="Findings (most costly first)", title_justify="left")
    table.add_column("finding")
    table.add_column(f"{currency}/month", justify="right")
    table.add_column("ev.", justify="center")
    table.add_column("instances", justify="right")
    table.add_column("customers", justify="right")
    table.add_column("above baseline", justify="right")
    table.add_column("median lost", justify="right")
    table.add_column("churn Δ pp [95% CI]", justify="right")
    table.add_column(f"revenue at risk {currency}", justify="right")
    for f in findings:
        m = f.metrics
        churn = ""
        if m.get("churn_difference") is not None:
            churn = (
                f"{points(m['churn_difference'])} [{points(m['churn_difference_low'])}, "
                f"{points(m['churn_difference_high'])}]"
            )
        share = m.get("share_of_customers")
        table.add_row(
            f.id,
            money(f.severity),
            f.evidence,
            f"{m['instances']:,}",
            f"{m['affected_customers']:,}" + (f" ({percent(share)})" if share is not None else ""),
            money(m.get("excess_instances")),
            hours(m.get("median_time_lost_hours")),
            churn,
            "inconclusive"
            if m.get("churn_difference") is not None and m.get("revenue_at_risk") is None
            else money(m.get("revenue_at_risk")),
        )
    return table


@main.command()
@click.argument("log_path", metavar="LOG", type=click.Path())
@_mapping_options
@click.option("--cancel-window", help="Reorder window after a cancel (default 14d).")
@click.option("--return-window", help="Reorder window after a return request (default 14d).")
@click.option("--lost-window", help="Similar-reorder window of the lost-sale detector (30d).")
@click.option("--horizon", help="Observation horizon for lost sales and churn (default 90d).")
@click.option("--contact-window", help="Contacts this close form one episode (default 7d).")
@click.option(
    "--sla",
    "slas",
    multiple=True,
    metavar="'A -> B=DURATION'",
    help="Service level of a transition, e.g. --sla 'Order placed -> Shipped=48h' (repeatable).",
)
@click.option(
    "--similarity",
    help="Weakest similarity accepted: variant, same_sku, substitute, category (default) or any.",
)
@click.option("--family-pattern", help="Regex whose first group is the family of a SKU.")
@click.option("--price-band", type=float, help="Unit-price tolerance of 'substitute' (0.3).")
@click.option(
    "--cost",
    "costs",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override the cost model, e.g. --cost return_label=7.5 (repeatable).",
)
@click.option("--currency", help="Currency of the amounts (default EUR).")
@click.option(
    "--detector",
    "detectors",
    multiple=True,
    help="Run only this detector (repeatable); see 'procmine detectors'.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write findings.json, maps (SVG, DOT) and report.html here.",
)
@click.option("--png", is_flag=True, help="With --out, also write PNG maps.")
@click.option("--max-edges", type=click.IntRange(min=1), help="Paths shown on the maps.")
@click.option("--json", "as_json", is_flag=True, help="Print the findings document to stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress or log summary on stderr.")
@_engine_options
def analyze(log_path: str, **params: Any) -> None:
    """Find and price the friction in LOG (CSV, Parquet, XES, XES.gz or OCEL 2.0)."""
    with _user_errors(params.get("debug", False)):
        _analyze(log_path, params)


def _analysis_config(base: Any, params: dict[str, Any]) -> Any:
    from procmine.config import CostModel, SimilarityLevel, parse_duration, split_transition
    from procmine.errors import ConfigError, Problem, ProblemCode

    a = base.analysis
    windows = a.windows
    for flag, fieldname in (
        ("cancel_window", "cancel"),
        ("return_window", "returned"),
        ("lost_window", "lost_sale"),
        ("horizon", "horizon"),
        ("contact_window", "contact"),
    ):
        if params.get(flag):
            windows = dataclasses.replace(
                windows,
                **{fieldname: parse_duration(params[flag], name="--" + flag.replace("_", "-"))},
            )
    similarity = a.similarity
    if params.get("similarity"):
        similarity = dataclasses.replace(
            similarity, min_level=SimilarityLevel.parse(params["similarity"])
        )
    if params.get("family_pattern"):
        similarity = dataclasses.replace(similarity, family_pattern=params["family_pattern"])
    if params.get("price_band") is not None:
        similarity = dataclasses.replace(similarity, price_band=params["price_band"])
    cost_model = a.cost_model
    known = {f.name: f for f in dataclasses.fields(CostModel)}
    updates: dict[str, Any] = {}
    for text in params.get("costs") or ():
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or key not in known:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.UNKNOWN_OPTION,
                        f"--cost {text!r}: expected KEY=VALUE with KEY one of "
                        f"{', '.join(sorted(known))}",
                        value=text,
                    )
                ]
            )
        if key == "currency":
            updates[key] = value.strip()
            continue
        try:
            updates[key] = float(value)
        except ValueError:
            raise ConfigError(
                [
                    Problem(
                        ProblemCode.INVALID_OPTION,
                        f"--cost {key}: {value!r} is not a number",
                        value=value,
                    )
                ]
            ) from None
    if params.get("currency"):
        updates["currency"] = params["currency"]
    cost_model = dataclasses.replace(cost_model, **updates)
    detectors = tuple(params["detectors"]) if params.get("detectors") else a.detectors
    waits = a.waits
    if params.get("slas"):
        sla = dict(waits.sla)
        for text in params["slas"]:
            transition, sep, value = text.rpartition("=")
            if not sep:
                raise ConfigError(
                    [
                        Problem(
                            ProblemCode.INVALID_OPTION,
                            f"--sla {text!r}: expected 'A -> B=DURATION', e.g. "
                            "'Order placed -> Shipped=48h'",
                            value=text,
                        )
                    ]
                )
            source, target = split_transition(transition)
            sla[f"{source} -> {target}"] = parse_duration(value, name=f"--sla {transition}")
        waits = dataclasses.replace(waits, sla=sla)
    return dataclasses.replace(
        a,
        windows=windows,
        similarity=similarity,
        cost_model=cost_model,
        detectors=detectors,
        waits=waits,
    )


def _analyze(log_path: str, params: dict[str, Any]) -> None:
    from procmine.analysis import analyze as run_analysis
    from procmine.detect import get_detector

    quiet = params.get("quiet") or False
    started = time.perf_counter()
    config = _run_config(params)
    analysis_config = _analysis_config(config, params)
    for name in analysis_config.detectors or ():
        get_detector(name)  # fail before reading a large log
    show_progress = not quiet and err.is_terminal
    with _progress(show_progress) as say:
        log = _read(log_path, config, say, _engine(params))
        if not quiet:
            _print_log(log)
        analysis = run_analysis(log, analysis_config, progress=lambda msg, _f: say(msg))
        written: list[Path] = []
        if params.get("out_dir"):
            from procmine.export import write_analysis

            say("drawing the maps and writing the report")
            written = write_analysis(
                analysis, params["out_dir"], png=params["png"], max_edges=params.get("max_edges")
            )
    if params.get("as_json"):
        from procmine.export import document_chunks

        sys.stdout.flush()
        for chunk in document_chunks(analysis):
            sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.write(b"\n")
        sys.stdout.buffer.flush()
    else:
        out.print(_findings_table(analysis.findings, analysis_config.cost_model.currency))
        for f in [f for f in analysis.findings if f.metrics.get("instances")][:3]:
            out.print(f"[bold]{_escape(f.title)}[/]: {_escape(f.summary)}")
            for note in f.notes:
                out.print(f"  [dim]- {_escape(note)}[/]")
        causes = [(f.id, c) for f in analysis.findings for c in f.causes if c.significant]
        if causes:
            out.print("[bold]Root causes[/] (significant after Benjamini-Hochberg correction)")
            for fid, cause in causes:
                out.print(f"  {_escape(fid)}: {_escape(cause.describe())}")
        elif any(len(f.instances) for f in analysis.findings):
            out.print(
                "[bold]Root causes[/]: no attribute value makes a finding significantly likelier"
            )
        # Why nothing was found: once per detector when all its variants found nothing (they
        # share the reason), else per empty variant.
        found_something = {f.detector for f in analysis.findings if f.metrics.get("instances")}
        empty: dict[str, list[str]] = {}
        for f in analysis.findings:
            if not f.metrics.get("instances"):
                key = f.id if f.detector in found_something else f.detector
                empty.setdefault(key, [])
                empty[key] += [n for n in f.notes if n not in empty[key]]
        for detector, notes in empty.items():
            if notes:
                out.print(f"[bold]{detector}[/]: nothing found")
                for note in notes:
                    out.print(f"  [dim]- {_escape(note)}[/]")
    if written and not quiet:
        err.print(
            f"wrote {len(written)} files to {_escape(str(params['out_dir']))}: "
            + ", ".join(p.name for p in written)
        )
    if not quiet:
        err.print(f"[dim]done in {time.perf_counter() - started:.1f}s[/]")


@main.command()
@click.argument("before_path", metavar="BEFORE", type=click.Path())
@click.argument("after_path", metavar="[AFTER]", type=click.Path(), required=False)
@_mapping_options
@click.option(
    "--split",
    metavar="DATE",
    help="Compare the orders of BEFORE placed before DATE with those placed from DATE on "
    "(ISO date or time, UTC); then AFTER is not given.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Write compare.json and change.svg (the after process coloured by change) here.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the comparison to stdout.")
@click.option("-q", "--quiet", is_flag=True, help="No progress on stderr.")
@_engine_options
def compare(before_path: str, after_path: str | None, **params: Any) -> None:
    """Compare the friction of two logs, BEFORE and AFTER a process change, or of one log's
    orders before and after --split DATE.

    Logs are read with the same columns, roles and config and analysed in full; per finding
    the rates of both periods are compared (Wilson intervals, Newcombe difference).
    """
    with _user_errors(params.get("debug", False)):
        _compare(before_path, after_path, params)


def _compare(before_path: str, after_path: str | None, params: dict[str, Any]) -> None:
    from procmine.analysis import analyze as run_analysis
    from procmine.compare import change_map
    from procmine.compare import compare as compare_analyses
    from procmine.config import parse_instant
    from procmine.errors import ConfigError, Problem, ProblemCode

    quiet = params.get("quiet") or False
    split = params.get("split")
    if bool(split) == bool(after_path):
        raise ConfigError(
            [
                Problem(
                    ProblemCode.INVALID_OPTION,
                    "give either two logs (BEFORE AFTER) or one log and --split DATE",
                )
            ]
        )
    config = _run_config(params)
    engine = _engine(params)
    with _progress(not quiet and err.is_terminal) as say:
        if split:
            at = parse_instant(split, name="--split")
            whole = _read(before_path, config, say, engine)
            logs = [whole.placed_between(None, at), whole.placed_between(at, None)]
        else:
            logs = [_read(path, config, say, engine) for path in (before_path, str(after_path))]
        analyses = [
            run_analysis(log, config.analysis, progress=lambda msg, _f: say(msg)) for log in logs
        ]
        result = compare_analyses(analyses[0], analyses[1])
        if params.get("out_dir"):
            from procmine.export import write_files

            say("drawing the change map")
            drawn = change_map(analyses[1].graph, result.edges)
            out_dir = Path(params["out_dir"])
            written = write_files(
                out_dir,
                [
                    ("compare.json", json.dumps(result.to_dict(), indent=2).encode("utf-8")),
                    ("change.svg", drawn.svg),
                    ("change.dot", drawn.dot.encode("utf-8")),
                ],
            )
            if not quiet:
                err.print(
                    f"wrote {len(written)} files to {_escape(str(out_dir))}: "
                    + ", ".join(p.name for p in written)
                )
    if params.get("as_json"):
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    table = Table(title=f"Before: {_escape(result.before)}  ->  after: {_escape(result.after)}")
    table.add_column("finding")
    table.add_column("before", justify="right")
    table.add_column("after", justify="right")
    table.add_column("change pp [95% CI]", justify="right")
    table.add_column("verdict")
    for c in result.findings:
        diff = c.difference
        table.add_row(
            c.key,
            "" if c.before is None else f"{c.before.rate.estimate:.1%} of {c.before.eligible:,}",
            "" if c.after is None else f"{c.after.rate.estimate:.1%} of {c.after.eligible:,}",
            ""
            if diff is None
            else f"{diff.estimate * 100:+.1f} [{diff.low * 100:+.1f}, {diff.high * 100:+.1f}]",
            c.verdict,
        )
    out.print(table)


@main.command()
@click.argument("log_path", metavar="LOG", type=click.Path())
@_mapping_options
def inspect(log_path: str, **params: Any) -> None:
    """Show how LOG is read: columns, guessed roles, size and warnings (no analysis)."""
    with _user_errors(params.get("debug", False)):
        config = _run_config(params)
        with _progress(err.is_terminal) as say:
            log = _read(log_path, config, say)
        _print_log(log)


@main.command()
def detectors() -> None:
    """List the detectors and their variants."""
    from procmine.detect import registered

    for name, cls in sorted(registered().items()):
        out.print(f"[bold]{name}[/]: {cls.description}")
        for variant, text in cls.variants.items():
            out.print(f"  {variant}: {text}")


@main.command()
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="Log file to write (.csv, .parquet, .xes or .xes.gz); the truth goes "
    "beside it as <name>.truth.csv.",
)
@click.option("--events", type=click.IntRange(min=100), help="Approximate number of events.")
@click.option("--customers", type=click.IntRange(min=1), help="Number of customers.")
@click.option("--days", type=click.IntRange(min=30), default=365, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
def simulate(
    out_path: str, events: int | None, customers: int | None, days: int, seed: int
) -> None:
    """Write a synthetic order log with known ground truth (see procmine.simulate)."""
    from procmine.simulate import Simulation, describe, write_log
    from procmine.simulate import simulate as run

    if events and customers:
        _fail("give --events or --customers, not both")
    with _user_errors(False):
        if events:
            sim = Simulation.for_events(events, days=days, seed=seed)
        else:
            sim = Simulation(customers=customers or 400, days=days, seed=seed)
        log = run(sim)
        truth = write_log(log, out_path)
        counts = ", ".join(f"{k} {v:,}" for k, v in sorted(describe(log.truth).items()))
        err.print(
            f"wrote {log.events.num_rows:,} events of {sim.customers:,} customers to {out_path} "
            f"and the truth to {truth} ({counts})"
        )


if __name__ == "__main__":  # pragma: no cover
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535))
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False),
    help="Where logs, results and the database live (default: $PROCMINE_DATA_DIR or "
    "./procmine-data).",
)
@click.option("--jobs", type=click.IntRange(min=1), help="Analyses run at the same time.")
def serve(host: str, port: int, data_dir: str | None, jobs: int | None) -> None:
    """Run the REST service (settings from PROCMINE_* variables; see the README)."""
    import uvicorn

    from api.main import create_app
    from api.settings import Settings, SettingsError

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        _fail(str(exc))
    changes: dict[str, Any] = {}
    if data_dir:
        changes["data_dir"] = Path(data_dir)
    if jobs:
        changes["jobs"] = jobs
    settings = dataclasses.replace(settings, **changes)
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"cannot use the data directory {settings.data_dir}: {exc.strerror or exc}")
    err.print(
        f"procmine {__version__}: serving http://{host}:{port} (data in {settings.data_dir}, "
        f"API keys {'required' if settings.auth_required else 'off'})"
    )
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


@main.command()
@click.argument("name")
def keygen(name: str) -> None:
    """Create an API key for NAME: prints the key (give it to the client) and the
    PROCMINE_API_KEYS entry (give it to the service: only the key's SHA-256 digest)."""
    import re
    import secrets

    from api.settings import hash_key

    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", name):
        _fail(f"key name {name!r} may use letters, digits, '_', '.' and '-' (at most 64)")
    key = "pm_" + secrets.token_urlsafe(32)
    out.print(f"key:   {key}")
    out.print(f"entry: {name}:sha256:{hash_key(key)}")
