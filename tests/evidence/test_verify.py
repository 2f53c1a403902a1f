"""Declared expectations judged against observations built from the seeds' recorded evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from egress_e2e.evidence import accesslog, echo
from egress_e2e.evidence.probe import ProbeResult
from egress_e2e.evidence.verify import (
    Observation,
    cluster_counters,
    describe,
    needs_settle_window,
    port_of,
    verify,
)
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import (
    Body,
    ClusterCounter,
    CurlFails,
    Echoed,
    Expectation,
    FakeSaw,
    LogLine,
    ProxyConnect,
    Status,
    Xfcc,
)
from egress_e2e.scenario.identity import Identities

from .seed_bodies import seed001_body
from .seed_lines import (
    S001_ISTIO_MUTUAL,
    S001_PASSTHROUGH,
    S003_GATEWAY_EN,
    S004_CONNECT_GOOGLE,
)

SEED_IDS = Identities(gateway_ns="istio-system", gateway_sa="istio-egressgateway-service-account",
                      client_ns="default", client_sa="default")


def _result(*, url: str, request_id: str, status: int | None, body: str = "",
            at: datetime, headers: echo.Headers | None = None,
            error: echo.CurlError | None = None, marker: str = "") -> ProbeResult:
    return ProbeResult(request_id=request_id, url=url, argv=("curl", url),
                       exit_code=error.exit_code if error else 0, status=status,
                       http_version="1.1", headers=headers or echo.Headers(), body=body,
                       error=error, stderr="", started=at, finished=at + timedelta(seconds=1),
                       marker=marker)


def _istio_mutual() -> Observation:
    """Seed 001, 'TLS origination at the gateway and mTLS between sidecar and gateway'."""
    line = accesslog.parse(S001_ISTIO_MUTUAL)
    assert line.request_id is not None
    body = seed001_body("istio-mutual-tls-origination")
    # The seed's client sent its own User-Agent: as a probe's marker, it finds the seed's line.
    assert line.user_agent is not None
    result = _result(url="http://httpbin.org/headers", request_id=line.request_id, status=200,
                     body=body, at=line.start_time, marker=line.user_agent)
    chatter = accesslog.parse(S001_PASSTHROUGH)
    return Observation(probe=result, gateway_log=(chatter, line))


def test_seed_istio_mutual_holds() -> None:
    expected: list[Expectation] = [
        Status(200),
        Body('"Host": "httpbin.org"'),
        Echoed("X-Envoy-Decorator-Operation", equals="httpbin.org:443/*"),
        Echoed("x-envoy-peer-metadata-id", startswith="router~"),
        Echoed("X-Envoy-Internal", contains="true"),
        Echoed("x-b3-traceid", absent=True),
        Xfcc(by="gateway", uri="client"),
        LogLine(tcp=False, method="GET", path="/headers", protocol="HTTP/1.1",
                response_code=200, cluster="outbound|443||httpbin.org",
                cluster_contains="|443|", sni="httpbin.org", downstream_local_port=8443),
    ]
    assert verify(expected, _istio_mutual(), SEED_IDS) == []


def test_seed_istio_mutual_wrong_expectations_name_expected_and_actual() -> None:
    expected: list[Expectation] = [
        Status(503),
        CurlFails((35,), "wrong version number"),
        Body("RBAC: access denied"),
        Echoed("X-Envoy-Decorator-Operation", equals="httpbin.org:80/*"),
        Echoed("X-Envoy-Peer-Metadata-Id", absent=True),
        Echoed("X-Fake-Sni", equals="httpbin.org"),
        Xfcc(by="gateway", uri="other-client"),
        LogLine(cluster="outbound|80||httpbin.org", downstream_local_port=8080,
                transport_failure_contains="CERTIFICATE_VERIFY_FAILED"),
        LogLine(present=False),
    ]
    problems = verify(expected, _istio_mutual(), SEED_IDS)
    rid = "probe curl/7.83.1-DEV (or SNI httpbin.org)"
    assert problems[0].startswith("status: expected 503, got HTTP 200 (body '{ \"headers\": {")
    assert problems[1:] == [
        "curl: expected exit 35, got success with HTTP 200",
        problems[2],
        "echoed X-Envoy-Decorator-Operation: expected equals 'httpbin.org:80/*', "
        "got 'httpbin.org:443/*'",
        "echoed X-Envoy-Peer-Metadata-Id: expected absent, got 'router~10.244.0.6~"
        "istio-egressgateway-75c5457c56-htpvz.istio-system~istio-system.svc.cluster.local'",
        "echoed X-Fake-Sni: expected present, got absent",
        "XFCC URI: expected spiffe://cluster.local/ns/other/sa/curl, "
        "got spiffe://cluster.local/ns/default/sa/default",
        f"gateway log line for {rid}: cluster expected 'outbound|80||httpbin.org', "
        "got 'outbound|443||httpbin.org'",
        f"gateway log line for {rid}: downstream_local_port expected 8080, got 8443",
        f"gateway log line for {rid}: transport failure expected to contain "
        "'CERTIFICATE_VERIFY_FAILED', got None",
        f"gateway log: expected no line for {rid}, got "
        "[2024-06-21T19:50:33.667000+00:00] GET /headers HTTP/1.1 200 flags=- "
        "cluster=outbound|443||httpbin.org id=0db0a05e-6c1e-4a8a-b932-0f582340d36e",
    ]
    assert problems[2].startswith("body: expected to contain 'RBAC: access denied', got ")


def test_seed_passthrough_tcp_line_by_sni_and_time() -> None:
    line = accesslog.parse(S001_PASSTHROUGH)
    body = seed001_body("passthrough")
    at = line.start_time - timedelta(milliseconds=300)
    observed = Observation(
        probe=_result(url="https://httpbin.org/headers", request_id="never-logged",
                      status=200, body=body, at=at),
        gateway_log=(accesslog.parse(S001_ISTIO_MUTUAL), line))
    expected: list[Expectation] = [
        Status(200), Echoed("x-envoy-peer-metadata-id", absent=True),
                Echoed("X-Forwarded-Client-Cert", absent=True),
                LogLine(tcp=True, sni="httpbin.org", cluster="outbound|443||httpbin.org",
                        response_code=0, downstream_local_port=8443)]
    assert verify(expected, observed, SEED_IDS) == []
    # The same line an hour away from the probe is not this probe's line.
    later = Observation(probe=_result(url="https://httpbin.org/headers", request_id="x",
                                      status=200, body=body, at=at + timedelta(hours=1),
                                      marker="m-x"),
                        gateway_log=(line,))
    [problem] = verify([LogLine(tcp=True)], later, SEED_IDS)
    assert problem.startswith("gateway log: expected a TCP line for probe m-x "
                              "(or SNI httpbin.org), got none; last lines: [2024-06-21T21:22:27")
    assert verify([LogLine(tcp=True, present=False)], later, SEED_IDS) == []


def test_seed_003_internal_listener_line_and_counters() -> None:
    line = accesslog.parse(S003_GATEWAY_EN)
    observed = Observation(
        probe=_result(url="https://en.wikipedia.org/wiki/Main_Page", request_id="r",
                      status=200, at=line.start_time),
        gateway_log=(line,),
        counters_before={},
        counters_after=cluster_counters(
            "outbound|443||www.wikipedia.org::185.15.59.224:443::cx_total::5\n"
            "outbound|443||www.wikipedia.org::185.15.59.225:443::cx_total::2\n"
            "outbound|443||www.wikipedia.org::default_priority::max_connections::4294967295\n"
            "outbound|443||www.wikipedia.org::185.15.59.224:443::rq_total::9\n"
            "outbound|80||v6.test::[2001:db8::1]:80::cx_total::3\n"),
    )
    assert observed.counters_after == {"outbound|443||www.wikipedia.org": 7,
                                       "outbound|80||v6.test": 3}
    assert port_of(line.downstream_local_address) is None
    expected: list[Expectation] = [
        LogLine(tcp=True, cluster="dynamic_forward_proxy_cluster"),
                ClusterCounter("outbound|443||www.wikipedia.org", at_least=7)]
    assert verify(expected, observed, SEED_IDS) == []
    assert verify([ClusterCounter("outbound|443||www.wikipedia.org", at_least=8),
                   ClusterCounter("outbound|443||nowhere")], observed, SEED_IDS) == [
        "gateway cluster outbound|443||www.wikipedia.org: expected cx_total to grow by >= 8, "
        "got 0 -> 7",
        "gateway cluster outbound|443||nowhere: expected cx_total to grow by >= 1, "
        "got no such cluster",
    ]


def _connect_line(target: str, code: int, at: datetime) -> accesslog.ConnectEntry:
    """A line of the fake CONNECT proxy (manifests/external/envoy-connect-proxy.yaml.j2)."""
    return accesslog.parse_connect(
        f'[{at.isoformat()}] 10.244.0.9:47191 "CONNECT {target} - HTTP/1.1" - {code} - DC')


def test_proxy_connect_needs_the_probes_host_and_a_200() -> None:
    at = datetime.now(UTC)
    probe = _result(url="https://www.google.com/headers", request_id="r", status=200, at=at)
    mine = _connect_line("www.google.com:443", 200, at + timedelta(milliseconds=100))
    observed = Observation(probe=probe, proxy_log=(mine,))
    assert verify([ProxyConnect(), ProxyConnect(target_port=None)], observed, SEED_IDS) == []
    assert verify([ProxyConnect(present=False)], observed, SEED_IDS) == [
        f"proxy log: expected no CONNECT www.google.com:443, got CONNECT www.google.com:443 "
        f"200 at {mine.start_time.isoformat()}"]
    assert verify([ProxyConnect(target_port=8443)], observed, SEED_IDS) == [
        "proxy log: expected a CONNECT www.google.com:8443 during the probe, got "
        "www.google.com:443 200 (1 CONNECT lines in all)"]
    # Another scenario's tunnel to another host, in the same window, is not this probe's.
    other = Observation(probe=probe, proxy_log=(
        _connect_line("www.wikipedia.org:443", 200, at + timedelta(milliseconds=100)),))
    assert verify([ProxyConnect()], other, SEED_IDS) == [
        "proxy log: expected a CONNECT www.google.com:443 during the probe, got "
        "www.wikipedia.org:443 200 (1 CONNECT lines in all)"]
    assert verify([ProxyConnect(present=False)], other, SEED_IDS) == []
    # A CONNECT the proxy refused opened no tunnel.
    refused = Observation(probe=probe, proxy_log=(
        _connect_line("www.google.com:443", 403, at + timedelta(milliseconds=100)),))
    assert verify([ProxyConnect()], refused, SEED_IDS) == [
        "proxy log: expected CONNECT www.google.com:443 answered 200, got 403"]
    assert verify([ProxyConnect(response_code=None)], refused, SEED_IDS) == []
    # ... and the absence of tunnels means any answer.
    assert verify([ProxyConnect(present=False)], refused, SEED_IDS)


def test_seed_004_connect_names_an_address_not_the_host() -> None:
    """Seed 004's proxy logged the tunnel's IP: a check by the probe's host does not take it
    (the harness's tunnels name the host; the catalog's differs say so)."""
    tunnel = accesslog.parse_connect(S004_CONNECT_GOOGLE)
    during = _result(url="https://www.google.com", request_id="r", status=200,
                     at=tunnel.start_time - timedelta(milliseconds=100))
    observed = Observation(probe=during, proxy_log=(tunnel,))
    assert verify([ProxyConnect()], observed, SEED_IDS) == [
        "proxy log: expected a CONNECT www.google.com:443 during the probe, got "
        "216.58.209.4:443 200 (1 CONNECT lines in all)"]
    seed_probe = _result(url="https://216.58.209.4", request_id="r", status=200,
                         at=during.started)
    assert verify([ProxyConnect()], Observation(probe=seed_probe, proxy_log=(tunnel,)),
                  SEED_IDS) == []


def test_seed_double_tls_failure() -> None:
    error = echo.parse_curl_error(
        "curl: (35) error:1408F10B:SSL routines:ssl3_get_record:wrong version number\n"
        "command terminated with exit code 35")
    observed = Observation(probe=_result(url="https://httpbin.org/headers", request_id="r",
                                         status=None, at=datetime.now(UTC), error=error))
    assert verify([CurlFails((35,), "wrong version number")], observed, SEED_IDS) == []
    assert verify([CurlFails((35, 56))], observed, SEED_IDS) == []
    assert verify([Status(200), CurlFails((56,), "reset")], observed, SEED_IDS) == [
        "status: expected 200, got curl exit 35: error:1408F10B:SSL routines:"
        "ssl3_get_record:wrong version number (body '')",
        "curl: expected exit 56, got curl exit 35: error:1408F10B:SSL routines:"
        "ssl3_get_record:wrong version number",
        "curl error: expected 'reset' in it, got curl exit 35: error:1408F10B:SSL routines:"
        "ssl3_get_record:wrong version number",
    ]
    assert verify([Echoed("x")], observed, SEED_IDS)[0].startswith(
        "echoed x: no echo of request headers (not an httpbin echo (not JSON)")


def test_fake_saw_reads_the_fakes_stamps() -> None:
    # What nginx adds to every answer (add_header ... always), as curl reports the headers.
    stamped = echo.Headers([
        (hosts.PROVENANCE, "run-1"), ("X-Fake-Sni", "httpbin.org"), ("X-Fake-Port", "443"),
        ("X-Fake-Scheme", "https"), ("X-Fake-Client-Verify", "SUCCESS"),
        ("X-Fake-Client-Subject", "CN=curl-client,O=Acme\\, Inc."),
        ("X-Fake-Server-Block", "tls")])
    observed = Observation(probe=_result(url="https://httpbin.org/headers", request_id="r",
                                         status=200, body="not an echo", at=datetime.now(UTC),
                                         headers=stamped), run_id="run-1")
    good = FakeSaw(scheme="https", port=443, sni="httpbin.org", client_verify="SUCCESS",
                   client_subject_contains="O=Acme\\, Inc.", server_block="tls")
    assert verify([good], observed, SEED_IDS) == []
    assert verify([FakeSaw(port=80, sni="www.google.com"), FakeSaw(reached=False)],
                  observed, SEED_IDS) == [
        "fake saw port: expected 80, got '443'",
        "fake saw sni: expected 'www.google.com', got 'httpbin.org'",
        "fake: expected not reached, got reached (its answer carries X-Fake-Internet: run-1)",
    ]
    # The stamp must be this run's, not merely there.
    elsewhere = Observation(probe=observed.probe, run_id="run-2")
    assert verify([FakeSaw()], elsewhere, SEED_IDS) == [
        "fake: expected X-Fake-Internet 'run-2' (this run), got 'run-1'"]
    unreached = Observation(probe=_result(url="http://httpbin.org/", request_id="r2",
                                          status=502, at=datetime.now(UTC), marker="m-r2"),
                            fake_log="GET / 200 rid=r1\n", run_id="run-1")
    assert verify([FakeSaw(reached=False)], unreached, SEED_IDS) == []
    [problem] = verify([FakeSaw()], unreached, SEED_IDS)
    assert problem.startswith("fake: expected reached, got no X-Fake-Internet header and no "
                              "log line for probe m-r2")
    logged = Observation(probe=unreached.probe, fake_log='GET / 200 rid=r1 ua="m-r2"\n')
    assert verify([FakeSaw()], logged, SEED_IDS) == []
    assert verify([FakeSaw(reached=False)], logged, SEED_IDS) == [
        "fake: expected not reached, got reached (its log has a line with the probe's marker)"]


@pytest.mark.parametrize(("expectation", "settles"), [
    (LogLine(present=False), True), (ProxyConnect(present=False), True),
    (FakeSaw(reached=False), True), (LogLine(), False), (Status(200), False),
])
def test_which_expectations_need_a_settle_window(expectation: Expectation,
                                                 settles: bool) -> None:
    assert needs_settle_window(expectation) is settles


def test_describe_shows_the_probe_and_the_matching_lines() -> None:
    text = describe(_istio_mutual())
    assert text.startswith("http://httpbin.org/headers (marker curl/7.83.1-DEV): HTTP 200; "
                           "body '{ \"headers\": {")
    assert "gateway log lines for this request: [2024-06-21T19:50:33.667000+00:00] GET" in text
    assert "\n" not in text


def test_identities_resolve_roles() -> None:
    ids = Identities(gateway_ns="gw", gateway_sa="gw-sa", client_ns="c", client_sa="c-sa",
                     other_client_ns="o", other_client_sa="o-sa", trust_domain="td")
    assert ids.spiffe("gateway") == "spiffe://td/ns/gw/sa/gw-sa"
    assert ids.spiffe("client") == "spiffe://td/ns/c/sa/c-sa"
    assert ids.spiffe("other-client") == "spiffe://td/ns/o/sa/o-sa"


# The sidecar's catch-all listener (no ServiceEntry for the host) reads no SNI, so its
# BlackHoleCluster line carries none: the shape a REGISTRY_ONLY sidecar logs for blocked TLS.
BLACKHOLE = ('[2026-11-21T20:00:00.500Z] "- - -" 0 UH - - "-" 0 0 0 - "-" "-" "-" "-" "-" '
             "BlackHoleCluster - 172.18.0.5:443 10.244.0.7:51234 - -")


def test_a_tcp_line_without_sni_is_found_by_time_window_when_asked() -> None:
    line = accesslog.parse(BLACKHOLE)
    assert line.requested_server_name is None and line.upstream_cluster == "BlackHoleCluster"
    error = echo.CurlError(35, "OpenSSL SSL_connect: SSL_ERROR_SYSCALL")
    result = _result(url="https://httpbin.org/headers", request_id="r-blackhole", status=None,
                     at=line.start_time - timedelta(milliseconds=200), error=error)
    observed = Observation(probe=result, sidecar_log=(line,))
    blocked = LogLine(proxy="sidecar", tcp=True, match_sni=False, cluster="BlackHoleCluster",
                      downstream_local_port=443)
    assert verify([CurlFails((35, 56)), blocked], observed, SEED_IDS) == []
    # Matched by SNI (the default), the same line is not this probe's: the check says so.
    by_sni = verify([LogLine(proxy="sidecar", tcp=True, cluster="BlackHoleCluster")],
                    observed, SEED_IDS)
    assert by_sni and "SNI httpbin.org" in by_sni[0]
    # A line outside the probe's time window is not evidence for it.
    late = Observation(probe=_result(url=result.url, request_id="r", status=None,
                                     at=line.start_time + timedelta(minutes=5), error=error),
                       sidecar_log=(line,))
    assert verify([blocked], late, SEED_IDS)
