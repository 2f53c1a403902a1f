"""The fake internet as containers on the Docker ``kind`` network (the e2e placement).

``web_specs`` and ``proxy_spec`` decide everything (images, commands, files, labels, network,
host entries) as data and is tested offline; ``start_containers`` is the thin part that hands
those specs to the Docker API (docker-py, on the engine testcontainers resolves), and ``reap``
removes every container of a run by label, which the session runs at its end even after a
failure or Ctrl-C; ``egress-e2e clean`` removes what a killed session left (by label).

The configs and keys are copied into each container through the API (one tar archive,
``put_archive``, on the created container before it starts), never bind-mounted: Docker Desktop,
Colima/Lima, snap Docker and SELinux hosts cannot see the host's temp directory, and Docker
would mount an empty directory where nginx expects its config. Each container must then be
running a moment after its start, with an address on the network; otherwise, and on any Docker
error (a registry's 429, a missing network, a name conflict), the session stops with one
``FakeInternetError`` line carrying the container's log tail.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from egress_e2e.core.errors import EgressE2EError, FakeInternetError, clip, tail_lines
from egress_e2e.core.labels import FAKE_ROLE_LABEL, HARNESS_LABEL, HARNESS_LABEL_VALUE, RUN_LABEL
from egress_e2e.fakes import config
from egress_e2e.fakes.pki import Pki
from egress_e2e.fakes.placement import AddressedFakes
from egress_e2e.infra.images import Image, image

KIND_NETWORK = "kind"
PROXY_BASE_ID = 7  # alone in its container: any id works, a fixed one keeps argv stable

# The images (go-httpbin: multi-arch, what Istio's samples use; its /headers gives lists of
# values, which egress_e2e.evidence.echo reads) are pinned by digest in versions.toml.
Role = Literal["httpbin", "nginx", "connect-proxy"]


# How long a started container must stay running before it counts as started (nginx and Envoy
# exit within a moment on a bad or missing config), and how long to wait for it in all.
SETTLE_SECONDS = 1.0
START_TIMEOUT = 30.0
LOG_TAIL_LINES = 20
PRIVATE_MODE = 0o600   # keys
PUBLIC_MODE = 0o644    # configs and certificates


@dataclass(frozen=True)
class CopiedFile:
    """A file copied into the container before it starts."""

    source: Path          # read on the harness's machine
    target: str           # absolute path in the container
    mode: int = PUBLIC_MODE


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    role: Role
    image: Image
    command: tuple[str, ...]
    files: tuple[CopiedFile, ...]
    labels: Mapping[str, str]
    env: Mapping[str, str] = field(default_factory=dict)
    network: str = KIND_NETWORK
    # Docker --add-host entries: name -> IP written into the container's /etc/hosts.
    extra_hosts: Mapping[str, str] = field(default_factory=dict)

    def docker_kwargs(self) -> dict[str, Any]:
        """Everything docker-py's ``containers.create`` gets beyond image and command."""
        kwargs: dict[str, Any] = {"name": self.name, "network": self.network,
                                  "labels": dict(self.labels), "detach": True}
        if self.env:
            kwargs["environment"] = dict(self.env)
        if self.extra_hosts:
            kwargs["extra_hosts"] = dict(self.extra_hosts)
        return kwargs


def archive(files: Sequence[CopiedFile]) -> bytes:
    """One tar for ``put_archive(path="/")``: each file with its mode, owned by root, with an
    entry (0755) for every directory above it so the engine creates them as they should be."""
    buf = io.BytesIO()
    now = int(time.time())
    dirs: dict[str, None] = {}
    for copied in files:
        for parent in reversed(PurePosixPath(copied.target).parents):
            if str(parent) != "/":
                dirs[str(parent).lstrip("/")] = None
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, now
            tar.addfile(info)
        for copied in files:
            data = copied.source.read_bytes()
            info = tarfile.TarInfo(copied.target.lstrip("/"))
            info.size, info.mode, info.mtime = len(data), copied.mode, now
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def container_name(run_id: str, role: Role) -> str:
    return f"egress-e2e-{role}-{run_id}"


def labels(run_id: str, role: Role) -> dict[str, str]:
    # HARNESS_LABEL lets `egress-e2e clean` find leftovers of a session that was killed.
    return {HARNESS_LABEL: HARNESS_LABEL_VALUE, RUN_LABEL: run_id, FAKE_ROLE_LABEL: role}


def write_nginx_config(config_dir: Path, run_id: str) -> Path:
    """Render nginx's config for the container placement into ``config_dir``."""
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / config.NGINX_CONF_NAME
    path.write_text(config.render_nginx(config.mounted_nginx(
        run_id, "containers", f"{container_name(run_id, 'httpbin')}:{config.HTTPBIN_PORT}")))
    return path


