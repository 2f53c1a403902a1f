"""istiod's webhook rules, offline: each rule with a document istiod admits and the broken one it
refuses, with istiod's own message (istio/istio release-1.31, pkg/config/validation/...)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import render_scenario
from egress_e2e.rendering.webhook import webhook_problems

Body = dict[str, Any]


def doc(kind: str, spec: Body, *, name: str = "egress", namespace: str = "apps",
        group: str = "networking.istio.io", labels: Body | None = None) -> Body:
    meta: Body = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = labels
    return {"apiVersion": f"{group}/v1", "kind": kind, "metadata": meta, "spec": spec}


GATEWAY = doc("Gateway", {
    "selector": {"istio": "egressgateway"},
    "servers": [
        {"port": {"number": 80, "name": "http", "protocol": "HTTP"},
         "hosts": ["apps/edition.cnn.com"]},
        {"port": {"number": 443, "name": "tls", "protocol": "TLS"},
         "hosts": ["*.example.com"], "tls": {"mode": "PASSTHROUGH"}},
        {"port": {"number": 8443, "name": "https", "protocol": "HTTPS"},
         "hosts": ["*"], "tls": {"mode": "SIMPLE", "credentialName": "gw-cert"}},
    ]})
DESTINATION_RULE = doc("DestinationRule", {
    "host": "edition.cnn.com",
    "trafficPolicy": {"tls": {"mode": "MUTUAL", "credentialName": "client-cert"}},
    "subsets": [{"name": "cnn", "trafficPolicy": {"tls": {
        "mode": "MUTUAL", "clientCertificate": "/etc/c.pem", "privateKey": "/etc/k.pem"}}}],
})
VIRTUAL_SERVICE = doc("VirtualService", {
    "hosts": ["edition.cnn.com"],
    "gateways": ["mesh", "istio-system/egress"],
    "http": [{"route": [
        {"destination": {"host": "edition.cnn.com", "subset": "cnn"}, "weight": 100}]}],
    "tls": [{"match": [{"sniHosts": ["edition.cnn.com"], "port": 443}],
             "route": [{"destination": {"host": "edition.cnn.com", "port": {"number": 443}}}]}],
    "tcp": [{"route": [{"destination": {"host": "edition.cnn.com"}}]}],
})
SIDECAR = doc("Sidecar", {
    "egress": [{"port": {"number": 80, "protocol": "HTTP", "name": "http"},
                "hosts": ["./*", "istio-system/*"]},
               {"hosts": ["~/*"]}],
    "outboundTrafficPolicy": {"mode": "REGISTRY_ONLY"},
})
ENVOY_FILTER = doc("EnvoyFilter", {"configPatches": [{
    "applyTo": "HTTP_FILTER",
    "match": {"context": "SIDECAR_OUTBOUND", "listener": {"filterChain": {"filter": {
        "name": "envoy.filters.network.http_connection_manager",
        "subFilter": {"name": "envoy.filters.http.router"}}}}},
    "patch": {"operation": "INSERT_BEFORE", "value": {
        "name": "envoy.lua",
        "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
                         "inlineCode": "function envoy_on_request(h) end"}}},
}]})
SERVICE_ENTRY = doc("ServiceEntry", {
    "hosts": ["edition.cnn.com", "*.wikipedia.org"],
    "ports": [{"number": 443, "name": "tls", "protocol": "TLS"},
              {"number": 80, "name": "http", "protocol": "HTTP"}],
    "resolution": "DNS", "location": "MESH_EXTERNAL",
    "endpoints": [{"address": "edition.cnn.com", "ports": {"tls": 443}}],
})
AUTHORIZATION = doc("AuthorizationPolicy", {
    "action": "ALLOW",
    "rules": [{"from": [{"source": {"principals": ["cluster.local/ns/apps/sa/client"]}}],
               "to": [{"operation": {"hosts": ["edition.cnn.com"], "ports": ["443"]}}],
               "when": [{"key": "connection.sni", "values": ["edition.cnn.com"]}]}],
}, group="security.istio.io")

VALID = {"Gateway": GATEWAY, "DestinationRule": DESTINATION_RULE,
         "VirtualService": VIRTUAL_SERVICE, "Sidecar": SIDECAR, "EnvoyFilter": ENVOY_FILTER,
         "ServiceEntry": SERVICE_ENTRY, "AuthorizationPolicy": AUTHORIZATION}


def broken(kind: str, change: Callable[[Body], None]) -> Body:
    body = copy.deepcopy(VALID[kind])
    change(body)
    return body


def spec_set(**fields: Any) -> Callable[[Body], None]:
    return lambda body: body["spec"].update(fields)


def server(index: int, **fields: Any) -> Callable[[Body], None]:
    return lambda body: body["spec"]["servers"][index].update(fields)


def at(*path: str | int, value: Any) -> Callable[[Body], None]:
    """Set ``value`` at ``path`` under spec (None deletes the key)."""
    def change(body: Body) -> None:
        node = body["spec"]
        for part in path[:-1]:
            node = node[part]
        if value is None:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return change


# (kind, how it breaks, field path, istiod's message)
CASES: list[tuple[str, Callable[[Body], None], str, str]] = [
    # Gateway: validation.go ValidateGateway / validateServer / validateTLSOptions
    ("Gateway", spec_set(servers=[]), "spec.servers", "gateway must have at least one server"),
    ("Gateway", server(0, hosts=[]), "spec.servers[0].hosts",
     "server config must contain at least one host"),
    ("Gateway", server(2, tls=None), "spec.servers[2]",
     "server must have TLS settings for HTTPS/TLS protocols"),
    ("Gateway", at("servers", 2, "tls", value=None), "spec.servers[2]",
     "server must have TLS settings for HTTPS/TLS protocols"),
    ("Gateway", at("servers", 1, "port", "name", value="http"), "spec.servers[1].port.name",
     "port names in servers must be unique: duplicate name http"),
    ("Gateway", server(0, hosts=["apps/cnn"]), "spec.servers[0].hosts[0]",
     "short names (non FQDN) are not allowed"),
    ("Gateway", server(0, hosts=["Apps_1/edition.cnn.com"]), "spec.servers[0].hosts[0]",
     'invalid namespace value "Apps_1" in gateway'),
    ("Gateway", server(0, hosts=["apps/edi*.cnn.com"]), "spec.servers[0].hosts[0]",
     'partial wildcard "edi*.cnn.com" not allowed'),
    ("Gateway", server(0, hosts=["/edition.cnn.com"]), "spec.servers[0].hosts[0]",
     "config namespace and dnsName in host entry cannot be empty"),
    ("Gateway", at("servers", 0, "port", "protocol", value="HTTPX"),
     "spec.servers[0].port.protocol", 'invalid protocol "HTTPX", supported protocols are HTTP, '
                                     "HTTP2, GRPC, GRPC-WEB, MONGO, REDIS, MYSQL, TCP"),
    ("Gateway", at("servers", 0, "port", "number", value=70000), "spec.servers[0].port.number",
     "port number 70000 must be in the range 1..65535"),
    ("Gateway", at("servers", 0, "port", "name", value=""), "spec.servers[0].port.name",
     'port name must be set: number:80 protocol:"HTTP"'),
    ("Gateway", server(2, tls={"mode": "SIMPLE"}), "spec.servers[2].tls",
     "SIMPLE TLS requires a server certificate"),
    ("Gateway", server(2, tls={"mode": "MUTUAL", "serverCertificate": "/c", "privateKey": "/k"}),
     "spec.servers[2].tls.caCertificates", "MUTUAL TLS requires a client CA bundle"),
    ("Gateway", server(2, tls={"mode": "ISTIO_MUTUAL", "credentialName": "x"}),
     "spec.servers[2].tls", "ISTIO_MUTUAL TLS cannot have associated credentialName"),
    ("Gateway", server(2, tls={"mode": "SIMPLE", "credentialName": "x",
                               "serverCertificate": "/c", "privateKey": "/k"}),
     "spec.servers[2].tls", "only one of credential_name, credential_names, "
                           "server_certificate/private_key, tls_certificates should be specified"),
    ("Gateway", server(0, tls={"mode": "SIMPLE", "credentialName": "x"}), "spec.servers[0].tls",
     "server cannot have TLS settings for plain text HTTP ports"),
    ("Gateway", server(0, port={"number": 3306, "name": "tcp", "protocol": "TCP"},
                       tls={"httpsRedirect": True}), "spec.servers[0].tls",
     "server cannot have TLS settings for non HTTPS/TLS ports"),
    ("Gateway", server(0, bind="10.0.0.300"), "spec.servers[0].bind",
     "10.0.0.300 is not a valid IP"),
    ("Gateway", lambda body: body["metadata"].update(name="egress.gw"), "metadata.name",
     'invalid gateway name: "egress.gw"'),
    # DestinationRule: agent/validation.go ValidateTLS, validation.go validateTrafficPolicy
    ("DestinationRule", at("trafficPolicy", "tls", value={"mode": "MUTUAL"}),
     "spec.trafficPolicy.tls.clientCertificate", "client certificate required for mutual tls"),
    ("DestinationRule", at("trafficPolicy", "tls", value={"mode": "MUTUAL"}),
     "spec.trafficPolicy.tls.privateKey", "private key required for mutual tls"),
    ("DestinationRule", at("subsets", 0, "trafficPolicy", "tls", "privateKey", value=None),
     "spec.subsets[0].trafficPolicy.tls.privateKey", "private key required for mutual tls"),
    ("DestinationRule", at("trafficPolicy", "tls", "caCertificates", value="/etc/ca.pem"),
     "spec.trafficPolicy.tls", "cannot specify client certificates or CA certificate or CA CRL "
                               "If credentialName is set"),
    ("DestinationRule", at("trafficPolicy", "tls", value={
        "mode": "SIMPLE", "insecureSkipVerify": True, "subjectAltNames": ["a.example.com"]}),
     "spec.trafficPolicy.tls", "cannot specify CaCertificates or CredentialName or "
                               "SubjectAltNames when InsecureSkipVerify is set true"),
    ("DestinationRule", at("subsets", 0, "name", value=""), "spec.subsets[0].name",
     "subset name cannot be empty"),
    ("DestinationRule", at("subsets", 0, "name", value="v1.0"), "spec.subsets[0].name",
     "subset name is invalid: v1.0"),
    ("DestinationRule", lambda body: body["spec"]["subsets"].append({"name": "cnn"}),
     "spec.subsets[1].name", "duplicate subset names: cnn"),
    ("DestinationRule", at("trafficPolicy", value={}), "spec.trafficPolicy",
     "traffic policy must have at least one field"),
    ("DestinationRule", at("host", value="edition_cnn.com"), "spec.host",
     'domain name "edition_cnn.com" invalid (label "edition_cnn" invalid)'),
    ("DestinationRule", at("trafficPolicy", "tunnel", value={
        "protocol": "GET", "targetHost": "proxy.example.com", "targetPort": 3128}),
     "spec.trafficPolicy.tunnel.protocol", 'tunnel protocol must be "CONNECT" or "POST"'),
    # VirtualService: validation.go ValidateVirtualService, virtualservice.go validateHTTPRoute
    ("VirtualService", at("hosts", value=None), "spec.gateways",
     "delegate virtual service must have no gateways specified"),
    ("VirtualService", at("hosts", value=None), "spec.tcp",
     "delegate virtual service must have no tcp route specified"),
    ("VirtualService", at("hosts", value=["*"]), "spec.hosts[0]",
     "wildcard host * is not allowed for virtual services bound to the mesh gateway"),
    ("VirtualService", at("hosts", value=["edition.cnn.com", "*.cnn.com"]), "spec.hosts",
     "duplicate hosts in virtual service: edition.cnn.com & *.cnn.com"),
    ("VirtualService", at("http", 0, "route", value=[
        {"destination": {"host": "a.example.com"}, "weight": 0},
        {"destination": {"host": "b.example.com"}, "weight": 0}]),
     "spec.http[0].route", "total destination weight = 0"),
    ("VirtualService", at("http", 0, "route", 0, "weight", value=-5),
     "spec.http[0].route[0].weight",
     "weight -5 < 0"),
    ("VirtualService", at("http", 0, "route", 0, "destination", "host", value="*"),
     "spec.http[0].route[0].destination", "invalid destination host *"),
    ("VirtualService", at("http", 0, "route", value=None), "spec.http[0]",
     "HTTP route, redirect or direct_response is required"),
    ("VirtualService", at("http", 0, "redirect", value={"uri": "/x"}), "spec.http[0]",
     "HTTP route cannot contain both route and redirect"),
    ("VirtualService", at("http", 0, "delegate", value={"name": "d", "namespace": "apps"}),
     "spec.http[0]", "root HTTP route  must not specify route"),
    ("VirtualService", at("tls", 0, "match", 0, "sniHosts", value=["www.wikipedia.org"]),
     "spec.tls[0].match[0].sniHosts[0]", 'SNI host "www.wikipedia.org" is not a compatible subset '
                                       "of any of the virtual service hosts: [edition.cnn.com]"),
    ("VirtualService", at("tls", 0, "match", value=[]), "spec.tls[0].match",
     "TLS route must have at least one match condition"),
    ("VirtualService", at("tcp", 0, "route", value=[]), "spec.tcp[0].route",
     "TCP route is required"),
    # validateGatewayNames stops at the first name without a namespace, so "mesh" goes last.
    ("VirtualService", at("gateways", value=["istio-system/egress_gw", "mesh"]), "spec.gateways",
     'invalid value for gateway name: "egress_gw"'),
    ("VirtualService", spec_set(http=[], tls=[], tcp=[]), "spec",
     "http, tcp or tls must be provided in virtual service"),
    # Sidecar: validation.go ValidateSidecar
    ("Sidecar", at("egress", 0, "hosts", value=["edition.cnn.com"]), "spec.egress[0].hosts[0]",
     "host must be of form namespace/dnsName"),
    ("Sidecar", at("egress", 0, "hosts", value=["apps/cnn"]), "spec.egress[0].hosts[0]",
     "short names (non FQDN) are not allowed"),
    ("Sidecar", at("egress", 0, "hosts", value=["Bad_NS/*"]), "spec.egress[0].hosts[0]",
     'invalid namespace value "Bad_NS" in sidecar'),
    ("Sidecar", at("egress", 0, "hosts", value=[]), "spec.egress[0].hosts",
     "sidecar: egress listener must contain at least one host"),
    ("Sidecar", lambda body: body["spec"]["egress"].reverse(), "spec.egress[0]",
     "sidecar: the egress listener with empty port should be the last listener in the list"),
    ("Sidecar", lambda body: body["spec"]["egress"].insert(1, copy.deepcopy(
        body["spec"]["egress"][0])), "spec.egress[1].port",
     "sidecar: ports on IP bound listeners must be unique"),
    ("Sidecar", lambda body: body.update(spec={}), "spec",
     "sidecar: empty configuration provided"),
    ("Sidecar", at("outboundTrafficPolicy", "egressProxy", value={"host": "proxy.example.com"}),
     "spec.outboundTrafficPolicy.egressProxy",
     "sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode"),
    # EnvoyFilter: envoyfilter/envoyfilter.go validateEnvoyFilter
    ("EnvoyFilter", at("configPatches", 0, "patch", "operation", value=None),
     "spec.configPatches[0].patch.operation", "Envoy filter: missing patch operation"),
    ("EnvoyFilter", at("configPatches", 0, "patch", value=None), "spec.configPatches[0].patch",
     "Envoy filter: missing patch"),
    ("EnvoyFilter", at("configPatches", 0, "applyTo", value=None),
     "spec.configPatches[0].applyTo", "Envoy filter: missing applyTo"),
    ("EnvoyFilter", at("configPatches", 0, "patch", "value", value=None),
     "spec.configPatches[0].patch.value",
     "Envoy filter: missing patch value for non-remove operation"),
    ("EnvoyFilter", at("configPatches", 0, "patch", "value", "typed_config", "@type",
                       value="type.googleapis.com/envoy.config.filter.http.lua.v2.Lua"),
     "spec.configPatches[0].patch.value",
     "referenced type unknown (hint: try using the v3 XDS API): Envoy filter: could not "
     "resolve Any message type: type.googleapis.com/envoy.config.filter.http.lua.v2.Lua"),
    ("EnvoyFilter", at("configPatches", 0, "applyTo", value="NETWORK_FILTER"),
     "spec.configPatches[0].match.listener.filterChain.filter",
     "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only"),
    ("EnvoyFilter", at("configPatches", 0, "applyTo", value="CLUSTER"),
     "spec.configPatches[0].match",
     "Envoy filter: applyTo for cluster class objects cannot have non cluster match"),
    ("EnvoyFilter", at("configPatches", 0, "match", "listener", "filterChain", "filter", "name",
                       value="envoy.filters.network.tcp_proxy"),
     "spec.configPatches[0].match.listener.filterChain.filter",
     "Envoy filter: subfilter match requires filter match with "
     "envoy.filters.network.http_connection_manager"),
    # ServiceEntry: validation.go ValidateServiceEntry (what the CRD's CEL does not hold)
    ("ServiceEntry", lambda body: body["spec"]["ports"].append(
        {"number": 8080, "name": "http", "protocol": "HTTP"}), "spec.ports[2].name",
     'service entry port name "http" already defined'),
    ("ServiceEntry", at("ports", 0, "protocol", value="TCP"), "spec.ports[0].protocol",
     "multiple hosts provided with non-HTTP, non-TLS ports"),
    ("ServiceEntry", at("ports", 0, "protocol", value="QUIC"), "spec.ports[0].protocol",
     "unsupported protocol: QUIC"),
    ("ServiceEntry", at("endpoints", value=None), "spec.hosts",
     "hosts must be FQDN or contain only prefix wildcards if no endpoints are provided for "
     'resolution mode DNS, domain name "*.wikipedia.org" invalid (label "*" invalid)'),
    ("ServiceEntry", at("endpoints", 0, "ports", value={"https": 443}),
     "spec.endpoints[0].ports.https", "endpoint port 443 is not defined by the service entry"),
    ("ServiceEntry", at("endpoints", 0, "address", value="cnn_com"), "spec.endpoints[0].address",
     'endpoint address "cnn_com" is not a valid FQDN or an IP address'),
    ("ServiceEntry", spec_set(resolution="DYNAMIC_DNS", endpoints=None),
     "spec.hosts[0]", "host must be wildcarded for resolution mode DYNAMIC_DNS"),
    ("ServiceEntry", spec_set(addresses=["10.0.0.1/33"], resolution="STATIC",
                              endpoints=[{"address": "10.0.0.1"}]),
     "spec.addresses[0]", "10.0.0.1/33 is not a valid CIDR block"),
    ("ServiceEntry", at("ports", 0, "name", value="TLS_443"), "spec.ports[0].name",
     "invalid port name: TLS_443"),
    ("ServiceEntry", spec_set(resolution="STATIC"), "spec.endpoints[0].address",
     'endpoint address "edition.cnn.com" is not a valid IP address'),
    ("ServiceEntry", spec_set(resolution="STATIC", endpoints=[{"address": "unix:///sock"}]),
     "spec.endpoints[0]", "exactly 1 service port required for unix endpoints"),
    # AuthorizationPolicy: validation.go ValidateAuthorizationPolicy
    ("AuthorizationPolicy", spec_set(action="CUSTOM"), "spec.provider.name",
     "invalid policy egress.apps: `provider.name` must not be empty"),
    ("AuthorizationPolicy", spec_set(action="DENY", rules=[]), "spec.rules",
     "invalid policy egress.apps: DENY action without `rules` is meaningless as it will never be "
     "triggered, add an empty rule `{}` if you want it be triggered for every request"),
    ("AuthorizationPolicy", spec_set(provider={"name": "ext-authz"}), "spec.provider",
     "invalid policy egress.apps: `provider` must not be with non CUSTOM action, found ALLOW"),
    ("AuthorizationPolicy", at("rules", 0, "from", 0, "source", value={}),
     "spec.rules[0].from[0].source",
     "invalid policy egress.apps: `from.source` must not be empty, found at rule 0"),
    ("AuthorizationPolicy", at("rules", 0, "to", 0, "operation", value={}),
     "spec.rules[0].to[0].operation",
     "invalid policy egress.apps: `to.operation` must not be empty, found at rule 0"),
    ("AuthorizationPolicy", at("rules", 0, "to", 0, "operation", "ports", value=["https"]),
     "spec.rules[0].to[0].operation.ports", "invalid policy egress.apps: bad port (https): "
     'strconv.ParseUint: parsing "https": invalid syntax'),
    ("AuthorizationPolicy", at("rules", 0, "from", 0, "source", value={"ipBlocks": ["1.2.3"]}),
     "spec.rules[0].from[0].source.ipBlocks", "invalid policy egress.apps: bad IP address (1.2.3)"),
    ("AuthorizationPolicy", at("rules", 0, "when", 0, "values", value=None),
     "spec.rules[0].when[0]",
     "invalid policy egress.apps: at least one of `values` or `notValues` must be set for key "
     "connection.sni"),
    ("AuthorizationPolicy", spec_set(action="CUSTOM", provider={"name": "ext-authz"}),
     "spec.rules[0].from[0].source.principals",
     "invalid policy egress.apps: From.Principals is currently not supported with CUSTOM action"),
]


@pytest.mark.parametrize("kind", sorted(VALID))
def test_the_valid_documents_pass(kind: str) -> None:
    assert webhook_problems(VALID[kind]) == []


@pytest.mark.parametrize(("kind", "change", "path", "message"), CASES,
                         ids=[f"{c[0]}:{c[3][:50]}" for c in CASES])
def test_a_broken_document_gets_istiods_message(kind: str, change: Callable[[Body], None],
                                                path: str, message: str) -> None:
    found = webhook_problems(broken(kind, change))
    assert (path, message) in found, found


def test_passing_variants_that_look_wrong_but_istiod_admits() -> None:
    # A Gateway may name an IP as host; an HTTP server may carry only httpsRedirect.
    gateway = broken("Gateway", server(0, hosts=["10.0.0.1"], tls={"httpsRedirect": True}))
    # A delegate VirtualService (no hosts) with only http routes is fine.
    delegate = broken("VirtualService", spec_set(hosts=[], gateways=[], tls=[], tcp=[]))
    del delegate["spec"]["hosts"]
    # MUTUAL with a credential needs no client certificate files; ISTIO_MUTUAL needs nothing.
    rule = broken("DestinationRule", at("trafficPolicy", "tls", value={"mode": "ISTIO_MUTUAL"}))
    # DYNAMIC_DNS with wildcard hosts only and HTTP/TLS ports is what istiod wants.
    dynamic = broken("ServiceEntry", spec_set(hosts=["*.wikipedia.org"], resolution="DYNAMIC_DNS"))
    del dynamic["spec"]["endpoints"]
    # STATIC with IP endpoints whose ports the entry defines.
    static = broken("ServiceEntry", spec_set(resolution="STATIC", endpoints=[
        {"address": "203.0.113.7", "ports": {"tls": 8443}}, {"address": "2001:db8::7"}]))
    # A waypoint patch is not validated by istiod yet.
    waypoint = broken("EnvoyFilter", at("configPatches", 0, "match", value={"context": "WAYPOINT"}))
    del waypoint["spec"]["configPatches"][0]["patch"]["operation"]
    for body in (gateway, delegate, rule, dynamic, static, waypoint):
        assert webhook_problems(body) == [], body


def test_rules_the_crd_already_holds_are_left_to_the_schema() -> None:
    # Absent required fields and the CRD's CEL rules are the API server's, before the webhook.
    no_hosts = broken("Gateway", lambda body: body["spec"]["servers"][0].pop("hosts"))
    se_star = broken("ServiceEntry", at("hosts", value=["*"]))
    none_endpoints = broken("ServiceEntry", spec_set(resolution="NONE"))
    for body in (no_hosts, se_star, none_endpoints):
        assert webhook_problems(body) == [], body


def test_kinds_istiod_does_not_validate_here_and_odd_shapes_are_quiet() -> None:
    assert webhook_problems({"apiVersion": "v1", "kind": "Service", "spec": {}}) == []
    # Wrong types are the schema's to report; the webhook rules must not crash on them.
    assert webhook_problems(doc("Gateway", {"servers": "nope"})) == [
        ("spec.servers", "gateway must have at least one server")]
    assert webhook_problems(doc("VirtualService", [])) == [  # type: ignore[arg-type]
        ("spec", "http, tcp or tls must be provided in virtual service")]


def test_every_catalog_manifest_passes_istiods_rules() -> None:
    checked, problems = 0, []
    for scenario in catalog.ALL:
        for layout in (Layout.seed(scenario), Layout.isolated_for(scenario, "lint")):
            for rendered in render_scenario(scenario, layout):
                checked += 1
                problems += [(scenario.id, layout.name, rendered.source, *problem)
                             for problem in webhook_problems(rendered.body)]
    assert checked > 100
    assert problems == []
