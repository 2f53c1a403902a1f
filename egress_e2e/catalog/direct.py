"""Egress without a gateway: what REGISTRY_ONLY blocks, what a ServiceEntry opens, and the
ExternalName alias (seed 001's first and last sections, seed 002's "Service Entry")."""

from __future__ import annotations

from egress_e2e.catalog._seeds import HERMETIC, SEED_001, SEED_002
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import CurlFails, Echoed, FakeSaw, LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, Step

REGISTRY_ONLY_BLOCKS = Scenario(
    id="registry-only-blocks",
    title="REGISTRY_ONLY: a host without a ServiceEntry is blocked at the sidecar",
    seeds=(
        Seed(SEED_001, "Environment setup (meshConfig.outboundTrafficPolicy.mode=REGISTRY_ONLY)"),
        Seed(SEED_002, "Egress Gateway / Service Entry (curl without a Service Entry)"),
    ),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("blocked"), Hop.external(hosts.HTTPBIN)),
    gateway="none",
    steps=(
        Step(
            says="No ServiceEntry: the sidecar knows no route to the host.",
            checks=(
                # The sidecar parses port 80 as HTTP because some HTTP Service on port 80 is
                # visible to it (the install's istio-egressgateway, http2:80, exported to all);
                # without one, port 80 would fall to the TCP catch-all (curl exit 52).
                Check(
                    "plain HTTP gets 502 from the sidecar's block_all route",
                    Curl(f"http://{hosts.HTTPBIN}/headers"),
                    (
                        Status(502),
                        LogLine(proxy="sidecar", response_code=502, route_name="block_all"),
                        FakeSaw(reached=False),
                    ),
                ),
                Check(
                    "HTTPS is reset: the sidecar sends it to the BlackHoleCluster",
                    # The CA is trusted so that a certificate error (exit 60) cannot pass as
                    # the block.
                    Curl(f"https://{hosts.HTTPBIN}/headers", trust_fake_ca=True),
                    (
                        CurlFails(exit_codes=(35, 56)),
                        # The catch-all listener reads no SNI: the line has none.
                        LogLine(proxy="sidecar", tcp=True, match_sni=False,
                                cluster="BlackHoleCluster", downstream_local_port=443),
                        FakeSaw(reached=False),
                    ),
                ),
                Check(
                    "seed 002's host is blocked the same way",
                    Curl(f"http://{hosts.GOOGLE_WWW}/headers"),
                    (Status(502), FakeSaw(reached=False)),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        "seed 002 curls http://www.google.com/; the probes ask for /headers so a reply, if one "
        "ever came, would show who sent it",
    ),
)

SERVICEENTRY_DIRECT = Scenario(
    id="serviceentry-direct",
    title="A ServiceEntry alone: the sidecar calls httpbin.org directly",
    seeds=(Seed(SEED_001, "ServiceEntry no Egress Gateway"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.external(hosts.HTTPBIN)),
    # A gateway is deployed but nothing routes to it, so its silence is evidence.
    gateway="own",
    steps=(
        Step(
            says="Create the httpbin ServiceEntry (ports 80 HTTP, 443 HTTPS, DNS resolution).",
            apply=("serviceentry",),
            checks=(
                Check(
                    "HTTP goes straight from the sidecar to httpbin.org",
                    Curl(f"http://{hosts.HTTPBIN}/headers"),
                    (
                        Status(200),
                        Echoed("X-Envoy-Decorator-Operation", equals="httpbin.org:80/*"),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="sidecar~"),
                        Echoed("X-Envoy-Internal", absent=True),
                        LogLine(proxy="sidecar", cluster="outbound|80||httpbin.org"),
                        LogLine(proxy="gateway", present=False),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        "an egress gateway is deployed (unused) so that 'no gateway log line' is a real "
        "observation rather than the absence of a gateway",
    ),
)

EXTERNALNAME = Scenario(
    id="externalname",
    title="An ExternalName Service under ALLOW_ANY reaches httpbin.org",
    seeds=(Seed(SEED_001, "What about ExternalName Kubernetes Services?"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.external(hosts.HTTPBIN)),
    gateway="none",
    outbound_policy="ALLOW_ANY",
    steps=(
        Step(
            says="Create the external-name-httpbin Service (type ExternalName, ports 80 and "
                 "443).",
            apply=("externalname-service",),
            checks=(
                Check(
                    "the alias answers with httpbin.org's /headers",
                    Curl("http://external-name-httpbin.{client_ns}/headers"),
                    (
                        Status(200),
                        # Istio treats an ExternalName Service as an alias of its target;
                        # with no ServiceEntry for httpbin.org there is no route of its own,
                        # so the request leaves by ALLOW_ANY's passthrough route.
                        LogLine(proxy="sidecar", response_code=200, route_name="allow_any",
                                cluster="PassthroughCluster"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        "the seed reinstalls Istio with ALLOW_ANY; here a Sidecar gives the client namespace "
        "ALLOW_ANY, so the mesh keeps REGISTRY_ONLY for every other scenario",
        "the probe names the scenario's namespace instead of 'default'",
        "the seed only shows the answer; the check also asserts the way out the sidecar "
        "logs (PassthroughCluster by the allow_any route): the ExternalName works only "
        "because the namespace allows any destination",
    ),
)

SCENARIOS = (REGISTRY_ONLY_BLOCKS, SERVICEENTRY_DIRECT, EXTERNALNAME)
