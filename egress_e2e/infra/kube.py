"""The thin layer that talks to the Kubernetes API. It decides nothing: the runner, the
diagnostics and the fakes decide what to send; this module sends it.

``KubeApi`` is the Protocol the rest of the harness is written against; ``KubeClient`` is its
one real implementation (the ``kubernetes`` client). Offline tests check what the harness would
send by giving it a recording implementation of the same Protocol, and run ``KubeClient`` itself
against a stand-in API server on loopback (``tests/foundation/kube_standin.py``) to check the
requests it sends.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from egress_e2e.core.errors import ClusterError

FIELD_MANAGER = "egress-e2e"
Doc = Mapping[str, Any]
# (connect, read) seconds for every API request; a wait that retries adds its own budget.
REQUEST_TIMEOUT: tuple[float, float] = (5.0, 60.0)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ExecResult:
    stdout: str
    stderr: str
    exit_code: int


@dataclass(frozen=True)
class PodInfo:
    name: str
    namespace: str
    phase: str
    ready: bool
    # Native sidecars (Istio >= 1.27 on Kubernetes >= 1.33) are init containers: keep both.
    containers: tuple[str, ...]
    init_containers: tuple[str, ...]
    ip: str | None = None


@dataclass(frozen=True)
class DeploymentStatus:
    """What ``kubectl rollout status`` reads: the spec's generation and what the controller has
    done with it."""

    name: str
    generation: int
    observed_generation: int
    replicas: int             # wanted
    current: int              # pods that exist, old and new (status.replicas)
    updated: int
    ready: int
    available: int


class KubeApi(Protocol):
    def apply(self, docs: Sequence[Doc]) -> None: ...
    def delete(self, docs: Sequence[Doc]) -> None: ...
    def delete_namespace(self, name: str) -> None: ...
    def pods(self, namespace: str, selector: str) -> list[PodInfo]: ...
    def exec(self, namespace: str, pod: str, container: str, argv: Sequence[str],
             timeout: float) -> ExecResult: ...
    def logs(self, namespace: str, pod: str, container: str, *, since_seconds: int | None = None,
             previous: bool = False) -> str: ...
    def events(self, namespace: str) -> str: ...
    def configmap_data(self, namespace: str, name: str) -> dict[str, str]: ...
    def replace_configmap_data(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        ...
    def server_version(self) -> str: ...
    def restart_deployment(self, namespace: str, name: str, restarted_at: str) -> bool: ...
    def deployment_status(self, namespace: str, name: str) -> DeploymentStatus: ...
    def get(self, api_version: str, kind: str, namespace: str | None, name: str
            ) -> dict[str, Any] | None: ...


RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # the annotation `rollout restart` sets


def doc_ref(doc: Doc) -> str:
    """``Kind/namespace/name`` for messages."""
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{doc.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


class KubeClient:
    """``KubeApi`` over the official client, from a kubeconfig file (and optional context).

    Every request is bounded (``request_timeout``: connect, read, in seconds), so a dead or
    suspended API server ends in a ``ClusterError`` naming it, not a hang; and loopback is never
    sent through an ``HTTPS_PROXY`` (kubectl and the other Go tools bypass it by themselves).
    """

    def __init__(self, kubeconfig: Path, context: str | None = None, *,
                 request_timeout: tuple[float, float] = REQUEST_TIMEOUT) -> None:
        from kubernetes import client, config

        configuration = type.__call__(client.Configuration)  # not a copy of the global default
        try:
            config.load_kube_config(config_file=str(kubeconfig), context=context,
                                    client_configuration=configuration)
        except Exception as exc:  # the client raises ConfigException, TypeError, YAML errors
            raise ClusterError(f"bad kubeconfig {kubeconfig}: {_reason(exc)}") from exc
        self.host = str(configuration.host)
        configuration.no_proxy = no_proxy_for(self.host, configuration.no_proxy)
        # The waits retry a failed call; one more attempt inside the client is enough.
        configuration.retries = 1
        self._api_client = _bounded_client_class()(configuration, request_timeout)
        _bound_exec_websocket(sum(request_timeout))
        self._core = client.CoreV1Api(self._api_client)
        self._apps = client.AppsV1Api(self._api_client)
        self._version = client.VersionApi(self._api_client)
        self._dynamic_client: Any = None

    @property
    def _dynamic(self) -> Any:
        # Built on first use: the dynamic client discovers every API group when created.
        if self._dynamic_client is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic_client = self._guard("discover the API", lambda: DynamicClient(
                self._api_client))
        return self._dynamic_client

    def _resource(self, doc: Doc) -> Any:
        return self._dynamic.resources.get(api_version=doc["apiVersion"], kind=doc["kind"])

    def apply(self, docs: Sequence[Doc]) -> None:
        for doc in docs:
            meta = doc.get("metadata") or {}
            try:
                self._dynamic.server_side_apply(
                    self._resource(doc), body=dict(doc), name=meta.get("name"),
                    namespace=meta.get("namespace"), field_manager=FIELD_MANAGER,
                    force_conflicts=True,
                )
            except Exception as exc:
                raise ClusterError(f"apply {doc_ref(doc)} failed: {self._why(exc)}") from exc

    def delete(self, docs: Sequence[Doc]) -> None:
        for doc in docs:
            meta = doc.get("metadata") or {}
            try:
                self._resource(doc).delete(name=meta.get("name"), namespace=meta.get("namespace"))
            except Exception as exc:
                if _status(exc) != 404:
                    raise ClusterError(f"delete {doc_ref(doc)} failed: {self._why(exc)}") from exc

    def delete_namespace(self, name: str) -> None:
        try:
            self._core.delete_namespace(name)
        except Exception as exc:
            if _status(exc) != 404:
                raise ClusterError(f"delete namespace {name} failed: {self._why(exc)}") from exc

    def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        listing = self._guard(f"list pods {selector!r} in {namespace}",
                              lambda: self._core.list_namespaced_pod(namespace,
                                                                     label_selector=selector))
        return [_pod_info(item) for item in listing.items]

    def exec(self, namespace: str, pod: str, container: str, argv: Sequence[str],
             timeout: float) -> ExecResult:
        from kubernetes.stream import stream

        what = f"exec in {namespace}/{pod}/{container}"
        resp = self._guard(what, lambda: stream(
            self._core.connect_get_namespaced_pod_exec, pod, namespace, command=list(argv),
            container=container, stderr=True, stdin=False, stdout=True, tty=False,
            _preload_content=False,
        ))
        try:
            resp.run_forever(timeout=timeout)
            # timeout=0: what arrived; run_forever already waited (a bare read would block).
            out = str(resp.read_stdout(timeout=0) or "")
            err = str(resp.read_stderr(timeout=0) or "")
            code = None if resp.is_open() else _exit_code(resp)
        except Exception as exc:
            raise ClusterError(f"{what}: {self._why(exc)}") from exc
        finally:
            resp.close()
        if code is None:
            err += f"\n(exec gave no exit status within {timeout:g} s)"
        return ExecResult(out, err, code if code is not None else -1)

    def logs(self, namespace: str, pod: str, container: str, *, since_seconds: int | None = None,
             previous: bool = False) -> str:
        kwargs: dict[str, Any] = {"container": container, "previous": previous}
        if since_seconds is not None:
            kwargs["since_seconds"] = since_seconds
        try:
            return str(self._core.read_namespaced_pod_log(pod, namespace, **kwargs))
        except Exception as exc:
            if previous and _status(exc) == 400:  # no previous container: nothing to show
                return ""
            raise ClusterError(f"logs {namespace}/{pod}/{container}: {self._why(exc)}") from exc

    def events(self, namespace: str) -> str:
        listing = self._guard(f"list events in {namespace}",
                              lambda: self._core.list_namespaced_event(namespace))
        lines = [
            f"{e.last_timestamp or e.event_time} {e.type} {e.reason} "
            f"{e.involved_object.kind}/{e.involved_object.name}: {e.message}"
            for e in listing.items
        ]
        return "\n".join(lines)

    def configmap_data(self, namespace: str, name: str) -> dict[str, str]:
        cm = self._guard(f"read configmap {namespace}/{name}",
                         lambda: self._core.read_namespaced_config_map(name, namespace))
        return dict(cm.data or {})

    def replace_configmap_data(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        self._guard(f"patch configmap {namespace}/{name}",
                    lambda: self._core.patch_namespaced_config_map(name, namespace,
                                                                   {"data": dict(data)}))

    def server_version(self) -> str:
        info = self._guard("read the server version", self._version.get_code)
        return str(info.git_version)

    def restart_deployment(self, namespace: str, name: str, restarted_at: str) -> bool:
        """``kubectl rollout restart``: a new pod template annotation, so the controller rolls
        every pod. False when there is no such Deployment."""
        patch = {"spec": {"template": {"metadata": {"annotations": {
            RESTARTED_AT: restarted_at}}}}}
        try:
            self._apps.patch_namespaced_deployment(name, namespace, patch)
        except Exception as exc:
            if _status(exc) == 404:
                return False
            raise ClusterError(f"restart deployment {namespace}/{name}: {self._why(exc)}") \
                from exc
        return True

    def deployment_status(self, namespace: str, name: str) -> DeploymentStatus:
        dep = self._guard(f"read deployment {namespace}/{name}",
                          lambda: self._apps.read_namespaced_deployment(name, namespace))
        status = dep.status
        return DeploymentStatus(
            name=name, generation=int(dep.metadata.generation or 0),
            observed_generation=int(status.observed_generation or 0),
            replicas=int(dep.spec.replicas if dep.spec.replicas is not None else 1),
            current=int(status.replicas or 0), updated=int(status.updated_replicas or 0),
            ready=int(status.ready_replicas or 0), available=int(status.available_replicas or 0))

    def get(self, api_version: str, kind: str, namespace: str | None, name: str
            ) -> dict[str, Any] | None:
        """Any object as the API server returns it (status included), through the dynamic
        client; None when it does not exist. ``namespace`` None: a cluster-scoped kind."""
        where = f"{kind}/{namespace + '/' if namespace else ''}{name}"
        resource = self._guard(f"find the API for {api_version} {kind}", lambda: self._resource(
            {"apiVersion": api_version, "kind": kind}))
        try:
            found = resource.get(name=name, namespace=namespace)
        except Exception as exc:
            if _status(exc) == 404:
                return None
            _reraise_interrupt(exc)
            raise ClusterError(f"read {where}: {self._why(exc)}") from exc
        body = found.to_dict()
        return body if isinstance(body, dict) else None

    def _guard(self, what: str, call: Callable[[], Any]) -> Any:
        """Run one API call; any failure (HTTP error, connection reset, websocket) becomes a
        ClusterError, which the waits retry and the CLI prints in one line."""
        try:
            return call()
        except ClusterError:
            raise
        except Exception as exc:
            _reraise_interrupt(exc)
            raise ClusterError(f"{what}: {self._why(exc)}") from exc

    def _why(self, exc: Exception) -> str:
        """``cannot reach <server> (...)`` when the server did not answer (refused, timed out,
        reset: the request never got an HTTP status); otherwise the API's own reason."""
        if _unanswered(exc):
            # Without urllib3's and the stream's wrappers: "Read timed out. (read timeout=5)".
            why = re.sub(r"^(HTTPS?Connection(Pool)?\(host=[^)]*\): |\(0\)\s*Reason:\s*)", "",
                         _reason(_root_cause(exc)))
            return f"cannot reach {self.host} ({why})"
        return _reason(exc)


