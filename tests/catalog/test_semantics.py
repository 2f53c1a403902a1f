"""What the rendered resources mean, checked without a cluster: the properties a scenario's
traffic path depends on, and the isolation that lets scenarios run side by side."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from functools import cache
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.evidence.route_status import gateway_api_layout
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, Plan, plan
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import CurlFails, Echoed, LogLine
from egress_e2e.scenario.model import Scenario

LAYOUTS = ("seed", "isolated")
RUN_ID = "semantics"


@cache  # plans are immutable; rendering each once keeps the module fast
def make_plan(scenario: Scenario, layout_name: str) -> Plan:
    layout = Layout.seed(scenario) if layout_name == "seed" \
        else Layout.isolated_for(scenario, RUN_ID)
    # A Gateway API scenario's gateway is istiod's <gateway>-istio in the client namespace.
    return plan(scenario, gateway_api_layout(scenario, layout))


def active_sets(p: Plan) -> Iterator[tuple[int, list[Document]]]:
    """The pattern documents in force when each step's checks run (applies and deletes so far)."""
    live: dict[str, Document] = {}
    for number, step in enumerate(p.steps, start=1):
        for doc in step.delete:
            live.pop(doc.ref, None)
        for doc in step.apply:
            live[doc.ref] = doc
        yield number, list(live.values())


def tls_settings(dr: dict[str, Any]) -> Iterator[tuple[int | None, dict[str, Any]]]:
    """(port or None, tls) for every tls block of a DestinationRule, subsets included."""
    policies = [dr["spec"].get("trafficPolicy") or {}]
    policies += [s.get("trafficPolicy") or {} for s in dr["spec"].get("subsets") or []]
    for policy in policies:
        if "tls" in policy:
            yield None, policy["tls"]
        for setting in policy.get("portLevelSettings") or []:
            if "tls" in setting:
                yield setting["port"]["number"], setting["tls"]


def of_kind(docs: list[Document], kind: str) -> list[Document]:
    # Istio's kinds; Gateway API's Gateway shares the name (tests/gateway_api checks those).
    return [doc for doc in docs if doc.kind == kind and not str(
        doc.body.get("apiVersion", "")).startswith("gateway.networking.k8s.io/")]


ALL_PLANS = [(s, name) for s in catalog.ALL for name in LAYOUTS]
PLAN_IDS = [f"{s.id}-{name}" for s, name in ALL_PLANS]


# --- passthrough: nothing may originate TLS to the host the app already speaks TLS to ---------

def passthrough_checks(scenario: Scenario) -> Iterator[tuple[int, str]]:
    """(step, host) for each check that expects the gateway to pass the app's TLS through."""
    for number, step in enumerate(scenario.steps, start=1):
        for check in step.checks:
            tcp_line = any(isinstance(e, LogLine) and e.proxy == "gateway" and e.tcp
                           and e.present for e in check.expect)
            fails = any(isinstance(e, CurlFails) for e in check.expect)
            if check.probe.url.startswith("https://") and tcp_line and not fails:
                yield number, check.probe.url.split("/")[2]


def test_passthrough_scenarios_are_found() -> None:
    found = {s.id for s in catalog.ALL if list(passthrough_checks(s))}
    assert {"passthrough", "passthrough-double-tls", "http-and-passthrough-combined"} <= found


PASSTHROUGH_PLANS = [(s, name) for s, name in ALL_PLANS if list(passthrough_checks(s))]


@pytest.mark.parametrize(("scenario", "layout_name"), PASSTHROUGH_PLANS,
                         ids=[f"{s.id}-{name}" for s, name in PASSTHROUGH_PLANS])
def test_passthrough_has_no_origination_for_its_host(scenario: Scenario,
                                                     layout_name: str) -> None:
    expected = dict(passthrough_checks(scenario))
    for number, docs in active_sets(make_plan(scenario, layout_name)):
        if number not in expected:
            continue
        for dr in of_kind(docs, "DestinationRule"):
            if dr.body["spec"]["host"] != expected[number]:
                continue
            modes = [tls.get("mode") for _, tls in tls_settings(dr.body)]
            assert not {"SIMPLE", "MUTUAL"} & set(modes), (
                f"step {number}: {dr.ref} originates TLS to {expected[number]}: the app's TLS "
                "would be wrapped twice")


