"""Gathering what one attempt of a check saw: run the probe in the client pod, then read the
proxies' access logs (ztunnel's too, in ambient), the fakes' logs and the gateway's counters, as
far as the check needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from egress_e2e.core.errors import ClusterError
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.core.waits import latest, until
from egress_e2e.evidence import accesslog, probe, verify, ztunnel
from egress_e2e.evidence.fakelogs import FakeLogReader
from egress_e2e.infra.ambient import GATEWAY_NAME_LABEL, ZTUNNEL
from egress_e2e.infra.istio import NAMESPACE as ISTIO_NAMESPACE
from egress_e2e.infra.istio import PROXY_CONTAINER
from egress_e2e.infra.kube import KubeApi
from egress_e2e.rendering.layout import Layout
from egress_e2e.scenario.expectations import (
    ClusterCounter,
    Expectation,
    FakeSaw,
    LogLine,
    ProxyConnect,
    ZtunnelLine,
)
from egress_e2e.scenario.model import Check, Curl

Judge = Callable[[verify.Observation], Sequence[str]]
CLUSTERS_ARGV = ("pilot-agent", "request", "GET", "clusters")
# Enough history for a check's attempts, little enough to keep each read cheap.
LOG_WINDOW_S = 300
# ztunnel's DaemonSet pods and their one container (istio/istio release-1.31
# manifests/charts/ztunnel/templates/daemonset.yaml: pod label app: ztunnel, container
# istio-proxy), installed in istio-system.
ZTUNNEL_SELECTOR = f"app={ZTUNNEL}"
ZTUNNEL_CONTAINER = PROXY_CONTAINER


@dataclass(frozen=True)
class Needs:
    """Which evidence a check's expectations read; nothing else is fetched."""

    gateway_log: bool = False
    sidecar_log: bool = False
    fake_log: bool = False
    proxy_log: bool = False
    counters: bool = False
    ztunnel_log: bool = False

    @classmethod
    def of(cls, expectations: tuple[Expectation, ...]) -> Needs:
        logs = [e for e in expectations if isinstance(e, LogLine)]
        return cls(
            gateway_log=any(e.proxy == "gateway" for e in logs),
            sidecar_log=any(e.proxy == "sidecar" for e in logs),
            fake_log=any(isinstance(e, FakeSaw) for e in expectations),
            proxy_log=any(isinstance(e, ProxyConnect) for e in expectations),
            counters=any(isinstance(e, ClusterCounter) for e in expectations),
            ztunnel_log=any(isinstance(e, ZtunnelLine) for e in expectations),
        )


