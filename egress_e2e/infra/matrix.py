"""The nightly CI matrix: which Istio versions run, on which Kubernetes node image.

Everything here is a pure function of plain data (the versions file, read elsewhere), so the
rules are tested offline and the workflow only prints what ``egress-e2e matrix`` computes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

from packaging.version import Version

from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import upgrade
from egress_e2e.infra.versions import parse_version


@dataclass(frozen=True)
class IstioSupport:
    """One supported Istio release, as the versions file declares it."""

    version: str
    kubernetes_min: str
    kubernetes_max: str
    kubernetes: str     # the Kubernetes minor a new cluster for this release gets
    cluster: str        # the harness's default kind cluster name for it
    upgrade_only: bool = False  # an upgrade source only: no fresh-install job of its own


@dataclass(frozen=True)
class MatrixEntry:
    """One nightly job: the keys are what the workflow reads as ``matrix.<key>``."""

    name: str
    istio: str
    kubernetes: str
    node_image: str
    cluster: str
    kind: str  # the kind release, e.g. v0.33.0: names the cached binary the workflow calls
    # sidecar or ambient: the job's --data-plane (EGRESS_E2E_DATA_PLANE).
    data_plane: str = "sidecar"
    # This job's part of the version's catalog: pytest-split's --group (1-based) of --splits.
    shard: str = "1"
    shards: str = "1"


DATA_PLANES = ("sidecar", "ambient")


def minor_of(version: str) -> str:
    """``1.31.1`` -> ``1.31``; a minor given alone is returned as is."""
    parsed = parse_version(version)
    return f"{parsed.major}.{parsed.minor}"


def node_image(release: IstioSupport, node_images: Mapping[str, str]) -> str:
    """The pinned node image for the release's Kubernetes minor, checked against its range."""
    low, high = parse_version(release.kubernetes_min), parse_version(release.kubernetes_max)
    if not low <= parse_version(release.kubernetes) <= high:
        raise ConfigError(
            f"Istio {release.version} runs on Kubernetes {release.kubernetes}, outside its "
            f"supported {release.kubernetes_min}-{release.kubernetes_max}"
        )
    if release.kubernetes not in node_images:
        have = ", ".join(sorted(node_images, key=Version)) or "none"
        raise ConfigError(
            f"Istio {release.version} runs on Kubernetes {release.kubernetes}, but the versions "
            f"file pins node images only for: {have}"
        )
    return node_images[release.kubernetes]


def select(releases: Sequence[IstioSupport], wanted: str, default: str) -> list[IstioSupport]:
    """``all``, ``default``, an exact version, or a minor (``1.31``: every pinned 1.31.x that
    is not only an upgrade source); an exact version is taken even when it is one."""
    ordered = sorted(releases, key=lambda rel: parse_version(rel.version))
    text = wanted.strip()
    fresh = [rel for rel in ordered if not rel.upgrade_only]
    if text in ("", "all"):
        return fresh
    if text == "default":
        text = default
    exact = [rel for rel in ordered if rel.version == text.removeprefix("v")]
    if exact:
        return exact
    by_minor = [rel for rel in fresh if _is_minor(text) and minor_of(rel.version) == text]
    if by_minor:
        return by_minor
    known = ", ".join(rel.version for rel in ordered)
    raise ConfigError(f"unknown Istio version {wanted!r}; the versions file knows: {known}, all")


def build(
    releases: Sequence[IstioSupport],
    node_images: Mapping[str, str],
    *,
    wanted: str = "all",
    default: str,
    kind_version: str,
    data_planes: Sequence[str] = ("sidecar",),
    shards: int = 1,
) -> list[MatrixEntry]:
    """The matrix entries for ``wanted``, oldest Istio first: per release, one job per data
    plane (sidecar before ambient), each split into ``shards`` jobs of its catalog."""
    if not releases:
        raise ConfigError("the versions file lists no Istio releases")
    unknown = [plane for plane in data_planes if plane not in DATA_PLANES]
    if unknown or not data_planes:
        raise ConfigError(f"data planes must be some of {', '.join(DATA_PLANES)}, got "
                          f"{', '.join(data_planes) or 'none'}")
    if shards < 1:
        raise ConfigError(f"shards must be at least 1, got {shards}")
    planes = [plane for plane in DATA_PLANES if plane in data_planes]
    entries = []
    for release in select(releases, wanted, default):
        image = node_image(release, node_images)
        for plane in planes:
            # Ambient runs on a cluster of its own (session/environment.py names it so).
            ambient = plane == "ambient"
            stem = (f"istio-{release.version}{'-ambient' if ambient else ''}"
                    f"-k8s-{release.kubernetes}")
            for group in range(1, shards + 1):
                part = f"-shard-{group}-of-{shards}" if shards > 1 else ""
                entries.append(MatrixEntry(
                    name=stem + part,
                    istio=release.version,
                    kubernetes=release.kubernetes,
                    node_image=image,
                    cluster=f"{release.cluster}-ambient" if ambient else release.cluster,
                    kind=kind_version,
                    data_plane=plane,
                    shard=str(group),
                    shards=str(shards),
                ))
    return entries


