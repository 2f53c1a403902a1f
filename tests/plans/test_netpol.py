"""NetworkPolicy enforcement detection: the detection pod's documents, what a real curl attempt
reports,
the verdicts, and the whole ``detect`` flow against a recording cluster whose exec runs the
detection curl here, on loopback, against a real listener (closed to play an enforcing CNI)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.core import proc
from egress_e2e.core.errors import ClusterError, WaitTimeout
from egress_e2e.core.labels import is_dns_label
from egress_e2e.core.localproc import free_port
from egress_e2e.infra.kube import ExecResult, PodInfo
from egress_e2e.session import netpol


class Listener:
    """A loopback TCP server that accepts and closes at once (a completed handshake)."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            conn.close()

    def close(self) -> None:
        # shutdown wakes the thread blocked in accept(); close alone would leave it listening.
        with contextlib.suppress(OSError):  # already shut
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._thread.join(timeout=5)


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


def _run_here(argv: Sequence[str], timeout: float) -> ExecResult:
    done = proc.run(argv, timeout=timeout, check=False)
    return ExecResult(done.stdout, done.stderr, done.returncode)


# --- documents ----------------------------------------------------------------------------------


def test_detection_pod_has_no_sidecar_and_the_policy_selects_it(kit: type) -> None:
    namespace = netpol.detection_namespace("run-1")
    assert namespace == netpol.detection_namespace("run-1") != netpol.detection_namespace("run-2")
    assert is_dns_label(namespace)
    ns_doc, pod = netpol.detection_documents(namespace, "curlimages/curl:8.11.1")
    assert "istio-injection" not in ns_doc["metadata"]["labels"]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    assert pod["metadata"]["namespace"] == namespace
    policy = netpol.deny_all_egress(namespace)
    assert policy["metadata"]["namespace"] == namespace
    assert policy["spec"]["policyTypes"] == ["Egress"] and policy["spec"]["egress"] == []
    assert kit.selects(policy["spec"]["podSelector"], pod["metadata"]["labels"])


def test_detection_documents_lint_clean() -> None:
    from egress_e2e.rendering.lint import lint_document

    namespace = netpol.detection_namespace("run-1")
    docs = [*netpol.detection_documents(namespace, "curlimages/curl:8.11.1"),
            netpol.deny_all_egress(namespace)]
    for index, doc in enumerate(docs, start=1):
        assert not lint_document(doc, "netpol", index)


def test_connect_argv_brackets_ipv6() -> None:
    assert netpol.connect_argv("fd00::10", 53)[-1] == "http://[fd00::10]:53/"
    assert netpol.connect_argv("10.244.0.3")[-1] == "http://10.244.0.3:53/"


# --- one attempt, with the real curl --------------------------------------------------------------


def test_a_completed_handshake_is_a_connection(listener: Listener) -> None:
    argv = netpol.connect_argv("127.0.0.1", listener.port, timeout_s=2)
    attempt = netpol.parse_attempt("local", _run_here(argv, timeout=10))
    assert attempt.connected is True, attempt
    # The server closed without a reply (FIN: 52, or RST: 56): still a connection.
    assert attempt.curl_exit in (52, 56)


def test_a_refused_connection_is_no_connection() -> None:
    argv = netpol.connect_argv("127.0.0.1", free_port(), timeout_s=2)
    attempt = netpol.parse_attempt("local", _run_here(argv, timeout=10))
    assert attempt.connected is False, attempt
    assert attempt.curl_exit == 7


def test_an_exec_without_curls_report_says_nothing() -> None:
    attempt = netpol.parse_attempt("10.0.0.1:53", ExecResult("", "error: pod not found", 1))
    assert attempt.connected is None
    assert "pod not found" in attempt.describe()
    assert netpol.blocked_problems(attempt)  # not evidence of blocking either


# --- verdicts and skips -----------------------------------------------------------------------


def test_verdicts() -> None:
    up = netpol.Attempt("t", True, 52, "")
    down = netpol.Attempt("t", False, 28, "timed out")
    assert netpol.verdict_after_control(up) is None
    unknown = netpol.verdict_after_control(down)
    assert unknown is not None and unknown.enforced is None
    assert "control connection failed" in unknown.reason
    assert netpol.verdict_after_policy(down, None).enforced is True
    refused = netpol.verdict_after_policy(None, "still connects")
    assert refused.enforced is False and "does not enforce" in refused.reason


def test_skip_reason_runs_only_on_a_measured_yes() -> None:
    needs = catalog.by_id("networkpolicy-bypass-blocked")
    other = catalog.by_id("wildcard-passthrough")
    yes = netpol.Verdict(True, "enforced")
    no = netpol.Verdict(False, "the cluster's CNI does not enforce NetworkPolicy: x")
    assert netpol.skip_reason(needs, yes) is None
    assert netpol.skip_reason(other, no) is None
    reason = netpol.skip_reason(needs, no)
    assert reason is not None and "does not enforce NetworkPolicy" in reason
    assert "not measured" in str(netpol.skip_reason(needs, None))