def no_proxy_for(server: str, no_proxy: str | None) -> str:
    """``no_proxy`` (from ``NO_PROXY`` or the kubeconfig) plus loopback, and the API server's
    own host when it is loopback, so an ``HTTPS_PROXY`` never sees a local cluster."""
    entries = [e.strip() for e in (no_proxy or "").split(",") if e.strip()]
    host = urlsplit(server).hostname or ""
    wanted = [*LOOPBACK, "127.0.0.0/8"]
    if _is_loopback(host):
        wanted.append(host)
    return ",".join(dict.fromkeys([*entries, *wanted]))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.cache
def _bounded_client_class() -> Any:
    from kubernetes import client

    class BoundedApiClient(client.ApiClient):
        """An ``ApiClient`` whose every request (typed, dynamic and discovery calls alike)
        has a timeout unless the call gives its own."""

        def __init__(self, configuration: Any, timeout: tuple[float, float]) -> None:
            super().__init__(configuration)
            self.request_timeout = timeout

        def call_api(self, method: str, url: str, header_params: Any = None, body: Any = None,
                     post_params: Any = None, _request_timeout: Any = None) -> Any:
            return super().call_api(method, url, header_params, body, post_params,
                                    _request_timeout=_request_timeout or self.request_timeout)

    return BoundedApiClient


