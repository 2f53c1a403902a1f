"""The nightly matrix, built from versions data: pure rules, then the command on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from egress_e2e import cli
from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import cluster, matrix, versions

IMAGES = {
    "1.36": "kindest/node:v1.36.4@sha256:" + "a" * 64,
    "1.37": "kindest/node:v1.37.0@sha256:" + "b" * 64,
}
RELEASES = [
    matrix.IstioSupport("1.31.1", "1.32", "1.37", "1.37", "egress-e2e-1-31"),
    matrix.IstioSupport("1.30.5", "1.32", "1.36", "1.36", "egress-e2e-1-30"),
    matrix.IstioSupport("1.30.4", "1.32", "1.36", "1.36", "egress-e2e-1-30"),
]


def build(wanted: str = "all") -> list[matrix.MatrixEntry]:
    return matrix.build(RELEASES, IMAGES, wanted=wanted, default="1.31.1", kind_version="v0.33.0")


def test_all_runs_every_release_oldest_first_on_its_node_image() -> None:
    entries = build()
    assert [e.istio for e in entries] == ["1.30.4", "1.30.5", "1.31.1"]
    assert [e.node_image for e in entries] == [IMAGES["1.36"], IMAGES["1.36"], IMAGES["1.37"]]
    assert entries[2].name == "istio-1.31.1-k8s-1.37"
    assert {e.kind for e in entries} == {"v0.33.0"}
    assert entries[0].cluster == "egress-e2e-1-30"


@pytest.mark.parametrize(("wanted", "expected"), [
    ("default", ["1.31.1"]),
    ("1.30.5", ["1.30.5"]),
    ("v1.30.5", ["1.30.5"]),
    ("1.30", ["1.30.4", "1.30.5"]),
    ("", ["1.30.4", "1.30.5", "1.31.1"]),
])
def test_selection(wanted: str, expected: list[str]) -> None:
    assert [e.istio for e in build(wanted)] == expected


def test_unknown_version_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError) as err:
        build("1.29")
    assert str(err.value) == (
        "unknown Istio version '1.29'; the versions file knows: 1.30.4, 1.30.5, 1.31.1, all")


def test_release_without_a_node_image_or_outside_its_range_is_refused() -> None:
    no_image = [matrix.IstioSupport("1.31.1", "1.32", "1.37", "1.35", "c")]
    with pytest.raises(ConfigError, match=r"Kubernetes 1\.35, but .* only for: 1\.36, 1\.37"):
        matrix.build(no_image, IMAGES, default="1.31.1", kind_version="v0.33.0")
    outside = [matrix.IstioSupport("1.30.5", "1.32", "1.36", "1.37", "c")]
    with pytest.raises(ConfigError, match=r"1\.37, outside its supported 1\.32-1\.36"):
        matrix.build(outside, IMAGES, default="1.30.5", kind_version="v0.33.0")


def test_github_matrix_shape() -> None:
    shaped = matrix.as_github_matrix(build("default"))
    assert list(shaped) == ["include"]
    assert set(shaped["include"][0]) == {"name", "istio", "kubernetes", "node_image", "cluster",
                                         "kind", "data_plane", "shard", "shards"}


def run_cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_matrix_command_follows_the_repo_versions_file(capsys: pytest.CaptureFixture[str]) -> None:
    loaded = versions.load(versions.DEFAULT_PATH)
    code, out, _ = run_cli(capsys, "matrix", "--versions-file", str(versions.DEFAULT_PATH))
    assert code == 0
    assert out.count("\n") == 1, "one line, for $GITHUB_OUTPUT"
    entries = json.loads(out)["include"]
    fresh = {v for v, rel in loaded.releases.items() if not rel.upgrade_only}
    assert {e["istio"] for e in entries} == fresh
    for entry in entries:
        release = loaded.releases[entry["istio"]]
        assert entry["node_image"] == loaded.node_image_for(release)
        suffix = "-ambient" if entry["data_plane"] == "ambient" else ""
        assert entry["cluster"] == cluster.default_cluster_name(release) + suffix
        assert entry["kind"] == loaded.kind.version


def test_a_new_release_is_one_table_in_the_versions_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = versions.DEFAULT_PATH.read_text()
    newest_minor = max(versions.load(versions.DEFAULT_PATH).kind.node_images,
                       key=lambda m: tuple(int(p) for p in m.split(".")))
    text += (
        '\n[istio.releases."1.99.0"]\n'
        f'kubernetes_min = "1.32"\nkubernetes_max = "{newest_minor}"\n'
        f'kubernetes = "{newest_minor}"\nimages = []\n'
        '[istio.releases."1.99.0".sha256]\n'
        'linux-amd64 = ""\nlinux-arm64 = ""\ndarwin-arm64 = ""\n'
    )
    path = tmp_path / "versions.toml"
    path.write_text(text)
    code, out, _ = run_cli(capsys, "matrix", "--versions-file", str(path), "--istio", "1.99")
    assert code == 0
    (entry, ambient) = json.loads(out)["include"]
    assert entry["istio"] == "1.99.0" and entry["cluster"] == "egress-e2e-1-99"
    assert ambient["data_plane"] == "ambient" and ambient["cluster"] == "egress-e2e-1-99-ambient"


def test_matrix_command_unknown_version_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_cli(capsys, "matrix", "--istio", "0.1")
    assert code == 1 and out == ""
    assert err.count("\n") == 1
    assert err.startswith("egress-e2e: unknown Istio version '0.1'; the versions file knows: ")


@pytest.mark.parametrize(("pinned", "published", "expected"), [
    (["1.30.5", "1.31.1"], ["1.31.1", "1.30.5", "1.29.9"], []),
    (["1.30.5", "1.31.1"], ["1.31.2", "1.31.3", "1.30.5"],
     ["Istio 1.31: 1.31.3 is out; pinned 1.31.1"]),
    (["1.31.1"], ["1.32.0", "1.32.1", "1.33.0-rc.0", "1.33.0-beta.1"],
     ["Istio 1.32: 1.32.1 is out and not pinned (a new minor)"]),
    (["1.31.1"], ["v1.31.2", "latest", "1.30.9"], ["Istio 1.31: 1.31.2 is out; pinned 1.31.1"]),
])
def test_newer_releases(pinned: list[str], published: list[str], expected: list[str]) -> None:
    assert [str(f) for f in matrix.newer_releases(pinned, published)] == expected
