"""Istio on the cluster: the ``istioctl install`` command, whether to run it at all, readiness
of istiod and the egress gateway, and ``istioctl analyze``.

Everything that decides is a pure function over argv lists or Kubernetes objects as the API
returns them (camelCase dicts); the classes at the bottom only run them.
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal

import yaml

from egress_e2e.core import proc
from egress_e2e.core.errors import ClusterError, CommandFailed, ConfigError
from egress_e2e.core.waits import until
from egress_e2e.infra import tools
from egress_e2e.infra.versions import IstioRelease, Versions

NAMESPACE = "istio-system"
ISTIOD = "istiod"
EGRESS_GATEWAY = "istio-egressgateway"
# The container Istio injects into every workload and gateway pod (an init container when it
# runs as a native sidecar, 1.27+ on Kubernetes >= 1.33; exec and logs by name still work).
PROXY_CONTAINER = "istio-proxy"
HUB = "docker.io/istio"
ANALYZE_FOUND_ISSUES = 79        # istioctl analyze's exit code when it reports findings
INSTALL_TIMEOUT = 900.0

AccessLogEncoding = Literal["TEXT", "JSON"]
Deployment = Mapping[str, Any]
FetchDeployment = Callable[[str, str], Deployment | None]
# The mesh config as istiod reads it (ConfigMap istio, key mesh), or None when there is none.
FetchMeshConfig = Callable[[], str | None]
MESH_CONFIGMAP = "istio"

_VERSION_IN_TAG = re.compile(r"(\d+\.\d+\.\d+(?:-(?:alpha|beta|rc)\.\d+)?)")


def install_settings(release: IstioRelease, encoding: AccessLogEncoding = "TEXT"
                     ) -> list[tuple[str, str]]:
    """The ``--set`` pairs, in order: seed 001's shape (minimal + one egress gateway)."""
    if encoding not in ("TEXT", "JSON"):
        raise ConfigError(f"access log encoding must be TEXT or JSON, got {encoding!r}")
    return [
        ("profile", "minimal"),
        # 1.30.x has registry.istio.io baked in as hub, which goes away after 2026-12-09.
        ("hub", HUB),
        ("tag", release.version),
        ("components.egressGateways[0].name", EGRESS_GATEWAY),
        ("components.egressGateways[0].enabled", "true"),
        ("meshConfig.outboundTrafficPolicy.mode", "REGISTRY_ONLY"),
        ("meshConfig.accessLogFile", "/dev/stdout"),
        ("meshConfig.accessLogEncoding", encoding),
    ]


def install_argv(istioctl: Path | str, release: IstioRelease, kubeconfig: Path,
                 encoding: AccessLogEncoding = "TEXT") -> list[str]:
    return settings_argv(istioctl, kubeconfig, install_settings(release, encoding))


def settings_argv(istioctl: Path | str, kubeconfig: Path,
                  settings: Sequence[tuple[str, str]]) -> list[str]:
    """``istioctl install`` with these ``--set`` pairs, in order, without asking."""
    argv = [str(istioctl), "install", "--kubeconfig", str(kubeconfig)]
    for key, value in settings:
        argv += ["--set", f"{key}={value}"]
    argv.append("-y")
    return argv


def analyze_argv(istioctl: Path | str, kubeconfig: Path) -> list[str]:
    return [str(istioctl), "analyze", "--all-namespaces", "--kubeconfig", str(kubeconfig)]


# ---- which Istio is there ----

def version_from_image(image: str) -> str | None:
    """``docker.io/istio/pilot:1.31.1`` (or ``...:1.31.1-distroless@sha256:...``) -> 1.31.1."""
    ref = image.split("@", 1)[0]
    _, sep, tag = ref.rpartition(":")
    if not sep or "/" in tag:
        return None
    match = _VERSION_IN_TAG.match(tag)
    return match.group(1) if match else None