def _bound_exec_websocket(timeout: float) -> None:
    """Give exec's websocket a connect and handshake timeout. The client opens it with none
    (``kubernetes.stream.ws_client.create_websocket`` builds a bare ``WebSocket`` and passes no
    ``timeout``), so a server that accepts and never answers would block exec forever. Its
    module's ``WebSocket`` becomes a subclass that passes one; exec is the harness's only
    websocket. Reads after the handshake wait in ``select`` first, so the socket timeout only
    bounds a frame that stops half-way."""
    from kubernetes.stream import ws_client

    module: Any = ws_client
    base = module.WebSocket
    if getattr(base, "egress_e2e_timeout", None) is not None:
        base.egress_e2e_timeout = timeout
        return

    class BoundedWebSocket(base):  # type: ignore[misc, valid-type]
        egress_e2e_timeout = timeout

        def connect(self, url: str, **options: Any) -> None:
            options.setdefault("timeout", type(self).egress_e2e_timeout)
            super().connect(url, **options)

    module.WebSocket = BoundedWebSocket


def _reraise_interrupt(exc: Exception) -> None:
    """The exec stream turns a Ctrl-C during its handshake into an ``ApiException`` (it catches
    ``KeyboardInterrupt`` too); a ClusterError there would be retried by the waits, and the user
    would have to press Ctrl-C again. Give the interrupt back instead."""
    if isinstance(exc.__context__, KeyboardInterrupt | SystemExit):
        raise exc.__context__


