"""The e2e scenarios: one test per catalog entry and per scenario file (``--scenarios-dir``),
selected with ``-k <id>``.

Each test only hands its scenario to ``egress_run`` (the plugin's fixture), which applies the
scenario's resources and checks its evidence. Collection needs no cluster.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from egress_e2e.running.marks import scenario_params
from egress_e2e.scenario.model import Scenario


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scenario" in metafunc.fixturenames:
        metafunc.parametrize("scenario", scenario_params(metafunc.config))


def test_scenario(scenario: Scenario, egress_run: Callable[[Scenario], None]) -> None:
    egress_run(scenario)
