"""An upgrade run's three phases of one scenario, offline: the runner against the recording
API, its probes really reaching the local fakes, the driver's istioctl commands recorded.

before applies and keeps; skew moves the control plane once and checks again without applying;
after restarts the workloads (clients recreated, Deployments restarted), checks again, and
cleans up. A scenario whose before failed is skipped later, with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from egress_e2e.core import proc
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.fakes import local
from egress_e2e.infra import istio, upgrade, versions
from egress_e2e.infra.upgrade import Phase
from egress_e2e.running.phases import PhaseRun
from egress_e2e.running.runner import ScenarioRun
from egress_e2e.scenario.expectations import Status
from egress_e2e.scenario.model import Scenario
from egress_e2e.session.upgrading import UpgradeDriver

from .recording import FAST, Item, LocalLogs, RecordingKube
from .test_runner import REACHES_FAKE, _env, _scenario


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("fakes")) as running:
        yield running


@dataclass
class Kube(RecordingKube):
    """The recording API, where a deleted pod is gone at once (so it can be created again)."""

    def get(self, api_version: str, kind: str, namespace: str | None, name: str
            ) -> dict[str, Any] | None:
        self.calls.append(("get", (kind, namespace, name)))
        return None


@dataclass
class Commands:
    seen: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], **kwargs: Any) -> proc.Completed:
        self.seen.append(list(argv))
        return proc.Completed(tuple(argv), 0, "", "")


def _ready(namespace: str, name: str) -> istio.Deployment:
    return {"metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"replicas": 1},
            "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                       "readyReplicas": 1}}


@dataclass
class Upgrade:
    fakes: local.LocalFakes
    tmp_path: Path
    kube: Kube = field(init=False)
    commands: Commands = field(default_factory=Commands)
    driver: UpgradeDriver[ScenarioRun] = field(init=False)

    def __post_init__(self) -> None:
        self.kube = Kube(self.fakes)
        plan = upgrade.plan_upgrade(versions.load(versions.DEFAULT_PATH), "1.30.5", "1.31.1",
                                    "in-place")
        self.driver = UpgradeDriver(plan, Path("/kc"), "istioctl-1.31.1", "kubectl", self.kube,
                                    PhaseTimer(emit=print), timeouts=Timeouts().scaled(0.05),
                                    run=self.commands, fetch=_ready, emit=print)

    def phase(self, scenario: Scenario, phase: Phase) -> Item:
        item = Item(nodeid=f"scenarios/test_catalog.py::test_scenario[x-{phase}]")
        env = replace(_env(self.fakes, self.tmp_path), istio_version="1.30.5")

        def new_run(declared: Scenario, report: Any) -> ScenarioRun:
            return ScenarioRun(declared, env, self.kube, PhaseTimer(emit=print), report,
                               timeouts=FAST, fake_logs=LocalLogs(self.fakes))

        PhaseRun(self.driver, env, item, new_run).run(scenario, phase)
        return item


def _props(item: Item, name: str) -> list[object]:
    return [value for key, value in item.user_properties if key == name]


def test_three_phases_check_the_same_resources_across_the_upgrade(
        fakes: local.LocalFakes, tmp_path: Path) -> None:
    run = Upgrade(fakes, tmp_path)
    scenario = _scenario(REACHES_FAKE)

    before = run.phase(scenario, Phase.BEFORE)
    applies = sum(1 for kind, _ in run.kube.calls if kind == "apply")
    assert not any(kind == "delete_namespace" for kind, _ in run.kube.calls), "kept applied"
    assert run.commands.seen == [], "nothing moves before the first skew test"
    assert _props(before, "upgrade_phase") == ["before"]
    assert _props(before, "istio_version") == ["1.30.5"]

    skew = run.phase(scenario, Phase.SKEW)
    assert [argv[:2] for argv in run.commands.seen] == [["istioctl-1.31.1", "upgrade"]]
    assert sum(1 for kind, _ in run.kube.calls if kind == "apply") == applies, \
        "skew applies nothing"
    assert _props(skew, "istio_version") == ["1.31.1"]
    assert [json.loads(str(e))["status"] for e in _props(skew, "evidence")] == [200]

    calls_before_after = len(run.kube.calls)
    after = run.phase(scenario, Phase.AFTER)
    moved = run.kube.calls[calls_before_after:]
    restarted = [args for kind, args in moved if kind == "restart"]
    assert (istio.NAMESPACE, istio.EGRESS_GATEWAY) in restarted
    recreated = [docs for kind, docs in moved if kind == "delete"]
    assert any("Pod/" in ref for refs in recreated for ref in refs), "the clients are new pods"
    assert [json.loads(str(e))["status"] for e in _props(after, "evidence")] == [200]
    assert any(kind == "delete_namespace" for kind, _ in moved), "after cleans up"
    assert run.driver.held == {}
    # Observations: before under the source release, after under the target, skew not at all.
    records = sorted(p.relative_to(tmp_path / "artifacts" / "observations").parts[0]
                     for p in (tmp_path / "artifacts" / "observations").rglob("*.json"))
    assert records == ["1.30.5", "1.31.1"]


def test_a_scenario_whose_before_failed_is_skipped_later(fakes: local.LocalFakes,
                                                         tmp_path: Path) -> None:
    run = Upgrade(fakes, tmp_path)
    broken = _scenario(replace(REACHES_FAKE, name="expects a 503", expect=(Status(503),)))
    with pytest.raises(Exception, match="expects a 503"):
        run.phase(broken, Phase.BEFORE)
    assert any(kind == "delete_namespace" for kind, _ in run.kube.calls), "cleaned up at once"
    with pytest.raises(pytest.skip.Exception, match="before phase did not hold"):
        run.phase(broken, Phase.SKEW)


def test_a_scenario_one_side_of_the_upgrade_cannot_run_is_skipped(
        fakes: local.LocalFakes, tmp_path: Path) -> None:
    run = Upgrade(fakes, tmp_path)
    newer_only = replace(_scenario(REACHES_FAKE), requires_istio=">=1.31")
    with pytest.raises(pytest.skip.Exception, match=r"Istio 1.30.5, one side of the upgrade"):
        run.phase(newer_only, Phase.BEFORE)


def test_after_restarts_istiods_own_gateway_deployment_too(fakes: local.LocalFakes,
                                                           tmp_path: Path) -> None:
    # A Gateway API scenario's gateway is the Deployment istiod made (<gateway>-istio, in the
    # client namespace): not in the plan's workloads, restarted all the same.
    run = Upgrade(fakes, tmp_path)
    scenario = replace(_scenario(REACHES_FAKE), gateway_api="egress")
    run.phase(scenario, Phase.BEFORE)
    run.phase(scenario, Phase.SKEW)
    kept = run.driver.held[scenario.id]
    run.phase(scenario, Phase.AFTER)
    restarted = [args for kind, args in run.kube.calls if kind == "restart"]
    assert (kept.layout.client_ns, "egress-istio") in restarted
