"""The Gateway API CRDs: fetched by tag, verified against versions.toml, server-side applied; and,
on a cluster the harness did not make, checked against what the Istio under test needs.

Gateway API publishes no checksum for its install assets, so versions.toml pins the sha256 of
each CRD file at the tag (``[gateway_api."<minor>"]``). Every file is downloaded and checked
before the first one is applied: a mismatch is one error line and nothing reaches the cluster.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from packaging.version import InvalidVersion, Version

from egress_e2e.core import paths, proc
from egress_e2e.core.errors import ChecksumMismatch, ConfigError
from egress_e2e.infra import tools
from egress_e2e.infra.kube import KubeApi
from egress_e2e.infra.versions import GatewayApiPin

BASE_URL_ENV: Final = "EGRESS_E2E_GATEWAY_API_BASE_URL"
# The project's raw file URL: <base>/<tag>/<path in the repository>.
RAW_BASE_URL: Final = "https://raw.githubusercontent.com/kubernetes-sigs/gateway-api"

# The CRD annotations a Gateway API bundle carries (every file of config/crd/<channel>/ at
# v1.5.1 and v1.6.0 has both); Istio reads the first (pkg/config/schema/gatewayapi/
# minimumversions.go), `kubectl apply` of another channel changes the second.
BUNDLE_VERSION: Final = "gateway.networking.k8s.io/bundle-version"
CHANNEL: Final = "gateway.networking.k8s.io/channel"

# The CRDs the catalog's Gateway API scenarios use (Gateway, HTTPRoute, TLSRoute, ReferenceGrant
# and the GatewayClass Istio creates, "istio").
REQUIRED_CRDS: Final = (
    "gatewayclasses.gateway.networking.k8s.io",
    "gateways.gateway.networking.k8s.io",
    "httproutes.gateway.networking.k8s.io",
    "referencegrants.gateway.networking.k8s.io",
    "tlsroutes.gateway.networking.k8s.io",
)

# istiod ignores a CRD whose bundle-version is below these (it does not watch it, so routes of
# that kind attach to nothing): istio/istio release-1.31 and release-1.30
# pkg/config/schema/gatewayapi/minimumversions.go, MinimumCRDVersions. 1.31 adds TCPRoute.
MINIMUM_BUNDLE_VERSIONS: Final[Mapping[str, Mapping[str, str]]] = {
    "1.31": {
        "grpcroutes.gateway.networking.k8s.io": "1.1.0",
        "backendtlspolicies.gateway.networking.k8s.io": "1.4.0",
        "tlsroutes.gateway.networking.k8s.io": "1.5.0",
        "tcproutes.gateway.networking.k8s.io": "1.6.0",
    },
    "1.30": {
        "grpcroutes.gateway.networking.k8s.io": "1.1.0",
        "backendtlspolicies.gateway.networking.k8s.io": "1.4.0",
        "tlsroutes.gateway.networking.k8s.io": "1.5.0",
    },
}

CRD_API_VERSION: Final = "apiextensions.k8s.io/v1"
APPLY_TIMEOUT_S: Final = 120.0


def crd_name(filename: str) -> str:
    """``gateway.networking.k8s.io_httproutes.yaml`` -> ``httproutes.gateway.networking.k8s.io``
    (controller-gen names each file <group>_<plural>.yaml)."""
    group, _, rest = filename.partition("_")
    if not rest.endswith(".yaml") or not group:
        raise ConfigError(f"not a Gateway API CRD file name: {filename!r}")
    return f"{rest.removesuffix('.yaml')}.{group}"


def crd_url(pin: GatewayApiPin, filename: str, base_url: str | None = None) -> str:
    base = (base_url or os.environ.get(BASE_URL_ENV) or RAW_BASE_URL).rstrip("/")
    return f"{base}/{pin.version}/{pin.path(filename)}"


def cache_dir(pin: GatewayApiPin, environ: Mapping[str, str] | None = None) -> Path:
    return paths.cache_dir(environ) / "gateway-api" / pin.version / pin.channel


def fetch(pin: GatewayApiPin, directory: Path, *, base_url: str | None = None,
          retry: tools.RetryPolicy | None = None) -> list[Path]:
    """Every pinned CRD file, verified, in ``directory`` (a cache: a file already there is used
    only if its sha256 still matches). All are checked before this returns, so a mismatch
    leaves nothing to apply."""
    policy = retry or tools.RetryPolicy()
    directory.mkdir(parents=True, exist_ok=True)
    found: list[Path] = []
    for filename, expected in sorted(pin.sha256.items()):
        final = directory / filename
        if final.is_file() and _sha256(final) == expected:
            found.append(final)
            continue
        url = crd_url(pin, filename, base_url)
        fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{filename}.", suffix=".part")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            actual = _download(url, tmp, policy)
            if actual != expected:
                raise ChecksumMismatch(f"Gateway API {pin.version} {filename} ({url})",
                                       expected, actual)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        found.append(final)
    return found


def _download(url: str, dest: Path, policy: tools.RetryPolicy) -> str:
    """tools' verified-download machinery: transient failures retried with backoff, the rest
    (404, unreachable after the attempts) one DownloadError line; returns the sha256."""
    return tools._with_retries(url, policy, lambda: tools._download(url, dest, policy))


def apply_argv(kubectl: Path, kubeconfig: Path, files: Sequence[Path]) -> list[str]:
    """Server-side apply, as istio.io's doc tests install the CRDs (tests/util/gateway-api.sh):
    the CRDs are larger than client-side apply's last-applied annotation allows."""
    argv = [str(kubectl), "--kubeconfig", str(kubeconfig), "apply", "--server-side"]
    for path in files:
        argv += ["-f", str(path)]
    return argv


