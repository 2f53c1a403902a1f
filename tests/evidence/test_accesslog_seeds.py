"""Every access-log line recorded in the seed documents, with its fields written out by hand."""

from __future__ import annotations

import re
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path

import pytest

from egress_e2e.evidence import accesslog

from .seed_lines import (
    S001_HTTP_VIA_GATEWAY,
    S001_ISTIO_MUTUAL,
    S001_ISTIO_MUTUAL_PLAIN,
    S001_PASSTHROUGH,
    S001_TLS_ORIGINATION,
    S002_GOOGLE,
    S003_GATEWAY_DE,
    S003_GATEWAY_EN,
    S003_SIDECAR_DE,
    S003_SIDECAR_EN,
    S004_CONNECT_GOOGLE,
    S004_CONNECT_WIKIPEDIA,
)

SEEDS = Path("/work/shared/seeds")

# What every proxied HTTP line (and every TCP line) in the seeds shares.
HTTP_BASE: dict[str, object] = dict(
    response_code=200,
    response_flags=None,
    response_code_details="via_upstream",
    connection_termination_details=None,
    upstream_transport_failure_reason=None,
    bytes_received=0,
    route_name=None,
)
TCP_BASE: dict[str, object] = dict(
    method=None,
    path=None,
    protocol=None,
    response_code=0,
    response_flags=None,
    response_code_details=None,
    connection_termination_details=None,
    upstream_transport_failure_reason=None,
    upstream_service_time_ms=None,
    x_forwarded_for=None,
    user_agent=None,
    request_id=None,
    authority=None,
    route_name=None,
)