def test_double_tls_scenario_really_originates_in_its_failing_step() -> None:
    p = make_plan(catalog.by_id("passthrough-double-tls"), "isolated")
    (_, first), (_, second) = active_sets(p)
    assert [tls["mode"] for dr in of_kind(first, "DestinationRule")
            for _, tls in tls_settings(dr.body)] == ["SIMPLE"]
    assert of_kind(second, "DestinationRule") == []


# --- ISTIO_MUTUAL to the gateway: both ends agree ----------------------------------------------

# The contract's gateway Service: port 80 -> 8080 (http2), 443 -> 8443 (https).
GATEWAY_TARGET_PORTS = {80: 8080, 443: 8443}

MUTUAL_SCENARIOS = [s for s in catalog.ALL if s.gateway_api is None
                    and any(h.role == "sidecar" and h.link == "ISTIO_MUTUAL" for h in s.flow)]


def test_mtls_scenarios_are_found() -> None:
    ids = {s.id for s in MUTUAL_SCENARIOS}
    assert {"mtls-gateway-tls-origination", "mtls-gateway-http"} <= ids


@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("scenario", MUTUAL_SCENARIOS, ids=lambda s: s.id)
def test_mtls_gateway_server_and_destination_rule_agree(scenario: Scenario,
                                                         layout_name: str) -> None:
    p = make_plan(scenario, layout_name)
    docs = list(p.documents)
    mutual_servers = [server for gw in of_kind(docs, "Gateway")
                      for server in gw.body["spec"]["servers"]
                      if (server.get("tls") or {}).get("mode") == "ISTIO_MUTUAL"]
    assert mutual_servers, "no Gateway server with tls.mode ISTIO_MUTUAL"
    server_ports = {server["port"]["number"] for server in mutual_servers}
    server_hosts = {host.split("/")[-1] for server in mutual_servers for host in server["hosts"]}

    to_gateway = [dr for dr in of_kind(docs, "DestinationRule")
                  if dr.body["spec"]["host"] == p.layout.gateway_host]
    settings = [(port, tls) for dr in to_gateway for port, tls in tls_settings(dr.body)
                if tls.get("mode") == "ISTIO_MUTUAL"]
    assert settings, f"no ISTIO_MUTUAL DestinationRule for {p.layout.gateway_host}"
    for port, tls in settings:
        # The DestinationRule names the Service port; the server may name it or its target.
        assert port is None or {port, GATEWAY_TARGET_PORTS.get(port)} & server_ports
        assert tls.get("sni") in server_hosts, (
            f"DestinationRule SNI {tls.get('sni')} is not a host of the ISTIO_MUTUAL server")

    # The mesh sends the request to the gateway's mutual port.
    mesh_ports = {route_port(rule, route)
                  for vs in of_kind(docs, "VirtualService")
                  for rule in mesh_rules(vs.body["spec"])
                  for route in rule["route"]
                  if route["destination"]["host"] == p.layout.gateway_host}
    reachable = mesh_ports | {GATEWAY_TARGET_PORTS.get(port) for port in mesh_ports if port}
    assert reachable & server_ports, f"the mesh routes to {mesh_ports}, not to {server_ports}"


def route_port(rule: dict[str, Any], route: dict[str, Any]) -> int | None:
    """The destination port; without one, Envoy keeps the port the request matched on."""
    port = route["destination"].get("port", {}).get("number")
    if port is None:
        matched = {m.get("port") for m in rule.get("match") or []} - {None}
        port = matched.pop() if len(matched) == 1 else None
    return None if port is None else int(port)


