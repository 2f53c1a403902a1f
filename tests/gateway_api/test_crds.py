"""The Gateway API CRD pins: versions.toml's table and its one-line errors, the pins against the
files at the tag, download-and-verify over real HTTP (a mismatch is one line and nothing is
applied), the exact server-side apply argv, and the fit check of a cluster's installed CRDs."""

from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import ChecksumMismatch, ConfigError, DownloadError
from egress_e2e.infra import gateway_api, tools, versions
from egress_e2e.infra.versions import GatewayApiPin

MIRROR = Path("/work/.mirror/kubernetes-sigs+gateway-api/repo")
ISTIO_MIRROR = Path("/work/.mirror/istio+istio/repo")
PINS = versions.load()
FAST = tools.RetryPolicy(attempts=1, first_wait=0.0, max_wait=0.0, timeout=5.0)


def test_every_supported_istio_minor_has_a_gateway_api_pin() -> None:
    minors = {release.minor for release in PINS.releases.values()}
    assert minors <= set(PINS.gateway_api)
    for minor in minors:
        pin = PINS.gateway_api_for(minor)
        assert pin.channel == "experimental"
        # Every CRD the scenarios need is among the pinned files.
        assert set(gateway_api.REQUIRED_CRDS) <= {gateway_api.crd_name(f) for f in pin.sha256}
    assert PINS.gateway_api_for("1.31.1").version == "v1.6.0"
    assert PINS.gateway_api_for("1.30.5").version == "v1.5.1"


@pytest.mark.skipif(not ISTIO_MIRROR.is_dir(), reason="no istio/istio mirror on this machine")
@pytest.mark.parametrize("minor", sorted(PINS.gateway_api))
def test_each_pin_is_the_version_that_istio_minor_builds_against(minor: str) -> None:
    go_mod = subprocess.run(["git", "-C", str(ISTIO_MIRROR), "show", f"release-{minor}:go.mod"],
                            capture_output=True, text=True, check=True).stdout
    pinned = [line.split()[1] for line in go_mod.splitlines()
              if line.strip().startswith("sigs.k8s.io/gateway-api ")]
    assert pinned == [PINS.gateway_api[minor].version]


@pytest.mark.skipif(not MIRROR.is_dir(), reason="no gateway-api mirror on this machine")
@pytest.mark.parametrize("minor", sorted(PINS.gateway_api))
def test_each_sha256_is_the_file_at_the_tag(minor: str) -> None:
    """The table's rule, reproduced: `git show <tag>:<path> | sha256sum`; and every CRD file
    of the channel directory is pinned."""
    pin = PINS.gateway_api[minor]
    listing = subprocess.run(["git", "-C", str(MIRROR), "ls-tree", "--name-only", pin.version,
                              f"config/crd/{pin.channel}/"],
                             capture_output=True, text=True, check=True).stdout.split()
    crd_files = {Path(p).name for p in listing
                 if Path(p).name.startswith("gateway.networking.") and "_vap_" not in p}
    assert crd_files == set(pin.sha256)
    for filename, digest in pin.sha256.items():
        body = subprocess.run(["git", "-C", str(MIRROR), "show",
                               f"{pin.version}:{pin.path(filename)}"],
                              capture_output=True, check=True).stdout
        assert hashlib.sha256(body).hexdigest() == digest, filename


def _table(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"version": "v1.6.0", "channel": "experimental",
                            "sha256": {"gateway.networking.k8s.io_gateways.yaml": "a" * 64}}
    body.update(overrides)
    return body


@pytest.mark.parametrize(("table", "message"), [
    ({"1.31": _table(version="1.6")}, "gateway_api.'1.31'.version must look like v1.6.0"),
    ({"1.31": _table(channel="beta")}, "gateway_api.'1.31'.channel must be one of"),
    ({"1.31": _table(sha256={"gateway.networking.k8s.io_gateways.yaml": "ABC"})},
     "must be 64 lowercase hex digits"),
    ({"1.31": _table(sha256={"kustomization.yaml": "a" * 64})},
     "'kustomization.yaml' is not a Gateway API CRD file name"),
    ({"1.31": _table(sha256={})}, "lists no CRD file"),
    ({"latest": _table()}, "not an Istio minor"),
])
def test_a_broken_gateway_api_table_is_one_line(table: dict[str, Any], message: str) -> None:
    data = dict(_raw_versions())
    data["gateway_api"] = table
    with pytest.raises(ConfigError) as raised:
        versions.parse(data, Path("versions.toml"))
    assert message in str(raised.value)
    assert "\n" not in str(raised.value)


