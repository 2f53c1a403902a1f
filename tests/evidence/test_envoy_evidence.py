"""Access-log lines and an XFCC header produced here by a real Envoy 1.40 in Istio's formats.

Each probe is built by ``evidence.probe`` and run with the real curl, so the probe argv, its
write-out parsing, the access-log parser and the XFCC parser are all checked on real output.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from egress_e2e.core import waits
from egress_e2e.evidence import accesslog, echo, probe, xfcc
from egress_e2e.evidence.accesslog import AccessLogEntry
from egress_e2e.evidence.verify import Observation, describe, verify
from egress_e2e.scenario.expectations import CurlFails, Echoed, LogLine, Status, Xfcc
from egress_e2e.scenario.identity import Identities, parse_spiffe
from egress_e2e.scenario.model import Curl

from .local_evidence import (
    CLIENT_DNS,
    CLIENT_SPIFFE,
    GATEWAY_SPIFFE,
    HTTP_CLUSTER,
    REFUSED_CLUSTER,
    TLS_CLUSTER,
    LocalEnvoy,
    Pki,
)

pytestmark = pytest.mark.timeout(60)


def _entries(env: LocalEnvoy, rid: str) -> tuple[AccessLogEntry, AccessLogEntry]:
    """The TEXT and the JSON line for request ``rid`` (Envoy flushes its log files on a timer).
    The 1.22 TEXT line must parse to the same entry as the 1.23+ one."""
    logs = (env.text_log, env.json_log, env.text_1_22_log)

    def observe() -> list[list[AccessLogEntry]]:
        return [[e for e in accesslog.parse_all(log.read_text() if log.exists() else "")
                 if probe.same_request_id(e.request_id, rid)] for log in logs]

    def judge(found: list[list[AccessLogEntry]]) -> list[str]:
        return [] if all(len(group) == 1 for group in found) else [f"lines: {found}"]

    text, json_entries, text_1_22 = waits.eventually(
        observe, judge, what=f"access log for {rid}", timeout=10, consecutive=1, interval=0.05)
    assert text_1_22 == text
    return text[0], json_entries[0]


def _same_in_both_encodings(text: AccessLogEntry, json_entry: AccessLogEntry) -> None:
    for field in fields(AccessLogEntry):
        assert getattr(text, field.name) == getattr(json_entry, field.name), field.name


def _run(curl: Curl, pki: Pki | None = None) -> probe.ProbeResult:
    prepared = probe.prepare(curl, cert_dir=str(pki.dir) if pki else probe.FAKE_INTERNET_DIR)
    return probe.run_local(prepared)


def test_http11_line_in_text_and_json(envoy: LocalEnvoy, httpbin_port: int) -> None:
    agent = 'evidence "quoted" agent/1.0'
    # python httpbin hides X-Request-Id and X-Forwarded-* unless asked with show_env=1.
    result = _run(Curl(f"http://127.0.0.1:{envoy.http_port}/headers?show_env=1",
                       extra_args=("-A", agent)))
    assert result.status == 200, result.describe()
    assert result.error is None and result.exit_code == 0
    assert result.http_version == "1.1"
    assert result.headers["content-type"] == "application/json"
    echoed = echo.parse_headers_body(result.body)
    assert echoed["x-request-id"] == result.request_id
    assert echoed["user-agent"] == agent

    text, json_entry = _entries(envoy, result.request_id)
    _same_in_both_encodings(text, json_entry)
    assert (text.method, text.path, text.protocol) == ("GET", "/headers?show_env=1", "HTTP/1.1")
    assert (text.response_code, text.response_flags) == (200, None)
    assert text.response_code_details == "via_upstream"
    assert text.user_agent == agent
    assert text.authority == f"127.0.0.1:{envoy.http_port}"
    assert text.upstream_cluster == HTTP_CLUSTER
    assert text.upstream_host == f"127.0.0.1:{httpbin_port}"
    assert text.downstream_local_address == f"127.0.0.1:{envoy.http_port}"
    assert text.downstream_remote_address is not None
    assert text.downstream_remote_address.startswith("127.0.0.1:")
    assert text.requested_server_name is None
    assert text.route_name == "default"
    assert text.bytes_sent == len(result.body.encode())
    assert text.bytes_received == 0
    assert text.duration_ms is not None and text.upstream_service_time_ms is not None
    assert not text.is_tcp
    assert abs((text.start_time - result.started).total_seconds()) < 1


def test_http2_line(envoy: LocalEnvoy) -> None:
    result = _run(Curl(f"http://127.0.0.1:{envoy.http_port}/get",
                       extra_args=("--http2-prior-knowledge",)))
    assert result.status == 200, result.describe()
    assert result.http_version == "2"
    text, json_entry = _entries(envoy, result.request_id)
    _same_in_both_encodings(text, json_entry)
    assert (text.method, text.path, text.protocol) == ("GET", "/get", "HTTP/2")
    assert text.upstream_cluster == HTTP_CLUSTER


def test_upstream_failure_503_uf(envoy: LocalEnvoy) -> None:
    result = _run(Curl(f"http://127.0.0.1:{envoy.http_port}/refused"))
    assert result.status == 503, result.describe()
    assert result.error is None  # curl got an answer; the failure is Envoy's
    text, json_entry = _entries(envoy, result.request_id)
    _same_in_both_encodings(text, json_entry)
    assert text.response_code == 503
    assert text.response_flags == "UF"
    assert text.response_code_details is not None
    assert text.response_code_details.startswith(
        "upstream_reset_before_response_started{remote_connection_failure")
    assert text.upstream_cluster == REFUSED_CLUSTER
    assert text.route_name == "refused"
    assert text.upstream_service_time_ms is None
    assert text.upstream_transport_failure_reason is not None
    assert "refused" in text.upstream_transport_failure_reason.lower()


def test_ipv6_downstream(envoy: LocalEnvoy) -> None:
    result = _run(Curl(f"http://[::1]:{envoy.http6_port}/headers"))
    assert result.status == 200, result.describe()
    text, json_entry = _entries(envoy, result.request_id)
    _same_in_both_encodings(text, json_entry)
    assert text.downstream_local_address == f"[::1]:{envoy.http6_port}"
    assert text.downstream_remote_address is not None
    assert text.downstream_remote_address.startswith("[::1]:")
    assert text.authority == f"[::1]:{envoy.http6_port}"


@pytest.fixture(scope="module")
def mtls_through_sni(envoy: LocalEnvoy, pki: Pki) -> probe.ProbeResult:
    """curl (app-level mTLS, SNI httpbin.org) -> tcp_proxy by SNI -> Envoy terminating mTLS
    and setting XFCC -> httpbin /headers."""
    curl = Curl(f"https://httpbin.org:{envoy.sni_port}/headers", trust_fake_ca=True,
                client_cert=True,
                extra_args=("--resolve", f"httpbin.org:{envoy.sni_port}:127.0.0.1"))
    result = _run(curl, pki)
    assert result.status == 200, result.describe()
    return result


def test_tcp_proxy_line_found_by_sni_and_time(envoy: LocalEnvoy,
                                              mtls_through_sni: probe.ProbeResult) -> None:
    result = mtls_through_sni

    def observe() -> list[AccessLogEntry]:
        return [e for e in accesslog.parse_all(envoy.text_log.read_text())
                if e.is_tcp and e.requested_server_name == "httpbin.org"
                and (e.start_time - result.started).total_seconds() > -1
                and (e.start_time - result.finished).total_seconds() < 1]

    [line] = waits.eventually(observe, lambda found: [] if found else ["no TCP line"],
                              what="TCP line for httpbin.org", timeout=10, consecutive=1,
                              interval=0.05)
    assert line.response_code == 0
    assert (line.method, line.path, line.protocol, line.request_id) == (None, None, None, None)
    assert line.upstream_cluster == TLS_CLUSTER
    assert line.upstream_host == f"127.0.0.1:{envoy.mtls_port}"
    assert line.downstream_local_address == f"127.0.0.1:{envoy.sni_port}"
    assert line.bytes_received > 0 and line.bytes_sent > 0
    assert line.route_name is None
    # The terminating listener logged the request itself, with the SNI it was reached by.
    text, json_entry = _entries(envoy, result.request_id)
    _same_in_both_encodings(text, json_entry)
    assert text.requested_server_name == "httpbin.org"
    assert text.downstream_local_address == f"127.0.0.1:{envoy.mtls_port}"
    json_tcp = [e for e in accesslog.parse_all(envoy.json_log.read_text())
                if e.is_tcp and e.downstream_remote_address == line.downstream_remote_address]
    assert json_tcp == [line]


def test_real_xfcc_matches_the_client_certificate(mtls_through_sni: probe.ProbeResult,
                                                  pki: Pki) -> None:
    header = echo.parse_headers_body(mtls_through_sni.body)["x-forwarded-client-cert"]
    [element] = xfcc.parse(header)
    cert = pki.client_cert
    pem = cert.public_bytes(Encoding.PEM).decode()
    assert element.by == (GATEWAY_SPIFFE,)
    assert element.hash == hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest()
    assert element.cert == pem
    # Chain: the presented certificate followed by the CA Envoy validated it against.
    assert element.chain == pem + pki.ca_pem.read_text()
    assert element.subject == cert.subject.rfc4514_string()
    assert element.subject == "CN=curl-client,O=Acme\\, Inc."
    assert element.uri == (CLIENT_SPIFFE,)
    assert element.dns == CLIENT_DNS
    assert parse_spiffe(element.uri[0]).service_account == "curl"


def test_double_tls_gives_curl_35_wrong_version_number(envoy: LocalEnvoy) -> None:
    # The app speaks TLS to a port that answers plain HTTP, as in seed 001's double-TLS step.
    result = _run(Curl(f"https://127.0.0.1:{envoy.http_port}/headers", timeout_s=5))
    assert result.status is None
    assert result.error is not None, result.describe()
    assert result.error.exit_code == 35
    ids = Identities(gateway_ns="g", gateway_sa="g", client_ns="c", client_sa="c")
    observed = Observation(probe=result)
    assert verify([CurlFails((35,), "wrong version number")], observed, ids) == []


def test_runner_shaped_check_on_real_envoy(envoy: LocalEnvoy, pki: Pki) -> None:
    """A check as the scenario runner does it: probe, gather evidence until it has settled,
    judge; three passing probes in a row."""
    ids = Identities(gateway_ns="istio-system", gateway_sa="istio-egressgateway-service-account",
                     client_ns="default", client_sa="curl")
    curl = Curl(f"https://httpbin.org:{envoy.sni_port}/headers", trust_fake_ca=True,
                client_cert=True,
                extra_args=("--resolve", f"httpbin.org:{envoy.sni_port}:127.0.0.1"))
    expected = (
        Status(200),
        Xfcc(by="gateway", uri="client"),
        Echoed("x-forwarded-client-cert", contains="DNS=curl.example.test"),
        LogLine(tcp=True, cluster=TLS_CLUSTER, sni="httpbin.org",
                downstream_local_port=envoy.sni_port),
        LogLine(tcp=False, protocol="HTTP/1.1", sni="httpbin.org", route_name="default",
                downstream_local_port=envoy.mtls_port, cluster=HTTP_CLUSTER),
    )
    probes: list[probe.ProbeResult] = []

    def gather(result: probe.ProbeResult) -> Observation:
        text = envoy.text_log.read_text() if envoy.text_log.exists() else ""
        return Observation(probe=result, gateway_log=tuple(accesslog.parse_all(text)))

    def attempt() -> Observation:
        result = _run(curl, pki)
        probes.append(result)
        return waits.latest(lambda: gather(result), lambda o: verify(expected, o, ids),
                            timeout=5, interval=0.05)

    final = waits.eventually(attempt, lambda o: verify(expected, o, ids), what="mTLS via SNI",
                             timeout=20, interval=0.05, describe=describe)
    assert len(probes) == 3
    assert final.probe is probes[-1]
    # A wrong identity is caught with both identities in the message.
    wrong = Identities(gateway_ns="istio-system", gateway_sa="other-gateway",
                       client_ns="default", client_sa="curl")
    assert verify([Xfcc()], final, wrong) == [
        "XFCC By: expected spiffe://cluster.local/ns/istio-system/sa/other-gateway, "
        f"got {GATEWAY_SPIFFE}"]
