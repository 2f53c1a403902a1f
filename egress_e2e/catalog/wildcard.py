"""Seed 003: the app's own TLS carried inside ISTIO_MUTUAL to the gateway, then two ways to let
``*.wikipedia.org`` out: one hosting server behind a PASSTHROUGH gateway, and an SNI dynamic
forward proxy (an internal listener added by EnvoyFilter) for arbitrary domains."""

from __future__ import annotations

from typing import Final

from egress_e2e.catalog._isolation import OWN_GATEWAY_SCOPED
from egress_e2e.catalog._seeds import HERMETIC, SEED_003
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import ClusterCounter, Echoed, FakeSaw, LogLine, Status
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, SeedNames, Step

# Seed 003 installs its gateway into istio-egress; its routes name the Service
# istio-egressgateway.istio-egress.
SEED_003_NAMES: Final = SeedNames(gateway_ns="istio-egress")

# The fake's nginx server blocks, chosen by SNI (manifests/external/nginx.conf.j2).
WWW_BLOCK: Final = "wikipedia-www"
LANGUAGE_BLOCKS: Final = {hosts.WIKIPEDIA_EN: "wikipedia-en", hosts.WIKIPEDIA_DE: "wikipedia-de"}
# What every seed-003 scenario changes from the seed's files.
_SEED_DIFFERS: Final = (
    "the seed's client Deployment carries the label istio: egressgateway (its Gateway "
    "selector), so the Gateway also selected the client pod; the harness's clients do not",
    "the seed's client is ubuntu installing curl at run time; here a curl image, and the "
    "probes ask for /headers so the fake echoes what it received (the seed greps titles)",
)


def _tls_probe(host: str) -> Curl:
    return Curl(f"https://{host}/headers", trust_fake_ca=True)