def test_an_unpinned_istio_minor_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"no \[gateway_api.'1.29'\] for Istio 1.29.4 "
                                          r"\(pinned minors: 1.30, 1.31\)"):
        PINS.gateway_api_for("1.29.4")


def _raw_versions() -> dict[str, Any]:
    import tomllib
    return tomllib.loads(PINS.path.read_text())


# --- fetch and verify over HTTP ------------------------------------------------------------

FILES = {"gateway.networking.k8s.io_gateways.yaml": b"kind: CustomResourceDefinition\n# gw\n",
         "gateway.networking.k8s.io_tlsroutes.yaml": b"kind: CustomResourceDefinition\n# tls\n"}


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, list[str]]]:
    """A local HTTP server laid out like raw.githubusercontent.com/<repo>: <tag>/<path>."""
    root = tmp_path / "served"
    for name, body in FILES.items():
        target = root / "v9.9.9" / "config" / "crd" / "experimental" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    asked: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            asked.append(self.path)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root, asked
    finally:
        server.shutdown()
        server.server_close()


def _pin(**digests: str) -> GatewayApiPin:
    sha = {name: hashlib.sha256(body).hexdigest() for name, body in FILES.items()}
    sha.update(digests)
    return GatewayApiPin("v9.9.9", "experimental", sha)