def mesh_rules(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """The http/tls/tcp rules that apply to sidecars ("mesh"), spelled out or by default."""
    vs_gateways = spec.get("gateways") or ["mesh"]
    rules = []
    for rule in (spec.get("http") or []) + (spec.get("tls") or []) + (spec.get("tcp") or []):
        matches = rule.get("match") or [{}]
        if any("mesh" in (m.get("gateways") or vs_gateways) for m in matches):
            rules.append(rule)
    return rules


# --- references inside a scenario resolve --------------------------------------------------

# The gateway-pattern scenarios. Those in tests/plans follow seeds that name objects no
# template renders (seed
# 004 binds routes to a Gateway it never applies; seed 003 routes to a placeholder host that its
# EnvoyFilter replaces), so this check covers the scenarios whose seeds are self-contained.
CATALOG_I = (
    "registry-only-blocks", "serviceentry-direct", "gateway-http", "gateway-tls-origination",
    "mtls-gateway-tls-origination", "mtls-gateway-http", "passthrough", "passthrough-double-tls",
    "http-and-passthrough-combined", "externalname", "ingress-gateway",
)
CATALOG_I_PLANS = [(catalog.by_id(i), name) for i in CATALOG_I for name in LAYOUTS]


@pytest.mark.parametrize(("scenario", "layout_name"), CATALOG_I_PLANS,
                         ids=[f"{s.id}-{name}" for s, name in CATALOG_I_PLANS])
def test_references_resolve(scenario: Scenario, layout_name: str) -> None:
    p = make_plan(scenario, layout_name)
    docs = list(p.documents)
    gateways = {(d.namespace, d.name) for d in of_kind(docs, "Gateway")}
    services = {(d.namespace, d.name) for d in of_kind(docs, "Service")}
    entry_hosts = {h for d in of_kind(docs, "ServiceEntry") for h in d.body["spec"]["hosts"]}
    subsets = {(d.body["spec"]["host"], s["name"]) for d in of_kind(docs, "DestinationRule")
               for s in d.body["spec"].get("subsets") or []}
    for vs in of_kind(docs, "VirtualService"):
        for name in vs.body["spec"].get("gateways") or []:
            if name == "mesh":
                continue
            namespace, _, short = name.rpartition("/")
            assert (namespace or vs.namespace, short) in gateways, f"{vs.ref}: gateway {name}"
        spec = vs.body["spec"]
        for rule in (spec.get("http") or []) + (spec.get("tls") or []) + (spec.get("tcp") or []):
            for route in rule.get("route") or []:
                host = route["destination"]["host"]
                known = host in entry_hosts or host == p.layout.gateway_host or \
                    (vs.namespace, host) in services or \
                    tuple(host.split(".")[1::-1]) in services
                if not known and p.layout.isolated:
                    pytest.fail(f"{vs.ref}: route to unknown host {host}")
                subset = route["destination"].get("subset")
                if subset:
                    assert (host, subset) in subsets, f"{vs.ref}: subset {subset} of {host}"


@pytest.mark.parametrize(("scenario", "layout_name"), ALL_PLANS, ids=PLAN_IDS)
def test_credential_names_point_at_rendered_secrets(scenario: Scenario,
                                                    layout_name: str) -> None:
    p = make_plan(scenario, layout_name)
    secrets = {(d.namespace, d.name): set(d.body.get("stringData") or d.body.get("data") or {})
               for d in of_kind(list(p.documents), "Secret")}
    needed = {"SIMPLE": {"cacert"}, "MUTUAL": {"tls.crt", "tls.key", "ca.crt"}}
    for dr in of_kind(list(p.documents), "DestinationRule"):
        for _, tls in tls_settings(dr.body):
            name = tls.get("credentialName")
            if name is None:
                continue
            # The gateway reads credentialName Secrets from its own namespace.
            keys = secrets.get((p.layout.gateway_ns, name))
            assert keys is not None, f"{dr.ref}: no Secret {name} in {p.layout.gateway_ns}"
            assert needed[tls["mode"]] <= keys


_CLUSTER = re.compile(r"^outbound\|(\d+)\|[^|]*\|(.+)$")


@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_expected_clusters_are_declared(scenario: Scenario) -> None:
    """An expected `outbound|port||host` must name a port some ServiceEntry declares."""
    p = make_plan(scenario, "isolated")
    declared = {(host, port["number"]) for d in of_kind(list(p.documents), "ServiceEntry")
                for host in d.body["spec"]["hosts"] for port in d.body["spec"]["ports"]}
    for check in scenario.checks:
        for expectation in check.expect:
            if not isinstance(expectation, LogLine) or not expectation.cluster:
                continue
            match = _CLUSTER.match(expectation.cluster)
            if match and match.group(2) in hosts.ALL_HOSTS:
                assert (match.group(2), int(match.group(1))) in declared, expectation.cluster


# --- layouts: seed is the seed, isolated is isolated --------------------------------------------

@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_seed_layout_has_no_export_to(scenario: Scenario) -> None:
    for doc in make_plan(scenario, "seed").documents:
        assert "exportTo" not in (doc.body.get("spec") or {}), doc.ref


@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_isolated_config_is_exported_to_its_own_namespaces_only(scenario: Scenario) -> None:
    p = make_plan(scenario, "isolated")
    allowed = set(p.layout.export_to or ())
    for doc in p.documents:
        if doc.kind in ("ServiceEntry", "VirtualService", "DestinationRule"):
            export_to = doc.body["spec"].get("exportTo")
            assert export_to, f"{doc.ref} is visible mesh-wide"
            assert set(export_to) <= allowed, doc.ref
            if scenario.gateway != "none":
                assert p.layout.gateway_ns in export_to, f"{doc.ref} is hidden from the gateway"


def gateway_pod_labels(p: Plan) -> list[dict[str, str]]:
    return [d.body["spec"]["template"]["metadata"]["labels"]
            for d in of_kind(list(p.base), "Deployment")]


# Sidecar scenarios deploy their gateway by injection; an ambient one's is istiod's waypoint
# (tests/ambient/test_ambient_catalog.py).
@pytest.mark.parametrize("scenario", [s for s in catalog.ALL if s.gateway == "own"
                                      and "sidecar" in s.data_planes],
                         ids=lambda s: s.id)
def test_isolated_gateway_selects_its_own_pods(scenario: Scenario) -> None:
    p = make_plan(scenario, "isolated")
    labels = gateway_pod_labels(p)
    assert len(labels) == 1
    pod = labels[0]
    assert pod["sidecar.istio.io/inject"] == "true"
    deployment = of_kind(list(p.base), "Deployment")[0].body
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["inject.istio.io/templates"] == "gateway"
    # A scenario's ProxyConfig reaches its gateway, and nothing else is annotated.
    expected = {"inject.istio.io/templates": "gateway"}
    if scenario.proxy_config is not None:
        expected["proxy.istio.io/config"] = scenario.proxy_config
    assert annotations == expected
    service = next(d for d in p.base if d.kind == "Service" and d.name == p.layout.gateway_name)
    assert {(port["name"], port["port"], port["targetPort"])
            for port in service.body["spec"]["ports"]} == {("http2", 80, 8080),
                                                          ("https", 443, 8443)}
    assert service.body["spec"]["selector"].items() <= pod.items()
    for gateway in of_kind(list(p.documents), "Gateway"):
        assert gateway.body["spec"]["selector"].items() <= pod.items(), gateway.ref


def test_isolated_scenarios_share_no_names_or_selectors() -> None:
    plans = [make_plan(s, "isolated") for s in catalog.ALL]
    owners: Counter[tuple[str, str, str]] = Counter()
    for p in plans:
        for doc in set((d.kind, d.namespace or "", d.name) for d in p.documents):
            owners[doc] += 1
    shared = [ref for ref, count in owners.items() if count > 1]
    assert shared == []

    # No scenario's Gateway selects another scenario's gateway pods (the shared istio-system
    # gateway excepted: those scenarios run serially in one xdist group).
    for p in plans:
        if p.scenario.gateway == "shared":
            continue
        for gateway in of_kind(list(p.documents), "Gateway"):
            if "selector" not in gateway.body["spec"]:
                continue  # a Gateway API Gateway (a waypoint): istiod deploys its own pods
            selector = gateway.body["spec"]["selector"].items()
            for other in plans:
                if other is p:
                    continue
                for labels in gateway_pod_labels(other):
                    assert not selector <= labels.items(), (
                        f"{p.scenario.id}'s {gateway.ref} selects {other.scenario.id}'s gateway")
            assert dict(selector) != {"istio": "egressgateway"}, gateway.ref


def test_two_runs_of_one_scenario_do_not_collide() -> None:
    scenario = catalog.by_id("gateway-http")
    first = plan(scenario, Layout.isolated_for(scenario, "run-1"))
    second = plan(scenario, Layout.isolated_for(scenario, "run-2"))
    assert not set(first.create_namespaces) & set(second.create_namespaces)


def test_proxy_config_reaches_every_client_and_is_valid_json() -> None:
    import json

    gated = [s for s in catalog.ALL if s.proxy_config is not None]
    assert gated, "no scenario sets a ProxyConfig"
    for scenario in gated:
        p = make_plan(scenario, "isolated")
        pods = of_kind(list(p.base), "Pod")
        assert pods
        for pod in pods:
            value = pod.body["metadata"]["annotations"]["proxy.istio.io/config"]
            assert json.loads(value) == json.loads(scenario.proxy_config)


def test_no_expectation_asks_for_x_envoy_internal() -> None:
    """Istio 1.30/1.31 gateways treat no peer as internal (use_remote_address, no internal
    address ranges: pilot/pkg/networking/core/gateway.go; Envoy >= 1.33), and sidecars' requests
    to external hosts never carry it either: a check asking for X-Envoy-Internal to be present
    can only fail on the releases the harness runs."""
    asking = [(scenario.id, check.name) for scenario in catalog.ALL for check in scenario.checks
              for expectation in check.expect
              if isinstance(expectation, Echoed) and expectation.header.lower() ==
              "x-envoy-internal" and not expectation.absent]
    assert asking == []


_SIDECAR = [s for s in catalog.ALL if "sidecar" in s.data_planes]


# Ambient renders no Sidecar and no port-80 placeholder (tests/ambient/).
@pytest.mark.parametrize("scenario", _SIDECAR, ids=[s.id for s in _SIDECAR])
def test_isolated_run_renders_its_outbound_premises(scenario: Scenario) -> None:
    """The mode a scenario relies on is its own, in every namespace its clients run in, and the
    port-80 HTTP listener (block_all / allow_any) exists because the scenario renders a Service
    for it, seen only by its namespaces: nothing rests on the mesh's install or on another
    scenario's objects."""
    built = make_plan(scenario, "isolated")
    layout = built.layout
    namespaces = {layout.client_namespace(role) for role in scenario.clients}
    wide = {doc.namespace: doc.body["spec"] for doc in of_kind(list(built.base), "Sidecar")
            if "workloadSelector" not in doc.body["spec"]}
    assert set(wide) == namespaces
    assert all(spec["outboundTrafficPolicy"]["mode"] == scenario.outbound_policy
               for spec in wide.values())
    # Each sidecar sees the scenario's own namespaces and istio-system only (another
    # scenario's Gateway API routes, which have no exportTo, stay out of it), or the
    # scenario's own list; with its own list it renders no placeholder.
    scope = list(scenario.sidecar_egress_hosts) or [
        *(f"{ns}/*" for ns in layout.owned_namespaces), "istio-system/*"]
    assert all(spec["egress"] == [{"hosts": scope}] for spec in wide.values())
    placeholders = [doc for doc in of_kind(list(built.base), "Service")
                    if doc.name == "http-80-placeholder"]
    if scenario.sidecar_egress_hosts:
        assert placeholders == []
        return
    [placeholder] = placeholders
    annotations = placeholder.body["metadata"]["annotations"]
    assert set(annotations["networking.istio.io/exportTo"].split(",")) == namespaces
    assert "selector" not in placeholder.body["spec"]
    assert placeholder.body["spec"]["ports"] == [
        {"name": "http", "port": 80, "protocol": "TCP", "targetPort": 80}]


def test_seed_layout_keeps_the_seeds_own_objects() -> None:
    for scenario in catalog.ALL:
        base = make_plan(scenario, "seed").base
        names = {doc.name for doc in of_kind(list(base), "Service")}
        assert "http-80-placeholder" not in names, scenario.id
        modes = {doc.body["spec"]["outboundTrafficPolicy"]["mode"]
                 for doc in of_kind(list(base), "Sidecar")}
        assert modes == ({"ALLOW_ANY"} if scenario.outbound_policy == "ALLOW_ANY" else set())


def test_mutual_origination_rules_reach_only_the_gateway() -> None:
    found = 0
    for scenario in catalog.ALL:
        built = make_plan(scenario, "isolated")
        for doc in of_kind(list(built.documents), "DestinationRule"):
            if any(tls.get("mode") == "MUTUAL" for _, tls in tls_settings(doc.body)):
                found += 1
                assert doc.body["spec"]["exportTo"] == [built.layout.gateway_ns], scenario.id
    assert found