def installed_version(istiod: Deployment | None) -> str | None:
    """The Istio version of an istiod Deployment, or None when there is none."""
    if istiod is None:
        return None
    containers = istiod.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
    for container in containers:
        if container.get("name") == "discovery":
            found = version_from_image(str(container.get("image", "")))
            if found:
                return found
    labels = istiod.get("metadata", {}).get("labels", {}) or {}
    for key in ("app.kubernetes.io/version", "operator.istio.io/version"):
        if labels.get(key):
            return str(labels[key])
    return None


class InstallAction(StrEnum):
    INSTALL = "install"
    SKIP = "skip"
    REPAIR = "repair"    # the wanted version, but incomplete: istioctl install converges it


def plan_install(wanted: IstioRelease, installed: str | None, where: str,
                 incomplete: Sequence[str] = ()) -> InstallAction:
    """Install when there is no Istio, skip when it is the wanted version and complete, repair
    (install again: istioctl install is idempotent) when it is incomplete, stop otherwise."""
    if installed is None:
        return InstallAction.INSTALL
    if installed == wanted.version:
        return InstallAction.REPAIR if incomplete else InstallAction.SKIP
    raise ClusterError(
        f"Istio {installed} is installed on {where}, but this run wants {wanted.version}; "
        f"run with --istio-version {installed}, or delete the cluster ('make clean') first"
    )


@dataclass(frozen=True)
class ExistingIstio:
    version: str
    release: IstioRelease | None     # None when versions.toml does not list that version
    message: str
    # The revision of a revisioned-only control plane (istiod-<rev>, no default istiod):
    # scenario namespaces are then labelled istio.io/rev=<rev>, not istio-injection=enabled.
    revision: str | None = None


def check_existing(found: str | None, requested: str | None, versions: Versions,
                   where: str) -> ExistingIstio:
    """What --existing-kubeconfig runs against: the version found, said plainly."""
    if found is None:
        raise ClusterError(
            f"no istiod Deployment in {NAMESPACE} on {where}; --existing-kubeconfig needs a "
            "cluster with Istio installed"
        )
    if requested:
        wanted = versions.istio(requested)
        if wanted.version != found:
            raise ClusterError(
                f"{where} runs Istio {found}, but --istio-version asks for {wanted.version}"
            )
    release = versions.releases.get(found)
    if release is None:
        known = ", ".join(versions.known_istio)
        message = (f"[istio] {where} runs Istio {found}, which versions.toml does not list "
                   f"(known: {known}); scenarios run as for the nearest known release")
    else:
        message = f"[istio] {where} runs Istio {found}"
    return ExistingIstio(found, release, message)


def detect_existing(kubeconfig: Path, requested: str | None, versions: Versions, *,
                    fetch: FetchDeployment | None = None,
                    list_istiods: ListIstiods | None = None) -> ExistingIstio:
    """For --existing-kubeconfig: read istiod's version on that cluster and say which it is.
    Without a default ``istiod``, a revisioned one (``istiod-<rev>``, as canary installs and
    upgrades leave) is used, named by its revision."""
    where = f"the cluster in {kubeconfig}"
    reader = fetch or kubectl_deployment_fetcher(kubeconfig)
    default = reader(NAMESPACE, ISTIOD)
    if default is not None:
        return check_existing(installed_version(default), requested, versions, where)
    lister = list_istiods or kubectl_istiod_lister(kubeconfig)
    chosen = choose_revision(lister(), requested, versions, where)
    found = check_existing(installed_version(chosen), requested, versions, where)
    revision = revision_of(chosen)
    return dataclasses.replace(found, revision=revision,
                               message=f"{found.message} (revision {revision}, "
                                       f"Deployment {_name(chosen)})")


# Every istiod, default or revisioned, carries app=istiod; a revisioned one istio.io/rev.
ISTIOD_SELECTOR = "app=istiod"
REVISION_LABEL = "istio.io/rev"
ListIstiods = Callable[[], list[Deployment]]


def list_istiods_argv(kubectl: Path | str, kubeconfig: Path) -> list[str]:
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "-n", NAMESPACE, "get",
            "deployments", "-l", ISTIOD_SELECTOR, "-o", "json"]


