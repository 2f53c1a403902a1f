"""What a scenario expects to see, as plain data.

These declarations are read three ways: the evidence layer checks them against what a probe,
the gateway's access log and the fake observed; ``render``/``list`` print them; the report draws
them. They hold no behaviour of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Who a SPIFFE identity belongs to, resolved against the layout at run time:
# "gateway" is the egress gateway's service account, "client" the probing workload's.
from egress_e2e.scenario.identity import IdentityRole


@dataclass(frozen=True)
class Status:
    """The HTTP status code the client got."""

    code: int


@dataclass(frozen=True)
class CurlFails:
    """curl itself failed: one of these exit codes, and (if given) this text in its error line."""

    exit_codes: tuple[int, ...]
    message: str | None = None


@dataclass(frozen=True)
class Body:
    """The response body contains this text."""

    contains: str


@dataclass(frozen=True)
class Echoed:
    """A request header as the fake echoed it (httpbin /headers): value tests, presence (no
    test given: ``Echoed.present``) or absence."""

    header: str
    equals: str | None = None
    startswith: str | None = None
    contains: str | None = None
    absent: bool = False

    @classmethod
    def present(cls, header: str) -> Echoed:
        """The header reached the fake, with any value."""
        return cls(header)


@dataclass(frozen=True)
class Xfcc:
    """X-Forwarded-Client-Cert echoed by the fake: By= and URI= are these identities."""

    by: IdentityRole = "gateway"
    uri: IdentityRole = "client"


@dataclass(frozen=True)
class LogLine:
    """Fields of the access-log line for this probe (by request id; TCP lines by SNI and time).

    Every field left as None is not checked. ``present=False`` asserts that no line appears
    within the settle window.
    """

    proxy: Literal["gateway", "sidecar"] = "gateway"
    present: bool = True
    tcp: bool | None = None
    method: str | None = None
    path: str | None = None
    protocol: str | None = None
    response_code: int | None = None
    response_flags: str | None = None
    cluster: str | None = None
    cluster_contains: str | None = None
    sni: str | None = None
    downstream_local_port: int | None = None
    route_name: str | None = None
    transport_failure_contains: str | None = None
    # TCP lines are found by the probe's SNI. Some listeners never read it (the sidecar's
    # catch-all that sends unknown hosts to BlackHoleCluster logs "-"): False finds them by
    # time window among the lines without SNI instead.
    match_sni: bool = True


@dataclass(frozen=True)
class FakeSaw:
    """What the fake external service observed, read from the headers it stamps on every answer
    (nginx ``add_header ... always``, so its own 400s carry them too); its log (found by the
    probe's marker) only when no answer reached the client. ``reached`` means an answer stamped
    with this run's id (``X-Fake-Internet``), not merely some stamp."""

    reached: bool = True
    scheme: Literal["http", "https"] | None = None
    port: int | None = None
    sni: str | None = None
    client_subject_contains: str | None = None
    client_verify: str | None = None
    server_block: str | None = None


@dataclass(frozen=True)
class ProxyConnect:
    """The fake CONNECT proxy's log shows (or not) a tunnel opened by this probe: a CONNECT
    during the probe whose target is the probe's own host (and ``target_port``), answered
    ``response_code``. The proxy logs ``%REQ(:AUTHORITY)%``, which for a CONNECT is the tunnel's
    ``host:port`` (manifests/external/envoy-connect-proxy.yaml.j2). ``present=False`` asserts no
    CONNECT for that target at all, whatever its answer."""

    present: bool = True
    target_port: int | None = 443
    response_code: int | None = 200


@dataclass(frozen=True)
class ClusterCounter:
    """An Envoy cluster's ``cx_total`` on the gateway grew by at least this much over the check."""

    cluster: str
    at_least: int = 1


@dataclass(frozen=True)
class ZtunnelLine:
    """ztunnel's access-log record of the probe's connection, on the client's side.

    In ambient, ztunnel logs every connection once when it closes (target ``access``, message
    ``connection complete``, ERROR level with an ``error`` field when it failed; istio/ztunnel
    release-1.31 src/proxy/metrics.rs ``record_internal``). Its line has no HTTP fields, so it
    is found by source and time: ``direction="outbound"``, ``src.workload`` the client pod,
    ``src.namespace`` its namespace, logged within the probe's time window. Fields:

    - ``via_waypoint``: True when ztunnel carried it over HBONE (``dst.hbone_addr`` set,
      ``dst.addr`` on port 15008), as it does to a service's waypoint; False when it connected
      straight to the destination (src/proxy/outbound.rs ``build_request``);
    - ``dst_service``: ``dst.service``, the hostname of the service ztunnel matched the address
      to (absent when no service owns it);
    - ``dst_port``: the port of ``dst.addr``, where ztunnel actually connected;
    - ``ok``: True when it completed without an ``error``; ``error_contains`` a text in it;
    - ``bytes_recv_at_least``: ``bytes_recv`` (unflipped for logs: what the client received).

    ``present=False`` asserts no such line within the settle window.
    """

    present: bool = True
    via_waypoint: bool | None = None
    dst_service: str | None = None
    dst_port: int | None = None
    ok: bool | None = None
    error_contains: str | None = None
    bytes_recv_at_least: int | None = None


Expectation = (
    Status | CurlFails | Body | Echoed | Xfcc | LogLine | FakeSaw | ProxyConnect | ClusterCounter
    | ZtunnelLine
)


# --- Gateway API status: what istiod wrote on the objects, checked before a step's traffic ---
# Read from the objects' ``status`` (Gateway API's Condition type), never inferred from traffic:
# with stale CRDs a TLSRoute attaches to nothing and only its status says so (istio/istio#60357).
RouteKind = Literal["HTTPRoute", "TLSRoute"]
ParentKind = Literal["Gateway", "ServiceEntry"]


@dataclass(frozen=True)
class GatewayProgrammed:
    """The Gateway's conditions Accepted and Programmed are True (istiod's deployment controller
    has made its Deployment and Service), and each listener named here has its own Accepted,
    Programmed and ResolvedRefs True and at least ``attached_routes`` routes attached
    (``status.listeners[]``: a listener's errors do not show in the Gateway's Programmed)."""

    gateway: str
    listeners: tuple[str, ...] = ()
    attached_routes: int = 1


@dataclass(frozen=True)
class RouteAccepted:
    """The route's status for this parent, written by Istio's controller: Accepted and
    ResolvedRefs are True (bound to the parent; every backendRef resolved)."""

    kind: RouteKind
    route: str
    parent: str
    parent_kind: ParentKind = "Gateway"


StatusExpectation = GatewayProgrammed | RouteAccepted
