"""The Gateway API scenarios' own checks through real Envoy configured as Istio 1.30/1.31
configures an automated Gateway API gateway (``envoy/gwapi-gateway.yaml.j2``: the listener on
the Gateway listener's own port, the route named after the HTTPRoute rule) and a client sidecar
whose mesh route comes from a route with a ServiceEntry parent (``envoy/gwapi-sidecar.yaml.j2``),
judged by the project's own evidence code. Then the counterfactuals: a route name or a listener
port the conversion does not produce fails the same checks.
"""

from __future__ import annotations

import dataclasses
import random
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e import catalog
from egress_e2e.catalog import gateway_api as gwapi
from egress_e2e.core import localproc
from egress_e2e.evidence.accesslog import ISTIO_TEXT_FORMAT
from egress_e2e.evidence.route_status import deployed_name
from egress_e2e.fakes.local import LocalFakes
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import LogLine
from egress_e2e.scenario.model import Check

from .bed import (
    CLIENT_NS,
    ENVOY,
    FLUSH_MS,
    Flow,
    Proxy,
    Topology,
    _environment,
    applicable,
)

pytestmark = pytest.mark.timeout(60)

# The two flows the bed covers, each with the template mode it renders.
FLOWS = {"gateway-api-http": "http", "gateway-api-passthrough": "passthrough"}


