# SPDX-License-Identifier: AGPL-3.0-or-later
"""The corpus of broken and hostile logs: every file is written by code, with its expected answer.

One entry per kind of bad input an upload can be. ``tests/procmine/test_corpus.py`` reads each
with the library (in a child process whose memory is measured) and
``tests/api/test_hostile_uploads.py`` uploads each to a running service. Cases that need more than a
file (a peek of a bomb, a fuzzed byte string) live beside the code they test; this index is
what a reviewer reads to see what is covered.

>>> len(CORPUS) == len({case.name for case in CORPUS})
True
"""

from __future__ import annotations

import gzip
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from factories import ocel_document

from procmine.errors import ProblemCode

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "orders.csv"
_HEADER = "order_id,activity,timestamp\n"
#: Peak memory a corpus file may add to the reading process (documented in the README).
MEMORY_BOUND_MIB = 1024


@dataclass(frozen=True, slots=True)
class Refused:
    """The file is refused: ``error`` is the exception class name, ``code`` the first
    problem's code, ``says`` a fragment of its message; ``line`` and ``column`` when the
    problem must point at them."""

    error: str
    code: ProblemCode
    says: str
    line: int | None = None
    column: str | None = None


@dataclass(frozen=True, slots=True)
class Reads:
    """The file is read as a log of ``events`` events in ``cases`` cases, with a warning of
    ``warns`` when given."""

    events: int
    cases: int
    warns: ProblemCode | None = None
    warning_says: str = ""


@dataclass(frozen=True, slots=True)
class Hostile:
    """One corpus entry: ``make`` writes the file into a folder and returns its path;
    ``upload_name`` is the file name a client sends (hostile names), ``kept_name`` the name
    the service must store it under."""

    name: str
    make: Callable[[Path], Path]
    expect: Refused | Reads
    upload_name: str | None = None
    kept_name: str | None = None


def _text(name: str, text: str, encoding: str = "utf-8") -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(text.encode(encoding))
        return path

    return make


def _bytes(name: str, data: bytes) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


