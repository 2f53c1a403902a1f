"""What the rendered resources mean, checked on the real renderer's output in both layouts:
references resolve, selectors select what they should, and each scenario's distinguishing
configuration is really there (and absent where the scenario says so)."""

from __future__ import annotations

from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.evidence.observe import made_by_istiod
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, Plan
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import ClusterCounter

# --- every scenario -------------------------------------------------------------------------


def _export_to_problems(doc: Document) -> list[str]:
    """Istio's validation: no duplicates once "." means the own namespace; "*" stands alone."""
    export_to = doc.body.get("spec", {}).get("exportTo")
    if export_to is None:
        return []
    resolved = [doc.namespace if entry == "." else entry for entry in export_to]
    problems = []
    if len(set(resolved)) != len(resolved):
        problems.append(f"{doc.ref}: duplicate exportTo entries {export_to}")
    if "*" in export_to and len(export_to) > 1:
        problems.append(f"{doc.ref}: '*' with other exportTo entries")
    return problems


def test_export_to_is_valid_and_only_in_isolated_layout(built: Plan, layout_name: str) -> None:
    for doc in built.documents:
        assert not _export_to_problems(doc)
        if layout_name == "seed":
            assert "exportTo" not in doc.body.get("spec", {}), doc.ref


def test_selectors_name_the_scenarios_gateway(built: Plan, kit: type) -> None:
    labels = built.layout.labels
    docs = built.documents
    for gateway in kit.of_kind(docs, "Gateway"):
        assert kit.spec(gateway)["selector"] == labels, gateway.ref
    for envoy_filter in kit.of_kind(docs, "EnvoyFilter"):
        assert envoy_filter.namespace == built.layout.gateway_ns
        assert kit.spec(envoy_filter)["workloadSelector"]["labels"] == labels
    for policy in kit.of_kind(docs, "AuthorizationPolicy"):
        assert policy.namespace == built.layout.gateway_ns
        assert kit.spec(policy)["selector"]["matchLabels"] == labels


def _routes(vs: Document) -> list[dict[str, Any]]:
    spec = vs.body["spec"]
    return [route for kind in ("http", "tls", "tcp") for route in spec.get(kind, [])]


def _gateway_ref(vs: Document, name: str) -> str:
    namespace, _, short = name.rpartition("/")
    return f"Gateway/{namespace or vs.namespace}/{short}"


def test_routes_reference_live_gateways_ports_and_subsets(built: Plan, kit: type) -> None:
    """After each step: a VirtualService's gateways exist (connect-tunnel excepted, see its own
    test), its gateway-side match ports are server ports, its mesh routes to the gateway use
    the gateway Service's ports, and every subset is declared for its host."""
    service_ports = {80, 443}
    for index, step in enumerate(built.steps):
        live = kit.state_after(built, index)
        gateways = {doc.ref: doc for doc in kit.of_kind(live, "Gateway")}
        subsets = {(kit.spec(dr)["host"], subset["name"])
                   for dr in kit.of_kind(live, "DestinationRule")
                   for subset in kit.spec(dr).get("subsets", [])}
        for vs in kit.of_kind(step.apply, "VirtualService"):
            named = [g for g in kit.spec(vs).get("gateways", []) if g != "mesh"]
            if built.scenario.id != "connect-tunnel":
                for name in named:
                    assert _gateway_ref(vs, name) in gateways, f"{vs.ref}: no gateway {name}"
            for route in _routes(vs):
                for match in route.get("match", []):
                    for name in match.get("gateways", []):
                        ref = _gateway_ref(vs, name)
                        if name == "mesh" or ref not in gateways:
                            continue
                        ports = {s["port"]["number"] for s in kit.spec(gateways[ref])["servers"]}
                        assert match.get("port", min(ports)) in ports, f"{vs.ref}: {match}"
                for destination in (r["destination"] for r in route["route"]):
                    if destination["host"] == built.layout.gateway_host:
                        port = destination.get("port", {}).get("number", 443)
                        assert port in service_ports, f"{vs.ref}: gateway port {port}"
                    if "subset" in destination:
                        key = (destination["host"], destination["subset"])
                        assert key in subsets, f"{vs.ref}: undeclared subset {key}"


