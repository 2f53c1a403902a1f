"""The fake internet as Deployments in an existing cluster (``--existing-kubeconfig``), as data.

The objects live in their own namespace, labelled ``istio-injection: disabled``. There is
deliberately no Service: the mesh's sidecars know every Service's ClusterIP, so traffic to a
Service address would count as in-mesh traffic and pass REGISTRY_ONLY. The cluster DNS maps the
seed names to the pods' IPs instead, which the mesh does not know, exactly like the real internet.

What this changes on a shared cluster (the documented limit): one namespace
(``fake_namespace(run_id)``) is created and deleted, and CoreDNS's Corefile gets a marked block
(``egress_e2e.fakes.coredns``) for as long as the session runs. While it is there, *every* pod
in the cluster resolves the seed host names (httpbin.org, www.google.com, *.wikipedia.org, ...)
to the fake. A pod restart changes the pod IPs; the session does not survive that.

Order: apply ``web_objects``, wait for the web pod, read its IP (``pod_ip_argv``), then apply
``proxy_objects`` with that IP (seed 004 CONNECTs to the IP its client dialled), then edit the
Corefile with ``dns_entries``.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

from egress_e2e.core.labels import FAKE_INTERNET_PART_OF, FAKE_ROLE_LABEL, PART_OF_LABEL, RUN_LABEL
from egress_e2e.core.redact import secret_values_hidden
from egress_e2e.fakes import config
from egress_e2e.fakes.containers import (
    PROXY_BASE_ID,
    Role,
)
from egress_e2e.fakes.pki import Pki
from egress_e2e.infra.images import image
from egress_e2e.scenario import hosts

Obj = dict[str, Any]

WEB_NAME = "fake-web"
PROXY_NAME = "fake-connect-proxy"
PKI_SECRET = "fake-internet-pki"  # noqa: S105 - a Secret's name, not a password
WEB_CONFIG = "fake-web-config"
PROXY_CONFIG = "fake-connect-proxy-config"
# The fakes answer the internet's role: nothing of the mesh may run inside them.
NO_INJECTION = {"istio-injection": "disabled"}


def fake_namespace(run_id: str) -> str:
    return f"egress-e2e-fakes-{run_id}"


def _labels(run_id: str, role: Role | None = None) -> dict[str, str]:
    labels = {PART_OF_LABEL: FAKE_INTERNET_PART_OF, RUN_LABEL: run_id}
    if role:
        labels[FAKE_ROLE_LABEL] = role
    return labels


def namespace_object(run_id: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": fake_namespace(run_id), "labels": {**_labels(run_id), **NO_INJECTION}},
    }


def pki_secret(run_id: str, pki: Pki) -> Obj:
    """Server certificates, keys and the CA the fakes need (the client key stays out)."""
    files = (pki.ca_cert, pki.server_cert, pki.server_key, pki.untrusted_server_cert,
             pki.untrusted_server_key)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": PKI_SECRET, "namespace": fake_namespace(run_id),
                     "labels": _labels(run_id)},
        "type": "Opaque",
        "data": {path.name: base64.b64encode(path.read_bytes()).decode() for path in files},
    }


def redacted(objects: Sequence[Obj]) -> list[Obj]:
    """``objects`` safe to print or save as an artifact: Secret values replaced."""
    return [secret_values_hidden(obj) for obj in objects]


def _config_map(run_id: str, name: str, key: str, text: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": fake_namespace(run_id), "labels": _labels(run_id)},
        "data": {key: text},
    }


def _volumes(config_map: str, key: str) -> list[Obj]:
    return [
        {"name": "config", "configMap": {"name": config_map, "items": [{"key": key, "path": key}]}},
        {"name": "pki", "secret": {"secretName": PKI_SECRET, "defaultMode": 0o400}},
    ]


def _mounts(key: str) -> list[Obj]:
    # The config file by subPath: a nested mount inside a read-only ConfigMap volume would need
    # the runtime to create the "pki" directory in it.
    return [
        {"name": "config", "mountPath": str(config.MOUNTED_CONFIG_DIR / key), "subPath": key,
         "readOnly": True},
        {"name": "pki", "mountPath": str(config.MOUNTED_PKI_DIR), "readOnly": True},
    ]


def _deployment(run_id: str, name: str, role: Role, containers: list[Obj],
                volumes: list[Obj]) -> Obj:
    selector = {"app": name, RUN_LABEL: run_id}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": fake_namespace(run_id),
                     "labels": _labels(run_id, role)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {
                    "labels": {**selector, **_labels(run_id, role),
                               "sidecar.istio.io/inject": "false"},
                },
                "spec": {"containers": containers, "volumes": volumes,
                         "enableServiceLinks": False},
            },
        },
    }


def _tcp_probe(port: int) -> Obj:
    return {"tcpSocket": {"port": port}, "periodSeconds": 2, "failureThreshold": 30}


def web_objects(run_id: str, pki: Pki) -> list[Obj]:
    """Namespace, PKI Secret, nginx config and the nginx+httpbin Deployment (one pod: nginx
    reaches httpbin on loopback)."""
    nginx_conf = config.render_nginx(config.mounted_nginx(
        run_id, "in-cluster", f"127.0.0.1:{config.HTTPBIN_PORT}"))
    ports = (hosts.HTTP_PORT, hosts.TLS_PORT, hosts.MTLS_PORT, hosts.UNTRUSTED_PORT)
    nginx = {
        "name": "nginx",
        "image": image("nginx").ref,
        "command": config.nginx_argv(
            "nginx", str(config.MOUNTED_CONFIG_DIR / config.NGINX_CONF_NAME)),
        "ports": [{"containerPort": port} for port in ports],
        "volumeMounts": _mounts(config.NGINX_CONF_NAME),
        "readinessProbe": _tcp_probe(hosts.TLS_PORT),
    }
    httpbin = {
        "name": "httpbin",
        "image": image("httpbin").ref,
        "command": ["/bin/go-httpbin", "-port", str(config.HTTPBIN_PORT)],
        "ports": [{"containerPort": config.HTTPBIN_PORT}],
        "readinessProbe": _tcp_probe(config.HTTPBIN_PORT),
    }
    return [
        namespace_object(run_id),
        pki_secret(run_id, pki),
        _config_map(run_id, WEB_CONFIG, config.NGINX_CONF_NAME, nginx_conf),
        _deployment(run_id, WEB_NAME, "nginx", [nginx, httpbin],
                    _volumes(WEB_CONFIG, config.NGINX_CONF_NAME)),
    ]


def proxy_objects(run_id: str, web_address: str) -> list[Obj]:
    """The CONNECT proxy's config and Deployment. Its DNS is the cluster DNS, which maps every
    fake name (wildcards included) to the web fake once the Corefile is edited."""
    targets = [f"{web_address}:{port}" for port in config.CONNECT_PORTS]
    proxy_conf = config.render_proxy(config.mounted_proxy(
        run_id, "in-cluster", config.CONNECT_NAMES_WILDCARD, extra_targets=targets))
    envoy = {
        "name": "envoy",
        "image": image("envoy").ref,
        "command": config.proxy_argv(
            "envoy", str(config.MOUNTED_CONFIG_DIR / config.PROXY_CONF_NAME),
            base_id=PROXY_BASE_ID),
        # The image's entrypoint would drop to uid 101, which cannot read the 0400 key.
        "env": [{"name": "ENVOY_UID", "value": "0"}],
        "ports": [{"containerPort": hosts.CONNECT_PORT}],
        "volumeMounts": _mounts(config.PROXY_CONF_NAME),
        "readinessProbe": _tcp_probe(hosts.CONNECT_PORT),
    }
    return [
        _config_map(run_id, PROXY_CONFIG, config.PROXY_CONF_NAME, proxy_conf),
        _deployment(run_id, PROXY_NAME, "connect-proxy", [envoy],
                    _volumes(PROXY_CONFIG, config.PROXY_CONF_NAME)),
    ]


def pod_ip_argv(kubectl: str, kubeconfig: str, run_id: str, deployment: str) -> list[str]:
    return [kubectl, "--kubeconfig", kubeconfig, "-n", fake_namespace(run_id), "get", "pods",
            "-l", f"app={deployment},{RUN_LABEL}={run_id}",
            "-o", "jsonpath={.items[0].status.podIP}"]


def logs_argv(kubectl: str, kubeconfig: str, run_id: str, deployment: str,
              container: str) -> list[str]:
    return [kubectl, "--kubeconfig", kubeconfig, "-n", fake_namespace(run_id), "logs",
            f"deployment/{deployment}", "-c", container]
