"""The ambient install, tested as the sidecar install is (tests/tools/test_istio.py): the exact
istioctl argv per pinned release, readiness decided on DaemonSet and Gateway objects as the API
returns them, bounded polls that give up with the last observation, and the waypoint argv."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import ClusterError, ConfigError, WaitTimeout
from egress_e2e.infra import ambient, istio, versions

from ..foundation.clock import FakeClock


@pytest.fixture
def repo_versions() -> versions.Versions:
    return versions.load(versions.DEFAULT_PATH)


def _sets(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, part in enumerate(argv) if part == "--set"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_install_argv_for_each_pinned_release(repo_versions, tmp_path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    for release in repo_versions.releases.values():
        argv = ambient.install_argv("/bin/istioctl", release, kubeconfig)
        assert argv == [
            "/bin/istioctl", "install", "--kubeconfig", str(kubeconfig),
            "--set", "profile=ambient",
            "--set", "hub=docker.io/istio",
            "--set", f"tag={release.version}",
            "--set", "meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY",
            "--set", "meshConfig.accessLogFile=/dev/stdout",
            "--set", "meshConfig.accessLogEncoding=TEXT",
            "-y",
        ]
        # No egress gateway component: the waypoint is the egress gateway.
        assert not any(key.startswith("components.") for key in _sets(argv))


def test_ambient_install_differs_from_the_sidecar_one_only_where_it_must(repo_versions,
                                                                        tmp_path) -> None:
    release = repo_versions.istio()
    sidecar = _sets(istio.install_argv("istioctl", release, tmp_path / "k"))
    amb = _sets(ambient.install_argv("istioctl", release, tmp_path / "k", encoding="JSON"))
    assert amb.pop("profile") == "ambient" and sidecar.pop("profile") == "minimal"
    assert amb.pop("meshConfig.accessLogEncoding") == "JSON"
    sidecar.pop("meshConfig.accessLogEncoding")
    assert {k: v for k, v in sidecar.items() if not k.startswith("components.")} == amb
    with pytest.raises(ConfigError, match="TEXT or JSON"):
        ambient.install_argv("istioctl", release, tmp_path / "k", encoding="YAML")  # type: ignore[arg-type]


def test_waypoint_apply_argv(tmp_path) -> None:
    k = tmp_path / "k"
    assert ambient.waypoint_apply_argv("istioctl", k, "istio-egress") == [
        "istioctl", "waypoint", "apply", "--kubeconfig", str(k), "-n", "istio-egress",
        "--for", "service", "--enroll-namespace", "--wait"]
    assert ambient.waypoint_apply_argv("istioctl", k, "ns", name="egress", wait=False,
                                       enroll_namespace=False, revision="1-31") == [
        "istioctl", "waypoint", "apply", "--kubeconfig", str(k), "-n", "ns",
        "--for", "service", "--name", "egress", "--revision", "1-31"]
    # A longer bound than istioctl's own 90 s default reaches istioctl's --wait.
    assert ambient.waypoint_apply_argv("istioctl", k, "ns", wait_timeout=240)[-3:] == [
        "--wait", "--waypoint-timeout", "240s"]
    assert "--waypoint-timeout" not in ambient.waypoint_apply_argv(
        "istioctl", k, "ns", wait=False, wait_timeout=240)
    with pytest.raises(ConfigError, match="wait timeout must be positive"):
        ambient.waypoint_apply_argv("istioctl", k, "ns", wait_timeout=0)
    with pytest.raises(ConfigError, match="--for must be one of"):
        ambient.waypoint_apply_argv("istioctl", k, "ns", traffic_for="egress")
    with pytest.raises(ConfigError, match="needs a namespace"):
        ambient.waypoint_apply_argv("istioctl", k, "")
    assert ambient.waypoint_pod_selector() == "gateway.networking.k8s.io/gateway-name=waypoint"


def _daemonset(name: str = "ztunnel", *, desired: int = 1, ready: int = 1, updated: int = 1,
               generation: int = 1, observed: int = 1) -> dict[str, Any]:
    """A DaemonSet as `kubectl get daemonset -o json` prints it (fields trimmed)."""
    return {
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"name": name, "namespace": "istio-system", "generation": generation},
        "spec": {"selector": {"matchLabels": {"app": name}}},
        "status": {"currentNumberScheduled": desired, "desiredNumberScheduled": desired,
                   "numberAvailable": ready, "numberMisscheduled": 0, "numberReady": ready,
                   "observedGeneration": observed, "updatedNumberScheduled": updated},
    }


@pytest.mark.parametrize(("ds", "ready", "said"), [
    (None, False, "ztunnel: not found"),
    (_daemonset(), True, "ztunnel: 1/1 ready, 1 updated"),
    (_daemonset(desired=3, ready=2, updated=3), False, "2/3 ready"),
    # Old pods still ready while the new spec rolls out.
    (_daemonset(desired=2, ready=2, updated=1), False, "2/2 ready, 1 updated"),
    (_daemonset(generation=2, observed=1), False, "rollout not observed yet"),
    # Scheduled on no node: no agent anywhere, never ready.
    (_daemonset(desired=0, ready=0, updated=0), False, "0/0 ready"),
    # Right after creation the controller has written no status yet.
    ({"kind": "DaemonSet", "metadata": {"name": "ztunnel", "generation": 1}}, False,
     "rollout not observed yet"),
])
def test_daemonset_readiness(ds, ready, said) -> None:
    state = ambient.daemonset_readiness("ztunnel", ds)
    assert state.ready is ready and said in state.observation


def _istiod(ready: int = 1) -> dict[str, Any]:
    return {"kind": "Deployment", "metadata": {"name": "istiod", "generation": 1},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "readyReplicas": ready, "updatedReplicas": 1}}


def test_wait_polls_istiod_and_both_agents_until_ready() -> None:
    clock = FakeClock()
    asked: list[tuple[str, str]] = []

    def fetch_daemonset(namespace: str, name: str) -> dict[str, Any] | None:
        asked.append((namespace, name))
        if name == "istio-cni-node" and clock.now < 2:
            return _daemonset(name, ready=0)    # the CNI agent comes up last
        return _daemonset(name)

    took = ambient.wait_for_ambient(lambda ns, name: _istiod(), fetch_daemonset, timeout=30,
                                    clock=clock, pause=clock.pause)
    assert took == 2.0 and clock.pauses == [1.0, 1.0]
    assert set(asked) == {("istio-system", "ztunnel"), ("istio-system", "istio-cni-node")}


def test_wait_gives_up_at_the_bound_with_the_last_observation() -> None:
    clock = FakeClock()

    def fetch_daemonset(namespace: str, name: str) -> dict[str, Any] | None:
        return None if name == "ztunnel" else _daemonset(name, desired=2, ready=1)

    with pytest.raises(WaitTimeout) as caught:
        ambient.wait_for_ambient(lambda ns, name: _istiod(ready=0), fetch_daemonset, timeout=4,
                                 clock=clock, pause=clock.pause)
    assert clock.now == 4.0
    assert str(caught.value) == (
        "Istio ambient in istio-system not ready within 4 s; last seen: istiod: 0/1 ready, "
        "1 updated; ztunnel: not found; istio-cni-node: 1/2 ready, 1 updated")


def _gateway(status: str | None = "True", *, generation: int = 1, observed: int = 1,
             reason: str = "Programmed") -> dict[str, Any]:
    """A waypoint Gateway as the API returns it once istiod's controller has seen it."""
    gw: dict[str, Any] = {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": "waypoint", "namespace": "istio-egress", "generation": generation,
                     "labels": {"istio.io/waypoint-for": "service"}},
        "spec": {"gatewayClassName": "istio-waypoint",
                 "listeners": [{"name": "mesh", "port": 15008, "protocol": "HBONE"}]},
        "status": {"conditions": [
            {"type": "Accepted", "status": "True", "reason": "Accepted",
             "observedGeneration": observed}]},
    }
    if status is not None:
        gw["status"]["conditions"].append({"type": "Programmed", "status": status,
                                           "reason": reason, "observedGeneration": observed})
    return gw


