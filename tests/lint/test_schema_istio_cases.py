"""Istio's own labelled CRD validation cases (istio/istio release-1.31
pkg/config/validation/testdata/crds/*-valid.yaml and *-invalid.yaml), re-expressed with our own
names and hosts for the kinds the catalog uses: each valid object passes the bundled 1.31 CRD
schema and CEL rules, each invalid one fails with the message of the rule it breaks.

Upstream has no such data for VirtualService, Gateway or Sidecar; test_structural_lint.py
covers those kinds. Only the CRD is exercised here (istiod's webhook rules are webhook.py's).
"""

from __future__ import annotations

import pytest
import yaml

from egress_e2e.rendering import lint, schemas, structural


def crd_problems(text: str, minor: str = "1.31") -> list[str]:
    body = lint.as_kubectl_json(yaml.safe_load(text))
    entry = schemas.kinds_for(minor)[(body["apiVersion"], body["kind"])]
    return [f"{field}: {message}" for field, message in structural.validate(entry.schema, body)]


SE = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\n"
DR = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr}\n"
AP = "apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ap}\n"
EF = "apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: ef}\n"
PA = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\n"
TM = "apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: {name: tm}\n"

VALID = {
    "se-everything": SE + """\
spec:
  hosts: [api.partner.test]
  workloadSelector: {labels: {role: vm}}
  addresses: [10.9.8.7, "2001:db8::"]
  exportTo: [shop, .]
  location: MESH_EXTERNAL
  ports: [{name: web, protocol: HTTP, number: 8081, targetPort: 9091}]
  subjectAltNames: [spiffe://partner/sa]
  resolution: DNS
""",
    "se-dns-endpoint": SE + """\
spec:
  hosts: [api.partner.test]
  endpoints: [{address: lb.partner.test}]
  ports: [{name: web, protocol: HTTP, number: 8081, targetPort: 9091}]
  resolution: DNS
""",
    "se-empty-selector": SE + "spec: {hosts: [api.partner.test], workloadSelector: {}}\n",
    "dr-warmup": DR + """\
spec:
  host: shop.store.svc.cluster.local
  trafficPolicy: {loadBalancer: {warmup: {duration: 120s, minimumPercent: 10.0, aggression: 2.0}}}
""",
    "dr-http2-keepalive": DR + """\
spec:
  host: shop.store.svc.cluster.local
  trafficPolicy: {connectionPool: {http: {http2KeepAlive: {interval: 20s, timeout: 3s}}}}
""",
    "ap-every-field": AP + """\
spec:
  selector: {matchLabels: {app: shop}}
  rules:
  - from:
    - source:
        principals: [cluster.local/ns/a/sa/b, "pre-*", "*"]
        requestPrincipals: ["issuer/sub"]
        namespaces: [checkout, "*-suffix"]
        ipBlocks: [10.1.2.3, 10.2.0.0/16]
        remoteIpBlocks: [192.0.2.1]
        notPrincipals: [bad]
        notNamespaces: [legacy]
        notIpBlocks: [10.9.0.0/16]
        trustDomains: [corp.example, "*"]
        notTrustDomains: [old.example]
    to:
    - operation:
        methods: [GET]
        hosts: [shop.test, "*.shop.test"]
        ports: ["8080"]
        paths: [/cart, "/items/*", "/{**}/tail"]
        notPorts: ["9999"]
    when:
    - {key: "request.headers[x-team]", values: [blue], notValues: [red]}
    - {key: destination.port, values: ["8080"]}
""",
    "ap-service-accounts-alone": AP + """\
spec:
  rules:
  - from:
    - source: {serviceAccounts: [shop/cart, cart]}
    - source: {principals: [someone]}
    - source: {namespaces: [shop]}
""",
    "ef-ext-proc-no-context": EF + """\
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      listener: {filterChain: {filter: {name: envoy.filters.network.http_connection_manager}}}
    patch:
      operation: INSERT_FIRST
      value:
        name: envoy.filters.http.ext_proc
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor
          failure_mode_allow: true
""",
    "ef-waypoint-filter": EF + """\
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: WAYPOINT
      waypoint:
        filter:
          name: envoy.filters.network.http_connection_manager
          subFilter: {name: envoy.filters.http.router}
    patch: {operation: REMOVE}
""",
    "ef-waypoint-cluster": EF + """\
spec:
  configPatches:
  - {applyTo: CLUSTER, match: {context: WAYPOINT, waypoint: {}}, patch: {operation: REMOVE}}
""",
    "ef-add-cluster": EF + """\
spec:
  configPatches:
  - {applyTo: CLUSTER, patch: {operation: ADD, value: {name: side_cluster}}}
""",
    "ef-merge-and-replace-list": EF + """\
spec:
  configPatches:
  - applyTo: NETWORK_FILTER
    match: {listener: {filterChain: {transportProtocol: tls}}}
    patch:
      operation: MERGE_AND_REPLACE_LIST
      value: {name: envoy.filters.network.tcp_proxy, typed_config: {stat_prefix: x}}
""",
    "pa-port-level": PA + """\
spec:
  selector: {matchLabels: {app: shop}}
  mtls: {mode: PERMISSIVE}
  portLevelMtls: {"8443": {mode: STRICT}}
""",
    "pa-integer-port-key": PA + """\
spec:
  selector: {matchLabels: {app: shop}}
  portLevelMtls:
    8443: {mode: DISABLE}
""",
    "pa-empty-selector": PA + "spec: {selector: {}}\n",
    "tm-tag-upsert-and-remove": TM + """\
spec:
  metrics:
  - providers: [{name: prometheus}]
    overrides:
    - match: {metric: REQUEST_COUNT}
      tagOverrides:
        team: {operation: UPSERT, value: "'blue'"}
        request_protocol: {operation: REMOVE}
""",
}

