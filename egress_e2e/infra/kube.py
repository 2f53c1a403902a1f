"""The thin layer that talks to the Kubernetes API. It decides nothing: the runner, the
diagnostics and the fakes decide what to send; this module sends it.

``KubeApi`` is the Protocol the rest of the harness is written against; ``KubeClient`` is its
one real implementation (the ``kubernetes`` client). Offline tests check what the harness would
send by giving it a recording implementation of the same Protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from egress_e2e.core.errors import ClusterError

FIELD_MANAGER = "egress-e2e"
Doc = Mapping[str, Any]


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


def doc_ref(doc: Doc) -> str:
    """``Kind/namespace/name`` for messages."""
    meta = doc.get("metadata") or {}
    ns = meta.get("namespace")
    return f"{doc.get('kind')}/{ns + '/' if ns else ''}{meta.get('name')}"


class KubeClient:
    """``KubeApi`` over the official client, from a kubeconfig file (and optional context)."""

    def __init__(self, kubeconfig: Path, context: str | None = None) -> None:
        from kubernetes import client, config

        try:
            self._api_client = config.new_client_from_config(config_file=str(kubeconfig),
                                                             context=context)
        except Exception as exc:  # the client raises ConfigException, TypeError, YAML errors
            raise ClusterError(f"bad kubeconfig {kubeconfig}: {_reason(exc)}") from exc
        self._core = client.CoreV1Api(self._api_client)
        self._version = client.VersionApi(self._api_client)
        self._dynamic_client: Any = None

    @property
    def _dynamic(self) -> Any:
        # Built on first use: the dynamic client discovers every API group when created.
        if self._dynamic_client is None:
            from kubernetes.dynamic import DynamicClient

            self._dynamic_client = _guard("discover the API", lambda: DynamicClient(
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
                raise ClusterError(f"apply {doc_ref(doc)} failed: {_reason(exc)}") from exc

    def delete(self, docs: Sequence[Doc]) -> None:
        for doc in docs:
            meta = doc.get("metadata") or {}
            try:
                self._resource(doc).delete(name=meta.get("name"), namespace=meta.get("namespace"))
            except Exception as exc:
                if _status(exc) != 404:
                    raise ClusterError(f"delete {doc_ref(doc)} failed: {_reason(exc)}") from exc

    def delete_namespace(self, name: str) -> None:
        try:
            self._core.delete_namespace(name)
        except Exception as exc:
            if _status(exc) != 404:
                raise ClusterError(f"delete namespace {name} failed: {_reason(exc)}") from exc

    def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        listing = _guard(f"list pods {selector!r} in {namespace}",
                         lambda: self._core.list_namespaced_pod(namespace,
                                                                label_selector=selector))
        return [_pod_info(item) for item in listing.items]

    def exec(self, namespace: str, pod: str, container: str, argv: Sequence[str],
             timeout: float) -> ExecResult:
        from kubernetes.stream import stream

        what = f"exec in {namespace}/{pod}/{container}"
        resp = _guard(what, lambda: stream(
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
            raise ClusterError(f"{what}: {_reason(exc)}") from exc
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
            raise ClusterError(f"logs {namespace}/{pod}/{container}: {_reason(exc)}") from exc

    def events(self, namespace: str) -> str:
        listing = _guard(f"list events in {namespace}",
                         lambda: self._core.list_namespaced_event(namespace))
        lines = [
            f"{e.last_timestamp or e.event_time} {e.type} {e.reason} "
            f"{e.involved_object.kind}/{e.involved_object.name}: {e.message}"
            for e in listing.items
        ]
        return "\n".join(lines)

    def configmap_data(self, namespace: str, name: str) -> dict[str, str]:
        cm = _guard(f"read configmap {namespace}/{name}",
                    lambda: self._core.read_namespaced_config_map(name, namespace))
        return dict(cm.data or {})

    def replace_configmap_data(self, namespace: str, name: str, data: Mapping[str, str]) -> None:
        _guard(f"patch configmap {namespace}/{name}",
               lambda: self._core.patch_namespaced_config_map(name, namespace,
                                                              {"data": dict(data)}))

    def server_version(self) -> str:
        info = _guard("read the server version", self._version.get_code)
        return str(info.git_version)


def _guard(what: str, call: Callable[[], Any]) -> Any:
    """Run one API call; any failure (HTTP error, connection reset, websocket) becomes a
    ClusterError, which the waits retry and the CLI prints in one line."""
    try:
        return call()
    except ClusterError:
        raise
    except Exception as exc:
        raise ClusterError(f"{what}: {_reason(exc)}") from exc


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
