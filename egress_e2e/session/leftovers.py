"""What a session leaves on the cluster when a worker dies mid-scenario (a crashed xdist worker,
a SIGKILL, a second Ctrl-C): every scenario namespace carries the run-id label, so the session
deletes whatever of its own is still there when it ends, and nothing of anyone else's. When the
whole session was killed, ``egress-e2e clean --kubeconfig`` deletes what every dead run left."""

from __future__ import annotations

from pathlib import Path

from egress_e2e.core import proc
from egress_e2e.core.labels import (
    FAKE_INTERNET_PART_OF,
    PART_OF_LABEL,
    ROLE_LABEL_K8S,
    RUN_LABEL_K8S,
)
from egress_e2e.infra.tools import kubectl_path


def sweep_argv(kubectl: Path | str, kubeconfig: Path, run_id: str) -> list[str]:
    return delete_namespaces_argv(kubectl, kubeconfig, f"{RUN_LABEL_K8S}={run_id}")


def delete_namespaces_argv(kubectl: Path | str, kubeconfig: Path, selector: str) -> list[str]:
    # --wait=false: the namespaces finalise in the background; nobody waits for them.
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "delete", "namespace", "-l",
            selector, "--ignore-not-found", "--wait=false"]


# Every namespace any run of the harness makes: scenarios', the in-cluster fake internet's,
# and the throwaway outside-the-mesh pods'. Label selectors "key" match any value.
EVERY_RUNS_NAMESPACES = (RUN_LABEL_K8S, f"{PART_OF_LABEL}={FAKE_INTERNET_PART_OF}",
                         ROLE_LABEL_K8S)


def sweep_dead_runs(kubeconfig: Path, run: proc.Runner = proc.run) -> list[str]:
    """Delete what every run of the harness left on this cluster (call only while no session
    runs on it: ``clean`` holds the cluster's session lock meanwhile)."""
    deleted: list[str] = []
    for selector in EVERY_RUNS_NAMESPACES:
        done = run(delete_namespaces_argv(kubectl_path(), kubeconfig, selector), timeout=120.0)
        deleted += [line for line in done.stdout.splitlines() if line.strip()]
    return deleted


def sweep(kubeconfig: Path, run_id: str, run: proc.Runner = proc.run) -> list[str]:
    """Delete this run's scenario namespaces still present; return kubectl's lines (one per
    namespace it deleted: normally none, since each scenario cleans up after itself)."""
    if not run_id:
        raise ValueError("sweep needs a run id: an empty one would select every run's namespaces")
    done = run(sweep_argv(kubectl_path(), kubeconfig, run_id), timeout=120.0)
    return [line for line in done.stdout.splitlines() if line.strip()]