def _gateway_address() -> str:
    """A loopback address of its own where ports 80 and 443 are free (the automated gateway
    listens on the listener ports themselves)."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if all(_bindable(address, port) for port in (80, 443)):
            return address
    pytest.skip("no loopback address with ports 80 and 443 free (needs root or a low "
                "ip_unprivileged_port_start)")
    raise AssertionError  # pragma: no cover


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


def start_flow(directory: Path, fakes: LocalFakes, scenario_id: str,
               route_name: str = gwapi.FORWARD_RULE) -> tuple[Flow, list[localproc.LocalProcess]]:
    mode = FLOWS[scenario_id]
    scenario = catalog.by_id(scenario_id)
    assert scenario.gateway_api is not None
    directory.mkdir(parents=True, exist_ok=True)
    address = _gateway_address()
    deployment = deployed_name(scenario.gateway_api)
    gateway_host = f"{deployment}.{CLIENT_NS}.svc.cluster.local"
    http_port = localproc.free_port() if mode == "http" else None
    tls_port = localproc.free_port() if mode == "passthrough" else None
    common = {"flow": scenario_id, "text_format": ISTIO_TEXT_FORMAT, "mode": mode,
              "client_ns": CLIENT_NS, "host": hosts.HTTPBIN, "internal_cidrs": []}
    values = {
        "gateway": {**common, "address": address, "deployment": deployment,
                    "admin_port": localproc.free_port(),
                    "log_path": str(directory / "gateway.log"), "route_name": route_name,
                    "fake_http_port": fakes.ports.http, "fake_tls_port": fakes.ports.tls},
        "sidecar": {**common, "admin_port": localproc.free_port(),
                    "log_path": str(directory / "sidecar.log"), "http_port": http_port,
                    "tls_port": tls_port, "gateway_host": gateway_host,
                    "gateway_address": address, "mesh_route_name": "to-egress-gateway"},
    }
    env = _environment()
    proxies: dict[str, Proxy] = {}
    started: list[localproc.LocalProcess] = []
    for role in ("gateway", "sidecar"):
        config = directory / f"{role}.yaml"
        config.write_text(env.get_template(f"gwapi-{role}.yaml.j2").render(**values[role]))
        argv = [str(ENVOY), "-c", str(config), "--base-id", str(random.randint(1, 2**30)),
                "--disable-hot-restart", "--concurrency", "1", "-l", "warning",
                "--file-flush-interval-msec", str(FLUSH_MS)]
        process = localproc.start(f"envoy-gwapi-{role}-{directory.name}", argv,
                                  directory / f"{role}.out", cwd=directory)
        started.append(process)
        proxies[role] = Proxy(role, config, Path(str(values[role]["log_path"])),  # type: ignore[arg-type]
                              int(str(values[role]["admin_port"])), process)
    gateway, sidecar = proxies["gateway"], proxies["sidecar"]
    gateway.process.wait_for_port(gateway.admin_port, timeout=20)
    gateway.process.wait_for_port(80 if mode == "http" else 443, host=address, timeout=20)
    for port in (sidecar.admin_port, http_port, tls_port):
        if port is not None:
            sidecar.process.wait_for_port(port, timeout=20)
    topology = Topology(route_port=80 if mode == "http" else None,
                        passthrough=mode == "passthrough")
    return Flow(scenario_id, topology, fakes, sidecar, gateway, http_port, tls_port,
                address), started


@pytest.fixture(scope="module")
def flows(tmp_path_factory: pytest.TempPathFactory,
          calibration_fakes: LocalFakes) -> Iterator[dict[str, Flow]]:
    running: dict[str, Flow] = {}
    processes: list[localproc.LocalProcess] = []
    try:
        for scenario_id in FLOWS:
            flow, started = start_flow(tmp_path_factory.mktemp(scenario_id), calibration_fakes,
                                       scenario_id)
            running[scenario_id] = flow
            processes += started
        yield running
    finally:
        for process in processes:
            process.stop()


def only_check(scenario_id: str) -> Check:
    (step,) = catalog.by_id(scenario_id).steps
    (check,) = step.checks
    return check


@pytest.mark.parametrize("scenario_id", list(FLOWS))
def test_gateway_api_check_holds_on_real_envoy(flows: dict[str, Flow], scenario_id: str) -> None:
    check = only_check(scenario_id)
    flow = flows[scenario_id]
    kept, skipped = applicable(check.expect, flow.fakes)
    # The gateway's own line is judged, with the port the automated gateway listens on.
    gateway_lines = [e for e in kept if isinstance(e, LogLine) and e.proxy == "gateway"]
    assert gateway_lines and all(e.downstream_local_port in (80, 443) for e in gateway_lines)
    assert all("peer_metadata" in reason for _, reason in skipped), skipped
    for attempt in range(check.consecutive):
        observed, problems = flow.check(check)
        assert problems == [], "\n".join([f"attempt {attempt + 1}:", *problems,
                                          observed.probe.describe()])


def test_the_route_name_is_the_rules_and_its_absence_would_show(
        flows: dict[str, Flow], tmp_path: Path, calibration_fakes: LocalFakes) -> None:
    """The access log's %ROUTE_NAME% is what the check pins: the gateway that logs the
    auto-generated name (<namespace>.<route>.<index>, a rule without a name) fails it."""
    check = only_check("gateway-api-http")
    flow = flows["gateway-api-http"]
    observed, problems = flow.check(check)
    assert problems == []
    (line,) = [e for e in observed.gateway_log if observed.in_window(e.start_time)][-1:]
    assert line.route_name == gwapi.FORWARD_RULE
    auto = f"{CLIENT_NS}.{gwapi.FORWARD}.0"
    other, started = start_flow(tmp_path / "auto-named", calibration_fakes, "gateway-api-http",
                                route_name=auto)
    try:
        _, problems = other.check(check, timeout=3.0)
    finally:
        for process in started:
            process.stop()
    assert any("route_name" in p and auto in p for p in problems), problems


def test_a_helm_gateway_port_would_fail_the_automated_gateways_check(
        flows: dict[str, Flow]) -> None:
    """The same probe judged as if the gateway listened on 8443 (a Helm gateway): the
    downstream port in the log is 443, so the check is not blind to where it listens."""
    check = only_check("gateway-api-passthrough")
    wrong = [dataclasses.replace(e, downstream_local_port=8443) if isinstance(e, LogLine) else e
             for e in applicable(check.expect, flows["gateway-api-passthrough"].fakes)[0]]
    _, problems = flows["gateway-api-passthrough"].check(check, wrong, timeout=2.0)
    assert any("downstream_local_port" in p for p in problems), problems