@pytest.mark.parametrize(("gw", "ready", "said"), [
    (None, False, "waypoint: not found"),
    (_gateway(), True, "Programmed=True (Programmed)"),
    (_gateway("False", reason="Invalid"), False, "Programmed=False (Invalid)"),
    (_gateway(None), False, "no Programmed condition yet"),
    (_gateway(generation=2, observed=1), False, "for an older generation"),
])
def test_gateway_readiness(gw, ready, said) -> None:
    state = ambient.gateway_readiness("waypoint", gw)
    assert state.ready is ready and said in state.observation


def test_kubectl_json_is_read_per_kind(tmp_path) -> None:
    assert ambient.parse_daemonset("") is None
    assert ambient.parse_daemonset(json.dumps(_daemonset()))["metadata"]["name"] == "ztunnel"
    with pytest.raises(ClusterError, match="expected a DaemonSet"):
        ambient.parse_daemonset(json.dumps(_istiod()))
    assert ambient.parse_gateway(json.dumps(_gateway()))["spec"]["gatewayClassName"] == \
        "istio-waypoint"
    assert ambient.get_daemonset_argv("kubectl", Path("/k"), "istio-system", "ztunnel") == [
        "kubectl", "--kubeconfig", "/k", "-n", "istio-system", "get", "daemonset", "ztunnel",
        "-o", "json", "--ignore-not-found"]
    assert ambient.get_gateway_argv("kubectl", Path("/k"), "ns", "waypoint")[6] == \
        "gateways.gateway.networking.k8s.io"
    with pytest.raises(ConfigError, match="daemonset or gateway"):
        ambient.kubectl_fetcher(tmp_path / "k", "pod", kubectl=Path("kubectl"))


