"""Istio's ambient data plane on the cluster: the ``istioctl install`` of the ambient profile,
readiness of istiod and of the node agents (the ztunnel and istio-cni DaemonSets), and the
``istioctl waypoint apply`` that makes a namespace's egress waypoint.

Like ``infra/istio.py`` (the sidecar install it mirrors), every decision is a pure function over
argv lists or Kubernetes objects as the API returns them (camelCase dicts); ``ensure_ambient``
only runs them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from egress_e2e.core import proc
from egress_e2e.core.errors import ConfigError
from egress_e2e.core.waits import until
from egress_e2e.infra import istio, tools
from egress_e2e.infra.istio import (
    HUB,
    INSTALL_TIMEOUT,
    ISTIOD,
    NAMESPACE,
    AccessLogEncoding,
    Readiness,
    deployment_readiness,
)
from egress_e2e.infra.versions import IstioRelease

# The node agents the ambient profile adds (manifests/profiles/ambient.yaml enables cni and
# ztunnel): DaemonSet names from manifests/charts/ztunnel/templates/daemonset.yaml
# ("ztunnel") and manifests/charts/istio-cni/templates/daemonset.yaml ("<name>-node").
ZTUNNEL: Final = "ztunnel"
ISTIO_CNI: Final = "istio-cni-node"
DAEMONSETS: Final = (ZTUNNEL, ISTIO_CNI)
# `istioctl waypoint` names the waypoint "waypoint" unless told (--name default:
# constants.DefaultNamespaceWaypoint, istioctl/pkg/waypoint/waypoint.go).
WAYPOINT_NAME: Final = "waypoint"
# What --for accepts (validTrafficTypes there); egress through a ServiceEntry is "service".
WAYPOINT_FOR: Final = ("service", "workload", "all", "none")
# The label the gateway controller puts on a Gateway API gateway's pods, waypoints included
# (manifests/charts/istio-control/istio-discovery/files/waypoint.yaml).
GATEWAY_NAME_LABEL: Final = "gateway.networking.k8s.io/gateway-name"
# Namespace labels: ambient capture (istio.io/dataplane-mode), and the waypoint a namespace's
# services use, which --enroll-namespace sets (label.IoIstioUseWaypoint, waypoint.go).
DATAPLANE_MODE_LABEL: Final = "istio.io/dataplane-mode"
USE_WAYPOINT_LABEL: Final = "istio.io/use-waypoint"

DaemonSet = Mapping[str, Any]
FetchObject = Callable[[str, str], Mapping[str, Any] | None]


def install_settings(release: IstioRelease, encoding: AccessLogEncoding = "TEXT"
                     ) -> list[tuple[str, str]]:
    """The ``--set`` pairs, in order: the ambient profile, pinned, with proxies' access logs on.

    kind needs no platform values: Istio ships overrides only for the platforms listed as
    manifests/helm-profiles/platform-*.yaml (gke, k3d, k3s, microk8s, minikube, openshift).
    ztunnel writes its own access log at info level whatever the mesh config says (target
    "access", ztunnel src/proxy/metrics.rs); accessLogFile is for the waypoints' Envoy.
    """
    if encoding not in ("TEXT", "JSON"):
        raise ConfigError(f"access log encoding must be TEXT or JSON, got {encoding!r}")
    return [
        ("profile", "ambient"),
        ("hub", HUB),
        ("tag", release.version),
        # Kept equal to the sidecar install so the two meshes differ only in the data plane.
        # Nothing in ambient reads it: the waypoint's listeners have no outbound-mode branch
        # (pilot/pkg/networking/core/listener_waypoint.go) and ztunnel has no outbound policy.
        ("meshConfig.outboundTrafficPolicy.mode", "REGISTRY_ONLY"),
        ("meshConfig.accessLogFile", "/dev/stdout"),
        ("meshConfig.accessLogEncoding", encoding),
    ]


def install_argv(istioctl: Path | str, release: IstioRelease, kubeconfig: Path,
                 encoding: AccessLogEncoding = "TEXT") -> list[str]:
    return istio.settings_argv(istioctl, kubeconfig, install_settings(release, encoding))


def waypoint_apply_argv(istioctl: Path | str, kubeconfig: Path, namespace: str, *,
                        name: str = WAYPOINT_NAME, traffic_for: str = "service",
                        enroll_namespace: bool = True, wait: bool = True,
                        wait_timeout: float | None = None,
                        revision: str | None = None) -> list[str]:
    """``istioctl waypoint apply`` as istio.io's ambient egress page runs it: a waypoint for
    services in ``namespace``, the namespace labelled to use it (``--enroll-namespace``), and
    (``--wait``) istioctl waiting until the Gateway is programmed. Flags as release-1.30 and
    release-1.31 define them (istioctl/pkg/waypoint/waypoint.go). ``--wait`` gives up after
    ``--waypoint-timeout`` (90 s unless told, waitTimeout there), so a caller with a longer
    bound passes ``wait_timeout``."""
    if traffic_for not in WAYPOINT_FOR:
        raise ConfigError(f"waypoint --for must be one of {', '.join(WAYPOINT_FOR)}, "
                          f"got {traffic_for!r}")
    if not namespace:
        raise ConfigError("waypoint apply needs a namespace")
    argv = [str(istioctl), "waypoint", "apply", "--kubeconfig", str(kubeconfig),
            "-n", namespace, "--for", traffic_for]
    if name != WAYPOINT_NAME:
        argv += ["--name", name]
    if enroll_namespace:
        argv.append("--enroll-namespace")
    if revision:
        argv += ["--revision", revision]
    if wait:
        argv.append("--wait")
        if wait_timeout is not None:
            if wait_timeout <= 0:
                raise ConfigError(f"waypoint wait timeout must be positive, got {wait_timeout}")
            argv += ["--waypoint-timeout", f"{wait_timeout:g}s"]
    return argv


def waypoint_pod_selector(name: str = WAYPOINT_NAME) -> str:
    """The label selector of a waypoint's pods (what the observer reads logs from)."""
    return f"{GATEWAY_NAME_LABEL}={name}"


