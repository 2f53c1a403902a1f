"""The Gateway API scenarios: their ids and selection, that what each step waits for matches the
objects it renders (in both layouts), where their gateway is, what `explain` shows, and what
their diagnostics bundle carries."""

from __future__ import annotations

import json
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.cli import main
from egress_e2e.evidence import route_status
from egress_e2e.evidence.observe import made_by_istiod
from egress_e2e.infra.ambient import GATEWAY_NAME_LABEL
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, plan
from egress_e2e.running import diagnostics
from egress_e2e.scenario.expectations import GatewayProgrammed, LogLine, RouteAccepted, Xfcc
from egress_e2e.scenario.gates import skip_reason
from egress_e2e.scenario.model import Scenario

GATEWAY_API = [s for s in catalog.ALL if "gateway-api" in s.id]
LAYOUTS = ("seed", "isolated")


def layout_for(scenario: Scenario, name: str) -> Layout:
    base = Layout.seed(scenario) if name == "seed" else Layout.isolated_for(scenario, "run-1")
    return route_status.gateway_api_layout(scenario, base)


def test_at_least_seven_gateway_api_scenarios_selected_by_one_keyword() -> None:
    ids = [s.id for s in GATEWAY_API]
    assert len(ids) >= 7
    assert all(s.tags[0] == "gateway-api" and s.mirrors for s in GATEWAY_API)
    # `-k passthrough` matches ids by substring: both Gateway API passthrough variants.
    assert {"gateway-api-passthrough", "gateway-api-wildcard-passthrough"} <= {
        i for i in catalog.ids() if "passthrough" in i}
    assert all(str(task).startswith("istio.io tasks/traffic-management/egress/")
               for s in GATEWAY_API for task in s.mirrors)


def gateway_api_docs(docs: list[Document]) -> list[Document]:
    return [d for d in docs if str(d.body.get("apiVersion", "")).startswith(
        route_status.GATEWAY_API_GROUP + "/")]


@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("scenario", GATEWAY_API, ids=lambda s: s.id)
def test_each_step_waits_for_exactly_the_objects_it_applies(scenario: Scenario,
                                                            layout_name: str) -> None:
    """Every rendered route has a RouteAccepted for each of its parentRefs, every Gateway a
    GatewayProgrammed naming listeners it declares, and nothing waited for is not rendered."""
    built = plan(scenario, layout_for(scenario, layout_name))
    for step in built.steps:
        rendered = gateway_api_docs(list(step.apply))
        wanted: set[tuple[Any, ...]] = set()
        for doc in rendered:
            assert doc.body["apiVersion"] == route_status.API_VERSIONS[doc.kind]
            if doc.kind == "Gateway":
                listeners = {entry["name"] for entry in doc.body["spec"]["listeners"]}
                wanted.add(("Gateway", doc.name, frozenset(listeners)))
                assert doc.body["spec"]["gatewayClassName"] == route_status.GATEWAY_CLASS
                continue
            for ref in doc.body["spec"]["parentRefs"]:
                wanted.add((doc.kind, doc.name, ref["name"], ref.get("kind", "Gateway")))
        declared: set[tuple[Any, ...]] = set()
        for expectation in step.step.ready:
            match expectation:
                case GatewayProgrammed(gateway, listeners):
                    gateway_doc = [d for d in rendered if d.kind == "Gateway"
                                   and d.name == gateway]
                    assert gateway_doc, f"{scenario.id}: waits for an unrendered {gateway}"
                    names = {e["name"] for e in gateway_doc[0].body["spec"]["listeners"]}
                    assert set(listeners) <= names
                    declared.add(("Gateway", gateway, frozenset(names)))
                case RouteAccepted(kind, route, parent, parent_kind):
                    declared.add((kind, route, parent, parent_kind))
        assert declared == wanted, scenario.id


@pytest.mark.parametrize("scenario", GATEWAY_API, ids=lambda s: s.id)
def test_routes_to_the_gateway_name_istios_automated_service(scenario: Scenario) -> None:
    """Mesh routes send traffic to <gateway>-istio, the Service istiod makes for the Gateway,
    on a port one of its listeners opens."""
    docs = list(plan(scenario, layout_for(scenario, "isolated")).documents)
    gateways = {d.name: {e["port"] for e in d.body["spec"]["listeners"]}
                for d in docs if d.kind == "Gateway" and "gateway.networking" in
                d.body["apiVersion"]}
    for doc in gateway_api_docs(docs):
        if doc.kind == "Gateway":
            continue
        for rule in doc.body["spec"]["rules"]:
            for backend in rule["backendRefs"]:
                if backend.get("kind", "Service") != "Service":
                    assert (backend["kind"], backend["group"]) == (
                        "Hostname", "networking.istio.io")
                    continue
                owner = backend["name"].removesuffix("-istio")
                assert backend["name"] == route_status.deployed_name(owner)
                assert backend["port"] in gateways[owner]


