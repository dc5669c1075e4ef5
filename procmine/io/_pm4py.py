# SPDX-License-Identifier: AGPL-3.0-or-later
"""The only module that imports pm4py: reading OCEL 2.0 files (XES has its own streaming
reader, procmine.io.xes, with pm4py as its oracle in the tests).

pm4py is imported lazily, inside the functions, because importing it takes about a second
and CSV/Parquet users never need it. Its types never leave this module: callers get pandas
frames.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from procmine.errors import LogFormatError, Problem, ProblemCode

__all__ = ["OcelFrames", "read_ocel2"]


@contextmanager
def _quiet() -> Iterator[None]:
    # pm4py warns about optional accelerators and prints progress bars; neither helps a user.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@contextmanager
def _with_suffix(path: Path, suffix: str, compressed: bool) -> Iterator[Path]:
    """pm4py picks its parser by file extension; give it a name that matches the content."""
    wanted = suffix + (".gz" if compressed else "")
    if path.name.lower().endswith(wanted):
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="procmine-") as tmp:
        target = Path(tmp) / f"log{wanted}"
        shutil.copyfile(path, target)
        yield target


@dataclass(frozen=True, slots=True)
class OcelFrames:
    """The tables of an OCEL 2.0 log as pandas frames (pm4py's column names)."""

    events: pd.DataFrame
    objects: pd.DataFrame
    relations: pd.DataFrame
    o2o: pd.DataFrame


def read_ocel2(path: Path, *, kind: str, compressed: bool) -> OcelFrames:
    """Read an OCEL 2.0 log; ``kind`` is ``json``, ``xml`` or ``sqlite``."""
    with _quiet():
        import pm4py

        readers: dict[str, Any] = {
            "json": (pm4py.read_ocel2_json, ".jsonocel"),
            "xml": (pm4py.read_ocel2_xml, ".xmlocel"),
            "sqlite": (pm4py.read_ocel2_sqlite, ".sqlite"),
        }
        reader, suffix = readers[kind]
        if compressed and kind != "xml":
            # pm4py decompresses all of it (JSON into memory): a gzip bomb is refused first.
            from procmine.io.expansion import check_expansion

            check_expansion(path)
        if kind == "xml":
            # pm4py's OCEL XML reader is not hardened: check the file as the XES pass does.
            from procmine.io.xes_check import check_xml_safety

            check_xml_safety(path, compressed=compressed, kind="OCEL XML")
        with _with_suffix(path, suffix, compressed and kind != "sqlite") as p:
            try:
                if kind == "sqlite" and compressed:
                    with tempfile.TemporaryDirectory(prefix="procmine-") as tmp:
                        plain = Path(tmp) / "log.sqlite"
                        with gzip.open(p, "rb") as src, plain.open("wb") as dst:
                            shutil.copyfileobj(src, dst)
                        ocel = reader(str(plain))
                else:
                    ocel = reader(str(p))
            except Exception as exc:  # pm4py raises KeyError/Exception for malformed OCEL
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                raise LogFormatError(
                    [
                        Problem(
                            ProblemCode.MALFORMED_FILE,
                            f"{path.name}: not a readable OCEL 2.0 {kind.upper()} log ({detail})",
                        )
                    ]
                ) from None
    return OcelFrames(
        events=ocel.events, objects=ocel.objects, relations=ocel.relations, o2o=ocel.o2o
    )
