"""``egress-e2e tools fetch|pin|where``: the pinned kind and istioctl, on demand."""

from __future__ import annotations

import argparse
import tomllib
from pathlib import Path

from egress_e2e.core import paths
from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import cluster, tools, versions


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("tools", help="download, pin and locate kind and istioctl")
    actions = parser.add_subparsers(dest="tools_command", required=True, metavar="ACTION")

    fetch = actions.add_parser("fetch", help="download and verify kind and istioctl")
    fetch.add_argument("--istio-version", help="istioctl for this release (default: newest)")
    fetch.add_argument("--all", action="store_true", help="istioctl for every listed release")
    fetch.add_argument("--kind-bin", type=Path, help="use this kind instead of downloading")
    fetch.add_argument("--istioctl-bin", type=Path, help="use this istioctl instead")
    fetch.set_defaults(func=run_fetch)

    pin = actions.add_parser("pin", help="write checksums recorded in the local lock into "
                                         "versions.toml (only empty fields)")
    pin.add_argument("--versions", type=Path, help="versions file (default: the repo's)")
    pin.set_defaults(func=run_pin)

    where = actions.add_parser("where", help="print the cache, lock and state locations")
    where.set_defaults(func=run_where)


def run_fetch(args: argparse.Namespace) -> int:
    known = versions.load()
    releases = ([known.releases[v] for v in known.known_istio] if args.all
                else [known.istio(args.istio_version)])
    kind = tools.kind_binary(known, explicit=args.kind_bin)
    print(f"kind {known.kind.version}: {kind}")
    for release in releases:
        istioctl = tools.istioctl_binary(release, explicit=args.istioctl_bin)
        print(f"istioctl {release.version}: {istioctl}")
    return 0


def run_pin(args: argparse.Namespace) -> int:
    known = versions.load(args.versions)
    cache = tools.Cache.from_env()
    entries = tools.read_lock(cache.lock_path)
    if not entries:
        print(f"nothing to pin: no checksums recorded in {cache.lock_path}")
        return 0
    text, changes = tools.apply_pins(known.path.read_text(), entries, known)
    if any(change.status == "pinned" for change in changes):
        # Check the edited text parses to the same structure before replacing the file.
        versions.parse(tomllib.loads(text), known.path)
        known.path.write_text(text)
    for change in changes:
        print(f"[{change.table}] {change.key}: {change.status} ({change.sha256})")
    return 0


def run_where(args: argparse.Namespace) -> int:
    del args
    cache = tools.Cache.from_env()
    state = cluster.ClusterState(paths.state_dir())
    print(f"cache:  {cache.root}")
    print(f"bin:    {cache.bin_dir}")
    print(f"lock:   {cache.lock_path}")
    print(f"state:  {state.path}")
    known = versions.load()
    try:
        platform = versions.detect_platform()
    except ConfigError as exc:  # an unsupported host still gets the locations above
        print(f"platform: {exc}")
        return 0
    assets = [tools.kind_asset(known.kind, platform)] + [
        tools.istioctl_asset(known.releases[v], platform) for v in known.known_istio]
    for asset in assets:
        path = cache.binary_path(asset)
        pinned = "pinned" if asset.pinned_sha256 else "not pinned"
        present = "present" if path.exists() else "not downloaded"
        print(f"{asset.tool} {asset.version} ({pinned}): {path} [{present}]")
    return 0
