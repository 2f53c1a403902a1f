"""``versions.toml``: the kind release, its node images, and the Istio releases we support, each
with the sha256 of its downloads. Loaded once into frozen dataclasses and checked on the way in,
so a typo in the file fails in one line naming the key, not later in a download.
"""

from __future__ import annotations

import os
import platform as _platform
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from egress_e2e.core.errors import ConfigError
from egress_e2e.core.paths import REPO_ROOT

DEFAULT_PATH = REPO_ROOT / "versions.toml"
PATH_ENV = "EGRESS_E2E_VERSIONS"

# The platforms we download tools for; anything else brings its own --kind-bin/--istioctl-bin.
PLATFORMS: tuple[str, ...] = ("linux-amd64", "linux-arm64", "darwin-arm64")

_SHA256 = re.compile(r"[0-9a-f]{64}")
_MINOR = re.compile(r"(\d+)\.(\d+)")
_ISTIO_VERSION = re.compile(r"\d+\.\d+\.\d+")
_NODE_IMAGE = re.compile(r"kindest/node:v(\d+\.\d+)\.\d+@sha256:[0-9a-f]{64}")


def parse_version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion as exc:
        raise ConfigError(f"not an Istio version: {text!r}") from exc


@dataclass(frozen=True)
class Platform:
    os: str      # linux | darwin
    arch: str    # amd64 | arm64

    @property
    def key(self) -> str:
        return f"{self.os}-{self.arch}"

    def __str__(self) -> str:
        return self.key


_ARCH_ALIASES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


def detect_platform(system: str | None = None, machine: str | None = None) -> Platform:
    """This host as a download platform; ConfigError when we publish no pins for it."""
    os_name = (system or _platform.system()).lower()
    raw_arch = (machine or _platform.machine()).lower()
    found = Platform(os_name, _ARCH_ALIASES.get(raw_arch, raw_arch))
    if found.key not in PLATFORMS:
        raise ConfigError(
            f"no tool downloads for platform {found.key}; supported: {', '.join(PLATFORMS)}; "
            "pass --kind-bin and --istioctl-bin (or EGRESS_E2E_KIND_BIN / EGRESS_E2E_ISTIOCTL_BIN)"
        )
    return found


@dataclass(frozen=True)
class KindRelease:
    version: str                            # "v0.33.0", as in the release URL
    sha256: Mapping[str, str]               # platform key -> hex, "" when not pinned
    node_images: Mapping[str, str]          # Kubernetes minor "1.37" -> image@digest

    def node_image(self, kubernetes_minor: str) -> str:
        try:
            return self.node_images[kubernetes_minor]
        except KeyError:
            known = ", ".join(sorted(self.node_images, key=_minor_key))
            raise ConfigError(
                f"kind {self.version} has no node image for Kubernetes {kubernetes_minor} in "
                f"versions.toml; known: {known}"
            ) from None


@dataclass(frozen=True)
class IstioRelease:
    version: str                            # "1.31.1"
    kubernetes_min: str
    kubernetes_max: str
    kubernetes: str                         # the minor a new cluster gets
    sha256: Mapping[str, str]               # platform key -> hex of istioctl-*.tar.gz
    images: tuple[str, ...]
    # The nightly installs it only as the source of an upgrade, runs no fresh job for it.
    upgrade_only: bool = False

    @property
    def minor(self) -> str:
        major, minor, _ = self.version.split(".")
        return f"{major}.{minor}"

    def supports_kubernetes(self, minor: str) -> bool:
        return (_minor_key(self.kubernetes_min) <= _minor_key(minor)
                <= _minor_key(self.kubernetes_max))


@dataclass(frozen=True)
class GatewayApiPin:
    """The Gateway API CRDs one Istio minor is tested with: a release tag, a channel, and the
    sha256 of each CRD file of ``config/crd/<channel>/`` at that tag, by file name."""

    version: str                            # "v1.6.0", the tag
    channel: str                            # "experimental" | "standard"
    sha256: Mapping[str, str]               # "gateway.networking.k8s.io_gateways.yaml" -> hex

    def path(self, filename: str) -> str:
        """The file's path in the gateway-api repository at the tag."""
        return f"config/crd/{self.channel}/{filename}"


