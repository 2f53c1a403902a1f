"""versions.toml: the repo's file is valid and self-consistent, and bad edits fail in one line
naming the key."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import versions

REPO_FILE = versions.DEFAULT_PATH


def _raw() -> dict:  # type: ignore[type-arg]
    return tomllib.loads(REPO_FILE.read_text())


def test_repo_file_loads_and_default_is_the_newest(repo_versions) -> None:
    newest = max(repo_versions.releases, key=lambda v: tuple(int(p) for p in v.split(".")))
    assert repo_versions.default_istio == newest
    assert repo_versions.istio().version == newest
    # One fresh-install release per supported minor (its newest patch); other patches of a
    # minor are there only as upgrade sources, and are older than it.
    fresh = [r for r in repo_versions.releases.values() if not r.upgrade_only]
    minors = [r.minor for r in fresh]
    assert len(minors) == len(set(minors))
    for release in repo_versions.releases.values():
        if release.upgrade_only:
            newest = repo_versions.istio(release.minor)
            assert not newest.upgrade_only
            assert versions.parse_version(release.version) < versions.parse_version(
                newest.version)


def test_every_release_has_a_node_image_in_range_and_its_own_images(repo_versions) -> None:
    for release in repo_versions.releases.values():
        image = repo_versions.node_image_for(release)
        assert image.startswith(f"kindest/node:v{release.kubernetes}.")
        assert release.supports_kubernetes(release.kubernetes)
        assert f"docker.io/istio/pilot:{release.version}" in release.images
        assert f"docker.io/istio/proxyv2:{release.version}" in release.images


# The Kubernetes minors each Istio minor is officially supported on, as its release announcement
# says (istio.io, "Supported Releases"). A new Istio minor in versions.toml needs its line here,
# looked up, not guessed.
PUBLISHED_SUPPORT = {
    "1.30": ("1.32", "1.36"),
    "1.31": ("1.32", "1.36"),
}


def _minor_key(minor: str) -> tuple[int, int]:
    major, rest = minor.split(".")
    return int(major), int(rest)


def test_every_release_runs_on_a_node_image_inside_its_published_support(repo_versions) -> None:
    for release in repo_versions.releases.values():
        assert release.minor in PUBLISHED_SUPPORT, f"look up Istio {release.minor}'s support"
        low, high = (_minor_key(m) for m in PUBLISHED_SUPPORT[release.minor])
        declared = (_minor_key(release.kubernetes_min), _minor_key(release.kubernetes_max))
        published = "-".join(PUBLISHED_SUPPORT[release.minor])
        assert low <= declared[0] <= declared[1] <= high, (
            f"{release.version}: versions.toml says {release.kubernetes_min}-"
            f"{release.kubernetes_max}, Istio supports {published}")
        # The image itself, not only the key it is filed under.
        tag = re.fullmatch(r"kindest/node:v(\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}",
                           repo_versions.node_image_for(release))
        assert tag is not None
        assert low <= _minor_key(tag.group(1)) <= high, (
            f"{release.version} runs on Kubernetes {tag.group(1)}, outside its support")


def test_pins_are_empty_or_sha256_for_every_platform(repo_versions) -> None:
    tables = [repo_versions.kind.sha256] + [r.sha256 for r in repo_versions.releases.values()]
    for table in tables:
        assert tuple(table) == versions.PLATFORMS
        for value in table.values():
            assert value == "" or re.fullmatch(r"[0-9a-f]{64}", value)


def test_unknown_istio_version_is_one_line_listing_known(repo_versions) -> None:
    with pytest.raises(ConfigError) as caught:
        repo_versions.istio("1.29.3")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("unknown Istio version '1.29.3'; known: ")
    for known in repo_versions.known_istio:
        assert known in message
    assert f"{repo_versions.default_istio} (default)" in message


def test_a_minor_resolves_to_its_listed_patch(repo_versions) -> None:
    for version, release in repo_versions.releases.items():
        if not release.upgrade_only:
            assert repo_versions.istio(release.minor).version == version
        assert repo_versions.istio(f" {version} ").version == version


def test_upgrade_only_must_be_a_boolean_and_not_the_default(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"upgrade_only must be true or false"):
        _load_edited(tmp_path, '\nupgrade_only = true', '\nupgrade_only = "yes"')
    with pytest.raises(ConfigError, match=r"istio.default '1.31.0' is marked upgrade_only"):
        _load_edited(tmp_path, 'default = "1.31.1"', 'default = "1.31.0"')


def _load_edited(tmp_path: Path, old: str, new: str) -> versions.Versions:
    text = REPO_FILE.read_text()
    assert old in text, old
    edited = tmp_path / "versions.toml"
    edited.write_text(text.replace(old, new, 1))
    return versions.load(edited)


@pytest.mark.parametrize(("old", "new", "complaint"), [
    ('linux-arm64 = "20022', 'linux-arm64 = "Z0022', r"kind\.sha256\.linux-arm64 must be"),
    ('darwin-arm64 = "0c8c7dbe5e23594a198b786c4bc13dacc101fa6196b0cb0b23a1ca44e61f4b4f"\n', "\n",
     r"\[kind\.sha256\] must have exactly .*missing \['darwin-arm64'\]"),
    ('"1.36" = "kindest/node:v1.36.4', '"1.36" = "kindest/node:v1.35.4',
     r"kind\.node_images\.'1\.36' must be kindest/node:v1\.36"),
    ('default = "1.31.1"', 'default = "1.32.0"', r"istio\.default '1\.32\.0' is not one of"),
    ('kubernetes = "1.36"', 'kubernetes = "1.31"', r"kubernetes 1\.31 is outside 1\.32-1\.36"),
    ('version = "v0.33.0"', 'version = "0.33"', r"kind\.version must look like v0\.33\.0"),
])
def test_bad_edits_fail_naming_the_key(tmp_path, old, new, complaint) -> None:
    with pytest.raises(ConfigError, match=complaint) as caught:
        _load_edited(tmp_path, old, new)
    assert str(tmp_path / "versions.toml") in str(caught.value)


def test_missing_or_broken_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="versions file not found"):
        versions.load(tmp_path / "absent.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("[kind\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        versions.load(broken)


def test_env_var_points_at_another_file(tmp_path, monkeypatch) -> None:
    copy = tmp_path / "other.toml"
    copy.write_text(REPO_FILE.read_text())
    monkeypatch.setenv("EGRESS_E2E_VERSIONS", str(copy))
    assert versions.load().path == copy


@pytest.mark.parametrize(("system", "machine", "key"), [
    ("Linux", "x86_64", "linux-amd64"),
    ("Linux", "aarch64", "linux-arm64"),
    ("Darwin", "arm64", "darwin-arm64"),
])
def test_platform_detection(system, machine, key) -> None:
    assert versions.detect_platform(system, machine).key == key


def test_unsupported_platform_points_at_the_bin_flags() -> None:
    with pytest.raises(ConfigError, match=r"darwin-amd64; supported: .*--kind-bin"):
        versions.detect_platform("Darwin", "x86_64")


def test_raw_file_lists_only_supported_platform_keys() -> None:
    raw = _raw()
    assert set(raw["kind"]["sha256"]) == set(versions.PLATFORMS)
