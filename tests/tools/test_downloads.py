"""Downloads for real, from a loopback HTTP server: verify, retry, refuse, and leave the cache
clean whenever a download does not verify."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import ChecksumMismatch, ConfigError, DownloadError
from egress_e2e.core.localproc import free_port
from egress_e2e.infra.tools import (
    Asset,
    Cache,
    ensure,
    istioctl_asset,
    kind_asset,
    kind_binary,
    read_lock,
    user_binary,
)
from egress_e2e.infra.versions import Platform, Versions


def _kind(repo_versions: Versions, host_url: str, platform: Platform, pin: str) -> Asset:
    asset = kind_asset(repo_versions.kind, platform, base_url=host_url)
    return replace(asset, pinned_sha256=pin)


def _leftovers(cache: Cache) -> list[str]:
    return sorted(p.name for p in cache.bin_dir.iterdir()) if cache.bin_dir.exists() else []


def test_kind_with_good_pin_lands_executable_in_cache(release_host, tool_cache, linux_amd64,
                                                      repo_versions, kit) -> None:
    body = kit.script('echo "kind v0.33.0 go1.25 linux/amd64"')
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, kit.sha256(body))
    release_host.serve(f"/{repo_versions.kind.version}/kind-linux-amd64",
                       kit.reply(body))
    warnings: list[str] = []

    fetched = ensure(asset, tool_cache, retry=kit.retry, warn=warnings.append)

    assert fetched.path == tool_cache.bin_dir / "kind-v0.33.0-linux-amd64"
    assert fetched.pinned and fetched.downloaded and fetched.sha256 == kit.sha256(body)
    assert fetched.path.read_bytes() == body
    assert fetched.path.stat().st_mode & stat.S_IXUSR
    assert _leftovers(tool_cache) == ["kind-v0.33.0-linux-amd64"]
    assert warnings == []                       # pinned: nothing to warn about
    assert read_lock(tool_cache.lock_path) == {}     # and nothing to record
    # It runs: the cache holds a real executable.
    assert "kind v0.33.0" in proc.run([str(fetched.path)]).stdout


def test_second_ensure_uses_the_cache_without_network(release_host, tool_cache, linux_amd64,
                                                      repo_versions, kit) -> None:
    body = kit.script("echo kind")
    path = f"/{repo_versions.kind.version}/kind-linux-amd64"
    release_host.serve(path, kit.reply(body))
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, kit.sha256(body))
    ensure(asset, tool_cache, retry=kit.retry)
    again = ensure(asset, tool_cache, retry=kit.retry)
    assert not again.downloaded
    assert release_host.hits(path) == 1


def test_wrong_checksum_names_file_expected_actual_and_leaves_nothing(
        release_host, tool_cache, linux_amd64, repo_versions, kit) -> None:
    body = kit.script("echo tampered")
    wrong = kit.sha256(b"what the release published")
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, wrong)
    path = f"/{repo_versions.kind.version}/kind-linux-amd64"
    release_host.serve(path, kit.reply(body))

    with pytest.raises(ChecksumMismatch) as caught:
        ensure(asset, tool_cache, retry=kit.retry)

    message = str(caught.value)
    assert "kind-linux-amd64" in message
    assert f"expected {wrong}" in message
    assert f"got {kit.sha256(body)}" in message
    assert "\n" not in message
    assert _leftovers(tool_cache) == []
    assert release_host.hits(path) == 1          # a mismatch is not retried


def test_truncated_body_is_retried_then_fails_in_one_line(release_host, tool_cache, linux_amd64,
                                                          repo_versions, kit) -> None:
    body = kit.script("echo kind") * 50
    path = f"/{repo_versions.kind.version}/kind-linux-amd64"
    release_host.serve(path, kit.reply(body, cut_after=len(body) // 3))
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, kit.sha256(body))

    with pytest.raises(DownloadError) as caught:
        ensure(asset, tool_cache, retry=kit.retry)

    message = str(caught.value)
    assert "truncated" in message and "kind-linux-amd64" in message
    assert f"after {kit.retry.attempts} attempts" in message
    assert release_host.hits(path) == kit.retry.attempts
    assert _leftovers(tool_cache) == []


def test_404_fails_at_once_without_retry(release_host, tool_cache, linux_amd64, repo_versions,
                                         kit) -> None:
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, kit.sha256(b"x"))
    path = f"/{repo_versions.kind.version}/kind-linux-amd64"
    release_host.serve(path, kit.reply(b"Not Found", status=404))

    with pytest.raises(DownloadError, match=r"HTTP 404 for http://127\.0\.0\.1:\d+/v0\.33\.0/"):
        ensure(asset, tool_cache, retry=kit.retry)
    assert release_host.hits(path) == 1
    assert _leftovers(tool_cache) == []


@pytest.mark.parametrize("first", ["503", "truncated"])
def test_a_transient_failure_is_retried_and_then_succeeds(  # noqa: PLR0917
        first, release_host, tool_cache,
                                                          linux_amd64, repo_versions,
                                                          kit) -> None:
    body = kit.script("echo kind") * 20
    path = f"/{repo_versions.kind.version}/kind-linux-amd64"
    failing = (kit.reply(b"busy", status=503) if first == "503"
               else kit.reply(body, cut_after=10))
    release_host.serve(path, failing, kit.reply(body))
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, kit.sha256(body))

    fetched = ensure(asset, tool_cache, retry=kit.retry)

    assert fetched.path.read_bytes() == body
    assert release_host.hits(path) == 2
    assert _leftovers(tool_cache) == ["kind-v0.33.0-linux-amd64"]


def test_unreachable_host_says_so_in_one_line(tool_cache, linux_amd64, repo_versions, kit) -> None:
    port = free_port()       # nothing listens there
    asset = _kind(repo_versions, f"http://127.0.0.1:{port}", linux_amd64, kit.sha256(b"x"))

    with pytest.raises(DownloadError) as caught:
        ensure(asset, tool_cache, retry=kit.retry)

    message = str(caught.value)
    assert message.startswith(f"cannot reach 127.0.0.1:{port} to download kind-linux-amd64")
    assert "--kind-bin" in message and "\n" not in message
    assert _leftovers(tool_cache) == []


def test_unpinned_kind_verifies_against_sha256sum_records_lock_and_warns(
        release_host, tool_cache, linux_amd64, repo_versions, kit) -> None:
    body = kit.script("echo kind")
    version = repo_versions.kind.version
    release_host.serve(f"/{version}/kind-linux-amd64", kit.reply(body))
    release_host.serve(f"/{version}/kind-linux-amd64.sha256sum",
                       kit.reply(f"{kit.sha256(body)}  kind-linux-amd64\n".encode()))
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, "")
    warnings: list[str] = []

    fetched = ensure(asset, tool_cache, retry=kit.retry, warn=warnings.append)

    assert not fetched.pinned and fetched.path.read_bytes() == body
    lock = read_lock(tool_cache.lock_path)
    entry = lock["kind v0.33.0 linux-amd64"]
    assert entry.sha256 == kit.sha256(body)
    assert entry.source.endswith("/v0.33.0/kind-linux-amd64.sha256sum")
    assert len(warnings) == 1 and "not pinned" in warnings[0]
    assert "kind-linux-amd64.sha256sum" in warnings[0] and "make pin" in warnings[0]


def test_unpinned_download_that_disagrees_with_release_checksum_fails(
        release_host, tool_cache, linux_amd64, repo_versions, kit) -> None:
    version = repo_versions.kind.version
    published = kit.sha256(b"the real kind")
    release_host.serve(f"/{version}/kind-linux-amd64", kit.reply(kit.script("echo evil")))
    release_host.serve(f"/{version}/kind-linux-amd64.sha256sum",
                       kit.reply(f"{published}  kind-linux-amd64\n".encode()))
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, "")

    with pytest.raises(ChecksumMismatch, match=f"expected {published}"):
        ensure(asset, tool_cache, retry=kit.retry)
    assert _leftovers(tool_cache) == []
    assert read_lock(tool_cache.lock_path) == {}


def test_checksum_file_for_another_asset_is_refused(release_host, tool_cache, linux_amd64,
                                                    repo_versions, kit) -> None:
    version = repo_versions.kind.version
    release_host.serve(f"/{version}/kind-linux-amd64.sha256sum",
                       kit.reply(f"{kit.sha256(b'x')}  kind-darwin-arm64\n".encode()))
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, "")
    with pytest.raises(DownloadError, match="is for kind-darwin-arm64, expected kind-linux-amd64"):
        ensure(asset, tool_cache, retry=kit.retry)


def test_istioctl_archive_is_verified_then_only_istioctl_is_extracted(  # noqa: PLR0917
        release_host, tool_cache, linux_amd64, repo_versions, kit, tmp_path) -> None:
    release = repo_versions.istio()
    binary = kit.script(f'echo "client version: {release.version}"')
    # A hostile archive: a path escaping the tool_cache and a decoy beside the real member.
    archive = kit.tar_gz({"../../escaped": b"owned", "README": b"hi", "istioctl": binary})
    name = f"istioctl-{release.version}-linux-amd64.tar.gz"
    release_host.serve(f"/{release.version}/{name}", kit.reply(archive))
    release_host.serve(f"/{release.version}/{name}.sha256",
                       kit.reply(f"{kit.sha256(archive)} {name}\n".encode()))
    asset = istioctl_asset(release, linux_amd64, base_url=release_host.base_url)
    asset = replace(asset, pinned_sha256="")
    warnings: list[str] = []

    fetched = ensure(asset, tool_cache, retry=kit.retry, warn=warnings.append)

    assert fetched.path.name == f"istioctl-{release.version}-linux-amd64"
    assert fetched.path.read_bytes() == binary
    assert fetched.sha256 == kit.sha256(archive)           # the archive's hash is what is pinned
    assert _leftovers(tool_cache) == [fetched.path.name]
    assert not (tool_cache.root.parent / "escaped").exists()
    assert not (tmp_path / "escaped").exists()
    assert f"client version: {release.version}" in proc.run([str(fetched.path)]).stdout
    assert len(warnings) == 1 and name + ".sha256" in warnings[0]


def test_istioctl_archive_whose_istioctl_is_a_symlink_is_refused(
        release_host, tool_cache, linux_amd64, repo_versions, kit) -> None:
    release = repo_versions.istio()
    archive = kit.tar_gz({"other": b"x"}, symlinks={"istioctl": "/bin/sh"})
    name = f"istioctl-{release.version}-linux-amd64.tar.gz"
    release_host.serve(f"/{release.version}/{name}", kit.reply(archive))
    asset = replace(istioctl_asset(release, linux_amd64, base_url=release_host.base_url),
                    pinned_sha256=kit.sha256(archive))
    with pytest.raises(DownloadError, match="holds no regular file named istioctl"):
        ensure(asset, tool_cache, retry=kit.retry)
    assert _leftovers(tool_cache) == []


def test_istio_asset_names_use_osx_for_darwin(repo_versions) -> None:
    for release in repo_versions.releases.values():
        mac = istioctl_asset(release, Platform("darwin", "arm64"), base_url="http://h")
        assert mac.url == (f"http://h/{release.version}/istioctl-{release.version}"
                           "-osx-arm64.tar.gz")
        assert mac.checksum_url == mac.url + ".sha256"
        assert mac.binary_name == f"istioctl-{release.version}-darwin-arm64"
        assert mac.pinned_sha256 == release.sha256["darwin-arm64"]


def test_base_url_comes_from_the_environment(monkeypatch, repo_versions, linux_amd64) -> None:
    monkeypatch.setenv("EGRESS_E2E_KIND_BASE_URL", "http://127.0.0.1:9/mirror/")
    asset = kind_asset(repo_versions.kind, linux_amd64)
    assert asset.url == "http://127.0.0.1:9/mirror/v0.33.0/kind-linux-amd64"
    assert asset.checksum_url == asset.url + ".sha256sum"


def test_cache_location_follows_env(tmp_path) -> None:
    assert Cache.from_env({"EGRESS_E2E_CACHE": str(tmp_path)}).root == tmp_path
    assert Cache.from_env({"XDG_CACHE_HOME": str(tmp_path)}).root == tmp_path / "egress-e2e"


def test_user_binary_from_flag_or_env_wins_and_must_be_executable(tmp_path, repo_versions
                                                                  ) -> None:
    mine = tmp_path / "my-kind"
    mine.write_bytes(b"#!/bin/sh\necho mine\n")
    with pytest.raises(ConfigError, match=r"^--kind-bin: not an executable file: "):
        user_binary("--kind-bin", mine, "EGRESS_E2E_KIND_BIN", {})
    mine.chmod(0o755)
    assert user_binary("--kind-bin", None, "EGRESS_E2E_KIND_BIN",
                       {"EGRESS_E2E_KIND_BIN": str(mine)}) == mine
    # With a user binary nothing is downloaded: the tool_cache stays absent.
    empty = Cache(tmp_path / "cache")
    assert kind_binary(repo_versions, explicit=mine, cache=empty) == mine
    assert not empty.root.exists()
    missing = tmp_path / "nope"
    with pytest.raises(ConfigError, match="EGRESS_E2E_ISTIOCTL_BIN: not an executable file"):
        user_binary("--istioctl-bin", None, "EGRESS_E2E_ISTIOCTL_BIN",
                    {"EGRESS_E2E_ISTIOCTL_BIN": str(missing)})


def test_cached_file_is_only_there_after_verification(  # noqa: PLR0917
        release_host, tool_cache, linux_amd64,
                                                      repo_versions, kit, monkeypatch) -> None:
    """Between download and verification the bytes sit in a dot-file that is not executable."""
    seen_modes: list[int] = []
    body = kit.script("echo kind")
    release_host.serve(f"/{repo_versions.kind.version}/kind-linux-amd64", kit.reply(body))
    asset = _kind(repo_versions, release_host.base_url, linux_amd64, kit.sha256(b"other"))
    original_unlink = Path.unlink

    def spy(self: Path, missing_ok: bool = False) -> None:
        if self.name.endswith(".part") and self.exists():
            seen_modes.append(self.stat().st_mode)
        original_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", spy)
    with pytest.raises(ChecksumMismatch):
        ensure(asset, tool_cache, retry=kit.retry)
    monkeypatch.undo()
    assert seen_modes, "the partial download should have existed"
    assert all(not mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH) for mode in seen_modes)
    assert not any(os.access(tool_cache.bin_dir / n, os.X_OK) for n in _leftovers(tool_cache))
