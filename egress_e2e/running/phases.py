"""An upgrade run (``--upgrade-from``) in pytest: every scenario test is parametrized by phase
(``before``, ``skew``, ``after``), the tests run in phase order, and each phase's test checks
what ``before`` applied, after the session's driver made the moves that lead to it
(``session/upgrading.py``). ``docs/upgrades.md`` tells the whole story.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import ConfigError, EgressE2EError
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.infra import gateway_api, istio, upgrade, versions
from egress_e2e.infra.kube import KubeApi
from egress_e2e.infra.tools import kubectl_path
from egress_e2e.infra.upgrade import PHASES, Phase
from egress_e2e.report import record
from egress_e2e.running.diagnostics import ReportItem
from egress_e2e.running.runner import ScenarioRun
from egress_e2e.scenario import gates
from egress_e2e.scenario.model import Scenario
from egress_e2e.session.environment import E2EEnvironment
from egress_e2e.session.settings import Settings
from egress_e2e.session.upgrading import UpgradeDriver

PHASE_ARG = "egress_phase"
FROM_OPTION = "egress_upgrade_from"

Driver = UpgradeDriver[ScenarioRun]


def requested(config: pytest.Config) -> bool:
    """Whether this run is an upgrade run (flag, else env): decided at collection, before the
    settings are checked (their errors are said once, at session start)."""
    return bool(config.getoption(FROM_OPTION, None) or os.environ.get(upgrade.FROM_ENV))


def parametrize(metafunc: pytest.Metafunc) -> None:
    """One test per scenario and phase on an upgrade run (ids ``<scenario>-before`` ...)."""
    if PHASE_ARG in metafunc.fixturenames and requested(metafunc.config):
        metafunc.parametrize(PHASE_ARG, list(PHASES), ids=[p.value for p in PHASES])


def phase_of(item: pytest.Item) -> Phase | None:
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get(PHASE_ARG) if callspec is not None else None
    return value if isinstance(value, Phase) else None


def order(items: list[pytest.Item]) -> None:
    """Every ``before`` first, then every ``skew``, then every ``after``; the collected order
    within a phase (a stable sort)."""
    items.sort(key=lambda item: PHASES.index(phase) if (phase := phase_of(item)) else -1)


def check_serial(settings: Settings, workers: int) -> None:
    if settings.upgrade_from and workers:
        raise ConfigError("an upgrade run moves the whole cluster between phases, so it runs in "
                          "one process: drop -n (make e2e WORKERS=0)")


def driver_for(settings: Settings, env: E2EEnvironment, api: KubeApi, timer: PhaseTimer,
               emit: Callable[[str], None]) -> Driver:
    pinned = versions.load()
    plan = upgrade.plan_upgrade(pinned, settings.upgrade_from or "", settings.istio_version,
                                settings.upgrade_method)
    if env.upgrade_istioctl is None:
        raise ConfigError("internal: an upgrade session without the target's istioctl")
    logs = env.artifacts_dir / "logs"
    old_crds = pinned.gateway_api_for(plan.source.version)
    new_crds = pinned.gateway_api_for(plan.target.version)

    def crds_first() -> None:
        emit(f"[upgrade] Gateway API CRDs {old_crds.version} -> {new_crds.version}")
        gateway_api.install(new_crds, env.kubeconfig,
                            run=proc.logging_to(logs / "kubectl.log"))

    return UpgradeDriver(
        plan, env.kubeconfig, Path(env.upgrade_istioctl), kubectl_path(), api, timer,
        timeouts=settings.timeouts, run=proc.logging_to(logs / "istioctl.log"),
        fetch=istio.kubectl_deployment_fetcher(env.kubeconfig), emit=emit,
        before_control_plane=crds_first if new_crds != old_crds else None)


def gate(scenario: Scenario, driver: Driver) -> str | None:
    """A scenario runs in an upgrade only when both releases can run it."""
    for version in (driver.plan.source.version, driver.plan.target.version):
        reason = gates.skip_reason(scenario, version)
        if reason is not None:
            return f"{reason} (Istio {version}, one side of the upgrade {driver.plan.label})"
    return None


@dataclasses.dataclass
class PhaseRun:
    """One phase's test of one scenario."""

    driver: Driver
    env: E2EEnvironment
    item: ReportItem        # the pytest item this phase's test reports on
    # Makes the ``before`` phase's run (the plugin's: ``ScenarioRun`` on the session's API).
    new_run: Callable[[Scenario, ReportItem], ScenarioRun]

    def run(self, scenario: Scenario, phase: Phase) -> None:
        version = self.driver.version_in(phase)
        record.upgrade_phase(self.item, self.driver.plan.label, phase.value)
        # The release this phase ran against (the report adds the run's only when absent).
        self.item.user_properties.append((record.ISTIO_VERSION, version))
        reason = gate(scenario, self.driver)
        if reason is not None:
            pytest.skip(reason)
        try:
            self.driver.enter(phase)
        except EgressE2EError as exc:
            pytest.fail(str(exc), pytrace=False)
        if phase is Phase.BEFORE:
            kept = self.new_run(scenario, self.item)
            kept.run(keep=True)
            self.driver.keep(scenario.id, kept)
            return
        self.again(scenario, phase, version)

    def again(self, scenario: Scenario, phase: Phase, version: str) -> None:
        last = phase is PHASES[-1]
        held = self.driver.release(scenario.id) if last else self.driver.held.get(scenario.id)
        if held is None:
            pytest.skip(f"its {Phase.BEFORE} phase did not hold, so nothing is applied to check")
        held.item = self.item
        held.env = dataclasses.replace(self.env, istio_version=version)
        held.record_observations = phase is not Phase.SKEW
        failed = True
        try:
            held.hold_again()
            failed = False
        finally:
            if last:
                held.cleanup(quiet=failed)
