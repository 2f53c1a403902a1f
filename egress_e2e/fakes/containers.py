"""The fake internet as containers on the Docker ``kind`` network (the e2e placement).

``web_specs`` and ``proxy_spec`` decide everything (images, commands, mounts, labels, network, host
entries) as data and is tested offline; ``start_containers`` is the thin part that hands those
specs to testcontainers, and ``reap`` removes every container of a run by label, which the
session runs at its end even after a failure or Ctrl-C; ``egress-e2e clean`` removes what a
killed session left (by label). Ryuk, testcontainers' reaper, is off: it is an unpinned image.

Bind mounts come from the run's private directory, so the harness must run on the Docker host
(as it must for kind anyway).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from egress_e2e.core.errors import EgressE2EError
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


@dataclass(frozen=True)
class Mount:
    source: Path          # on the Docker host
    target: str           # in the container
    mode: Literal["ro", "rw"] = "ro"


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    role: Role
    image: Image
    command: tuple[str, ...]
    mounts: tuple[Mount, ...]
    labels: Mapping[str, str]
    env: Mapping[str, str] = field(default_factory=dict)
    network: str = KIND_NETWORK
    # Docker --add-host entries: name -> IP written into the container's /etc/hosts.
    extra_hosts: Mapping[str, str] = field(default_factory=dict)

    def docker_kwargs(self) -> dict[str, Any]:
        """Everything testcontainers passes to ``containers.create`` beyond image and command.
        One dict because ``with_kwargs`` replaces earlier kwargs rather than merging them."""
        kwargs: dict[str, Any] = {"network": self.network, "labels": dict(self.labels)}
        if self.extra_hosts:
            kwargs["extra_hosts"] = dict(self.extra_hosts)
        return kwargs


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
        mounts=(),
        labels=labels(run_id, "httpbin"),
    )
    nginx = ContainerSpec(
        name=container_name(run_id, "nginx"),
        role="nginx",
        image=image("nginx"),
        command=tuple(config.nginx_argv(
            "nginx", str(config.MOUNTED_CONFIG_DIR / config.NGINX_CONF_NAME))),
        mounts=(Mount(nginx_conf, str(config.MOUNTED_CONFIG_DIR / config.NGINX_CONF_NAME)),
                *_pki_mounts(pki)),
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
        mounts=(Mount(proxy_conf, str(config.MOUNTED_CONFIG_DIR / config.PROXY_CONF_NAME)),
                *_pki_mounts(pki)),
        labels=labels(run_id, "connect-proxy"),
        # The image's entrypoint drops to uid 101 unless told otherwise; the mounted key is
        # 0600 and owned by the harness's user, so keep the uid the image starts with.
        env={"ENVOY_UID": "0"},
        extra_hosts=dict.fromkeys(config.CONNECT_NAMES, web_address),
    )


def _pki_mounts(pki: Pki) -> tuple[Mount, ...]:
    # Only what the fakes need: the CA (to verify clients) and server certs and keys. The client
    # key stays on the host.
    files = (pki.ca_cert, pki.server_cert, pki.server_key, pki.untrusted_server_cert,
             pki.untrusted_server_key)
    return tuple(Mount(path, str(config.MOUNTED_PKI_DIR / path.name)) for path in files)


def _container_stdout(containers: Mapping[Role, Any], role: Role) -> str:
    out, _err = containers[role].get_logs()
    text: str = out.decode(errors="replace")
    return text


@contextlib.contextmanager
def start_containers(run_dir: Path, run_id: str, pki: Pki) -> Iterator[AddressedFakes]:
    """Start httpbin, nginx and the proxy on the kind network; remove them all on exit."""
    from testcontainers.core.config import testcontainers_config
    from testcontainers.core.container import DockerContainer

    # The session reaps its containers by label (``reap``, also on Ctrl-C); Ryuk would be one
    # more image to pull, and an unpinned one.
    testcontainers_config.ryuk_disabled = True

    config_dir = run_dir / "fake-config"
    httpbin, nginx = web_specs(run_id, pki, write_nginx_config(config_dir, run_id))
    started: dict[Role, Any] = {}

    def launch(spec: ContainerSpec) -> str:
        container = DockerContainer(spec.image.ref).with_name(spec.name)
        container = container.with_command(list(spec.command)).with_envs(**spec.env)
        for mount in spec.mounts:
            container = container.with_volume_mapping(str(mount.source), mount.target,
                                                      mount.mode)
        container = container.with_kwargs(**spec.docker_kwargs())
        started[spec.role] = container.start()
        return _address(container, spec)

    try:
        launch(httpbin)
        web_address = launch(nginx)
        proxy_conf = write_proxy_config(config_dir, run_id, web_address)
        proxy_address = launch(proxy_spec(run_id, pki, proxy_conf, web_address))
        yield AddressedFakes(run_id, pki, web_address, proxy_address,
                             lambda which: _container_stdout(started, which))
    finally:
        reap(run_id)


def _address(container: Any, spec: ContainerSpec) -> str:
    wrapped = container.get_wrapped_container()
    wrapped.reload()
    networks = wrapped.attrs.get("NetworkSettings", {}).get("Networks", {})
    address = str(networks.get(spec.network, {}).get("IPAddress") or "")
    if not address:
        raise EgressE2EError(
            f"container {spec.name} has no address on network {spec.network!r}; "
            f"networks: {sorted(networks)}"
        )
    return address


def reap(run_id: str) -> list[str]:
    """Remove every container labelled with ``run_id``; return their names."""
    from testcontainers.core.docker_client import DockerClient

    client = DockerClient().client
    try:
        found = client.containers.list(all=True, filters={"label": reap_filter(run_id)})
        for container in found:
            container.remove(force=True, v=True)
        return [str(container.name) for container in found]
    finally:
        client.close()


def reap_filter(run_id: str) -> str:
    return f"{RUN_LABEL}={run_id}"

