# SPDX-License-Identifier: AGPL-3.0-or-later
"""The public namespace: complete, sorted, documented."""

from __future__ import annotations

import inspect

import procmine


def test_all_is_sorted_and_resolves() -> None:
    assert procmine.__all__ == sorted(procmine.__all__)
    for name in procmine.__all__:
        assert hasattr(procmine, name), name


def test_every_public_name_has_a_docstring() -> None:
    undocumented = [
        name
        for name in procmine.__all__
        if not name.startswith("__")
        and (
            inspect.isclass(getattr(procmine, name)) or inspect.isfunction(getattr(procmine, name))
        )
        and not inspect.getdoc(getattr(procmine, name))
    ]
    assert undocumented == []


def test_the_main_entry_points_have_examples() -> None:
    for obj in (procmine.read_log, procmine.detect, procmine.ProcessGraph, procmine.EventLog):
        assert ">>>" in (inspect.getdoc(obj) or ""), obj.__name__


def test_results_are_frozen() -> None:
    import dataclasses

    for cls in (
        procmine.Finding,
        procmine.Instance,
        procmine.Edge,
        procmine.Variant,
        procmine.ProcessGraph,
        procmine.Problem,
        procmine.AnalysisConfig,
    ):
        params = cls.__dataclass_params__  # type: ignore[attr-defined]
        assert dataclasses.is_dataclass(cls) and params.frozen, cls.__name__
