"""A stand-in Kubernetes API server on loopback, for the real ``KubeClient``.

The Kubernetes API cannot run here, so this speaks the part of its HTTP API the harness uses,
as the API server does: discovery (``/version``, ``/api``, ``/apis`` and the resource lists),
server-side apply (``PATCH`` with ``application/apply-patch+yaml``), ``GET`` of one object by name
(as stored, status included), ``DELETE`` (404 for what
does not exist), pods by label selector, pod logs (``text/plain``), events, ConfigMaps (read and
strategic-merge patch), and exec over a websocket in the ``v4.channel.k8s.io`` protocol
(channel byte 1 stdout, 2 stderr, 3 the status object). It records every request (method,
path, query, content type, body) so a test asserts what the client really sent.

Exec runs what the test says (``exec_handler``), for instance the lookup pod's curl pointed at
the local fakes. Nothing here is a mock of the client: the client is the real one, over HTTP.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import socket
import struct
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
EXEC_PROTOCOL = "v4.channel.k8s.io"
SERVER_VERSION = "v1.37.0"

# name, kind, namespaced, verbs (enough for the dynamic client's discovery).
CORE_RESOURCES = [
    ("namespaces", "Namespace", False), ("pods", "Pod", True), ("services", "Service", True),
    ("configmaps", "ConfigMap", True), ("secrets", "Secret", True),
    ("serviceaccounts", "ServiceAccount", True), ("events", "Event", True),
    ("pods/log", "Pod", True), ("pods/exec", "PodExecOptions", True),
]
GROUPS = {
    "apps/v1": [("deployments", "Deployment", True)],
    "networking.k8s.io/v1": [("networkpolicies", "NetworkPolicy", True)],
    "networking.istio.io/v1": [("serviceentries", "ServiceEntry", True),
                               ("gateways", "Gateway", True),
                               ("virtualservices", "VirtualService", True),
                               ("destinationrules", "DestinationRule", True)],
    # Read back with their status (KubeClient.get): Gateway API objects and the CRDs.
    "gateway.networking.k8s.io/v1": [("gateways", "Gateway", True),
                                     ("httproutes", "HTTPRoute", True),
                                     ("tlsroutes", "TLSRoute", True)],
    "apiextensions.k8s.io/v1": [("customresourcedefinitions", "CustomResourceDefinition",
                                 False)],
}

ExecHandler = Callable[[str, str, str, list[str]], tuple[str, str, int]]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    content_type: str
    body: bytes
    headers: dict[str, str]

    def json(self) -> Any:
        return json.loads(self.body)

    def yaml(self) -> Any:
        return yaml.safe_load(self.body)


@dataclass
class Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    ip: str = "10.244.0.9"
    ready: bool = True
    phase: str = "Running"
    containers: tuple[str, ...] = ("curl",)
    init_containers: tuple[str, ...] = ()

    def to_api(self) -> dict[str, Any]:
        return {
            "metadata": {"name": self.name, "namespace": self.namespace, "labels": self.labels},
            "spec": {"containers": [{"name": c, "image": "x"} for c in self.containers],
                     "initContainers": [{"name": c, "image": "x"}
                                        for c in self.init_containers]},
            "status": {"phase": self.phase, "podIP": self.ip,
                       "conditions": [{"type": "Ready",
                                       "status": "True" if self.ready else "False"}]},
        }


@dataclass
class KubeStandIn:
    """The server's state and what it was sent. ``url`` once started."""

    url: str = ""
    requests: list[Request] = field(default_factory=list)
    pods: list[Pod] = field(default_factory=list)
    configmaps: dict[tuple[str, str], dict[str, str]] = field(default_factory=dict)
    # (namespace, name) of what exists, kept up to date by apply and delete.
    objects: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], str] = field(default_factory=dict)
    events: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    # (namespace, name) -> Deployment; a PATCH of its template starts a rollout that the
    # stand-in's "controller" moves one step on each read (see ``_rollout_step``).
    deployments: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    stuck_rollouts: set[tuple[str, str]] = field(default_factory=set)  # new pods never Ready
    exec_handler: ExecHandler | None = None
    # Called for each request after it is recorded (a test may change the state there).
    on_request: Callable[[Request], None] | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def sent(self, method: str | None = None, path: str | re.Pattern[str] | None = None
             ) -> list[Request]:
        """The recorded requests, without discovery, filtered by method and path."""
        found = [r for r in self.requests if not _is_discovery(r.path)]
        if method:
            found = [r for r in found if r.method == method]
        if isinstance(path, str):
            found = [r for r in found if r.path == path]
        elif path is not None:
            found = [r for r in found if path.fullmatch(r.path)]
        return found

    def kubeconfig(self, directory: Path) -> Path:
        return write_kubeconfig(directory, self.url)


