"""`tools pin`: locked checksums go into the empty fields of versions.toml; nothing else in the
file changes, and a disagreement with an existing pin stops."""

from __future__ import annotations

import difflib
import shutil
import tomllib
from dataclasses import replace

import pytest

from egress_e2e import cli
from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import versions
from egress_e2e.infra.tools import (
    Cache,
    LockEntry,
    apply_pins,
    ensure,
    istioctl_asset,
    set_toml_string,
)


def _changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_set_toml_string_edits_one_line_only() -> None:
    text = versions.DEFAULT_PATH.read_text()
    digest = "ab" * 32
    after = set_toml_string(text, 'istio.releases."1.30.5".sha256', "linux-arm64", digest)
    assert _changed_lines(text, after) == ['-linux-arm64 = ""', f'+linux-arm64 = "{digest}"']


def test_set_toml_string_keeps_a_trailing_comment_and_fails_on_unknown_table() -> None:
    text = '[a.sha256]\nlinux-amd64 = ""  # to do\n[b]\nlinux-amd64 = ""\n'
    after = set_toml_string(text, "a.sha256", "linux-amd64", "cd" * 32)
    assert after == f'[a.sha256]\nlinux-amd64 = "{"cd" * 32}"  # to do\n[b]\nlinux-amd64 = ""\n'
    with pytest.raises(ConfigError, match=r"no key 'linux-amd64' in table \[c\]"):
        set_toml_string(text, "c", "linux-amd64", "cd" * 32)


def _entry(tool: str, version: str, platform: str, digest: str) -> LockEntry:
    return LockEntry(tool, version, platform, digest, f"http://h/{version}/x.sha256")


def test_apply_pins_fills_empty_skips_equal_and_unknown(repo_versions) -> None:
    text = versions.DEFAULT_PATH.read_text()
    release = repo_versions.istio()
    kind_pin = repo_versions.kind.sha256["linux-amd64"]
    entries = {
        "a": _entry("istioctl", release.version, "linux-amd64", "12" * 32),
        "b": _entry("kind", repo_versions.kind.version, "linux-amd64", kind_pin),
        "c": _entry("istioctl", "1.2.3", "linux-amd64", "34" * 32),
    }
    after, changes = apply_pins(text, entries, repo_versions)
    statuses = {(c.table, c.key): c.status for c in changes}
    assert statuses[(f'istio.releases."{release.version}".sha256', "linux-amd64")] == "pinned"
    assert statuses[("kind.sha256", "linux-amd64")] == ("already pinned" if kind_pin else "pinned")
    assert statuses[('istio.releases."1.2.3".sha256', "linux-amd64")] == "no such release"
    reloaded = versions.parse(tomllib.loads(after), repo_versions.path)
    assert reloaded.istio(release.version).sha256["linux-amd64"] == "12" * 32


def test_apply_pins_refuses_to_overwrite_a_different_pin(repo_versions) -> None:
    kind = repo_versions.kind
    if not kind.sha256["linux-amd64"]:
        pytest.skip("kind linux-amd64 is not pinned in this versions.toml")
    entries = {"k": _entry("kind", kind.version, "linux-amd64", "ef" * 32)}
    with pytest.raises(ConfigError, match=r"is pinned to .* but the release checksum file gave"):
        apply_pins(versions.DEFAULT_PATH.read_text(), entries, repo_versions)


def test_pin_command_end_to_end(  # noqa: PLR0917
        tmp_path, monkeypatch, release_host, linux_amd64, kit,
                                capsys) -> None:
    """Download an unpinned istioctl (lock + warning), then `egress-e2e tools pin` writes it."""
    copy = tmp_path / "versions.toml"
    shutil.copy(versions.DEFAULT_PATH, copy)
    known = versions.load(copy)
    release = known.istio()
    archive = kit.tar_gz({"istioctl": kit.script("echo istioctl")})
    name = f"istioctl-{release.version}-linux-amd64.tar.gz"
    release_host.serve(f"/{release.version}/{name}", kit.reply(archive))
    release_host.serve(f"/{release.version}/{name}.sha256",
                       kit.reply(f"{kit.sha256(archive)}  {name}\n".encode()))
    cache = Cache(tmp_path / "cache")
    asset = replace(istioctl_asset(release, linux_amd64, base_url=release_host.base_url),
                    pinned_sha256="")
    ensure(asset, cache, retry=kit.retry, warn=lambda line: None)
    monkeypatch.setenv("EGRESS_E2E_CACHE", str(cache.root))
    before = copy.read_text()

    assert cli.main(["tools", "pin", "--versions", str(copy)]) == 0

    out = capsys.readouterr().out
    assert f"linux-amd64: pinned ({kit.sha256(archive)})" in out
    assert _changed_lines(before, copy.read_text()) == [
        '-linux-amd64 = ""', f'+linux-amd64 = "{kit.sha256(archive)}"']
    assert versions.load(copy).istio().sha256["linux-amd64"] == kit.sha256(archive)
    # Running it again changes nothing.
    assert cli.main(["tools", "pin", "--versions", str(copy)]) == 0
    assert "already pinned" in capsys.readouterr().out