def test_isolated_objects_stay_in_the_runs_namespaces(scenario_id: str, kit: type) -> None:
    built = kit.plan_for(scenario_id, "isolated")
    owned = set(built.layout.owned_namespaces)
    for doc in built.documents:
        if doc.kind != "Namespace":
            assert doc.namespace in owned, f"{doc.ref} outside {sorted(owned)}"


def test_isolated_gateway_labels_are_unique_across_the_catalog(kit: type) -> None:
    """An Istio Gateway's selector matches pods in every namespace, so each scenario's own
    gateway needs labels of its own. A gateway istiod makes for a Gateway API Gateway (a
    waypoint) is found by its name label inside the scenario's own namespace instead."""
    owners: dict[tuple[tuple[str, str], ...], str] = {}
    for scenario in catalog.ALL:
        if scenario.gateway != "own":
            continue
        layout = Layout.isolated_for(scenario, "plans-test")
        if made_by_istiod(layout):
            assert layout.gateway_ns in layout.owned_namespaces
            continue
        labels = layout.gateway_labels
        assert labels not in owners, f"{scenario.id} and {owners.get(labels)} share {labels}"
        owners[labels] = scenario.id


# --- dedicated-gateway-authz ------------------------------------------------------------------


def _tls_modes(docs: list[Document], kit: type) -> tuple[set[str], set[str]]:
    gateway_modes = {server.get("tls", {}).get("mode", "")
                     for gw in kit.of_kind(docs, "Gateway") for server in kit.spec(gw)["servers"]}
    dr_modes: set[str] = set()
    for dr in kit.of_kind(docs, "DestinationRule"):
        policy = kit.spec(dr).get("trafficPolicy", {})
        dr_modes.add(policy.get("tls", {}).get("mode", ""))
        dr_modes.update(p["tls"]["mode"] for p in policy.get("portLevelSettings", []))
    return gateway_modes, dr_modes


def test_dedicated_gateway_authz_as_written_has_no_istio_mutual(layout_name: str,
                                                                  kit: type) -> None:
    built = kit.plan_for("dedicated-gateway-authz", layout_name)
    as_written = kit.state_after(built, 0)
    gateway_modes, dr_modes = _tls_modes(as_written, kit)
    assert "ISTIO_MUTUAL" not in gateway_modes | dr_modes
    server = kit.spec(kit.one(as_written, "Gateway"))["servers"][0]
    assert server["port"] == {"number": 80, "name": "http", "protocol": "HTTP"}
    mesh_vs = kit.one(as_written, "VirtualService", "jsonplaceholder-egress")
    assert mesh_vs.namespace == built.layout.client_ns
    assert mesh_vs.body["spec"]["http"][0]["route"][0]["destination"] == {
        "host": built.layout.gateway_host, "port": {"number": 80}}
    origination = kit.one(as_written, "DestinationRule")
    assert origination.namespace == built.layout.gateway_ns
    assert kit.spec(origination)["trafficPolicy"]["tls"]["mode"] == "SIMPLE"
    policy = kit.spec(kit.one(as_written, "AuthorizationPolicy"))
    assert policy["action"] == "ALLOW"
    assert policy["rules"] == [{"from": [{"source": {"namespaces": [built.layout.client_ns]}}]}]