def write_kubeconfig(directory: Path, server: str, token: str = "stand-in-token") -> Path:
    path = directory / "kubeconfig"
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
        "users": [{"name": "u", "user": {"token": token}}],
    }))
    return path


def _is_discovery(path: str) -> bool:
    path = path.rstrip("/")
    return path in ("/version", "/api", "/apis", "/api/v1") or \
        re.fullmatch(r"/apis/[^/]+/[^/]+", path) is not None


def _named_object(path: str) -> tuple[str, str, str] | None:
    """(kind, namespace or "", name) for ``/apis/<group>/<version>/[namespaces/<ns>/]<plural>/
    <name>`` of a group the stand-in serves."""
    m = re.fullmatch(r"/apis/([^/]+/[^/]+)/(?:namespaces/([^/]+)/)?([^/]+)/([^/]+)", path)
    if m is None or m.group(1) not in GROUPS:
        return None
    for plural, kind, namespaced in GROUPS[m.group(1)]:
        if plural == m.group(3) and namespaced == (m.group(2) is not None):
            return kind, m.group(2) or "", m.group(4)
    return None


def _resource_list(group_version: str, resources: list[tuple[str, str, bool]]) -> dict[str, Any]:
    verbs = ["create", "delete", "get", "list", "patch", "update", "watch"]
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": [{"name": n, "singularName": "", "namespaced": ns, "kind": k,
                           "verbs": verbs} for n, k, ns in resources]}


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {},
            "status": "Success" if code < 400 else "Failure", "message": message,
            "reason": reason, "code": code}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _record(self) -> Request:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parse_qs(parts.query),
                          self.headers.get("Content-Type") or "", body,
                          {k.lower(): v for k, v in self.headers.items()})
        state = self.server.state
        with state.lock:
            state.requests.append(request)
        if state.on_request is not None:
            state.on_request(request)
        return request

    def _send(self, code: int, payload: Any, content_type: str = "application/json") -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        request = self._record()
        if self.headers.get("Upgrade", "").lower() == "websocket":
            self._exec(request)
            return
        self._route(request)

    def do_PATCH(self) -> None:
        self._route(self._record())

    def do_DELETE(self) -> None:
        self._route(self._record())

    def do_POST(self) -> None:
        self._route(self._record())

    def _route(self, r: Request) -> None:
        state = self.server.state
        path = r.path.rstrip("/") or "/"  # the API server serves /version/ as /version
        if _is_discovery(path):
            self._discovery(path)
        elif m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods", path):
            self._list_pods(m.group(1), r)
        elif m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/log", path):
            key = (m.group(1), m.group(2), r.query.get("container", [""])[0])
            if key in state.logs:
                self._send(200, state.logs[key].encode(), "text/plain")
            else:
                self._send(404, _status(404, "NotFound", f"pods {m.group(2)!r} not found"))
        elif m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/events", path):
            self._send(200, {"kind": "EventList", "apiVersion": "v1", "metadata": {},
                             "items": state.events.get(m.group(1), [])})
        elif m := re.fullmatch(r"/api/v1/namespaces/([^/]+)/configmaps/([^/]+)", path):
            self._configmap(m.group(1), m.group(2), r)
        elif m := re.fullmatch(r"/apis/apps/v1/namespaces/([^/]+)/deployments/([^/]+)", path):
            self._deployment(m.group(1), m.group(2), r)
        elif r.method == "PATCH" and r.content_type == "application/apply-patch+yaml":
            self._apply(r)
        elif r.method == "GET" and (found := _named_object(path)) is not None:
            self._get_object(*found)
        elif r.method == "DELETE":
            self._delete(r)
        else:
            self._send(404, _status(404, "NotFound", f"{r.method} {path}: not in the stand-in"))

    def _discovery(self, path: str) -> None:
        if path == "/version":
            major, minor, _ = SERVER_VERSION.lstrip("v").split(".")
            self._send(200, {"major": major, "minor": minor, "gitVersion": SERVER_VERSION,
                             "gitCommit": "0" * 40, "gitTreeState": "clean",
                             "buildDate": "2026-11-01T00:00:00Z", "goVersion": "go1.25.3",
                             "compiler": "gc", "platform": "linux/amd64"})
        elif path == "/api":
            self._send(200, {"kind": "APIVersions", "versions": ["v1"],
                             "serverAddressByClientCIDRs": []})
        elif path == "/apis":
            groups = []
            for gv in GROUPS:
                name, version = gv.split("/")
                entry = {"groupVersion": gv, "version": version}
                groups.append({"name": name, "versions": [entry], "preferredVersion": entry})
            self._send(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        elif path == "/api/v1":
            self._send(200, _resource_list("v1", CORE_RESOURCES))
        elif (m := re.fullmatch(r"/apis/([^/]+/[^/]+)", path)) and m.group(1) in GROUPS:
            self._send(200, _resource_list(m.group(1), GROUPS[m.group(1)]))
        else:
            self._send(404, _status(404, "NotFound", f"{path}: no such group"))

    def _list_pods(self, namespace: str, r: Request) -> None:
        selector = r.query.get("labelSelector", [""])[0]
        wanted = dict(part.split("=", 1) for part in selector.split(",") if "=" in part)
        with self.server.state.lock:
            items = [p.to_api() for p in self.server.state.pods if p.namespace == namespace
                     and all(p.labels.get(k) == v for k, v in wanted.items())]
        self._send(200, {"kind": "PodList", "apiVersion": "v1", "metadata": {},
                         "items": items})

    def _configmap(self, namespace: str, name: str, r: Request) -> None:
        state = self.server.state
        with state.lock:
            data = state.configmaps.get((namespace, name))
            if data is None:
                self._send(404, _status(404, "NotFound", f'configmaps "{name}" not found'))
                return
            if r.method == "PATCH":
                if r.content_type != "application/strategic-merge-patch+json":
                    self._send(415, _status(415, "UnsupportedMediaType", r.content_type))
                    return
                data.update(r.json().get("data") or {})
        self._send(200, {"kind": "ConfigMap", "apiVersion": "v1",
                         "metadata": {"name": name, "namespace": namespace}, "data": data})

    def _deployment(self, namespace: str, name: str, r: Request) -> None:
        state = self.server.state
        with state.lock:
            dep = state.deployments.get((namespace, name))
            if dep is None:
                self._send(404, _status(404, "NotFound", f'deployments "{name}" not found'))
                return
            if r.method == "PATCH":
                if r.content_type != "application/strategic-merge-patch+json":
                    self._send(415, _status(415, "UnsupportedMediaType", r.content_type))
                    return
                template = r.json()["spec"]["template"]
                meta = dep["spec"]["template"].setdefault("metadata", {})
                meta.setdefault("annotations", {}).update(template["metadata"]["annotations"])
                dep["metadata"]["generation"] += 1
            elif (namespace, name) not in state.stuck_rollouts:
                _rollout_step(dep)
            body = json.loads(json.dumps(dep))
        self._send(200, body)

    def _apply(self, r: Request) -> None:
        if r.query.get("fieldManager") is None:
            self._send(422, _status(422, "Invalid", "fieldManager is required for apply"))
            return
        doc = r.yaml()
        meta = doc.get("metadata") or {}
        key = (str(doc.get("kind")), str(meta.get("namespace") or ""), str(meta.get("name")))
        with self.server.state.lock:
            created = key not in self.server.state.objects
            self.server.state.objects[key] = doc
            if doc.get("kind") == "Pod" and created:  # the scheduler and kubelet, at once
                names = tuple(c["name"] for c in doc["spec"]["containers"])
                labels = dict(meta.get("labels") or {})
                self.server.state.pods.append(Pod(key[2], key[1], labels, containers=names))
        self._send(201 if created else 200, doc)

    def _get_object(self, kind: str, namespace: str, name: str) -> None:
        """One object of a group's kind, as stored (a test writes its status there, as the
        controller would)."""
        with self.server.state.lock:
            body = self.server.state.objects.get((kind, namespace, name))
            payload = json.loads(json.dumps(body)) if body is not None else None
        if payload is None:
            self._send(404, _status(404, "NotFound", f'{kind} "{name}" not found'))
        else:
            self._send(200, payload)

    def _delete(self, r: Request) -> None:
        parts = r.path.strip("/").split("/")
        name = parts[-1]
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-2] else ""
        state = self.server.state
        with state.lock:
            found = [k for k in state.objects if k[2] == name and
                     (k[1] == namespace or (k[0] == "Namespace" and parts[-2] == "namespaces"))]
            for key in found:
                del state.objects[key]
                if key[0] == "Namespace":  # and everything in it
                    state.pods = [p for p in state.pods if p.namespace != name]
                    for inside in [k for k in state.objects if k[1] == name]:
                        del state.objects[inside]
        if found:
            self._send(200, _status(200, "", "deleted"))
        else:
            self._send(404, _status(404, "NotFound", f'"{name}" not found'))

    def _exec(self, r: Request) -> None:
        """The websocket upgrade, then stdout, stderr and the status on channels 1, 2, 3."""
        m = re.fullmatch(r"/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec", r.path)
        offered = [p.strip() for p in self.headers.get("Sec-WebSocket-Protocol", "").split(",")]
        handler = self.server.state.exec_handler
        if m is None or EXEC_PROTOCOL not in offered or handler is None:
            self._send(400, _status(400, "BadRequest", "not an exec the stand-in serves"))
            return
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", EXEC_PROTOCOL)
        self.end_headers()
        container = r.query.get("container", [""])[0]
        stdout, stderr, code = handler(m.group(1), m.group(2), container,
                                       r.query.get("command", []))
        if stdout:
            self.wfile.write(ws_frame(b"\x01" + stdout.encode()))
        if stderr:
            self.wfile.write(ws_frame(b"\x02" + stderr.encode()))
        status: dict[str, Any] = {"metadata": {}, "status": "Success"} if code == 0 else {
            "metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": f"command terminated with non-zero exit code: {code}",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]}}
        self.wfile.write(ws_frame(b"\x03" + json.dumps(status).encode()))
        self.wfile.write(ws_frame(struct.pack("!H", 1000), opcode=0x8))
        self.wfile.flush()
        self.close_connection = True


