"""Egress on the ambient data plane: a waypoint in an egress namespace is the egress gateway.

The shape is istio.io's ambient ``egress-gateway`` page: ``istioctl waypoint apply --for
service --enroll-namespace`` in the egress namespace, the ServiceEntry there, TLS origination by
``targetPort: 443`` and a SIMPLE DestinationRule, an AuthorizationPolicy whose ``targetRefs`` is
the ServiceEntry. Client namespaces are captured by ztunnel (``istio.io/dataplane-mode:
ambient``), which carries each request over HBONE to the waypoint; the waypoint (an Envoy)
logs it in the mesh's access-log format, so the ``gateway`` log evidence reads the waypoint.

What sends a request for httpbin.org to the waypoint at all is its address: ztunnel's DNS proxy
answers for the ServiceEntry's host with the address istiod allocated it (DNS capture is on by
default, manifests/charts/istio-cni/values.yaml ``dnsCapture: true``; allocation too,
PILOT_ENABLE_IP_AUTOALLOCATE in pilot/pkg/features/pilot.go), and ztunnel knows that address as
the service bound to the waypoint. A client that resolves the host elsewhere reaches the fake's
own address, which no service owns, and ztunnel sends it straight out.

The seed patterns these translate are seed 001's; docs/ambient.md says which seed patterns have
an ambient form and which do not.
"""

from __future__ import annotations

from typing import Final

from egress_e2e.catalog._seeds import HERMETIC, SEED_001, SEED_003
from egress_e2e.catalog.wildcard import LANGUAGE_BLOCKS
from egress_e2e.infra.ambient import GATEWAY_NAME_LABEL, WAYPOINT_NAME
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    Body,
    CurlFails,
    FakeSaw,
    LogLine,
    Status,
    ZtunnelLine,
)
from egress_e2e.scenario.model import Check, Curl, Hop, Scenario, Seed, SeedNames, Step

AMBIENT: Final = ("ambient",)
# The seed layout: istio.io's names (egress namespace istio-egress, istioctl's default
# waypoint name), the client in default.
AMBIENT_NAMES: Final = SeedNames(
    gateway_ns="istio-egress", gateway_name=WAYPOINT_NAME, gateway_sa=WAYPOINT_NAME,
    gateway_labels=((GATEWAY_NAME_LABEL, WAYPOINT_NAME),), gateway_installed=False,
    mesh_config_ns="istio-egress")

# A waypoint's route for a service port goes to its "inbound-vip|<port>|http|<host>" cluster
# (pilot/pkg/networking/core/cluster_waypoint.go, buildWaypointInboundVIPCluster with subset
# "http"; the key format is model.BuildSubsetKey, pilot/pkg/model/service.go). Its access log
# prints that name in %UPSTREAM_CLUSTER_RAW% (pilot/pkg/model/telemetry_logging.go).
HTTPBIN_VIP_CLUSTER: Final = f"inbound-vip|80|http|{hosts.HTTPBIN}"
WILDCARD_VIP_CLUSTER: Final = "inbound-vip|80|http|*.wikipedia.org"

HTTPBIN_HEADERS: Final = Curl(f"http://{hosts.HTTPBIN}/headers")

# ztunnel's side of the same connections (istio/ztunnel release-1.31 src/proxy/outbound.rs
# build_request). To a service with a waypoint it connects to the waypoint's HBONE port,
# 15008 (the waypoint's GatewayAddress, istio/istio pilot/pkg/serviceregistry/ambient/
# waypoints.go HboneMtlsPort), with dst.hbone_addr the address asked for and dst.service the
# service's hostname (intended_destination_service). To a service without one it connects
# straight to the endpoint's port, no HBONE (an external endpoint's protocol is TCP).
WAYPOINT_HBONE_PORT: Final = 15008
ZTUNNEL_TO_WAYPOINT: Final = ZtunnelLine(via_waypoint=True, dst_service=hosts.HTTPBIN,
                                         dst_port=WAYPOINT_HBONE_PORT, ok=True)
ZTUNNEL_STRAIGHT_OUT: Final = ZtunnelLine(via_waypoint=False,
                                          dst_service=hosts.JSONPLACEHOLDER,
                                          dst_port=hosts.HTTP_PORT, ok=True)

