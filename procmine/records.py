# SPDX-License-Identifier: AGPL-3.0-or-later
"""Immutable, columnar collections of typed records (variants, instances).

A log can have hundreds of thousands of variants or detour instances. They are kept as one
Arrow table and turned into frozen dataclass records only when iterated or indexed, so a
typed API does not cost a Python object per row up front.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import pandas as pd
import pyarrow as pa

__all__ = ["Records"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Records(Generic[T]):
    """A read-only sequence of ``T`` backed by an Arrow table.

    Examples
    --------
    >>> import pyarrow as pa
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Point:
    ...     x: int
    ...     y: int
    >>> pts = Records(pa.table({"x": [1, 2], "y": [3, 4]}), lambda row: Point(**row))
    >>> len(pts), pts[1]
    (2, Point(x=2, y=4))
    >>> pts.to_pandas().shape
    (2, 2)
    """

    table: pa.Table
    make: Callable[[dict[str, Any]], T]

    def __len__(self) -> int:
        return int(self.table.num_rows)

    def __iter__(self) -> Iterator[T]:
        for batch in self.table.to_batches(max_chunksize=4096):
            for row in batch.to_pylist():
                yield self.make(row)

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> Records[T]: ...

    def __getitem__(self, index: int | slice) -> T | Records[T]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                raise ValueError("Records slices must have step 1")
            return Records(self.table.slice(start, max(stop - start, 0)), self.make)
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(index)
        return self.make(self.table.slice(index, 1).to_pylist()[0])

    def head(self, n: int = 10) -> Records[T]:
        """The first ``n`` records."""
        return self[:n]

    def to_arrow(self) -> pa.Table:
        """The underlying Arrow table."""
        return self.table

    def to_pandas(self) -> pd.DataFrame:
        """The records as a pandas frame (one column per field)."""
        frame: pd.DataFrame = self.table.to_pandas()
        return frame

    def to_pylist(self) -> list[dict[str, Any]]:
        """The records as plain dicts (JSON-ready apart from datetimes)."""
        return list(self.table.to_pylist())

    def __repr__(self) -> str:
        return f"Records({len(self)} rows: {', '.join(self.table.column_names)})"
