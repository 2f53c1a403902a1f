"""`egress-e2e tools ...` and `egress-e2e clean` through the real CLI entry point."""

from __future__ import annotations

import shutil

from egress_e2e import cli
from egress_e2e.commands import clean
from egress_e2e.infra import cluster, versions


def test_clean_docker_argv() -> None:
    assert clean.list_containers_argv() == [
        "docker", "ps", "--all", "--filter", "label=egress-e2e.managed=true", "--format",
        '{{.ID}} {{.Label "egress-e2e.run-id"}}']
    assert clean.remove_containers_argv(["a1", "b2"]) == [
        "docker", "rm", "--force", "--volumes", "a1", "b2"]


def test_clean_keeps_the_containers_of_live_runs() -> None:
    listing = "c1 aaaaaaaaaaaa\nc2 bbbbbbbbbbbb\nc3 \n"
    assert clean.dead_containers(listing, {"aaaaaaaaaaaa"}) == ["c2", "c3"]
    assert clean.dead_containers("", set()) == []


def test_clean_without_docker_and_nothing_recorded(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("EGRESS_E2E_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    assert cli.main(["clean"]) == 0
    assert "nothing to clean" in capsys.readouterr().out


def test_clean_without_docker_but_with_our_clusters_fails_in_one_line(
        tmp_path, monkeypatch, capsys) -> None:
    state = cluster.ClusterState(tmp_path / "state")
    state.add(cluster.ClusterRecord("egress-e2e-1-31", "2026-11-21T00:00:00+00:00", "1.31.1",
                                    "kindest/node:v1.37.0", str(tmp_path / "k")))
    monkeypatch.setenv("EGRESS_E2E_STATE_DIR", str(state.directory))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    assert cli.main(["clean"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert err.startswith("egress-e2e: Docker engine not reachable")
    assert "egress-e2e-1-31" in err
    assert state.ours() == {"egress-e2e-1-31"}        # nothing forgotten


def test_tools_fetch_uses_given_binaries_without_network(tmp_path, monkeypatch, capsys) -> None:
    kind = tmp_path / "kind"
    istioctl = tmp_path / "istioctl"
    for path in (kind, istioctl):
        path.write_text("#!/bin/sh\n")
        path.chmod(0o755)
    monkeypatch.setenv("EGRESS_E2E_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EGRESS_E2E_KIND_BIN", str(kind))
    assert cli.main(["tools", "fetch", "--all", "--istioctl-bin", str(istioctl)]) == 0
    out = capsys.readouterr().out
    assert f": {kind}" in out and out.count(str(istioctl)) == len(versions.load().releases)
    assert not (tmp_path / "cache").exists()


def test_tools_fetch_unknown_version_is_one_line(capsys) -> None:
    assert cli.main(["tools", "fetch", "--istio-version", "9.9.9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("egress-e2e: unknown Istio version '9.9.9'; known: ")
    assert err.count("\n") == 1


def test_tools_fetch_downloads_from_the_configured_host(tmp_path, monkeypatch, capsys,
                                                        release_host, kit) -> None:
    """The whole path: versions file -> URL -> loopback host -> verify -> cache -> lock."""
    copy = tmp_path / "versions.toml"
    shutil.copy(versions.DEFAULT_PATH, copy)
    known = versions.load(copy)
    platform = versions.detect_platform()
    kind_body = kit.script("echo kind")
    kind_name = f"kind-{platform.os}-{platform.arch}"
    # This host's kind pin would (rightly) reject our stand-in: unpin it in the copy.
    copy.write_text(copy.read_text().replace(known.kind.sha256[platform.key], ""))
    release_host.serve(f"/{known.kind.version}/{kind_name}", kit.reply(kind_body))
    release_host.serve(f"/{known.kind.version}/{kind_name}.sha256sum",
                       kit.reply(f"{kit.sha256(kind_body)}  {kind_name}\n".encode()))
    release = known.istio()
    os_name = "osx" if platform.os == "darwin" else platform.os
    tar_name = f"istioctl-{release.version}-{os_name}-{platform.arch}.tar.gz"
    archive = kit.tar_gz({"istioctl": kit.script("echo istioctl")})
    release_host.serve(f"/{release.version}/{tar_name}", kit.reply(archive))
    release_host.serve(f"/{release.version}/{tar_name}.sha256",
                       kit.reply(f"{kit.sha256(archive)}  {tar_name}\n".encode()))
    for name, value in {
        "EGRESS_E2E_VERSIONS": str(copy), "EGRESS_E2E_CACHE": str(tmp_path / "cache"),
        "EGRESS_E2E_KIND_BASE_URL": release_host.base_url,
        "EGRESS_E2E_ISTIO_BASE_URL": release_host.base_url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("EGRESS_E2E_KIND_BIN", raising=False)
    monkeypatch.delenv("EGRESS_E2E_ISTIOCTL_BIN", raising=False)

    assert cli.main(["tools", "fetch"]) == 0

    captured = capsys.readouterr()
    bin_dir = tmp_path / "cache" / "bin"
    assert (bin_dir / f"kind-{known.kind.version}-{platform.key}").read_bytes() == kind_body
    assert f"istioctl {release.version}: {bin_dir}/istioctl-{release.version}-{platform.key}" \
        in captured.out
    warnings = [line for line in captured.err.splitlines() if "not pinned" in line]
    assert len(warnings) == 2

    assert cli.main(["tools", "where"]) == 0
    where = capsys.readouterr().out
    assert f"lock:   {tmp_path / 'cache' / 'checksums.lock.json'}" in where
    assert "[present]" in where