@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("scenario", [s for s in GATEWAY_API if s.gateway_api],
                         ids=lambda s: s.id)
def test_the_gateway_is_istios_automated_deployment(scenario: Scenario,
                                                    layout_name: str) -> None:
    layout = layout_for(scenario, layout_name)
    assert layout.gateway_ns == layout.client_ns
    assert layout.gateway_name == layout.gateway_sa == f"{scenario.gateway_api}-istio"
    assert layout.gateway_labels == ((GATEWAY_NAME_LABEL, scenario.gateway_api),)
    assert made_by_istiod(layout)
    # Xfcc's "gateway" is the automated service account.
    assert layout.spiffe_id("gateway").endswith(
        f"/ns/{layout.client_ns}/sa/{scenario.gateway_api}-istio")
    docs = list(plan(scenario, layout).documents)
    # The harness deploys no gateway of its own for these.
    assert not [d for d in docs if d.kind == "Deployment"]
    # credentialName Secrets are where the gateway reads them, readable by its account.
    secrets = {(d.namespace, d.name) for d in docs if d.kind == "Secret"}
    for dr in (d for d in docs if d.kind == "DestinationRule"):
        for setting in dr.body["spec"]["trafficPolicy"].get("portLevelSettings", []):
            name = setting["tls"].get("credentialName")
            if name:
                assert (layout.gateway_ns, name) in secrets
                binding = [d for d in docs if d.kind == "RoleBinding"]
                assert binding and binding[0].body["subjects"] == [{
                    "kind": "ServiceAccount", "name": layout.gateway_sa,
                    "namespace": layout.gateway_ns}]


@pytest.mark.parametrize("scenario", [s for s in GATEWAY_API
                                      if any(isinstance(e, Xfcc) for c in s.checks
                                             for e in c.expect)], ids=lambda s: s.id)
def test_istio_mutual_listener_and_the_sidecars_destination_rule_agree(
        scenario: Scenario) -> None:
    """The HTTPS listener terminates ISTIO_MUTUAL by its option on the port the sidecar's
    ISTIO_MUTUAL DestinationRule for the gateway's Service names."""
    layout = layout_for(scenario, "isolated")
    docs = list(plan(scenario, layout).documents)
    listeners = [e for d in docs if d.kind == "Gateway" for e in d.body["spec"]["listeners"]
                 if (e.get("tls") or {}).get("options", {}).get(
                     "gateway.istio.io/tls-terminate-mode") == "ISTIO_MUTUAL"]
    assert [(e["protocol"], e["tls"]["mode"]) for e in listeners] == [("HTTPS", "Terminate")]
    rules = [d for d in docs if d.kind == "DestinationRule"
             and d.body["spec"]["host"] == layout.gateway_host]
    ports = [s["port"]["number"] for r in rules for s in r.body["spec"]["trafficPolicy"][
        "portLevelSettings"] if s["tls"]["mode"] == "ISTIO_MUTUAL"]
    assert ports == [listeners[0]["port"]]


def test_passthrough_variants_are_gated_to_istio_1_30_with_the_reason() -> None:
    for scenario_id in ("gateway-api-passthrough", "gateway-api-wildcard-passthrough"):
        scenario = catalog.by_id(scenario_id)
        assert skip_reason(scenario, "1.30.5") is None
        assert skip_reason(scenario, "1.31.1") is None
        reason = skip_reason(scenario, "1.29.8")
        assert reason is not None and ">=1.30" in reason
        assert any("TLSRoute v1" in text for text in scenario.differs)


def test_explain_shows_the_status_expectations(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "gateway-api-http"]) == 0
    out = capsys.readouterr().out
    assert ("before traffic (step 1): Gateway httpbin-egress-gateway is Accepted and "
            "Programmed, listener(s) http each Accepted, Programmed and ResolvedRefs with at "
            "least 1 attached route(s)") in out
    assert ("before traffic (step 1): HTTPRoute direct-httpbin-to-egress-gateway is Accepted "
            "with ResolvedRefs on ServiceEntry httpbin") in out
    assert "mirrors: istio.io tasks/traffic-management/egress/egress-gateway" in out