def deployment(namespace: str, name: str, replicas: int = 2) -> dict[str, Any]:
    """A Deployment whose rollout is complete."""
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"k8s-app": name}},
                     "template": {"metadata": {"labels": {"k8s-app": name}},
                                  "spec": {"containers": [{"name": name, "image": "x"}]}}},
            "status": {"observedGeneration": 1, "replicas": replicas,
                       "updatedReplicas": replicas, "readyReplicas": replicas,
                       "availableReplicas": replicas}}


def _rollout_step(dep: dict[str, Any]) -> None:
    """One step of the Deployment controller rolling a new template (maxSurge 25%, rounded up:
    one new pod at a time): observe the generation, then replace an old pod by a new Ready one
    per step until none is old."""
    status, want = dep["status"], dep["spec"]["replicas"]
    generation = dep["metadata"]["generation"]
    if status["observedGeneration"] < generation:
        status.update(observedGeneration=generation, updatedReplicas=0, replicas=want)
        return
    if status["updatedReplicas"] < want:
        status["updatedReplicas"] += 1
        status["replicas"] = want + 1 if status["updatedReplicas"] < want else want
        status["readyReplicas"] = status["availableReplicas"] = want
        return


def ws_frame(payload: bytes, opcode: int = 0x2) -> bytes:
    """One unmasked server frame (RFC 6455), FIN set."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 1 << 16:
        head += bytes([126]) + struct.pack("!H", n)
    else:
        head += bytes([127]) + struct.pack("!Q", n)
    return head + payload


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, state: KubeStandIn) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.state = state


@contextlib.contextmanager
def serving(state: KubeStandIn | None = None) -> Iterator[KubeStandIn]:
    """Serve ``state`` on a free loopback port until the block ends."""
    state = state or KubeStandIn()
    server = _Server(state)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """A server that accepts connections (the kernel completes the handshake) and never answers
    a byte: a wedged or suspended API server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


def commands(state: KubeStandIn) -> list[Sequence[str]]:
    """The argv of every exec the client sent, in order."""
    return [r.query.get("command", []) for r in state.requests
            if r.path.endswith("/exec")]