def write_proxy_config(config_dir: Path, run_id: str, web_address: str) -> Path:
    """Render the proxy's config once nginx's address is known: seed 004's gateway CONNECTs to
    the IP its client dialled, which the cluster DNS made the web fake's."""
    config_dir.mkdir(parents=True, exist_ok=True)
    path = config_dir / config.PROXY_CONF_NAME
    targets = [f"{web_address}:{port}" for port in config.CONNECT_PORTS]
    # Only exact names: the container resolves them through /etc/hosts (see proxy_spec), which
    # has no wildcards.
    path.write_text(config.render_proxy(config.mounted_proxy(
        run_id, "containers", config.CONNECT_NAMES, extra_targets=targets)))
    return path


def web_specs(run_id: str, pki: Pki, nginx_conf: Path) -> tuple[ContainerSpec, ContainerSpec]:
    """httpbin, then nginx in front of it (nginx resolves httpbin's name when it starts, so
    httpbin must already run: start them in this order)."""
    httpbin = ContainerSpec(
        name=container_name(run_id, "httpbin"),
        role="httpbin",
        image=image("httpbin"),
        command=("/bin/go-httpbin", "-port", str(config.HTTPBIN_PORT)),
        files=(),
        labels=labels(run_id, "httpbin"),
    )
    nginx = ContainerSpec(
        name=container_name(run_id, "nginx"),
        role="nginx",
        image=image("nginx"),
        command=tuple(config.nginx_argv(
            "nginx", str(config.MOUNTED_CONFIG_DIR / config.NGINX_CONF_NAME))),
        files=(CopiedFile(nginx_conf, str(config.MOUNTED_CONFIG_DIR / config.NGINX_CONF_NAME)),
               *_pki_files(pki)),
        labels=labels(run_id, "nginx"),
    )
    return httpbin, nginx


def proxy_spec(run_id: str, pki: Pki, proxy_conf: Path, web_address: str) -> ContainerSpec:
    """The CONNECT proxy. Its /etc/hosts maps every fake name to nginx's address, so tunnels to
    a seed host name end at the fake, never on the real internet."""
    return ContainerSpec(
        name=container_name(run_id, "connect-proxy"),
        role="connect-proxy",
        image=image("envoy"),
        command=tuple(config.proxy_argv(
            "envoy", str(config.MOUNTED_CONFIG_DIR / config.PROXY_CONF_NAME),
            base_id=PROXY_BASE_ID)),
        files=(CopiedFile(proxy_conf, str(config.MOUNTED_CONFIG_DIR / config.PROXY_CONF_NAME)),
               *_pki_files(pki)),
        labels=labels(run_id, "connect-proxy"),
        # The image's entrypoint drops to uid 101 unless told otherwise; the copied key is 0600
        # and owned by root, so keep the uid the image starts with.
        env={"ENVOY_UID": "0"},
        extra_hosts=dict.fromkeys(config.CONNECT_NAMES, web_address),
    )


def _pki_files(pki: Pki) -> tuple[CopiedFile, ...]:
    # Only what the fakes need: the CA (to verify clients) and server certs and keys (0600).
    # The client keys stay on the host.
    certs = (pki.ca_cert, pki.server_cert, pki.untrusted_server_cert)
    keys = (pki.server_key, pki.untrusted_server_key)
    return (*(CopiedFile(path, str(config.MOUNTED_PKI_DIR / path.name)) for path in certs),
            *(CopiedFile(path, str(config.MOUNTED_PKI_DIR / path.name), PRIVATE_MODE)
              for path in keys))


def _container_logs(containers: Mapping[Role, Any], role: Role) -> str:
    # Both streams, as ``docker logs`` gives them to the workers: nginx and Envoy log to either.
    raw: bytes = containers[role].logs(stdout=True, stderr=True)
    return raw.decode(errors="replace")


def _docker_client() -> Any:
    """docker-py's client on the engine testcontainers (and so kind and the CLI) resolves."""
    from testcontainers.core.docker_client import DockerClient

    return DockerClient().client


@contextlib.contextmanager
def start_containers(run_dir: Path, run_id: str, pki: Pki,
                     *, start_timeout: float = START_TIMEOUT) -> Iterator[AddressedFakes]:
    """Start httpbin, nginx and the proxy on the kind network; remove them all on exit."""
    config_dir = run_dir / "fake-config"
    httpbin, nginx = web_specs(run_id, pki, write_nginx_config(config_dir, run_id))
    started: dict[Role, Any] = {}
    try:
        client = _docker_call("fake internet", "connect to Docker", _docker_client)
        try:
            started["httpbin"] = launch(client, httpbin, start_timeout)
            started["nginx"] = launch(client, nginx, start_timeout)
            web_address = address(started["nginx"], nginx)
            proxy_conf = write_proxy_config(config_dir, run_id, web_address)
            proxy = proxy_spec(run_id, pki, proxy_conf, web_address)
            started["connect-proxy"] = launch(client, proxy, start_timeout)
            proxy_address = address(started["connect-proxy"], proxy)
            yield AddressedFakes(run_id, pki, web_address, proxy_address,
                                 lambda which: _container_logs(started, which))
        finally:
            client.close()
    finally:
        reap_quietly(run_id)