@dataclass(frozen=True)
class Versions:
    path: Path
    kind: KindRelease
    releases: Mapping[str, IstioRelease]
    default_istio: str
    # Container images the harness itself runs (clients, fakes), by role: tag and digest.
    images: Mapping[str, str]
    # Gateway API CRDs per Istio minor ("1.31"), from [gateway_api."<minor>"].
    gateway_api: Mapping[str, GatewayApiPin] = field(default_factory=dict)

    def gateway_api_for(self, istio_version: str) -> GatewayApiPin:
        """The Gateway API CRDs pinned for this Istio release (a version or a minor)."""
        match = _MINOR.match(istio_version.strip())
        minor = f"{match.group(1)}.{match.group(2)}" if match else istio_version
        try:
            return self.gateway_api[minor]
        except KeyError:
            known = ", ".join(sorted(self.gateway_api, key=_minor_key)) or "none"
            raise ConfigError(f"{self.path.name}: no [gateway_api.{minor!r}] for Istio "
                              f"{istio_version} (pinned minors: {known})") from None

    def image(self, role: str) -> str:
        try:
            return self.images[role]
        except KeyError:
            raise ConfigError(f"{self.path.name}: [images] has no {role!r} "
                              f"(known: {', '.join(sorted(self.images))})") from None

    @property
    def known_istio(self) -> tuple[str, ...]:
        return tuple(sorted(self.releases, key=_version_key))

    def istio(self, version: str | None = None) -> IstioRelease:
        """The release for ``version`` (a full version or a minor such as ``1.30``), the default
        when None. Unknown versions fail in one line listing what we know."""
        wanted = (version or "").strip() or self.default_istio
        if wanted in self.releases:
            return self.releases[wanted]
        same_minor = [v for v in self.known_istio if v.rsplit(".", 1)[0] == wanted]
        if same_minor:
            return self.releases[same_minor[-1]]
        known = ", ".join(
            f"{v} (default)" if v == self.default_istio else v for v in self.known_istio
        )
        raise ConfigError(
            f"unknown Istio version {wanted!r}; known: {known} (see {self.path.name})"
        )

    def node_image_for(self, release: IstioRelease) -> str:
        return self.kind.node_image(release.kubernetes)


# Every image the harness runs itself; each must be pinned by digest.
HARNESS_IMAGE_ROLES = ("curl", "httpbin", "nginx", "envoy")
_PINNED_IMAGE = re.compile(r"[a-z0-9./_-]+:[A-Za-z0-9._-]+@sha256:[0-9a-f]{64}")


