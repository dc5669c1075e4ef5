# SPDX-License-Identifier: AGPL-3.0-or-later
"""Helpers of the service tests: `procmine serve` in its own process on a loopback port.

This is the command the Dockerfile runs, so these tests also cover the image's start-up.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_logs" / "orders.csv"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """A running `procmine serve` process with its data directory and an HTTP client."""

    def __init__(
        self,
        data_dir: Path,
        env: Mapping[str, str] | None = None,
        *,
        file_size_limit: int | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = dict(env or {})
        # RLIMIT_FSIZE: a write past it fails as on a full disk (Python ignores SIGXFSZ).
        self.file_size_limit = file_size_limit
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir.parent / f"{data_dir.name}-service.log"
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {
            **os.environ,
            "PROCMINE_DATA_DIR": str(self.data_dir),
            "PROCMINE_JOBS": "2",
            # Tests poll fast from one address; the rate limit has its own tests.
            "PROCMINE_RATE_LIMIT": "off",
            **self.env,
        }
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    "from procmine.cli import main; main()",
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                ],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=self._limits if self.file_size_limit else None,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited: {self.log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("the service did not answer /health within 60 s")

    def _limits(self) -> None:
        import resource

        assert self.file_size_limit is not None
        resource.setrlimit(resource.RLIMIT_FSIZE, (self.file_size_limit, self.file_size_limit))

    def stop(self, *, kill: bool = False) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def restart(self, *, kill: bool = False) -> None:
        self.stop(kill=kill)
        self.start()

    def client(self, key: str | None = None) -> httpx.Client:
        headers = {"X-API-Key": key} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


def stored(service: Service) -> tuple[list[str], list[str]]:
    """The ids of the stored logs and of the uploads in flight, sorted: what a refused or
    cut-off upload must leave unchanged."""
    return (
        sorted(p.name for p in (service.data_dir / "logs").iterdir()),
        sorted(p.name for p in (service.data_dir / "uploads").iterdir()),
    )


def renamed_sample(folder: Path, name: str = "orders-renamed.csv") -> Path:
    """The sample log with its timestamp column renamed ``booked``, so that procmine does
    not recognise it and the mapping step has something to correct."""
    lines = SAMPLE.read_text("utf-8").splitlines(keepends=True)
    assert "timestamp" in lines[0]
    path = folder / name
    path.write_text(lines[0].replace("timestamp", "booked") + "".join(lines[1:]), "utf-8")
    return path


def half_upload(port: int, payload: bytes) -> socket.socket:
    """A connection that has sent a multipart upload's headers and half of ``payload``
    (the caller closes it, or kills the service, while the rest never comes)."""
    head = b'--cut\r\nContent-Disposition: form-data; name="file"; filename="cut.csv"\r\n\r\n'
    total = len(head) + len(payload) + len(b"\r\n--cut--\r\n")
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(
        b"POST /logs HTTP/1.1\r\nHost: localhost\r\n"
        b"Content-Type: multipart/form-data; boundary=cut\r\n"
        + f"Content-Length: {total}\r\n\r\n".encode()
        + head
        + payload[: len(payload) // 2]
    )
    return s


def upload(
    client: httpx.Client,
    path: Path,
    *,
    mapping: Mapping[str, Any] | None = None,
    name: str | None = None,
) -> httpx.Response:
    """POST a file to /logs as multipart, with an optional mapping."""
    import json

    data = {"mapping": json.dumps(mapping)} if mapping is not None else None
    with path.open("rb") as fh:
        return client.post("/logs", files={"file": (name or path.name, fh)}, data=data)


def wait_done(client: httpx.Client, analysis_id: str, timeout: float = 240) -> dict[str, Any]:
    """Poll an analysis until it is done or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        doc: dict[str, Any] = client.get(f"/analyses/{analysis_id}").json()
        if doc["state"] in ("done", "failed"):
            return doc
        time.sleep(0.2)
    raise AssertionError(f"analysis {analysis_id} did not finish within {timeout} s")


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """The response is an RFC 9457 problem document with this status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= set(body)
    return body
