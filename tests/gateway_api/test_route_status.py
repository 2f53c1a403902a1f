"""Gateway API status as evidence, read by the real ``KubeClient`` from the stand-in API server:
``get`` returns objects with their status (None when absent), ``judge`` names what does not
hold, and ``await_status`` polls until it holds or gives up with the last status read."""

from __future__ import annotations

import copy
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.core.errors import WaitTimeout
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.evidence import route_status
from egress_e2e.infra.ambient import GATEWAY_NAME_LABEL
from egress_e2e.infra.kube import KubeClient
from egress_e2e.rendering.layout import Layout
from egress_e2e.scenario.expectations import GatewayProgrammed, RouteAccepted

from ..foundation.kube_standin import KubeStandIn, Pod, Request, serving

NS = "gw-ns"
GATEWAY = "httpbin-egress-gateway"


def condition(kind: str, status: str = "True", reason: str | None = None,
              generation: int = 1) -> dict[str, Any]:
    return {"type": kind, "status": status, "reason": reason or kind,
            "message": "m", "observedGeneration": generation,
            "lastTransitionTime": "2026-12-01T00:00:00Z"}


def gateway_doc(programmed: str = "True", attached: int = 1,
                listener_refs: str = "True") -> dict[str, Any]:
    """A Gateway as the API server returns it once istiod has written its status (a listener
    carries Accepted, Programmed, ResolvedRefs and Conflicted=False: conversion.go
    buildListener)."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "Gateway",
        "metadata": {"name": GATEWAY, "namespace": NS, "generation": 1},
        "spec": {"gatewayClassName": "istio",
                 "listeners": [{"name": "http", "port": 80, "protocol": "HTTP"}]},
        "status": {
            "conditions": [condition("Accepted"), condition("Programmed", programmed)],
            "listeners": [{"name": "http", "attachedRoutes": attached,
                           "supportedKinds": [{"kind": "HTTPRoute"}],
                           "conditions": [condition("Accepted"), condition("Programmed"),
                                          condition("ResolvedRefs", listener_refs,
                                                    None if listener_refs == "True"
                                                    else "InvalidCertificateRef"),
                                          condition("Conflicted", "False", "NoConflicts")]}],
        },
    }


def route_doc(kind: str = "HTTPRoute", name: str = "forward", *, resolved: str = "True",
              parent: dict[str, Any] | None = None, generation: int = 1,
              controller: str = route_status.ISTIO_CONTROLLER) -> dict[str, Any]:
    ref = parent or {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GATEWAY}
    return {
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": kind,
        "metadata": {"name": name, "namespace": NS, "generation": generation},
        "spec": {"parentRefs": [ref]},
        "status": {"parents": [{
            "parentRef": ref, "controllerName": controller,
            "conditions": [condition("Accepted"),
                           condition("ResolvedRefs", resolved,
                                     None if resolved == "True" else "BackendNotFound")],
        }]},
    }


@pytest.fixture
def api() -> Iterator[KubeStandIn]:
    with serving() as state:
        yield state


@pytest.fixture
def client(api: KubeStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubeClient:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return KubeClient(api.kubeconfig(tmp_path))


def test_get_reads_a_gateway_and_a_route_with_their_status(api: KubeStandIn,
                                                           client: KubeClient) -> None:
    api.objects[("Gateway", NS, GATEWAY)] = gateway_doc()
    api.objects[("HTTPRoute", NS, "forward")] = route_doc()
    gateway = client.get("gateway.networking.k8s.io/v1", "Gateway", NS, GATEWAY)
    route = client.get("gateway.networking.k8s.io/v1", "HTTPRoute", NS, "forward")
    assert gateway is not None and route is not None
    assert gateway["status"]["listeners"][0]["attachedRoutes"] == 1
    assert route["status"]["parents"][0]["controllerName"] == "istio.io/gateway-controller"
    paths = [r.path for r in api.sent("GET")]
    assert paths == [f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/gateways/{GATEWAY}",
                     f"/apis/gateway.networking.k8s.io/v1/namespaces/{NS}/httproutes/forward"]


def test_get_is_none_for_what_does_not_exist_and_reads_cluster_scoped_kinds(
        api: KubeStandIn, client: KubeClient) -> None:
    assert client.get("gateway.networking.k8s.io/v1", "TLSRoute", NS, "nothing") is None
    crd = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "tlsroutes.gateway.networking.k8s.io",
                        "annotations": {"gateway.networking.k8s.io/bundle-version": "v1.6.0"}}}
    client.apply([crd])
    found = client.get("apiextensions.k8s.io/v1", "CustomResourceDefinition", None,
                       "tlsroutes.gateway.networking.k8s.io")
    assert found is not None
    assert found["metadata"]["annotations"] == crd["metadata"]["annotations"]
    assert api.sent("GET")[-1].path == ("/apis/apiextensions.k8s.io/v1/"
                                        "customresourcedefinitions/"
                                        "tlsroutes.gateway.networking.k8s.io")


PROGRAMMED = GatewayProgrammed(GATEWAY, listeners=("http",))
ACCEPTED = RouteAccepted("HTTPRoute", "forward", GATEWAY)
ON_SERVICE_ENTRY = RouteAccepted("HTTPRoute", "direct", "httpbin", parent_kind="ServiceEntry")
SE_REF = {"group": "networking.istio.io", "kind": "ServiceEntry", "name": "httpbin"}


def test_judge_passes_status_as_istio_writes_it() -> None:
    assert route_status.judge(PROGRAMMED, gateway_doc()) == []
    assert route_status.judge(ACCEPTED, route_doc()) == []
    assert route_status.judge(ON_SERVICE_ENTRY, route_doc(name="direct", parent=SE_REF)) == []


@pytest.mark.parametrize(("expectation", "body", "problem"), [
    (PROGRAMMED, None, "Gateway httpbin-egress-gateway: not found"),
    (PROGRAMMED, gateway_doc(programmed="False"), "Programmed is False"),
    # Stale CRDs: the listener exists, nothing attaches to it (istio/istio#60357).
    (PROGRAMMED, gateway_doc(attached=0), "listener http has 0 attached routes"),
    (GatewayProgrammed(GATEWAY, listeners=("tls",)), gateway_doc(), "no status for listener tls"),
    # The Gateway is Programmed, one listener is not usable: that listener's own conditions.
    (PROGRAMMED, gateway_doc(listener_refs="False"),
     "listener http: ResolvedRefs is False (InvalidCertificateRef"),
    (ACCEPTED, route_doc(resolved="False"), "ResolvedRefs is False (BackendNotFound"),
    (ACCEPTED, route_doc(controller="example.com/other"),
     "no status from istio.io/gateway-controller"),
    # The right name but a Gateway, not the ServiceEntry the expectation names.
    (RouteAccepted("HTTPRoute", "forward", GATEWAY, parent_kind="ServiceEntry"), route_doc(),
     "no status from istio.io/gateway-controller for ServiceEntry"),
    (ACCEPTED, route_doc(generation=2), "Accepted is for generation 1, the object is at 2"),
])
def test_judge_names_what_does_not_hold(expectation: Any, body: dict[str, Any] | None,
                                        problem: str) -> None:
    problems = route_status.judge(expectation, body)
    assert any(problem in p for p in problems), problems


def test_await_status_polls_until_istiod_has_written_it(api: KubeStandIn,
                                                        client: KubeClient) -> None:
    """The routes' status turns True only after a few reads (istiod reconciling); the wait
    holds twice in a row, then waits for the automated gateway's pod by its label."""
    scenario = catalog.by_id("gateway-api-http")
    layout = Layout.isolated_for(scenario, "run-1")
    api.pods.append(Pod("gw-0", layout.client_ns,
                        {GATEWAY_NAME_LABEL: "httpbin-egress-gateway"}))
    step = scenario.steps[0]
    names = {"Gateway": [], "HTTPRoute": []}  # type: dict[str, list[str]]
    for expectation in step.ready:
        kind, name = route_status.key_of(expectation)
        names[kind].append(name)
    final: dict[tuple[str, str, str], dict[str, Any]] = {}
    for name in names["Gateway"]:
        body = gateway_doc()
        body["metadata"].update(name=name, namespace=layout.client_ns)
        final[("Gateway", layout.client_ns, name)] = body
    for expectation in step.ready:
        if isinstance(expectation, RouteAccepted):
            ref = ({"group": "networking.istio.io", "kind": "ServiceEntry",
                    "name": expectation.parent} if expectation.parent_kind == "ServiceEntry"
                   else {"name": expectation.parent})  # kind and group left to defaults
            body = route_doc(name=expectation.route, parent=ref)
            body["metadata"]["namespace"] = layout.client_ns
            final[(expectation.kind, layout.client_ns, expectation.route)] = body
    pending = {key: copy.deepcopy(body) for key, body in final.items()}
    for body in pending.values():
        body["status"] = {}
    api.objects.update(pending)
    reads = [0]

    def reconcile(request: Request) -> None:
        if request.method == "GET" and request.path.count("/") > 5:  # a named object
            reads[0] += 1
            if reads[0] == len(final) + 1:  # istiod writes status after the first look
                api.objects.update(copy.deepcopy(final))

    api.on_request = reconcile
    timeouts = Timeouts(converge=20.0, workloads=5.0, interval=0.05)
    snapshot = route_status.await_status(client, scenario, layout, step, timeouts)
    assert snapshot is not None and snapshot.problems == ()
    # The first look failed (no status yet); then two clean looks in a row.
    assert len([r for r in api.sent("GET") if "/apis/gateway" in r.path]) == 3 * len(final)


