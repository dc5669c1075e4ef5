# SPDX-License-Identifier: AGPL-3.0-or-later
"""Uploads waiting for their mapping: the web page's step between upload and log.

``POST /logs`` refuses a log it cannot map, which suits a script that sends the mapping with
the file. An analyst in a browser instead uploads first and then picks the columns from what
the file holds. The file waits as a *draft* (``drafts/<id>/``) until the mapping reads it
cleanly; confirming turns it into a log with :meth:`Store.add_log`. Drafts left alone are
removed after :data:`DRAFT_TTL`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from api.errors import NotFound
from api.store import LogRecord, Store, UploadMapping, new_id, now
from procmine.config import ReadOptions
from procmine.io import read_log
from procmine.io.peek import RawPeek, peek_log
from procmine.preview import LogPreview, preview

__all__ = ["DRAFT_TTL", "Draft", "Drafts", "trial_read"]

#: Drafts older than this are removed when the service starts.
DRAFT_TTL = dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Draft:
    """An uploaded file waiting for its mapping."""

    id: str
    owner: str
    name: str
    size_bytes: int
    created: str
    path: Path


def trial_read(store: Store, path: Path, mapping: UploadMapping) -> LogPreview:
    """Read ``path`` with ``mapping`` as an upload would, in one of ``store``'s engines (its
    threads and memory), and keep nothing but its preview.

    Raises the library's ``LogError`` or ``ConfigError`` with every problem found.
    """
    with store.engine() as eng:
        log = read_log(
            path, columns=mapping.columns, roles=mapping.roles, options=mapping.read, engine=eng
        )
        return preview(log, rows=0)


class Drafts:
    """The drafts of a store's data directory."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.root = store.root / "drafts"
        self.root.mkdir(exist_ok=True)

    def recover(self) -> None:
        """Remove half-written and expired drafts."""
        limit = dt.datetime.now(dt.UTC) - DRAFT_TTL
        for folder in self.root.iterdir():
            meta = folder / "draft.json"
            try:
                created = dt.datetime.fromisoformat(json.loads(meta.read_text())["created"])
            except (OSError, ValueError, KeyError):
                created = None
            if folder.name.startswith(".") or created is None or created < limit:
                shutil.rmtree(folder, ignore_errors=True)

    def add(self, owner: str, upload: Path, size_bytes: int) -> Draft:
        """Keep an uploaded file as a draft (the file is moved, not copied)."""
        draft_id = new_id("dr")
        staging = self.root / f".new-{draft_id}"
        (staging / "file").mkdir(parents=True)
        try:
            os.replace(upload, staging / "file" / upload.name)
            meta = {"owner": owner, "name": upload.name, "size": size_bytes, "created": now()}
            (staging / "draft.json").write_text(json.dumps(meta), "utf-8")
            os.rename(staging, self.root / draft_id)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return self.get(owner, draft_id)

    def get(self, owner: str, draft_id: str) -> Draft:
        """One of the owner's drafts (:class:`NotFound` for anyone else's)."""
        folder = self.root / draft_id
        # Ids are generated; anything else (a path, a dot name) is simply not found.
        if not draft_id.isidentifier() or not folder.is_dir():
            raise NotFound(f"there is no draft {draft_id!r}")
        try:
            meta = json.loads((folder / "draft.json").read_text("utf-8"))
        except (OSError, ValueError):
            raise NotFound(f"there is no draft {draft_id!r}") from None
        if meta["owner"] != owner:
            raise NotFound(f"there is no draft {draft_id!r}")
        return Draft(
            id=draft_id,
            owner=owner,
            name=meta["name"],
            size_bytes=int(meta["size"]),
            created=meta["created"],
            path=folder / "file" / meta["name"],
        )

    def list(self, owner: str) -> list[Draft]:
        """The owner's drafts, newest first."""
        found = []
        for folder in self.root.iterdir():
            if folder.name.startswith("."):
                continue
            try:
                found.append(self.get(owner, folder.name))
            except NotFound:
                continue
        return sorted(found, key=lambda d: d.created, reverse=True)

    def delete(self, owner: str, draft_id: str) -> None:
        """Throw a draft away."""
        draft = self.get(owner, draft_id)
        doomed = self.root / f".deleted-{draft.id}"
        os.rename(self.root / draft.id, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def peek(
        self, owner: str, draft_id: str, rows: int, options: ReadOptions | None = None
    ) -> RawPeek:
        """The draft file's columns and first rows."""
        return peek_log(self.get(owner, draft_id).path, rows, options)

    def confirm(self, owner: str, draft_id: str, mapping: UploadMapping) -> LogRecord:
        """Read the draft with ``mapping`` into a log; the draft stays if that fails."""
        draft = self.get(owner, draft_id)
        record = self.store.add_log(owner, draft.path, draft.size_bytes, mapping)
        shutil.rmtree(self.root / draft.id, ignore_errors=True)
        return record
