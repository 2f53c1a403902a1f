"""The Gateway API scenarios' own checks through real Envoy configured as Istio 1.30/1.31
configures an automated Gateway API gateway (``envoy/gwapi-gateway.yaml.j2``: the listener on
the Gateway listener's own port, the route named after the HTTPRoute rule) and a client sidecar
whose mesh route comes from a route with a ServiceEntry parent (``envoy/gwapi-sidecar.yaml.j2``),
judged by the project's own evidence code. What the templates get (listener port and hostname,
route and rule names, backend ports) is read from the scenario's rendered manifests and put
through the conversion's rules (``converted``), never from the catalog's constants, so a
catalog expectation that the manifests do not produce fails here. Then the counterfactuals: a
route name or a listener port the conversion does not produce fails the same checks.
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
from egress_e2e.evidence import route_status
from egress_e2e.evidence.accesslog import ISTIO_TEXT_FORMAT
from egress_e2e.fakes.local import LocalFakes
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, plan
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


@dataclasses.dataclass(frozen=True)
class Converted:
    """What istiod makes of a scenario's rendered Gateway and its two routes, in the templates'
    terms (pilot/pkg/config/kube/gateway/conversion.go, release-1.30 and release-1.31)."""

    deployment: str          # the automated Service: <gateway>-<class> (GetDefaultName)
    host: str                # the listener's hostname: the server's host and SNI match
    listen_port: int         # the listener's port: the Service has no targetPort
    route_name: str          # the forward rule's Envoy route name (convertHTTPRoute)
    backend_port: int        # the forward route's Hostname backend port: outbound|<p>||host
    mesh_route_name: str     # the ServiceEntry-parent rule's route name on the sidecar
    mesh_port: int           # the port the mesh route sends to on the gateway's Service


def _rule_route_name(route: Document, rule: dict[str, object], index: int) -> str:
    # conversion.go convertHTTPRoute: the rule's name, else "<namespace>.<route>.<index>".
    name = rule.get("name")
    return str(name) if name else f"{route.namespace}.{route.name}.{index}"


def converted(scenario_id: str, *, drop_rule_names: bool = False) -> Converted:
    """Read from the manifests the scenario applies (seed layout, the gateway where istiod
    puts it); ``drop_rule_names`` is the counterfactual of rules left unnamed."""
    scenario = catalog.by_id(scenario_id)
    assert scenario.gateway_api is not None
    layout = route_status.gateway_api_layout(scenario, Layout.seed(scenario))
    docs = [d for d in plan(scenario, layout).documents
            if str(d.body.get("apiVersion", "")).startswith(route_status.GATEWAY_API_GROUP)]
    (gateway,) = [d for d in docs if d.kind == "Gateway" and d.name == scenario.gateway_api]
    assert gateway.body["spec"]["gatewayClassName"] == route_status.GATEWAY_CLASS
    (listener,) = gateway.body["spec"]["listeners"]

    def parent_kinds(route: Document) -> set[str]:
        return {ref.get("kind", "Gateway") for ref in route.body["spec"]["parentRefs"]}

    routes = [d for d in docs if d.kind != "Gateway"]
    (forward,) = [r for r in routes if parent_kinds(r) == {"Gateway"}]
    (mesh,) = [r for r in routes if parent_kinds(r) == {"ServiceEntry"}]
    (forward_rule,) = forward.body["spec"]["rules"]
    (mesh_rule,) = mesh.body["spec"]["rules"]
    if drop_rule_names:
        forward_rule = {k: v for k, v in forward_rule.items() if k != "name"}
        mesh_rule = {k: v for k, v in mesh_rule.items() if k != "name"}
    (backend,) = forward_rule["backendRefs"]
    (to_gateway,) = mesh_rule["backendRefs"]
    assert (backend["kind"], backend["group"]) == ("Hostname", "networking.istio.io")
    return Converted(
        deployment=to_gateway["name"], host=str(listener["hostname"]),
        listen_port=int(listener["port"]),
        route_name=_rule_route_name(forward, forward_rule, 0), backend_port=int(backend["port"]),
        mesh_route_name=_rule_route_name(mesh, mesh_rule, 0), mesh_port=int(to_gateway["port"]))


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
               conv: Converted | None = None) -> tuple[Flow, list[localproc.LocalProcess]]:
    mode = FLOWS[scenario_id]
    conv = conv or converted(scenario_id)
    directory.mkdir(parents=True, exist_ok=True)
    address = _gateway_address()
    gateway_host = f"{conv.deployment}.{CLIENT_NS}.svc.cluster.local"
    http_port = localproc.free_port() if mode == "http" else None
    tls_port = localproc.free_port() if mode == "passthrough" else None
    common = {"flow": scenario_id, "text_format": ISTIO_TEXT_FORMAT, "mode": mode,
              "client_ns": CLIENT_NS, "host": conv.host, "internal_cidrs": []}
    values = {
        "gateway": {**common, "address": address, "deployment": conv.deployment,
                    "admin_port": localproc.free_port(),
                    "log_path": str(directory / "gateway.log"), "route_name": conv.route_name,
                    "listen_port": conv.listen_port, "backend_port": conv.backend_port,
                    "fake_http_port": fakes.ports.http, "fake_tls_port": fakes.ports.tls},
        "sidecar": {**common, "admin_port": localproc.free_port(),
                    "log_path": str(directory / "sidecar.log"), "http_port": http_port,
                    "tls_port": tls_port, "gateway_host": gateway_host,
                    "gateway_address": address, "mesh_route_name": conv.mesh_route_name,
                    "mesh_port": conv.mesh_port, "listen_port": conv.listen_port},
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
    gateway.process.wait_for_port(conv.listen_port, host=address, timeout=20)
    for port in (sidecar.admin_port, http_port, tls_port):
        if port is not None:
            sidecar.process.wait_for_port(port, timeout=20)
    topology = Topology(route_port=conv.mesh_port if mode == "http" else None,
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
    unnamed = converted("gateway-api-http", drop_rule_names=True)
    auto = unnamed.route_name
    assert auto.endswith(f".{gwapi.FORWARD}.0")
    other, started = start_flow(tmp_path / "auto-named", calibration_fakes, "gateway-api-http",
                                unnamed)
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