@dataclass(frozen=True)
class UpgradeEntry:
    """One nightly upgrade job: install ``upgrade_from``, upgrade to ``istio`` by ``method``."""

    name: str
    upgrade_from: str
    istio: str
    method: str
    kubernetes: str
    node_image: str
    cluster: str
    kind: str


def build_upgrades(
    releases: Sequence[IstioSupport],
    node_images: Mapping[str, str],
    pairs: Sequence[tuple[str, str]],
    methods: Sequence[str],
    *,
    kind_version: str,
) -> list[UpgradeEntry]:
    """One job per upgrade pair and method, on a node image both releases support (the
    target's, checked against the source's range)."""
    by_version = {rel.version: rel for rel in releases}
    entries = []
    for source_version, target_version in pairs:
        source, target = by_version[source_version], by_version[target_version]
        image = node_image(target, node_images)
        if not (parse_version(source.kubernetes_min) <= parse_version(target.kubernetes)
                <= parse_version(source.kubernetes_max)):
            raise ConfigError(
                f"upgrade {source.version} -> {target.version}: Kubernetes {target.kubernetes} "
                f"is outside {source.version}'s {source.kubernetes_min}-{source.kubernetes_max}"
            )
        for method in methods:
            name = f"upgrade-{source.version}-to-{target.version}-{method}"
            entries.append(UpgradeEntry(
                name, source.version, target.version, method, target.kubernetes, image,
                upgrade.cluster_name(source.version, target.version, method), kind_version))
    return entries


def as_github_matrix(entries: Sequence[MatrixEntry] | Sequence[UpgradeEntry]
                     ) -> dict[str, list[dict[str, str]]]:
    """The shape ``strategy.matrix: ${{ fromJSON(...) }}`` expects."""
    return {"include": [asdict(entry) for entry in entries]}


def _is_minor(text: str) -> bool:
    parts = text.split(".")
    return len(parts) == 2 and all(part.isdigit() for part in parts)


@dataclass(frozen=True)
class NewerRelease:
    """A published Istio release newer than what the versions file pins for its minor."""

    minor: str
    latest: str
    pinned: str | None  # None: a whole minor the versions file does not know yet

    def __str__(self) -> str:
        if self.pinned is None:
            return f"Istio {self.minor}: {self.latest} is out and not pinned (a new minor)"
        return f"Istio {self.minor}: {self.latest} is out; pinned {self.pinned}"


def newer_releases(pinned: Sequence[str], published: Sequence[str]) -> list[NewerRelease]:
    """Newer patches of pinned minors, and newer minors than the newest pinned one.

    Pre-releases (alpha, beta, rc) are ignored: the nightly pins what users upgrade to.
    Minors older than the newest pinned one that are not pinned are dropped on purpose.
    """
    newest_pinned: dict[str, Version] = {}
    for text in pinned:
        version = parse_version(text)
        key = minor_of(text)
        newest_pinned[key] = max(version, newest_pinned.get(key, version))
    newest_published: dict[str, Version] = {}
    for text in published:
        try:
            version = parse_version(text.removeprefix("v"))
        except ConfigError:
            continue  # tags that are not versions (old "latest", test tags)
        if version.is_prerelease or version.is_devrelease:
            continue
        key = f"{version.major}.{version.minor}"
        newest_published[key] = max(version, newest_published.get(key, version))
    top = max((Version(key) for key in newest_pinned), default=Version("0"))
    found = []
    for key in sorted(newest_published, key=Version):
        latest = newest_published[key]
        have = newest_pinned.get(key)
        if have is not None and latest > have:
            found.append(NewerRelease(key, str(latest), str(have)))
        elif have is None and Version(key) > top:
            found.append(NewerRelease(key, str(latest), None))
    return found