def launch(client: Any, spec: ContainerSpec, start_timeout: float = START_TIMEOUT) -> Any:
    """Pull if missing, create, copy the files in, start, and wait until it stays running."""
    import docker.errors

    def pull_if_missing() -> None:
        try:
            client.images.get(spec.image.ref)
        except docker.errors.ImageNotFound:
            client.images.pull(spec.image.ref)

    _docker_call(spec, f"pull {spec.image.ref}", pull_if_missing)
    container = _docker_call(spec, "create the container", lambda: client.containers.create(
        spec.image.ref, command=list(spec.command), **spec.docker_kwargs()))
    if spec.files:
        copied = _docker_call(spec, "copy its files in",
                              lambda: container.put_archive("/", archive(spec.files)))
        if not copied:
            raise FakeInternetError(f"fake {spec.role}: the engine refused its files")
    _docker_call(spec, "start the container", container.start)
    wait_running(container, spec, start_timeout)
    return container


def wait_running(container: Any, spec: ContainerSpec, timeout: float = START_TIMEOUT,
                 settle: float = SETTLE_SECONDS) -> None:
    """Until the container has been running for ``settle`` seconds; a container that exits
    (a config it cannot read, a port it cannot bind) is one line with its log tail."""
    deadline = time.monotonic() + timeout
    running_since: float | None = None
    while True:
        _docker_call(spec, "inspect the container", container.reload)
        state = container.attrs.get("State") or {}
        status = str(state.get("Status") or container.status)
        now = time.monotonic()
        if status == "running":
            running_since = running_since or now
            if now - running_since >= settle:
                return
        elif status in ("exited", "dead"):
            raise FakeInternetError(
                f"fake {spec.role}: container {spec.name} {status} (exit code "
                f"{state.get('ExitCode')}); log tail: {log_tail(container)}")
        if now >= deadline:
            raise FakeInternetError(
                f"fake {spec.role}: container {spec.name} is {status}, not running after "
                f"{timeout:g} s; log tail: {log_tail(container)}")
        time.sleep(0.2)


def log_tail(container: Any, lines: int = LOG_TAIL_LINES) -> str:
    """The container's last log lines (stdout and stderr), on one line; never raises."""
    try:
        raw: bytes = container.logs(stdout=True, stderr=True, tail=lines)
    except Exception as exc:  # the engine went away too: say so instead
        return f"(no logs: {clip(str(exc))})"
    return tail_lines(raw.decode(errors="replace"), lines=lines, limit=1500) or "(empty)"


def _docker_call(who: ContainerSpec | str, what: str, call: Any) -> Any:
    """One Docker API call; docker-py's errors (``APIError`` for a registry's 429, a missing
    network or a name conflict, ``ImageNotFound``, a dead socket) become one line."""
    import docker.errors
    import requests

    try:
        return call()
    except EgressE2EError:
        raise
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        name = f"fake {who.role}" if isinstance(who, ContainerSpec) else who
        raise FakeInternetError(f"{name}: {what} failed: {_docker_reason(exc)}") from exc


def _docker_reason(exc: Exception) -> str:
    explanation = getattr(exc, "explanation", None)
    status = getattr(getattr(exc, "response", None), "status_code", None)
    text = str(explanation) if explanation else str(exc)
    return clip(f"{text} (HTTP {status})" if status else text, 500)


def address(container: Any, spec: ContainerSpec) -> str:
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    found = str((networks.get(spec.network) or {}).get("IPAddress") or "")
    if not found:
        raise FakeInternetError(
            f"fake {spec.role}: container {spec.name} has no address on network "
            f"{spec.network!r}; networks: {sorted(networks)}; log tail: {log_tail(container)}")
    return found


def reap_quietly(run_id: str) -> list[str]:
    """``reap`` for the session's ``finally``: a failure here must not hide the error that
    ended the session (``egress-e2e clean`` removes what is left, by label)."""
    try:
        return reap(run_id)
    except Exception:
        return []


def reap(run_id: str) -> list[str]:
    """Remove every container labelled with ``run_id``; return their names."""
    client = _docker_client()
    try:
        found = client.containers.list(all=True, filters={"label": reap_filter(run_id)})
        for container in found:
            container.remove(force=True, v=True)
        return [str(container.name) for container in found]
    finally:
        client.close()


def reap_filter(run_id: str) -> str:
    return f"{RUN_LABEL}={run_id}"

