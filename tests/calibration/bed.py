"""The calibration bed: real Envoy 1.40 processes configured the way Istio 1.30/1.31 configures
a client sidecar and an egress gateway, in front of the local fake internet.

    curl (the catalog's probe argv) -> sidecar-like Envoy -> gateway-like Envoy -> local fakes

(For ingress-gateway the client calls the gateway itself and the second Envoy is the app's
sidecar, on its inbound side; for connect-tunnel the gateway tunnels through the local CONNECT
proxy.) Each scenario step the bed covers is a ``Topology``: which listeners the sidecar has, which
servers the gateway has and what its ``outbound|443||httpbin.org`` cluster does (the
DestinationRule). ``Bed.flow(...)`` renders the two Envoy configs from ``envoy/*.yaml.j2``,
starts both processes (once per session and topology) and returns a ``Flow`` that runs a
catalog ``Check`` through them and gathers an ``Observation`` for ``verify``.

The mesh's own PKI (a root CA and workload certificates whose only identity is a SPIFFE URI, as
istiod issues them) is made here with ``cryptography``; the fake internet keeps its per-run PKI.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import random
import socket
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

import jinja2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from egress_e2e.core import localproc, waits
from egress_e2e.evidence import accesslog, probe, verify
from egress_e2e.evidence.accesslog import ISTIO_TEXT_FORMAT
from egress_e2e.fakes.local import LocalFakes
from egress_e2e.fakes.pki import write_private_key
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    ClusterCounter,
    Echoed,
    Expectation,
    FakeSaw,
    ProxyConnect,
)
from egress_e2e.scenario.identity import Identities, SpiffeId
from egress_e2e.scenario.model import Check

ENVOY = Path(sys.executable).parent / "envoy"
TEMPLATES = Path(__file__).parent / "envoy"
TRUST_DOMAIN = "cluster.local"
CLIENT_NS, CLIENT_SA = "client-ns", "curl"
GATEWAY_NS, GATEWAY_SA = "egress-ns", "egress-gateway"
# ingress-gateway's app (command-runner) has no serviceAccountName: its namespace's default.
APP_SA = "default"
GATEWAY_NAME = "egress-gateway"
# istio-proxy flushes access logs every second (pkg/envoy/proxy.go); 50 ms keeps the bed quick.
FLUSH_MS = 50

FakePort = Literal["tls", "mtls", "untrusted"]


@dataclass(frozen=True)
class Topology:
    """What Istio generates for one scenario step, in the terms the templates take."""

    # Sidecar: the mesh route for httpbin.org:80 goes to this gateway port (None: no HTTP
    # listener), over ISTIO_MUTUAL when ``mtls_to_gateway``; ``passthrough`` adds 0.0.0.0_443.
    route_port: int | None = 80
    mtls_to_gateway: bool = False
    passthrough: bool = False
    # Gateway: the port 80 server routes to httpbin.org:<http_route_port> (None: no server);
    # the port 443 server is ISTIO_MUTUAL (routing to https_route_port) or PASSTHROUGH.
    http_route_port: int | None = 80
    https_mode: Literal["istio_mutual", "passthrough", "tunnel", "tunnel_dr"] | None = None
    https_route_port: int | None = None
    # The DestinationRule for httpbin.org:443 at the gateway, and the fake port behind it
    # (the ServiceEntry's targetPort).
    origination: Literal["simple", "mutual"] | None = None
    origination_sni: str | None = None
    fake_443: FakePort = "tls"
    # Not what Istio generates by default: addresses the gateway treats as internal.
    internal_cidrs: tuple[str, ...] = ()
    # Ingress instead of egress: the gateway's port 80 server routes every host to the app
    # (command-runner:8080) over auto-mTLS, and the "sidecar" is the app's, on its inbound
    # side; the client is outside the mesh and calls the gateway itself.
    ingress_app: bool = False
    # The external host (the ServiceEntry's) the step reaches; the SNIs the sidecar's TLS
    # listener (and a tunnelling gateway) match, when more than that host.
    host: str = hosts.HTTPBIN
    sni_hosts: tuple[str, ...] = ()
    # The step's checks the bed judges (None: all of them), when a check needs what the bed
    # does not model; the Topology's comment says which and why.
    checks: tuple[int, ...] | None = None


# Each scenario step the bed drives, with what its manifests make Istio generate.
TOPOLOGIES: dict[tuple[str, int], Topology] = {
    ("gateway-http", 0): Topology(),
    ("gateway-tls-origination", 0): Topology(http_route_port=443, origination="simple"),
    ("mtls-gateway-http", 0): Topology(
        route_port=443, mtls_to_gateway=True, http_route_port=None, https_mode="istio_mutual",
        https_route_port=80),
    ("mtls-gateway-tls-origination", 0): Topology(
        route_port=443, mtls_to_gateway=True, http_route_port=None, https_mode="istio_mutual",
        https_route_port=443, origination="simple"),
    ("passthrough", 0): Topology(route_port=None, passthrough=True, http_route_port=None,
                                 https_mode="passthrough"),
    # The leftover originate-tls-for-httpbin DestinationRule (credentialName, sni httpbin.org)
    # wraps the passthrough route's cluster in the gateway's own TLS; then it is deleted.
    ("passthrough-double-tls", 0): Topology(
        route_port=None, passthrough=True, http_route_port=None, https_mode="passthrough",
        origination="simple", origination_sni=hosts.HTTPBIN),
    ("passthrough-double-tls", 1): Topology(route_port=None, passthrough=True,
                                            http_route_port=None, https_mode="passthrough"),
    ("mtls-origination", 0): Topology(http_route_port=443, origination="mutual",
                                      origination_sni=hosts.HTTPBIN, fake_443="mtls"),
    ("mtls-origination", 1): Topology(http_route_port=443, origination="simple",
                                      origination_sni=hosts.HTTPBIN, fake_443="mtls"),
    ("mtls-origination", 2): Topology(http_route_port=443, fake_443="mtls"),
    ("origination-untrusted-cert", 0): Topology(http_route_port=443, origination="simple",
                                                fake_443="untrusted"),
    ("ingress-gateway", 0): Topology(route_port=None, ingress_app=True),
    # connect-tunnel step 2: the sidecar sends both SNIs to the gateway's 443, where the
    # EnvoyFilter's listener tunnels them through the CONNECT proxy.
    ("connect-tunnel", 1): Topology(route_port=None, passthrough=True, http_route_port=None,
                                    https_mode="tunnel", host=hosts.GOOGLE_WWW,
                                    sni_hosts=(hosts.GOOGLE_WWW, hosts.WIKIPEDIA_WWW)),
    # connect-tunnel-dr step 2: the same through a PASSTHROUGH server and the DestinationRule's
    # subsets with trafficPolicy.tunnel.
    ("connect-tunnel-dr", 1): Topology(route_port=None, passthrough=True, http_route_port=None,
                                       https_mode="tunnel_dr", host=hosts.GOOGLE_WWW,
                                       sni_hosts=(hosts.GOOGLE_WWW, hosts.WIKIPEDIA_WWW)),
    # Step 2 of the dedicated gateway: ISTIO_MUTUAL to the gateway (DestinationRule sni
    # jsonplaceholder), origination with an explicit sni. Only the admitted client's check:
    # the denied one needs the AuthorizationPolicy (istio-proxy's RBAC on source.namespaces)
    # and a client in a second namespace, which the bed does not model.
    ("dedicated-gateway-authz", 1): Topology(
        route_port=443, mtls_to_gateway=True, http_route_port=None, https_mode="istio_mutual",
        https_route_port=443, origination="simple", origination_sni=hosts.JSONPLACEHOLDER,
        host=hosts.JSONPLACEHOLDER, checks=(0,)),
    # The counterfactual: gateway-http with loopback declared internal, as
    # ENABLE_HCM_INTERNAL_NETWORKS plus meshNetworks would make it.
    ("gateway-http", -1): Topology(internal_cidrs=("127.0.0.0/8",)),
}


# --- the mesh PKI ---------------------------------------------------------------------------

@dataclass(frozen=True)
class MeshPki:
    """istiod's part: a root and two workload certificates (SPIFFE URI SAN, empty subject)."""

    root: Path
    gateway_cert: Path
    gateway_key: Path
    client_cert: Path
    client_key: Path
    app_cert: Path
    app_key: Path

    @staticmethod
    def spiffe(namespace: str, account: str) -> str:
        return str(SpiffeId(TRUST_DOMAIN, namespace, account))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def make_mesh_pki(directory: Path) -> MeshPki:
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, TRUST_DOMAIN)])
    root = (x509.CertificateBuilder().subject_name(root_name).issuer_name(root_name)
            .public_key(root_key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(_now() - dt.timedelta(minutes=5))
            .not_valid_after(_now() + dt.timedelta(hours=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .sign(root_key, hashes.SHA256()))
    paths = MeshPki(directory / "root-cert.pem", directory / "gateway.pem",
                    directory / "gateway-key.pem", directory / "client.pem",
                    directory / "client-key.pem", directory / "app.pem",
                    directory / "app-key.pem")
    pem = serialization.Encoding.PEM
    paths.root.write_bytes(root.public_bytes(pem))
    for account, namespace, cert_path, key_path in (
            (GATEWAY_SA, GATEWAY_NS, paths.gateway_cert, paths.gateway_key),
            (CLIENT_SA, CLIENT_NS, paths.client_cert, paths.client_key),
            (APP_SA, CLIENT_NS, paths.app_cert, paths.app_key)):
        key = ec.generate_private_key(ec.SECP256R1())
        # security/pkg/pki/util/generate_cert.go: workload certificates have an empty subject
        # and a critical SAN holding only the SPIFFE id; usable as server and client.
        cert = (x509.CertificateBuilder().subject_name(x509.Name([])).issuer_name(root_name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(_now() - dt.timedelta(minutes=5))
                .not_valid_after(_now() + dt.timedelta(hours=2))
                .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(
                    MeshPki.spiffe(namespace, account))]), critical=True)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                      ExtendedKeyUsageOID.CLIENT_AUTH]),
                               critical=False)
                .sign(root_key, hashes.SHA256()))
        cert_path.write_bytes(cert.public_bytes(pem))
        write_private_key(key_path, key)
    return paths