def test_await_status_gives_up_with_the_last_status_read(api: KubeStandIn,
                                                         client: KubeClient) -> None:
    scenario = catalog.by_id("gateway-api-passthrough")
    layout = Layout.isolated_for(scenario, "run-1")
    body = gateway_doc(attached=0)
    body["metadata"].update(name=GATEWAY, namespace=layout.client_ns)
    body["status"]["listeners"][0]["name"] = "tls"
    api.objects[("Gateway", layout.client_ns, GATEWAY)] = body
    with pytest.raises(WaitTimeout) as raised:
        route_status.await_status(client, scenario, layout, scenario.steps[0],
                                  Timeouts(converge=0.5, interval=0.1))
    message = str(raised.value)
    assert "gateway-api-passthrough: Gateway API status" in message
    assert "listener tls has 0 attached routes" in message
    assert "TLSRoute direct-httpbin-to-egress-gateway: not found" in message
    assert "listener tls attachedRoutes=0" in message  # the last observation, described
    assert "\n" not in message


def test_a_step_without_status_expectations_reads_nothing(api: KubeStandIn,
                                                          client: KubeClient) -> None:
    scenario = catalog.by_id("gateway-api-serviceentry-timeout")
    layout = Layout.isolated_for(scenario, "run-1")
    assert route_status.await_status(client, scenario, layout, scenario.steps[0],
                                     Timeouts()) is None
    assert api.sent() == []