def kubectl_istiod_lister(kubeconfig: Path, run: proc.Runner = proc.run,
                          kubectl: Path | None = None) -> ListIstiods:
    binary = kubectl or tools.kubectl_path()

    def listing() -> list[Deployment]:
        done = run(list_istiods_argv(binary, kubeconfig), timeout=60.0)
        found = _kubectl_json(done.stdout, "List") or {}
        return [item for item in found.get("items", []) if isinstance(item, dict)]

    return listing


def revision_of(istiod: Deployment) -> str:
    labels = (istiod.get("metadata", {}) or {}).get("labels", {}) or {}
    name = _name(istiod)
    return str(labels.get(REVISION_LABEL) or name.removeprefix(f"{ISTIOD}-"))


def _name(deployment: Deployment) -> str:
    return str((deployment.get("metadata", {}) or {}).get("name", "?"))


def choose_revision(istiods: Sequence[Deployment], requested: str | None, versions: Versions,
                    where: str) -> Deployment:
    """The revisioned istiod to run against: the only one, or the one of the requested
    version; otherwise one line naming them all."""
    if not istiods:
        return {}  # check_existing then says there is no istiod
    if len(istiods) == 1:
        return istiods[0]
    named = ", ".join(f"{_name(d)} ({installed_version(d)})" for d in istiods)
    if requested:
        wanted = versions.istio(requested).version
        matching = [d for d in istiods if installed_version(d) == wanted]
        if len(matching) == 1:
            return matching[0]
    raise ClusterError(f"{where} has no default istiod but several revisions ({named}); pass "
                       "--istio-version to pick one, or set a default revision tag")


# ---- is the install what the scenarios rely on ----

def mesh_config_problems(mesh: str | None, *, encoding: AccessLogEncoding = "TEXT",
                         outbound_mode: bool = True, configmap: str = MESH_CONFIGMAP
                         ) -> list[str]:
    """What the harness's install sets and its evidence relies on, missing from ``mesh``: the
    proxies' access log on stdout (every LogLine reads it) in the encoding the parsers expect,
    and, for the harness's own install, REGISTRY_ONLY (scenarios also render their mode per
    namespace; ``outbound_mode=False`` skips it for a cluster that is not ours)."""
    if mesh is None:
        return [f"no ConfigMap {NAMESPACE}/{configmap} with a mesh config"]
    try:
        config = yaml.safe_load(mesh) or {}
    except yaml.YAMLError as exc:
        return [f"mesh config is not YAML: {str(exc).splitlines()[0]}"]
    if not isinstance(config, dict):
        return ["mesh config is not a mapping"]
    problems = []
    if config.get("accessLogFile") != "/dev/stdout":
        problems.append(f"accessLogFile is {config.get('accessLogFile')!r}, "
                        "not '/dev/stdout' (the scenarios read the proxies' access logs)")
    # Istio's default encoding is TEXT; an absent key means TEXT.
    if str(config.get("accessLogEncoding") or "TEXT") != encoding:
        problems.append(f"accessLogEncoding is {config.get('accessLogEncoding')!r}, "
                        f"not {encoding}")
    mode = (config.get("outboundTrafficPolicy") or {}).get("mode")
    if outbound_mode and mode != "REGISTRY_ONLY":
        problems.append(f"outboundTrafficPolicy.mode is {mode!r}, not 'REGISTRY_ONLY'")
    return problems


def install_problems(fetch: FetchDeployment, fetch_mesh: FetchMeshConfig, *,
                     encoding: AccessLogEncoding = "TEXT") -> list[str]:
    """Why an install of the right version is not the harness's install (after an interrupted
    `istioctl install`, or someone else's): the egress gateway, and the mesh config."""
    problems = [] if fetch(NAMESPACE, EGRESS_GATEWAY) is not None else [
        f"no {EGRESS_GATEWAY} Deployment in {NAMESPACE}"]
    return problems + mesh_config_problems(fetch_mesh(), encoding=encoding)


def parse_mesh_configmap(stdout: str) -> str | None:
    """kubectl's answer: the ``mesh`` key of ConfigMap istio, or None when there is none."""
    found = _kubectl_json(stdout, "ConfigMap")
    mesh = (found.get("data") or {}).get("mesh") if found is not None else None
    return str(mesh) if mesh is not None else None


