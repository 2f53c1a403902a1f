"""kind clusters: the exact commands, the create-or-reuse decision, and the record of which
clusters this harness created (the only ones it will ever delete).

The decisions are pure functions; ``KindClusters`` is the thin layer that runs kind through
``egress_e2e.core.proc.run``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from filelock import FileLock

from egress_e2e.core import proc
from egress_e2e.core.errors import (
    ClusterError,
    CommandFailed,
    ConfigError,
    EgressE2EError,
    WaitTimeout,
)
from egress_e2e.core.files import write_atomic
from egress_e2e.core.paths import REPO_ROOT
from egress_e2e.core.timeouts import DEFAULTS
from egress_e2e.core.waits import until
from egress_e2e.infra.tools import kubectl_path
from egress_e2e.infra.versions import IstioRelease

CLUSTERS_DIR = REPO_ROOT / "clusters"
DEFAULT_CONFIG = CLUSTERS_DIR / "kind-single-node.yaml"
DELETE_TIMEOUT = 300.0

# kind names become container names and DNS-ish host names: keep to a DNS label.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,48}[a-z0-9])?")



def default_cluster_name(release: IstioRelease) -> str:
    return f"egress-e2e-{release.minor.replace('.', '-')}"


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"cluster name {name!r}: use lowercase letters, digits and '-', at most 50 characters"
        )
    return name


# ---- argv builders: what the harness would type ----

def create_argv(kind: Path | str, name: str, *, image: str, config: Path, kubeconfig: Path,
                wait: str = "120s") -> list[str]:
    return [str(kind), "create", "cluster", "--name", name, "--image", image,
            "--config", str(config), "--kubeconfig", str(kubeconfig), "--wait", wait]


def get_clusters_argv(kind: Path | str) -> list[str]:
    return [str(kind), "get", "clusters"]


def get_kubeconfig_argv(kind: Path | str, name: str) -> list[str]:
    return [str(kind), "get", "kubeconfig", "--name", name]


def delete_argv(kind: Path | str, name: str, kubeconfig: Path | None = None) -> list[str]:
    argv = [str(kind), "delete", "cluster", "--name", name]
    if kubeconfig is not None:
        argv += ["--kubeconfig", str(kubeconfig)]
    return argv


def load_image_archive_argv(kind: Path | str, name: str, archive: Path) -> list[str]:
    return [str(kind), "load", "image-archive", str(archive), "--name", name]


# `kind load docker-image` fails for multi-arch images under the containerd image store; saving
# one platform to an archive and loading that works everywhere.
def docker_pull_argv(image: str, arch: str) -> list[str]:
    return ["docker", "pull", "--platform", f"linux/{arch}", image]


def docker_save_argv(image: str, arch: str, archive: Path) -> list[str]:
    return ["docker", "save", "--platform", f"linux/{arch}", "-o", str(archive), image]


def export_logs_argv(kind: Path | str, name: str, dest: Path) -> list[str]:
    return [str(kind), "export", "logs", str(dest), "--name", name]


# kind labels each node container with its cluster's name.
KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster"


def node_containers_argv(name: str) -> list[str]:
    return ["docker", "ps", "--all", "--filter", f"label={KIND_CLUSTER_LABEL}={name}",
            "--format", "{{.Names}} {{.State}}"]


def stopped_nodes(stdout: str) -> list[str]:
    """Node containers that are not running (after a reboot or a Docker restart)."""
    found = [line.split(maxsplit=1) for line in stdout.splitlines() if line.strip()]
    return [parts[0] for parts in found if len(parts) < 2 or parts[1].strip() != "running"]


def docker_start_argv(containers: Sequence[str]) -> list[str]:
    return ["docker", "start", *containers]


def get_nodes_argv(kubectl: Path | str, kubeconfig: Path) -> list[str]:
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "get", "nodes", "-o", "json",
            "--request-timeout", "20s"]


def nodes_not_ready(stdout: str) -> list[str]:
    """``name: why`` for each node whose Ready condition is not True; a list with one entry
    when there is no node at all. kind's ``--wait`` running out still exits 0, so the harness
    reads the node itself."""
    try:
        items = json.loads(stdout).get("items", [])
    except (json.JSONDecodeError, AttributeError):
        return [f"kubectl printed no node list: {stdout[:120]!r}"]
    if not items:
        return ["no nodes"]
    problems = []
    for node in items:
        name = node.get("metadata", {}).get("name", "?")
        ready = [c for c in node.get("status", {}).get("conditions", []) or []
                 if c.get("type") == "Ready"]
        if not ready or ready[0].get("status") != "True":
            reason = ready[0].get("reason", "unknown") if ready else "no Ready condition"
            problems.append(f"{name}: {reason}")
    return problems


def parse_cluster_list(stdout: str) -> set[str]:
    """Names from ``kind get clusters`` (it says 'No kind clusters found.' on stderr)."""
    return {line.strip() for line in stdout.splitlines()
            if line.strip() and not line.startswith("No kind clusters")}


def archive_name(image: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", image) + ".tar"


# ---- the record of clusters we created ----

@dataclass(frozen=True)
class ClusterRecord:
    name: str
    created_at: str
    istio_version: str
    node_image: str
    kubeconfig: str


@dataclass(frozen=True)
class ClusterState:
    """``clusters.json`` in the state directory: the clusters this harness created."""

    directory: Path

    @property
    def path(self) -> Path:
        return self.directory / "clusters.json"

    def kubeconfig_path(self, name: str) -> Path:
        return self.directory / f"kubeconfig-{name}"

    def records(self) -> dict[str, ClusterRecord]:
        try:
            raw = json.loads(self.path.read_text())
        except FileNotFoundError:
            return {}
        except json.JSONDecodeError as exc:
            raise ClusterError(f"{self.path}: not valid JSON ({exc})") from exc
        return {name: ClusterRecord(**body) for name, body in raw.get("clusters", {}).items()}

    def ours(self) -> set[str]:
        return set(self.records())

    def add(self, record: ClusterRecord) -> None:
        self._update(lambda records: {**records, record.name: record})

    def remove(self, name: str) -> None:
        self._update(lambda records: {k: v for k, v in records.items() if k != name})

    def _update(self, change: Callable[[dict[str, ClusterRecord]], dict[str, ClusterRecord]]
                ) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.path) + ".lock"):
            records = change(self.records())
            body = {"clusters": {k: asdict(v) for k, v in sorted(records.items())}}
            write_atomic(self.path, json.dumps(body, indent=2) + "\n")


# ---- decisions ----

class Action(StrEnum):
    CREATE = "create"
    REUSE = "reuse"
    RECREATE = "recreate"     # ours, left from an earlier run, and reuse was not asked for


@dataclass(frozen=True)
class ClusterPlan:
    action: Action
    name: str
    ours: bool
    reason: str


def plan_cluster(name: str, existing: Collection[str], ours: Collection[str],
                 reuse: bool) -> ClusterPlan:
    """Create, reuse or recreate ``name``. Never plans to delete a cluster we did not create."""
    mine = name in ours
    if name not in existing:
        return ClusterPlan(Action.CREATE, name, True, f"no kind cluster named {name}")
    if reuse:
        whose = "created by egress-e2e" if mine else "not created by egress-e2e; it will be kept"
        return ClusterPlan(Action.REUSE, name, mine, f"{name} exists ({whose})")
    if mine:
        return ClusterPlan(Action.RECREATE, name, True,
                           f"{name} is left from an earlier run and --reuse-cluster is off")
    raise ClusterError(
        f"a kind cluster named {name} exists and egress-e2e did not create it; pass "
        "--reuse-cluster to run on it, or --cluster-name to use another name"
    )


def may_delete(name: str, ours: Collection[str]) -> bool:
    return name in ours


def should_delete_after_run(name: str, ours: Collection[str], keep: bool) -> bool:
    """Tear down at the end only what we created, and only when not asked to keep it."""
    return not keep and may_delete(name, ours)


# ---- the thin executor ----

@dataclass(frozen=True)
class ReadyCluster:
    name: str
    kubeconfig: Path
    node_image: str
    created: bool
    ours: bool


class KindClusters:
    def __init__(self, kind: Path, state: ClusterState, run: proc.Runner = proc.run, *,
                 kubectl: Path | None = None, logs_dir: Path | None = None) -> None:
        self.kind = kind
        self.state = state
        self._run = run
        self.kubectl = kubectl or kubectl_path()
        # Where `kind export logs` writes when a create fails (the evidence of why).
        self.logs_dir = logs_dir

    def existing(self) -> set[str]:
        done = self._run(get_clusters_argv(self.kind), timeout=60.0)
        return parse_cluster_list(done.stdout)

    def ensure(self, name: str, release: IstioRelease, node_image: str, *, reuse: bool,
               config: Path = DEFAULT_CONFIG, timeout: float = DEFAULTS.cluster,
               revive_timeout: float = DEFAULTS.revive,
               interval: float = DEFAULTS.interval) -> ReadyCluster:
        plan = plan_cluster(check_name(name), self.existing(), self.state.ours(), reuse)
        kubeconfig = self.state.kubeconfig_path(name)
        if plan.action is Action.REUSE:
            # A short budget: an unhealthy cluster of ours is rebuilt rather than waited on.
            problems = self.revive(name, kubeconfig, timeout=min(timeout, revive_timeout),
                                   interval=interval)
            if not problems:
                return ReadyCluster(name, kubeconfig, node_image, created=False, ours=plan.ours)
            if not plan.ours:
                raise ClusterError(f"kind cluster {name} is not healthy ({'; '.join(problems)})"
                                   " and egress-e2e did not create it, so it will not rebuild "
                                   "it; fix it or pass --cluster-name to use another name")
        if plan.action is not Action.CREATE:
            # Left from an earlier run, or reused but unhealthy: ours, so rebuilt.
            self.delete(name)
        self.state.directory.mkdir(parents=True, exist_ok=True)
        # Recorded before kind runs: a create that fails half way still leaves a container we
        # made, and `clean` must be allowed to remove it.
        self.state.add(ClusterRecord(name, datetime.now(UTC).isoformat(timespec="seconds"),
                                     release.version, node_image, str(kubeconfig)))
        try:
            self._run(create_argv(self.kind, name, image=node_image, config=config,
                                  kubeconfig=kubeconfig),
                      timeout=timeout, note=f"creating kind cluster {name}")
            kubeconfig.chmod(0o600)
            self.wait_nodes_ready(name, kubeconfig, timeout=timeout, interval=interval)
        except BaseException:
            # A half-made cluster must not be reused by the next --reuse-cluster run; what
            # kind saw goes to the artifacts first, since deleting the cluster destroys it.
            with contextlib.suppress(EgressE2EError):
                self.export_logs(name)
            with contextlib.suppress(EgressE2EError):
                self.delete(name)
            raise
        return ReadyCluster(name, kubeconfig, node_image, created=True, ours=True)

    def revive(self, name: str, kubeconfig: Path, *, timeout: float,
               interval: float = DEFAULTS.interval) -> list[str]:
        """A reused cluster, made usable: start node containers a reboot stopped, write its
        kubeconfig, and wait for its nodes. Returns what is still wrong (empty: healthy)."""
        stopped = stopped_nodes(self._run(node_containers_argv(name), timeout=60.0).stdout)
        if stopped:
            self._run(docker_start_argv(stopped), timeout=120.0,
                      note=f"starting stopped nodes of kind cluster {name}")
        self._write_kubeconfig(name, kubeconfig)
        try:
            self.wait_nodes_ready(name, kubeconfig, timeout=timeout, interval=interval)
        except (WaitTimeout, CommandFailed) as exc:
            return [str(exc)]
        return []

    def wait_nodes_ready(self, name: str, kubeconfig: Path, *, timeout: float,
                         interval: float = DEFAULTS.interval) -> None:
        def problems() -> list[str]:
            done = self._run(get_nodes_argv(self.kubectl, kubeconfig), timeout=30.0,
                             check=False)
            if done.returncode != 0:
                return [f"API server not answering: {done.stderr.strip()[-200:]}"]
            return nodes_not_ready(done.stdout)

        until(problems, lambda found: not found, what=f"kind cluster {name}: nodes not Ready",
              timeout=timeout, interval=interval,
              describe=lambda found: "last seen: " + "; ".join(found))

    def export_logs(self, name: str) -> Path | None:
        if self.logs_dir is None:
            return None
        dest = self.logs_dir / f"kind-{name}"
        self._run(export_logs_argv(self.kind, name, dest), timeout=300.0, check=False)
        return dest

    def delete(self, name: str) -> None:
        if not may_delete(name, self.state.ours()):
            raise ClusterError(
                f"refusing to delete kind cluster {name}: egress-e2e did not create it "
                f"(not in {self.state.path})"
            )
        self._run(delete_argv(self.kind, name), timeout=DELETE_TIMEOUT,
                  note=f"deleting kind cluster {name}")
        self.state.remove(name)
        self.state.kubeconfig_path(name).unlink(missing_ok=True)

    def preload(self, name: str, images: Sequence[str], arch: str, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        for image in images:
            archive = workdir / archive_name(image)
            self._run(docker_pull_argv(image, arch), timeout=600.0)
            self._run(docker_save_argv(image, arch, archive), timeout=600.0)
            self._run(load_image_archive_argv(self.kind, name, archive), timeout=600.0)
            archive.unlink(missing_ok=True)

    def _write_kubeconfig(self, name: str, path: Path) -> None:
        done = self._run(get_kubeconfig_argv(self.kind, name), timeout=60.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(done.stdout)