def test_an_existing_clusters_crds_are_read_and_judged_through_the_real_client(
        api: KubeStandIn, client: KubeClient) -> None:
    """--existing-kubeconfig: the installed CRDs as the API returns them (by name, cluster
    scoped), judged against the pin for the Istio under test; an old TLSRoute CRD is named."""
    from egress_e2e.infra import gateway_api, versions

    pin = versions.load().gateway_api_for("1.30.5")
    for name in gateway_api.REQUIRED_CRDS:
        version = "v1.4.1" if name.startswith("tlsroutes.") else pin.version
        client.apply([{"apiVersion": "apiextensions.k8s.io/v1",
                       "kind": "CustomResourceDefinition",
                       "metadata": {"name": name, "annotations": {
                           gateway_api.BUNDLE_VERSION: version,
                           gateway_api.CHANNEL: pin.channel}}}])
    line = gateway_api.fit_line(pin, "1.30", gateway_api.read_installed(client))
    assert line == ("Gateway API CRDs do not fit Istio 1.30 (tested with v1.5.1 experimental): "
                    "tlsroutes is v1.4.1, below the v1.5.0 Istio 1.30 needs (istiod ignores it)")
    api.objects.pop(("CustomResourceDefinition", "", "referencegrants.gateway.networking.k8s.io"))
    line = gateway_api.fit_line(pin, "1.30", gateway_api.read_installed(client))
    assert line is not None and "missing referencegrants" in line


def test_the_observer_finds_the_automated_gateways_pod_by_its_label_once_ready(
        api: KubeStandIn, client: KubeClient) -> None:
    """istiod makes the pod after the runner's workload wait: the observer gives it the
    workload budget, looking it up by gateway.networking.k8s.io/gateway-name."""
    from egress_e2e.evidence.observe import Observer

    scenario = catalog.by_id("gateway-api-http")
    layout = route_status.gateway_api_layout(scenario, Layout.isolated_for(scenario, "run-1"))
    pod = Pod("httpbin-egress-gateway-istio-7d9f", layout.client_ns,
              {GATEWAY_NAME_LABEL: "httpbin-egress-gateway"}, ready=False,
              containers=("istio-proxy",))
    api.pods.append(pod)
    looks = [0]

    def kubelet(request: Request) -> None:
        if request.path.endswith("/pods"):
            looks[0] += 1
            if looks[0] == 3:
                pod.ready = True

    api.on_request = kubelet
    observer = Observer(client, layout, fake_logs=None,  # type: ignore[arg-type]
                        timeouts=Timeouts(workloads=10.0, interval=0.05))
    assert observer.gateway_pod() == "httpbin-egress-gateway-istio-7d9f"
    selectors = {r.query["labelSelector"][0] for r in api.sent("GET")
                 if r.path.endswith("/pods")}
    assert selectors == {f"{GATEWAY_NAME_LABEL}=httpbin-egress-gateway"}
    assert looks[0] >= 3