def mesh_configmap(revision: str | None = None) -> str:
    """The ConfigMap istiod reads its mesh config from: ``istio``, or ``istio-<rev>`` for a
    revisioned control plane (Istio's charts name it so)."""
    return f"{MESH_CONFIGMAP}-{revision}" if revision else MESH_CONFIGMAP


def kubectl_mesh_config_fetcher(kubeconfig: Path, run: proc.Runner = proc.run,
                                kubectl: Path | None = None,
                                revision: str | None = None) -> FetchMeshConfig:
    binary = kubectl or tools.kubectl_path()

    def fetch() -> str | None:
        done = run(get_argv(binary, kubeconfig, NAMESPACE, "configmap",
                            mesh_configmap(revision)), timeout=60.0)
        return parse_mesh_configmap(done.stdout)

    return fetch


# ---- readiness ----

@dataclass(frozen=True)
class Readiness:
    ready: bool
    observation: str


def deployment_readiness(name: str, deploy: Deployment | None) -> Readiness:
    if deploy is None:
        return Readiness(False, f"{name}: not found")
    spec = deploy.get("spec", {}) or {}
    status = deploy.get("status", {}) or {}
    wanted = int(spec.get("replicas", 1) if spec.get("replicas") is not None else 1)
    ready = int(status.get("readyReplicas") or 0)
    updated = int(status.get("updatedReplicas") or 0)
    generation = int((deploy.get("metadata", {}) or {}).get("generation") or 0)
    observed = int(status.get("observedGeneration") or 0)
    text = f"{name}: {ready}/{wanted} ready, {updated} updated"
    if observed < generation:
        return Readiness(False, f"{text}, rollout not observed yet")
    return Readiness(ready >= wanted and updated >= wanted > 0, text)


def wait_for_deployments(fetch: FetchDeployment, names: Sequence[str], *, timeout: float,
                         namespace: str = NAMESPACE, interval: float = 1.0,
                         clock: Callable[[], float] = time.monotonic,
                         pause: Callable[[float], None] = time.sleep) -> float:
    """Poll until every Deployment is ready; return the seconds it took.

    Bounded by ``timeout``; on giving up, the error carries the last observation of each.
    """
    return wait_ready(lambda: [deployment_readiness(n, fetch(namespace, n)) for n in names],
                      what=f"Istio in {namespace} not ready", timeout=timeout,
                      interval=interval, clock=clock, pause=pause)


def wait_ready(states: Callable[[], Sequence[Readiness]], *, what: str, timeout: float,
               interval: float = 1.0, clock: Callable[[], float] = time.monotonic,
               pause: Callable[[float], None] = time.sleep) -> float:
    """Poll ``states`` until every one is ready; the seconds it took. Bounded by ``timeout``;
    on giving up the error carries the last observation of each."""
    start = clock()
    until(states, lambda seen: all(s.ready for s in seen), what=what, timeout=timeout,
          interval=interval,
          describe=lambda seen: "last seen: " + "; ".join(s.observation for s in seen),
          clock=clock, pause=pause)
    return clock() - start


# ---- istioctl analyze ----

@dataclass(frozen=True)
class AnalyzeResult:
    exit_code: int
    findings: tuple[str, ...]

    @property
    def clean(self) -> bool:
        return self.exit_code == 0 and not self.findings

    def summary(self) -> str:
        if self.clean:
            return "istioctl analyze: no issues"
        return f"istioctl analyze: {len(self.findings)} finding(s): " + " | ".join(self.findings)


_FINDING = re.compile(r"^(Error|Warning|Info)\s+\[IST\d+\]")


def interpret_analyze(done: proc.Completed) -> AnalyzeResult:
    """0: clean; 79: findings, returned for the report; anything else: analyze itself failed."""
    if done.returncode not in (0, ANALYZE_FOUND_ISSUES):
        raise CommandFailed(list(done.argv), done.returncode, done.stdout, done.stderr,
                            "istioctl analyze failed")
    lines = [line.strip() for line in (done.stdout + "\n" + done.stderr).splitlines()]
    findings = tuple(line for line in lines if _FINDING.match(line))
    return AnalyzeResult(done.returncode, findings)


