"""``egress-e2e clean``: delete the kind clusters this harness created, the containers it
labelled and the private key directories of runs that are no longer alive; with
``--kubeconfig``, also what dead runs left on a cluster of your own (their namespaces, and the
CoreDNS block that sends the seeds' host names to the fakes). Clusters it did not create are
never deleted, whatever their name."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from egress_e2e.core import labels, paths, proc
from egress_e2e.core.errors import ClusterError, DockerUnavailable
from egress_e2e.infra import cluster, docker, tools, versions


def list_containers_argv(label: str = labels.HARNESS_LABEL,
                         value: str = labels.HARNESS_LABEL_VALUE) -> list[str]:
    # Each line: the container id and the run it belongs to.
    return ["docker", "ps", "--all", "--filter", f"label={label}={value}", "--format",
            f'{{{{.ID}}}} {{{{.Label "{labels.RUN_LABEL}"}}}}']


def dead_containers(listing: str, live_runs: set[str]) -> list[str]:
    """The ids of containers whose run is not alive on this machine."""
    rows = [line.split() for line in listing.splitlines() if line.strip()]
    return [row[0] for row in rows if len(row) < 2 or row[1] not in live_runs]


def remove_containers_argv(ids: Sequence[str]) -> list[str]:
    return ["docker", "rm", "--force", "--volumes", *ids]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = sub.add_parser("clean", help="delete the clusters and containers egress-e2e created")
    parser.add_argument("--kind-bin", type=Path, help="use this kind instead of the pinned one")
    parser.add_argument("--kubeconfig", type=Path, metavar="PATH",
                        help="also remove what dead runs left on this (existing) cluster: "
                             "their namespaces and the CoreDNS block")
    parser.set_defaults(func=run)


def clean_existing(kubeconfig: Path) -> None:
    """What killed sessions left on a cluster of the user's: refused while a session of this
    machine runs on it (it would lose its fakes and DNS mid-run)."""
    from egress_e2e.infra.kube import KubeClient
    from egress_e2e.session import dnsedit, leftovers, locks

    server = locks.server_of(kubeconfig)
    with locks.holding(locks.cluster_lock_path(paths.state_dir(), f"server:{server}"),
                       f"the cluster at {server}"):
        for line in leftovers.sweep_dead_runs(kubeconfig):
            print(line)
        removed = dnsedit.undo(KubeClient(kubeconfig))
        print("removed the fake-internet block from CoreDNS's Corefile" if removed
              else "CoreDNS's Corefile has no fake-internet block")


def run(args: argparse.Namespace) -> int:
    from egress_e2e.session import locks

    for path in locks.remove_dead_private_dirs():
        print(f"removed {path} (keys of a run that is no longer alive)")
    if args.kubeconfig is not None:
        clean_existing(args.kubeconfig)
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
            try:
                # A session running on it keeps it: clean waits for nobody, it skips.
                with locks.holding(locks.cluster_lock_path(paths.state_dir(), f"kind:{name}"),
                                   f"kind cluster {name}"):
                    _forget_or_delete(clusters, state, name, existing)
            except ClusterError as exc:
                print(f"kept kind cluster {name}: {exc}")
    listing = proc.run(list_containers_argv(), timeout=60.0).stdout
    ids = dead_containers(listing, locks.live_run_ids())
    if ids:
        proc.run(remove_containers_argv(ids), timeout=120.0)
        print(f"removed {len(ids)} container(s) labelled {labels.HARNESS_LABEL}")
    if not ours and not ids:
        print("egress-e2e clean: nothing to clean")
    return 0


def _forget_or_delete(clusters: cluster.KindClusters, state: cluster.ClusterState, name: str,
                      existing: set[str]) -> None:
    if name in existing:
        clusters.delete(name)
        print(f"deleted kind cluster {name}")
    else:
        state.remove(name)
        print(f"kind cluster {name} was already gone; forgot it")
