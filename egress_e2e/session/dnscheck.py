"""Does every CoreDNS replica send the seeds' host names to the fake internet?

A Corefile edit reaches each replica on its own (the kubelet syncs the ConfigMap, then that
replica's ``reload`` fires: a minute or more, and kind runs two), so a check through the Service
can pass while one replica still answers from the old Corefile, and the scenarios that ask it
resolve the seeds' names to the real internet. So the session restarts the CoreDNS Deployment
after the edit (``rollout restart``: every new pod reads the edited Corefile when it starts) and
waits for the rollout to finish (no old replica left); only then does it ask, from a pod
outside the mesh, before any scenario runs:

1. whether the fakes answer by address (no DNS involved): a fake that is not running or not
   reachable from a pod is one line naming it, with its log tail, not a DNS timeout;
2. whether each fake name resolves to its fake, twice in a row.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from egress_e2e.core.errors import FakeInternetError, WaitTimeout
from egress_e2e.core.waits import eventually
from egress_e2e.fakes import coredns
from egress_e2e.infra.kube import KubeApi
from egress_e2e.infra.rollout import wait_pods_ready, wait_rollout
from egress_e2e.scenario import hosts
from egress_e2e.session import outside_pod

LOOKUP_POD: Final = "dns-check"
# How long the fakes may take to answer by address once their containers run (a pod's first
# packets to the kind network, an Envoy still loading its listener).
REACH_TIMEOUT: Final = 60.0


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


def reach_argv(target: Target, timeout_s: float = 5.0) -> tuple[str, ...]:
    """The same request with the name pinned to the fake's address (``--resolve``): it asks
    whether the fake answers from a pod, whatever the cluster DNS says yet."""
    parts = urlsplit(target.url)
    pin = f"{parts.hostname}:{parts.port}:{target.expected_ip}"
    return ("curl", "-sk", "-o", "/dev/null", "--max-time", f"{timeout_s:g}",
            "--resolve", pin, "--write-out", "%{remote_ip} %{http_code}", target.url)


def reach_problems(answers: Mapping[str, str], wanted: Sequence[Target]) -> list[str]:
    """A fake answers when an HTTP status (any) came back from its own address; a connection
    that opened and then got nothing (or a refused one) is no answer."""
    found = []
    for t in wanted:
        address, _, code = (answers.get(t.host) or "").partition(" ")
        if address != t.expected_ip or code in ("", "000"):
            got = f"status {code} from {address}" if address else "no connection"
            found.append(f"{t.host}: no HTTP answer at {t.expected_ip} ({got})")
    return found


def restart_coredns(api: KubeApi, timeout: float, *, restarted_at: str | None = None) -> bool:
    """``rollout restart`` the CoreDNS Deployment and wait until no replica from before the
    Corefile edit is left; False (nothing waited for) when the cluster has no such Deployment
    (the DNS check below still decides)."""
    stamp = restarted_at or datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    namespace, name = coredns.COREDNS_NAMESPACE, coredns.COREDNS_DEPLOYMENT
    if not api.restart_deployment(namespace, name, stamp):
        return False
    wait_rollout(api, namespace, name, timeout)
    return True


def problems(answers: Mapping[str, str], wanted: Sequence[Target]) -> list[str]:
    return [f"{t.host}: expected {t.expected_ip}, got {answers.get(t.host) or 'no connection'}"
            for t in wanted if answers.get(t.host) != t.expected_ip]


def wait_for_fake_dns(api: KubeApi, run_id: str, entries: Mapping[str, str], image: str,
                      timeout: float, *, reach_timeout: float = REACH_TIMEOUT,
                      diagnose: Callable[[], str] | None = None) -> None:
    """From a throwaway pod: first every fake answers by address, then every target resolves
    to its fake (twice in a row); always delete the pod's namespace. ``diagnose`` says what the
    fakes are doing (their log tails) when they do not answer."""
    namespace = namespace_for(run_id)
    wanted = targets(entries)
    try:
        api.apply(outside_pod.documents(namespace, LOOKUP_POD, "dns-check", image))
        wait_pods_ready(api, namespace, f"app={LOOKUP_POD}", timeout)

        def ask(argv: Callable[[Target], tuple[str, ...]]) -> dict[str, str]:
            return {t.host: api.exec(namespace, LOOKUP_POD, outside_pod.CONTAINER, argv(t),
                                     timeout=15.0).stdout.strip() for t in wanted}

        try:
            eventually(lambda: ask(reach_argv), lambda answers: reach_problems(answers, wanted),
                       what="the fake internet answers pods by address",
                       timeout=min(reach_timeout, timeout), consecutive=1, interval=2.0)
        except WaitTimeout as exc:
            detail = diagnose() if diagnose is not None else ""
            raise FakeInternetError(
                f"the fake internet does not answer from a pod: {exc}"
                + (f"; {detail}" if detail else "")) from exc
        eventually(lambda: ask(lookup_argv), lambda answers: problems(answers, wanted),
                   what="cluster DNS answers the fake host names", timeout=timeout,
                   consecutive=2, interval=2.0)
    finally:
        api.delete_namespace(namespace)