def _unanswered(exc: BaseException) -> bool:
    """The request got no HTTP answer: urllib3 gave up connecting or reading, or the exec's
    websocket failed before a status (the stream reports those as status 0)."""
    import urllib3

    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return True
    status = getattr(exc, "status", None)
    return status == 0


def _root_cause(exc: BaseException) -> Exception:
    """The innermost error urllib3 wrapped (``MaxRetryError`` carries it as ``reason``)."""
    seen: BaseException = exc
    for _ in range(5):
        inner = getattr(seen, "reason", None)
        if not isinstance(inner, BaseException):
            break
        seen = inner
    return seen if isinstance(seen, Exception) else Exception(str(seen))


def _exit_code(resp: Any) -> int | None:
    """The exit status from the exec's error channel; None when it sent none."""
    try:
        code = resp.returncode
    except (TypeError, ValueError, AttributeError):  # an empty or odd status message
        return None
    return int(code) if code is not None else None


def _pod_info(item: Any) -> PodInfo:
    conditions = item.status.conditions or []
    ready = any(c.type == "Ready" and c.status == "True" for c in conditions)
    return PodInfo(
        name=item.metadata.name,
        namespace=item.metadata.namespace,
        phase=item.status.phase or "Unknown",
        ready=ready,
        containers=tuple(c.name for c in item.spec.containers or []),
        init_containers=tuple(c.name for c in item.spec.init_containers or []),
        ip=item.status.pod_ip,
    )


def _status(exc: Exception) -> int | None:
    status = getattr(exc, "status", None)
    return status if isinstance(status, int) else None


def _reason(exc: Exception) -> str:
    """The error as one line (API bodies and YAML errors span several)."""
    body = getattr(exc, "body", None)
    text = str(body) if body else str(exc)
    return " ".join(text.split())[:500]
