"""The observer reads an ambient scenario's "gateway" log from its waypoint: the pod istiod
deploys for the Gateway, found by the gateway-name label in the egress namespace (waiting for it
to be Ready), its istio-proxy container's log. The real KubeClient talks to the loopback API
stand-in (tests/foundation/kube_standin.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from egress_e2e import catalog
from egress_e2e.core.errors import WaitTimeout
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.evidence.fakelogs import FakeLogs
from egress_e2e.evidence.observe import Needs, Observer
from egress_e2e.evidence.probe import ProbeResult
from egress_e2e.infra.kube import KubeClient
from egress_e2e.rendering.layout import Layout
from egress_e2e.scenario.expectations import LogLine

from ..foundation.kube_standin import KubeStandIn, Pod, Request, serving

SCENARIO = catalog.by_id("ambient-waypoint-http")
MARKER = "egress-e2e-probe/0123456789abcdef"
# A waypoint's line in Istio's default TEXT format for the probe (marker as User-Agent), routed
# to the ServiceEntry's inbound-vip cluster.
WAYPOINT_LINE = (
    '[2026-12-01T22:41:07.123Z] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 512 4 3 '
    f'"-" "{MARKER}" "5450023d-d648-41b0-b299-a68489166b47" "httpbin.org" "172.18.0.9:80" '
    "inbound-vip|80|http|httpbin.org 10.244.0.42:43210 240.240.0.3:80 10.244.0.24:46238 - "
    "default\n")


def _observer(state: KubeStandIn, tmp_path: Path, layout: Layout, workloads: float = 5.0
              ) -> Observer:
    api = KubeClient(state.kubeconfig(tmp_path), request_timeout=(1, 2))
    timeouts = Timeouts(workloads=workloads, interval=0.05)
    return Observer(api, layout, FakeLogs("containers", "run-a", "unused"), timeouts)


def _waypoint(layout: Layout, ready: bool = True) -> Pod:
    return Pod("waypoint-7c9d8f6b5-x2x4q", layout.gateway_ns,
               {"gateway.networking.k8s.io/gateway-name": "waypoint",
                "istio.io/gateway-name": "waypoint"}, ready=ready,
               containers=("istio-proxy",))


def test_the_waypoint_pod_is_waited_for_then_its_log_read(tmp_path: Path) -> None:
    layout = Layout.isolated_for(SCENARIO, "run-a")
    state = KubeStandIn()
    pod = _waypoint(layout, ready=False)
    state.pods.append(pod)
    state.logs[(layout.gateway_ns, pod.name, "istio-proxy")] = "not an access line\n" + \
        WAYPOINT_LINE
    lists: list[Request] = []

    def becomes_ready(request: Request) -> None:
        if request.path.endswith("/pods"):
            lists.append(request)
            if len(lists) == 3:   # istiod's controller got there on the third look
                state.pods[0] = _waypoint(layout)

    state.on_request = becomes_ready
    with serving(state):
        observer = _observer(state, tmp_path, layout)
        assert observer.gateway_pod() == pod.name
        check = SCENARIO.checks[0]
        now = datetime.now(UTC)
        probe = ProbeResult(request_id="5450023d-d648-41b0-b299-a68489166b47",
                            url=check.probe.url, argv=("curl",), exit_code=0, status=200,
                            http_version="1.1", headers={}, body="{}", error=None, stderr="",
                            started=now, finished=now, marker=MARKER)
        seen = observer.evidence(check, probe, Needs.of((LogLine(proxy="gateway"),)), {})
    assert all(r.query["labelSelector"] == ["gateway.networking.k8s.io/gateway-name=waypoint"]
               for r in lists)
    assert {r.path for r in lists} == {f"/api/v1/namespaces/{layout.gateway_ns}/pods"}
    [line] = seen.gateway_log
    assert line.user_agent == MARKER and line.upstream_cluster == "inbound-vip|80|http|httpbin.org"


def test_no_waypoint_pod_gives_up_with_what_it_saw(tmp_path: Path) -> None:
    layout = Layout.isolated_for(SCENARIO, "run-a")
    state = KubeStandIn(pods=[_waypoint(layout, ready=False)])
    with serving(state):
        observer = _observer(state, tmp_path, layout, workloads=0.3)
        with pytest.raises(WaitTimeout, match=r"no Ready waypoint pod .*gateway-name=waypoint.* "
                                              r"0 Ready"):
            observer.gateway_pod()
