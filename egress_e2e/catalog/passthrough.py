"""The app speaks TLS itself and the gateway passes it through by SNI (seed 001's "HTTPS
throughout via PASSTHROUGH at Gateway", its double-TLS mistake, and seed 002's Gateway that
carries HTTP on 80 and TLS PASSTHROUGH on 443 together)."""

from __future__ import annotations

from egress_e2e.catalog._isolation import GATEWAY_IS_THE_EDGE
from egress_e2e.catalog._seeds import HERMETIC, SEED_001, SEED_002
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import CurlFails, Echoed, FakeSaw, LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, SeedNames, Step

# The app's own TLS: it trusts the per-run CA that signed the fake's certificate.
HTTPBIN_HTTPS = Curl(f"https://{hosts.HTTPBIN}/headers", trust_fake_ca=True)
APP_TRUSTS_FAKE_CA = ("curl gets --cacert with the per-run fake CA, since the app verifies the "
                      "fake's certificate itself")
SCOPED = ("the isolated layout applies the same objects in the scenario's namespaces, with its "
          "own gateway and exportTo limited to those namespaces")

PASSTHROUGH_THROUGH_GATEWAY = Check(
    "the app's TLS passes through the gateway untouched",
    HTTPBIN_HTTPS,
    (
        Status(200),
        LogLine(proxy="gateway", tcp=True, sni=hosts.HTTPBIN,
                cluster="outbound|443||httpbin.org"),
        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.HTTPBIN),
        # No proxy saw inside the TLS, so none could add its headers.
        Echoed("X-Envoy-Peer-Metadata-Id", absent=True),
        Echoed("X-Envoy-Decorator-Operation", absent=True),
        Echoed("X-Envoy-Internal", absent=True),
    ),
)

PASSTHROUGH = Scenario(
    id="passthrough",
    title="HTTPS throughout: Gateway PASSTHROUGH, VirtualService routing by SNI",
    seeds=(
        Seed(SEED_001, "HTTPS throughout via PASSTHROUGH at Gateway"),
        Seed(SEED_002, "Sending Traffic Through Egress Gateway (the TLS PASSTHROUGH server)"),
    ),
    flow=(Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("passthrough"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="Gateway 443 PASSTHROUGH and a VirtualService with a tls block matching SNI "
                 "httpbin.org; no DestinationRule (the seed deletes both).",
            apply=("serviceentry", "gateway", "virtualservice"),
            checks=(PASSTHROUGH_THROUGH_GATEWAY,),
        ),
    ),
    differs=(HERMETIC, SCOPED, APP_TRUSTS_FAKE_CA),
)

PASSTHROUGH_DOUBLE_TLS = Scenario(
    id="passthrough-double-tls",
    title="PASSTHROUGH with a leftover TLS-origination DestinationRule: double TLS fails",
    seeds=(Seed(SEED_001, "HTTPS throughout via PASSTHROUGH at Gateway (steps 2-4: the "
                          "leftover originate-tls-for-httpbin)"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("TLS originated"),
          Hop.external(hosts.HTTPBIN)),
    steps=(
        Step(
            says="The passthrough setup while originate-tls-for-httpbin is still there: the "
                 "gateway wraps the app's TLS in its own.",
            apply=("serviceentry", "gateway", "virtualservice", "destinationrule-originate-tls"),
            checks=(
                Check(
                    "the app reads the fake's plain answer where it expected TLS",
                    HTTPBIN_HTTPS,
                    (
                        CurlFails(exit_codes=(35,), message="wrong version number"),
                        # Where it failed: the gateway's passthrough chain matched the app's
                        # SNI (gateway.go builds the TLS server's tcp_proxy to the tls
                        # route's cluster) and that cluster is the one the leftover
                        # DestinationRule wraps in TLS (cluster_tls.go; the client sidecar
                        # drops a credentialName DR, so it cannot be the sidecar).
                        LogLine(proxy="gateway", tcp=True, sni=hosts.HTTPBIN,
                                cluster="outbound|443||httpbin.org"),
                    ),
                ),
            ),
        ),
        Step(
            says="Delete originate-tls-for-httpbin (seed step 3): passthrough works.",
            delete=("destinationrule-originate-tls",),
            checks=(PASSTHROUGH_THROUGH_GATEWAY,),
        ),
    ),
    differs=(
        HERMETIC, SCOPED, APP_TRUSTS_FAKE_CA,
        "the leftover DestinationRule carries credentialName (the per-run fake CA) and "
        "sni: httpbin.org, so the gateway's outer TLS handshake succeeds and the failure is the "
        "seed's 'wrong version number', not a certificate error or a handshake refused for "
        "lack of SNI (Istio adds SNI itself only to HTTP traffic, and this route is TCP)",
    ),
)

HTTP_AND_PASSTHROUGH_COMBINED = Scenario(
    id="http-and-passthrough-combined",
    title="One Gateway: HTTP on 80 and TLS PASSTHROUGH on 443 for www.google.com",
    seeds=(Seed(SEED_002, "Sending Traffic Through Egress Gateway"),
           Seed(SEED_002, "Service Entry (google, in istio-system)")),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("plain HTTP"),
          Hop.external(hosts.GOOGLE_WWW)),
    seed_names=SeedNames(client_ns="command-runner"),
    steps=(
        Step(
            says="The google ServiceEntry in the mesh root namespace, a Gateway with an HTTP "
                 "and a TLS PASSTHROUGH server, a DestinationRule with subset 'google' for the "
                 "gateway, and one VirtualService with http and tls routes.",
            apply=("serviceentry", "gateway", "destinationrule", "virtualservice"),
            checks=(
                Check(
                    "plain HTTP goes through the gateway",
                    Curl(f"http://{hosts.GOOGLE_WWW}/headers"),
                    (
                        Status(200),
                        # Istio 1.30/1.31 run gateway HTTP servers with use_remote_address
                        # and no internal address ranges (pilot/pkg/networking/core/
                        # gateway.go); on Envoy >= 1.33 the sidecar's request is an edge
                        # request there: no X-Envoy-Internal, X-Envoy-External-Address added.
                        Echoed("X-Envoy-Internal", absent=True),
                        Echoed.present("X-Envoy-External-Address"),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        LogLine(proxy="gateway", protocol="HTTP/2", response_code=200,
                                cluster="outbound|80||www.google.com"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
                Check(
                    "HTTPS passes through the same gateway by SNI",
                    Curl(f"https://{hosts.GOOGLE_WWW}/headers", trust_fake_ca=True),
                    (
                        Status(200),
                        LogLine(proxy="gateway", tcp=True, sni=hosts.GOOGLE_WWW,
                                cluster="outbound|443||www.google.com"),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.GOOGLE_WWW),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC, APP_TRUSTS_FAKE_CA, GATEWAY_IS_THE_EDGE,
        "the seed's ServiceEntry lives in istio-system and so serves every namespace; the "
        "isolated layout puts it in the scenario's namespace with exportTo instead",
        "the seed's client is the command-runner app; here the curl pod in that namespace",
        "the seed curls http://www.google.com/; the probes ask for /headers so the fake's "
        "echo shows who sent the request",
    ),
)

SCENARIOS = (PASSTHROUGH, PASSTHROUGH_DOUBLE_TLS, HTTP_AND_PASSTHROUGH_COMBINED)
