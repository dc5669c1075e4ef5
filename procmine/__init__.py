# SPDX-License-Identifier: AGPL-3.0-or-later
"""procmine: find the friction in order-lifecycle event logs and price it.

The typical notebook session::

    import procmine as pm
    log = pm.read_log("orders.csv")            # CSV, Parquet, XES, OCEL 2.0
    graph = pm.discover(log)                   # directly-follows graph and variants
    findings = pm.detect(log)                  # detours, lost sales, friction: scored
    findings.to_pandas()
    pm.process_map(graph)                      # displays inline in Jupyter
"""

from __future__ import annotations

__version__ = "0.1.0"

from procmine.analysis import Analysis, analyze, detect
from procmine.compare import BeforeAfter, compare
from procmine.config import (
    AnalysisConfig,
    ChurnConfig,
    CostModel,
    ReadOptions,
    Similarity,
    SimilarityLevel,
    Windows,
    load_config,
    parse_duration,
)
from procmine.discover import Edge, ProcessGraph, Variant, discover
from procmine.engine import Engine
from procmine.errors import (
    ConfigError,
    LogError,
    LogFormatError,
    LogValidationError,
    OutputError,
    Problem,
    ProcmineError,
    RenderError,
    UnknownDetectorError,
)
from procmine.findings import Finding, Findings, Instance
from procmine.io import read_frame, read_log
from procmine.io.saved import open_saved_log, save_log
from procmine.log import EventLog
from procmine.mapping import ColumnMapping
from procmine.preview import LogPreview, preview
from procmine.roles import Role

__all__ = [
    "Analysis",
    "AnalysisConfig",
    "BeforeAfter",
    "ChurnConfig",
    "ColumnMapping",
    "ConfigError",
    "CostModel",
    "Edge",
    "Engine",
    "EventLog",
    "Finding",
    "Findings",
    "Instance",
    "LogError",
    "LogFormatError",
    "LogPreview",
    "LogValidationError",
    "OutputError",
    "Problem",
    "ProcessGraph",
    "ProcmineError",
    "ReadOptions",
    "RenderError",
    "Role",
    "Similarity",
    "SimilarityLevel",
    "UnknownDetectorError",
    "Variant",
    "Windows",
    "__version__",
    "analyze",
    "compare",
    "detect",
    "discover",
    "load_config",
    "open_saved_log",
    "parse_duration",
    "preview",
    "read_frame",
    "read_log",
    "save_log",
]
