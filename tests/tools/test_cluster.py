"""kind: the commands for each pinned version, the create-or-reuse decision, and the rule that
only clusters we created are ever deleted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from egress_e2e.core import paths, proc
from egress_e2e.core.errors import ClusterError, CommandFailed, ConfigError, WaitTimeout
from egress_e2e.infra import cluster
from egress_e2e.infra.versions import Versions


class RecordingKind:
    """Stands in for `proc.run` where kind cannot run (no Docker here): records each argv and
    answers `kind get clusters` from a set; `create` writes the kubeconfig kind would write."""

    def __init__(self, existing: set[str], *, ready: bool = True,
                 stopped: tuple[str, ...] = ()) -> None:
        self.existing = set(existing)
        self.calls: list[list[str]] = []
        self.ready = ready            # what `kubectl get nodes` says of the node
        self.stopped = list(stopped)  # node containers `docker ps` lists as exited

    @property
    def kind_calls(self) -> list[list[str]]:
        return [c for c in self.calls if c[0].endswith("kind")]

    def __call__(self, argv: list[str], **kwargs: Any) -> proc.Completed:
        self.calls.append(list(argv))
        verb = argv[1:3]
        out = ""
        if argv[:2] == ["docker", "ps"]:
            out = "".join(f"{name} exited\n" for name in self.stopped)
        elif argv[:2] == ["docker", "start"]:
            self.stopped = []
        elif "nodes" in argv and "get" in argv:
            status = "True" if self.ready and not self.stopped else "False"
            out = json.dumps({"items": [{"metadata": {"name": "c-control-plane"}, "status": {
                "conditions": [{"type": "Ready", "status": status,
                                "reason": "KubeletReady" if status == "True"
                                else "KubeletNotReady"}]}}]})
        elif verb == ["get", "clusters"]:
            out = "\n".join(sorted(self.existing)) + "\n"
        elif verb == ["create", "cluster"]:
            name = argv[argv.index("--name") + 1]
            Path(argv[argv.index("--kubeconfig") + 1]).write_text("apiVersion: v1\n")
            self.existing.add(name)
        elif verb == ["delete", "cluster"]:
            self.existing.discard(argv[argv.index("--name") + 1])
        elif verb == ["get", "kubeconfig"]:
            out = "apiVersion: v1\nkind: Config\n"
        return proc.Completed(tuple(argv), 0, out, "")


def test_default_config_is_one_node_kind_cluster() -> None:
    config = yaml.safe_load(cluster.DEFAULT_CONFIG.read_text())
    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["nodes"] == [{"role": "control-plane"}]
    readme = (cluster.CLUSTERS_DIR / "README.md").read_text()
    assert "fs.inotify.max_user_watches" in readme and "fs.inotify.max_user_instances" in readme


def test_create_argv_for_each_pinned_release(repo_versions: Versions, tmp_path) -> None:
    for release in repo_versions.releases.values():
        name = cluster.default_cluster_name(release)
        assert name == "egress-e2e-" + release.minor.replace(".", "-")
        image = repo_versions.node_image_for(release)
        kubeconfig = tmp_path / f"kubeconfig-{name}"
        argv = cluster.create_argv("kind", name, image=image, config=cluster.DEFAULT_CONFIG,
                                   kubeconfig=kubeconfig)
        assert argv == ["kind", "create", "cluster", "--name", name, "--image", image,
                        "--config", str(cluster.DEFAULT_CONFIG), "--kubeconfig",
                        str(kubeconfig), "--wait", "120s"]
        assert "@sha256:" in image and f"v{release.kubernetes}." in image


def test_other_kind_and_docker_argv(tmp_path) -> None:
    assert cluster.get_clusters_argv("/k") == ["/k", "get", "clusters"]
    assert cluster.delete_argv("/k", "c") == ["/k", "delete", "cluster", "--name", "c"]
    archive = tmp_path / cluster.archive_name("docker.io/istio/pilot:1.31.1")
    assert archive.name == "docker.io_istio_pilot_1.31.1.tar"
    assert cluster.docker_save_argv("docker.io/istio/pilot:1.31.1", "arm64", archive) == [
        "docker", "save", "--platform", "linux/arm64", "-o", str(archive),
        "docker.io/istio/pilot:1.31.1"]
    assert cluster.load_image_archive_argv("/k", "c", archive) == [
        "/k", "load", "image-archive", str(archive), "--name", "c"]


def test_cluster_list_parsing() -> None:
    assert cluster.parse_cluster_list("a\negress-e2e-1-31\n\n") == {"a", "egress-e2e-1-31"}
    assert cluster.parse_cluster_list("No kind clusters found.\n") == set()


@pytest.mark.parametrize("bad", ["Egress", "-x", "a" * 60, "a_b", ""])
def test_bad_cluster_names(bad: str) -> None:
    with pytest.raises(ConfigError, match="cluster name"):
        cluster.check_name(bad)


@pytest.mark.parametrize(("existing", "ours", "reuse", "action", "mine"), [
    (set(), set(), False, cluster.Action.CREATE, True),
    (set(), {"c"}, True, cluster.Action.CREATE, True),
    ({"c"}, {"c"}, True, cluster.Action.REUSE, True),
    ({"c"}, set(), True, cluster.Action.REUSE, False),
    ({"c"}, {"c"}, False, cluster.Action.RECREATE, True),
])
def test_plan_cluster(existing, ours, reuse, action, mine) -> None:
    plan = cluster.plan_cluster("c", existing, ours, reuse)
    assert (plan.action, plan.ours) == (action, mine)


def test_a_foreign_cluster_is_never_recreated() -> None:
    with pytest.raises(ClusterError, match="egress-e2e did not create it; pass --reuse-cluster"):
        cluster.plan_cluster("c", {"c"}, set(), reuse=False)


def test_teardown_only_deletes_ours_and_respects_keep() -> None:
    assert cluster.should_delete_after_run("c", {"c"}, keep=False)
    assert not cluster.should_delete_after_run("c", {"c"}, keep=True)
    assert not cluster.should_delete_after_run("c", set(), keep=False)


def test_create_records_state_and_delete_forgets(tmp_path, repo_versions) -> None:
    state = cluster.ClusterState(tmp_path / "state")
    kind = RecordingKind(existing={"someone-elses"})
    clusters = cluster.KindClusters(Path("/bin/kind"), state, run=kind)
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)

    ready = clusters.ensure(name, release, repo_versions.node_image_for(release), reuse=True)

    assert ready.created and ready.ours
    assert ready.kubeconfig == state.kubeconfig_path(name)
    assert ready.kubeconfig.stat().st_mode & 0o777 == 0o600
    record = state.records()[name]
    assert record.istio_version == release.version
    assert record.node_image == repo_versions.node_image_for(release)
    assert kind.kind_calls[-1][:3] == ["/bin/kind", "create", "cluster"]

    clusters.delete(name)
    assert name not in state.ours() and not ready.kubeconfig.exists()
    assert kind.calls[-1] == ["/bin/kind", "delete", "cluster", "--name", name]


def test_never_delete_a_cluster_we_did_not_create(tmp_path) -> None:
    state = cluster.ClusterState(tmp_path / "state")
    kind = RecordingKind(existing={"egress-e2e-1-31"})
    clusters = cluster.KindClusters(Path("kind"), state, run=kind)
    with pytest.raises(ClusterError, match="refusing to delete kind cluster egress-e2e-1-31"):
        clusters.delete("egress-e2e-1-31")
    assert not any(call[1] == "delete" for call in kind.calls)


def test_reusing_a_foreign_cluster_keeps_it_foreign(tmp_path, repo_versions) -> None:
    state = cluster.ClusterState(tmp_path / "state")
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)
    kind = RecordingKind(existing={name})
    clusters = cluster.KindClusters(Path("kind"), state, run=kind)

    ready = clusters.ensure(name, release, repo_versions.node_image_for(release), reuse=True)

    assert not ready.created and not ready.ours
    assert state.ours() == set()
    assert ready.kubeconfig.read_text().startswith("apiVersion: v1")
    assert ready.kubeconfig.stat().st_mode & 0o777 == 0o600
    assert [c[1:3] for c in kind.kind_calls] == [["get", "clusters"], ["get", "kubeconfig"]]


def test_leftover_cluster_of_ours_is_recreated_without_reuse(tmp_path, repo_versions) -> None:
    state = cluster.ClusterState(tmp_path / "state")
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)
    image = repo_versions.node_image_for(release)
    kind = RecordingKind(existing=set())
    clusters = cluster.KindClusters(Path("kind"), state, run=kind)
    clusters.ensure(name, release, image, reuse=False)
    kind.calls.clear()

    clusters.ensure(name, release, image, reuse=False)

    assert [c[1:3] for c in kind.kind_calls] == [
        ["get", "clusters"], ["delete", "cluster"], ["create", "cluster"]]
    assert name in state.ours()


def test_state_file_survives_corruption_loudly(tmp_path) -> None:
    state = cluster.ClusterState(tmp_path)
    state.path.write_text("{not json")
    with pytest.raises(ClusterError, match=r"clusters\.json: not valid JSON"):
        state.ours()


def test_state_dir_from_env(tmp_path) -> None:
    assert paths.state_dir({"EGRESS_E2E_STATE_DIR": str(tmp_path)}) == tmp_path
    assert paths.state_dir({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "egress-e2e"


def test_a_create_that_fails_deletes_the_half_made_cluster(tmp_path, repo_versions) -> None:
    """kind can die half way (timeout, Ctrl-C); the next --reuse-cluster run must not find a
    broken cluster recorded as ours."""
    state = cluster.ClusterState(tmp_path / "state")
    kind = RecordingKind(existing=set())

    def failing(argv: list[str], **kwargs: Any) -> proc.Completed:
        if argv[1:3] == ["create", "cluster"]:
            kind.calls.append(list(argv))
            kind.existing.add(argv[argv.index("--name") + 1])
            raise CommandFailed(list(argv), 1, "", "ERROR: failed to init node")
        return kind(argv, **kwargs)

    clusters = cluster.KindClusters(Path("/bin/kind"), state, run=failing)
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)
    with pytest.raises(CommandFailed, match="failed to init node"):
        clusters.ensure(name, release, repo_versions.node_image_for(release), reuse=True)
    assert kind.calls[-1] == ["/bin/kind", "delete", "cluster", "--name", name]
    assert name not in state.ours() and name not in kind.existing


def _cluster(tmp_path: Path, kind: RecordingKind, **kwargs: Any) -> cluster.KindClusters:
    return cluster.KindClusters(Path("/bin/kind"), cluster.ClusterState(tmp_path / "state"),
                                run=kind, kubectl=Path("/venv/kubectl"), **kwargs)


def test_a_reused_cluster_after_a_reboot_gets_its_nodes_started(tmp_path, repo_versions) -> None:
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)
    kind = RecordingKind(existing={name}, stopped=(f"{name}-control-plane",))
    ready = _cluster(tmp_path, kind).ensure(name, release, repo_versions.node_image_for(release),
                                            reuse=True, interval=0.01)
    assert not ready.created
    assert ["docker", "start", f"{name}-control-plane"] in kind.calls
    assert kind.calls.index(["docker", "start", f"{name}-control-plane"]) < next(
        i for i, c in enumerate(kind.calls) if "nodes" in c)
    assert kind.calls[0][:2] == ["/bin/kind", "get"] and ["docker", "ps", "--all", "--filter",
                                f"label=io.x-k8s.kind.cluster={name}", "--format",
                                "{{.Names}} {{.State}}"] in kind.calls


def test_an_unhealthy_reused_cluster_of_ours_is_rebuilt(tmp_path, repo_versions) -> None:
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)
    image = repo_versions.node_image_for(release)
    kind = RecordingKind(existing=set())
    clusters = _cluster(tmp_path, kind)
    clusters.ensure(name, release, image, reuse=True, interval=0.01)
    kind.ready = False
    kind.calls.clear()

    def heal_on_create(argv: list[str], **kwargs: Any) -> proc.Completed:
        if argv[1:3] == ["create", "cluster"]:
            kind.ready = True
        return kind(argv, **kwargs)

    clusters._run = heal_on_create
    ready = clusters.ensure(name, release, image, reuse=True, timeout=0.05, interval=0.01)
    assert ready.created
    assert [c[1:3] for c in kind.kind_calls] == [
        ["get", "clusters"], ["get", "kubeconfig"], ["delete", "cluster"], ["create", "cluster"]]


def test_an_unhealthy_foreign_cluster_is_one_line_and_kept(tmp_path, repo_versions) -> None:
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)
    kind = RecordingKind(existing={name}, ready=False)
    with pytest.raises(ClusterError) as caught:
        _cluster(tmp_path, kind).ensure(name, release, repo_versions.node_image_for(release),
                                        reuse=True, timeout=0.05, interval=0.01)
    message = str(caught.value)
    assert "\n" not in message and "not healthy" in message and "KubeletNotReady" in message
    assert not [c for c in kind.kind_calls if c[1] in ("delete", "create")]


def test_a_create_whose_node_never_gets_ready_keeps_kinds_logs(tmp_path, repo_versions) -> None:
    """kind's --wait running out still exits 0: the node is read, and the logs exported into
    the artifacts before the half-made cluster goes."""
    release = repo_versions.istio()
    name = cluster.default_cluster_name(release)
    kind = RecordingKind(existing=set(), ready=False)
    logs = tmp_path / "artifacts" / "logs"
    with pytest.raises(WaitTimeout, match=r"nodes not Ready.*KubeletNotReady"):
        _cluster(tmp_path, kind, logs_dir=logs).ensure(
            name, release, repo_versions.node_image_for(release), reuse=False, timeout=0.05,
            interval=0.01)
    verbs = [c[1:3] for c in kind.kind_calls]
    assert verbs[-3:] == [["create", "cluster"], ["export", "logs"], ["delete", "cluster"]]
    export = kind.kind_calls[-2]
    assert export == ["/bin/kind", "export", "logs", str(logs / f"kind-{name}"), "--name", name]


@pytest.mark.parametrize(("listing", "problems"), [
    ('{"items": []}', ["no nodes"]),
    ("error: the server doesn't have a resource type", ["kubectl printed no node list: "
                                                        "\"error: the server doesn't have a "
                                                        "resource type\""]),
    ('{"items": [{"metadata": {"name": "n"}, "status": {"conditions": []}}]}',
     ["n: no Ready condition"]),
])
def test_nodes_not_ready_says_why(listing: str, problems: list[str]) -> None:
    assert cluster.nodes_not_ready(listing) == problems
