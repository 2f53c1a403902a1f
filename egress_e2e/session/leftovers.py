"""What a session leaves on the cluster when a worker dies mid-scenario (a crashed xdist worker,
a SIGKILL, a second Ctrl-C): every scenario namespace carries the run-id label, so the session
deletes whatever of its own is still there when it ends, and nothing of anyone else's."""

from __future__ import annotations

from pathlib import Path

from egress_e2e.core import proc
from egress_e2e.core.labels import RUN_LABEL_K8S
from egress_e2e.infra.tools import kubectl_path


def sweep_argv(kubectl: Path | str, kubeconfig: Path, run_id: str) -> list[str]:
    # --wait=false: the namespaces finalise in the background; the session does not wait.
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "delete", "namespace", "-l",
            f"{RUN_LABEL_K8S}={run_id}", "--ignore-not-found", "--wait=false"]


def sweep(kubeconfig: Path, run_id: str, run: proc.Runner = proc.run) -> list[str]:
    """Delete this run's scenario namespaces still present; return kubectl's lines (one per
    namespace it deleted: normally none, since each scenario cleans up after itself)."""
    if not run_id:
        raise ValueError("sweep needs a run id: an empty one would select every run's namespaces")
    done = run(sweep_argv(kubectl_path(), kubeconfig, run_id), timeout=120.0)
    return [line for line in done.stdout.splitlines() if line.strip()]