def test_dedicated_gateway_authz_mtls_has_istio_mutual_on_gateway_and_dr(layout_name: str,
                                                                         kit: type) -> None:
    built = kit.plan_for("dedicated-gateway-authz", layout_name)
    mtls = kit.state_after(built, 1)
    server = kit.spec(kit.one(mtls, "Gateway"))["servers"][0]
    assert server["tls"] == {"mode": "ISTIO_MUTUAL"}
    assert server["port"]["number"] == 443
    to_gateway = kit.one(mtls, "DestinationRule", "mtls-to-egress-gateway")
    assert kit.spec(to_gateway)["host"] == built.layout.gateway_host
    assert kit.spec(to_gateway)["trafficPolicy"]["portLevelSettings"] == [
        {"port": {"number": 443},
         "tls": {"mode": "ISTIO_MUTUAL", "sni": hosts.JSONPLACEHOLDER}}]
    assert server["hosts"] == [hosts.JSONPLACEHOLDER]   # the SNI the server matches
    mesh_vs = kit.one(mtls, "VirtualService", "jsonplaceholder-egress-mtls")
    assert mesh_vs.body["spec"]["http"][0]["route"][0]["destination"]["port"] == {"number": 443}
    # The policy is unchanged, so the second namespace is denied by it, not by routing: the
    # other namespace must see the routes (else REGISTRY_ONLY would answer 502, not 403).
    assert kit.one(mtls, "AuthorizationPolicy").body == \
        kit.one(kit.state_after(built, 0), "AuthorizationPolicy").body
    if built.layout.export_to is not None:
        for doc in (mesh_vs, to_gateway, kit.one(mtls, "ServiceEntry")):
            assert built.layout.other_ns in kit.spec(doc)["exportTo"], doc.ref


# --- sidecar-registry-only ------------------------------------------------------------------


def test_sidecar_selects_only_the_restricted_workload(layout_name: str, kit: type) -> None:
    built = kit.plan_for("sidecar-registry-only", layout_name)
    sidecars = {doc.name: doc for doc in kit.of_kind(
        (*built.base, *kit.state_after(built, 0)), "Sidecar")}
    namespace_wide = kit.spec(sidecars.pop("allow-any"))
    assert namespace_wide.pop("outboundTrafficPolicy") == {"mode": "ALLOW_ANY"}
    if layout_name == "isolated":  # scoped to the scenario's namespaces and istio-system
        assert namespace_wide == {"egress": [{"hosts": [
            *(f"{ns}/*" for ns in built.layout.owned_namespaces), "istio-system/*"]}]}
    else:
        assert namespace_wide == {}
    workload = kit.spec(sidecars.pop("restrict-outbound-traffic"))
    assert not sidecars
    assert workload["outboundTrafficPolicy"] == {"mode": "REGISTRY_ONLY"}
    pods = {doc.name: kit.pod_labels(doc) for doc in kit.of_kind(built.base, "Pod")}
    selector = {"matchLabels": workload["workloadSelector"]["labels"]}
    assert kit.selects(selector, pods["curl-restricted"])
    assert not kit.selects(selector, pods["curl"])


# --- mtls-origination -------------------------------------------------------------------------


def _secret(built: Plan, kit: type, name: str, namespace: str) -> dict[str, Any]:
    matches = [doc for doc in kit.of_kind(built.base, "Secret")
               if doc.name == name and doc.namespace == namespace]
    assert len(matches) == 1, f"no Secret {namespace}/{name} in the base"
    data = matches[0].body["stringData"]
    assert isinstance(data, dict)
    return data


def test_mtls_origination_credential_lives_in_the_gateway_namespace(layout_name: str,
                                                                     kit: type) -> None:
    built = kit.plan_for("mtls-origination", layout_name)
    layout = built.layout
    first = kit.state_after(built, 0)
    mutual = kit.one(first, "DestinationRule")
    assert mutual.namespace == layout.gateway_ns
    (port_settings,) = kit.spec(mutual)["trafficPolicy"]["portLevelSettings"]
    assert port_settings["tls"] == {"mode": "MUTUAL", "credentialName": layout.client_cert_secret,
                                    "sni": hosts.HTTPBIN}
    assert set(_secret(built, kit, layout.client_cert_secret, layout.gateway_ns)) == {
        "tls.crt", "tls.key", "ca.crt"}
    entry = kit.spec(kit.one(first, "ServiceEntry"))
    https = [p for p in entry["ports"] if p["number"] == 443]
    assert https == [{"number": 443, "name": "https-port", "protocol": "HTTPS",
                      "targetPort": hosts.MTLS_PORT}]
    # The failure half: same host and port, TLS that trusts the CA but carries no certificate.
    second = kit.state_after(built, 1)
    (simple,) = kit.of_kind(second, "DestinationRule")
    (port_settings,) = kit.spec(simple)["trafficPolicy"]["portLevelSettings"]
    assert port_settings["tls"] == {"mode": "SIMPLE", "credentialName": layout.fake_ca_secret,
                                    "sni": hosts.HTTPBIN}
    assert "cacert" in _secret(built, kit, layout.fake_ca_secret, layout.gateway_ns)
    # And with no DestinationRule at all, the gateway speaks plain HTTP to the TLS port.
    assert not kit.of_kind(kit.state_after(built, 2), "DestinationRule")


