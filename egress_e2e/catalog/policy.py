"""The policy layers around egress: who may use the gateway (AuthorizationPolicy), which
workloads may leave at all (Sidecar), and whether a pod can bypass the mesh (NetworkPolicy).
Seed 000 (dedicated gateway, AuthorizationPolicy, Sidecar) and seed 001's closing notes."""

from __future__ import annotations

from typing import Final

from egress_e2e.catalog._isolation import GATEWAY_IS_THE_EDGE, OWN_GATEWAY_SCOPED
from egress_e2e.catalog._seeds import HERMETIC, SEED_000, SEED_001
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    Body,
    CurlFails,
    Echoed,
    FakeSaw,
    LogLine,
    Status,
    Xfcc,
)
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, SeedNames, Step

# Seed 000's own names. Its VirtualService sends traffic to the Service
# curl-egress-tst.curl-egress-tst (the Deployment adds "-gateway"; the Service and account do
# not), so that is the gateway name here: the rendered host then reads as the seed's.
SEED_000_NAMES: Final = SeedNames(
    client_ns="curl-external-tst",
    other_ns="curl-other-tst",
    gateway_ns="curl-egress-tst",
    gateway_name="curl-egress-tst",
    gateway_sa="curl-egress-tst",
    gateway_installed=False,
)

RBAC_DENIED: Final = "RBAC: access denied"
_JSONPLACEHOLDER_HEADERS: Final = f"http://{hosts.JSONPLACEHOLDER}/headers"
_TLS_ORIGINATED_CLUSTER: Final = f"outbound|443||{hosts.JSONPLACEHOLDER}"