def test_explain_json_carries_them_as_data(capsys: pytest.CaptureFixture[str]) -> None:
    status = main(["explain", "gateway-api-serviceentry-timeout", "--json"])
    out = capsys.readouterr().out
    if status != 0:  # pragma: no cover - the command's flag spelling
        pytest.skip("explain has no --json flag")
    data = json.loads(out)
    entries = data[0]["ready"] if isinstance(data, list) else data["ready"]
    assert entries == [{"step": 2, "type": "RouteAccepted", "kind": "HTTPRoute",
                        "route": "httpbin-ext", "parent": "httpbin",
                        "parent_kind": "ServiceEntry"}]


def test_diagnostics_carry_the_gateway_api_objects_with_status_and_the_crd_versions() -> None:
    scenario = catalog.by_id("gateway-api-passthrough")
    assert route_status.uses_gateway_api(scenario)
    assert not route_status.uses_gateway_api(catalog.by_id("passthrough"))
    target = diagnostics.DiagnosticsTarget(namespaces=("ns-a",), workloads=(),
                                           kubeconfig="/kc", istioctl=None, gateway_api=True)
    items = {item.file: item.argv for item in diagnostics.gather_items(target)}
    assert items["namespaces/ns-a/gateway-api.yaml"] == (
        "kubectl", "--kubeconfig", "/kc", "get",
        "gateways.gateway.networking.k8s.io,httproutes.gateway.networking.k8s.io,"
        "tlsroutes.gateway.networking.k8s.io,referencegrants.gateway.networking.k8s.io",
        "-n", "ns-a", "-o", "yaml")
    assert items["cluster/gateway-api-crds.txt"][3:5] == ("get", "crd")
    plain = diagnostics.DiagnosticsTarget(namespaces=("ns-a",), workloads=(), istioctl=None)
    assert not [i for i in diagnostics.gather_items(plain) if "gateway-api" in i.file]


def _envoy_routes(docs: list[Document], parent_kind: str) -> tuple[set[str], set[str]]:
    """The Envoy route names and clusters Istio makes of the rendered routes with this parent
    kind: the rule's name, else "<namespace>.<route>.<index>" (release-1.30/1.31
    pilot/pkg/config/kube/gateway/conversion.go convertHTTPRoute; route/route.go uses it as
    the Envoy route name); a Hostname backend is outbound|<port>||<hostname>, a Service one
    outbound|<port>||<name>.<namespace>.svc.cluster.local (cluster_builder)."""
    names: set[str] = set()
    clusters: set[str] = set()
    for doc in gateway_api_docs(docs):
        if doc.kind == "Gateway" or {r.get("kind", "Gateway")
                                     for r in doc.body["spec"]["parentRefs"]} != {parent_kind}:
            continue
        for index, rule in enumerate(doc.body["spec"]["rules"]):
            names.add(rule.get("name") or f"{doc.namespace}.{doc.name}.{index}")
            for backend in rule["backendRefs"]:
                host = (backend["name"] if backend.get("kind") == "Hostname"
                        else f"{backend['name']}.{doc.namespace}.svc.cluster.local")
                clusters.add(f"outbound|{backend['port']}||{host}")
    return names, clusters


@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("scenario", GATEWAY_API, ids=lambda s: s.id)
def test_logged_route_names_and_clusters_are_what_the_rendered_routes_convert_to(
        scenario: Scenario, layout_name: str) -> None:
    """Every LogLine's route_name and cluster follow from the routes applied so far: the
    gateway's from the routes on the Gateway, the sidecar's from those on the ServiceEntry (a
    mesh route's own backend when it has no gateway)."""
    built = plan(scenario, layout_for(scenario, layout_name))
    applied: list[Document] = []
    pinned = 0
    for step in built.steps:
        applied += list(step.apply)
        for check in step.step.checks:
            for e in check.expect:
                if not isinstance(e, LogLine) or (e.route_name is None and e.cluster is None):
                    continue
                names, clusters = _envoy_routes(
                    applied, "Gateway" if e.proxy == "gateway" else "ServiceEntry")
                if e.route_name is not None:
                    assert e.route_name in names, (scenario.id, e.route_name, names)
                    pinned += 1
                if e.cluster is not None:
                    assert e.cluster in clusters, (scenario.id, e.cluster, clusters)
                    pinned += 1
    assert pinned, f"{scenario.id}: no log expectation pins a converted route or cluster"