# ---- the thin executor ----

@dataclass(frozen=True)
class IstioOutcome:
    version: str
    action: InstallAction
    ready_seconds: float
    analyze: AnalyzeResult
    repaired: tuple[str, ...] = ()   # what was incomplete when the action is REPAIR


class Istioctl:
    def __init__(self, istioctl: Path, run: proc.Runner = proc.run) -> None:
        self.istioctl = istioctl
        self._run = run

    def install(self, release: IstioRelease, kubeconfig: Path,
                encoding: AccessLogEncoding = "TEXT") -> None:
        self._run(install_argv(self.istioctl, release, kubeconfig, encoding),
                  timeout=INSTALL_TIMEOUT, note=f"installing Istio {release.version}")

    def analyze(self, kubeconfig: Path) -> AnalyzeResult:
        done = self._run(analyze_argv(self.istioctl, kubeconfig), timeout=300.0, check=False)
        return interpret_analyze(done)


def ensure_istio(istioctl: Istioctl, release: IstioRelease, kubeconfig: Path,
                 fetch: FetchDeployment, *, where: str, encoding: AccessLogEncoding = "TEXT",
                 ready_timeout: float = 300.0,
                 fetch_mesh: FetchMeshConfig | None = None) -> IstioOutcome:
    """Install (or find already installed, and complete) ``release``, wait for it, analyze."""
    installed = installed_version(fetch(NAMESPACE, ISTIOD))
    incomplete = (install_problems(fetch, fetch_mesh, encoding=encoding)
                  if installed == release.version and fetch_mesh is not None else [])
    action = plan_install(release, installed, where, incomplete)
    if action is not InstallAction.SKIP:
        istioctl.install(release, kubeconfig, encoding)
    seconds = wait_for_deployments(fetch, (ISTIOD, EGRESS_GATEWAY), timeout=ready_timeout)
    return IstioOutcome(release.version, action, seconds, istioctl.analyze(kubeconfig),
                        tuple(incomplete))


def get_argv(kubectl: Path | str, kubeconfig: Path, namespace: str, kind: str, name: str
             ) -> list[str]:
    """``kubectl get`` of one object as JSON; nothing at all when it does not exist."""
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "-n", namespace, "get", kind, name,
            "-o", "json", "--ignore-not-found"]


def get_deployment_argv(kubectl: Path | str, kubeconfig: Path, namespace: str, name: str
                        ) -> list[str]:
    return get_argv(kubectl, kubeconfig, namespace, "deployment", name)


def parse_deployment(stdout: str) -> Deployment | None:
    """kubectl's answer: a Deployment as JSON, or nothing when --ignore-not-found hit."""
    return _kubectl_json(stdout, "Deployment")


def _kubectl_json(stdout: str, kind: str) -> dict[str, Any] | None:
    """One object of ``kind`` as kubectl printed it, or None for the empty answer of
    ``--ignore-not-found``."""
    if not stdout.strip():
        return None
    try:
        found = json.loads(stdout)
    except json.JSONDecodeError as exc:
        raise ClusterError(f"kubectl printed no JSON for a {kind}: {stdout[:200]!r}") from exc
    if not isinstance(found, dict) or found.get("kind") != kind:
        raise ClusterError(f"expected a {kind} from kubectl, got {str(found)[:200]!r}")
    return found


def kubectl_deployment_fetcher(kubeconfig: Path, run: proc.Runner = proc.run,
                               kubectl: Path | None = None) -> FetchDeployment:
    # kube.py is the one module that talks to the API through the Python client; readiness is
    # two reads, so kubectl keeps this module free of it.
    binary = kubectl or tools.kubectl_path()

    def fetch(namespace: str, name: str) -> Deployment | None:
        done = run(get_deployment_argv(binary, kubeconfig, namespace, name), timeout=60.0)
        return parse_deployment(done.stdout)

    return fetch