def _gzip(name: str, head: bytes, chunk: bytes, total: int, tail: bytes) -> Callable[[Path], Path]:
    """A gzip file that expands to ``head``, ``chunk`` repeated to ``total`` bytes, ``tail``.

    Written as gzip members of one MiB each (a valid gzip file, read as one stream), so a
    bomb of gigabytes is written in milliseconds."""

    def make(folder: Path) -> Path:
        path = folder / name
        block = gzip.compress(chunk * ((1 << 20) // len(chunk)), compresslevel=9)
        with path.open("wb") as fh:
            fh.write(gzip.compress(head))
            for _ in range(total >> 20):
                fh.write(block)
            fh.write(gzip.compress(tail))
        return path

    return make


def _long_field(folder: Path) -> Path:
    path = folder / "long-field.csv"
    with path.open("w") as fh:
        fh.write(_HEADER + "A,placed,2024-01-01 10:00\n" + 'B,"')
        block = "x" * (1 << 20)
        for _ in range(100):
            fh.write(block)
        fh.write('",2024-01-01 11:00\n')
    return path


def _parquet(name: str, table: dict[str, pa.Array]) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        path = folder / name
        pq.write_table(pa.table(table), path)
        return path

    return make


def _seconds_from_2024(ids: pa.Array) -> pa.Array:
    """2024-01-01 00:00 UTC plus ``ids`` seconds, as microsecond timestamps."""
    micros = pa.compute.add(
        pa.scalar(1_704_067_200_000_000, pa.int64()), pa.compute.multiply(ids, 1_000_000)
    )
    return pa.compute.cast(micros, pa.timestamp("us"))


def _activities(n: int) -> dict[str, pa.Array]:
    ids = pa.array(range(n), pa.int64())
    return {
        "order_id": pa.compute.cast(pa.compute.divide(ids, 1000), pa.string()),
        "activity": pa.compute.binary_join_element_wise(
            "event-", pa.compute.cast(ids, pa.string()), ""
        ),
        "timestamp": _seconds_from_2024(ids),
    }


def _one_long_case(n: int) -> dict[str, pa.Array]:
    ids = pa.array(range(n), pa.int64())
    return {
        "order_id": pa.array(["big"] * n),
        "activity": pa.array(["Order placed", "Customer contact"] * (n // 2)),
        "timestamp": _seconds_from_2024(ids),
    }


def _ocel(name: str, dangling: bool) -> Callable[[Path], Path]:
    def make(folder: Path) -> Path:
        doc = ocel_document()
        if dangling:
            doc["events"].append(
                {
                    "id": "e-dangling",
                    "type": "cancel order",
                    "time": "2024-03-02T10:00:00Z",
                    "attributes": [],
                    "relationships": [{"objectId": "o-missing", "qualifier": "order"}],
                }
            )
            doc["objects"][0]["relationships"].append({"objectId": "ghost", "qualifier": "places"})
        path = folder / name
        path.write_text(json.dumps(doc))
        return path

    return make


def _sample_as(folder: Path) -> Path:
    path = folder / "orders.csv"
    shutil.copyfile(SAMPLE, path)
    return path


_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)
    )
    + ']><log><trace><string key="concept:name" value="&lol9;"/></trace></log>'
)
_XXE_XES = (
    '<?xml version="1.0"?><!DOCTYPE log [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    '<log><trace><event><string key="concept:name" value="&x;"/></event></trace></log>'
)
_XXE_OCEL = (
    '<?xml version="1.0"?><!DOCTYPE log [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    "<log><object-types/><event-types/><objects/><events/></log>"
)
_EVENT = (
    b'<trace><string key="concept:name" value="o"/><event>'
    b'<string key="concept:name" value="Order placed"/>'
    b'<date key="time:timestamp" value="2024-01-01T10:00:00+00:00"/></event></trace>'
)
_SAMPLE_EVENTS, _SAMPLE_CASES = 11_232, 2_480
_UNICODE_NAME = "\u00e9t\u00e9 \u2014 Bestellungen \U0001f6d2.csv"

CORPUS: tuple[Hostile, ...] = (
    # XML: entities and bombs never reach pm4py's parser.
    Hostile(
        "billion laughs XES",
        _text("laughs.xes", _LAUGHS),
        Refused("LogFormatError", ProblemCode.MALFORMED_FILE, "declares a DTD or entities"),
    ),
    Hostile(
        "external entity XES",
        _text("xxe.xes", _XXE_XES),
        Refused("LogFormatError", ProblemCode.MALFORMED_FILE, "declares a DTD or entities"),
    ),
    Hostile(
        "external entity OCEL XML",
        _text("xxe.xmlocel", _XXE_OCEL),
        Refused("LogFormatError", ProblemCode.MALFORMED_FILE, "OCEL XML file declares a DTD"),
    ),
    Hostile(
        "gzip bomb XES of events (1 GiB)",
        _gzip("bomb.xes.gz", b'<?xml version="1.0"?><log>', _EVENT, 1 << 30, b"</log>"),
        Refused("LogFormatError", ProblemCode.TOO_LARGE, "compression bomb"),
    ),
    Hostile(
        "gzip bomb XES of one 64 MiB value",
        _gzip(
            "value.xes.gz",
            b'<?xml version="1.0"?><log><trace><string key="concept:name" value="',
            b"A",
            64 << 20,
            b'"/></trace></log>',
        ),
        Refused("LogFormatError", ProblemCode.TOO_LARGE, "longer than 10,000,000 bytes"),
    ),
    Hostile(
        "gzip bomb CSV (1 GiB)",
        _gzip("bomb.csv.gz", _HEADER.encode(), b"A,placed,2024-01-01 10:00\n", 1 << 30, b""),
        Refused("LogFormatError", ProblemCode.TOO_LARGE, "compression bomb"),
    ),
    Hostile(
        "gzip bomb OCEL JSON (1 GiB of padding)",
        _gzip("bomb.jsonocel.gz", b'{"objectTypes": [], "pad": "', b" ", 1 << 30, b'"}'),
        Refused("LogFormatError", ProblemCode.TOO_LARGE, "compression bomb"),
    ),
    # CSV: sizes, encodings and bytes.
    Hostile(
        "CSV with one 100 MB field",
        _long_field,
        Refused("LogFormatError", ProblemCode.TOO_LARGE, "longer than 2,000,000 bytes", line=3),
    ),
    Hostile(
        "CSV with a UTF-8 BOM",
        _text("bom.csv", "\ufeff" + _HEADER + "A,placed,2024-01-01 10:00\n"),
        Reads(events=1, cases=1),
    ),
    Hostile(
        "CSV of mixed encodings (UTF-8, then Latin-1)",
        _bytes(
            "mixed.csv",
            (_HEADER + "A,Geliefert an Jürgen,2024-01-01 10:00\n").encode()
            + "B,Geändert,2024-01-01 11:00\n".encode("latin-1"),
        ),
        Refused("LogFormatError", ProblemCode.ENCODING, "line 3", line=3),
    ),
    Hostile(
        "CSV with a NUL byte",
        _bytes("nul.csv", (_HEADER + "A,pla\x00ced,2024-01-01 10:00\n").encode()),
        Refused("LogFormatError", ProblemCode.MALFORMED_FILE, "NUL byte", line=2),
    ),
    Hostile(
        "CSV with a NUL byte deep inside",
        _text(
            "nul-deep.csv",
            _HEADER
            + "".join(f"o{i},placed,2024-01-01 10:00\n" for i in range(5000))
            + "X,pla\x00ced,2024-01-01 10:00\n",
        ),
        Refused("LogFormatError", ProblemCode.MALFORMED_FILE, "NUL byte", line=5002),
    ),
    Hostile(
        "CSV with a header only",
        _text("header.csv", _HEADER),
        Refused("LogValidationError", ProblemCode.EMPTY_LOG, "no events"),
    ),
    Hostile(
        "CSV with a mapped column twice",
        _text("dup.csv", "order_id,activity,activity,timestamp\nA,x,y,2024-01-01\n"),
        Refused("LogValidationError", ProblemCode.DUPLICATE_COLUMN, "activity", column="activity"),
    ),
    # Timestamps.
    Hostile(
        "timestamps in three formats",
        _text(
            "formats.csv",
            _HEADER
            + "A,placed,2024-01-05 10:00\nA,paid,05/01/2024 11:00\nA,shipped,Jan 5 2024 12:00\n",
        ),
        Refused(
            "LogValidationError",
            ProblemCode.MIXED_TIMESTAMP_FORMATS,
            "mixes timestamp formats",
            line=3,
            column="timestamp",
        ),
    ),
    Hostile(
        "time zones mixed with local times",
        _text(
            "zones.csv",
            _HEADER + "A,placed,2024-01-05 10:00:00+01:00\nA,paid,2024-01-05 10:30:00\n",
        ),
        Refused(
            "LogValidationError",
            ProblemCode.MIXED_TIMEZONES,
            "with a UTC offset",
            line=3,
            column="timestamp",
        ),
    ),
    Hostile(
        "dates in the far past and future",
        _text(
            "far.csv",
            _HEADER
            + "A,placed,1900-01-01 00:00\nA,paid,2024-01-01 00:00\nA,shipped,2999-01-01 00:00\n",
        ),
        Reads(
            events=3, cases=1, warns=ProblemCode.UNPARSEABLE_TIMESTAMP, warning_says="before 1990"
        ),
    ),
    # Shapes.
    Hostile(
        "a million distinct activities",
        _parquet("ids.parquet", _activities(1_000_000)),
        Refused(
            "LogValidationError", ProblemCode.TOO_MANY_ACTIVITIES, "100,000", column="activity"
        ),
    ),
    Hostile(
        "one case of 100,000 events",
        _parquet("long.parquet", _one_long_case(100_000)),
        Reads(events=100_000, cases=1),
    ),
    Hostile(
        "OCEL with dangling object references",
        _ocel("dangling.jsonocel", dangling=True),
        Reads(events=4, cases=2),
    ),
    Hostile(
        "Parquet with a timestamp of the wrong type",
        _parquet(
            "types.parquet",
            {
                "order_id": pa.array([1, 2]),
                "activity": pa.array(["a", "b"]),
                "timestamp": pa.array([True, False]),
            },
        ),
        Refused(
            "LogValidationError", ProblemCode.UNPARSEABLE_TIMESTAMP, "BOOLEAN", column="timestamp"
        ),
    ),
    # Names and extensions that lie.
    Hostile(
        "CSV named .parquet",
        _text("orders.parquet", _HEADER + "A,placed,2024-01-01 10:00\n"),
        Reads(events=1, cases=1),
    ),
    Hostile("OCEL JSON named .csv", _ocel("orders.csv", dangling=False), Reads(events=4, cases=2)),
    Hostile(
        "binary garbage named .csv",
        _bytes("garbage.csv", bytes(range(256)) * 64),
        Refused("LogFormatError", ProblemCode.UNKNOWN_FORMAT, "binary file of unknown format"),
    ),
    Hostile(
        "name with ../ path traversal",
        _sample_as,
        Reads(_SAMPLE_EVENTS, _SAMPLE_CASES),
        upload_name="../../etc/passwd.csv",
        kept_name="passwd.csv",
    ),
    Hostile(
        "name with backslashes",
        _sample_as,
        Reads(_SAMPLE_EVENTS, _SAMPLE_CASES),
        upload_name="..\\..\\windows\\orders.csv",
        kept_name="orders.csv",
    ),
    # A right-to-left override would show the name reversed; it is dropped.
    Hostile(
        "name with a right-to-left override",
        _sample_as,
        Reads(_SAMPLE_EVENTS, _SAMPLE_CASES),
        upload_name="ord\u202eers.csv",
        kept_name="orders.csv",
    ),
    Hostile(
        "name with accents, a dash and an emoji",
        _sample_as,
        Reads(_SAMPLE_EVENTS, _SAMPLE_CASES),
        upload_name=_UNICODE_NAME,
        kept_name=_UNICODE_NAME,
    ),
)
