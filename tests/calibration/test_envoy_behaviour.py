"""What real Envoy does with Istio's settings, asserted directly: the facts the catalog's
expectations rest on (FIELD-NOTES "Headers and what they prove"), reproduced rather than
remembered."""

from __future__ import annotations

import functools
import re
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.core import waits
from egress_e2e.evidence import echo, verify, xfcc
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import Xfcc
from egress_e2e.scenario.model import Check

from .bed import (
    APP_SA,
    CLIENT_NS,
    CLIENT_SA,
    GATEWAY_NS,
    GATEWAY_SA,
    IDENTITIES,
    Bed,
    MeshPki,
    applicable,
    during,
    request_id_matches,
)

pytestmark = pytest.mark.timeout(60)

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# (scenario, gateway listener the sidecar reaches, protocol logged there, the port of the
# gateway route, which names the decorator and the upstream cluster)
HTTP_FLOWS = [
    ("gateway-http", 8080, "HTTP/2", 80),
    ("gateway-tls-origination", 8080, "HTTP/2", 443),
    ("mtls-gateway-http", 8443, "HTTP/1.1", 80),
    ("mtls-gateway-tls-origination", 8443, "HTTP/1.1", 443),
    ("mtls-origination", 8080, "HTTP/2", 443),
]
HTTP_IDS = [flow[0] for flow in HTTP_FLOWS]


def _first_check(scenario: str, step: int = 0) -> Check:
    return catalog.by_id(scenario).steps[step].checks[0]


@pytest.mark.parametrize(("scenario", "listener", "protocol", "route_port"), HTTP_FLOWS,
                         ids=HTTP_IDS)
def test_gateway_replaces_the_request_id(bed: Bed, scenario: str, listener: int,
                                         protocol: str, route_port: int) -> None:
    flow = bed.flow(scenario)
    observed = flow.observe_once(_first_check(scenario))
    [sidecar] = during(observed, observed.sidecar_log)
    gateway_lines = during(observed, observed.gateway_log)
    rid = observed.probe.request_id
    # use_remote_address false: the sidecar keeps the client's id (the UUID extension may
    # rewrite the version nibble for the trace decision, which request_id_matches allows).
    assert request_id_matches(sidecar.request_id, rid)
    # use_remote_address true and no internal addresses: every gateway line has a new id ...
    assert gateway_lines
    for line in gateway_lines:
        assert line.request_id is not None and _UUID.match(line.request_id)
        assert not request_id_matches(line.request_id, rid)
        assert line.protocol == protocol
        assert line.downstream_local_address == f"{flow.gateway_address}:{listener}"
        assert line.upstream_cluster == f"outbound|{route_port}||{hosts.HTTPBIN}"
        assert line.route_name is None  # VirtualService routes without a name, as the seeds'
    assert sidecar.upstream_cluster is not None and sidecar.upstream_cluster.startswith(
        f"outbound|{443 if listener == 8443 else 80}||egress-gateway-{scenario}")
    assert sidecar.route_name is None and sidecar.protocol == "HTTP/1.1"
    # ... and that new id is the one the fake received (nginx logs $http_x_request_id).
    fake_ids = re.findall(r"request_id=(\S+)", observed.fake_log)
    assert gateway_lines[-1].request_id in fake_ids
    assert rid not in observed.fake_log
    # The probe's marker (its User-Agent) is what survives: both proxies log it, the fake
    # echoes and logs it.
    marker = observed.probe.marker
    assert sidecar.user_agent == marker
    assert [line.user_agent for line in gateway_lines] == [marker] * len(gateway_lines)
    if observed.probe.status == 200:
        assert echo.parse_headers_body(observed.probe.body)["user-agent"] == marker
    assert f'ua="{marker}"' in observed.fake_log


@pytest.mark.parametrize(("scenario", "listener", "protocol", "route_port"), HTTP_FLOWS,
                         ids=HTTP_IDS)
def test_gateway_treats_the_sidecar_as_external(bed: Bed, scenario: str, listener: int,
                                               protocol: str, route_port: int) -> None:
    flow = bed.flow(scenario)
    observed = flow.observe_once(_first_check(scenario))
    assert observed.probe.status == 200, observed.probe.describe()
    echoed = echo.parse_headers_body(observed.probe.body)
    assert "x-envoy-internal" not in echoed
    assert echoed["x-envoy-external-address"] == "127.0.0.1"
    # route/route.go GetRouteOperation, set by the gateway for the route that served it.
    assert echoed["x-envoy-decorator-operation"] == f"{hosts.HTTPBIN}:{route_port}/*"
    assert echoed["x-envoy-attempt-count"] == "1"
    # The sidecar's Server header (Envoy's default "envoy") replaces the gateway's istio-envoy.
    assert observed.probe.headers["server"] == "envoy"
    assert observed.probe.headers[hosts.PROVENANCE] == flow.fakes.run_id