# --- app-mtls-passthrough ---------------------------------------------------------------------


def test_app_mtls_passes_the_apps_own_mtls_through(layout_name: str, kit: type) -> None:
    built = kit.plan_for("app-mtls-passthrough", layout_name)
    (entry,) = kit.state_after(built, 0)
    assert kit.spec(entry)["ports"] == [{"number": 443, "name": "tls", "protocol": "TLS",
                                         "targetPort": hosts.MTLS_PORT}]
    assert not kit.of_kind(built.documents, "DestinationRule")
    assert not kit.of_kind(built.base, "Deployment")  # no gateway: the app talks to the fake
    (check,) = built.scenario.checks
    assert check.probe.client_cert and check.probe.trust_fake_ca
    assert check.probe.url.startswith(f"https://{hosts.MTLS_SERVER}/")


# --- seed 003 ---------------------------------------------------------------------------------


def test_mtls_gateway_tls_tcp_carries_app_tls_inside_istio_mutual(layout_name: str,
                                                                  kit: type) -> None:
    built = kit.plan_for("mtls-gateway-tls-tcp", layout_name)
    live = kit.state_after(built, 0)
    server = kit.spec(kit.one(live, "Gateway"))["servers"][0]
    assert server["port"]["protocol"] == "TLS" and server["tls"] == {"mode": "ISTIO_MUTUAL"}
    (subset,) = kit.spec(kit.one(live, "DestinationRule"))["subsets"]
    assert subset["trafficPolicy"]["tls"] == {"mode": "ISTIO_MUTUAL", "sni": hosts.WIKIPEDIA}
    assert subset["trafficPolicy"]["tls"]["sni"] in server["hosts"]
    vs = kit.spec(kit.one(live, "VirtualService"))
    assert vs["tcp"][0]["route"][0]["destination"] == {"host": hosts.WIKIPEDIA,
                                                       "port": {"number": 443}}
    assert vs["tls"][0]["match"][0]["sniHosts"] == [hosts.WIKIPEDIA]


def _originating_modes(docs: list[Document], kit: type) -> set[str]:
    modes: set[str] = set()
    for dr in kit.of_kind(docs, "DestinationRule"):
        policies = [kit.spec(dr).get("trafficPolicy", {}),
                    *(s.get("trafficPolicy", {}) for s in kit.spec(dr).get("subsets", []))]
        for policy in policies:
            modes.add(policy.get("tls", {}).get("mode", "none"))
            modes.update(p["tls"]["mode"] for p in policy.get("portLevelSettings", []))
    return modes


def test_wildcard_passthrough_opens_no_tls(layout_name: str, kit: type) -> None:
    built = kit.plan_for("wildcard-passthrough", layout_name)
    live = kit.state_after(built, 0)
    server = kit.spec(kit.one(live, "Gateway"))["servers"][0]
    assert server["tls"] == {"mode": "PASSTHROUGH"}
    assert server["hosts"] == [f"*.{hosts.WIKIPEDIA}"]
    assert _originating_modes(live, kit) == {"none"}
    entries = {kit.spec(se)["hosts"][0]: kit.spec(se) for se in kit.of_kind(live, "ServiceEntry")}
    assert "resolution" not in entries[f"*.{hosts.WIKIPEDIA}"]  # NONE: wildcards cannot resolve
    assert entries[hosts.WIKIPEDIA_WWW]["resolution"] == "DNS"
    counters = {e.cluster for c in built.scenario.checks for e in c.expect
                if isinstance(e, ClusterCounter)}
    assert counters == {f"outbound|443||{hosts.WIKIPEDIA_WWW}"}


