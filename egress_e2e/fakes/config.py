"""Render the fake internet's config files from ``manifests/external/``.

The same two templates (nginx in front of httpbin, Envoy as the CONNECT proxy) serve every
placement; only the values differ: loopback and run-time ports for local processes, fixed ports
and mount paths for containers and pods. These functions are pure: values in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import jinja2

from egress_e2e.core.errors import ManifestError
from egress_e2e.core.paths import MANIFESTS_DIR
from egress_e2e.fakes import declared
from egress_e2e.fakes.pki import Pki
from egress_e2e.fakes.placement import Placement
from egress_e2e.scenario import hosts

TEMPLATE_DIR = MANIFESTS_DIR / "external"
NGINX_TEMPLATE = "nginx.conf.j2"
PROXY_TEMPLATE = "envoy-connect-proxy.yaml.j2"


# Where containers and pods see the fake's files (copied in, or ConfigMap/Secret volumes).
MOUNTED_CONFIG_DIR = PurePosixPath("/etc/fake-internet")
MOUNTED_PKI_DIR = MOUNTED_CONFIG_DIR / "pki"
NGINX_CONF_NAME = "nginx.conf"
PROXY_CONF_NAME = "envoy-connect-proxy.yaml"
# go-httpbin's default port; it shares the pod with nginx in-cluster, so it must not be 80.
HTTPBIN_PORT = 8080
# Names the CONNECT proxy may tunnel to: the fake's own names (not the proxy's), with the
# wildcard seed 003 relies on where the DNS covers it (the cluster DNS does, /etc/hosts cannot).
CONNECT_NAMES: tuple[str, ...] = tuple(h for h in hosts.ALL_HOSTS if h != hosts.CONNECT_PROXY)
CONNECT_NAMES_WILDCARD: tuple[str, ...] = (*CONNECT_NAMES, "*.wikipedia.org")
CONNECT_PORTS: tuple[int, ...] = (hosts.TLS_PORT, hosts.MTLS_PORT, hosts.UNTRUSTED_PORT)


@dataclass(frozen=True)
class Listen:
    """nginx ``listen`` arguments per fake port: ``"80"`` in a container, ``"127.0.0.1:41234"``
    for a local process."""

    http: str
    tls: str
    mtls: str
    untrusted: str


@dataclass(frozen=True)
class PkiFiles:
    """PKI paths as the fake process sees them (host paths locally, mount paths elsewhere)."""

    ca_cert: str
    server_cert: str
    server_key: str
    untrusted_server_cert: str
    untrusted_server_key: str

    @classmethod
    def local(cls, pki: Pki) -> PkiFiles:
        return cls(str(pki.ca_cert), str(pki.server_cert), str(pki.server_key),
                   str(pki.untrusted_server_cert), str(pki.untrusted_server_key))

    @classmethod
    def mounted(cls) -> PkiFiles:
        """Paths under MOUNTED_PKI_DIR; the file names are the ones ``pki.generate`` writes."""
        def at(name: str) -> str:
            return str(MOUNTED_PKI_DIR / name)
        return cls(at("ca.crt"), at("server.crt"), at("server.key"),
                   at("untrusted-server.crt"), at("untrusted-server.key"))


@dataclass(frozen=True)
class NginxSettings:
    run_id: str
    placement: Placement
    listen: Listen
    httpbin_address: str          # host:port nginx proxies to
    pki: PkiFiles
    access_log: str
    error_log: str
    pid_path: str
    temp_dir: str
    user: str | None = None       # only meaningful when the master runs as root
    # Scenario files' hosts, answered beside the seeds' (fakes/declared.py).
    declared: declared.DeclaredHosts = field(default_factory=declared.current)


@dataclass(frozen=True)
class ProxySettings:
    run_id: str
    placement: Placement
    listen_address: str
    listen_port: int
    pki: PkiFiles
    access_log: str
    connect_domains: tuple[str, ...]
    admin_port: int | None = None  # None: no admin interface


def connect_domains(names: Iterable[str] = CONNECT_NAMES, ports: Iterable[int] = CONNECT_PORTS,
                    extra_targets: Iterable[str] = ()) -> tuple[str, ...]:
    """The ``host:port`` authorities the proxy tunnels: each name on each fake TLS port, plus
    ``extra_targets`` (the web fake's address, since seed 004 CONNECTs to an IP). Every name
    must resolve to the fake where the proxy runs, or a tunnel could reach the real host."""
    port_list = tuple(ports)
    authorities = [f"{name}:{port}" for name in names for port in port_list]
    return tuple(dict.fromkeys([*authorities, *extra_targets]))


def mounted_nginx(run_id: str, placement: Placement, httpbin_address: str) -> NginxSettings:
    """nginx in a container or pod: fixed ports, logs on stdout/stderr, scratch under /tmp."""
    return NginxSettings(
        run_id=run_id,
        placement=placement,
        listen=Listen(str(hosts.HTTP_PORT), str(hosts.TLS_PORT), str(hosts.MTLS_PORT),
                      str(hosts.UNTRUSTED_PORT)),
        httpbin_address=httpbin_address,
        pki=PkiFiles.mounted(),
        access_log="/dev/stdout",
        error_log="stderr",
        pid_path="/tmp/nginx.pid",
        temp_dir="/tmp",
        user=None,
    )


def mounted_proxy(run_id: str, placement: Placement, names: Iterable[str],
                  extra_targets: Iterable[str] = ()) -> ProxySettings:
    return ProxySettings(
        run_id=run_id,
        placement=placement,
        listen_address="0.0.0.0",  # noqa: S104 - the proxy must be reachable from the cluster
        listen_port=hosts.CONNECT_PORT,
        pki=PkiFiles.mounted(),
        access_log="/dev/stdout",
        connect_domains=connect_domains(names, extra_targets=extra_targets),
        admin_port=None,
    )


def nginx_argv(nginx: str, conf: str, *, error_log: str = "stderr",
               prefix: str | None = None) -> list[str]:
    """nginx in the foreground. ``-e`` sends start-up errors (before the config is read) to
    ``error_log`` rather than the compiled-in path, which a non-root user cannot write."""
    argv = [nginx]
    if prefix:
        argv += ["-p", prefix]
    return [*argv, "-c", conf, "-e", error_log, "-g", "daemon off;"]


def proxy_argv(envoy: str, conf: str, *, base_id: int) -> list[str]:
    """Envoy for the CONNECT proxy. A distinct ``--base-id`` and no hot restart keep parallel
    Envoys from fighting over shared memory; a short flush interval makes the access log show a
    tunnel within a moment of its end (the default is 10 s)."""
    return [envoy, "-c", conf, "--base-id", str(base_id), "--disable-hot-restart",
            "--concurrency", "1", "--log-level", "warn", "--file-flush-interval-msec", "200"]


def render_nginx(settings: NginxSettings) -> str:
    return _render(NGINX_TEMPLATE, settings, listen=settings.listen, pki=settings.pki)


def render_proxy(settings: ProxySettings) -> str:
    return _render(PROXY_TEMPLATE, settings, pki=settings.pki)


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,  # noqa: S701 - config files, not HTML
    )


def _render(template: str, settings: NginxSettings | ProxySettings, **extra: object) -> str:
    values: dict[str, object] = {
        name: getattr(settings, name) for name in settings.__dataclass_fields__
    }
    values.update(extra)
    values["hosts"] = hosts
    try:
        return _environment().get_template(template).render(values)
    except jinja2.TemplateError as exc:
        raise ManifestError(
            f"template {TEMPLATE_DIR / template} did not render: {exc}"
        ) from exc
