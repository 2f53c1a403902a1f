"""Run settings for the e2e suite: pytest options first, then environment variables, then defaults.

Parsing is a pure function of (options, environment) so every rule is tested offline.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from egress_e2e.core.errors import ConfigError
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.fakes.placement import CLUSTER_PLACEMENTS, ClusterPlacement

LogEncoding = Literal["TEXT", "JSON"]


@dataclass(frozen=True)
class Option:
    """One setting: its pytest flag, its environment variable, and what it means."""

    dest: str
    flag: str
    env: str
    help: str
    kind: Literal["str", "bool", "float", "path"] = "str"
    choices: tuple[str, ...] = ()


OPTIONS: tuple[Option, ...] = (
    Option("istio_version", "--istio-version", "EGRESS_E2E_ISTIO_VERSION",
           "Istio version to install or expect (default: newest in versions.toml)"),
    Option("cluster_name", "--cluster-name", "EGRESS_E2E_CLUSTER_NAME",
           "kind cluster name (default: egress-e2e-<istio minor>)"),
    Option("keep_cluster", "--keep-cluster", "EGRESS_E2E_KEEP_CLUSTER",
           "keep the kind cluster after the run", kind="bool"),
    Option("reuse_cluster", "--reuse-cluster", "EGRESS_E2E_REUSE_CLUSTER",
           "reuse a cluster of that name if it exists, and keep it", kind="bool"),
    Option("existing_kubeconfig", "--existing-kubeconfig", "EGRESS_E2E_EXISTING_KUBECONFIG",
           "run against this cluster (Istio already installed): no kind, no istioctl install",
           kind="path"),
    Option("artifacts_dir", "--artifacts-dir", "EGRESS_E2E_ARTIFACTS_DIR",
           "where reports, timings and diagnostics go (default: ./artifacts)", kind="path"),
    Option("timeout_scale", "--timeout-scale", "EGRESS_E2E_TIMEOUT_SCALE",
           "multiply every wait's timeout (slow laptops, busy CI)", kind="float"),
    Option("kind_bin", "--kind-bin", "EGRESS_E2E_KIND_BIN",
           "use this kind binary instead of downloading the pinned one", kind="path"),
    Option("istioctl_bin", "--istioctl-bin", "EGRESS_E2E_ISTIOCTL_BIN",
           "use this istioctl binary instead of downloading the pinned one", kind="path"),
    Option("access_log_encoding", "--access-log-encoding", "EGRESS_E2E_ACCESS_LOG_ENCODING",
           "Istio access-log encoding", choices=("TEXT", "JSON")),
    Option("fakes", "--fakes", "EGRESS_E2E_FAKES",
           "where the fake internet runs (default: containers on the kind network; in-cluster "
           "with --existing-kubeconfig)", choices=CLUSTER_PLACEMENTS),
    Option("preload_images", "--preload-images", "EGRESS_E2E_PRELOAD_IMAGES",
           "docker save --platform + kind load the images a run needs before installing "
           "(Docker >= 28)", kind="bool"),
    Option("upgrade_from", "--upgrade-from", "EGRESS_E2E_UPGRADE_FROM",
           "an upgrade run: install this Istio version first, check every scenario, upgrade to "
           "--istio-version and check again (before / skew / after)"),
    Option("upgrade_method", "--upgrade-method", "EGRESS_E2E_UPGRADE_METHOD",
           "how an upgrade run upgrades (default: in-place)", choices=("in-place", "revision")),
    Option("data_plane", "--data-plane", "EGRESS_E2E_DATA_PLANE",
           "sidecar (default) or ambient: Istio's ambient profile (ztunnel, istio-cni) on a "
           "cluster of its own; scenarios for the other data plane are skipped",
           choices=("sidecar", "ambient")),
)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass(frozen=True)
class Settings:
    istio_version: str | None = None
    cluster_name: str | None = None
    keep_cluster: bool = False
    reuse_cluster: bool = False
    existing_kubeconfig: Path | None = None
    artifacts_dir: Path = field(default_factory=lambda: Path("artifacts"))
    timeout_scale: float = 1.0
    kind_bin: Path | None = None
    istioctl_bin: Path | None = None
    access_log_encoding: LogEncoding = "TEXT"
    fakes: ClusterPlacement = "containers"
    preload_images: bool = False
    upgrade_from: str | None = None
    upgrade_method: str = "in-place"
    data_plane: str = "sidecar"

    @property
    def timeouts(self) -> Timeouts:
        """Every wait's budget, scaled once by --timeout-scale."""
        return Timeouts().scaled(self.timeout_scale)

    @property
    def uses_kind(self) -> bool:
        return self.existing_kubeconfig is None

    @property
    def deletes_cluster(self) -> bool:
        """A cluster we created is deleted at the end unless asked to keep or reuse it. An
        upgrade run's cluster is never reused, so only --keep-cluster keeps it."""
        if self.upgrade_from:
            return self.uses_kind and not self.keep_cluster
        return self.uses_kind and not (self.keep_cluster or self.reuse_cluster)


