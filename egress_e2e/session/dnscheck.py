"""Does the cluster's DNS send the seeds' host names to the fake internet yet?

Asked from a pod outside the mesh before any scenario runs: a Corefile edit takes effect only
after the kubelet syncs the ConfigMap and CoreDNS reloads it (a minute or more), and a proxy
that resolves a name too early keeps that answer until its next refresh. The same request
also proves the path from a pod to the fakes on the ``kind`` network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from egress_e2e.core.waits import eventually
from egress_e2e.infra.kube import KubeApi
from egress_e2e.infra.rollout import wait_pods_ready
from egress_e2e.scenario import hosts
from egress_e2e.session import outside_pod

LOOKUP_POD: Final = "dns-check"


@dataclass(frozen=True)
class Target:
    host: str
    url: str
    expected_ip: str


def namespace_for(run_id: str) -> str:
    return f"egress-e2e-dns-{run_id}"


def targets(entries: Mapping[str, str]) -> tuple[Target, ...]:
    """One name of each kind the Corefile answers: a plain host, a name only the wildcard
    zone covers, and the CONNECT proxy's own name (another address)."""
    wanted = (
        (hosts.HTTPBIN, f"http://{hosts.HTTPBIN}:{hosts.HTTP_PORT}/"),
        (hosts.WIKIPEDIA_EN, f"https://{hosts.WIKIPEDIA_EN}:{hosts.TLS_PORT}/"),
        (hosts.CONNECT_PROXY, f"https://{hosts.CONNECT_PROXY}:{hosts.CONNECT_PORT}/"),
    )
    return tuple(Target(host, url, entries[host]) for host, url in wanted if host in entries)


def lookup_argv(target: Target, timeout_s: float = 5.0) -> tuple[str, ...]:
    """curl prints the address it connected to; -k because only the address matters here."""
    return ("curl", "-sk", "-o", "/dev/null", "--max-time", f"{timeout_s:g}",
            "--write-out", "%{remote_ip}", target.url)


def problems(answers: Mapping[str, str], wanted: Sequence[Target]) -> list[str]:
    return [f"{t.host}: expected {t.expected_ip}, got {answers.get(t.host) or 'no connection'}"
            for t in wanted if answers.get(t.host) != t.expected_ip]


def wait_for_fake_dns(api: KubeApi, run_id: str, entries: Mapping[str, str], image: str,
                      timeout: float) -> None:
    """Poll from a throwaway pod until every target resolves to its fake (twice in a row), and
    always delete the pod's namespace."""
    namespace = namespace_for(run_id)
    wanted = targets(entries)
    try:
        api.apply(outside_pod.documents(namespace, LOOKUP_POD, "dns-check", image))
        wait_pods_ready(api, namespace, f"app={LOOKUP_POD}", timeout)

        def ask() -> dict[str, str]:
            return {t.host: api.exec(namespace, LOOKUP_POD, outside_pod.CONTAINER, lookup_argv(t),
                                     timeout=15.0).stdout.strip() for t in wanted}

        eventually(ask, lambda answers: problems(answers, wanted),
                   what="cluster DNS answers the fake host names", timeout=timeout,
                   consecutive=2, interval=2.0)
    finally:
        api.delete_namespace(namespace)
