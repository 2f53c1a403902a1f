"""A small pytest project that uses the reporting plugin the way the harness does, run for real
through pytester: scenarios built from the Scenario model (not from the catalog) that pass, fail
with diagnostics, skip by version gate, error in setup, and one found only by its marker.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

SCENARIOS_MODULE = '''
from egress_e2e.scenario.expectations import LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, Step


def scenario(id, title, flow, requires=None):
    probe = Check("probe", Curl("http://httpbin.org/headers"), (Status(200), LogLine()))
    return Scenario(
        id=id,
        title=title,
        seeds=(Seed("001_7a90842d88fcb924.txt", title),),
        flow=flow,
        steps=(Step("apply and probe", apply=(id,), checks=(probe,)),),
        requires_istio=requires,
    )


PARAMETRIZED = [
    scenario("mutual-then-origination",
             "HTTP to the gateway over ISTIO_MUTUAL, TLS originated at the gateway",
             (Hop.app("plain HTTP"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("TLS originated"),
              Hop.external("httpbin.org"))),
    scenario("passthrough", "HTTPS throughout via PASSTHROUGH at the gateway",
             (Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("passthrough"),
              Hop.external("httpbin.org"))),
    scenario("connect-tunnel", "TLS tunnelled by the gateway through an external CONNECT proxy",
             (Hop.app("app TLS"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("CONNECT tunnel"),
              Hop.proxy("passthrough"), Hop.external("www.google.com"))),
    scenario("in-mesh-headers", "gateways keep metadata-exchange headers in the mesh",
             (Hop.app("plain HTTP"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("plain HTTP"),
              Hop.external("httpbin.org")), requires=">=1.31"),
    scenario("sidecar-scoping", "a Sidecar resource sets REGISTRY_ONLY for one workload",
             (Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.external("httpbin.org"))),
]
MARKED = scenario("unknown-host-blocked", "REGISTRY_ONLY: an unknown host is blocked <here>",
                  (Hop.app("plain HTTP"), Hop.sidecar("blocked"), Hop.external("example.com")))
BY_ID = {s.id: s for s in [*PARAMETRIZED, MARKED]}
'''

CONFTEST = '''
import os
from pathlib import Path

from egress_e2e.report.model import RunInfo
from egress_e2e.report.pytest_plugin import install
from report_scenarios import BY_ID


def pytest_configure(config):
    config.addinivalue_line("markers", "scenario(id): an egress scenario")
    reporter = install(
        config,
        Path(os.environ["REPORT_TEST_ARTIFACTS"]),
        RunInfo(istio_version=os.environ["REPORT_TEST_ISTIO"]),
        scenario_lookup=BY_ID.get,
        session_phases=lambda: {"cluster": 41.2, "install": 63.5},
    )
    # As the harness does once the cluster is up: in the controller only, so the workers'
    # plugin never knows the Kubernetes version (the controller must add it).
    if not hasattr(config, "workerinput"):
        reporter.update_run(kubernetes_version="1.37.0", kind_version="v0.33.0")
'''

TEST_MODULE = '''
import os

import pytest

from egress_e2e.scenario import gates
from egress_e2e.report import record
from egress_e2e.report.model import Evidence
from report_scenarios import PARAMETRIZED

ISTIO = os.environ["REPORT_TEST_ISTIO"]
GATEWAY_LINE = (
    '[2026-11-21T23:40:01.123Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 312 18 17 '
    '"10.244.0.7" "curl/8.11" "7f3c0a" "httpbin.org" "172.18.0.9:443" '
    "outbound|443||httpbin.org 10.244.0.12:40112 10.244.0.12:8080 10.244.0.7:51234 - -"
)


@pytest.fixture(autouse=True)
def gate(request):
    callspec = getattr(request.node, "callspec", None)
    scenario = callspec.params.get("scenario") if callspec else None
    if scenario is not None:
        reason = gates.skip_reason(scenario, ISTIO)
        if reason:
            pytest.skip(reason)


@pytest.fixture
def applied(request, scenario):
    if scenario.id == "sidecar-scoping":
        raise RuntimeError("kubectl apply failed: namespace egress-sidecar-scoping not found")
    record.phase_time(request.node, "apply", 1.25)
    with record.phase(request.node, "propagate"):
        sum(range(10000))
    yield
    record.phase_time(request.node, "cleanup", 0.5)


@pytest.mark.parametrize("scenario", PARAMETRIZED, ids=[s.id for s in PARAMETRIZED])
def test_scenario(scenario, applied, request):
    node = request.node
    record.phase_time(node, "probe", 2.0)
    status = 503 if scenario.id == "connect-tunnel" else 200
    record.evidence(node, Evidence(
        "probe", status=status,
        headers=(("X-Envoy-Decorator-Operation", "httpbin.org:443/*"),
                 ("X-Envoy-Internal", "true")),
        gateway_log=GATEWAY_LINE, note="3 of 3 in a row" if status == 200 else "",
    ))
    if status != 200:
        record.diagnostics(node, os.path.join(os.environ["REPORT_TEST_ARTIFACTS"],
                                              "diagnostics", scenario.id))
    assert status == 200, f"{scenario.id}: expected status 200, got {status}"


@pytest.mark.scenario("unknown-host-blocked")
def test_blocked(request):
    record.phase_time(request.node, "probe", 0.75)
    record.evidence(request.node, Evidence("blocked", status=502))


def test_not_a_scenario():
    pass
'''


@dataclass
class ReportRun:
    """One run of the project: pytest's outcome and where the plugin wrote its files."""

    result: pytest.RunResult
    artifacts: Path


@pytest.fixture
def report_project(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., ReportRun]:
    pytester.makepyfile(report_scenarios=SCENARIOS_MODULE)
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_egress=TEST_MODULE)
    pytester.syspathinsert()

    def run(istio: str, *args: str, subprocess: bool = False) -> ReportRun:
        artifacts = pytester.path / f"artifacts-{istio}{'-sub' if subprocess else ''}"
        monkeypatch.setenv("REPORT_TEST_ISTIO", istio)
        monkeypatch.setenv("REPORT_TEST_ARTIFACTS", str(artifacts))
        if subprocess:
            monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(pytester.path),
                                                              os.environ.get("PYTHONPATH", "")]))
            result = pytester.runpytest_subprocess(*args)
        else:
            result = pytester.runpytest(*args)
        return ReportRun(result, artifacts)

    return run
