"""Does the cluster's CNI enforce NetworkPolicy? Measured at run time, never assumed.

kindnet enforces NetworkPolicy since kind v0.24, yet a cluster can accept a NetworkPolicy object
and ignore it (istio.io's own doc test had to drop its check for that reason). So the run asks the
cluster: a throwaway namespace holds one curl pod without a sidecar; it first opens a TCP
connection to a CoreDNS pod's port 53 (the control: the path works), then a deny-all-egress
NetworkPolicy selects the pod and the same connection must time out.

What an attempt shows and what the attempts mean are pure functions (tested offline); ``detect``
drives them through the ``KubeApi`` protocol and decides nothing itself.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from egress_e2e.core.errors import ClusterError, WaitTimeout
from egress_e2e.core.timeouts import DEFAULTS
from egress_e2e.core.waits import eventually
from egress_e2e.infra.kube import ExecResult, KubeApi, PodInfo
from egress_e2e.infra.rollout import wait_pods_ready
from egress_e2e.scenario.model import Scenario
from egress_e2e.session import outside_pod

DETECTION_POD: Final = "netpol-detect"
PROBE_CONTAINER: Final = "curl"
POLICY_NAME: Final = "deny-all-egress"
# The target: a CoreDNS pod, found by the label every kind (and kubeadm) cluster gives it. TCP 53
# accepts connections; what it answers does not matter, only whether the handshake completes.
DNS_NAMESPACE: Final = "kube-system"
DNS_SELECTOR: Final = "k8s-app=kube-dns"
DNS_TCP_PORT: Final = 53

CONNECT_TIMEOUT_S: Final = 3.0
# After the policy is applied the CNI needs a moment to program it; blocked attempts must then
# hold this many times in a row (one lost SYN proves nothing).
BLOCKED_IN_A_ROW: Final = 2

# curl's --write-out line: time_connect is 0 unless the TCP handshake completed.
_MARKER: Final = "egress-e2e-netpol"
_WRITE_OUT: Final = f"\n{_MARKER} connect=%{{time_connect}} exit=%{{exitcode}}\n"
_REPORT: Final = re.compile(rf"^{_MARKER} connect=(?P<connect>[0-9.]+) exit=(?P<exit>\d+)$",
                            re.MULTILINE)


@dataclass(frozen=True)
class Attempt:
    """One connection attempt from the detection pod. ``connected`` is None when curl did not
    report (the exec itself failed), so the attempt says nothing either way."""

    target: str
    connected: bool | None
    curl_exit: int | None
    detail: str

    def describe(self) -> str:
        if self.connected is None:
            return f"no answer from curl for {self.target}: {self.detail}"
        state = "connected" if self.connected else "no connection"
        return f"{self.target}: {state} (curl exit {self.curl_exit})"


@dataclass(frozen=True)
class Verdict:
    """``enforced`` is None when the detection could not tell (the control connection failed)."""

    enforced: bool | None
    reason: str


def detection_namespace(run_id: str) -> str:
    """A namespace unique to the run, so two runs on one cluster never share a detection pod."""
    digest = hashlib.sha256(f"{run_id}/netpol".encode()).hexdigest()[:6]
    return f"egress-e2e-netpol-{digest}"


def detection_documents(namespace: str, image: str) -> tuple[dict[str, Any], ...]:
    """The namespace (no injection label) and the uninjected curl pod."""
    return outside_pod.documents(namespace, DETECTION_POD, "netpol-detect", image)


def deny_all_egress(namespace: str) -> dict[str, Any]:
    """Select the detection pod and allow no egress at all (an empty egress rule list)."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": POLICY_NAME, "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": {"app": DETECTION_POD}},
            "policyTypes": ["Egress"],
            "egress": [],
        },
    }


def connect_argv(ip: str, port: int = DNS_TCP_PORT,
                 timeout_s: float = CONNECT_TIMEOUT_S) -> tuple[str, ...]:
    """curl in the detection pod: only the TCP handshake matters; --max-time bounds the rest."""
    host = f"[{ip}]" if ":" in ip else ip
    return ("curl", "-sS", "-o", "/dev/null",
            "--connect-timeout", f"{timeout_s:g}", "--max-time", f"{timeout_s + 1:g}",
            "--write-out", _WRITE_OUT, f"http://{host}:{port}/")