def _recorder(calls: list[list[str]], answers: dict[str, str] | None = None):
    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        calls.append(list(argv))
        for word, out in (answers or {}).items():
            if word in argv:
                return proc.Completed(tuple(argv), 0, out, "")
        return proc.Completed(tuple(argv), 0, "✔ No validation issues found.\n", "")
    return run


def test_ensure_ambient_installs_when_nothing_is_there(repo_versions, tmp_path) -> None:
    release = repo_versions.istio()
    calls: list[list[str]] = []
    installed = {"done": False}

    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        if argv[1] == "install":
            installed["done"] = True
        return _recorder(calls)(argv, **kwargs)

    def fetch_deployment(ns: str, name: str) -> dict[str, Any] | None:
        if not installed["done"]:
            return None
        found = _istiod()
        found["spec"]["template"] = {"spec": {"containers": [
            {"name": "discovery", "image": f"docker.io/istio/pilot:{release.version}"}]}}
        return found

    outcome = ambient.ensure_ambient(
        Path("istioctl"), release, tmp_path / "k", fetch_deployment,
        lambda ns, name: _daemonset(name) if installed["done"] else None, where="kind-x",
        run=run)
    assert outcome.action is istio.InstallAction.INSTALL and outcome.analyze.clean
    assert [c[1] for c in calls] == ["install", "analyze"]
    assert calls[0] == ambient.install_argv(Path("istioctl"), release, tmp_path / "k")


def test_ensure_ambient_completes_a_sidecar_install_of_the_same_version(repo_versions,
                                                                       tmp_path) -> None:
    """istiod of the wanted version but no ztunnel (a sidecar install): istioctl install
    again, with the ambient profile, converges it."""
    release = repo_versions.istio()
    calls: list[list[str]] = []
    istiod = _istiod()
    istiod["spec"]["template"] = {"spec": {"containers": [
        {"name": "discovery", "image": f"docker.io/istio/pilot:{release.version}"}]}}
    state = {"agents": False}

    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        if argv[1] == "install":
            state["agents"] = True
        return _recorder(calls)(argv, **kwargs)

    outcome = ambient.ensure_ambient(
        Path("istioctl"), release, tmp_path / "k", lambda ns, name: istiod,
        lambda ns, name: _daemonset(name) if state["agents"] else None, where="kind-x",
        run=run)
    assert outcome.action is istio.InstallAction.REPAIR
    assert [c[1] for c in calls] == ["install", "analyze"]


def test_a_reused_ambient_install_without_the_access_log_is_installed_again(
        repo_versions, tmp_path) -> None:
    """The right version with every agent, but a mesh config the evidence cannot read (no
    access log): install again, as the sidecar install does; with the log, nothing runs."""
    release = repo_versions.istio()
    istiod = _istiod()
    istiod["spec"]["template"] = {"spec": {"containers": [
        {"name": "discovery", "image": f"docker.io/istio/pilot:{release.version}"}]}}
    for mesh, wanted in (("defaultConfig: {}\n", ["install", "analyze"]),
                         ("accessLogFile: /dev/stdout\naccessLogEncoding: TEXT\n",
                          ["analyze"])):
        calls: list[list[str]] = []
        outcome = ambient.ensure_ambient(
            Path("istioctl"), release, tmp_path / "k", lambda ns, name: istiod,
            lambda ns, name: _daemonset(name), where="kind-x", run=_recorder(calls),
            fetch_mesh=lambda text=mesh: text)
        assert [c[1] for c in calls] == wanted, mesh
        expected = (istio.InstallAction.REPAIR if "install" in wanted
                    else istio.InstallAction.SKIP)
        assert outcome.action is expected


def test_apply_waypoint_runs_istioctl_then_polls_the_gateway(tmp_path) -> None:
    calls: list[list[str]] = []
    seen = iter([None, _gateway(None), _gateway()])
    limits: list[float] = []

    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        limits.append(kwargs["timeout"])
        return _recorder(calls)(argv, **kwargs)

    state = ambient.apply_waypoint(Path("istioctl"), tmp_path / "k", "istio-egress",
                                   lambda ns, name: next(seen), timeout=10, interval=0.0,
                                   run=run)
    assert state.ready and calls == [[
        "istioctl", "waypoint", "apply", "--kubeconfig", str(tmp_path / "k"), "-n",
        "istio-egress", "--for", "service", "--enroll-namespace", "--wait",
        "--waypoint-timeout", "10s"]]
    # The process limit outlasts istioctl's own wait, so istioctl's message is the one seen.
    assert limits[0] > 10