# (case, object, what the error line must contain: the rule's message or the API server's).
INVALID = [
    ("se-no-spec", SE, "spec: Required value"),
    ("se-no-hosts", SE + "spec: {}\n", "spec.hosts: Required value"),
    ("se-wildcard-label", SE + "spec: {hosts: [a.test], workloadSelector: {labels: {app: '*'}}}\n",
     "wildcard is not supported in selector"),
    ("se-selector-and-endpoints",
     SE + "spec: {hosts: [a.test], workloadSelector: {}, endpoints: [{address: 10.0.0.1}]}\n",
     "only one of WorkloadSelector or Endpoints can be set"),
    ("se-wildcard-host", SE + "spec: {hosts: ['*']}\n", "hostname cannot be wildcard"),
    ("se-cidr-with-dns", SE + "spec: {hosts: [a.test], addresses: [10.0.0.0/8], resolution: DNS}\n",
     "CIDR addresses are allowed only for NONE/STATIC resolution types"),
    ("se-duplicate-port-name",
     SE + "spec: {hosts: [a.test], ports: [{name: p, number: 81}, {name: p, number: 82}]}\n",
     "spec.ports[1]: Duplicate value"),
    ("se-duplicate-port-number",
     SE + "spec: {hosts: [a.test], ports: [{name: p, number: 81}, {name: q, number: 81}]}\n",
     "port number cannot be duplicated"),
    ("se-port-too-high", SE + "spec: {hosts: [a.test], ports: [{name: p, number: 65536}]}\n",
     "spec.ports[0].number: Invalid value: 65536: port must be between 1-65535"),
    ("se-target-port-too-high",
     SE + "spec: {hosts: [a.test], ports: [{name: p, number: 81, targetPort: 70000}]}\n",
     "port must be between 1-65535"),
    ("se-none-with-endpoints",
     SE + "spec: {hosts: [a.test], resolution: NONE, endpoints: [{address: 10.0.0.1}]}\n",
     "NONE mode cannot set endpoints"),
    ("se-dns-rr-two-endpoints", SE + "spec: {hosts: [a.test], resolution: DNS_ROUND_ROBIN, "
     "endpoints: [{address: one.a.test}, {address: two.a.test}]}\n",
     "DNS_ROUND_ROBIN mode cannot have multiple endpoints"),
    ("dr-warmup-percent-over-100", DR + "spec: {host: s.test, trafficPolicy: {loadBalancer: "
     "{warmup: {duration: 60s, minimumPercent: 101.5}}}}\n",
     "spec.trafficPolicy.loadBalancer.warmup.minimumPercent: Invalid value"),
    ("dr-warmup-no-duration", DR + "spec: {host: s.test, trafficPolicy: {loadBalancer: "
     "{warmup: {minimumPercent: 10.0}}}}\n",
     "spec.trafficPolicy.loadBalancer.warmup.duration: Required value"),
    ("dr-warmup-negative-aggression", DR + "spec: {host: s.test, trafficPolicy: {loadBalancer: "
     "{warmup: {duration: 60s, aggression: -0.5}}}}\n",
     "spec.trafficPolicy.loadBalancer.warmup.aggression: Invalid value"),
    ("ap-service-accounts-with-namespaces", AP + "spec: {rules: [{from: [{source: "
     "{serviceAccounts: [shop/cart], namespaces: [shop]}}]}]}\n",
     "Cannot set serviceAccounts with namespaces or principals"),
    ("ap-service-accounts-with-principals", AP + "spec: {rules: [{from: [{source: "
     "{serviceAccounts: [shop/cart], principals: [someone]}}]}]}\n",
     "Cannot set serviceAccounts with namespaces or principals"),
    ("ef-waypoint-match-outside-waypoint", EF + "spec: {configPatches: [{applyTo: HTTP_FILTER, "
     "match: {context: SIDECAR_OUTBOUND, waypoint: {filter: {name: f}}}}]}\n",
     "spec.configPatches[0].match: Invalid value: only support waypointMatch when "
     "context is WAYPOINT"),
    ("ef-listener-match-in-waypoint", EF + "spec: {configPatches: [{applyTo: HTTP_FILTER, "
     "match: {context: WAYPOINT, listener: {filterChain: {filter: {name: f}}}}}]}\n",
     "only support waypointMatch when context is WAYPOINT"),
    ("ef-waypoint-port-too-high", EF + "spec: {configPatches: [{applyTo: HTTP_FILTER, "
     "match: {context: WAYPOINT, waypoint: {portNumber: 65536}}}]}\n",
     "spec.configPatches[0].match.waypoint.portNumber: Invalid value: 65536: port must be "
     "between 1-65535"),
    ("pa-unknown-mode", PA + "spec: {mtls: {mode: STRICTLY}}\n",
     'Unsupported value: "STRICTLY"'),
    ("pa-port-key-not-a-number", PA + "spec: {selector: {matchLabels: {app: a}}, "
     "portLevelMtls: {web: {mode: STRICT}}}\n",
     "type conversion error from 'string' to 'int' evaluating rule: "
     "port must be between 1-65535"),
    ("pa-port-level-without-selector", PA + "spec: {portLevelMtls: {'8443': {mode: STRICT}}}\n",
     "portLevelMtls requires selector"),
    ("pa-port-level-empty", PA + "spec: {selector: {matchLabels: {app: a}}, portLevelMtls: {}}\n",
     "spec.portLevelMtls in body should have at least 1 properties"),
    ("pa-port-zero", PA + "spec: {selector: {matchLabels: {app: a}}, "
     "portLevelMtls: {'0': {mode: STRICT}}}\n", "port must be between 1-65535"),
    ("pa-port-huge", PA + "spec: {selector: {matchLabels: {app: a}}, "
     "portLevelMtls: {'7000000': {mode: STRICT}}}\n", "port must be between 1-65535"),
    ("tm-empty-provider-name", TM + "spec: {metrics: [{providers: [{name: ''}]}]}\n",
     "name in body should be at least 1 chars long"),
    ("tm-empty-custom-metric",
     TM + "spec: {metrics: [{overrides: [{match: {customMetric: ''}}]}]}\n",
     "customMetric in body should be at least 1 chars long"),
    # Upstream labels this one with the rule's message; the rule reads `self.value`, which is
    # absent, so the API server fails the evaluation (cel-go: "no such key") instead.
    ("tm-upsert-without-value", TM + "spec: {metrics: [{overrides: [{tagOverrides: "
     "{team: {operation: UPSERT}}}]}]}\n", "no such key: value evaluating rule"),
    ("tm-remove-with-value", TM + "spec: {metrics: [{overrides: [{tagOverrides: "
     "{team: {operation: REMOVE, value: x}}}]}]}\n",
     "value must not be set when operation is REMOVE"),
]


@pytest.mark.parametrize("case", sorted(VALID))
def test_valid_istio_case_passes(case: str) -> None:
    assert crd_problems(VALID[case]) == []


@pytest.mark.parametrize(("case", "text", "expected"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_istio_case_fails_with_its_rule(case: str, text: str, expected: str) -> None:
    found = crd_problems(text)
    assert any(expected in line for line in found), (case, found)