# ---- readiness ----

def daemonset_readiness(name: str, ds: DaemonSet | None) -> Readiness:
    """Ready when the controller has seen the latest spec and every node that should run the
    agent runs an updated, ready pod. A DaemonSet scheduled nowhere (0 desired) is not ready:
    the agents would be missing on every node."""
    if ds is None:
        return Readiness(False, f"{name}: not found")
    status = ds.get("status", {}) or {}
    desired = int(status.get("desiredNumberScheduled") or 0)
    ready = int(status.get("numberReady") or 0)
    updated = int(status.get("updatedNumberScheduled") or 0)
    generation = int((ds.get("metadata", {}) or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    text = f"{name}: {ready}/{desired} ready, {updated} updated"
    if observed < generation:
        return Readiness(False, f"{text}, rollout not observed yet")
    return Readiness(desired > 0 and ready >= desired and updated >= desired, text)


def gateway_readiness(name: str, gateway: Mapping[str, Any] | None) -> Readiness:
    """A Gateway API Gateway (a waypoint) is usable once its Programmed condition is True for
    the current generation (the gateway controller has a Deployment and Service for it)."""
    if gateway is None:
        return Readiness(False, f"{name}: not found")
    generation = int((gateway.get("metadata", {}) or {}).get("generation") or 0)
    for condition in (gateway.get("status", {}) or {}).get("conditions", []) or []:
        if condition.get("type") != "Programmed":
            continue
        said = f"{name}: Programmed={condition.get('status')} ({condition.get('reason', '-')})"
        stale = int(condition.get("observedGeneration") or 0) < generation
        if stale:
            return Readiness(False, f"{said}, for an older generation")
        return Readiness(condition.get("status") == "True", said)
    return Readiness(False, f"{name}: no Programmed condition yet")


def wait_for_ambient(fetch_deployment: istio.FetchDeployment, fetch_daemonset: FetchObject,
                     *, timeout: float, namespace: str = NAMESPACE,
                     daemonsets: Sequence[str] = DAEMONSETS, interval: float = 1.0,
                     clock: Callable[[], float] = time.monotonic,
                     pause: Callable[[float], None] = time.sleep) -> float:
    """Poll istiod and the node agents until all are ready; return the seconds it took.

    Each poll reads the objects again (kubectl get -o json); bounded by ``timeout``; on giving
    up the error carries the last observation of each.
    """
    def states() -> list[Readiness]:
        seen = [deployment_readiness(ISTIOD, fetch_deployment(namespace, ISTIOD))]
        seen += [daemonset_readiness(n, fetch_daemonset(namespace, n)) for n in daemonsets]
        return seen

    return istio.wait_ready(states, what=f"Istio ambient in {namespace} not ready",
                            timeout=timeout, interval=interval, clock=clock, pause=pause)


def get_daemonset_argv(kubectl: Path | str, kubeconfig: Path, namespace: str, name: str
                       ) -> list[str]:
    return istio.get_argv(kubectl, kubeconfig, namespace, "daemonset", name)


def get_gateway_argv(kubectl: Path | str, kubeconfig: Path, namespace: str, name: str
                     ) -> list[str]:
    # Fully qualified: "gateway" alone may mean Istio's networking.istio.io Gateway.
    return istio.get_argv(kubectl, kubeconfig, namespace, "gateways.gateway.networking.k8s.io",
                          name)


def parse_daemonset(stdout: str) -> dict[str, Any] | None:
    return istio._kubectl_json(stdout, "DaemonSet")


def parse_gateway(stdout: str) -> dict[str, Any] | None:
    return istio._kubectl_json(stdout, "Gateway")


def kubectl_fetcher(kubeconfig: Path, kind: str, run: proc.Runner = proc.run,
                    kubectl: Path | None = None) -> FetchObject:
    """fetch(namespace, name) for "daemonset" or "gateway" (Gateway API) objects."""
    argv_of, parse = {"daemonset": (get_daemonset_argv, parse_daemonset),
                      "gateway": (get_gateway_argv, parse_gateway)}.get(kind, (None, None))
    if argv_of is None or parse is None:
        raise ConfigError(f"kubectl_fetcher: kind must be daemonset or gateway, got {kind!r}")
    binary = kubectl or tools.kubectl_path()

    def fetch(namespace: str, name: str) -> Mapping[str, Any] | None:
        return parse(run(argv_of(binary, kubeconfig, namespace, name), timeout=60.0).stdout)

    return fetch


# ---- running it ----

@dataclass(frozen=True)
class AmbientOutcome:
    version: str
    action: istio.InstallAction
    ready_seconds: float
    analyze: istio.AnalyzeResult


def ensure_ambient(istioctl: Path, release: IstioRelease, kubeconfig: Path,
                   fetch_deployment: istio.FetchDeployment, fetch_daemonset: FetchObject, *,
                   where: str, encoding: AccessLogEncoding = "TEXT",
                   ready_timeout: float = 300.0, run: proc.Runner = proc.run,
                   fetch_mesh: istio.FetchMeshConfig | None = None) -> AmbientOutcome:
    """Install the ambient profile of ``release`` unless it is there (a sidecar install of the
    same version is completed: istioctl install converges), wait for it, analyze. A reused
    install of the right version whose mesh config the evidence cannot use (no access log, the
    wrong encoding) is installed again too, as the sidecar install is (istio.install_problems)."""
    installed = istio.installed_version(fetch_deployment(NAMESPACE, ISTIOD))
    missing = [f"no {n} DaemonSet in {NAMESPACE}" for n in DAEMONSETS
               if fetch_daemonset(NAMESPACE, n) is None] if installed == release.version else []
    if installed == release.version and fetch_mesh is not None:
        # Ambient keeps the mode for parity only (no sidecar reads it): the log is what counts.
        missing += istio.mesh_config_problems(fetch_mesh(), encoding=encoding,
                                              outbound_mode=False)
    action = istio.plan_install(release, installed, where, missing)
    if action is not istio.InstallAction.SKIP:
        run(install_argv(istioctl, release, kubeconfig, encoding), timeout=INSTALL_TIMEOUT,
            note=f"installing Istio {release.version} (ambient)")
    seconds = wait_for_ambient(fetch_deployment, fetch_daemonset, timeout=ready_timeout)
    analyzed = istio.Istioctl(istioctl, run=run).analyze(kubeconfig)
    return AmbientOutcome(release.version, action, seconds, analyzed)


def apply_waypoint(istioctl: Path, kubeconfig: Path, namespace: str, fetch_gateway: FetchObject,
                   *, timeout: float, run: proc.Runner = proc.run, name: str = WAYPOINT_NAME,
                   interval: float = 1.0) -> Readiness:
    """``istioctl waypoint apply`` for ``namespace``, then poll the Gateway until Programmed
    (bounded; the last observation on timeout). istioctl's own --wait is kept as the first
    gate, bounded like the poll (its default would stop at 90 s); the poll is what the harness
    reports."""
    run(waypoint_apply_argv(istioctl, kubeconfig, namespace, name=name, wait_timeout=timeout),
        timeout=timeout + 30.0, note=f"waypoint {name} in {namespace}")
    return until(lambda: gateway_readiness(name, fetch_gateway(namespace, name)),
                 lambda seen: seen.ready, what=f"waypoint {namespace}/{name} not programmed",
                 timeout=timeout, interval=interval, describe=lambda seen: seen.observation)
