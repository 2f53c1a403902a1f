"""``egress-e2e matrix``: the nightly CI matrix as JSON, from versions.toml.
``egress-e2e versions [--check-latest]``: the pinned versions, and (with network) newer Istio
releases than the pinned ones.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from egress_e2e.core.errors import DownloadError
from egress_e2e.infra import matrix
from egress_e2e.infra.versions import parse_version

# GitHub's release list for Istio; one page of 100 reaches back well over a year of patches.
RELEASES_URL = "https://api.github.com/repos/istio/istio/releases?per_page=100"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser(
        "matrix", help="print the nightly CI matrix (JSON) built from versions.toml"
    )
    parser.add_argument(
        "--istio", default="all", metavar="VERSION",
        help="all (default), default, an exact version (1.31.1) or a minor (1.31)",
    )
    parser.add_argument("--versions-file", type=Path, default=None,
                        help="versions file (default: the repo's versions.toml)")
    parser.add_argument("--data-plane", default="all", choices=("all", *matrix.DATA_PLANES),
                        help="the data planes to run each version on (default: all: sidecar "
                             "and ambient jobs)")
    parser.add_argument("--shards", type=int, default=1, metavar="N",
                        help="split each job's catalog over N jobs (pytest-split --splits N "
                             "--group i; default 1)")
    parser.add_argument("--upgrades", action="store_true",
                        help="print the upgrade jobs instead: into each minor's newest patch "
                             "from the previous minor's and from the previous patch, by "
                             "each upgrade method")
    parser.set_defaults(func=run_matrix)

    versions = sub.add_parser(
        "versions", help="list pinned versions; --check-latest asks GitHub for newer Istio"
    )
    versions.add_argument("--versions-file", type=Path, default=None)
    versions.add_argument("--check-latest", action="store_true",
                          help="report newer Istio patches or minors than the pinned ones "
                               "(needs network; exit 1 when there are any)")
    versions.add_argument("--releases-url", default=RELEASES_URL, help=argparse.SUPPRESS)
    versions.add_argument("--timeout", type=float, default=15.0, help=argparse.SUPPRESS)
    versions.set_defaults(func=run_versions)


@dataclass(frozen=True)
class Support:
    """The versions file as the plain data ``matrix.build`` takes."""

    releases: list[matrix.IstioSupport]
    node_images: dict[str, str]
    default: str
    kind_version: str


def load_support(path: Path | None) -> Support:
    from egress_e2e.infra import cluster, versions

    loaded = versions.load(path)
    releases = [
        matrix.IstioSupport(
            version=rel.version,
            kubernetes_min=rel.kubernetes_min,
            kubernetes_max=rel.kubernetes_max,
            kubernetes=rel.kubernetes,
            cluster=cluster.default_cluster_name(rel),
            upgrade_only=rel.upgrade_only,
        )
        for rel in loaded.releases.values()
    ]
    return Support(releases, dict(loaded.kind.node_images), loaded.default_istio,
                   loaded.kind.version)


def run_matrix(args: argparse.Namespace) -> int:
    support = load_support(args.versions_file)
    if args.upgrades:
        from egress_e2e.infra import upgrade

        pairs = upgrade.upgrade_pairs([rel.version for rel in support.releases])
        jobs = matrix.build_upgrades(support.releases, support.node_images, pairs,
                                     [method.value for method in upgrade.UpgradeMethod],
                                     kind_version=support.kind_version)
        print(json.dumps(matrix.as_github_matrix(jobs), separators=(",", ":")))
        return 0
    planes = matrix.DATA_PLANES if args.data_plane == "all" else (args.data_plane,)
    entries = matrix.build(support.releases, support.node_images, wanted=args.istio,
                           default=support.default, kind_version=support.kind_version,
                           data_planes=planes, shards=args.shards)
    # One line: the workflow writes it straight into $GITHUB_OUTPUT.
    print(json.dumps(matrix.as_github_matrix(entries), separators=(",", ":")))
    return 0


def run_versions(args: argparse.Namespace) -> int:
    support = load_support(args.versions_file)
    releases = support.releases
    if not args.check_latest:
        print(f"kind {support.kind_version}")
        for rel in sorted(releases, key=lambda r: parse_version(r.version)):
            mark = " (default)" if rel.version == support.default else ""
            image = support.node_images.get(rel.kubernetes, "?")
            print(f"istio {rel.version}{mark}: Kubernetes {rel.kubernetes_min}-"
                  f"{rel.kubernetes_max}, runs on {image}")
        return 0
    published = fetch_published(args.releases_url, args.timeout)
    newer = matrix.newer_releases([rel.version for rel in releases], published)
    if not newer:
        print(f"Istio pins are current ({', '.join(r.version for r in releases)})")
        return 0
    for finding in newer:
        print(finding)
    print("add the release to versions.toml ([istio.releases]) and run 'make pin'")
    return 1


def fetch_published(url: str, timeout: float) -> list[str]:
    """Tag names of published, non-draft releases; one-line DownloadError when unreachable."""
    import httpx

    try:
        response = httpx.get(url, timeout=timeout, follow_redirects=True,
                             headers={"Accept": "application/vnd.github+json"})
    except httpx.HTTPError as exc:
        raise DownloadError(
            f"cannot check for newer Istio releases: {url} unreachable "
            f"({type(exc).__name__}: {exc or 'no detail'})"
        ) from exc
    if response.status_code != 200:
        raise DownloadError(
            f"cannot check for newer Istio releases: {url} answered HTTP {response.status_code}, "
            "expected 200"
        )
    try:
        payload = response.json()
    except ValueError as exc:
        raise DownloadError(f"cannot check for newer Istio releases: {url} sent no JSON") from exc
    if not isinstance(payload, list):
        raise DownloadError(
            f"cannot check for newer Istio releases: {url} sent a {type(payload).__name__}, "
            "expected a list of releases"
        )
    return [
        str(item["tag_name"])
        for item in payload
        if isinstance(item, dict) and "tag_name" in item
        and not item.get("draft") and not item.get("prerelease")
    ]