_AMBIENT_DIFFERS: Final = (
    "the ambient translation of a sidecar pattern: the client namespace carries "
    "istio.io/dataplane-mode=ambient instead of istio-injection, and the egress gateway is "
    "the egress namespace's waypoint (istio.io ambient/usage/egress-gateway)",
    "the waypoint is rendered as the Gateway that istioctl waypoint apply --for service "
    "--enroll-namespace creates, and the egress namespace carries the istio.io/use-waypoint "
    "label that --enroll-namespace sets; infra/ambient.py holds that istioctl argv for "
    "clusters set up the documented way",
    "the isolated layout gives every run its own egress namespace and waypoint and limits "
    "exportTo to the scenario's namespaces",
)


def _flow(last_link: str, external: str = hosts.HTTPBIN) -> tuple[Hop, ...]:
    return (Hop.app("plain HTTP"), Hop("sidecar", "ztunnel", "HBONE"),
            Hop("gateway", "egress waypoint", "TLS originated" if last_link == "TLS originated"
                else "plain HTTP"),
            Hop.external(external))


def _through_waypoint(method: str = "GET", path: str = "/headers", code: int = 200,
                      cluster: str = HTTPBIN_VIP_CLUSTER) -> LogLine:
    return LogLine(proxy="gateway", method=method, path=path, response_code=code,
                   cluster=cluster)


