"""Gateway API objects in the shapes Istio's egress docs use (an egress Gateway with an HTTP
listener and a TLS Passthrough listener, an HTTPRoute whose parent is a ServiceEntry and whose
backend is a Hostname, a TLSRoute, a ReferenceGrant, a BackendTLSPolicy) pass the bundled
experimental-channel CRDs at the version each Istio minor pins; typos and objects that break a
CEL rule fail."""

from __future__ import annotations

import pytest

from egress_e2e.rendering import lint, structural

GATEWAY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: partner-egress
  namespace: egress
  annotations: {networking.istio.io/service-type: ClusterIP}
spec:
  gatewayClassName: istio
  listeners:
  - name: http
    hostname: api.partner.test
    port: 80
    protocol: HTTP
    allowedRoutes: {namespaces: {from: Same}}
  - name: tls
    hostname: secure.partner.test
    port: 443
    protocol: TLS
    tls: {mode: Passthrough}
    allowedRoutes: {namespaces: {from: Same}}
"""
HTTPROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: partner-via-egress, namespace: egress}
spec:
  parentRefs:
  - {kind: ServiceEntry, group: networking.istio.io, name: partner-api}
  - {name: partner-egress, sectionName: http}
  rules:
  - matches: [{path: {type: PathPrefix, value: /v2}}]
    backendRefs:
    - {kind: Hostname, group: networking.istio.io, name: api.partner.test, port: 80}
"""
TLSROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: TLSRoute
metadata: {name: secure-partner, namespace: egress}
spec:
  parentRefs: [{name: partner-egress, sectionName: tls}]
  hostnames: [secure.partner.test]
  rules:
  - backendRefs:
    - {kind: Hostname, group: networking.istio.io, name: secure.partner.test, port: 443}
"""
REFERENCEGRANT = """\
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow-egress-routes, namespace: shop}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: egress}]
  to: [{group: "", kind: Service}]
"""
BACKENDTLSPOLICY = """\
apiVersion: gateway.networking.k8s.io/v1
kind: BackendTLSPolicy
metadata: {name: partner-tls, namespace: egress}
spec:
  targetRefs: [{group: "", kind: Service, name: partner-api}]
  validation:
    hostname: api.partner.test
    wellKnownCACertificates: System
"""
TCPROUTE = """\
apiVersion: gateway.networking.k8s.io/v1
kind: TCPRoute
metadata: {name: partner-db, namespace: egress}
spec:
  parentRefs: [{name: partner-egress}]
  rules: [{backendRefs: [{name: partner-db, port: 5432}]}]
