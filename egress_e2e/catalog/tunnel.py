"""Seed 004: the gateway tunnels the app's TLS through an external HTTPS CONNECT proxy, first by
EnvoyFilter (the seed) and then by DestinationRule ``trafficPolicy.tunnel`` (the form Istio
adopted from that work)."""

from __future__ import annotations

from typing import Final

from egress_e2e.catalog._isolation import OWN_GATEWAY_SCOPED
from egress_e2e.catalog._seeds import HERMETIC, SEED_004
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    ClusterCounter,
    Echoed,
    Expectation,
    FakeSaw,
    LogLine,
    ProxyConnect,
    Status,
)
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, Step

TUNNELLED_HOSTS: Final = (hosts.GOOGLE_WWW, hosts.WIKIPEDIA_WWW)
# The cluster the EnvoyFilter adds to the gateway for the CONNECT proxy
# (manifests/patterns/connect-tunnel/envoyfilter.yaml).
EXTERNAL_PROXY_CLUSTER: Final = "external_proxy_cluster"


def _probe(host: str) -> Curl:
    return Curl(f"https://{host}/headers", trust_fake_ca=True)


def _direct_checks() -> tuple[Check, ...]:
    """Before any tunnel: the sidecar passes the app's TLS straight to the host."""
    return tuple(
        Check(
            f"{host} answers directly; the proxy logs no CONNECT",
            _probe(host),
            (
                Status(200),
                Echoed(hosts.SAW_SNI, equals=host),
                LogLine(proxy="sidecar", tcp=True, sni=host, cluster=f"outbound|443||{host}"),
                LogLine(proxy="gateway", present=False),
                ProxyConnect(present=False),
            ),
        )
        for host in TUNNELLED_HOSTS
    )


def _tunnelled(host: str, *gateway_evidence: Expectation) -> Check:
    return Check(
        f"{host} goes through the gateway and a CONNECT tunnel",
        _probe(host),
        (
            Status(200),
            Echoed(hosts.SAW_SNI, equals=host),
            # The tunnel was for this probe's host: the proxy logs the CONNECT authority, which
            # is the tcp_proxy's tunneling_config hostname (EnvoyFilter) or the DestinationRule's
            # targetHost:targetPort (Istio's tunnelingconfig/apply.go), and it opened it (200).
            ProxyConnect(present=True, target_port=hosts.TLS_PORT, response_code=200),
            FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=host),
            *gateway_evidence,
        ),
    )


_SEED_DIFFERS: Final = (
    HERMETIC,
    OWN_GATEWAY_SCOPED,
    "the seed's proxy is an Envoy on a VM (192.168.56.10:3128, TLS listener, dynamic forward "
    "proxy); here the fake CONNECT proxy, the same kind of Envoy, at its run-time address",
    "the probes ask for /headers with the fake CA trusted instead of fetching the front page",
)

CONNECT_TUNNEL = Scenario(
    id="connect-tunnel",
    title="The gateway tunnels TLS through an external CONNECT proxy (EnvoyFilter)",
    seeds=(Seed(SEED_004, "Test TLS passthrough"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("CONNECT tunnel"),
          Hop.proxy("app TLS"), Hop.external(hosts.GOOGLE_WWW)),
    fakes=("httpbin", "connect-proxy"),
    steps=(
        Step(
            says="The two TLS ServiceEntries only: the sidecar goes straight to the hosts and "
                 "the proxy's log stays empty.",
            apply=("serviceentries",),
            checks=_direct_checks(),
        ),
        Step(
            says="The seed's VirtualService sends both SNIs to the gateway's port 443; the "
                 "EnvoyFilter adds the gateway's own listener on 8443 that opens a CONNECT "
                 "tunnel through the proxy for each SNI.",
            apply=("virtualservice", "envoyfilter"),
            checks=tuple(
                _tunnelled(
                    host,
                    # Now the sidecar's upstream is the gateway, an in-cluster Service.
                    LogLine(proxy="sidecar", tcp=True, sni=host,
                            cluster_contains=".svc.cluster.local"),
                    # And this scenario's gateway carried the tunnel: the EnvoyFilter's
                    # tcp_proxies have no access log, but the cluster they tunnel through
                    # counts one upstream connection per tunnel (HTTP/1.1 CONNECT holds its
                    # connection; exactly one per probe in tests/calibration), which
                    # pilot-agent's view of the admin /clusters page lists for
                    # EnvoyFilter-added clusters too.
                    ClusterCounter(EXTERNAL_PROXY_CLUSTER),
                )
                for host in TUNNELLED_HOSTS
            ),
        ),
    ),
    differs=(
        *_SEED_DIFFERS,
        "the EnvoyFilter selects this scenario's gateway by its labels, in the gateway's "
        "namespace (the seed's lives in istio-system and selects app: istio-egressgateway)",
        "the proxy cluster's connect_timeout is 1s instead of the seed's 0.25s, which a busy "
        "kind node can miss",
        "the seed's proxy log shows CONNECT <ip>:443 (its tunnel named an address); the "
        "EnvoyFilter here names the host (tunneling_config hostname www.google.com:443), so "
        "the proxy logs CONNECT <host>:443 and each check requires its own host and a 200",
    ),
    tags=("tunnel", "envoyfilter"),
)

CONNECT_TUNNEL_DR = Scenario(
    id="connect-tunnel-dr",
    title="The same tunnel through DestinationRule trafficPolicy.tunnel, no EnvoyFilter",
    seeds=(
        Seed(SEED_004, "Test TLS passthrough"),
        Seed(SEED_004, "later work: DestinationRule trafficPolicy.tunnel (protocol CONNECT)"),
    ),
    flow=(Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("CONNECT tunnel"),
          Hop.proxy("app TLS"), Hop.external(hosts.GOOGLE_WWW)),
    fakes=("httpbin", "connect-proxy"),
    steps=(
        Step(
            says="The two TLS ServiceEntries only: direct, and no CONNECT.",
            apply=("serviceentries",),
            checks=_direct_checks(),
        ),
        Step(
            says="A PASSTHROUGH Gateway for both SNIs, routes from the sidecar to the gateway "
                 "and from the gateway to the proxy (a ServiceEntry), and a DestinationRule "
                 "whose subsets tunnel (CONNECT) to each host over TLS to the proxy.",
            apply=("serviceentry-proxy", "gateway", "virtualservice", "destinationrule-tunnel"),
            checks=tuple(
                _tunnelled(host, LogLine(proxy="gateway", tcp=True, sni=host,
                                         cluster=f"outbound|{hosts.CONNECT_PORT}|{subset}|"
                                                 f"{hosts.CONNECT_PROXY}"))
                for subset, host in zip(("google", "wikipedia"), TUNNELLED_HOSTS, strict=True)
            ),
        ),
    ),
    differs=(
        *_SEED_DIFFERS,
        "Istio's supported form of the seed's EnvoyFilter: the proxy is a ServiceEntry, the "
        "gateway has a PASSTHROUGH server, and the DestinationRule's subsets carry "
        "tunnel {protocol: CONNECT, targetHost, targetPort} plus SIMPLE TLS to the proxy "
        "trusting the per-run fake CA (the seed's EnvoyFilter verified nothing)",
        "the seed's proxy log shows CONNECT <ip>:443; the DestinationRule's targetHost is the "
        "host name, so the proxy logs CONNECT <host>:443 and each check requires its own host "
        "and a 200",
    ),
    tags=("tunnel",),
)

SCENARIOS = (CONNECT_TUNNEL, CONNECT_TUNNEL_DR)
