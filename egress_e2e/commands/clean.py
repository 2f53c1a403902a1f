"""``egress-e2e clean``: delete the kind clusters this harness created and the containers it
labelled. Clusters it did not create are never touched, whatever their name."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from egress_e2e.core import labels, paths, proc
from egress_e2e.core.errors import DockerUnavailable
from egress_e2e.infra import cluster, docker, tools, versions


def list_containers_argv(label: str = labels.HARNESS_LABEL,
                         value: str = labels.HARNESS_LABEL_VALUE) -> list[str]:
    return ["docker", "ps", "--all", "--quiet", "--filter", f"label={label}={value}"]


def remove_containers_argv(ids: Sequence[str]) -> list[str]:
    return ["docker", "rm", "--force", "--volumes", *ids]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("clean", help="delete the clusters and containers egress-e2e created")
    parser.add_argument("--kind-bin", type=Path, help="use this kind instead of the pinned one")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    state = cluster.ClusterState(paths.state_dir())
    ours = sorted(state.ours())
    try:
        # The engine kind created the clusters on; exported so kind and docker below use it.
        docker.use_engine(docker.find_engine())
    except DockerUnavailable as exc:
        if ours:
            raise DockerUnavailable(
                f"{exc} Cannot delete clusters {', '.join(ours)} recorded in {state.path}"
            ) from exc
        print("egress-e2e clean: nothing recorded and no Docker engine; nothing to clean")
        return 0
    if ours:
        kind = tools.kind_binary(versions.load(), explicit=args.kind_bin)
        clusters = cluster.KindClusters(kind, state)
        existing = clusters.existing()
        for name in ours:
            if name in existing:
                clusters.delete(name)
                print(f"deleted kind cluster {name}")
            else:
                state.remove(name)
                print(f"kind cluster {name} was already gone; forgot it")
    ids = proc.run(list_containers_argv(), timeout=60.0).stdout.split()
    if ids:
        proc.run(remove_containers_argv(ids), timeout=120.0)
        print(f"removed {len(ids)} container(s) labelled {labels.HARNESS_LABEL}")
    if not ours and not ids:
        print("egress-e2e clean: nothing to clean")
    return 0
