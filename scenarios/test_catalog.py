"""The e2e scenarios: one test per catalog entry, selected with ``-k <id>``.

Each test only hands its scenario to ``egress_run`` (the plugin's fixture), which applies the
scenario's resources and checks its evidence. Collection needs no cluster.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from egress_e2e import catalog
from egress_e2e.scenario.expectations import ProxyConnect
from egress_e2e.scenario.model import Scenario

# Scenarios that share something one at a time run one after another on one xdist worker:
# istio-system's gateway, or the one CONNECT proxy whose log their evidence reads (its lines
# name no scenario, so two tunnelling scenarios side by side would see each other's tunnels).
SHARED_GATEWAY_GROUP = "istio-system-gateway"
CONNECT_PROXY_GROUP = "fake-connect-proxy"


def reads_proxy_log(scenario: Scenario) -> bool:
    return any(isinstance(e, ProxyConnect) for check in scenario.checks for e in check.expect)


def scenario_marks(scenario: Scenario) -> list[pytest.MarkDecorator]:
    marks = [pytest.mark.scenario(scenario.id)]
    if scenario.gateway == "shared":
        marks.append(pytest.mark.xdist_group(SHARED_GATEWAY_GROUP))
    elif reads_proxy_log(scenario):
        marks.append(pytest.mark.xdist_group(CONNECT_PROXY_GROUP))
    return marks


@pytest.mark.parametrize(
    "scenario",
    [pytest.param(s, id=s.id, marks=scenario_marks(s)) for s in catalog.ALL],
)
def test_scenario(scenario: Scenario, egress_run: Callable[[Scenario], None]) -> None:
    egress_run(scenario)