# --- the whole flow against a recording cluster ---------------------------------------------


@dataclass
class RecordingCluster:
    """KubeApi for detect(): records what it is sent; exec runs the argv here. Applying a
    NetworkPolicy closes the listener when ``enforces`` (what a dropping CNI looks like from the
    pod is no connection); otherwise the policy changes nothing."""

    listener: Listener
    enforces: bool
    ready_after: int = 2
    applied: list[dict[str, Any]] = field(default_factory=list)
    deleted_namespaces: list[str] = field(default_factory=list)
    execs: list[tuple[str, ...]] = field(default_factory=list)
    _polls: int = 0

    def apply(self, docs: Sequence[dict[str, Any]]) -> None:
        self.applied.extend(docs)
        if self.enforces and any(d["kind"] == "NetworkPolicy" for d in docs):
            self.listener.close()

    def delete_namespace(self, name: str) -> None:
        self.deleted_namespaces.append(name)

    def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        if namespace == netpol.DNS_NAMESPACE:
            assert selector == netpol.DNS_SELECTOR
            return [PodInfo("coredns-1", namespace, "Running", True, ("coredns",), (),
                            ip="127.0.0.1")]
        self._polls += 1
        ready = self._polls >= self.ready_after
        return [PodInfo(netpol.DETECTION_POD, namespace, "Running" if ready else "Pending", ready,
                        (netpol.PROBE_CONTAINER,), ())]

    def exec(self, namespace: str, pod: str, container: str, argv: Sequence[str],
             timeout: float) -> ExecResult:
        assert (pod, container) == (netpol.DETECTION_POD, netpol.PROBE_CONTAINER)
        self.execs.append(tuple(argv))
        return _run_here(argv, timeout)


def _detect(cluster: RecordingCluster, **kwargs: Any) -> netpol.Verdict:
    return netpol.detect(cluster, run_id="run-7", image="curlimages/curl:8.11.1",  # type: ignore[arg-type]
                         interval=0.1, target_port=cluster.listener.port, **kwargs)


def test_detect_enforcing_cni(listener: Listener) -> None:
    cluster = RecordingCluster(listener, enforces=True)
    verdict = _detect(cluster, enforce_within=10)
    assert verdict.enforced is True, verdict.reason
    kinds = [doc["kind"] for doc in cluster.applied]
    assert kinds == ["Namespace", "Pod", "NetworkPolicy"]
    # Control, then the policy, then blocked attempts twice in a row.
    assert len(cluster.execs) == 1 + netpol.BLOCKED_IN_A_ROW
    assert cluster.deleted_namespaces == [netpol.detection_namespace("run-7")]


def test_detect_cni_that_ignores_the_policy(listener: Listener) -> None:
    cluster = RecordingCluster(listener, enforces=False)
    verdict = _detect(cluster, enforce_within=1.5)
    assert verdict.enforced is False
    assert "does not enforce NetworkPolicy" in verdict.reason
    assert "still connects" in verdict.reason
    assert cluster.deleted_namespaces == [netpol.detection_namespace("run-7")]


def test_detect_cannot_tell_when_the_control_fails(listener: Listener) -> None:
    listener.close()  # nothing answers even before any policy
    cluster = RecordingCluster(listener, enforces=True)
    verdict = _detect(cluster)
    assert verdict.enforced is None and "control connection failed" in verdict.reason
    assert [doc["kind"] for doc in cluster.applied] == ["Namespace", "Pod"]
    assert cluster.deleted_namespaces == [netpol.detection_namespace("run-7")]


def test_detect_cleans_up_when_the_detection_pod_never_gets_ready(listener: Listener) -> None:
    cluster = RecordingCluster(listener, enforces=True, ready_after=10**6)
    with pytest.raises(WaitTimeout, match=r"detection pod .* ready"):
        _detect(cluster, ready_timeout=0.5)
    assert cluster.deleted_namespaces == [netpol.detection_namespace("run-7")]
    assert not cluster.execs


def test_no_ready_dns_pod_is_a_cluster_error_naming_what_was_found() -> None:
    pods = [PodInfo("coredns-1", "kube-system", "Pending", False, ("coredns",), ())]
    with pytest.raises(ClusterError, match=r"k8s-app=kube-dns .* coredns-1 ready=False"):
        netpol.pick_dns_target(pods)
    assert netpol.pick_dns_target(
        [*pods, PodInfo("coredns-2", "kube-system", "Running", True, ("coredns",), (),
                        ip="10.244.0.3")]) == "10.244.0.3"