def wait_argv(kubectl: Path, kubeconfig: Path, pin: GatewayApiPin,
              timeout_s: float = 60.0) -> list[str]:
    """Until the API server serves every CRD (condition Established)."""
    names = [f"crd/{crd_name(f)}" for f in sorted(pin.sha256)]
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "wait", "--for=condition=Established",
            f"--timeout={int(timeout_s)}s", *names]


def install(pin: GatewayApiPin, kubeconfig: Path, *, kubectl: Path | None = None,
            directory: Path | None = None, base_url: str | None = None,
            run: proc.Runner = proc.run) -> list[Path]:
    """Fetch and verify the pinned CRDs, then apply them and wait until they are served."""
    binary = kubectl or tools.kubectl_path()
    files = fetch(pin, directory or cache_dir(pin), base_url=base_url)
    run(apply_argv(binary, kubeconfig, files), timeout=APPLY_TIMEOUT_S,
        note=f"installing Gateway API {pin.version} ({pin.channel}) CRDs")
    run(wait_argv(binary, kubeconfig, pin), timeout=APPLY_TIMEOUT_S,
        note=f"waiting for the Gateway API {pin.version} CRDs to be served")
    return files


@dataclass(frozen=True)
class Installed:
    """One CRD as the API server returned it: its bundle version and channel annotations."""

    name: str
    bundle_version: str | None
    channel: str | None

    @classmethod
    def of(cls, name: str, body: Mapping[str, Any]) -> Installed:
        meta = body.get("metadata") or {}
        annotations = meta.get("annotations") or {}
        return cls(name, annotations.get(BUNDLE_VERSION), annotations.get(CHANNEL))


def misfits(pin: GatewayApiPin, istio_minor: str,
            crds: Mapping[str, Mapping[str, Any] | None]) -> list[str]:
    """What in the cluster's Gateway API CRDs (CRD name -> object as the API returns it, None
    when absent) does not fit the Istio minor under test, one short phrase each."""
    minimums = MINIMUM_BUNDLE_VERSIONS.get(istio_minor, {})
    problems: list[str] = []
    missing = [name for name in REQUIRED_CRDS if crds.get(name) is None]
    if missing:
        problems.append(f"missing {', '.join(_short(n) for n in missing)}")
    for name, body in sorted(crds.items()):
        if body is None:
            continue
        seen = Installed.of(name, body)
        if seen.bundle_version is None:
            problems.append(f"{_short(name)} has no {BUNDLE_VERSION} annotation")
            continue
        floor = minimums.get(name)
        if floor is not None and _older(seen.bundle_version, floor):
            # minimumversions.go: below the floor istiod does not watch the kind at all.
            problems.append(f"{_short(name)} is {seen.bundle_version}, below the v{floor} "
                            f"Istio {istio_minor} needs (istiod ignores it)")
        elif seen.bundle_version != pin.version:
            problems.append(f"{_short(name)} is {seen.bundle_version}, not the {pin.version} "
                            f"Istio {istio_minor} is tested with")
        if seen.channel != pin.channel:
            problems.append(f"{_short(name)} is from the {seen.channel or 'unknown'} channel, "
                            f"not {pin.channel}")
    return problems


def fit_line(pin: GatewayApiPin, istio_minor: str,
             crds: Mapping[str, Mapping[str, Any] | None]) -> str | None:
    """One line for the session to print when the installed CRDs do not fit, else None."""
    problems = misfits(pin, istio_minor, crds)
    if not problems:
        return None
    return (f"Gateway API CRDs do not fit Istio {istio_minor} (tested with {pin.version} "
            f"{pin.channel}): " + "; ".join(problems))


def read_installed(api: KubeApi, names: Sequence[str] = REQUIRED_CRDS
                   ) -> dict[str, Mapping[str, Any] | None]:
    """The CRDs by name as the API server returns them (None for each that is absent)."""
    return {name: api.get(CRD_API_VERSION, "CustomResourceDefinition", None, name)
            for name in names}


def _short(name: str) -> str:
    return name.split(".", 1)[0]


def _older(found: str, floor: str) -> bool:
    try:
        return Version(found.lstrip("v")) < Version(floor)
    except InvalidVersion:
        return True


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 16), b""):
            digest.update(chunk)
    return digest.hexdigest()
