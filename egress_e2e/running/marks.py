"""How scenario tests are parametrized and marked: the catalog's scenarios and the run's
scenario files (``--scenarios-dir``) as one list of ids, each with its ``scenario`` mark and,
when it shares something one at a time, its xdist group."""

from __future__ import annotations

from typing import Any

import pytest

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


def scenario_params(config: pytest.Config) -> list[Any]:
    """Every scenario this run knows: the catalog's, then the scenario files' (their ids never
    collide: loading refuses it)."""
    from egress_e2e import catalog
    from egress_e2e.running.plugin import user_scenarios

    scenarios = (*catalog.ALL, *user_scenarios(config).scenarios)
    return [pytest.param(s, id=s.id, marks=scenario_marks(s)) for s in scenarios]
