"""A stand-in Docker Engine API on a unix socket, for the real docker-py client.

No engine runs here, so this answers the calls the container placement makes, as the engine
does: ``/version`` (API negotiation), image inspect and pull, container create, archive upload
(``PUT .../archive``), start, inspect, logs (the multiplexed stdout/stderr stream), list by
label, and remove. It records each request (method, path, query, JSON or raw body). Nothing
runs: a "started" container is a state and an address; a test can make a container exit with
a log, refuse a pull (a registry's 429), or drop a network.

Point the code at it with ``DOCKER_HOST=unix://<socket>``.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import socketserver
import struct
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

API_VERSION = "1.45"


@dataclass(frozen=True)
class Request:
    method: str
    path: str          # without the /v1.xx prefix
    query: dict[str, list[str]]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Container:
    id: str
    name: str
    config: dict[str, Any]
    status: str = "created"
    exit_code: int = 0
    ip: str = ""
    archives: list[bytes] = field(default_factory=list)
    stdout: bytes = b""
    stderr: bytes = b""

    def files(self) -> dict[str, tuple[int, bytes]]:
        """What the archives put in: path -> (mode, content); directories as (mode, b"/")."""
        found: dict[str, tuple[int, bytes]] = {}
        for data in self.archives:
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                for member in tar.getmembers():
                    path = "/" + member.name.lstrip("/")
                    if member.isdir():
                        found[path] = (member.mode, b"/")
                    else:
                        extracted = tar.extractfile(member)
                        found[path] = (member.mode, extracted.read() if extracted else b"")
        return found


@dataclass
class DockerStandIn:
    socket_path: Path
    requests: list[Request] = field(default_factory=list)
    images: set[str] = field(default_factory=set)
    containers: dict[str, Container] = field(default_factory=dict)
    networks: set[str] = field(default_factory=lambda: {"kind", "bridge"})
    # Behaviour a test sets: a pull that fails (status, message); containers (by name prefix)
    # that exit right after start with this code and log.
    pull_error: tuple[int, str] | None = None
    exits: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def host(self) -> str:
        return f"unix://{self.socket_path}"

    def sent(self, method: str | None = None, path: str | None = None) -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method)
                and (path is None or re.fullmatch(path, r.path))]

    def by_name(self, name: str) -> Container:
        return next(c for c in self.containers.values() if c.name == name)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def address_string(self) -> str:
        return "unix"

    def _send(self, code: int, payload: Any = None, content_type: str = "application/json"
              ) -> None:
        data = b"" if payload is None else (
            payload if isinstance(payload, bytes) else json.dumps(payload).encode())
        self.send_response(code)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, code: int, message: str) -> None:
        self._send(code, {"message": message})

    def _handle(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        path = re.sub(r"^/v[0-9.]+", "", unquote(parts.path))
        request = Request(self.command, path, parse_qs(parts.query), body)
        state = self.server.state
        with state.lock:
            state.requests.append(request)
            self._route(request, state)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

    def _route(self, r: Request, state: DockerStandIn) -> None:
        if r.path == "/version":
            self._send(200, {"ApiVersion": API_VERSION, "MinAPIVersion": "1.24",
                             "Version": "27.5.1", "Os": "linux", "Arch": "amd64"})
        elif r.path == "/_ping":
            self._send(200, b"OK", "text/plain")
        elif m := re.fullmatch(r"/images/(.+)/json", r.path):
            if image_key(m.group(1)) in state.images:
                self._send(200, {"Id": "sha256:" + "1" * 64, "RepoTags": [m.group(1)]})
            else:
                self._error(404, f"No such image: {m.group(1)}")
        elif r.path == "/images/create" and r.method == "POST":
            self._pull(r, state)
        elif r.path == "/containers/create" and r.method == "POST":
            self._create(r, state)
        elif r.path == "/containers/json":
            self._list(r, state)
        elif m := re.fullmatch(r"/containers/([^/]+)(/[a-z]+)?", r.path):
            container = state.containers.get(m.group(1)) or next(
                (c for c in state.containers.values() if c.name == m.group(1)), None)
            if container is None:
                self._error(404, f"No such container: {m.group(1)}")
            else:
                self._container(r, m.group(2) or "", container, state)
        else:
            self._error(404, f"page not found: {r.method} {r.path}")

    def _pull(self, r: Request, state: DockerStandIn) -> None:
        if state.pull_error is not None:
            self._error(*state.pull_error)
            return
        image = r.query["fromImage"][0]
        tag = r.query.get("tag", [""])[0]
        ref = f"{image}@{tag}" if tag.startswith("sha256:") else f"{image}:{tag}"
        state.images.add(image_key(ref))
        self._send(200, b'{"status":"Pulling from x"}\r\n{"status":"Downloaded newer image"}\r\n')

    def _create(self, r: Request, state: DockerStandIn) -> None:
        name = r.query.get("name", [""])[0]
        body = r.json()
        if image_key(str(body.get("Image"))) not in state.images:
            self._error(404, f"No such image: {body.get('Image')}")
            return
        if any(c.name == name for c in state.containers.values()):
            self._error(409, f'Conflict. The container name "/{name}" is already in use')
            return
        network = (body.get("HostConfig") or {}).get("NetworkMode", "bridge")
        if network not in state.networks:
            self._error(404, f"network {network} not found")
            return
        cid = f"{len(state.containers) + 1:064x}"
        state.containers[cid] = Container(cid, name, body)
        self._send(201, {"Id": cid, "Warnings": []})

    def _list(self, r: Request, state: DockerStandIn) -> None:
        filters = json.loads(r.query.get("filters", ["{}"])[0])
        wanted = dict(label.split("=", 1) for label in filters.get("label", []))
        found = [c for c in state.containers.values()
                 if all((c.config.get("Labels") or {}).get(k) == v for k, v in wanted.items())]
        self._send(200, [{"Id": c.id, "Names": [f"/{c.name}"], "State": c.status}
                         for c in found])

    def _container(self, r: Request, action: str, c: Container, state: DockerStandIn) -> None:
        if action == "/json":
            self._send(200, _inspect(c))
        elif action == "/archive" and r.method == "PUT":
            c.archives.append(r.body)
            self._send(200)
        elif action == "/start" and r.method == "POST":
            exit_with = next((v for prefix, v in state.exits.items()
                              if c.name.startswith(prefix)), None)
            if exit_with is not None:
                c.status, c.exit_code = "exited", exit_with[0]
                c.stderr = exit_with[1]
            else:
                c.status = "running"
                network = c.config["HostConfig"]["NetworkMode"]
                c.ip = f"172.18.0.{len(state.containers) + 1}" if network == "kind" else ""
            self._send(204)
        elif action == "/logs":
            self._logs(r, c)
        elif action == "" and r.method == "DELETE":
            del state.containers[c.id]
            self._send(204)
        else:
            self._error(404, f"page not found: {r.method} {r.path}")

    def _logs(self, r: Request, c: Container) -> None:
        def frames(kind: int, data: bytes) -> bytes:
            return b"".join(struct.pack(">BxxxL", kind, len(line)) + line
                            for line in data.splitlines(keepends=True))

        out = frames(1, c.stdout) if r.query.get("stdout") == ["1"] else b""
        err = frames(2, c.stderr) if r.query.get("stderr") == ["1"] else b""
        self._send(200, out + err, "application/vnd.docker.multiplexed-stream")


def image_key(ref: str) -> str:
    """How the engine finds an image: by digest when the reference has one (its tag is then
    ignored, as the engine does), else by name and tag."""
    name, _, digest = ref.partition("@")
    if not digest:
        return name
    repository = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return f"{repository}@{digest}"


def _inspect(c: Container) -> dict[str, Any]:
    network = c.config["HostConfig"]["NetworkMode"]
    return {
        "Id": c.id, "Name": f"/{c.name}", "Image": c.config.get("Image"),
        "Config": {**c.config, "Tty": False},
        "State": {"Status": c.status, "Running": c.status == "running",
                  "ExitCode": c.exit_code},
        "NetworkSettings": {"Networks": {network: {"IPAddress": c.ip}}
                            if c.status == "running" else {}},
    }


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def __init__(self, state: DockerStandIn) -> None:
        super().__init__(str(state.socket_path), _Handler)
        self.state = state


@contextlib.contextmanager
def serving(socket_path: Path) -> Iterator[DockerStandIn]:
    state = DockerStandIn(socket_path)
    server = _Server(state)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