def test_internal_address_config_is_what_keeps_the_id(bed: Bed) -> None:
    """The counterfactual: declare loopback internal (ENABLE_HCM_INTERNAL_NETWORKS with
    meshNetworks), and the seeds' behaviour comes back. So the default is the cause."""
    flow = bed.flow("gateway-http", -1)
    observed = flow.observe_once(_first_check("gateway-http"))
    [gateway] = during(observed, observed.gateway_log)
    assert request_id_matches(gateway.request_id, observed.probe.request_id)
    echoed = echo.parse_headers_body(observed.probe.body)
    assert echoed["x-envoy-internal"] == "true"
    assert "x-envoy-external-address" not in echoed
    # The catalog's gateway-http check tells the two configurations apart.
    kept, _ = applicable(_first_check("gateway-http").expect, flow.fakes)
    assert sorted(verify.verify(kept, observed, IDENTITIES)) == [
        "echoed X-Envoy-External-Address: expected present, got absent",
        "echoed X-Envoy-Internal: expected absent, got 'true'"]


@pytest.mark.parametrize("scenario", ["mtls-gateway-http", "mtls-gateway-tls-origination"])
def test_istio_mutual_server_sets_one_xfcc_element(bed: Bed, scenario: str) -> None:
    flow = bed.flow(scenario)
    observed = flow.observe_once(_first_check(scenario))
    echoed = echo.parse_headers_body(observed.probe.body)
    [element] = xfcc.parse(echoed["x-forwarded-client-cert"])
    assert element.by == (MeshPki.spiffe(GATEWAY_NS, GATEWAY_SA),)
    assert element.uri == (MeshPki.spiffe(CLIENT_NS, CLIENT_SA),)
    # SANITIZE_SET with Subject, Cert, DNS, URI: an empty subject (istiod's certificates have
    # none), the client's certificate and hash, no chain, no DNS names.
    assert element.subject == ""
    assert element.cert == bed.mesh.client_cert.read_text()
    assert element.hash is not None and element.chain is None and element.dns == ()
    [gateway] = during(observed, observed.gateway_log)
    assert gateway.requested_server_name == hosts.HTTPBIN


def test_passthrough_is_tcp_on_both_proxies(bed: Bed) -> None:
    flow = bed.flow("passthrough")
    observed = flow.observe_once(_first_check("passthrough"))
    [sidecar] = during(observed, observed.sidecar_log)
    [gateway] = during(observed, observed.gateway_log)
    for line in (sidecar, gateway):
        assert line.is_tcp and line.requested_server_name == hosts.HTTPBIN
        assert line.request_id is None and line.bytes_received > 0 and line.bytes_sent > 0
    assert gateway.upstream_cluster == "outbound|443||httpbin.org"
    assert gateway.upstream_host == f"127.0.0.1:{flow.fakes.ports.tls}"
    assert sidecar.upstream_cluster is not None
    assert sidecar.upstream_cluster.startswith("outbound|443||egress-gateway-passthrough")
    # The app's own TLS reached the fake: no proxy could add a header.
    echoed = echo.parse_headers_body(observed.probe.body)
    assert not [name for name in echoed if name.lower().startswith("x-envoy-")]
    assert "x-forwarded-client-cert" not in echoed


def test_untrusted_certificate_fails_at_the_gateway(bed: Bed) -> None:
    flow = bed.flow("origination-untrusted-cert")
    observed = flow.observe_once(_first_check("origination-untrusted-cert"))
    assert observed.probe.status == 503
    [sidecar] = during(observed, observed.sidecar_log)
    [gateway] = during(observed, observed.gateway_log)
    # The gateway retried the handshake (default retry policy: connect-failure) and gave up.
    assert gateway.response_code == 503 and gateway.response_flags == "URX,UF"
    assert gateway.upstream_transport_failure_reason is not None
    assert "CERTIFICATE_VERIFY_FAILED" in gateway.upstream_transport_failure_reason
    # The sidecar only relays the gateway's answer.
    assert (sidecar.response_code, sidecar.response_code_details) == (503, "via_upstream")
    # After retries Envoy's local reply names the last reset reason, not the TLS error: the
    # body alone cannot prove CERTIFICATE_VERIFY_FAILED.
    assert observed.probe.body.startswith(
        "upstream connect error or disconnect/reset before headers. retried and the latest "
        "reset reason: remote connection failure")
    assert "CERTIFICATE_VERIFY_FAILED" not in observed.probe.body