def _t(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


WILDCARD = "outbound|443|wildcard|egressgateway.istio-egress.svc.cluster.local"
EXPECTED: dict[str, tuple[str, dict[str, object]]] = {
    "001-http-via-gateway": (
        S001_HTTP_VIA_GATEWAY,
        dict(
            HTTP_BASE,
            start_time=_t("2024-06-21T19:24:00.453"),
            method="GET",
            path="/headers",
            protocol="HTTP/2",
            bytes_sent=1450,
            duration_ms=57,
            upstream_service_time_ms=57,
            x_forwarded_for="10.244.0.7",
            user_agent="curl/7.83.1-DEV",
            request_id="51ed62d9-1da8-4250-9923-df406ca9fd57",
            authority="httpbin.org",
            upstream_host="3.213.1.197:80",
            upstream_cluster="outbound|80||httpbin.org",
            upstream_local_address="10.244.0.6:41144",
            downstream_local_address="10.244.0.6:8080",
            downstream_remote_address="10.244.0.7:55490",
            requested_server_name=None,
        ),
    ),
    "001-tls-origination": (
        S001_TLS_ORIGINATION,
        dict(
            HTTP_BASE,
            start_time=_t("2024-06-21T19:32:56.681"),
            method="GET",
            path="/headers",
            protocol="HTTP/2",
            bytes_sent=1451,
            duration_ms=111,
            upstream_service_time_ms=111,
            x_forwarded_for="10.244.0.7",
            user_agent="curl/7.83.1-DEV",
            request_id="1f00a5df-5e92-4753-8c52-248de5c3d73a",
            authority="httpbin.org",
            upstream_host="3.213.1.197:443",
            upstream_cluster="outbound|443||httpbin.org",
            upstream_local_address="10.244.0.6:57676",
            downstream_local_address="10.244.0.6:8080",
            downstream_remote_address="10.244.0.7:34850",
            requested_server_name=None,
        ),
    ),
    "001-istio-mutual": (
        S001_ISTIO_MUTUAL,
        dict(
            HTTP_BASE,
            start_time=_t("2024-06-21T19:50:33.667"),
            method="GET",
            path="/headers",
            protocol="HTTP/1.1",
            bytes_sent=2997,
            duration_ms=109,
            upstream_service_time_ms=108,
            x_forwarded_for="10.244.0.7",
            user_agent="curl/7.83.1-DEV",
            request_id="0db0a05e-6c1e-4a8a-b932-0f582340d36e",
            authority="httpbin.org",
            upstream_host="3.211.196.247:443",
            upstream_cluster="outbound|443||httpbin.org",
            upstream_local_address="10.244.0.6:42264",
            downstream_local_address="10.244.0.6:8443",
            downstream_remote_address="10.244.0.7:54554",
            requested_server_name="httpbin.org",
        ),
    ),
    "001-passthrough": (
        S001_PASSTHROUGH,
        dict(
            TCP_BASE,
            start_time=_t("2024-06-21T21:22:27.560"),
            bytes_received=940,
            bytes_sent=5946,
            duration_ms=156,
            upstream_host="18.211.234.122:443",
            upstream_cluster="outbound|443||httpbin.org",
            upstream_local_address="10.244.0.6:50356",
            downstream_local_address="10.244.0.6:8443",
            downstream_remote_address="10.244.0.7:51628",
            requested_server_name="httpbin.org",
        ),
    ),
    "001-istio-mutual-plain-http": (
        S001_ISTIO_MUTUAL_PLAIN,
        dict(
            HTTP_BASE,
            start_time=_t("2024-06-24T21:29:03.272"),
            method="GET",
            path="/headers",
            protocol="HTTP/1.1",
            bytes_sent=3157,
            duration_ms=67,
            upstream_service_time_ms=67,
            x_forwarded_for="10.244.0.7",
            user_agent="curl/7.83.1-DEV",
            request_id="a925dde7-a7ac-4e1b-b33d-0b5c4403b791",
            authority="httpbin.org",
            upstream_host="44.195.190.188:80",
            upstream_cluster="outbound|80||httpbin.org",
            upstream_local_address="10.244.0.6:56744",
            downstream_local_address="10.244.0.6:8443",
            downstream_remote_address="10.244.0.7:57726",
            requested_server_name="httpbin.org",
        ),
    ),
    "002-google": (
        S002_GOOGLE,
        dict(
            HTTP_BASE,
            start_time=_t("2021-09-10T16:47:30.115"),
            method="GET",
            path="/",
            protocol="HTTP/2",
            bytes_sent=14892,
            duration_ms=141,
            upstream_service_time_ms=123,
            x_forwarded_for="192.168.77.145",
            user_agent="curl/7.64.0",
            request_id="a829b98e-001a-41af-9e0e-1bea4f163111",
            authority="www.google.com",
            upstream_host="142.250.191.196:80",
            upstream_cluster="outbound|80||www.google.com",
            upstream_local_address="192.168.29.202:39050",
            downstream_local_address="192.168.29.202:8080",
            downstream_remote_address="192.168.77.145:52826",
            requested_server_name=None,
        ),
    ),
    "003-sidecar-en": (
        S003_SIDECAR_EN,
        dict(
            TCP_BASE,
            start_time=_t("2024-05-07T13:21:52.793"),
            bytes_received=813,
            bytes_sent=111152,
            duration_ms=61,
            upstream_host="172.17.5.170:8443",
            upstream_cluster=WILDCARD,
            upstream_local_address="172.17.34.35:55102",
            downstream_local_address="208.80.153.224:443",
            downstream_remote_address="172.17.34.35:37020",
            requested_server_name="en.wikipedia.org",
        ),
    ),
    "003-sidecar-de": (
        S003_SIDECAR_DE,
        dict(
            TCP_BASE,
            start_time=_t("2024-05-07T13:21:52.994"),
            bytes_received=821,
            bytes_sent=92848,
            duration_ms=55,
            upstream_host="172.17.5.170:8443",
            upstream_cluster=WILDCARD,
            upstream_local_address="172.17.34.35:55108",
            downstream_local_address="208.80.153.224:443",
            downstream_remote_address="172.17.34.35:37030",
            requested_server_name="de.wikipedia.org",
        ),
    ),
    "003-gateway-de": (
        S003_GATEWAY_DE,
        dict(
            TCP_BASE,
            start_time=_t("2024-04-30T16:19:15.866"),
            bytes_received=806,
            bytes_sent=5378,
            duration_ms=82,
            upstream_host="185.15.59.224:443",
            upstream_cluster="dynamic_forward_proxy_cluster",
            upstream_local_address="10.1.1.172:58604",
            downstream_local_address="envoy://sni_listener/",
            downstream_remote_address="envoy://internal_client_address/",
            requested_server_name="de.wikipedia.org",
        ),
    ),
    "003-gateway-en": (
        S003_GATEWAY_EN,
        dict(
            TCP_BASE,
            start_time=_t("2024-04-30T16:17:57.241"),
            bytes_received=806,
            bytes_sent=5367,
            duration_ms=58,
            upstream_host="185.15.59.224:443",
            upstream_cluster="dynamic_forward_proxy_cluster",
            upstream_local_address="10.1.1.172:58156",
            downstream_local_address="envoy://sni_listener/",
            downstream_remote_address="envoy://internal_client_address/",
            requested_server_name="en.wikipedia.org",
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_seed_line_parses_to_its_written_out_fields(name: str) -> None:
    line, expected = EXPECTED[name]
    assert set(expected) == {f.name for f in fields(accesslog.AccessLogEntry)}
    entry = accesslog.parse(line)
    actual = {key: getattr(entry, key) for key in expected}
    assert actual == expected
    assert entry.is_tcp == (expected["method"] is None)
    assert entry.start_time.utcoffset() is not None


def test_parse_all_keeps_access_lines_and_skips_proxy_chatter() -> None:
    log = "\n".join(
        [
            "2024-06-21T19:20:01.123456Z\tinfo\tEnvoy proxy is ready",
            S001_HTTP_VIA_GATEWAY,
            "2024-06-21T19:20:02.000000Z\twarning\tenvoy config\tgRPC config stream closed: 13, ",
            "",
            S001_PASSTHROUGH,
            '{"level":"info","time":"2024-06-21T19:20:03Z","msg":"xds push"}',
        ]
    )
    entries = accesslog.parse_all(log)
    assert [e.request_id for e in entries] == ["51ed62d9-1da8-4250-9923-df406ca9fd57", None]
    assert [e.is_tcp for e in entries] == [False, True]


@pytest.mark.parametrize(
    "line",
    [
        "2024-06-21T19:20:01.123456Z\tinfo\tEnvoy proxy is ready",
        '{"level":"info","msg":"not an access log"}',
        "{not json",
        S004_CONNECT_GOOGLE,
        "",
    ],
)
def test_non_access_lines_raise_value_error(line: str) -> None:
    with pytest.raises(ValueError, match="access-log"):
        accesslog.parse(line)


def test_istio_1_22_line_with_upstream_cluster_in_the_same_slot() -> None:
    # 1.22 prints %UPSTREAM_CLUSTER% where 1.23+ prints %UPSTREAM_CLUSTER_RAW%: the same value
    # for outbound clusters, so the seed's 1.22.1 lines (001) parse with the same grammar.
    entry = accesslog.parse(S001_TLS_ORIGINATION)
    assert entry.upstream_cluster == "outbound|443||httpbin.org"


def test_user_agent_with_embedded_quotes_and_empty_sni() -> None:
    line = (
        '[2026-11-21T10:00:00.000Z] "GET /status/418?x=\\"y\\" HTTP/1.1" 503 UF,URX '
        "upstream_reset_before_response_started{remote_connection_failure|delayed_connect_error:"
        '_Connection_refused} - "delayed_connect_error:_Connection_refused" 0 91 2 - '
        '"-" "agent "quoted" v1" "rid-1" "h:80" "127.0.0.1:1" outbound_.80_._.host - '
        "127.0.0.1:15001 [::1]:40000  allow_any"
    )
    entry = accesslog.parse(line)
    assert entry.user_agent == 'agent "quoted" v1'
    assert entry.path == '/status/418?x=\\"y\\"'
    assert entry.response_flags == "UF,URX"
    assert entry.response_code_details == (
        "upstream_reset_before_response_started{remote_connection_failure|"
        "delayed_connect_error:_Connection_refused}"
    )
    assert entry.upstream_cluster == "outbound_.80_._.host"
    assert entry.downstream_remote_address == "[::1]:40000"
    assert entry.requested_server_name is None
    assert entry.route_name == "allow_any"
    assert entry.upstream_service_time_ms is None


@pytest.mark.parametrize(
    ("line", "target", "peer"),
    [
        (S004_CONNECT_GOOGLE, "216.58.209.4", "192.168.56.20:47191"),
        (S004_CONNECT_WIKIPEDIA, "91.198.174.192", "192.168.56.20:59205"),
    ],
)
def test_seed_004_connect_proxy_lines(line: str, target: str, peer: str) -> None:
    entry = accesslog.parse_connect(line)
    assert entry.target_host == target
    assert entry.target_port == 443
    assert entry.downstream_remote_address == peer
    assert entry.protocol == "HTTP/1.1"
    assert entry.response_code == 200
    assert entry.response_flags == "DC"
    assert entry.start_time.tzinfo is not None


def test_connect_parser_rejects_istio_lines() -> None:
    with pytest.raises(ValueError, match="CONNECT"):
        accesslog.parse_connect(S001_PASSTHROUGH)
    assert accesslog.parse_connect_all(
        f"{S004_CONNECT_GOOGLE}\nnoise\n# {S004_CONNECT_WIKIPEDIA}"
    ) == [accesslog.parse_connect(S004_CONNECT_GOOGLE)]


@pytest.mark.skipif(not SEEDS.is_dir(), reason="seed documents not on this machine")
def test_fixtures_cover_every_access_log_line_in_the_seeds() -> None:
    # Lines shown as shell comments (seed 004 repeats its CONNECT lines) count once.
    known = {line for line, _ in EXPECTED.values()} | {S004_CONNECT_GOOGLE, S004_CONNECT_WIKIPEDIA}
    found = set()
    for seed in sorted(SEEDS.glob("*.txt")):
        for raw in seed.read_text(encoding="utf-8").splitlines():
            line = re.sub(r"^\s*#\s*", "", raw).strip()
            if re.match(r"^\[\d{4}-\d\d-\d\dT", line):
                found.add(line)
    assert found == known
