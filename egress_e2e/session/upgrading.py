"""An upgrade run's moves between phases, made once, when the first test of a later phase
starts (the tests run in phase order: every scenario's ``before``, then every ``skew``, then
every ``after``).

The scenarios whose ``before`` held stay applied (``keep``) and are handed back for the later
phases (``held``); a scenario whose ``before`` did not hold has nothing to re-check. A move that
fails is said once and then fails every test of the phases it would have led to, in one line.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from egress_e2e.core import proc
from egress_e2e.core.errors import ClusterError, EgressE2EError
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.infra import istio, upgrade
from egress_e2e.infra.kube import KubeApi
from egress_e2e.infra.rollout import wait_rollout
from egress_e2e.infra.upgrade import PHASES, Phase, UpgradePlan


class HeldRun(Protocol):
    """A scenario applied in ``before`` and kept for the later phases."""

    @property
    def injected_namespaces(self) -> tuple[str, ...]: ...

    def restart_workloads(self) -> None: ...

    def cleanup(self, *, quiet: bool = False) -> None: ...


Held = TypeVar("Held", bound=HeldRun)


@dataclass
class UpgradeDriver(Generic[Held]):
    plan: UpgradePlan
    kubeconfig: Path
    istioctl: Path | str          # the target's
    kubectl: Path | str
    api: KubeApi
    timer: PhaseTimer
    timeouts: Timeouts = field(default_factory=Timeouts)
    run: proc.Runner = proc.run
    # Whether the control plane's Deployments are Ready, as ``istio.wait_for_deployments``
    # reads them (kubectl on a real run).
    fetch: istio.FetchDeployment | None = None
    emit: Callable[[str], None] = print
    # What must change before the control plane does (the target's Gateway API CRDs: Istio's
    # upgrade notes have the CRDs upgraded first).
    before_control_plane: Callable[[], None] | None = None
    phase: Phase = Phase.BEFORE
    held: dict[str, Held] = field(default_factory=dict)
    broken: str | None = None

    def version_in(self, phase: Phase) -> str:
        """The Istio release the control plane runs in ``phase``."""
        return self.plan.source.version if phase is Phase.BEFORE else self.plan.target.version

    def keep(self, scenario_id: str, run: Held) -> None:
        self.held[scenario_id] = run

    def enter(self, phase: Phase) -> None:
        """Make the moves that lead to ``phase``, once; raise the move's failure for every test
        of a phase a failed move leads to."""
        while PHASES.index(self.phase) < PHASES.index(phase):
            if self.broken is not None:
                break
            following = PHASES[PHASES.index(self.phase) + 1]
            try:
                if following is Phase.SKEW:
                    self._move_control_plane()
                else:
                    self._move_workloads()
            except EgressE2EError as exc:
                self.broken = f"upgrade {self.plan.label}: moving to {following}: {exc}"
                self.emit(f"[upgrade] {self.broken}")
                break
            self.phase = following
        if self.broken is not None and PHASES.index(phase) > PHASES.index(self.phase):
            raise ClusterError(self.broken)

    def close(self) -> None:
        """Clean up what is still held (after the last phase, or a run cut short)."""
        for scenario_id, run in list(self.held.items()):
            try:
                run.cleanup(quiet=True)
            except EgressE2EError as exc:
                self.emit(f"[cleanup] {scenario_id}: {exc}")
            del self.held[scenario_id]

    def release(self, scenario_id: str) -> Held | None:
        """The kept run, taken out: its last phase cleans it up."""
        return self.held.pop(scenario_id, None)

    # ---- the moves ----

    def _do(self, actions: Sequence[upgrade.Action], timeout: float) -> None:
        for action in actions:
            self.emit(f"[upgrade] {action.says}")
            self.run(list(action.argv), timeout=timeout)

    def _move_control_plane(self) -> None:
        target = self.plan.target
        with self.timer.phase("upgrade/control-plane",
                              f"control plane on {target.version} ({self.plan.method})"):
            if self.before_control_plane is not None:
                self.before_control_plane()
            self._do(upgrade.control_plane_actions(self.plan, self.istioctl, self.kubeconfig),
                     istio.INSTALL_TIMEOUT)
            istiod = f"{istio.ISTIOD}-{self.plan.revision}" if self.plan.revision else istio.ISTIOD
            if self.fetch is not None:
                istio.wait_for_deployments(self.fetch, [istiod, istio.EGRESS_GATEWAY],
                                           timeout=self.timeouts.istio)

    def _move_workloads(self) -> None:
        namespaces = sorted({ns for run in self.held.values() for ns in run.injected_namespaces})
        with self.timer.phase("upgrade/workloads",
                              f"{len(self.held)} scenario(s) restarted onto "
                              f"{self.plan.target.version}'s proxies"):
            self._do(upgrade.injection_moves(self.plan, self.istioctl, self.kubectl,
                                             self.kubeconfig, namespaces), 120.0)
            # The shared gateway restarts too: whether istioctl's upgrade rolled it depends on
            # what its pod template carries, and 'after' must not depend on that.
            self.api.restart_deployment(istio.NAMESPACE, istio.EGRESS_GATEWAY,
                                        restarted_at=datetime.now(UTC).isoformat(
                                            timespec="seconds"))
            wait_rollout(self.api, istio.NAMESPACE, istio.EGRESS_GATEWAY,
                         self.timeouts.workloads)
            for run in self.held.values():
                run.restart_workloads()
            self._do(upgrade.retire_old(self.plan, self.istioctl, self.kubeconfig),
                     istio.INSTALL_TIMEOUT)