"""
VALID = {"gateway": GATEWAY, "httproute": HTTPROUTE, "tlsroute": TLSROUTE,
         "referencegrant": REFERENCEGRANT, "backendtlspolicy": BACKENDTLSPOLICY}


def problems(text: str, version: str) -> list[str]:
    return [f"{p.field}: {p.message}" for p in lint.lint_text(text, "g.yaml", version)]


@pytest.mark.parametrize("version", ["1.31", "1.30"])
@pytest.mark.parametrize("case", sorted(VALID))
def test_egress_shapes_from_istios_docs_pass(case: str, version: str) -> None:
    assert problems(VALID[case], version) == []


def test_tcproute_v1_is_served_from_gateway_api_1_6_only() -> None:
    assert problems(TCPROUTE, "1.31") == []
    (line,) = problems(TCPROUTE, "1.30")
    assert line.startswith("kind: unknown kind gateway.networking.k8s.io/v1 TCPRoute for "
                           "Istio 1.30's CRDs (served: gateway.networking.k8s.io/v1alpha2)")


@pytest.mark.parametrize(("text", "expected"), [
    (GATEWAY.replace("allowedRoutes: {namespaces: {from: Same}}\n  - name: tls",
                     "allowedRoute: {namespaces: {from: Same}}\n  - name: tls"),
     "spec.listeners[0].allowedRoute: " + structural.UNKNOWN_FIELD.format(
         path="spec.listeners[0].allowedRoute")),
    (HTTPROUTE.replace("backendRefs:", "backendRef:"),
     "spec.rules[0].backendRef: " + structural.UNKNOWN_FIELD.format(
         path="spec.rules[0].backendRef")),
    (GATEWAY.replace("protocol: TLS", "protocol: TLS passthrough"),
     "spec.listeners[1].protocol: Invalid value: \"TLS passthrough\": spec.listeners[1].protocol "
     "in body should match"),
    (GATEWAY.replace("mode: Passthrough", "mode: PassThrough"),
     'spec.listeners[1].tls.mode: Unsupported value: "PassThrough": supported values: '
     '"Terminate", "Passthrough"'),
    (TLSROUTE.replace("port: 443", "port: '443'"),
     'spec.rules[0].backendRefs[0].port: Invalid value: "string"'),
])
def test_typos_fail(text: str, expected: str) -> None:
    assert any(line.startswith(expected) for line in problems(text, "1.31")), \
        problems(text, "1.31")


@pytest.mark.parametrize(("text", "message"), [
    # Two listeners for one port, protocol and hostname.
    (GATEWAY.replace("  - name: tls\n    hostname: secure.partner.test\n    port: 443\n"
                     "    protocol: TLS\n    tls: {mode: Passthrough}\n",
                     "  - name: http-again\n    hostname: api.partner.test\n    port: 80\n"
                     "    protocol: HTTP\n"),
     "Combination of port, protocol and hostname must be unique for each listener"),
    # Two listeners with one name.
    (GATEWAY.replace("name: tls", "name: http"), "Listener name must be unique within the Gateway"),
    # A TLS listener without tls.
    (GATEWAY.replace("    tls: {mode: Passthrough}\n", ""),
     "tls mode must be set for protocol TLS"),
    # TLS settings on a plain HTTP listener.
    (GATEWAY.replace("protocol: HTTP\n", "protocol: HTTP\n    tls: {mode: Terminate}\n"),
     "tls must not be specified for protocols ['HTTP', 'TCP', 'UDP']"),
    # Terminate without certificates: the rule reads the absent fields, so the API server
    # fails its evaluation ("no such key") rather than printing its message.
    (GATEWAY.replace("protocol: TLS\n    tls: {mode: Passthrough}",
                     "protocol: HTTPS\n    tls: {mode: Terminate}"),
     "evaluating rule: certificateRefs or options must be specified when mode is Terminate"),
    (GATEWAY.replace("protocol: TLS\n    tls: {mode: Passthrough}",
                     "protocol: HTTPS\n    tls: {mode: Terminate, certificateRefs: []}"),
     "no such key: options evaluating rule"),
    # An IP where a hostname belongs.
    (TLSROUTE.replace("hostnames: [secure.partner.test]", "hostnames: [10.1.2.3]"),
     "spec.hostnames: Invalid value: Hostnames cannot contain an IP"),
    # An exact path that is not absolute.
    (HTTPROUTE.replace("{type: PathPrefix, value: /v2}", "{type: Exact, value: v2}"),
     "value must be an absolute path and start with '/' when type one of ['Exact', "
     "'PathPrefix']"),
])
def test_objects_breaking_a_rule_fail(text: str, message: str) -> None:
    found = problems(text, "1.31")
    assert any(message in line for line in found), found


def test_status_is_ignored_where_the_crd_has_a_status_subresource() -> None:
    """On create the API server resets status behind a status subresource; ReferenceGrant has
    none, and no status field either."""
    assert problems(HTTPROUTE + "status: {parents: not-a-list}\n", "1.31") == []
    assert problems(REFERENCEGRANT + "status: {}\n", "1.31") == [
        "status: " + structural.UNKNOWN_FIELD.format(path="status")]
