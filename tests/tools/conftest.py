"""A real HTTP server on loopback that plays a release host: it serves assets and checksum
files, and can answer 404, 503, or cut a body short, per request, in a scripted order."""

from __future__ import annotations

import hashlib
import io
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from egress_e2e.core.localproc import serving
from egress_e2e.infra import versions
from egress_e2e.infra.tools import Cache, RetryPolicy

FAST_RETRY = RetryPolicy(attempts=3, first_wait=0.01, max_wait=0.02, timeout=5.0)


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    cut_after: int | None = None      # send a full Content-Length, then only this many bytes


@dataclass
class ReleaseHost:
    base_url: str
    _routes: dict[str, list[Reply]] = field(default_factory=dict)
    _hits: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def serve(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with ``replies`` in order; the last one repeats."""
        with self._lock:
            self._routes[path] = list(replies)

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def next_reply(self, path: str) -> Reply:
        with self._lock:
            self._hits[path] = self._hits.get(path, 0) + 1
            queue = self._routes.get(path)
            if not queue:
                return Reply(404, b"Not Found")
            return queue.pop(0) if len(queue) > 1 else queue[0]


def _handler_for(host: ReleaseHost) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            reply = host.next_reply(self.path)
            self.send_response(reply.status)
            self.send_header("Content-Length", str(len(reply.body)))
            self.end_headers()
            if reply.cut_after is None:
                self.wfile.write(reply.body)
            else:
                self.wfile.write(reply.body[: reply.cut_after])
                self.wfile.flush()
                self.close_connection = True

        def log_message(self, format: str, *args: object) -> None:
            del format, args

    return Handler


@pytest.fixture
def release_host() -> Iterator[ReleaseHost]:
    host = ReleaseHost(base_url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(host))
    server.daemon_threads = True
    host.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    with serving(server):
        yield host


@pytest.fixture
def tool_cache(tmp_path: Path) -> Cache:
    return Cache(tmp_path / "cache")


@pytest.fixture
def linux_amd64() -> versions.Platform:
    return versions.Platform("linux", "amd64")


@pytest.fixture
def repo_versions() -> versions.Versions:
    return versions.load(versions.DEFAULT_PATH)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def script(text: str) -> bytes:
    """A tiny executable standing in for a release binary (real enough to run)."""
    return f"#!/bin/sh\n{text}\n".encode()


def tar_gz(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o755
            tar.addfile(info, io.BytesIO(data))
        for name, target in (symlinks or {}).items():
            info = tarfile.TarInfo(name)
            info.type = tarfile.SYMTYPE
            info.linkname = target
            tar.addfile(info)
    return buffer.getvalue()


@dataclass(frozen=True)
class Kit:
    """Helpers for the tests (pytest's importlib mode lets test modules import no conftest)."""

    retry: RetryPolicy = FAST_RETRY

    @staticmethod
    def reply(body: bytes, status: int = 200, cut_after: int | None = None) -> Reply:
        return Reply(status, body, cut_after)

    @staticmethod
    def sha256(data: bytes) -> str:
        return sha256(data)

    @staticmethod
    def script(text: str) -> bytes:
        return script(text)

    @staticmethod
    def tar_gz(members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> bytes:
        return tar_gz(members, symlinks)


@pytest.fixture
def kit() -> Kit:
    return Kit()
