"""Upgrade runs offline: which pairs Istio supports, the exact istioctl and kubectl argv of both
methods, the order of the moves, and the nightly's upgrade jobs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egress_e2e.cli import main
from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import cluster, istio, upgrade, versions

KUBECONFIG = Path("/run/kc")


@pytest.fixture(scope="module")
def repo_versions() -> versions.Versions:
    return versions.load(versions.DEFAULT_PATH)


def test_a_supported_pair_is_planned(repo_versions: versions.Versions) -> None:
    plan = upgrade.plan_upgrade(repo_versions, "1.30.5", "1.31.1", "revision")
    assert (plan.source.version, plan.target.version) == ("1.30.5", "1.31.1")
    assert plan.revision == "1-31-1"
    assert upgrade.plan_upgrade(repo_versions, "1.30", None, "in-place").revision is None
    # A minor names its newest pinned patch; no target means the default release.
    assert upgrade.plan_upgrade(repo_versions, "1.30", None, "in-place").label == (
        "1.30.5 -> 1.31.1 (in-place)")
    assert upgrade.plan_upgrade(repo_versions, "1.31.0", "1.31.1", "in-place").source.upgrade_only


@pytest.mark.parametrize(("source", "target", "method", "message"), [
    ("1.31.1", "1.31.1", "in-place", r"is the target release itself"),
    ("1.31.1", "1.30.5", "in-place", r"upgrade from 1.31.1 to 1.30.5 is a downgrade"),
    ("1.31.1", "1.31.0", "revision", r"is a downgrade"),
    ("1.29.9", "1.31.1", "in-place", r"^--upgrade-from: unknown Istio version '1.29.9'"),
    ("1.30.5", "1.31.1", "helm", r"unknown upgrade method 'helm'; use in-place or revision"),
])
def test_unsupported_pairs_are_one_line(repo_versions: versions.Versions, source: str,
                                        target: str, method: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        upgrade.plan_upgrade(repo_versions, source, target, method)
    assert "\n" not in str(caught.value)


def test_two_minors_apart_is_refused(repo_versions: versions.Versions, tmp_path: Path) -> None:
    text = versions.DEFAULT_PATH.read_text().replace(
        '[istio.releases."1.30.4"]', '[istio.releases."1.29.4"]').replace(
        '[istio.releases."1.30.4".sha256]', '[istio.releases."1.29.4".sha256]')
    edited = tmp_path / "versions.toml"
    edited.write_text(text)
    with pytest.raises(ConfigError, match=r"1.29.4 to 1.31.1 skips a minor"):
        upgrade.plan_upgrade(versions.load(edited), "1.29.4", "1.31.1", "in-place")


def test_in_place_is_the_targets_upgrade_with_the_fresh_install_settings(
        repo_versions: versions.Versions) -> None:
    target = repo_versions.istio("1.31.1")
    fresh = istio.install_argv("istioctl-1.31.1", target, KUBECONFIG)
    argv = upgrade.in_place_argv("istioctl-1.31.1", target, KUBECONFIG)
    assert argv[:2] == ["istioctl-1.31.1", "upgrade"]
    assert argv[2:] == fresh[2:]
    assert "--set" in argv and "tag=1.31.1" in argv and argv[-1] == "-y"


def test_revision_install_names_the_revision_and_keeps_the_settings(
        repo_versions: versions.Versions) -> None:
    target = repo_versions.istio("1.31.1")
    argv = upgrade.revision_install_argv("istioctl", target, KUBECONFIG)
    assert argv[:4] == ["istioctl", "install", "--revision", "1-31-1"]
    assert argv[4:] == istio.install_argv("istioctl", target, KUBECONFIG)[2:]


def test_revision_moves_in_order(repo_versions: versions.Versions) -> None:
    plan = upgrade.plan_upgrade(repo_versions, "1.30.5", "1.31.1", "revision")
    control = upgrade.control_plane_actions(plan, "istioctl", KUBECONFIG)
    assert [a.argv[1:4] for a in control] == [("install", "--revision", "1-31-1")]
    moves = upgrade.injection_moves(plan, "istioctl", "kubectl", KUBECONFIG, ["ns-a", "ns-b"])
    assert [a.argv for a in moves] == [
        ("istioctl", "tag", "set", "default", "--revision", "1-31-1", "--overwrite",
         "--kubeconfig", "/run/kc"),
        ("kubectl", "--kubeconfig", "/run/kc", "label", "namespace", "ns-a",
         "istio-injection-", "istio.io/rev=1-31-1", "--overwrite"),
        ("kubectl", "--kubeconfig", "/run/kc", "label", "namespace", "ns-b",
         "istio-injection-", "istio.io/rev=1-31-1", "--overwrite"),
    ]
    assert [a.argv for a in upgrade.retire_old(plan, "istioctl", KUBECONFIG)] == [
        ("istioctl", "uninstall", "--revision", "default", "--kubeconfig", "/run/kc", "-y")]


def test_in_place_moves_nothing_but_the_control_plane(repo_versions: versions.Versions) -> None:
    plan = upgrade.plan_upgrade(repo_versions, "1.31.0", "1.31.1", "in-place")
    assert [a.argv[1] for a in upgrade.control_plane_actions(plan, "istioctl", KUBECONFIG)] == [
        "upgrade"]
    assert upgrade.injection_moves(plan, "istioctl", "kubectl", KUBECONFIG, ["ns-a"]) == []
    assert upgrade.retire_old(plan, "istioctl", KUBECONFIG) == []


def test_gateway_revision_patch_is_a_merge_patch_of_the_pod_template_label() -> None:
    argv = upgrade.gateway_revision_patch_argv("kubectl", KUBECONFIG, "egress", "gw", "1-31-1")
    assert argv[:8] == ["kubectl", "--kubeconfig", "/run/kc", "-n", "egress", "patch",
                        "deployment", "gw"]
    assert argv[8:10] == ["--type", "merge"]
    assert json.loads(argv[-1]) == {
        "spec": {"template": {"metadata": {"labels": {"istio.io/rev": "1-31-1"}}}}}


def test_phases_are_ordered_and_explained() -> None:
    assert [p.value for p in upgrade.PHASES] == ["before", "skew", "after"]
    assert set(upgrade.PHASE_MEANS) == set(upgrade.PHASES)


def test_pairs_cover_minor_and_patch_upgrades_into_each_newest_patch() -> None:
    pinned = ["1.31.1", "1.29.7", "1.30.4", "1.31.0", "1.30.5"]
    assert upgrade.upgrade_pairs(pinned) == [
        ("1.29.7", "1.30.5"), ("1.30.4", "1.30.5"),
        ("1.30.5", "1.31.1"), ("1.31.0", "1.31.1"),
    ]
    assert upgrade.upgrade_pairs(["1.31.1"]) == []


def test_upgrade_clusters_are_never_a_normal_runs(repo_versions: versions.Versions) -> None:
    plan = upgrade.plan_upgrade(repo_versions, "1.30.5", "1.31.1", "in-place")
    names = {plan.cluster_name(),
             upgrade.plan_upgrade(repo_versions, "1.30.5", "1.31.1", "revision").cluster_name()}
    normal = {cluster.default_cluster_name(r) for r in repo_versions.releases.values()}
    assert len(names) == 2 and not names & normal
    for name in names:
        assert cluster.check_name(name) == name


def test_matrix_upgrades_prints_every_pair_by_both_methods(
        capsys: pytest.CaptureFixture[str], repo_versions: versions.Versions) -> None:
    assert main(["matrix", "--upgrades"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1, "one line, for $GITHUB_OUTPUT"
    jobs = json.loads(out)["include"]
    pairs = upgrade.upgrade_pairs(list(repo_versions.releases))
    assert pairs, "the repo pins at least one upgrade"
    assert [(j["upgrade_from"], j["istio"], j["method"]) for j in jobs] == [
        (a, b, m) for a, b in pairs for m in ("in-place", "revision")]
    for job in jobs:
        assert job["node_image"] == repo_versions.node_image_for(repo_versions.istio(job["istio"]))
        assert job["cluster"] == upgrade.cluster_name(job["upgrade_from"], job["istio"],
                                                      job["method"])


def test_upgrade_settings_come_from_flags_or_the_environment() -> None:
    from egress_e2e.session import settings

    by_env = settings.resolve({}, {"EGRESS_E2E_UPGRADE_FROM": "1.30.5",
                                   "EGRESS_E2E_UPGRADE_METHOD": "REVISION"})
    assert (by_env.upgrade_from, by_env.upgrade_method) == ("1.30.5", "revision")
    by_flag = settings.resolve({"upgrade_from": "1.31.0"}, {})
    assert (by_flag.upgrade_from, by_flag.upgrade_method) == ("1.31.0", "in-place")


def test_an_upgrade_cannot_run_on_an_existing_cluster(tmp_path: Path) -> None:
    from egress_e2e.session import settings

    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("apiVersion: v1\n")
    with pytest.raises(ConfigError, match=r"cannot run with --existing-kubeconfig"):
        settings.resolve({"upgrade_from": "1.30.5", "existing_kubeconfig": kubeconfig}, {})


@pytest.mark.parametrize(("argv", "message"), [
    (["--upgrade-from", "1.31.1"], "is the target release itself"),
    (["--upgrade-from", "1.30.5", "--istio-version", "1.30.4"], "is a downgrade"),
    (["--upgrade-from", "1.30.5", "--upgrade-method", "helm"],
     "--upgrade-method: expected one of in-place, revision"),
])
def test_preflight_refuses_an_unsupported_upgrade_before_docker(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        argv: list[str], message: str) -> None:
    monkeypatch.delenv("EGRESS_E2E_UPGRADE_FROM", raising=False)
    monkeypatch.delenv("EGRESS_E2E_UPGRADE_METHOD", raising=False)
    # Docker is never asked: there is none here, and the line must be about the upgrade.
    assert main(["preflight", *argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and "Docker" not in err[0]
