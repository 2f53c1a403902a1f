"""The scenario model: an egress pattern from a seed, turned into data.

A scenario names the seed paragraph it implements, the resources it applies (templates under
``manifests/patterns/<id>/``), the traffic flow it claims, and the probes with what each must
show. Tests, ``render``, ``list`` and the report all read the same declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from egress_e2e.core.timeouts import DEFAULTS
from egress_e2e.scenario.expectations import Expectation, StatusExpectation

HopRole = Literal["app", "sidecar", "gateway", "proxy", "external"]
# Where the mesh's proxies run: a sidecar per pod, or ztunnel per node plus waypoints (ambient).
DataPlane = Literal["sidecar", "ambient"]
DATA_PLANES: tuple[DataPlane, ...] = ("sidecar", "ambient")
# How traffic travels on the link leaving a hop; the report labels the arrow with it.
Link = Literal[
    "plain HTTP",
    "app TLS",
    "app mTLS",
    "ISTIO_MUTUAL",
    "TLS originated",
    "mTLS originated",
    "passthrough",
    "CONNECT tunnel",
    "HBONE",
    "blocked",
    "",
]


@dataclass(frozen=True)
class Hop:
    role: HopRole
    name: str
    link: Link = ""

    @classmethod
    def app(cls, link: Link, name: str = "curl") -> Hop:
        return cls("app", name, link)

    @classmethod
    def sidecar(cls, link: Link, name: str = "sidecar") -> Hop:
        return cls("sidecar", name, link)

    @classmethod
    def gateway(cls, link: Link, name: str = "egress gateway") -> Hop:
        return cls("gateway", name, link)

    @classmethod
    def proxy(cls, link: Link, name: str = "CONNECT proxy") -> Hop:
        return cls("proxy", name, link)

    @classmethod
    def external(cls, name: str) -> Hop:
        return cls("external", name, "")


@dataclass(frozen=True)
class Curl:
    """One request from a client workload. ``client`` is a role resolved against the layout:
    "curl" (the injected client), "other" (an injected client in a second namespace),
    "uninjected" (no sidecar), "restricted" (selected by a Sidecar resource)."""

    url: str
    client: str = "curl"
    trust_fake_ca: bool = False       # --cacert with the per-run CA (apps that speak TLS)
    client_cert: bool = False         # app-level mTLS with the per-run client certificate
    extra_args: tuple[str, ...] = ()
    timeout_s: float = DEFAULTS.probe  # curl --max-time, before --timeout-scale


@dataclass(frozen=True)
class Check:
    """A probe and what it must show, held ``consecutive`` times in a row."""

    name: str
    probe: Curl
    expect: tuple[Expectation, ...]
    consecutive: int = 3


@dataclass(frozen=True)
class Step:
    """Apply (or delete) resources, then run checks. Seeds that build up state step by step
    become scenarios whose first step declares the whole starting set."""

    says: str
    apply: tuple[str, ...] = ()
    delete: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    # Gateway API objects' status to hold (polled, bounded) after applying and before traffic.
    ready: tuple[StatusExpectation, ...] = ()


@dataclass(frozen=True)
class Seed:
    file: str
    section: str

    def __str__(self) -> str:
        return f"{self.file}, '{self.section}'"


@dataclass(frozen=True)
class Task:
    """The istio.io task page a scenario mirrors: its path under content/en/docs/ and the
    section whose resources it applies."""

    path: str
    section: str

    def __str__(self) -> str:
        return f"istio.io {self.path}, '{self.section}'"


@dataclass(frozen=True)
class SeedNames:
    """The names the seed itself uses, for the seed layout (seed 001's are the defaults).

    ``gateway_installed``: the seed's gateway comes with the Istio install (001, 002), so the
    seed layout renders no Deployment for it; seed 000 deploys its own by injection template.
    """

    client_ns: str = "default"
    other_ns: str = "other"
    gateway_ns: str = "istio-system"
    gateway_name: str = "istio-egressgateway"
    gateway_sa: str = "istio-egressgateway-service-account"
    gateway_labels: tuple[tuple[str, str], ...] = (("istio", "egressgateway"),)
    gateway_installed: bool = True
    # Where the seed puts mesh-wide config (seed 002's ServiceEntry lives in istio-system).
    mesh_config_ns: str = "istio-system"


@dataclass(frozen=True)
class Scenario:
    id: str
    title: str
    seeds: tuple[Seed, ...]
    flow: tuple[Hop, ...]
    steps: tuple[Step, ...]
    # What differs from the seed, and why (trust for the fake CA, scoping, hermetic hosts...).
    differs: tuple[str, ...] = ()
    clients: tuple[str, ...] = ("curl",)
    outbound_policy: Literal["REGISTRY_ONLY", "ALLOW_ANY"] = "REGISTRY_ONLY"
    # "own": a gateway injected into the scenario's namespace; "shared": istio-system's,
    # which forces serial execution (one xdist group).
    gateway: Literal["own", "shared", "none"] = "own"
    requires_istio: str | None = None   # a version specifier such as ">=1.26"
    needs_network_policy: bool = False
    fakes: tuple[str, ...] = ("httpbin",)
    tags: tuple[str, ...] = field(default=())
    seed_names: SeedNames = field(default=SeedNames())
    # ProxyConfig for the client pods and the scenario's own gateway, as the JSON of their
    # ``proxy.istio.io/config`` annotation (None: the mesh defaults).
    proxy_config: str | None = None
    # The data planes this scenario applies to (DATA_PLANES); a run on another is skipped
    # with the reason (gates.data_plane_skip_reason).
    data_planes: tuple[str, ...] = ("sidecar",)
    # The istio.io tasks this scenario mirrors (the Gateway API variants declare theirs).
    mirrors: tuple[Task, ...] = ()
    # The Gateway API Gateway (gatewayClassName istio) that is this scenario's gateway, in the
    # client namespace: istiod deploys it as ``<name>-istio`` (Deployment, Service and service
    # account), its pods labelled gateway.networking.k8s.io/gateway-name=<name>.
    gateway_api: str | None = None
    # The hosts the clients' namespace-wide Sidecar makes visible (its egress list, e.g. "./*");
    # empty: the default scope, plus the isolated layout's port-80 HTTP placeholder Service
    # (manifests/base/outbound-policy.yaml). A scenario whose own ServiceEntry must be the
    # port-80 HTTP service that builds the sidecar's 0.0.0.0_80 listener scopes the sidecar and
    # so drops the placeholder: the oldest visible service on a port builds the listener
    # (push_context.go SortServicesByCreationTime; listener.go keeps the first), and a
    # DYNAMIC_DNS ServiceEntry's forward-proxy filter is added only when it is that service
    # (listener_builder.go); istio-system's gateway Service is older than any scenario's.
    sidecar_egress_hosts: tuple[str, ...] = ()

    @property
    def resources(self) -> tuple[str, ...]:
        """Every pattern template the scenario applies, in order of first use."""
        seen: dict[str, None] = {}
        for step in self.steps:
            for name in step.apply:
                seen.setdefault(name, None)
        return tuple(seen)

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(check for step in self.steps for check in step.checks)