DEDICATED_GATEWAY_AUTHZ = Scenario(
    id="dedicated-gateway-authz",
    title="A gateway of one's own, admitting only the client namespace (as written, then with "
          "ISTIO_MUTUAL)",
    seeds=(
        Seed(SEED_000, "Resource Interactions 1-5 (Egress Gateway, TLS Origination, "
                       "Authorization)"),
        Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway and "
                       "mTLS Between the Sidecar and the Gateway"),
    ),
    flow=(
        Hop.app("plain HTTP"),
        Hop.sidecar("ISTIO_MUTUAL"),
        Hop.gateway("TLS originated", name="dedicated egress gateway"),
        Hop.external(hosts.JSONPLACEHOLDER),
    ),
    clients=("curl", "other"),
    seed_names=SEED_000_NAMES,
    steps=(
        Step(
            says="As written: the seed's ServiceEntry and mesh route in the client namespace; "
                 "the HTTP Gateway, its route to port 443, the SIMPLE origination and the "
                 "AuthorizationPolicy in the gateway's namespace. The sidecar-to-gateway hop is "
                 "plain HTTP: the Gateway server is HTTP on 80, no DestinationRule asks for "
                 "ISTIO_MUTUAL, and gateway pods lack the security.istio.io/tlsMode label that "
                 "auto-mTLS keys on. Without mTLS the gateway sees no peer identity, so the "
                 "rule on source.namespaces cannot match and the ALLOW policy denies.",
            apply=("serviceentry", "virtualservice-workload", "gateway",
                   "virtualservice-egress-gw", "destinationrule", "authorization-policy"),
            checks=(
                Check(
                    "the allowed namespace is denied: plaintext carries no identity",
                    Curl(_JSONPLACEHOLDER_HEADERS),
                    (
                        Status(403),
                        Body(RBAC_DENIED),
                        # Denied on the gateway's plain HTTP listener (Service port 80 -> 8080).
                        LogLine(proxy="gateway", response_code=403, downstream_local_port=8080),
                        FakeSaw(reached=False),
                    ),
                ),
            ),
        ),
        Step(
            says="With ISTIO_MUTUAL, as the seed's README claims: the Gateway server becomes "
                 "HTTPS 443 with ISTIO_MUTUAL, a DestinationRule in the gateway's namespace "
                 "(so both clients' sidecars find it) wraps the hop to the gateway in "
                 "ISTIO_MUTUAL (SNI jsonplaceholder), and the "
                 "mesh route targets port 443. The AuthorizationPolicy is unchanged.",
            delete=("virtualservice-workload", "gateway", "virtualservice-egress-gw"),
            apply=("destinationrule-to-gateway-mtls", "gateway-mtls",
                   "virtualservice-egress-gw-mtls", "virtualservice-workload-mtls"),
            checks=(
                Check(
                    "the client namespace is admitted and the gateway originates TLS",
                    Curl(_JSONPLACEHOLDER_HEADERS),
                    (
                        Status(200),
                        Echoed("X-Envoy-Decorator-Operation",
                               equals=f"{hosts.JSONPLACEHOLDER}:443/*"),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        # The hop really is ISTIO_MUTUAL and the client's: the gateway that
                        # terminated it sets one XFCC element (SANITIZE_SET with the peer's
                        # URI, buildGatewayConnectionManager in pilot/pkg/networking/core/
                        # gateway.go), By= its own identity and URI= the client's.
                        Xfcc(by="gateway", uri="client"),
                        LogLine(proxy="gateway", response_code=200, downstream_local_port=8443,
                                sni=hosts.JSONPLACEHOLDER, cluster=_TLS_ORIGINATED_CLUSTER),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.JSONPLACEHOLDER),
                    ),
                ),
                Check(
                    "a client in another namespace is denied by the same policy",
                    Curl(_JSONPLACEHOLDER_HEADERS, client="other"),
                    (
                        Status(403),
                        Body(RBAC_DENIED),
                        LogLine(proxy="gateway", response_code=403, downstream_local_port=8443),
                        FakeSaw(reached=False),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        OWN_GATEWAY_SCOPED,
        "the seed's gateway is its own Deployment (inject.istio.io/templates: gateway) binding "
        "port 80 as uid 1337; the harness deploys the same kind of gateway with Istio's usual "
        "Service ports (80 -> 8080, 443 -> 8443)",
        "the origination DestinationRule also names the per-run fake CA (credentialName, a "
        "Secret in the gateway namespace): the gateway verifies the server certificate",
        "the seed's workload loops on /todos/1; the probe asks for /headers once per check so "
        "the fake echoes what it received",
        "the seed asserts nothing about the AuthorizationPolicy; the first step asserts what "
        "analysis predicts for the manifests as written (403 RBAC: access denied), the second "
        "adds the ISTIO_MUTUAL hop the README describes, and a client in a second namespace "
        "shows that the policy is what decides",
        "the seed shows no echo; step 2 proves its ISTIO_MUTUAL hop by the XFCC the gateway "
        "sets (By= the gateway's identity, URI= the client's), which a plaintext hop lacks",
    ),
    tags=("authz", "mtls"),
)

SIDECAR_REGISTRY_ONLY = Scenario(
    id="sidecar-registry-only",
    title="A Sidecar resource makes one workload REGISTRY_ONLY in an ALLOW_ANY namespace",
    seeds=(Seed(SEED_000, "Optional sidecar.yaml"),),
    flow=(Hop.app("plain HTTP", name="curl-restricted"), Hop.sidecar("blocked"),
          Hop.external(hosts.JSONPLACEHOLDER)),
    gateway="none",
    outbound_policy="ALLOW_ANY",
    clients=("curl", "restricted"),
    seed_names=SEED_000_NAMES,
    steps=(
        Step(
            says="The namespace is ALLOW_ANY (a namespace-wide Sidecar); the seed's Sidecar "
                 "selects one workload and sets REGISTRY_ONLY for it. No ServiceEntry: the "
                 "host is unregistered.",
            apply=("sidecar",),
            checks=(
                Check(
                    "the selected workload's plain HTTP gets 502 from its sidecar's block_all",
                    Curl(_JSONPLACEHOLDER_HEADERS, client="restricted"),
                    (
                        Status(502),
                        LogLine(proxy="sidecar", response_code=502, route_name="block_all"),
                        FakeSaw(reached=False),
                    ),
                ),
                Check(
                    "the selected workload's HTTPS is reset: BlackHoleCluster",
                    # The CA is trusted so that a certificate error cannot pass as the block.
                    Curl(f"https://{hosts.JSONPLACEHOLDER}/headers", client="restricted",
                         trust_fake_ca=True),
                    (
                        CurlFails(exit_codes=(35, 56)),
                        # The catch-all listener reads no SNI: the line has none.
                        LogLine(proxy="sidecar", tcp=True, match_sni=False,
                                cluster="BlackHoleCluster", downstream_local_port=443),
                        FakeSaw(reached=False),
                    ),
                ),
                Check(
                    "another workload in the same namespace still leaves (PassthroughCluster)",
                    Curl(_JSONPLACEHOLDER_HEADERS),
                    (
                        Status(200),
                        LogLine(proxy="sidecar", response_code=200,
                                cluster="PassthroughCluster"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        "the seed's Sidecar selects app: curl-test; here it selects the restricted client "
        "(app: curl-restricted) so that a second, unselected client shares the namespace",
        "the mesh is installed REGISTRY_ONLY; a namespace-wide Sidecar gives the client "
        "namespace the ALLOW_ANY the seed's setup implies, and the seed's workload Sidecar "
        "overrides it for the selected pod",
    ),
    tags=("sidecar",),
)

_HTTPBIN_HEADERS: Final = f"http://{hosts.HTTPBIN}/headers"

NETWORKPOLICY_BYPASS_BLOCKED = Scenario(
    id="networkpolicy-bypass-blocked",
    title="A NetworkPolicy lets only the egress gateway leave: a pod without a sidecar cannot "
          "bypass it",
    seeds=(
        Seed(SEED_001, "Additional notes with egress gateways (Kubernetes network policies)"),
        Seed(SEED_001, "HTTP through Egress Gateway (still insecure)"),
    ),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("plain HTTP"),
          Hop.external(hosts.HTTPBIN)),
    clients=("curl", "uninjected"),
    needs_network_policy=True,
    steps=(
        Step(
            says="HTTP through the gateway, as in seed 001; no NetworkPolicy yet, so a pod "
                 "without a sidecar can still go around the mesh.",
            apply=("serviceentry", "gateway", "virtualservice"),
            checks=(
                Check(
                    "the injected client goes through the gateway",
                    Curl(_HTTPBIN_HEADERS),
                    (
                        Status(200),
                        # Istio 1.30/1.31 run gateway HTTP servers with use_remote_address
                        # and no internal address ranges (pilot/pkg/networking/core/
                        # gateway.go); on Envoy >= 1.33 the sidecar's request is an edge
                        # request there: no X-Envoy-Internal, X-Envoy-External-Address added.
                        Echoed("X-Envoy-Internal", absent=True),
                        Echoed.present("X-Envoy-External-Address"),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        LogLine(proxy="gateway", response_code=200,
                                cluster=f"outbound|80||{hosts.HTTPBIN}"),
                    ),
                ),
                Check(
                    "the bypass exists: the uninjected pod reaches the fake directly",
                    Curl(_HTTPBIN_HEADERS, client="uninjected"),
                    (
                        Status(200),
                        Echoed("X-Envoy-Peer-Metadata-Id", absent=True),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
        Step(
            says="The NetworkPolicy: pods of the client namespace may reach only the cluster "
                 "DNS, istiod and the egress gateway's pods.",
            apply=("networkpolicy",),
            checks=(
                Check(
                    "the uninjected pod's direct request times out",
                    # Dropped packets give no answer at all: curl's connect timeout (exit 28),
                    # never a refusal or a reset.
                    Curl(_HTTPBIN_HEADERS, client="uninjected", timeout_s=5.0),
                    (
                        CurlFails(exit_codes=(28,)),
                        FakeSaw(reached=False),
                    ),
                ),
                Check(
                    "the injected client still gets through the gateway",
                    Curl(_HTTPBIN_HEADERS),
                    (
                        Status(200),
                        # Istio 1.30/1.31 run gateway HTTP servers with use_remote_address
                        # and no internal address ranges (pilot/pkg/networking/core/
                        # gateway.go); on Envoy >= 1.33 the sidecar's request is an edge
                        # request there: no X-Envoy-Internal, X-Envoy-External-Address added.
                        Echoed("X-Envoy-Internal", absent=True),
                        Echoed.present("X-Envoy-External-Address"),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        LogLine(proxy="gateway", response_code=200,
                                cluster=f"outbound|80||{hosts.HTTPBIN}"),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        OWN_GATEWAY_SCOPED,
        "the seed only recommends a NetworkPolicy; this one is written here: egress from the "
        "client namespace to kube-dns, istiod (15012) and the gateway's pods only",
        "a first step shows the bypass working before the policy, so the timeout afterwards is "
        "the policy's doing",
        "needs a CNI that enforces NetworkPolicy; the run detects enforcement (session.netpol) "
        "and skips with the detected reason when it does not",
        GATEWAY_IS_THE_EDGE,
    ),
    tags=("networkpolicy",),
)

SCENARIOS = (DEDICATED_GATEWAY_AUTHZ, SIDECAR_REGISTRY_ONLY, NETWORKPOLICY_BYPASS_BLOCKED)