AMBIENT_WAYPOINT_HTTP = Scenario(
    id="ambient-waypoint-http",
    title="Ambient: plain HTTP through an egress waypoint",
    seeds=(Seed(SEED_001, "HTTP through Egress Gateway (still insecure)"),),
    flow=_flow("plain HTTP"),
    data_planes=AMBIENT,
    seed_names=AMBIENT_NAMES,
    steps=(
        Step(
            says="A waypoint for services in the egress namespace, the namespace enrolled to "
                 "use it, and a ServiceEntry for httpbin.org there; the client's ztunnel "
                 "sends the request over HBONE to the waypoint, which sends it on.",
            apply=("waypoint", "serviceentry"),
            checks=(
                Check(
                    "the request leaves through the egress waypoint",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        # The waypoint's own line, found by the probe's marker: ztunnel is
                        # L4 and writes no HTTP line, so only the waypoint can have logged it.
                        _through_waypoint(),
                        # And the client's ztunnel: it sent the connection into HBONE to the
                        # waypoint, not out on its own.
                        ZTUNNEL_TO_WAYPOINT,
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, *_AMBIENT_DIFFERS,
             "predicted, not yet run: ztunnel's line for the probe names dst.service "
             "httpbin.org (the ServiceEntry's host, ztunnel's ServiceDescription hostname)"),
    tags=("ambient", "waypoint"),
)

AMBIENT_WAYPOINT_TLS_ORIGINATION = Scenario(
    id="ambient-waypoint-tls-origination",
    title="Ambient: HTTP to the waypoint, which originates TLS to httpbin.org:443",
    seeds=(Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway"),),
    flow=_flow("TLS originated"),
    data_planes=AMBIENT,
    seed_names=AMBIENT_NAMES,
    steps=(
        Step(
            says="The ServiceEntry's port 80 sends to the endpoint's port 443 (targetPort) "
                 "and a SIMPLE DestinationRule makes the waypoint originate TLS there.",
            apply=("waypoint", "serviceentry", "destinationrule"),
            checks=(
                Check(
                    "the waypoint turns the plain request into HTTPS",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        _through_waypoint(),
                        # The client sent plain HTTP and ztunnel does not terminate or
                        # originate TLS for it: HTTPS at the fake means the waypoint
                        # originated it.
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.HTTPBIN),
                    ),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC, *_AMBIENT_DIFFERS,
        "the DestinationRule adds credentialName (the per-run fake CA, in the egress "
        "namespace where the waypoint runs) and an explicit sni; istio.io's page trusts a "
        "public CA. Predicted, not yet run: that a waypoint loads a DestinationRule's "
        "credentialName as a sidecar does",
    ),
    tags=("ambient", "waypoint", "tls-origination"),
)

AMBIENT_WAYPOINT_AUTHZ = Scenario(
    id="ambient-waypoint-authz",
    title="Ambient: an AuthorizationPolicy on the ServiceEntry lets GET out and denies POST",
    seeds=(Seed(SEED_001, "HTTP through Egress Gateway (still insecure)"),),
    flow=_flow("plain HTTP"),
    data_planes=AMBIENT,
    seed_names=AMBIENT_NAMES,
    steps=(
        Step(
            says="The HTTP waypoint setup plus an ALLOW policy for GET with targetRefs to the "
                 "ServiceEntry: the waypoint that serves the ServiceEntry enforces it.",
            apply=("waypoint", "serviceentry", "authorizationpolicy"),
            checks=(
                Check(
                    "GET is allowed through the waypoint",
                    HTTPBIN_HEADERS,
                    (Status(200), _through_waypoint(),
                     FakeSaw(scheme="http", port=hosts.HTTP_PORT)),
                ),
                Check(
                    "POST is denied at the waypoint and never reaches the fake",
                    Curl(f"http://{hosts.HTTPBIN}/post", extra_args=("-X", "POST")),
                    (
                        Status(403),
                        # Envoy's RBAC filter answers a denied request with this body.
                        Body("RBAC: access denied"),
                        # No cluster asserted: the RBAC filter answers before the router.
                        LogLine(proxy="gateway", method="POST", path="/post",
                                response_code=403),
                        FakeSaw(reached=False),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, *_AMBIENT_DIFFERS,
             "seed 001 authorizes nothing at its gateway; this is istio.io's ambient egress "
             "AuthorizationPolicy (targetRefs: the ServiceEntry)"),
    tags=("ambient", "waypoint", "authz"),
)

AMBIENT_WAYPOINT_BYPASS_BLOCKED = Scenario(
    id="ambient-waypoint-bypass-blocked",
    title="Ambient: a NetworkPolicy leaves the waypoint as the only way out; a direct attempt "
          "fails",
    seeds=(Seed(SEED_001, "Additional notes with egress gateways (Kubernetes network policies)"),),
    flow=_flow("plain HTTP"),
    data_planes=AMBIENT,
    seed_names=AMBIENT_NAMES,
    clients=("curl", "uninjected"),
    needs_network_policy=True,
    steps=(
        Step(
            says="The HTTP waypoint setup; nothing stops a pod outside the mesh yet.",
            apply=("waypoint", "serviceentry"),
            checks=(
                Check(
                    "the enrolled client goes through the waypoint",
                    HTTPBIN_HEADERS,
                    (Status(200), _through_waypoint(),
                     FakeSaw(scheme="http", port=hosts.HTTP_PORT)),
                ),
                Check(
                    "the bypass exists: a pod outside ambient reaches the fake directly",
                    Curl(HTTPBIN_HEADERS.url, client="uninjected"),
                    (
                        Status(200),
                        LogLine(proxy="gateway", present=False),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
        Step(
            says="The NetworkPolicy: the client namespace's pods may reach only the cluster "
                 "DNS and the waypoint's HBONE port.",
            apply=("networkpolicy",),
            checks=(
                Check(
                    "the direct attempt times out",
                    # Dropped packets: curl's connect timeout (exit 28), no refusal.
                    Curl(HTTPBIN_HEADERS.url, client="uninjected", timeout_s=5.0),
                    (CurlFails(exit_codes=(28,)), FakeSaw(reached=False)),
                ),
                Check(
                    "the enrolled client still gets out through the waypoint",
                    HTTPBIN_HEADERS,
                    (Status(200), _through_waypoint(),
                     FakeSaw(scheme="http", port=hosts.HTTP_PORT)),
                ),
            ),
        ),
    ),
    differs=(
        HERMETIC, *_AMBIENT_DIFFERS,
        "Istio has no policy that makes traffic to an external host use the waypoint: a "
        "require-waypoint rule is an L4 AuthorizationPolicy enforced by the destination's "
        "ztunnel, and an external host has none. The enforcing mechanism is a NetworkPolicy "
        "(as seed 001 notes for egress gateways), allowing the client namespace only DNS and "
        "the waypoint's port 15008",
        "the bypassing client is a pod labelled istio.io/dataplane-mode=none in the same "
        "namespace; predicted, not yet run: that kind's CNI enforces the policy on traffic "
        "ztunnel sends from inside the enrolled pod's network namespace",
    ),
    tags=("ambient", "waypoint", "networkpolicy"),
)

AMBIENT_SERVICEENTRY_NO_WAYPOINT = Scenario(
    id="ambient-serviceentry-no-waypoint",
    title="Ambient: a ServiceEntry bound to no waypoint goes straight out from ztunnel",
    seeds=(Seed(SEED_001, "ServiceEntry no Egress Gateway"),),
    flow=(Hop.app("plain HTTP"), Hop("sidecar", "ztunnel", "plain HTTP"),
          Hop.external(hosts.JSONPLACEHOLDER)),
    data_planes=AMBIENT,
    seed_names=AMBIENT_NAMES,
    steps=(
        Step(
            says="httpbin.org bound to the egress waypoint, and a second ServiceEntry for "
                 "jsonplaceholder.typicode.com in the client's namespace, which uses no "
                 "waypoint.",
            apply=("waypoint", "serviceentry", "serviceentry-direct"),
            checks=(
                Check(
                    "the bound host goes through the waypoint",
                    HTTPBIN_HEADERS,
                    (Status(200), _through_waypoint(),
                     FakeSaw(scheme="http", port=hosts.HTTP_PORT)),
                ),
                Check(
                    "the unbound host reaches the fake without a waypoint line",
                    Curl(f"http://{hosts.JSONPLACEHOLDER}/headers"),
                    (
                        Status(200),
                        LogLine(proxy="gateway", present=False),
                        # ztunnel is the only hop that saw it: its line shows the connection
                        # went straight to port 80, not into HBONE to the waypoint.
                        ZTUNNEL_STRAIGHT_OUT,
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, *_AMBIENT_DIFFERS,
             "the negative proof reads the waypoint's log for the probe's marker and finds "
             "none within the settle window; the positive one is ztunnel's line for the "
             "client's connection (by source pod and time window: ztunnel logs no HTTP)",
             "predicted, not yet run: ztunnel's line for the unbound host names dst.service "
             "jsonplaceholder.typicode.com and dst.addr on port 80 (the client resolves the "
             "host through ztunnel's DNS proxy to the ServiceEntry's allocated address, so "
             "ztunnel knows the service; resolution DNS endpoints are plain TCP)"),
    tags=("ambient", "waypoint"),
)

AMBIENT_DYNAMIC_DNS = Scenario(
    id="ambient-dynamic-dns",
    title="Ambient: *.wikipedia.org (DYNAMIC_DNS) through the waypoint, each host by its name",
    seeds=(Seed(SEED_003, "wildcard-egress-sni-proxy.yaml"),),
    flow=_flow("plain HTTP", external="*.wikipedia.org"),
    data_planes=AMBIENT,
    seed_names=AMBIENT_NAMES,
    # Ambient DYNAMIC_DNS wildcards: HTTP from 1.28 (releasenotes/notes/se-wildcard-host.yaml,
    # istio/istio#54540; "requires ambient mode and a waypoint configured as an egress
    # gateway").
    requires_istio=">=1.28",
    steps=(
        Step(
            says="A wildcard ServiceEntry with resolution DYNAMIC_DNS in the egress "
                 "namespace; the waypoint's dynamic forward proxy resolves each request's "
                 "Host and connects to it. No EnvoyFilter.",
            apply=("waypoint", "serviceentry"),
            checks=tuple(
                Check(
                    f"{host} goes through the waypoint to its own server block",
                    Curl(f"http://{host}/headers"),
                    (
                        Status(200),
                        _through_waypoint(cluster=WILDCARD_VIP_CLUSTER),
                        # The fake picks the server block by Host: the upstream host named
                        # per request.
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT,
                                server_block=f"{block}-http"),
                    ),
                )
                for host, block in LANGUAGE_BLOCKS.items()
            ),
        ),
    ),
    differs=(
        HERMETIC, *_AMBIENT_DIFFERS,
        "seed 003 forwards arbitrary *.wikipedia.org hosts by SNI with an EnvoyFilter; this "
        "is the DYNAMIC_DNS replacement, over HTTP: a waypoint serves a DYNAMIC_DNS TLS port "
        "only with ENABLE_WILDCARD_HOST_SERVICE_ENTRIES_FOR_TLS on istiod (off by default)",
        "the waypoint's line shares one cluster for every host; the host each request went "
        "to is named by the fake's server block (chosen by Host)",
        "predicted, not yet run: the waypoint logs inbound-vip|80|http|*.wikipedia.org (from "
        "the source: buildWaypointInboundVIP builds the DFP cluster under the usual VIP "
        "cluster name, cluster_waypoint.go), and an enrolled client's DNS answer for "
        "en.wikipedia.org is the wildcard's auto-allocated address, which is what makes "
        "ztunnel send it to the waypoint (ztunnel src/dns/server.rs get_wildcards; "
        "pilot/pkg/serviceregistry/ambient/services.go assigns wildcards an address only "
        "with DYNAMIC_DNS)",
    ),
    tags=("ambient", "waypoint", "wildcard", "dynamic-dns"),
)

SCENARIOS = (AMBIENT_WAYPOINT_HTTP, AMBIENT_WAYPOINT_TLS_ORIGINATION, AMBIENT_WAYPOINT_AUTHZ,
             AMBIENT_WAYPOINT_BYPASS_BLOCKED, AMBIENT_SERVICEENTRY_NO_WAYPOINT,
             AMBIENT_DYNAMIC_DNS)