def test_wildcard_sni_proxy_filter_touches_only_its_own_gateway(layout_name: str,
                                                                kit: type) -> None:
    built = kit.plan_for("wildcard-sni-proxy", layout_name)
    assert built.scenario.gateway == "own"
    envoy_filter = kit.one(kit.state_after(built, 0), "EnvoyFilter")
    selector = {"matchLabels": kit.spec(envoy_filter)["workloadSelector"]["labels"]}
    assert selector["matchLabels"] == built.layout.labels
    for workload in (*kit.of_kind(built.base, "Pod"), *kit.of_kind(built.base, "Deployment")):
        is_gateway = workload.kind == "Deployment"
        assert kit.selects(selector, kit.pod_labels(workload)) == is_gateway, workload.ref
    if built.layout.isolated:
        # No other scenario's gateway carries these labels.
        for other in catalog.ALL:
            if other.id != built.scenario.id and other.gateway == "own":
                theirs = dict(Layout.isolated_for(other, "plans-test").gateway_labels)
                assert not kit.selects(selector, theirs), other.id


# --- seed 004 ---------------------------------------------------------------------------------


def _patch_values(envoy_filter: Document, apply_to: str) -> list[dict[str, Any]]:
    return [p["patch"]["value"] for p in envoy_filter.body["spec"]["configPatches"]
            if p["applyTo"] == apply_to]


def test_connect_tunnel_filter_owns_the_https_target_port(layout_name: str, kit: type) -> None:
    built = kit.plan_for("connect-tunnel", layout_name)
    direct = kit.state_after(built, 0)
    assert {doc.kind for doc in direct} == {"ServiceEntry"}
    live = kit.state_after(built, 1)
    assert not kit.of_kind(built.documents, "Gateway")  # as the seed: the filter is the listener
    (listener,) = _patch_values(kit.one(live, "EnvoyFilter"), "LISTENER")
    assert listener["address"]["socket_address"]["port_value"] == 8443
    tunnelled = {chain["filter_chain_match"]["server_names"][0]:
                 chain["filters"][0]["typed_config"]["tunneling_config"]["hostname"]
                 for chain in listener["filter_chains"]}
    assert tunnelled == {host: f"{host}:443" for host in (hosts.GOOGLE_WWW, hosts.WIKIPEDIA_WWW)}
    mesh_sni = kit.spec(kit.one(live, "VirtualService"))["tls"][0]["match"][0]["sniHosts"]
    assert set(mesh_sni) == set(tunnelled)
    (cluster,) = _patch_values(kit.one(live, "EnvoyFilter"), "CLUSTER")
    endpoint = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]
    assert endpoint["address"]["socket_address"] == {
        "address": built.layout.connect_proxy_address, "port_value": hosts.CONNECT_PORT}
    if built.layout.deploy_gateway:
        service = kit.one(built.base, "Service", built.layout.gateway_name)
        https = [p for p in kit.spec(service)["ports"] if p["port"] == 443]
        assert https[0]["targetPort"] == listener["address"]["socket_address"]["port_value"]


