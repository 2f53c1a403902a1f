"""One face for the fake internet, wherever it runs (local processes, containers on the kind
network, Deployments in an existing cluster), so scenarios never ask where the fakes are."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from egress_e2e.core.waits import until
from egress_e2e.fakes import declared
from egress_e2e.fakes.pki import Pki
from egress_e2e.scenario import hosts

# Where the fake internet runs: local processes (offline tests, debugging by hand), containers
# on the kind network (the default e2e placement), or pods in an existing cluster.
Placement = Literal["local", "containers", "in-cluster"]
# The two an e2e session can choose (--fakes).
ClusterPlacement = Literal["containers", "in-cluster"]
CLUSTER_PLACEMENTS: tuple[ClusterPlacement, ...] = ("containers", "in-cluster")


@dataclass(frozen=True)
class FakePorts:
    """The ports a client dials. Containers and pods use the fixed ports of ``hosts``; local
    processes get free loopback ports at run time."""

    http: int = hosts.HTTP_PORT
    tls: int = hosts.TLS_PORT
    mtls: int = hosts.MTLS_PORT
    untrusted: int = hosts.UNTRUSTED_PORT
    connect: int = hosts.CONNECT_PORT


class FakeInternet(Protocol):
    """What a scenario may know about the fake internet."""

    @property
    def run_id(self) -> str:
        """Stamped on every answer as the ``hosts.PROVENANCE`` header."""
        ...

    @property
    def pki(self) -> Pki:
        """The run's PKI (CA to trust, client certificate for mTLS, the untrusted CA)."""
        ...

    @property
    def ports(self) -> FakePorts: ...

    @property
    def connect_proxy_address(self) -> str:
        """The CONNECT proxy's IP, for EnvoyFilters that tunnel to it (seed 004)."""
        ...

    def dns_entries(self) -> Mapping[str, str]:
        """Host name -> IP the (cluster) DNS must answer for it; ``coredns.add_fake_hosts``
        turns this into Corefile entries."""
        ...

    def nginx_access_log(self) -> str:
        """The web fake's access log so far (one line per request, ``block=... sni=...``)."""
        ...

    def proxy_access_log(self) -> str:
        """The CONNECT proxy's access log so far (``"CONNECT <target> - HTTP/1.1" - 200``)."""
        ...


LogName = Literal["nginx", "connect-proxy"]


def dns_entries(web_address: str, proxy_address: str,
                extra_names: Iterable[str] | None = None) -> dict[str, str]:
    """Every fake name -> the web fake, except the CONNECT proxy's own name. ``extra_names``:
    more names for the web fake (default: the scenario files' declared hosts)."""
    extra = declared.current().names if extra_names is None else tuple(extra_names)
    entries = dict.fromkeys((*hosts.ALL_HOSTS, *extra), web_address)
    entries[hosts.CONNECT_PROXY] = proxy_address
    return entries


@dataclass(frozen=True)
class AddressedFakes:
    """Fakes reached by IP address (containers beside kind, pods in a cluster): the cluster DNS
    maps the fake names to them, and their logs are read by name through ``read_log``."""

    run_id: str
    pki: Pki
    web_address: str
    proxy_address: str
    read_log: Callable[[LogName], str]
    ports: FakePorts = field(default_factory=FakePorts)

    @property
    def connect_proxy_address(self) -> str:
        return self.proxy_address

    def dns_entries(self) -> Mapping[str, str]:
        return dns_entries(self.web_address, self.proxy_address)

    def nginx_access_log(self) -> str:
        return self.read_log("nginx")

    def proxy_access_log(self) -> str:
        return self.read_log("connect-proxy")


def wait_for_log_line(read: Callable[[], str], needle: str, *, what: str,
                      timeout: float = 15.0, interval: float = 0.1) -> str:
    """Poll ``read`` until a line contains ``needle``; return that line.

    Access logs are written when a request or tunnel ends and Envoy flushes its log on a timer,
    so a line can lag the response by a moment.
    """
    def matching(text: str) -> list[str]:
        return [line for line in text.splitlines() if needle in line]

    text = until(read, lambda seen: bool(matching(seen)),
                 what=f"{what} has no line containing {needle!r}", timeout=timeout,
                 interval=interval,
                 describe=lambda seen: "last lines: "
                 + (" | ".join(seen.strip().splitlines()[-3:]) or "(empty)"))
    return matching(text)[0]


if TYPE_CHECKING:  # mypy proves the placement fits the Protocol
    def _conforms(fakes: AddressedFakes) -> FakeInternet:
        return fakes