def parse_attempt(target: str, result: ExecResult) -> Attempt:
    """Read curl's report. A completed handshake is a connection whatever came after it
    (CoreDNS answers an HTTP request with nothing, and curl then times out or fails)."""
    found = _REPORT.search(result.stdout)
    if found is None:
        detail = (result.stderr.strip() or result.stdout.strip() or "no output")[-300:]
        return Attempt(target, None, None, f"exit {result.exit_code}: {detail}")
    connected = float(found["connect"]) > 0
    return Attempt(target, connected, int(found["exit"]), result.stderr.strip()[-300:])


def control_problems(attempt: Attempt) -> list[str]:
    """Before any policy the connection must work, or blocking it later proves nothing."""
    if attempt.connected:
        return []
    return [f"control connection failed before any policy: {attempt.describe()}"]


def blocked_problems(attempt: Attempt) -> list[str]:
    """After the deny-all policy: what keeps the attempt from counting as blocked."""
    if attempt.connected is False:
        return []
    if attempt.connected is None:
        return [attempt.describe()]
    return [f"still connects under {POLICY_NAME}: {attempt.describe()}"]


def verdict_after_control(control: Attempt) -> Verdict | None:
    """The final verdict if the control already decides it (it failed), else None."""
    problems = control_problems(control)
    if problems:
        return Verdict(None, "could not tell whether the CNI enforces NetworkPolicy: "
                             + "; ".join(problems))
    return None


def verdict_after_policy(blocked: Attempt | None, gave_up: str | None) -> Verdict:
    """Enforced when attempts were blocked BLOCKED_IN_A_ROW times; otherwise not, with why."""
    if blocked is not None and gave_up is None:
        return Verdict(True, f"the CNI enforces NetworkPolicy: with {POLICY_NAME} applied, "
                             f"{blocked.describe()}")
    return Verdict(False, "the cluster's CNI does not enforce NetworkPolicy: "
                          f"{gave_up or 'no blocked attempt'}")


def skip_reason(scenario: Scenario, verdict: Verdict | None) -> str | None:
    """Why ``scenario`` cannot run on this cluster, or None. A scenario that needs NetworkPolicy
    runs only on a measured ``enforced`` verdict: no verdict is not a yes."""
    if not scenario.needs_network_policy:
        return None
    if verdict is None:
        return f"{scenario.id} needs NetworkPolicy enforcement, which was not measured"
    if verdict.enforced:
        return None
    return f"{scenario.id} needs NetworkPolicy enforcement: {verdict.reason}"


def pick_dns_target(pods: Sequence[PodInfo]) -> str:
    """The IP of a ready CoreDNS pod."""
    for pod in pods:
        if pod.ready and pod.ip:
            return pod.ip
    seen = ", ".join(f"{p.name} ready={p.ready} ip={p.ip}" for p in pods) or "none"
    raise ClusterError(f"NetworkPolicy detection: no ready pod for {DNS_SELECTOR} in "
                       f"{DNS_NAMESPACE} to connect to; found: {seen}")


def detect(api: KubeApi, *, run_id: str, image: str,
           ready_timeout: float = DEFAULTS.netpol_ready,
           enforce_within: float = DEFAULTS.netpol_enforce, interval: float = DEFAULTS.interval,
           target_port: int = DNS_TCP_PORT) -> Verdict:
    """Run the detection on the cluster behind ``api`` and always delete its namespace.
    ``target_port`` is CoreDNS's TCP port; offline tests point it at a local listener."""
    namespace = detection_namespace(run_id)
    try:
        api.apply(detection_documents(namespace, image))
        wait_pods_ready(api, namespace, f"app={DETECTION_POD}", ready_timeout, interval=interval,
                        what=f"NetworkPolicy detection pod {namespace}/{DETECTION_POD} ready")
        target_ip = pick_dns_target(api.pods(DNS_NAMESPACE, DNS_SELECTOR))

        def attempt() -> Attempt:
            result = api.exec(namespace, DETECTION_POD, PROBE_CONTAINER,
                              connect_argv(target_ip, target_port),
                              timeout=CONNECT_TIMEOUT_S + 10)
            return parse_attempt(f"{target_ip}:{target_port}", result)

        early = verdict_after_control(attempt())
        if early is not None:
            return early
        api.apply([deny_all_egress(namespace)])
        try:
            blocked = eventually(attempt, blocked_problems,
                                 what=f"connection from {namespace}/{DETECTION_POD} blocked",
                                 timeout=enforce_within, consecutive=BLOCKED_IN_A_ROW,
                                 interval=interval, describe=Attempt.describe)
        except WaitTimeout as exc:
            return verdict_after_policy(None, str(exc))
        return verdict_after_policy(blocked, None)
    finally:
        api.delete_namespace(namespace)