MTLS_GATEWAY_TLS_TCP = Scenario(
    id="mtls-gateway-tls-tcp",
    title="The app's TLS inside ISTIO_MUTUAL to the gateway, then a tcp route out",
    seeds=(Seed(SEED_003, "egress-mtls.yaml"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("app TLS"),
          Hop.external(hosts.WIKIPEDIA)),
    seed_names=SEED_003_NAMES,
    steps=(
        Step(
            says="A TLS ServiceEntry for wikipedia.org; the sidecar matches the SNI and sends "
                 "the encrypted stream to the gateway subset 'wildcard', which wraps it in "
                 "ISTIO_MUTUAL (SNI wikipedia.org); the gateway's TLS server terminates "
                 "ISTIO_MUTUAL only and a tcp route forwards the app's own TLS to "
                 "wikipedia.org:443.",
            apply=("serviceentry", "virtualservice", "destinationrule", "gateway"),
            checks=(
                Check(
                    "the fake saw the app's own TLS with SNI wikipedia.org",
                    _tls_probe(hosts.WIKIPEDIA),
                    (
                        Status(200),
                        Echoed(hosts.SAW_SNI, equals=hosts.WIKIPEDIA),
                        # Inside the app's TLS no proxy could add its headers.
                        Echoed("X-Envoy-Peer-Metadata-Id", absent=True),
                        LogLine(proxy="gateway", tcp=True, sni=hosts.WIKIPEDIA,
                                downstream_local_port=8443,
                                cluster=f"outbound|443||{hosts.WIKIPEDIA}"),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.WIKIPEDIA,
                                server_block=WWW_BLOCK),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, OWN_GATEWAY_SCOPED, *_SEED_DIFFERS),
    tags=("mtls", "wildcard"),
)

_WWW_CLUSTER: Final = f"outbound|443||{hosts.WIKIPEDIA_WWW}"

WILDCARD_PASSTHROUGH = Scenario(
    id="wildcard-passthrough",
    title="*.wikipedia.org through a PASSTHROUGH gateway to the one server that hosts them all",
    seeds=(Seed(SEED_003, "wildcard-egress-mtls.yaml"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("passthrough"),
          Hop.external(hosts.WIKIPEDIA_WWW)),
    seed_names=SEED_003_NAMES,
    steps=(
        Step(
            says="A wildcard ServiceEntry (no resolution), a PASSTHROUGH Gateway for "
                 "*.wikipedia.org, SNI routes from the sidecar to the gateway and from the "
                 "gateway to www.wikipedia.org, and a DNS ServiceEntry for that one server.",
            apply=("serviceentry-wildcard", "virtualservice", "destinationrule", "gateway",
                   "serviceentry-www"),
            checks=tuple(
                Check(
                    f"{host} is served through the gateway's www.wikipedia.org cluster",
                    _tls_probe(host),
                    (
                        Status(200),
                        Echoed(hosts.SAW_SNI, equals=host),
                        ClusterCounter(_WWW_CLUSTER, at_least=1),
                        LogLine(proxy="gateway", tcp=True, sni=host, cluster=_WWW_CLUSTER),
                        # One upstream server, yet each language's block answers: SNI decides.
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=host,
                                server_block=block),
                    ),
                )
                for host, block in LANGUAGE_BLOCKS.items()
            ),
        ),
    ),
    differs=(
        HERMETIC,
        OWN_GATEWAY_SCOPED,
        *_SEED_DIFFERS,
        "the seed reads cx_total once by hand; the check reads it before and after each "
        "probe (pilot-agent request GET clusters) and asserts it grew",
    ),
    tags=("wildcard", "passthrough"),
)

DYNAMIC_FORWARD_PROXY_CLUSTER: Final = "dynamic_forward_proxy_cluster"

WILDCARD_SNI_PROXY = Scenario(
    id="wildcard-sni-proxy",
    title="Arbitrary *.wikipedia.org hosts through an SNI dynamic forward proxy in the gateway",
    seeds=(Seed(SEED_003, "wildcard-egress-sni-proxy.yaml"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("ISTIO_MUTUAL"),
          Hop.gateway("app TLS", name="egress gateway (SNI forward proxy)"),
          Hop.external("*.wikipedia.org")),
    # The EnvoyFilter rewrites every tcp_proxy of the gateway it selects: never a shared one.
    gateway="own",
    seed_names=SEED_003_NAMES,
    steps=(
        Step(
            says="The seed's wildcard ServiceEntry, ISTIO_MUTUAL to the gateway's TLS server "
                 "on 8443, a dummy tcp route that makes istiod build that listener, and the "
                 "EnvoyFilter that sends its tcp_proxy to an internal listener forwarding by "
                 "SNI. The filter selects this scenario's gateway only.",
            apply=("serviceentry", "virtualservice", "destinationrule", "gateway",
                   "envoyfilter"),
            checks=tuple(
                Check(
                    f"{host} is forwarded by its SNI to its own server block",
                    _tls_probe(host),
                    (
                        Status(200),
                        Echoed(hosts.SAW_SNI, equals=host),
                        LogLine(proxy="gateway", tcp=True, sni=host,
                                cluster=DYNAMIC_FORWARD_PROXY_CLUSTER),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=host,
                                server_block=block),
                    ),
                )
                for host, block in LANGUAGE_BLOCKS.items()
            ),
        ),
    ),
    differs=(
        HERMETIC,
        OWN_GATEWAY_SCOPED,
        *_SEED_DIFFERS,
        "the seed's EnvoyFilter has no workloadSelector and patches every tcp_proxy of every "
        "gateway in its namespace; here workloadSelector limits it to this scenario's gateway",
        "the internal listener logs in Istio's default TEXT format (with "
        "%UPSTREAM_CLUSTER_RAW%, as Istio >= 1.23 does) so its lines parse like the "
        "gateway's own",
    ),
    tags=("wildcard", "envoyfilter"),
)

# The old way and the new. wildcard-sni-proxy (above) is the old way: arbitrary hosts need an
# EnvoyFilter that rewires the gateway's tcp_proxy into an SNI forward proxy, which Istio does not
# validate (it broke silently in 1.15, istio/istio#42709). dynamic-dns-wildcard (below) is the
# new way from Istio 1.30: a ServiceEntry with resolution DYNAMIC_DNS, and istiod builds the
# dynamic forward proxy itself. Its cluster is named like any outbound cluster, with the
# wildcard host (model.BuildSubsetKey in pilot/pkg/networking/core/cluster.go), and only sidecar
# outbound listeners get the filters that feed it (listener_builder.go for HTTP,
# networkfilter.go for TLS): for sidecars the client's own sidecar is the forward proxy.
DYNAMIC_DNS_TLS_CLUSTER: Final = "outbound|443||*.wikipedia.org"
DYNAMIC_DNS_HTTP_CLUSTER: Final = "outbound|80||*.wikipedia.org"

DYNAMIC_DNS_WILDCARD = Scenario(
    id="dynamic-dns-wildcard",
    title="Arbitrary *.wikipedia.org hosts by a DYNAMIC_DNS ServiceEntry (1.30+), no EnvoyFilter",
    seeds=(Seed(SEED_003, "wildcard-egress-sni-proxy.yaml"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("app TLS", name="sidecar (dynamic forward proxy)"),
          Hop.external("*.wikipedia.org")),
    gateway="none",
    # Sidecars serve DYNAMIC_DNS wildcards from 1.30 (release-1.30's
    # releasenotes/notes/se-wildcard-host-sidecar.yaml, istio/istio#58244).
    requires_istio=">=1.30",
    seed_names=SEED_003_NAMES,
    steps=(
        Step(
            says="One wildcard ServiceEntry, resolution DYNAMIC_DNS, with a TLS and an HTTP "
                 "port. The sidecar resolves each connection's SNI (TLS) or each request's "
                 "Host (HTTP) and connects there.",
            apply=("serviceentry",),
            checks=(
                *(Check(
                    f"{host} over the app's TLS: the sidecar forwards by SNI to its block",
                    _tls_probe(host),
                    (
                        Status(200),
                        Echoed(hosts.SAW_SNI, equals=host),
                        # The line names the upstream host of this connection (its SNI) and
                        # the dynamic forward proxy cluster that resolved it.
                        LogLine(proxy="sidecar", tcp=True, sni=host,
                                cluster=DYNAMIC_DNS_TLS_CLUSTER),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=host,
                                server_block=block),
                    ),
                ) for host, block in LANGUAGE_BLOCKS.items()),
                *(Check(
                    f"{host} over plain HTTP: the sidecar forwards by Host to its block",
                    Curl(f"http://{host}/headers"),
                    (
                        Status(200),
                        LogLine(proxy="sidecar", method="GET", path="/headers",
                                response_code=200, cluster=DYNAMIC_DNS_HTTP_CLUSTER),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT,
                                server_block=f"{block}-http"),
                    ),
                ) for host, block in LANGUAGE_BLOCKS.items()),
            ),
        ),
    ),
    differs=(
        HERMETIC,
        "the seed's SNI proxy runs in the egress gateway; in 1.30/1.31 istiod adds the dynamic "
        "forward proxy filters only to sidecar outbound listeners (listener_builder.go, "
        "networkfilter.go), so the client's sidecar is the forward proxy and no gateway is "
        "involved; ambient-dynamic-dns is the variant through an egress waypoint",
        "the isolated layout scopes the ServiceEntry to the scenario's namespace (exportTo)",
        "the clients' Sidecar sees only their own namespace (./*) and the isolated layout's "
        "port-80 placeholder is left out: the sidecar's DFP HTTP filter goes on the shared "
        "0.0.0.0_80 listener only when the wildcard ServiceEntry is the port-80 HTTP service "
        "that builds it (listener_builder.go tests the listener's one policySvc; listener.go "
        "exits early for later HTTP services; services come oldest first, push_context.go "
        "SortServicesByCreationTime), and istio-system's gateway Service or the placeholder "
        "would be older. Without the filter Envoy answers only with its runtime flag "
        "envoy.reloadable_features.dfp_cluster_resolves_hosts on, and 503 UH with it off "
        "(measured on real Envoy: tests/ambient/test_dfp_on_envoy.py)",
        "predicted, not yet run: that this scoping leaves the wildcard ServiceEntry as the "
        "only port-80 HTTP service the clients' sidecars see",
    ),
    sidecar_egress_hosts=("./*",),
    tags=("wildcard", "dynamic-dns"),
)

SCENARIOS = (MTLS_GATEWAY_TLS_TCP, WILDCARD_PASSTHROUGH, WILDCARD_SNI_PROXY, DYNAMIC_DNS_WILDCARD)
