"""Seed 001's "Basic Egress Gateway Setup": plain HTTP through the egress gateway, TLS
origination at the gateway, and ISTIO_MUTUAL between sidecar and gateway with and without
origination. The seed builds each step on the last; here each scenario declares its whole set.
"""

from __future__ import annotations

from egress_e2e.catalog._isolation import GATEWAY_IS_THE_EDGE
from egress_e2e.catalog._seeds import HERMETIC, SEED_000, SEED_001, SEED_002
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import Echoed, FakeSaw, LogLine, Status, Xfcc
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, Step

HTTPBIN_HEADERS = Curl(f"http://{hosts.HTTPBIN}/headers")

# Said by every scenario that originates TLS to the fake.
TRUSTS_FAKE_CA = ("the origination DestinationRule adds credentialName: the per-run fake CA "
                  "Secret (key cacert) in the gateway's namespace, because proxies verify the "
                  "server certificate and the fake's is signed by that CA")
SCOPED = ("the isolated layout applies the same objects in the scenario's namespaces, with its "
          "own gateway and exportTo limited to those namespaces")

GATEWAY_HTTP = Scenario(
    id="gateway-http",
    title="Plain HTTP through the egress gateway (still insecure)",
    seeds=(
        Seed(SEED_001, "HTTP through Egress Gateway (still insecure)"),
        Seed(SEED_002, "Sending Traffic Through Egress Gateway (the HTTP route)"),
    ),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("plain HTTP"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="ServiceEntry for httpbin.org, a Gateway on the gateway's port 80 and a "
                 "VirtualService sending mesh traffic to the gateway and on to httpbin.org:80.",
            apply=("serviceentry", "gateway", "virtualservice"),
            checks=(
                Check(
                    "the request leaves through the gateway as plain HTTP",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        # Istio 1.30/1.31 run gateway HTTP servers with use_remote_address
                        # and no internal address ranges (pilot/pkg/networking/core/
                        # gateway.go); on Envoy >= 1.33 the sidecar's request is an edge
                        # request there: no X-Envoy-Internal, X-Envoy-External-Address added
                        # (tests/calibration shows both on Envoy 1.40).
                        Echoed("X-Envoy-Internal", absent=True),
                        Echoed.present("X-Envoy-External-Address"),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        LogLine(proxy="gateway", method="GET", path="/headers",
                                protocol="HTTP/2", response_code=200,
                                cluster="outbound|80||httpbin.org"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, SCOPED, GATEWAY_IS_THE_EDGE),
)

# What seed 001's echoes show leaking to httpbin.org (X-Envoy-Peer-Metadata, the workload's
# labels and names) stays in the mesh when the proxies exchange metadata only with peers.
IN_MESH = '{"proxyHeaders": {"metadataExchangeHeaders": {"mode": "IN_MESH"}}}'

GATEWAY_PEER_METADATA_IN_MESH = Scenario(
    id="gateway-peer-metadata-in-mesh",
    title="Plain HTTP through the gateway, with peer metadata kept inside the mesh (IN_MESH)",
    seeds=(Seed(SEED_001, "HTTP through Egress Gateway (still insecure)"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("plain HTTP"),
          Hop.external(hosts.HTTPBIN)),
    # Gateways honour metadataExchangeHeaders from Istio 1.26 on; before, the gateway still
    # sends its own X-Envoy-Peer-Metadata to the external host.
    requires_istio=">=1.26",
    proxy_config=IN_MESH,
    steps=(
        Step(
            says="gateway-http's resources, with the client and the gateway configured with "
                 "proxyHeaders.metadataExchangeHeaders.mode IN_MESH.",
            apply=("serviceentry", "gateway", "virtualservice"),
            checks=(
                Check(
                    "IN_MESH alone: the client's own metadata still reaches the fake",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Echoed("X-Envoy-Internal", absent=True),
                        # The sidecar adds its metadata toward the gateway, an in-mesh peer
                        # (the external-cluster skip covers only MeshExternal clusters:
                        # pilot/pkg/networking/core/cluster_builder.go); the gateway skips
                        # adding its own toward httpbin.org (gateway.go, 1.26+) and has no
                        # downstream discovery to remove the client's (istio/proxy
                        # peer_metadata): the fake sees sidecar~, not router~.
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="sidecar~"),
                        Echoed.present("X-Envoy-Peer-Metadata"),
                        LogLine(proxy="gateway", method="GET", path="/headers",
                                response_code=200, cluster="outbound|80||httpbin.org"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
        Step(
            says="The gateway's route removes x-envoy-peer-metadata and "
                 "x-envoy-peer-metadata-id before the request leaves.",
            apply=("virtualservice-strip-metadata",),
            checks=(
                Check(
                    "the request leaves through the gateway without the mesh's metadata",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Echoed("X-Envoy-Peer-Metadata", absent=True),
                        Echoed("X-Envoy-Peer-Metadata-Id", absent=True),
                        LogLine(proxy="gateway", method="GET", path="/headers",
                                response_code=200, cluster="outbound|80||httpbin.org"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC, SCOPED, GATEWAY_IS_THE_EDGE,
        "the seed shows the metadata reaching httpbin.org; this scenario sets the "
        "proxy.istio.io/config annotation on the client and the gateway (IN_MESH, honoured by "
        "gateways from Istio 1.26) and shows that on 1.30/1.31 this alone stops only the "
        "gateway's own metadata: the client sidecar's passes through the gateway, so a second "
        "step removes it on the gateway's route",
    ),
)

GATEWAY_TLS_ORIGINATION = Scenario(
    id="gateway-tls-origination",
    title="HTTP to the gateway, which originates TLS to httpbin.org:443",
    seeds=(
        Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway"),
        Seed(SEED_000, "TLS Origination (destintionrule.yaml)"),
    ),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("TLS originated"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="The HTTP setup with the gateway's route sent to httpbin.org:443 and a "
                 "DestinationRule originating TLS (SIMPLE) on port 443.",
            apply=("serviceentry", "gateway", "virtualservice", "destinationrule-originate-tls"),
            checks=(
                Check(
                    "the gateway turns the plain request into HTTPS",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Echoed("X-Envoy-Decorator-Operation", equals="httpbin.org:443/*"),
                        # The gateway, not the sidecar, originated: the fake's TLS peer wrote
                        # its own node id ("router~", pkg/model/context.go) into the
                        # metadata header (istio/proxy peer_metadata, which the gateway's HCM
                        # carries: pilot/pkg/networking/core/listener_builder.go with
                        # pilot/pkg/xds/filters/filters.go). Had the
                        # client sidecar originated and gone straight out, it would read
                        # "sidecar~".
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        LogLine(proxy="gateway", cluster="outbound|443||httpbin.org"),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.HTTPBIN),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, SCOPED, TRUSTS_FAKE_CA, GATEWAY_IS_THE_EDGE),
)

MTLS_GATEWAY_TLS_ORIGINATION = Scenario(
    id="mtls-gateway-tls-origination",
    title="ISTIO_MUTUAL from sidecar to gateway, TLS originated at the gateway",
    seeds=(Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway "
                          "and mTLS Between the Sidecar and the Gateway"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("TLS originated"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="Gateway on 443 with tls ISTIO_MUTUAL, a DestinationRule making the sidecar "
                 "use ISTIO_MUTUAL (sni httpbin.org) to the gateway, the VirtualService on the "
                 "new port, and the TLS-origination DestinationRule.",
            apply=("serviceentry", "gateway", "destinationrule-mtls-to-gateway",
                   "virtualservice", "destinationrule-originate-tls"),
            checks=(
                Check(
                    "the gateway terminates the mesh mTLS and originates TLS",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Xfcc(by="gateway", uri="client"),
                        LogLine(proxy="gateway", protocol="HTTP/1.1",
                                downstream_local_port=8443, sni=hosts.HTTPBIN,
                                cluster="outbound|443||httpbin.org"),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.HTTPBIN),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, SCOPED, TRUSTS_FAKE_CA,
             "the client pod runs as service account 'curl' (the seed's ran as 'default'), so "
             "XFCC's URI names curl"),
)

MTLS_GATEWAY_HTTP = Scenario(
    id="mtls-gateway-http",
    title="ISTIO_MUTUAL from sidecar to gateway, plain HTTP out",
    seeds=(Seed(SEED_001, "HTTP through Egress Gateway, with mTLS Between the Sidecar and the "
                          "Gateway"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("plain HTTP"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="The ISTIO_MUTUAL setup with the gateway's route back to httpbin.org:80 and no "
                 "origination DestinationRule.",
            apply=("serviceentry", "gateway", "destinationrule-mtls-to-gateway",
                   "virtualservice"),
            checks=(
                Check(
                    "mesh mTLS to the gateway, plain HTTP from it",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Xfcc(by="gateway", uri="client"),
                        Echoed("X-Envoy-Decorator-Operation", equals="httpbin.org:80/*"),
                        LogLine(proxy="gateway", cluster="outbound|80||httpbin.org"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, SCOPED,
             "the client pod runs as service account 'curl' (the seed's ran as 'default'), so "
             "XFCC's URI names curl"),
)

SCENARIOS = (GATEWAY_HTTP, GATEWAY_PEER_METADATA_IN_MESH, GATEWAY_TLS_ORIGINATION,
             MTLS_GATEWAY_TLS_ORIGINATION,
             MTLS_GATEWAY_HTTP)
