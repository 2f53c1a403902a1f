"""The proofs issue 11 item 3 strengthened, judged offline where the calibration bed cannot
produce the evidence (istio-proxy's peer metadata, an ingress in front of an app sidecar,
EnvoyFilter clusters, the CONNECT proxy in front of the named hosts). Each test shows the
catalog's own expectation holding on the evidence Istio 1.30/1.31 gives, and failing on the
evidence of the weaker path it rules out."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from egress_e2e import catalog
from egress_e2e.evidence import accesslog, echo
from egress_e2e.evidence.probe import ProbeResult
from egress_e2e.evidence.verify import Observation, verify
from egress_e2e.rendering.layout import Layout
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    ClusterCounter,
    Echoed,
    Expectation,
    LogLine,
    ProxyConnect,
    Xfcc,
)
from egress_e2e.scenario.identity import Identities
from egress_e2e.scenario.model import Check

from .seed_bodies import seed001_body

RUN = "proofs01"


def _check(scenario: str, step: int, index: int) -> Check:
    return catalog.by_id(scenario).steps[step].checks[index]


def _only(check: Check, kind: type[Expectation]) -> list[Expectation]:
    return [e for e in check.expect if isinstance(e, kind)]


def _result(url: str, *, body: str = "", status: int | None = 200,
            at: datetime | None = None) -> ProbeResult:
    started = at or datetime.now(UTC)
    return ProbeResult(request_id="r", url=url, argv=("curl", url), exit_code=0, status=status,
                       http_version="1.1", headers=echo.Headers(), body=body, error=None,
                       stderr="", started=started, finished=started + timedelta(seconds=1),
                       marker="egress-e2e-probe/0123456789abcdef")


def _echo(headers: dict[str, str]) -> str:
    return json.dumps({"headers": headers})


def _ids(scenario: str, client: str = "curl") -> Identities:
    return Layout.isolated_for(catalog.by_id(scenario), RUN).identities(client)


# --- gateway-tls-origination: the gateway, not the sidecar, originated ----------------------

def test_gateway_tls_origination_requires_the_gateways_metadata() -> None:
    check = _check("gateway-tls-origination", 0, 0)
    [peer] = [e for e in _only(check, Echoed)
              if isinstance(e, Echoed) and e.header == "X-Envoy-Peer-Metadata-Id"]
    ids = _ids("gateway-tls-origination")
    # Seed 001's echo of origination at the gateway: the gateway's node id.
    via_gateway = seed001_body("tls-origination-at-gateway")
    assert verify([peer], Observation(_result("http://httpbin.org/headers", body=via_gateway)),
                  ids) == []
    # A sidecar that originated and went straight to the host sends its own id.
    direct = seed001_body("se-only-sidecar")
    assert verify([peer], Observation(_result("http://httpbin.org/headers", body=direct)),
                  ids) == ["echoed X-Envoy-Peer-Metadata-Id: expected starting with 'router~', "
                           "got 'sidecar~10.244.0.7~curl.default~default.svc.cluster.local'"]


# --- XFCC: the ingress's app sidecar, the dedicated gateway's ISTIO_MUTUAL hop --------------

def _xfcc(by: str, uri: str) -> str:
    return (f'By={by};Hash=0123;Cert="{quote("-----BEGIN CERTIFICATE-----")}";'
            f'Subject="";URI={uri}')


def test_ingress_requires_the_app_sidecars_xfcc() -> None:
    check = _check("ingress-gateway", 0, 0)
    [wanted] = _only(check, Xfcc)
    ids = _ids("ingress-gateway", "uninjected")
    app, gateway = ids.spiffe("workload"), ids.spiffe("gateway")
    assert app.endswith("/sa/default") and f"/ns/{ids.client_ns}/" in app
    url = "http://gateway.ingress.svc.cluster.local/headers"

    def judged(headers: dict[str, str]) -> list[str]:
        return verify([wanted], Observation(_result(url, body=_echo(headers))), ids)

    # The app's sidecar (APPEND_FORWARD) adds one element: itself By=, the gateway URI=.
    assert judged({"X-Forwarded-Client-Cert": _xfcc(app, gateway)}) == []
    # No sidecar in front of the app (or no mTLS from the gateway): no header at all.
    assert judged({}) == ["XFCC: expected an X-Forwarded-Client-Cert header, got none"]
    # The gateway's own view (as if it had terminated mTLS from the client) is not the app's.
    assert len(judged({"X-Forwarded-Client-Cert": _xfcc(gateway, app)})) == 2


def test_dedicated_gateway_step_two_requires_the_istio_mutual_hop() -> None:
    check = _check("dedicated-gateway-authz", 1, 0)
    [wanted] = _only(check, Xfcc)
    ids = _ids("dedicated-gateway-authz")
    gateway, client = ids.spiffe("gateway"), ids.spiffe("client")
    url = f"http://{hosts.JSONPLACEHOLDER}/headers"
    mutual = Observation(_result(url, body=_echo(
        {"X-Forwarded-Client-Cert": _xfcc(gateway, client)})))
    assert verify([wanted], mutual, ids) == []
    # Plaintext to the gateway (step 1's hop) carries no client certificate: no XFCC.
    plain = Observation(_result(url, body=_echo({"X-Envoy-Decorator-Operation": "x"})))
    assert verify([wanted], plain, ids) == [
        "XFCC: expected an X-Forwarded-Client-Cert header, got none"]
    # Another namespace's client is not the client this check names.
    other = Observation(_result(url, body=_echo(
        {"X-Forwarded-Client-Cert": _xfcc(gateway, ids.spiffe("other-client"))})))
    assert verify([wanted], other, ids) == [
        f"XFCC URI: expected {client}, got {ids.spiffe('other-client')}"]


# --- passthrough-double-tls step 1: the gateway's TCP line ---------------------------------

def test_double_tls_failure_needs_the_gateways_tcp_line() -> None:
    check = _check("passthrough-double-tls", 0, 0)
    [line] = _only(check, LogLine)
    probe = _result("https://httpbin.org/headers", status=None)
    at = probe.started + timedelta(milliseconds=200)
    gateway_tcp = accesslog.parse(
        f'[{at.isoformat()}] "- - -" 0 - - - "-" 517 143 12 - "-" "-" "-" "-" '
        '"10.89.0.4:443" outbound|443||httpbin.org 10.244.0.6:50356 10.244.0.6:8443 '
        "10.244.0.7:51628 httpbin.org -")
    assert verify([line], Observation(probe, gateway_log=(gateway_tcp,)), _ids(
        "passthrough-double-tls")) == []
    # The failure alone (curl 35) says nothing about where: with no gateway line, this fails.
    [problem] = verify([line], Observation(probe), _ids("passthrough-double-tls"))
    assert problem.startswith("gateway log: expected a TCP line for probe")
    # Another host's connection in the same window is not this probe's.
    other = dataclasses.replace(gateway_tcp, requested_server_name=hosts.GOOGLE_WWW)
    assert verify([line], Observation(probe, gateway_log=(other,)), _ids(
        "passthrough-double-tls"))


# --- connect-tunnel: this gateway's tunnel cluster, the probe's own CONNECT ------------------

def test_connect_tunnel_requires_the_gateways_tunnel_cluster_and_its_own_connect() -> None:
    ids = _ids("connect-tunnel")
    for index, host in enumerate((hosts.GOOGLE_WWW, hosts.WIKIPEDIA_WWW)):
        check = _check("connect-tunnel", 1, index)
        [counter] = _only(check, ClusterCounter)
        [connect] = _only(check, ProxyConnect)
        assert counter == ClusterCounter("external_proxy_cluster")
        probe = _result(f"https://{host}/headers")
        at = probe.started + timedelta(milliseconds=300)
        mine = accesslog.parse_connect(
            f'[{at.isoformat()}] 172.18.0.5:40404 "CONNECT {host}:443 - HTTP/1.1" - 200 - DC')
        other_host = hosts.WIKIPEDIA_WWW if host == hosts.GOOGLE_WWW else hosts.GOOGLE_WWW
        theirs = dataclasses.replace(mine, target_host=other_host)
        grew = Observation(probe, proxy_log=(mine,),
                           counters_before={"external_proxy_cluster": 4},
                           counters_after={"external_proxy_cluster": 5})
        assert verify([counter, connect], grew, ids) == []
        # The proxy saw a tunnel, but not through this gateway's cluster (another scenario's
        # gateway, or the DestinationRule form): the counter did not move.
        still = dataclasses.replace(grew, counters_after={"external_proxy_cluster": 4})
        assert verify([counter], still, ids) == [
            "gateway cluster external_proxy_cluster: expected cx_total to grow by >= 1, "
            "got 4 -> 4"]
        # A tunnel to the other host in the same window is not this probe's.
        assert verify([connect], dataclasses.replace(grew, proxy_log=(theirs,)), ids)