def test_fetch_downloads_by_tag_and_verifies_each_file(
        served: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, _, asked = served
    got = gateway_api.fetch(_pin(), tmp_path / "cache", base_url=url, retry=FAST)
    assert [p.name for p in got] == sorted(FILES)
    assert all(p.read_bytes() == FILES[p.name] for p in got)
    assert sorted(asked) == [f"/v9.9.9/config/crd/experimental/{n}" for n in sorted(FILES)]
    # A second fetch re-checks the cached files and downloads nothing.
    asked.clear()
    gateway_api.fetch(_pin(), tmp_path / "cache", base_url=url, retry=FAST)
    assert asked == []


def test_a_checksum_mismatch_is_one_line_and_nothing_is_applied(
        served: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, _, _ = served
    wrong = "0" * 64
    ran: list[Sequence[str]] = []

    def run(argv: Sequence[str], **_: Any) -> proc.Completed:
        ran.append(argv)
        return proc.Completed(tuple(argv), 0, "", "")

    with pytest.raises(ChecksumMismatch) as raised:
        gateway_api.install(_pin(**{"gateway.networking.k8s.io_tlsroutes.yaml": wrong}),
                            tmp_path / "kubeconfig", kubectl=Path("/usr/bin/kubectl"),
                            directory=tmp_path / "cache", base_url=url, run=run)
    message = str(raised.value)
    assert "gateway.networking.k8s.io_tlsroutes.yaml" in message and wrong in message
    assert "\n" not in message
    assert ran == []
    # The bad download is gone; only the file that matched stays in the cache.
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [
        "gateway.networking.k8s.io_gateways.yaml"]


def test_a_missing_file_is_one_download_error_line(
        served: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, root, _ = served
    shutil.rmtree(root / "v9.9.9")
    with pytest.raises(DownloadError, match="HTTP 404") as raised:
        gateway_api.fetch(_pin(), tmp_path / "cache", base_url=url, retry=FAST)
    assert "\n" not in str(raised.value)


def test_install_server_side_applies_the_verified_files_then_waits(
        served: tuple[str, Path, list[str]], tmp_path: Path) -> None:
    url, _, _ = served
    ran: list[tuple[str, ...]] = []

    def run(argv: Sequence[str], **_: Any) -> proc.Completed:
        ran.append(tuple(argv))
        return proc.Completed(tuple(argv), 0, "", "")

    cache = tmp_path / "cache"
    gateway_api.install(_pin(), tmp_path / "kubeconfig", kubectl=Path("/usr/bin/kubectl"),
                        directory=cache, base_url=url, run=run)
    kc = str(tmp_path / "kubeconfig")
    assert ran == [
        ("/usr/bin/kubectl", "--kubeconfig", kc, "apply", "--server-side",
         "-f", str(cache / "gateway.networking.k8s.io_gateways.yaml"),
         "-f", str(cache / "gateway.networking.k8s.io_tlsroutes.yaml")),
        ("/usr/bin/kubectl", "--kubeconfig", kc, "wait", "--for=condition=Established",
         "--timeout=60s", "crd/gateways.gateway.networking.k8s.io",
         "crd/tlsroutes.gateway.networking.k8s.io"),
    ]


def test_the_default_url_is_the_projects_raw_file_at_the_tag() -> None:
    pin = PINS.gateway_api_for("1.31")
    assert gateway_api.crd_url(pin, "gateway.networking.k8s.io_tlsroutes.yaml") == (
        "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api/v1.6.0/"
        "config/crd/experimental/gateway.networking.k8s.io_tlsroutes.yaml")
    assert gateway_api.crd_name("gateway.networking.x-k8s.io_xmeshes.yaml") == \
        "xmeshes.gateway.networking.x-k8s.io"


# --- does an existing cluster's set fit? ---------------------------------------------------

def crd(name: str, version: str | None = "v1.6.0",
        channel: str | None = "experimental") -> dict[str, Any]:
    """A CRD's metadata as the API server returns it (annotations from the bundle)."""
    annotations = {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api"}
    if version is not None:
        annotations[gateway_api.BUNDLE_VERSION] = version
    if channel is not None:
        annotations[gateway_api.CHANNEL] = channel
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": name, "annotations": annotations, "generation": 1},
            "spec": {"group": name.split(".", 1)[1]}}


def installed(**changes: dict[str, Any] | None) -> dict[str, dict[str, Any] | None]:
    found: dict[str, dict[str, Any] | None] = {n: crd(n) for n in gateway_api.REQUIRED_CRDS}
    for short, body in changes.items():
        found[f"{short}.gateway.networking.k8s.io"] = body
    return found


def test_the_pinned_set_fits() -> None:
    pin = PINS.gateway_api_for("1.31")
    assert gateway_api.fit_line(pin, "1.31", installed()) is None


@pytest.mark.parametrize(("minor", "crds", "says"), [
    ("1.31", installed(tlsroutes=None), "missing tlsroutes"),
    # istio/istio#60357: v1.4 TLSRoutes below 1.30's floor: istiod does not watch them.
    ("1.30", installed(tlsroutes=crd("tlsroutes.gateway.networking.k8s.io", "v1.4.1")),
     "tlsroutes is v1.4.1, below the v1.5.0 Istio 1.30 needs (istiod ignores it)"),
    ("1.31", installed(httproutes=crd("httproutes.gateway.networking.k8s.io", "v1.5.1")),
     "httproutes is v1.5.1, not the v1.6.0 Istio 1.31 is tested with"),
    ("1.31", installed(gateways=crd("gateways.gateway.networking.k8s.io",
                                    channel="standard")),
     "gateways is from the standard channel, not experimental"),
    ("1.31", installed(gateways=crd("gateways.gateway.networking.k8s.io", version=None)),
     "gateways has no gateway.networking.k8s.io/bundle-version annotation"),
])
def test_a_misfit_is_said_in_one_line(minor: str, crds: dict[str, Any], says: str) -> None:
    line = gateway_api.fit_line(PINS.gateway_api_for(minor), minor, crds)
    assert line is not None and "\n" not in line
    assert line.startswith(f"Gateway API CRDs do not fit Istio {minor} (tested with ")
    assert says in line


@pytest.mark.skipif(not ISTIO_MIRROR.is_dir(), reason="no istio/istio mirror on this machine")
@pytest.mark.parametrize("minor", sorted(PINS.gateway_api))
def test_the_floors_are_istios_minimum_crd_versions(minor: str) -> None:
    """MINIMUM_BUNDLE_VERSIONS read back from the release branch's MinimumCRDVersions table
    (semver.New(major, minor, patch, ...)), so a floor Istio changes cannot stay stale here."""
    source = subprocess.run(["git", "-C", str(ISTIO_MIRROR), "show",
                             f"release-{minor}:pkg/config/schema/gatewayapi/minimumversions.go"],
                            capture_output=True, text=True, check=True).stdout
    found = {name: ".".join(parts) for name, *parts in re.findall(
        r'"([a-z]+\.gateway\.networking\.k8s\.io)":\s*semver\.New\((\d+), (\d+), (\d+),',
        source)}
    assert found and found == dict(gateway_api.MINIMUM_BUNDLE_VERSIONS[minor])


def test_tcproute_floor_is_1_31s_only() -> None:
    """release-1.31 minimumversions.go adds TCPRoute at v1.6.0; release-1.30 has no floor."""
    old_tcp = {"tcproutes.gateway.networking.k8s.io":
               crd("tcproutes.gateway.networking.k8s.io", "v1.5.1")}
    assert "below the v1.6.0" in " ".join(
        gateway_api.misfits(PINS.gateway_api_for("1.31"), "1.31", {**installed(), **old_tcp}))
    assert not any("below" in p for p in gateway_api.misfits(
        PINS.gateway_api_for("1.30"), "1.30",
        {**{n: crd(n, "v1.5.1") for n in gateway_api.REQUIRED_CRDS}, **old_tcp}))
