"""The Gateway API variants of the gateway patterns, as istio.io's egress tasks give them: a
``Gateway`` of class istio (istiod deploys it as ``<name>-istio`` in the client namespace), an
``HTTPRoute``/``TLSRoute`` with a ServiceEntry parent sending mesh traffic to it, and one on the
Gateway sending it on to a ``Hostname`` backend. Each step first waits for the objects' status
(Gateway Programmed with routes attached, routes Accepted with ResolvedRefs), then checks the
client, the gateway's access log and the fake as every scenario does.

Every id starts with ``gateway-api-`` so ``-k gateway-api`` selects them all.
"""

from __future__ import annotations

from typing import Final

from egress_e2e.catalog._isolation import GATEWAY_IS_THE_EDGE
from egress_e2e.catalog._seeds import HERMETIC, SEED_001, SEED_003, SEED_004
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    ClusterCounter,
    Echoed,
    FakeSaw,
    GatewayProgrammed,
    LogLine,
    RouteAccepted,
    Status,
    Xfcc,
)
from egress_e2e.scenario.model import Check, Curl, Hop, Link, Scenario, Seed, Step, Task

# The Gateway every scenario here names (in its client namespace) and what istiod deploys.
HTTPBIN_GATEWAY: Final = "httpbin-egress-gateway"
WIKIPEDIA_GATEWAY: Final = "wikipedia-egress-gateway"
# The route objects, named as istio.io's tasks name theirs (cnn -> httpbin).
DIRECT: Final = "direct-httpbin-to-egress-gateway"
FORWARD: Final = "forward-httpbin-from-egress-gateway"
# The forward rule's own name: Istio names the Envoy route after the rule when the rule has a
# name, else "<namespace>.<route>.<index>" (pilot/pkg/config/kube/gateway/conversion.go
# convertHTTPRoute; pilot/pkg/networking/core/route/route.go uses it as route.name, which the
# access log prints as %ROUTE_NAME%). Named, the log line is the same in both layouts.
FORWARD_RULE: Final = "forward-httpbin"

EGRESS_GATEWAY_TASK: Final = "tasks/traffic-management/egress/egress-gateway"
TLS_ORIGINATION_TASK: Final = "tasks/traffic-management/egress/egress-gateway-tls-origination"
WILDCARD_TASK: Final = "tasks/traffic-management/egress/wildcard-egress-hosts"
EGRESS_CONTROL_TASK: Final = "tasks/traffic-management/egress/egress-control"

HTTPBIN_HEADERS: Final = Curl(f"http://{hosts.HTTPBIN}/headers")
HTTPBIN_HTTPS: Final = Curl(f"https://{hosts.HTTPBIN}/headers", trust_fake_ca=True)

# The automated gateway's Service has no targetPort, so its pods listen on the listener's own
# port (pilot/pkg/config/kube/gatewaycommon/deploymentcontroller.go extractServicePorts; the
# pod template sets net.ipv4.ip_unprivileged_port_start=0: istio-discovery files/
# kube-gateway.yaml), unlike the Helm gateway's 8080/8443.
AUTOMATED: Final = ("the gateway is istiod's automated deployment of the Gateway (class "
                    "istio): <gateway>-istio in the client namespace, found by its "
                    "gateway.networking.k8s.io/gateway-name label; it listens on the "
                    "listener ports themselves (80, 443)")
# Gateway API routes have no exportTo (their VirtualServices are public), but a sidecar applies
# an HTTP one only to a Service in the route's namespace or its own (release-1.30/1.31
# pilot/pkg/networking/core/route/route.go buildSidecarVirtualHostsForVirtualService),
# and the ServiceEntry is exported only to the scenario's namespace: other runs' httpbin.org is
# their own ServiceEntry's, which these routes never touch.
ROUTES_SCOPED: Final = ("routes have no exportTo: the isolated layout keeps them apart by "
                        "namespace, and the ServiceEntry their mesh route attaches to is "
                        "exported only to the scenario's namespace")
STATUS_FIRST: Final = ("istio.io's doc tests wait for Programmed and then sleep 30 s; here "
                       "each route's Accepted/ResolvedRefs and the listeners' attachedRoutes "
                       "are polled before any traffic")