def load(path: Path | None = None) -> Versions:
    """Read and validate versions.toml (``path``, else $EGRESS_E2E_VERSIONS, else the repo's)."""
    where = path or Path(os.environ.get(PATH_ENV) or DEFAULT_PATH)
    try:
        data = tomllib.loads(where.read_text())
    except FileNotFoundError:
        raise ConfigError(f"versions file not found: {where}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from exc
    return parse(data, where)


def parse(data: Mapping[str, Any], where: Path) -> Versions:
    kind_table = _table(data, "kind", where)
    kind = KindRelease(
        version=_text(kind_table, "version", "kind", where),
        sha256=_checksums(_table(kind_table, "sha256", where, "kind"), "kind.sha256", where),
        node_images=_node_images(_table(kind_table, "node_images", where, "kind"), where),
    )
    if not re.fullmatch(r"v\d+\.\d+\.\d+", kind.version):
        raise ConfigError(f"{where}: kind.version must look like v0.33.0, got {kind.version!r}")
    istio_table = _table(data, "istio", where)
    default = _text(istio_table, "default", "istio", where)
    releases_table = _table(istio_table, "releases", where, "istio")
    releases = {
        version: _istio_release(version, body, kind, where)
        for version, body in releases_table.items()
    }
    if not releases:
        raise ConfigError(f"{where}: [istio.releases] lists no release")
    if default not in releases:
        raise ConfigError(
            f"{where}: istio.default {default!r} is not one of {', '.join(sorted(releases))}"
        )
    if releases[default].upgrade_only:
        raise ConfigError(f"{where}: istio.default {default!r} is marked upgrade_only")
    return Versions(where, kind, releases, default, _harness_images(data, where),
                    _gateway_api(data, where))


# Gateway API CRD file names: gateway.networking.k8s.io_<plural>.yaml (and the x-k8s.io group's).
_CRD_FILE = re.compile(r"gateway\.networking\.(x-)?k8s\.io_[a-z]+\.yaml")
GATEWAY_API_CHANNELS = ("experimental", "standard")


def _gateway_api(data: Mapping[str, Any], where: Path) -> dict[str, GatewayApiPin]:
    """[gateway_api."<minor>"]: optional as a whole (older files have none); each table must be
    complete. A missing pin for the Istio under test fails when a run asks for it."""
    table = data.get("gateway_api", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [gateway_api] must be a table of Istio minors")
    pins: dict[str, GatewayApiPin] = {}
    for minor, body in table.items():
        name = f"gateway_api.{minor!r}"
        if not _MINOR.fullmatch(minor):
            raise ConfigError(f"{where}: [{name}]: not an Istio minor (want 1.31)")
        if not isinstance(body, dict):
            raise ConfigError(f"{where}: [{name}] must be a table")
        version = _text(body, "version", name, where)
        if not re.fullmatch(r"v\d+\.\d+\.\d+", version):
            raise ConfigError(f"{where}: {name}.version must look like v1.6.0, got {version!r}")
        channel = _text(body, "channel", name, where)
        if channel not in GATEWAY_API_CHANNELS:
            raise ConfigError(f"{where}: {name}.channel must be one of "
                              f"{', '.join(GATEWAY_API_CHANNELS)}, got {channel!r}")
        files = _table(body, "sha256", where, name)
        if not files:
            raise ConfigError(f"{where}: [{name}.sha256] lists no CRD file")
        for filename, digest in files.items():
            if not _CRD_FILE.fullmatch(filename):
                raise ConfigError(f"{where}: {name}.sha256: {filename!r} is not a Gateway API "
                                  "CRD file name (gateway.networking.k8s.io_<plural>.yaml)")
            if not isinstance(digest, str) or not _SHA256.fullmatch(digest):
                raise ConfigError(f"{where}: {name}.sha256.{filename!r} must be 64 lowercase "
                                  f"hex digits, got {digest!r}")
        pins[minor] = GatewayApiPin(version, channel, dict(files))
    return pins


def _harness_images(data: Mapping[str, Any], where: Path) -> dict[str, str]:
    table = _table(data, "images", where)
    images: dict[str, str] = {}
    for role in HARNESS_IMAGE_ROLES:
        ref = _text(table, role, "images", where)
        if not _PINNED_IMAGE.fullmatch(ref):
            raise ConfigError(f"{where}: images.{role} must be <repo>:<tag>@sha256:<64 hex>, "
                              f"got {ref!r}")
        images[role] = ref
    return images


def _istio_release(version: str, body: Any, kind: KindRelease, where: Path) -> IstioRelease:
    name = f"istio.releases.{version!r}"
    if not _ISTIO_VERSION.fullmatch(version):
        raise ConfigError(f"{where}: {name}: not a release version (want 1.31.1)")
    if not isinstance(body, dict):
        raise ConfigError(f"{where}: {name} must be a table")
    release = IstioRelease(
        version=version,
        kubernetes_min=_minor(body, "kubernetes_min", name, where),
        kubernetes_max=_minor(body, "kubernetes_max", name, where),
        kubernetes=_minor(body, "kubernetes", name, where),
        sha256=_checksums(_table(body, "sha256", where, name), f"{name}.sha256", where),
        images=_images(body, name, where),
        upgrade_only=_flag(body, "upgrade_only", name, where),
    )
    if not release.supports_kubernetes(release.kubernetes):
        raise ConfigError(
            f"{where}: {name}.kubernetes {release.kubernetes} is outside "
            f"{release.kubernetes_min}-{release.kubernetes_max}"
        )
    if release.kubernetes not in kind.node_images:
        raise ConfigError(
            f"{where}: {name}.kubernetes {release.kubernetes} has no [kind.node_images] entry"
        )
    return release


def _table(data: Mapping[str, Any], key: str, where: Path, parent: str = "") -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        dotted = f"{parent}.{key}" if parent else key
        raise ConfigError(f"{where}: missing table [{dotted}]")
    return value


def _text(table: Mapping[str, Any], key: str, parent: str, where: Path) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where}: {parent}.{key} must be a non-empty string")
    return value


def _flag(table: Mapping[str, Any], key: str, parent: str, where: Path) -> bool:
    value = table.get(key, False)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: {parent}.{key} must be true or false, got {value!r}")
    return value


def _minor(table: Mapping[str, Any], key: str, parent: str, where: Path) -> str:
    value = _text(table, key, parent, where)
    if not _MINOR.fullmatch(value):
        raise ConfigError(f"{where}: {parent}.{key} must be a minor such as 1.37, got {value!r}")
    return value


def _checksums(table: Mapping[str, Any], name: str, where: Path) -> dict[str, str]:
    missing = [p for p in PLATFORMS if p not in table]
    extra = [p for p in table if p not in PLATFORMS]
    if missing or extra:
        raise ConfigError(
            f"{where}: [{name}] must have exactly {', '.join(PLATFORMS)}; "
            f"missing {missing or 'none'}, unknown {extra or 'none'}"
        )
    result: dict[str, str] = {}
    for key in PLATFORMS:
        value = table[key]
        if not isinstance(value, str) or (value and not _SHA256.fullmatch(value)):
            raise ConfigError(
                f"{where}: {name}.{key} must be \"\" or 64 lowercase hex digits, got {value!r}"
            )
        result[key] = value
    return result


def _node_images(table: Mapping[str, Any], where: Path) -> dict[str, str]:
    images: dict[str, str] = {}
    for minor, image in table.items():
        match = _NODE_IMAGE.fullmatch(image) if isinstance(image, str) else None
        if match is None or match.group(1) != minor:
            raise ConfigError(
                f"{where}: kind.node_images.{minor!r} must be kindest/node:v{minor}.<patch>"
                f"@sha256:<digest>, got {image!r}"
            )
        images[minor] = image
    if not images:
        raise ConfigError(f"{where}: [kind.node_images] lists no image")
    return images


def _images(body: Mapping[str, Any], name: str, where: Path) -> tuple[str, ...]:
    value = body.get("images", [])
    if not isinstance(value, list) or not all(isinstance(i, str) and i for i in value):
        raise ConfigError(f"{where}: {name}.images must be a list of image references")
    return tuple(value)


def _minor_key(minor: str) -> tuple[int, int]:
    major, _, rest = minor.partition(".")
    return int(major), int(rest)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))
