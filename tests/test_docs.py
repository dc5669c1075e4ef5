# SPDX-License-Identifier: AGPL-3.0-or-later
"""The README documents what the code offers: detectors, variants, options, config keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from procmine import config as cfg
from procmine.cli import analyze
from procmine.detect import registered
from procmine.mapping import FIELDS

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_every_detector_and_variant_is_documented() -> None:
    for name, cls in registered().items():
        assert f"`{name}`" in README, name
        for variant in cls.variants:
            assert f"`{variant}`" in README, variant


def test_every_analyze_option_is_documented() -> None:
    for param in analyze.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert any(opt in README for opt in param.opts), param.opts


def test_every_config_key_is_documented() -> None:
    sections = {
        "read": cfg.ReadOptions,
        "windows": cfg.Windows,
        "similarity": cfg.Similarity,
        "cost_model": cfg.CostModel,
        "churn": cfg.ChurnConfig,
        "rework": cfg.Rework,
        "waits": cfg.Waits,
        "period": cfg.Period,
    }
    for section, cls in sections.items():
        assert f"[{section}]" in README, section
        for f in dataclasses.fields(cls):
            assert f.name in README, f"{section}.{f.name}"
    for name in FIELDS:
        assert name in README


def test_every_service_setting_is_in_the_readme_table() -> None:
    import re

    import api.settings

    names = set(re.findall(r"^(PROCMINE_[A-Z_]+)\s", api.settings.__doc__ or "", re.MULTILINE))
    assert "PROCMINE_ENGINE_MEMORY" in names and len(names) >= 7
    for name in names:
        assert f"| `{name}` |" in README, name


def test_the_readme_starts_with_the_two_setup_commands() -> None:
    head = README.split("```", 2)[1]
    assert "bash scripts/demo.sh" in head and "bash scripts/test.sh" in head
    test_script = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "scripts/test.sh" in test_script
