# SPDX-License-Identifier: AGPL-3.0-or-later
"""Receive a multipart upload straight to disk, enforcing the size limit as bytes arrive.

Starlette's own form parsing spools the whole body before the handler sees it, so an
over-large upload would fill the disk before being refused. Here the body is parsed as it
streams in: the file part goes chunk by chunk into the upload's private folder, and the
request is refused the moment it passes the limit.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from api.errors import InsufficientStorage, InvalidRequest, PayloadTooLarge, UnsupportedMediaType
from api.store import safe_file_name

__all__ = ["Upload", "receive_upload"]

#: Form fields other than the file are small JSON documents.
_MAX_FIELD_BYTES = 256 * 1024
_FILE_FIELD = "file"
_TEXT_FIELDS = ("mapping",)


@dataclass
class Upload:
    """A received upload: the file on disk, its size, and the other form fields."""

    path: Path
    size: int
    fields: dict[str, str] = field(default_factory=dict)


class _Receiver:
    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder = folder
        self.max_bytes = max_bytes
        self.headers: dict[bytes, bytes] = {}
        self._field = b""
        self._value = b""
        self.name: str | None = None
        self.file: IO[bytes] | None = None
        self.path: Path | None = None
        self.size = 0
        self.file_complete = False
        self.text: dict[str, bytearray] = {}
        self.error: Exception | None = None

    def on_part_begin(self) -> None:
        self.headers = {}
        self.name = None

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def on_header_end(self) -> None:
        self.headers[self._field.lower()] = self._value
        self._field = self._value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        self.name = name
        if name == _FILE_FIELD:
            if self.path is not None:
                raise InvalidRequest("the form has more than one 'file' field; send one log")
            filename = options.get(b"filename", b"").decode("utf-8", "replace")
            self.path = self.folder / safe_file_name(filename)
            self.file = self.path.open("wb")
        elif name in _TEXT_FIELDS:
            if name in self.text:
                raise InvalidRequest(f"the form has more than one {name!r} field")
            self.text[name] = bytearray()

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self.name == _FILE_FIELD and self.file is not None:
            self.size += len(chunk)
            if self.size > self.max_bytes:
                raise PayloadTooLarge(
                    f"the upload is larger than the limit of {self.max_bytes:,} bytes "
                    "(the upload limit of this service or key)"
                )
            self.file.write(chunk)
        elif self.name in self.text:
            buf = self.text[self.name]
            if len(buf) + len(chunk) > _MAX_FIELD_BYTES:
                raise InvalidRequest(f"form field {self.name!r} is larger than 256 KiB")
            buf.extend(chunk)
        # Unknown fields are read and dropped, as HTML forms may send extra ones.

    def on_part_end(self) -> None:
        if self.name == _FILE_FIELD and self.file is not None:
            self.file.close()
            self.file = None
            self.file_complete = True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()


async def receive_upload(request: Request, folder: Path, max_bytes: int) -> Upload:
    """Parse the multipart body of ``request`` into ``folder``.

    On any error (too large, malformed, client gone) the folder is removed before the error
    propagates, so nothing of a refused upload stays on disk.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        shutil.rmtree(folder, ignore_errors=True)
        raise UnsupportedMediaType(
            "upload the log as multipart/form-data with the file in a field named 'file'"
        )
    declared = request.headers.get("content-length")
    # Some slack over the limit for the multipart framing and the mapping field.
    if declared and declared.isdigit() and int(declared) > max_bytes + _MAX_FIELD_BYTES + 65536:
        shutil.rmtree(folder, ignore_errors=True)
        raise PayloadTooLarge(
            f"the upload ({int(declared):,} bytes) is larger than the limit of "
            f"{max_bytes:,} bytes (the upload limit of this service or key)"
        )
    receiver = _Receiver(folder, max_bytes)
    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": receiver.on_part_begin,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            if chunk:
                parser.write(chunk)
        parser.finalize()
    except (InvalidRequest, PayloadTooLarge, ClientDisconnect):
        receiver.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    except OSError as exc:
        receiver.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise InsufficientStorage(
            f"the upload could not be stored: {exc.strerror or exc}; nothing was kept"
        ) from None
    except Exception as exc:  # the multipart parser's own errors: a malformed body
        receiver.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise InvalidRequest(f"the multipart body is malformed: {exc}") from None
    except BaseException:
        receiver.close()
        shutil.rmtree(folder, ignore_errors=True)
        raise
    receiver.close()
    if receiver.path is None or not receiver.file_complete:
        shutil.rmtree(folder, ignore_errors=True)
        raise InvalidRequest(
            "the form has no complete field named 'file'; send the log in a field named 'file'"
        )
    fields = {}
    for name, raw in receiver.text.items():
        try:
            fields[name] = raw.decode("utf-8")
        except UnicodeDecodeError:
            shutil.rmtree(folder, ignore_errors=True)
            raise InvalidRequest(f"form field {name!r} is not UTF-8 text") from None
    return Upload(path=receiver.path, size=receiver.size, fields=fields)