@dataclass
class Observer:
    api: KubeApi
    layout: Layout
    fake_logs: FakeLogReader
    timeouts: Timeouts
    # The session's run id, which the fakes stamp on every answer (FakeSaw compares it).
    run_id: str = ""
    # The last access-log text read from each (namespace, pod), raw as logged: the runner's
    # observation records quote it.
    raw_logs: dict[tuple[str, str], str] = field(default_factory=dict, init=False)
    _gateway_pod: str | None = field(default=None, init=False)
    # The ztunnel pods the last read covered.
    ztunnel_pods: tuple[str, ...] = field(default=(), init=False)

    def forget_gateway_pod(self) -> None:
        """The gateway's pods were replaced (an upgrade's restart): find the Ready one again."""
        self._gateway_pod = None

    def gateway_pod(self) -> str:
        if self._gateway_pod is None:
            selector = ",".join(f"{k}={v}" for k, v in self.layout.gateway_labels)
            if self.layout.data_plane == "ambient" or made_by_istiod(self.layout):
                # A waypoint's pod is made by istiod's gateway controller from the Gateway the
                # scenario applies (its labels: gateway.networking.k8s.io/gateway-name), after
                # the runner's workload wait: give it that budget once.
                until(lambda: [p for p in self.api.pods(self.layout.gateway_ns, selector)
                               if p.ready], bool,
                      what=f"no Ready waypoint pod {selector!r} in {self.layout.gateway_ns}",
                      timeout=self.timeouts.workloads, interval=self.timeouts.interval,
                      describe=lambda seen: f"{len(seen)} Ready")
            ready = [p for p in self.api.pods(self.layout.gateway_ns, selector) if p.ready]
            if not ready:
                raise ClusterError(f"no Ready gateway pod {selector!r} in "
                                   f"{self.layout.gateway_ns}")
            self._gateway_pod = ready[0].name
        return self._gateway_pod

    def counters(self) -> dict[str, int]:
        done = self.api.exec(self.layout.gateway_ns, self.gateway_pod(), PROXY_CONTAINER,
                             CLUSTERS_ARGV, timeout=30.0)
        if done.exit_code != 0:
            raise ClusterError(f"pilot-agent request GET clusters exited {done.exit_code}: "
                               f"{done.stderr.strip()[-200:]}")
        return verify.cluster_counters(done.stdout)

    def run_probe(self, check: Check) -> probe.ProbeResult:
        namespace, pod, container = self.layout.client_pod(check.probe.client)
        url = self.layout.resolve(check.probe.url)
        prepared = probe.prepare(_with_url(check, url), timeout_scale=self.timeouts.scale)
        started = datetime.now(UTC)
        done = self.api.exec(namespace, pod, container, prepared.argv,
                             timeout=check.probe.timeout_s * self.timeouts.scale + 15)
        return prepared.parse(stdout=done.stdout, stderr=done.stderr, exit_code=done.exit_code,
                              started=started, finished=datetime.now(UTC))

    def observe(self, check: Check, judge_evidence: Judge | None = None) -> verify.Observation:
        """One attempt: counters before, the probe, then evidence until it shows up (proxies
        flush access logs on a timer) or the evidence timeout passes."""
        needs = Needs.of(check.expect)
        before = self.counters() if needs.counters else {}
        result = self.run_probe(check)

        def gather() -> verify.Observation:
            return self.evidence(check, result, needs, before)

        if judge_evidence is None:
            return gather()
        # ``timeouts`` come scaled already; only the probe's own curl limit is scaled here.
        return latest(gather, judge_evidence, timeout=self.timeouts.evidence, interval=0.5)

    def evidence(self, check: Check, result: probe.ProbeResult, needs: Needs,
                 before: dict[str, int]) -> verify.Observation:
        """Everything but the probe, read again (for the same probe) as often as needed."""
        client_ns, client_pod, _ = self.layout.client_pod(check.probe.client)
        return verify.Observation(
            probe=result,
            gateway_log=tuple(accesslog.parse_all(self._proxy_log(
                self.layout.gateway_ns, self.gateway_pod()))) if needs.gateway_log else (),
            sidecar_log=tuple(accesslog.parse_all(self._proxy_log(client_ns, client_pod)))
            if needs.sidecar_log else (),
            fake_log=self.fake_logs.read("nginx") if needs.fake_log else "",
            proxy_log=tuple(accesslog.parse_connect_all(self.fake_logs.read("connect-proxy")))
            if needs.proxy_log else (),
            counters_before=before,
            counters_after=self.counters() if needs.counters else {},
            run_id=self.run_id,
            ztunnel_log=tuple(ztunnel.parse_all(self.ztunnel_text()))
            if needs.ztunnel_log else (),
            ztunnel_source=(client_ns, client_pod),
        )

    def ztunnel_text(self) -> str:
        """Every ztunnel pod's recent log, read now, one pod after another (the client's node
        is not known here, and a kind cluster has few nodes). ztunnel's lines carry no probe
        marker: ``verify`` finds the probe's by source pod and time window."""
        names = tuple(pod.name for pod in self.api.pods(ISTIO_NAMESPACE, ZTUNNEL_SELECTOR))
        if not names:
            raise ClusterError(f"no ztunnel pod {ZTUNNEL_SELECTOR!r} in {ISTIO_NAMESPACE} "
                               "(is the ambient data plane installed?)")
        for name in names:
            self.raw_logs[(ISTIO_NAMESPACE, name)] = self.api.logs(
                ISTIO_NAMESPACE, name, ZTUNNEL_CONTAINER, since_seconds=LOG_WINDOW_S)
        self.ztunnel_pods = names
        return self.last_ztunnel_text()

    def last_ztunnel_text(self) -> str:
        """The ztunnel text the last evidence read came from (``observations.RawLogs``)."""
        return "\n".join(self.raw_logs.get((ISTIO_NAMESPACE, name), "").rstrip("\n")
                         for name in self.ztunnel_pods)

    def _proxy_log(self, namespace: str, pod: str) -> str:
        text = self.api.logs(namespace, pod, PROXY_CONTAINER, since_seconds=LOG_WINDOW_S)
        self.raw_logs[(namespace, pod)] = text
        return text


def made_by_istiod(layout: Layout) -> bool:
    """Whether the layout's gateway is a Deployment istiod's gateway controller makes from a
    Gateway API Gateway (a waypoint, an automated egress gateway): found by the
    gateway.networking.k8s.io/gateway-name label its pods carry (kube-gateway.yaml)."""
    return any(key == GATEWAY_NAME_LABEL for key, _ in layout.gateway_labels)


def _with_url(check: Check, url: str) -> Curl:
    return replace(check.probe, url=url)