def test_double_tls_fails_inside_the_gateways_tls(bed: Bed) -> None:
    """The leftover origination rule on the passthrough route: the gateway's TLS to the fake
    succeeds (SNI from the rule), nginx reads the app's ClientHello as a broken request and
    answers a plain 400, which the app's TLS reads as a bad record."""
    flow = bed.flow("passthrough-double-tls", 0)
    observed = flow.observe_once(_first_check("passthrough-double-tls"))
    assert observed.probe.error is not None and observed.probe.error.exit_code == 35
    assert "wrong version number" in observed.probe.error.message
    [sidecar] = during(observed, observed.sidecar_log)
    [gateway] = during(observed, observed.gateway_log)
    for line in (sidecar, gateway):
        assert line.is_tcp and line.requested_server_name == hosts.HTTPBIN
    assert gateway.upstream_cluster == "outbound|443||httpbin.org"
    assert gateway.upstream_host == f"127.0.0.1:{flow.fakes.ports.tls}"
    # The gateway's handshake (SNI httpbin.org) reached the fake's TLS port, and nginx logged
    # the app's ClientHello as a broken request line with a 400 (before any server block's
    # variables are set, so block= is empty and no User-Agent, hence no marker, is known).
    assert re.search(rf'" 400 block=\S* host=httpbin.org sni=httpbin.org '
                     rf'port={flow.fakes.ports.tls} scheme=https ', observed.fake_log)


def test_ingress_app_sidecar_sets_the_only_xfcc_element(bed: Bed) -> None:
    """ingress-gateway: a client outside the mesh, the gateway (SANITIZE_SET: no certificate,
    so no element of its own), auto-mTLS to the app's sidecar, whose inbound APPEND_FORWARD
    adds the one element: By= the app, URI= the gateway; Subject but no Cert."""
    flow = bed.flow("ingress-gateway")
    check = _first_check("ingress-gateway")
    observed = flow.observe_once(check)
    assert observed.probe.status == 200, observed.probe.describe()
    echoed = echo.parse_headers_body(observed.probe.body)
    [element] = xfcc.parse(echoed["x-forwarded-client-cert"])
    assert element.by == (MeshPki.spiffe(CLIENT_NS, APP_SA),)
    assert element.uri == (MeshPki.spiffe(GATEWAY_NS, GATEWAY_SA),)
    assert element.subject == "" and element.cert is None and element.hash is not None
    [gateway] = during(observed, observed.gateway_log)
    assert gateway.upstream_cluster == (
        f"outbound|8080||command-runner.{CLIENT_NS}.svc.cluster.local")
    [app] = during(observed, observed.sidecar_log)
    assert app.upstream_cluster == "inbound|8080||" and app.user_agent == observed.probe.marker
    # The catalog's expectation holds, and reading it the other way round (as a gateway that
    # terminated the client's mTLS would set it) does not.
    kept, _ = applicable(check.expect, flow.fakes)
    assert verify.verify(kept, observed, IDENTITIES) == []
    assert len(verify.verify([Xfcc(by="gateway", uri="workload")], observed, IDENTITIES)) == 2


@pytest.mark.parametrize("index", [0, 1], ids=["google", "wikipedia"])
def test_connect_tunnel_counts_one_proxy_connection_per_tunnel(bed: Bed, index: int) -> None:
    """connect-tunnel step 2: the EnvoyFilter's tcp_proxy logs nothing, but each tunnel opens
    one connection of external_proxy_cluster (HTTP/1.1 CONNECT does not reuse it), so the
    gateway's counter moves by exactly one per probe, and the proxy logs the CONNECT."""
    flow = bed.flow("connect-tunnel", 1)
    check = catalog.by_id("connect-tunnel").steps[1].checks[index]
    host = check.probe.url.split("/")[2]
    for _ in range(2):
        before = flow.gateway.counters()
        start = before.get("external_proxy_cluster", 0)
        result = flow.run_probe(check)
        assert result.status == 200, result.describe()
        target = ("127.0.0.1", flow.fakes.ports.tls)
        # The counter moves when the tunnel opens; the proxy writes its line when the tunnel
        # closes and flushes its log on a timer: wait for both.
        observed = waits.latest(
            functools.partial(flow.observe, result, before),
            functools.partial(_counted_and_logged, start, target), timeout=5, interval=0.05)
        assert observed.counters_after["external_proxy_cluster"] - start == 1
        assert during(observed, observed.gateway_log) == []  # no access log on the filter
        tunnels = _tunnels(observed, target)
        assert tunnels and tunnels[-1].response_code == 200
        assert result.headers[hosts.SAW_SNI] == host


def _tunnels(observed: verify.Observation, target: tuple[str, int]) -> list[Any]:
    return [e for e in observed.proxy_log if observed.in_window(e.start_time)
            and (e.target_host, e.target_port) == target]


def _counted_and_logged(start: int, target: tuple[str, int],
                        observed: verify.Observation) -> list[str]:
    problems = ([] if observed.counters_after.get("external_proxy_cluster", 0) > start
                else ["external_proxy_cluster has not counted the tunnel yet"])
    return problems + ([] if _tunnels(observed, target) else ["no CONNECT line yet"])