IDENTITIES = Identities(gateway_ns=GATEWAY_NS, gateway_sa=GATEWAY_SA,
                        client_ns=CLIENT_NS, client_sa=CLIENT_SA,
                        trust_domain=TRUST_DOMAIN, workload_sa=APP_SA)


# --- rendering and running ------------------------------------------------------------------

def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True, autoescape=False)


def gateway_host(flow: str) -> str:
    """Each scenario has its own gateway Service (the isolated layout)."""
    return f"{GATEWAY_NAME}-{flow}.{GATEWAY_NS}.svc.cluster.local"


def _gateway_address() -> str:
    """A loopback address of its own, so the gateway listens on Istio's own 8080 and 8443."""
    for _ in range(50):
        address = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}.{random.randint(1, 254)}"
        if all(_bindable(address, port) for port in (8080, 8443)):
            return address
    raise RuntimeError("no free loopback address for the gateway's 8080/8443")


def _bindable(address: str, port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((address, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class Proxy:
    role: Literal["sidecar", "gateway"]
    config: Path
    access_log: Path
    admin_port: int
    process: localproc.LocalProcess

    def log_entries(self) -> tuple[accesslog.AccessLogEntry, ...]:
        text = self.access_log.read_text() if self.access_log.exists() else ""
        return tuple(accesslog.parse_all(text))

    def counters(self) -> dict[str, int]:
        """cx_total per cluster from the admin /clusters page (what pilot-agent relays)."""
        url = f"http://127.0.0.1:{self.admin_port}/clusters"
        with urllib.request.urlopen(url, timeout=5) as answer:
            return verify.cluster_counters(answer.read().decode())


@dataclass
class Flow:
    """One scenario step's sidecar and gateway, running."""

    name: str
    topology: Topology
    fakes: LocalFakes
    sidecar: Proxy
    gateway: Proxy
    sidecar_http_port: int | None
    sidecar_tls_port: int | None
    gateway_address: str

    def url(self, check: Check) -> str:
        """The probe's URL; an ingress probe names the gateway's Service (``{gateway_host}``)."""
        return check.probe.url.format(gateway_host=gateway_host(self.name))

    def connect_to(self, url: str) -> list[str]:
        """curl --connect-to standing in for the pod's iptables redirect to the sidecar (or,
        for a client outside the mesh, for the gateway Service's port 80 -> 8080)."""
        parts = urlsplit(url)
        if self.topology.ingress_app:
            return ["--connect-to", f"{parts.hostname}:{parts.port or 80}:"
                                    f"{self.gateway_address}:8080"]
        port = parts.port or (443 if parts.scheme == "https" else 80)
        local = self.sidecar_tls_port if parts.scheme == "https" else self.sidecar_http_port
        if local is None:
            raise ValueError(f"flow {self.name}: the sidecar has no listener for {url}")
        return ["--connect-to", f"{parts.hostname}:{port}:127.0.0.1:{local}"]

    def run_probe(self, check: Check) -> probe.ProbeResult:
        url = self.url(check)
        curl = dataclasses.replace(
            check.probe, url=url, extra_args=(*check.probe.extra_args, *self.connect_to(url)))
        prepared = probe.prepare(curl, cert_dir=str(self.fakes.pki.directory))
        return probe.run_local(prepared)

    def observe(self, result: probe.ProbeResult,
                counters_before: dict[str, int] | None = None) -> verify.Observation:
        return verify.Observation(
            probe=result,
            gateway_log=self.gateway.log_entries(),
            sidecar_log=self.sidecar.log_entries(),
            fake_log=self.fakes.nginx_access_log(),
            proxy_log=tuple(accesslog.parse_connect_all(self.fakes.proxy_access_log())),
            counters_before=counters_before or {},
            counters_after=self.gateway.counters() if counters_before is not None else {},
            run_id=self.fakes.run_id,
        )

    def observe_once(self, check: Check, timeout: float = 5.0) -> verify.Observation:
        """One probe, and the evidence once both proxies have logged a line for it."""
        result = self.run_probe(check)

        def judge(found: verify.Observation) -> list[str]:
            return [f"no {name} line yet" for name, entries in
                    (("sidecar", found.sidecar_log), ("gateway", found.gateway_log))
                    if not during(found, entries)]

        return waits.latest(lambda: self.observe(result), judge, timeout=timeout, interval=0.05)

    def check(self, check: Check, expectations: Sequence[Expectation] | None = None,
              timeout: float = 5.0) -> tuple[verify.Observation, list[str]]:
        """Run the check's probe once and judge ``expectations`` (default: the check's own,
        localized) on the evidence, waiting for the access logs to flush."""
        wanted = list(expectations if expectations is not None
                      else applicable(check.expect, self.fakes)[0])
        needs_counters = any(isinstance(e, ClusterCounter) for e in wanted)
        before = self.gateway.counters() if needs_counters else None
        result = self.run_probe(check)

        def gather() -> verify.Observation:
            return self.observe(result, before)

        def judge(observed: verify.Observation) -> list[str]:
            return verify.verify(wanted, observed, IDENTITIES)

        observed = waits.latest(gather, judge, timeout=timeout, interval=0.05)
        if any(verify.needs_settle_window(e) for e in wanted):
            time.sleep(3 * FLUSH_MS / 1000)  # an absence means something only once flushed
            observed = gather()
        return observed, judge(observed)


# --- expectations: which apply here, in the bed's ports -------------------------------------

# Expectation kinds whose evidence exists only on Kubernetes (pods, events...), by class name,
# with the reason; none of today's kinds. Every other kind is judged: the bed has the client's
# view, both proxies' access logs and admin stats (``ClusterCounter``), and the fakes' echo
# and logs (``FakeSaw``, ``ProxyConnect``).
KUBERNETES_ONLY: dict[str, str] = {}
# Headers only istio-proxy's own filters write (istio/proxy peer_metadata): upstream Envoy has
# no such filter, so the bed can say nothing about them.
ISTIO_PROXY_ONLY_HEADERS = frozenset({"x-envoy-peer-metadata", "x-envoy-peer-metadata-id"})


# Locally the fake names do not resolve to loopback, so the local CONNECT proxy tunnels only
# to the fakes' loopback ports and the bed's tunnel names 127.0.0.1:<port>, never the probe's
# host (tests/fakes shows the proxy logs the authority it was asked for, and refuses others).
LOOPBACK_CONNECT = ("the local CONNECT proxy tunnels only to loopback addresses, so its "
                    "CONNECT names 127.0.0.1, not the probe's host")


def applicable(expectations: Sequence[Expectation],
               fakes: LocalFakes) -> tuple[list[Expectation], list[tuple[Expectation, str]]]:
    """The expectations the bed can judge, with fixed fake ports mapped to the local ones,
    and the skipped ones with the reason."""
    local_port = {hosts.HTTP_PORT: fakes.ports.http, hosts.TLS_PORT: fakes.ports.tls,
                  hosts.MTLS_PORT: fakes.ports.mtls, hosts.UNTRUSTED_PORT: fakes.ports.untrusted}
    kept: list[Expectation] = []
    skipped: list[tuple[Expectation, str]] = []
    for expectation in expectations:
        match expectation:
            case Echoed(header=name) if name.lower() in ISTIO_PROXY_ONLY_HEADERS:
                skipped.append((expectation, "written by istio-proxy's peer_metadata filter, "
                                             "which upstream Envoy does not have"))
            case ProxyConnect():
                skipped.append((expectation, LOOPBACK_CONNECT))
            case FakeSaw(port=int(port)) if port in local_port:
                kept.append(dataclasses.replace(expectation, port=local_port[port]))
            case _ if type(expectation).__name__ in KUBERNETES_ONLY:
                skipped.append((expectation, KUBERNETES_ONLY[type(expectation).__name__]))
            case _:
                kept.append(expectation)
    return kept, skipped


# --- the bed --------------------------------------------------------------------------------

@dataclass
class Bed:
    """Starts each topology's pair of Envoys once, on first use, and stops them all at the end."""

    workdir: Path
    fakes: LocalFakes
    mesh: MeshPki
    stack: contextlib.ExitStack
    flows: dict[tuple[str, int], Flow] = field(default_factory=dict)
    startup_s: dict[str, float] = field(default_factory=dict)

    def flow(self, scenario: str, step: int = 0) -> Flow:
        key = (scenario, step)
        if key not in self.flows:
            name = f"{scenario}-{step}" if step >= 0 else f"{scenario}-counterfactual"
            started = time.monotonic()
            self.flows[key] = self._start(name, TOPOLOGIES[key])
            self.startup_s[name] = time.monotonic() - started
        return self.flows[key]

    def _start(self, name: str, topology: Topology) -> Flow:
        directory = self.workdir / name
        directory.mkdir(parents=True, exist_ok=True)
        env = _environment()
        address = _gateway_address()
        fake_443 = {"tls": self.fakes.ports.tls, "mtls": self.fakes.ports.mtls,
                    "untrusted": self.fakes.ports.untrusted}[topology.fake_443]
        pki = self.fakes.pki
        gateway_values = {
            "flow": name, "text_format": ISTIO_TEXT_FORMAT, "address": address,
            "admin_port": localproc.free_port(), "log_path": str(directory / "gateway.log"),
            "gateway_name": GATEWAY_NAME, "gateway_ns": GATEWAY_NS, "client_ns": CLIENT_NS,
            "http_route_port": topology.http_route_port, "https_mode": topology.https_mode,
            "https_route_port": topology.https_route_port,
            "gateway_cert": str(self.mesh.gateway_cert),
            "gateway_key": str(self.mesh.gateway_key), "mesh_root": str(self.mesh.root),
            "fake_http_port": self.fakes.ports.http, "fake_443_port": fake_443,
            "origination": topology.origination, "origination_sni": topology.origination_sni,
            "origination_ca": str(pki.ca_cert), "origination_cert": str(pki.client_cert),
            "origination_key": str(pki.client_key),
            "internal_cidrs": list(topology.internal_cidrs),
            "ingress_app": topology.ingress_app, "host": topology.host,
            "sni_hosts": list(topology.sni_hosts or (topology.host,)),
            "tunnel_target": f"127.0.0.1:{self.fakes.ports.tls}",
            "connect_proxy_port": self.fakes.ports.connect,
            "connect_proxy_sni": hosts.CONNECT_PROXY,
            "tunnel_routes": [
                [sni, f"outbound|{hosts.CONNECT_PORT}|{subset}|{hosts.CONNECT_PROXY}"]
                for subset, sni in zip(("google", "wikipedia"),
                                       topology.sni_hosts or (topology.host,), strict=False)],
            "ingress_app_cluster": f"outbound|8080||command-runner.{CLIENT_NS}.svc.cluster.local",
            "ingress_app_port": 0,
            "ingress_app_spiffe": MeshPki.spiffe(CLIENT_NS, APP_SA),
        }
        inbound_port = localproc.free_port() if topology.ingress_app else None
        if inbound_port is not None:
            gateway_values["ingress_app_port"] = inbound_port
        http_port = localproc.free_port() if topology.route_port else None
        tls_port = localproc.free_port() if topology.passthrough else None
        host = gateway_host(name)
        sidecar_values = {
            "flow": name, "text_format": ISTIO_TEXT_FORMAT, "address": "127.0.0.1",
            "client_ns": CLIENT_NS, "admin_port": localproc.free_port(),
            "log_path": str(directory / "sidecar.log"), "http_port": http_port,
            "tls_port": tls_port, "route_port": topology.route_port, "gateway_host": host,
            "gateway_address": address, "mtls_to_gateway": topology.mtls_to_gateway,
            "host": topology.host, "sni_hosts": list(topology.sni_hosts or (topology.host,)),
            "mtls_sni": topology.host, "gateway_spiffe": MeshPki.spiffe(GATEWAY_NS, GATEWAY_SA),
            "client_cert": str(self.mesh.client_cert), "client_key": str(self.mesh.client_key),
            "mesh_root": str(self.mesh.root), "internal_cidrs": [],
            "inbound_port": inbound_port, "app_port": self.fakes.httpbin_port,
            "app_cert": str(self.mesh.app_cert), "app_key": str(self.mesh.app_key),
        }
        proxies: dict[str, Proxy] = {}
        roles: tuple[tuple[Literal["gateway", "sidecar"], dict[str, object]], ...] = (
            ("gateway", gateway_values), ("sidecar", sidecar_values))
        for role, values in roles:
            config = directory / f"{role}.yaml"
            template = ("app-sidecar" if role == "sidecar" and topology.ingress_app
                        else role)
            config.write_text(env.get_template(f"{template}.yaml.j2").render(**values))
            argv = [str(ENVOY), "-c", str(config), "--base-id", str(random.randint(1, 2**30)),
                    "--disable-hot-restart", "--concurrency", "1", "-l", "warning",
                    "--file-flush-interval-msec", str(FLUSH_MS)]
            process = localproc.start(f"envoy-{role}-{name}", argv, directory / f"{role}.out",
                                      cwd=directory)
            self.stack.callback(process.stop)
            proxies[role] = Proxy(role, config, Path(str(values["log_path"])),
                                  int(str(values["admin_port"])), process)
        gateway, sidecar = proxies["gateway"], proxies["sidecar"]
        gateway.process.wait_for_port(gateway.admin_port, timeout=20)
        if topology.http_route_port:
            gateway.process.wait_for_port(8080, host=address, timeout=20)
        if topology.https_mode:
            gateway.process.wait_for_port(8443, host=address, timeout=20)
        for port in (sidecar.admin_port, http_port, tls_port, inbound_port):
            if port is not None:
                sidecar.process.wait_for_port(port, timeout=20)
        return Flow(name, topology, self.fakes, sidecar, gateway, http_port, tls_port, address)


@contextlib.contextmanager
def running_bed(workdir: Path, fakes: LocalFakes) -> Iterator[Bed]:
    with contextlib.ExitStack() as stack:
        yield Bed(workdir, fakes, make_mesh_pki(workdir / "mesh-pki"), stack)



def during(observed: verify.Observation,
           entries: Sequence[accesslog.AccessLogEntry]) -> list[accesslog.AccessLogEntry]:
    """The lines logged while this probe ran: each flow's proxies serve one probe at a time, and
    Envoy's START_TIME has millisecond precision."""
    first = observed.probe.started - dt.timedelta(milliseconds=2)
    return [e for e in entries if first <= e.start_time <= observed.probe.finished]


def request_id_matches(logged: str | None, sent: str) -> bool:
    """The harness's correlation before the marker: a logged x-request-id is the probe's,
    allowing for the UUID extension's trace nibble (index 14)."""
    if logged is None:
        return False
    if len(logged) == len(sent) == 36 and logged[8] == sent[8] == "-":
        return (logged[:14] + logged[15:]).lower() == (sent[:14] + sent[15:]).lower()
    return logged == sent