def resolve(options: Mapping[str, object], environ: Mapping[str, str] | None = None) -> Settings:
    """Combine pytest option values (None or False when not given) with the environment."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for opt in OPTIONS:
        given = options.get(opt.dest)
        if given is not None and given is not False:
            raw: object = given
            source = opt.flag
        elif opt.env in env:
            raw = env[opt.env]
            source = opt.env
        else:
            continue
        values[opt.dest] = _convert(opt, raw, source)
    if "existing_kubeconfig" in values and "fakes" not in values:
        # No kind network to put containers on: the fakes run as pods in that cluster.
        values["fakes"] = "in-cluster"
    settings = Settings(**values)  # type: ignore[arg-type]  # keys and types follow OPTIONS
    _validate(settings)
    return settings


def _convert(opt: Option, raw: object, source: str) -> object:
    if opt.kind == "bool":
        return _to_bool(raw, source)
    if opt.kind == "float":
        try:
            return float(str(raw))
        except ValueError as exc:
            raise ConfigError(f"{source}: expected a number, got {raw!r}") from exc
    if opt.kind == "path":
        return Path(str(raw)).expanduser()
    text = str(raw).strip()
    if not opt.choices:
        return text
    for choice in opt.choices:
        if choice.upper() == text.upper():
            return choice
    raise ConfigError(f"{source}: expected one of {', '.join(opt.choices)}, got {raw!r}")


def _to_bool(raw: object, source: str) -> bool:
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigError(f"{source}: expected 1/0/true/false, got {raw!r}")


def _validate(settings: Settings) -> None:
    if settings.timeout_scale <= 0:
        raise ConfigError(f"--timeout-scale must be > 0, got {settings.timeout_scale:g}")
    kubeconfig = settings.existing_kubeconfig
    if settings.upgrade_from and kubeconfig is not None:
        raise ConfigError("--upgrade-from installs both releases itself on a kind cluster of its "
                          "own; it cannot run with --existing-kubeconfig")
    if settings.upgrade_from and settings.istioctl_bin is not None:
        raise ConfigError("--upgrade-from needs the pinned istioctl of both releases; it cannot "
                          "run with --istioctl-bin")
    if settings.upgrade_from and settings.data_plane != "sidecar":
        raise ConfigError("--upgrade-from upgrades sidecar meshes only; it cannot run with "
                          "--data-plane ambient")
    if kubeconfig is not None and not kubeconfig.is_file():
        raise ConfigError(f"--existing-kubeconfig: no such file: {kubeconfig}")
    for name in ("kind_bin", "istioctl_bin"):
        path = getattr(settings, name)
        if path is not None and not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigError(f"--{name.replace('_', '-')}: not an executable file: {path}")
