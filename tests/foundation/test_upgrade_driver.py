"""The upgrade run's moves, driven through the real Kubernetes client against the stand-in API
server: the istioctl/kubectl commands in order, the gateway's restart and rollout, the kept
scenarios restarted, each move made once, and a failed move failing the phases after it."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import ClusterError, CommandFailed
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.infra import istio, upgrade, versions
from egress_e2e.infra.kube import KubeClient
from egress_e2e.infra.upgrade import Phase
from egress_e2e.session.upgrading import UpgradeDriver

from .kube_standin import KubeStandIn, deployment, serving

GATEWAY = (istio.NAMESPACE, istio.EGRESS_GATEWAY)


@pytest.fixture
def api() -> Iterator[KubeStandIn]:
    with serving() as state:
        state.deployments[GATEWAY] = deployment(*GATEWAY, replicas=1)
        yield state


@dataclass
class Commands:
    """Runs nothing: records the argv (istioctl and kubectl cannot run here) and fails the
    command whose second word is ``fail_on``."""

    seen: list[list[str]] = field(default_factory=list)
    fail_on: str = ""

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> proc.Completed:
        self.seen.append(list(argv))
        if argv[1] == self.fail_on:
            raise CommandFailed(list(argv), 1, "", "no such revision")
        return proc.Completed(tuple(argv), 0, "", "")


@dataclass
class Kept:
    namespaces: tuple[str, ...]
    restarted: int = 0
    cleaned: int = 0

    @property
    def injected_namespaces(self) -> tuple[str, ...]:
        return self.namespaces

    def restart_workloads(self) -> None:
        self.restarted += 1

    def cleanup(self, *, quiet: bool = False) -> None:
        self.cleaned += 1


def _driver(client: KubeClient, method: str, commands: Commands, lines: list[str], *,
            ready: bool = True, scale: float = 0.02) -> UpgradeDriver:
    loaded = versions.load(versions.DEFAULT_PATH)
    plan = upgrade.plan_upgrade(loaded, "1.30.5", "1.31.1", method)

    def fetch(namespace: str, name: str) -> istio.Deployment | None:
        status = {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1 if ready else 0}
        return {"metadata": {"name": name, "namespace": namespace, "generation": 1},
                "spec": {"replicas": 1}, "status": {**status, "observedGeneration": 1}}

    return UpgradeDriver(plan, Path("/kc"), "istioctl-1.31.1", "kubectl", client,
                         PhaseTimer(emit=lines.append),
                         timeouts=Timeouts().scaled(scale), run=commands, fetch=fetch,
                         emit=lines.append)


def test_revision_upgrade_moves_once_in_order(client: KubeClient, api: KubeStandIn) -> None:
    commands, lines = Commands(), []
    driver = _driver(client, "revision", commands, lines)
    kept_a, kept_b = Kept(("ns-a",)), Kept(("ns-b", "ns-a"))
    driver.keep("a", kept_a)
    driver.keep("b", kept_b)
    driver.enter(Phase.BEFORE)
    assert commands.seen == [] and driver.version_in(Phase.BEFORE) == "1.30.5"
    driver.enter(Phase.SKEW)
    driver.enter(Phase.SKEW)  # the second skew test moves nothing
    assert [argv[1:4] for argv in commands.seen] == [["install", "--revision", "1-31-1"]]
    assert not api.sent("PATCH"), "the workloads stay on their proxies in skew"
    driver.enter(Phase.AFTER)
    assert [argv[1] for argv in commands.seen] == [
        "install", "tag", "--kubeconfig", "--kubeconfig", "uninstall"]
    relabelled = [argv[5] for argv in commands.seen if "label" in argv]
    assert relabelled == ["ns-a", "ns-b"], "each namespace once, sorted"
    # The shared gateway was restarted through the API and waited for.
    patches = api.sent("PATCH", f"/apis/apps/v1/namespaces/{GATEWAY[0]}/deployments/{GATEWAY[1]}")
    assert len(patches) == 1
    annotations = patches[0].json()["spec"]["template"]["metadata"]["annotations"]
    assert "kubectl.kubernetes.io/restartedAt" in annotations
    assert (kept_a.restarted, kept_b.restarted) == (1, 1)
    assert driver.version_in(Phase.AFTER) == "1.31.1"
    assert driver.release("a") is kept_a and driver.release("a") is None
    driver.close()
    assert (kept_a.cleaned, kept_b.cleaned) == (0, 1)


def test_in_place_upgrade_runs_only_the_upgrade(client: KubeClient, api: KubeStandIn) -> None:
    commands, lines = Commands(), []
    driver = _driver(client, "in-place", commands, lines)
    driver.keep("a", Kept(("ns-a",)))
    driver.enter(Phase.AFTER)  # straight to after: both moves, in order
    assert [argv[1] for argv in commands.seen] == ["upgrade"]
    assert any("control plane on 1.31.1 (in-place)" in line for line in lines)


def test_a_failed_move_fails_each_later_phase_in_one_line(client: KubeClient,
                                                          api: KubeStandIn) -> None:
    commands, lines = Commands(fail_on="install"), []
    driver = _driver(client, "revision", commands, lines)
    for _ in range(2):
        with pytest.raises(ClusterError) as caught:
            driver.enter(Phase.SKEW)
        message = str(caught.value)
        assert message.startswith("upgrade 1.30.5 -> 1.31.1 (revision): moving to skew: "
                                  "command exited 1: istioctl-1.31.1 install --revision 1-31-1")
        assert message.endswith("no such revision") and "\n" not in message
    with pytest.raises(ClusterError):
        driver.enter(Phase.AFTER)
    assert len(commands.seen) == 1, "the failed move is not retried by every test"
    assert sum("[upgrade] upgrade 1.30.5" in line for line in lines) == 1


def test_a_control_plane_that_never_gets_ready_is_the_failure(client: KubeClient,
                                                              api: KubeStandIn) -> None:
    driver = _driver(client, "in-place", Commands(), [], ready=False, scale=0.002)
    with pytest.raises(ClusterError, match=r"moving to skew: .*not ready.*istiod"):
        driver.enter(Phase.SKEW)
