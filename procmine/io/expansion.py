# SPDX-License-Identifier: AGPL-3.0-or-later
"""Bounds on how far a gzipped log may expand: a gzip bomb is refused in about a second.

Real event logs compress 10 to 90 times (the XES and OCEL files in pm4py's test data, BPIC
2012 included); a bomb compresses a thousand times or more. A gzipped log may therefore
expand to :data:`EXPANSION_ALLOWANCE` whatever its ratio, and beyond that to at most
:data:`MAX_EXPANSION` times its compressed size. Readers that decompress themselves wrap the
stream in :class:`BoundedStream`; for readers that decompress on their own (DuckDB, pm4py),
:func:`check_expansion` streams the file once first, without keeping what it reads.

>>> import gzip, tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "log.csv.gz"
>>> path.write_bytes(gzip.compress(b"order_id,activity,timestamp\\n"))
48
>>> check_expansion(path)
28
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import IO

from procmine.errors import LogFormatError, Problem, ProblemCode

__all__ = [
    "EXPANSION_ALLOWANCE",
    "MAX_EXPANSION",
    "BoundedStream",
    "check_expansion",
    "damaged_gzip",
    "expansion_limit",
    "open_bounded",
]

#: How many times its compressed size a gzipped log may expand beyond the allowance.
MAX_EXPANSION = 200
#: What any gzipped log may expand to, whatever its ratio (small files compress better).
EXPANSION_ALLOWANCE = 256 * 1024**2
_CHUNK = 1 << 20


def expansion_limit(path: Path) -> int:
    """The most bytes ``path`` (gzipped) may decompress to."""
    return max(EXPANSION_ALLOWANCE, MAX_EXPANSION * path.stat().st_size)


def _bomb(path: Path, limit: int) -> LogFormatError:
    return LogFormatError(
        [
            Problem(
                ProblemCode.TOO_LARGE,
                f"{path.name} expands to more than {limit:,} bytes when decompressed (over "
                f"{MAX_EXPANSION} times its size): refused as a compression bomb; send it "
                "uncompressed if it really is a log",
            )
        ]
    )


def damaged_gzip(path: Path, exc: BaseException) -> LogFormatError:
    """The error for a gzip file that cannot be decompressed to its end."""
    return LogFormatError(
        [
            Problem(
                ProblemCode.MALFORMED_FILE,
                f"{path.name}: the compressed file is damaged or truncated ({exc})",
            )
        ]
    )


class BoundedStream:
    """A readable binary stream that raises :class:`LogFormatError` past ``limit`` bytes."""

    def __init__(self, fh: IO[bytes], path: Path, limit: int) -> None:
        self._fh = fh
        self._path = path
        self._limit = limit
        self.total = 0

    def read(self, size: int = -1) -> bytes:
        try:
            chunk = self._fh.read(size if size and size > 0 else _CHUNK)
        except (OSError, EOFError, zlib.error) as exc:
            raise damaged_gzip(self._path, exc) from None
        self.total += len(chunk)
        if self.total > self._limit:
            raise _bomb(self._path, self._limit)
        return chunk

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> BoundedStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_bounded(path: Path) -> BoundedStream:
    """Open gzipped ``path`` for reading, refusing it once it expands past its limit."""
    return BoundedStream(gzip.open(path, "rb"), path, expansion_limit(path))  # type: ignore[arg-type]


def check_expansion(path: Path) -> int:
    """Decompress gzipped ``path`` once, keeping nothing, and return its expanded size.

    Raises :class:`LogFormatError` (``too_large``) as soon as the expansion passes
    :func:`expansion_limit`, or (``malformed_file``) if the gzip data is damaged.
    """
    with open_bounded(path) as stream:
        while stream.read(_CHUNK):
            pass
    return stream.total