def test_connect_tunnel_dr_uses_the_tunnel_field_and_no_envoyfilter(layout_name: str,
                                                                    kit: type) -> None:
    built = kit.plan_for("connect-tunnel-dr", layout_name)
    assert not kit.of_kind(built.documents, "EnvoyFilter")
    live = kit.state_after(built, 1)
    rule = kit.one(live, "DestinationRule")
    assert rule.namespace == built.layout.gateway_ns
    assert kit.spec(rule)["host"] == hosts.CONNECT_PROXY
    tunnels = {s["name"]: s["trafficPolicy"] for s in kit.spec(rule)["subsets"]}
    for policy in tunnels.values():
        assert policy["tunnel"]["protocol"] == "CONNECT"
        assert policy["tunnel"]["targetPort"] == hosts.TLS_PORT
        assert policy["tls"]["mode"] == "SIMPLE"
        assert policy["tls"]["credentialName"] == built.layout.fake_ca_secret
    # Each gateway-side SNI route goes to the subset that tunnels to that very host.
    for route in kit.spec(kit.one(live, "VirtualService"))["tls"][1:]:
        (sni,) = route["match"][0]["sniHosts"]
        destination = route["route"][0]["destination"]
        assert destination["host"] == hosts.CONNECT_PROXY
        assert tunnels[destination["subset"]]["tunnel"]["targetHost"] == sni
    # Istio applies tunnel settings to TCP and TLS routes only, never to HTTP ones.
    vs_spec = kit.spec(kit.one(live, "VirtualService"))
    assert not any(d["destination"].get("subset") in tunnels
                   for r in vs_spec.get("http", []) for d in r["route"])
    proxy_entry = kit.spec(kit.one(live, "ServiceEntry", "external-forward-proxy"))
    assert proxy_entry["endpoints"] == [{"address": built.layout.connect_proxy_address}]
    assert proxy_entry["ports"][0]["number"] == hosts.CONNECT_PORT


# --- networkpolicy-bypass-blocked ---------------------------------------------------------------


def test_networkpolicy_confines_clients_and_spares_the_gateway(layout_name: str,
                                                               kit: type) -> None:
    built = kit.plan_for("networkpolicy-bypass-blocked", layout_name)
    assert not kit.of_kind(kit.state_after(built, 0), "NetworkPolicy")
    policy = kit.one(kit.state_after(built, 1), "NetworkPolicy")
    assert policy.namespace == built.layout.client_ns
    body = kit.spec(policy)
    assert body["policyTypes"] == ["Egress"]
    clients = {doc.name: kit.pod_labels(doc) for doc in kit.of_kind(built.base, "Pod")}
    assert set(clients) == {"curl", "curl-uninjected"}
    for labels in clients.values():
        assert kit.selects(body["podSelector"], labels)
    gateway_pod_labels = {**built.layout.labels, "app": built.layout.gateway_name}
    assert not kit.selects(body["podSelector"], gateway_pod_labels)
    # Every rule names its peers: nothing opens the way to an arbitrary address.
    peers = [peer for rule in body["egress"] for peer in rule["to"]]
    assert all("ipBlock" not in peer for peer in peers)
    gateway_peers = [peer for peer in peers
                     if peer["namespaceSelector"]["matchLabels"] ==
                     {"kubernetes.io/metadata.name": built.layout.gateway_ns}
                     and kit.selects(peer["podSelector"], gateway_pod_labels)]
    assert gateway_peers
    dns_ports = {(p["protocol"], p["port"]) for rule in body["egress"]
                 for p in rule.get("ports", []) if p["port"] == 53}
    assert dns_ports == {("UDP", 53), ("TCP", 53)}


# --- origination-untrusted-cert -----------------------------------------------------------------


@pytest.mark.parametrize("layout_name", ["seed", "isolated"])
def test_untrusted_cert_targets_the_untrusted_port(layout_name: str, kit: type) -> None:
    built = kit.plan_for("origination-untrusted-cert", layout_name)
    live = kit.state_after(built, 0)
    entry = kit.spec(kit.one(live, "ServiceEntry"))
    https = [p for p in entry["ports"] if p["number"] == 443]
    assert https[0]["targetPort"] == hosts.UNTRUSTED_PORT
    (settings,) = kit.spec(kit.one(live, "DestinationRule"))["trafficPolicy"]["portLevelSettings"]
    assert settings["tls"] == {"mode": "SIMPLE", "credentialName": built.layout.fake_ca_secret}
    assert "cacert" in _secret(built, kit, built.layout.fake_ca_secret, built.layout.gateway_ns)
    vs = kit.spec(kit.one(live, "VirtualService"))
    assert vs["http"][1]["route"][0]["destination"]["port"] == {"number": 443}
