"""Evidence for the report from a real probe (curl against a local echo server) and real
access-log lines parsed by the harness's parser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from egress_e2e.core.localproc import LOOPBACK, free_port, serving
from egress_e2e.evidence import accesslog, probe
from egress_e2e.evidence.verify import Observation
from egress_e2e.report.evidence import from_observation
from egress_e2e.scenario.expectations import Echoed, LogLine, Status
from egress_e2e.scenario.model import Check, Curl


class _Echo(BaseHTTPRequestHandler):
    """httpbin's /headers shape: the request headers as the server saw them."""

    def do_GET(self) -> None:
        body = json.dumps({"headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def echo_url() -> Iterator[str]:
    with serving(ThreadingHTTPServer((LOOPBACK, 0), _Echo)) as server:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/headers"


def log_line(request_id: str, when: datetime, *, tcp: bool = False, agent: str = "curl/8") -> str:
    stamp = when.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    if tcp:
        return (f'[{stamp}] "- - -" 0 - - - "-" 800 4000 20 - "-" "-" "-" "-" '
                '"172.18.0.9:443" outbound|443||httpbin.org 10.244.0.12:40112 '
                "10.244.0.12:443 10.244.0.7:51234 httpbin.org -")
    return (f'[{stamp}] "GET /headers HTTP/1.1" 200 - via_upstream - "-" 0 312 18 17 '
            f'"10.244.0.7" "{agent}" "{request_id}" "httpbin.org" "172.18.0.9:80" '
            "outbound|80||httpbin.org 10.244.0.12:40112 10.244.0.12:8080 10.244.0.7:51234 - -")


def test_status_key_headers_and_this_requests_gateway_line(echo_url: str) -> None:
    # The headers a gateway would have added, sent here by curl itself so the echo is real.
    curl = Curl(echo_url, extra_args=("-H", "X-Envoy-Decorator-Operation: httpbin.org:80/*",
                                      "-H", "X-Envoy-Internal: true", "-H", "X-Marker: m1"))
    check = Check("via gateway", curl, (Status(200), Echoed("X-Marker", equals="m1"), LogLine()))
    prepared = probe.prepare(curl)
    result = probe.run_local(prepared)
    now = datetime.now(UTC)
    observed = Observation(result, gateway_log=(
        accesslog.parse(log_line("someone-else", now)),
        # A gateway's line: its own request id, the probe's marker as the User-Agent.
        accesslog.parse(log_line("regenerated-by-gateway", now, agent=prepared.marker)),
    ))
    seen = from_observation(check, observed)
    assert seen.check == "via gateway" and seen.status == 200
    headers = dict(seen.headers)
    assert headers["X-Envoy-Decorator-Operation"] == "httpbin.org:80/*"
    assert headers["X-Envoy-Internal"] == "true"
    assert headers["X-Marker"] == "m1"  # named by the check's Echoed expectation
    assert "X-Envoy-Peer-Metadata-Id" not in headers  # absent stays absent
    assert seen.gateway_log is not None and "regenerated-by-gateway" in seen.gateway_log
    assert seen.note == ""


def test_failed_probe_keeps_curls_error_and_the_mismatches() -> None:
    curl = Curl(f"http://{LOOPBACK}:{free_port()}/headers", timeout_s=5)
    check = Check("refused", curl, (Status(200),))
    result = probe.run_local(probe.prepare(curl))
    seen = from_observation(check, Observation(result), ["status: expected 200, got none"])
    assert seen.status is None and seen.headers == () and seen.gateway_log is None
    assert seen.note.startswith("curl exit 7")
    assert seen.note.endswith("; status: expected 200, got none")


def test_tcp_check_takes_the_tcp_line_in_the_probe_window(echo_url: str) -> None:
    curl = Curl(echo_url)
    check = Check("passthrough", curl, (LogLine(tcp=True, sni="httpbin.org"),))
    result = probe.run_local(probe.prepare(curl))
    old = datetime(2020, 1, 1, tzinfo=UTC)
    observed = Observation(result, gateway_log=(
        accesslog.parse(log_line("-", old, tcp=True)),
        accesslog.parse(log_line("-", result.started, tcp=True)),
    ))
    seen = from_observation(check, observed)
    assert seen.gateway_log is not None
    assert "TCP sni=httpbin.org" in seen.gateway_log and "2020" not in seen.gateway_log
