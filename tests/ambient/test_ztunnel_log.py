"""ztunnel access-log lines, parsed from lines written to ztunnel's own format.

The lines are built the way ztunnel release-1.31 writes them: src/telemetry.rs (IstioFormat:
time, TAB, level, TAB, target, TAB, message, TAB, space-separated k=v with Rust Debug quoting for
strings; IstioJsonFormat: level/time/scope/message keys) and src/proxy/metrics.rs (the access_log!
fields in order, bytes unflipped for logs, duration as "<n>ms", error on failures). The
README's example (src.addr ... duration="13ms") is the shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from egress_e2e.evidence import ztunnel

CLIENT_NS = "ambient-waypoint-http-3f2a1b"
EGRESS_NS = "ambient-waypoint-http-gw-3f2a1b"

# The client's ztunnel, for a request to httpbin.org bound to the egress waypoint: the
# connection goes to the waypoint pod's HBONE port, the tunnel carries the service VIP:80.
VIA_WAYPOINT = (
    "2026-12-01T22:41:07.123456Z\tinfo\taccess\tconnection complete\t"
    "src.addr=10.244.0.24:46238 src.workload=\"curl\" "
    f"src.namespace=\"{CLIENT_NS}\" "
    f"src.identity=\"spiffe://cluster.local/ns/{CLIENT_NS}/sa/curl\" "
    "dst.addr=10.244.0.42:15008 dst.hbone_addr=240.240.0.3:80 dst.service=\"httpbin.org\" "
    f"dst.workload=\"waypoint-7c9d8f6b5-x2x4q\" dst.namespace=\"{EGRESS_NS}\" "
    f"dst.identity=\"spiffe://cluster.local/ns/{EGRESS_NS}/sa/waypoint\" "
    "direction=\"outbound\" bytes_sent=67 bytes_recv=490 duration=\"13ms\"\n"
)
# A ServiceEntry bound to no waypoint: ztunnel connects straight to the resolved address; no
# HBONE, no peer identity (src.identity is logged only for mTLS connections).
DIRECT = (
    "2026-12-01T22:41:09.000001Z\tinfo\taccess\tconnection complete\t"
    "src.addr=10.244.0.24:46240 src.workload=\"curl\" "
    f"src.namespace=\"{CLIENT_NS}\" "
    "dst.addr=172.18.0.9:80 dst.service=\"jsonplaceholder.typicode.com\" "
    "direction=\"outbound\" bytes_sent=98 bytes_recv=512 duration=\"4ms\"\n"
)
# Blocked by a NetworkPolicy on the way to the waypoint: ERROR level, with the error text of
# proxy::Error::MaybeHBONENetworkPolicyError (src/proxy.rs).
BLOCKED = (
    "2026-12-01T22:41:15.500000Z\terror\taccess\tconnection complete\t"
    "src.addr=10.244.0.24:46250 src.workload=\"curl\" "
    f"src.namespace=\"{CLIENT_NS}\" "
    "dst.addr=10.244.0.42:15008 dst.hbone_addr=240.240.0.3:80 dst.service=\"httpbin.org\" "
    "direction=\"outbound\" bytes_sent=0 bytes_recv=0 duration=\"10001ms\" "
    "error=\"connection timed out, maybe a NetworkPolicy is blocking HBONE port 15008: "
    "deadline has elapsed\"\n"
)
# Refused before ztunnel knew enough for a full record (metrics.rs log_early_deny): the
# outbound path's one early deny without a workload lookup, a pod calling one of ztunnel's own
# ports on loopback (src/proxy/outbound.rs, Error::SelfCall in src/proxy.rs).
EARLY_DENY = (
    "2026-12-01T22:41:16.000000Z\twarn\taccess\tconnection failed\t"
    "src.addr=127.0.0.1:46252 dst.addr=127.0.0.1:15001 direction=\"outbound\" "
    "error=\"attempted recursive call to ourselves\"\n"
)
# ztunnel's other lines in the same pod log.
OTHER = [
    "2026-12-01T22:40:01.000000Z\tinfo\tztunnel\tversion: version.BuildInfo{Version:\"1.31.1\"}",
    "2026-12-01T22:40:02.000000Z\tinfo\txds::client:xds{id=1}\tStream established",
    "2026-12-01T22:40:03.000000Z\twarn\tinpod::statemanager\tpod not found, will retry",
    "",
]


def test_a_connection_through_the_waypoint() -> None:
    entry = ztunnel.parse(VIA_WAYPOINT)
    assert entry.time == datetime(2026, 12, 1, 22, 41, 7, 123456, tzinfo=UTC)
    assert entry.level == "info" and entry.message == "connection complete" and entry.ok
    assert entry.src_workload == "curl" and entry.src_namespace == CLIENT_NS
    assert entry.src_identity == f"spiffe://cluster.local/ns/{CLIENT_NS}/sa/curl"
    assert entry.dst_addr == "10.244.0.42:15008"
    assert entry.dst_hbone_addr == "240.240.0.3:80"
    assert entry.dst_service == "httpbin.org" and entry.dst_workload.startswith("waypoint-")
    assert entry.dst_identity == f"spiffe://cluster.local/ns/{EGRESS_NS}/sa/waypoint"
    assert entry.direction == "outbound" and entry.via_hbone
    assert (entry.bytes_sent, entry.bytes_recv, entry.duration_ms) == (67, 490, 13)


def test_a_direct_connection_is_not_hbone() -> None:
    entry = ztunnel.parse(DIRECT)
    assert entry.ok and not entry.via_hbone
    assert entry.dst_hbone_addr is None and entry.src_identity is None
    assert entry.dst_service == "jsonplaceholder.typicode.com"


def test_a_failed_connection_carries_its_error() -> None:
    entry = ztunnel.parse(BLOCKED)
    assert entry.level == "error" and not entry.ok
    assert entry.error == ("connection timed out, maybe a NetworkPolicy is blocking HBONE port "
                           "15008: deadline has elapsed")
    assert entry.duration_ms == 10001 and entry.bytes_sent == 0
    assert "error=connection timed out" in entry.summary()
    early = ztunnel.parse(EARLY_DENY)
    assert early.message == "connection failed" and not early.ok
    assert early.src_workload is None and early.error == "attempted recursive call to ourselves"
    assert early.dst_addr == "127.0.0.1:15001" and not early.via_hbone


def test_debug_quoting_is_undone() -> None:
    line = ("2026-12-01T22:41:07Z\tinfo\taccess\tconnection complete\t"
            'src.addr=10.0.0.1:1 src.workload="a \\"quoted\\" name\\\\x" '
            'error="line\\nbreak \\u{e9}" direction="outbound"')
    entry = ztunnel.parse(line)
    assert entry.src_workload == 'a "quoted" name\\x'
    assert entry.error == "line\nbreak \u00e9"
    assert entry.time == datetime(2026, 12, 1, 22, 41, 7, tzinfo=UTC)


def test_json_lines_carry_the_same_fields() -> None:
    # LOG_FORMAT=json: the same event as VIA_WAYPOINT, keys as ztunnel's JsonVisitory writes
    # them (numbers as numbers, display values as strings).
    line = json.dumps({
        "level": "info", "time": "2026-12-01T22:41:07.123456Z", "scope": "access",
        "message": "connection complete", "src.addr": "10.244.0.24:46238",
        "src.workload": "curl", "src.namespace": CLIENT_NS,
        "dst.addr": "10.244.0.42:15008", "dst.hbone_addr": "240.240.0.3:80",
        "dst.service": "httpbin.org", "direction": "outbound", "bytes_sent": 67,
        "bytes_recv": 490, "duration": "13ms"})
    entry = ztunnel.parse(line)
    text = ztunnel.parse(VIA_WAYPOINT)
    assert entry.time == text.time and entry.via_hbone and entry.ok
    for key in ("src.addr", "src.workload", "dst.addr", "dst.hbone_addr", "dst.service",
                "direction", "bytes_sent", "bytes_recv", "duration"):
        assert entry.get(key) == text.get(key), key
    with pytest.raises(ValueError, match="not a ztunnel access-log line"):
        ztunnel.parse(json.dumps({"level": "info", "time": "x", "scope": "xds",
                                  "message": "m"}))


@pytest.mark.parametrize("line", [*OTHER[:3], "[2026-12-01T22:41:07.000Z] \"GET / HTTP/1.1\" 200"])
def test_other_lines_are_rejected(line: str) -> None:
    with pytest.raises(ValueError):
        ztunnel.parse(line)


def test_a_pod_log_is_filtered_to_one_clients_outbound_connections() -> None:
    inbound = VIA_WAYPOINT.replace('direction="outbound"', 'direction="inbound"')
    other = DIRECT.replace('src.workload="curl"', 'src.workload="curl-uninjected"')
    log = "\n".join([*OTHER, VIA_WAYPOINT, DIRECT, BLOCKED, inbound, other, EARLY_DENY])
    entries = ztunnel.parse_all(log)
    assert len(entries) == 6
    mine = ztunnel.connections(entries, src_workload="curl", src_namespace=CLIENT_NS)
    assert [e.dst_service for e in mine] == ["httpbin.org", "jsonplaceholder.typicode.com",
                                             "httpbin.org"]
    later = ztunnel.connections(entries, src_workload="curl",
                                since=datetime(2026, 12, 1, 22, 41, 8, tzinfo=UTC))
    assert [e.ok for e in later] == [True, False]