# SIMPLE origination reads only the Secret's CA (SDS resource "<credentialName>-cacert":
# pilot/pkg/security/model/authentication.go), which istiod serves to a proxy in the Secret's
# namespace without the list-Secrets check (pilot/pkg/xds/sds.go filterAuthorizedResources);
# the Role matters for MUTUAL, whose key is served only to an account that may list Secrets.
TRUSTS_FAKE_CA: Final = ("the origination DestinationRule names the per-run fake CA Secret "
                         "(credentialName) in the gateway's namespace; only its CA is read, "
                         "which istiod serves in that namespace without RBAC, so the Role "
                         "istio.io creates is applied but not what makes it work")

HTTP_GATEWAY_READY: Final = (
    GatewayProgrammed(HTTPBIN_GATEWAY, listeners=("http",)),
    RouteAccepted("HTTPRoute", DIRECT, "httpbin", parent_kind="ServiceEntry"),
    RouteAccepted("HTTPRoute", FORWARD, HTTPBIN_GATEWAY),
)


def _http_flow(gateway_link: Link) -> tuple[Hop, ...]:
    return (Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway(gateway_link),
            Hop.external(hosts.HTTPBIN))


GATEWAY_API_HTTP = Scenario(
    id="gateway-api-http",
    title="Gateway API: plain HTTP through the egress gateway (HTTPRoutes, Hostname backend)",
    seeds=(Seed(SEED_001, "HTTP through Egress Gateway (still insecure)"),),
    mirrors=(Task(EGRESS_GATEWAY_TASK, "Egress gateway for HTTP traffic (Gateway API)"),),
    flow=_http_flow("plain HTTP"),
    gateway="none",
    gateway_api=HTTPBIN_GATEWAY,
    steps=(
        Step(
            says="ServiceEntry httpbin, a Gateway with an HTTP listener for httpbin.org:80, an "
                 "HTTPRoute on the ServiceEntry sending mesh traffic to the gateway's Service "
                 "and one on the Gateway sending it to the Hostname httpbin.org:80.",
            apply=("serviceentry", "gateway", "httproute-direct", "httproute-forward"),
            ready=HTTP_GATEWAY_READY,
            checks=(
                Check(
                    "the request leaves through the Gateway API gateway as plain HTTP",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        LogLine(proxy="gateway", method="GET", path="/headers",
                                response_code=200, downstream_local_port=80,
                                route_name=FORWARD_RULE, cluster=f"outbound|80||{hosts.HTTPBIN}"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, AUTOMATED, ROUTES_SCOPED, STATUS_FIRST, GATEWAY_IS_THE_EDGE),
    tags=("gateway-api",),
)

GATEWAY_API_TLS_ORIGINATION = Scenario(
    id="gateway-api-tls-origination",
    title="Gateway API: HTTP to the gateway, which originates TLS to httpbin.org:443",
    seeds=(Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway"),),
    mirrors=(Task(TLS_ORIGINATION_TASK, "Perform TLS origination with an egress gateway "
                                        "(Gateway API)"),),
    flow=_http_flow("TLS originated"),
    gateway="none",
    gateway_api=HTTPBIN_GATEWAY,
    steps=(
        Step(
            says="The HTTP setup with the forward route's Hostname backend on port 443 and a "
                 "DestinationRule originating TLS (SIMPLE) on 443.",
            apply=("serviceentry", "gateway", "httproute-direct", "httproute-forward",
                   "secret-reader", "destinationrule-originate-tls"),
            ready=HTTP_GATEWAY_READY,
            checks=(
                Check(
                    "the Gateway API gateway turns the plain request into HTTPS",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
                        LogLine(proxy="gateway", route_name=FORWARD_RULE,
                                downstream_local_port=80,
                                cluster=f"outbound|443||{hosts.HTTPBIN}"),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.HTTPBIN),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, AUTOMATED, ROUTES_SCOPED, STATUS_FIRST, TRUSTS_FAKE_CA,
             "istio.io's Gateway API variant also runs ISTIO_MUTUAL to the gateway; that is "
             "gateway-api-mtls-tls-origination, this one keeps the hop plain like "
             "gateway-tls-origination"),
    tags=("gateway-api", "origination"),
)

# ISTIO_MUTUAL at the listener: the HTTPS listener's option gateway.istio.io/tls-terminate-mode
# ISTIO_MUTUAL (pilot/pkg/config/kube/gatewaycommon/gateway_utils.go
# GatewayTLSTerminateModeKey; conversion.go buildTLS maps it to ServerTLSSettings ISTIO_MUTUAL,
# no certificateRefs needed), and the sidecar's DestinationRule for the gateway's Service.
MTLS_READY: Final = (
    GatewayProgrammed(HTTPBIN_GATEWAY, listeners=("https-istio-mutual",)),
    RouteAccepted("HTTPRoute", DIRECT, "httpbin", parent_kind="ServiceEntry"),
    RouteAccepted("HTTPRoute", FORWARD, HTTPBIN_GATEWAY),
)
MTLS_DIFFERS: Final = ("the client pod runs as service account 'curl', so XFCC's URI names "
                       "curl; the gateway's identity is its automated service account "
                       "<gateway>-istio")

GATEWAY_API_MTLS_HTTP = Scenario(
    id="gateway-api-mtls-http",
    title="Gateway API: ISTIO_MUTUAL from sidecar to gateway (listener option), plain HTTP out",
    seeds=(Seed(SEED_001, "HTTP through Egress Gateway, with mTLS Between the Sidecar and the "
                          "Gateway"),),
    mirrors=(Task(TLS_ORIGINATION_TASK, "Perform TLS origination with an egress gateway "
                                        "(Gateway API: the ISTIO_MUTUAL listener)"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("plain HTTP"),
          Hop.external(hosts.HTTPBIN)),
    gateway="none",
    gateway_api=HTTPBIN_GATEWAY,
    steps=(
        Step(
            says="An HTTPS listener on port 80 terminating with the "
                 "gateway.istio.io/tls-terminate-mode: ISTIO_MUTUAL option, a DestinationRule "
                 "making the sidecar use ISTIO_MUTUAL (sni httpbin.org) to the gateway's "
                 "Service, and the forward route to httpbin.org:80.",
            apply=("serviceentry", "gateway", "destinationrule-mtls-to-gateway",
                   "httproute-direct", "httproute-forward"),
            ready=MTLS_READY,
            checks=(
                Check(
                    "mesh mTLS to the Gateway API gateway, plain HTTP from it",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Xfcc(by="gateway", uri="client"),
                        LogLine(proxy="gateway", route_name=FORWARD_RULE, sni=hosts.HTTPBIN,
                                downstream_local_port=80,
                                cluster=f"outbound|80||{hosts.HTTPBIN}"),
                        FakeSaw(scheme="http", port=hosts.HTTP_PORT),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, AUTOMATED, ROUTES_SCOPED, STATUS_FIRST, MTLS_DIFFERS),
    tags=("gateway-api", "mtls"),
)

GATEWAY_API_MTLS_TLS_ORIGINATION = Scenario(
    id="gateway-api-mtls-tls-origination",
    title="Gateway API: ISTIO_MUTUAL to the gateway, TLS originated at the gateway",
    seeds=(Seed(SEED_001, "HTTPS through Egress Gateway, with TLS Origination at the Gateway "
                          "and mTLS Between the Sidecar and the Gateway"),),
    mirrors=(Task(TLS_ORIGINATION_TASK, "Perform TLS origination with an egress gateway "
                                        "(Gateway API)"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("ISTIO_MUTUAL"), Hop.gateway("TLS originated"),
          Hop.external(hosts.HTTPBIN)),
    gateway="none",
    gateway_api=HTTPBIN_GATEWAY,
    steps=(
        Step(
            says="istio.io's Gateway API TLS origination: the ISTIO_MUTUAL listener on 80, "
                 "the sidecar's ISTIO_MUTUAL DestinationRule, the forward route to "
                 "httpbin.org:443 and a DestinationRule originating TLS there.",
            apply=("serviceentry", "gateway", "destinationrule-mtls-to-gateway",
                   "httproute-direct", "httproute-forward", "secret-reader",
                   "destinationrule-originate-tls"),
            ready=MTLS_READY,
            checks=(
                Check(
                    "the gateway terminates the mesh mTLS and originates TLS",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Xfcc(by="gateway", uri="client"),
                        LogLine(proxy="gateway", route_name=FORWARD_RULE, sni=hosts.HTTPBIN,
                                downstream_local_port=80,
                                cluster=f"outbound|443||{hosts.HTTPBIN}"),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.HTTPBIN),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, AUTOMATED, ROUTES_SCOPED, STATUS_FIRST, TRUSTS_FAKE_CA, MTLS_DIFFERS),
    tags=("gateway-api", "mtls", "origination"),
)

# Not so for TLS: the sidecar's TLS/TCP listener takes every visible VirtualService whose host
# matches, whatever its namespace (pilot/pkg/networking/core/listener.go
# buildSidecarOutboundTCPListenerOpts: "Do not filter namespace for now", istio/istio#46146).
# A prediction from that source, not yet seen on a cluster: while a TLSRoute scenario runs,
# another namespace's sidecar with a default-scope Sidecar and no TLS VirtualService of its own
# for the host sends its TLS for httpbin.org / *.wikipedia.org to this scenario's gateway.
TLS_ROUTES_LEAK: Final = ("prediction: a TLSRoute's mesh route is not scoped by namespace at "
                          "the sidecar (istio/istio#46146), so other namespaces without their "
                          "own TLS route for the host may be sent to this gateway while it runs")

# TLSRoutes are served as gateway.networking.k8s.io/v1 from Gateway API v1.5 (both pinned
# bundles), and istiod watches them only from bundle v1.5.0 on (release-1.30 and release-1.31
# pkg/config/schema/gatewayapi/minimumversions.go); TLS listeners need no alpha flag from 1.30.
# So no version gate between our two minors: the pinned CRDs are what makes them work.
NEEDS_1_30: Final = ("needs Istio >= 1.30: TLS listeners without PILOT_ENABLE_ALPHA_GATEWAY_API "
                     "and TLSRoute v1 (Gateway API v1.5); older CRDs leave the routes attached "
                     "to nothing (istio/istio#60357)")
TLS_READY: Final = (
    GatewayProgrammed(HTTPBIN_GATEWAY, listeners=("tls",)),
    RouteAccepted("TLSRoute", DIRECT, "httpbin", parent_kind="ServiceEntry"),
    RouteAccepted("TLSRoute", FORWARD, HTTPBIN_GATEWAY),
)

GATEWAY_API_PASSTHROUGH = Scenario(
    id="gateway-api-passthrough",
    title="Gateway API: HTTPS throughout, a TLS listener in Passthrough mode and TLSRoutes",
    seeds=(Seed(SEED_001, "HTTPS throughout via PASSTHROUGH at Gateway"),),
    mirrors=(Task(EGRESS_GATEWAY_TASK, "Egress gateway for HTTPS traffic (Gateway API)"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("passthrough"),
          Hop.external(hosts.HTTPBIN)),
    gateway="none",
    gateway_api=HTTPBIN_GATEWAY,
    requires_istio=">=1.30",
    steps=(
        Step(
            says="A TLS listener for httpbin.org:443 in Passthrough mode, a TLSRoute on the "
                 "ServiceEntry to the gateway's Service and one on the Gateway to the "
                 "Hostname httpbin.org:443.",
            apply=("serviceentry", "gateway", "tlsroute-direct", "tlsroute-forward"),
            ready=TLS_READY,
            checks=(
                Check(
                    "the app's TLS passes through the Gateway API gateway untouched",
                    HTTPBIN_HTTPS,
                    (
                        Status(200),
                        LogLine(proxy="gateway", tcp=True, sni=hosts.HTTPBIN,
                                downstream_local_port=443,
                                cluster=f"outbound|443||{hosts.HTTPBIN}"),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=hosts.HTTPBIN),
                        Echoed("X-Envoy-Peer-Metadata-Id", absent=True),
                        Echoed("X-Envoy-Decorator-Operation", absent=True),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, AUTOMATED, TLS_ROUTES_LEAK, STATUS_FIRST,
             "curl gets --cacert with the per-run fake CA, since the app verifies the fake's "
             "certificate itself", NEEDS_1_30),
    tags=("gateway-api", "passthrough"),
)

GATEWAY_API_MTLS_ORIGINATION = Scenario(
    id="gateway-api-mtls-origination",
    title="Gateway API: the gateway originates mutual TLS with a credentialName Secret",
    seeds=(Seed(SEED_001, "What About mTLS to the External Service?"),
           Seed(SEED_004, "Test mTLS (nginx with client certificate verification)")),
    mirrors=(Task(TLS_ORIGINATION_TASK, "Perform mutual TLS origination with an egress "
                                        "gateway (Gateway API)"),),
    flow=_http_flow("mTLS originated"),
    gateway="none",
    gateway_api=HTTPBIN_GATEWAY,
    steps=(
        Step(
            says="HTTP to the Gateway API gateway, whose forward route sends httpbin.org to "
                 "port 443 (the fake's mTLS port), where a DestinationRule originates MUTUAL "
                 "TLS with credentialName naming a Secret in the gateway's namespace; a Role "
                 "lets the gateway's service account read it.",
            apply=("serviceentry", "gateway", "httproute-direct", "httproute-forward",
                   "secret-reader", "destinationrule-originate-mtls"),
            ready=HTTP_GATEWAY_READY,
            checks=(
                Check(
                    "the fake verified the Gateway API gateway's client certificate",
                    HTTPBIN_HEADERS,
                    (
                        Status(200),
                        Echoed(hosts.SAW_CLIENT_VERIFY, equals="SUCCESS"),
                        LogLine(proxy="gateway", response_code=200, route_name=FORWARD_RULE,
                                cluster=f"outbound|443||{hosts.HTTPBIN}"),
                        FakeSaw(scheme="https", port=hosts.MTLS_PORT, sni=hosts.HTTPBIN,
                                client_verify="SUCCESS",
                                client_subject_contains=f"CN={hosts.CLIENT_COMMON_NAME}"),
                    ),
                ),
            ),
        ),
    ),
    differs=(HERMETIC, AUTOMATED, ROUTES_SCOPED, STATUS_FIRST,
             "istio.io's variant sends the forward route to a Service in another namespace "
             "and so needs a ReferenceGrant; here the backend is the Hostname httpbin.org (a "
             "ServiceEntry host, not a namespaced object), so no ReferenceGrant is involved",
             "the Secret (tls.crt, tls.key, ca.crt) is the per-run client certificate in the "
             "gateway's namespace; istiod serves it only if the gateway's service account may "
             "list Secrets there (pilot/pkg/credentials/kube/secrets.go Authorize), hence the "
             "Role and RoleBinding istio.io also creates"),
    tags=("gateway-api", "mtls", "origination"),
)

_WWW_CLUSTER: Final = f"outbound|443||{hosts.WIKIPEDIA_WWW}"
# The fake's nginx server blocks for each language host (manifests/external/nginx.conf.j2).
_LANGUAGE_BLOCKS: Final = {hosts.WIKIPEDIA_EN: "wikipedia-en", hosts.WIKIPEDIA_DE: "wikipedia-de"}

GATEWAY_API_WILDCARD_PASSTHROUGH = Scenario(
    id="gateway-api-wildcard-passthrough",
    title="Gateway API: *.wikipedia.org through a Passthrough TLS listener to one server",
    seeds=(Seed(SEED_003, "wildcard-egress-mtls.yaml"),),
    mirrors=(Task(WILDCARD_TASK, "Wildcard configuration for a single hosting server "
                                 "(Gateway API)"),),
    flow=(Hop.app("app TLS"), Hop.sidecar("passthrough"), Hop.gateway("passthrough"),
          Hop.external(hosts.WIKIPEDIA_WWW)),
    gateway="none",
    gateway_api=WIKIPEDIA_GATEWAY,
    requires_istio=">=1.30",
    steps=(
        Step(
            says="A wildcard ServiceEntry (no resolution), a Gateway with a TLS listener for "
                 "*.wikipedia.org in Passthrough mode, a TLSRoute on the ServiceEntry to the "
                 "gateway and one on the Gateway to the Hostname www.wikipedia.org:443, and "
                 "a DNS ServiceEntry for that server.",
            apply=("serviceentry-wildcard", "serviceentry-www", "gateway", "tlsroute-direct",
                   "tlsroute-forward"),
            ready=(
                GatewayProgrammed(WIKIPEDIA_GATEWAY, listeners=("tls",)),
                RouteAccepted("TLSRoute", "direct-wikipedia-to-egress-gateway", "wikipedia",
                              parent_kind="ServiceEntry"),
                RouteAccepted("TLSRoute", "forward-wikipedia-from-egress-gateway",
                              WIKIPEDIA_GATEWAY),
            ),
            checks=tuple(
                Check(
                    f"{host} is served through the gateway's www.wikipedia.org cluster",
                    Curl(f"https://{host}/headers", trust_fake_ca=True),
                    (
                        Status(200),
                        Echoed(hosts.SAW_SNI, equals=host),
                        ClusterCounter(_WWW_CLUSTER, at_least=1),
                        LogLine(proxy="gateway", tcp=True, sni=host, cluster=_WWW_CLUSTER),
                        FakeSaw(scheme="https", port=hosts.TLS_PORT, sni=host,
                                server_block=block),
                    ),
                )
                for host, block in _LANGUAGE_BLOCKS.items()
            ),
        ),
    ),
    differs=(HERMETIC, AUTOMATED, TLS_ROUTES_LEAK, STATUS_FIRST,
             "istio.io greps the pages' titles and reads cx_total once; the checks read the "
             "fake's echoed SNI and server block, and cx_total before and after each probe",
             NEEDS_1_30),
    tags=("gateway-api", "wildcard", "passthrough"),
)

# egress-control's "Manage traffic to external services" (Gateway API): an HTTPRoute on the
# ServiceEntry itself, no gateway; timeouts.request becomes the route's timeout on the client
# sidecar (conversion.go convertHTTPRoute: Timeouts.Request -> Timeout).
DELAYED: Final = Curl(f"http://{hosts.HTTPBIN}/delay/5", timeout_s=20.0)

GATEWAY_API_SERVICEENTRY_TIMEOUT = Scenario(
    id="gateway-api-serviceentry-timeout",
    title="Gateway API: an HTTPRoute on a ServiceEntry sets a 3 s timeout (200 before, 504 after)",
    seeds=(Seed(SEED_001, "ServiceEntry no Egress Gateway"),),
    mirrors=(Task(EGRESS_CONTROL_TASK, "Manage traffic to external services (Gateway API)"),),
    flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.external(hosts.HTTPBIN)),
    gateway="none",
    steps=(
        Step(
            says="ServiceEntry httpbin only: a 5 s delay is answered.",
            apply=("serviceentry",),
            checks=(
                Check(
                    "the delayed request is answered without a route timeout",
                    DELAYED,
                    (Status(200), FakeSaw(scheme="http", port=hosts.HTTP_PORT)),
                    consecutive=1,
                ),
            ),
        ),
        Step(
            says="An HTTPRoute with the ServiceEntry as parent, timeouts.request 3s, backend "
                 "the Hostname httpbin.org:80.",
            apply=("httproute-timeout",),
            ready=(RouteAccepted("HTTPRoute", "httpbin-ext", "httpbin",
                                 parent_kind="ServiceEntry"),),
            checks=(
                Check(
                    "the client sidecar gives up after 3 s with 504",
                    DELAYED,
                    (
                        Status(504),
                        # Envoy's UT flag: the route's timeout fired (upstream request timeout).
                        LogLine(proxy="sidecar", response_code=504, response_flags="UT",
                                route_name="httpbin-ext-timeout",
                                cluster=f"outbound|80||{hosts.HTTPBIN}"),
                    ),
                    consecutive=1,
                ),
            ),
        ),
    ),
    differs=(HERMETIC, ROUTES_SCOPED, STATUS_FIRST,
             "istio.io's httpbin-ext ServiceEntry is named httpbin here; the route keeps its "
             "name httpbin-ext and names its rule, so the sidecar's log line names it"),
    tags=("gateway-api",),
)

SCENARIOS = (GATEWAY_API_HTTP, GATEWAY_API_TLS_ORIGINATION, GATEWAY_API_MTLS_HTTP,
             GATEWAY_API_MTLS_TLS_ORIGINATION, GATEWAY_API_PASSTHROUGH,
             GATEWAY_API_MTLS_ORIGINATION, GATEWAY_API_WILDCARD_PASSTHROUGH,
             GATEWAY_API_SERVICEENTRY_TIMEOUT)
