"""Judge what a probe showed against a check's declared expectations.

The runner gathers one ``Observation`` per attempt (the probe result, the gateway's and the client
sidecar's access-log entries, ztunnel's, the fake's log, the CONNECT proxy's log, gateway cluster
counters);
``verify`` returns the mismatches as one-line strings naming expected and actual, empty when
everything holds. It decides nothing about time: ``egress_e2e.core.waits`` repeats it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from egress_e2e.core.errors import clip
from egress_e2e.evidence import echo, xfcc
from egress_e2e.evidence.accesslog import AccessLogEntry, ConnectEntry
from egress_e2e.evidence.probe import ProbeResult, carries_marker
from egress_e2e.evidence.ztunnel import ZtunnelLogEntry
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
    ZtunnelLine,
)
from egress_e2e.scenario.identity import Identities

# Clocks: the proxies' timestamps come from the node, the probe's from the harness host.
DEFAULT_TIME_SLACK = timedelta(seconds=2)


@dataclass(frozen=True)
class Observation:
    """Everything one attempt of a check saw."""

    probe: ProbeResult
    gateway_log: tuple[AccessLogEntry, ...] = ()
    sidecar_log: tuple[AccessLogEntry, ...] = ()
    fake_log: str = ""
    proxy_log: tuple[ConnectEntry, ...] = ()
    counters_before: Mapping[str, int] = field(default_factory=dict)
    counters_after: Mapping[str, int] = field(default_factory=dict)
    time_slack: timedelta = DEFAULT_TIME_SLACK
    # The run id the fakes stamp on every answer (hosts.PROVENANCE): an answer counts as the
    # fake's only when it carries exactly this value. Empty: no answer counts.
    run_id: str = ""
    # ztunnel's access-log entries (every ztunnel pod's), and whose connections are the
    # probe's: (namespace, pod) of the client. None: any source (a record keeps only the
    # client's lines already).
    ztunnel_log: tuple[ZtunnelLogEntry, ...] = ()
    ztunnel_source: tuple[str, str] | None = None

    def in_window(self, when: datetime) -> bool:
        """Whether ``when`` falls within the probe's run, give or take the clock slack."""
        return self.probe.started - self.time_slack <= when <= self.probe.finished + self.time_slack

    def log_for(self, proxy: str) -> tuple[AccessLogEntry, ...]:
        return self.gateway_log if proxy == "gateway" else self.sidecar_log


def verify(expectations: Sequence[Expectation], observed: Observation,
           identities: Identities) -> list[str]:
    """Every expectation that does not hold, as ``"<what>: expected X, got Y"`` lines."""
    problems: list[str] = []
    for expectation in expectations:
        problems.extend(_check(expectation, observed, identities))
    return problems


def needs_settle_window(expectation: Expectation) -> bool:
    """An absence only means something after waiting: the runner re-checks these over the
    settle window (``waits.stays_absent``)."""
    match expectation:
        case LogLine(present=False) | ProxyConnect(present=False) | FakeSaw(reached=False) \
                | ZtunnelLine(present=False):
            return True
    return False


def describe(observed: Observation, lines: int = 3) -> str:
    """The observation as one line for a WaitTimeout message."""
    result = observed.probe
    parts = [result.summary()]
    if result.body:
        parts.append(f"body {clip(result.body)!r}")
    for proxy in ("gateway", "sidecar"):
        entries = observed.log_for(proxy)
        mine = [e for e in entries if carries_marker(e.user_agent, result.marker)]
        shown = mine or list(entries[-lines:])
        label = "lines for this request" if mine else f"last {len(shown)} lines"
        if entries:
            parts.append(f"{proxy} log {label}: " + " | ".join(e.summary() for e in shown))
    if observed.ztunnel_log:
        mine_z = ztunnel_candidates(observed)
        shown_z = mine_z or list(observed.ztunnel_log[-lines:])
        label = "lines for this probe" if mine_z else f"last {len(shown_z)} lines"
        parts.append(f"ztunnel log {label}: " + " | ".join(e.summary() for e in shown_z))
    if observed.proxy_log:
        parts.append("proxy log: " + " | ".join(
            f"CONNECT {e.target_host}:{e.target_port} {e.response_code}"
            for e in observed.proxy_log[-lines:]))
    return "; ".join(parts)


def _check(  # noqa: PLR0911 (one case a kind)
        expectation: Expectation, observed: Observation, ids: Identities) -> list[str]:
    match expectation:
        case Status() | CurlFails() | Body() | Echoed():
            return _client_side(expectation, observed.probe)
        case Xfcc():
            return _xfcc(expectation, observed.probe, ids)
        case LogLine():
            return _log_line(expectation, observed)
        case FakeSaw():
            return _fake_saw(expectation, observed)
        case ProxyConnect():
            return _proxy_connect(expectation, observed)
        case ClusterCounter():
            return _counter(expectation, observed)
        case ZtunnelLine():
            return _ztunnel_line(expectation, observed)
    raise TypeError(f"unknown expectation {expectation!r}")  # pragma: no cover


def _client_side(expectation: Status | CurlFails | Body | Echoed,
                 result: ProbeResult) -> list[str]:
    match expectation:
        case Status():
            return _status(expectation, result)
        case CurlFails():
            return _curl_fails(expectation, result)
        case Echoed():
            return _echoed(expectation, result)
    if expectation.contains in result.body:
        return []
    return [f"body: expected to contain {expectation.contains!r}, got {clip(result.body)!r}"]


def _status(expectation: Status, result: ProbeResult) -> list[str]:
    if result.status == expectation.code:
        return []
    got = f"HTTP {result.status}" if result.status is not None else str(result.error)
    return [f"status: expected {expectation.code}, got {got} (body {clip(result.body)!r})"]


def _curl_fails(expectation: CurlFails, result: ProbeResult) -> list[str]:
    codes = "/".join(str(code) for code in expectation.exit_codes)
    error = result.error
    if error is None:
        return [f"curl: expected exit {codes}, got success with HTTP {result.status}"]
    problems = []
    if error.exit_code not in expectation.exit_codes:
        problems.append(f"curl: expected exit {codes}, got {error}")
    if expectation.message is not None and expectation.message not in error.message:
        problems.append(f"curl error: expected {expectation.message!r} in it, got {error}")
    return problems


def _echo(result: ProbeResult) -> echo.Headers | str:
    try:
        return echo.parse_headers_body(result.body)
    except ValueError as exc:
        return f"no echo of request headers ({exc}; {result.summary()})"


def _echoed(expectation: Echoed, result: ProbeResult) -> list[str]:
    headers = _echo(result)
    name = expectation.header
    if isinstance(headers, str):
        return [f"echoed {name}: {headers}"]
    if name not in headers:
        return [] if expectation.absent else [f"echoed {name}: expected present, got absent"]
    value = headers[name]
    if expectation.absent:
        return [f"echoed {name}: expected absent, got {value!r}"]
    tests = (("equals", expectation.equals, value == expectation.equals),
             ("starting with", expectation.startswith,
              expectation.startswith is not None and value.startswith(expectation.startswith)),
             ("containing", expectation.contains,
              expectation.contains is not None and expectation.contains in value))
    return [f"echoed {name}: expected {label} {wanted!r}, got {value!r}"
            for label, wanted, held in tests if wanted is not None and not held]


def _xfcc(expectation: Xfcc, result: ProbeResult, ids: Identities) -> list[str]:
    headers = _echo(result)
    if isinstance(headers, str):
        return [f"XFCC: {headers}"]
    if "x-forwarded-client-cert" not in headers:
        return ["XFCC: expected an X-Forwarded-Client-Cert header, got none"]
    try:
        elements = xfcc.parse(headers["x-forwarded-client-cert"])
    except ValueError as exc:
        return [f"XFCC: unreadable header ({exc})"]
    # Each hop appends; the last element is the proxy nearest the fake (the egress gateway).
    nearest = elements[-1]
    problems = []
    want_by, want_uri = ids.spiffe(expectation.by), ids.spiffe(expectation.uri)
    if want_by not in nearest.by:
        problems.append(f"XFCC By: expected {want_by}, got {', '.join(nearest.by) or 'none'}")
    if want_uri not in nearest.uri:
        problems.append(f"XFCC URI: expected {want_uri}, got {', '.join(nearest.uri) or 'none'}")
    return problems


def _candidates(expectation: LogLine, observed: Observation) -> list[AccessLogEntry]:
    """The lines that belong to this probe: HTTP lines by the probe's marker (its User-Agent,
    which every proxy logs as sent; the request id does not survive a gateway); TCP lines (where
    the proxy never saw inside the TLS) by SNI and the probe's time window."""
    entries = observed.log_for(expectation.proxy)
    by_marker = [e for e in entries if carries_marker(e.user_agent, observed.probe.marker)]
    if expectation.tcp is False:
        return by_marker
    sni = (expectation.sni or urlsplit(observed.probe.url).hostname
           if expectation.match_sni else None)
    by_sni = [e for e in entries if e.is_tcp and e.requested_server_name == sni
              and observed.in_window(e.start_time)]
    if expectation.tcp is True:
        return by_sni
    return by_marker or by_sni


def _log_line(expectation: LogLine, observed: Observation) -> list[str]:
    where = f"{expectation.proxy} log"
    candidates = _candidates(expectation, observed)
    wanted = "a TCP line" if expectation.tcp else "a line"
    ident = f"probe {observed.probe.marker}"
    if expectation.tcp is not False and expectation.match_sni:
        ident += f" (or SNI {expectation.sni or urlsplit(observed.probe.url).hostname})"
    elif expectation.tcp is not False:
        ident += " (or a TCP line without SNI in the probe's time window)"
    if not expectation.present:
        if candidates:
            return [f"{where}: expected no line for {ident}, got {candidates[0].summary()}"]
        return []
    if not candidates:
        entries = observed.log_for(expectation.proxy)
        tail = " | ".join(e.summary() for e in entries[-3:]) or "log empty"
        return [f"{where}: expected {wanted} for {ident}, got none; last lines: {tail}"]
    mismatches = [_line_mismatches(expectation, entry) for entry in candidates]
    if any(not found for found in mismatches):
        return []
    return [f"{where} line for {ident}: {found}" for found in mismatches[0]]


def _line_mismatches(expectation: LogLine, entry: AccessLogEntry) -> list[str]:
    checks: list[tuple[str, object, object]] = [
        ("tcp", expectation.tcp, entry.is_tcp),
        ("method", expectation.method, entry.method),
        ("path", expectation.path, entry.path),
        ("protocol", expectation.protocol, entry.protocol),
        ("response_code", expectation.response_code, entry.response_code),
        ("response_flags", expectation.response_flags, entry.response_flags),
        ("cluster", expectation.cluster, entry.upstream_cluster),
        ("sni", expectation.sni, entry.requested_server_name),
        ("downstream_local_port", expectation.downstream_local_port,
         port_of(entry.downstream_local_address)),
        ("route_name", expectation.route_name, entry.route_name),
    ]
    found = [f"{name} expected {want!r}, got {got!r}"
             for name, want, got in checks if want is not None and want != got]
    contains = (("cluster", expectation.cluster_contains, entry.upstream_cluster),
                ("transport failure", expectation.transport_failure_contains,
                 entry.upstream_transport_failure_reason))
    found.extend(f"{name} expected to contain {want!r}, got {got!r}"
                 for name, want, got in contains
                 if want is not None and (got is None or want not in got))
    return found


def port_of(address: str | None) -> int | None:
    """The port of ``1.2.3.4:80`` or ``[::1]:80``; None for ``envoy://...`` and absent values."""
    if address is None or "://" in address:
        return None
    _, _, port = address.rpartition(":")
    return int(port) if port.isdigit() else None


def _fake_saw(expectation: FakeSaw, observed: Observation) -> list[str]:
    result = observed.probe
    stamp = result.headers.get(hosts.PROVENANCE)
    logged = _fake_log_view(observed)
    if not expectation.reached:
        return _fake_not_reached(stamp, logged)
    if stamp is not None and stamp != observed.run_id:
        return [f"fake: expected {hosts.PROVENANCE} {observed.run_id!r} (this run), "
                f"got {stamp!r}"]
    # nginx stamps what it saw on the answer itself (add_header ... always), so proxies in
    # between cannot hide it and its own error answers carry it too. Only when no answer came
    # back (the client saw a TLS error, say) is its log line the witness.
    seen: Mapping[str, str] | None = result.headers if stamp is not None else logged
    if seen is None:
        return [f"fake: expected reached, got no {hosts.PROVENANCE} header and no log line "
                f"for probe {result.marker} ({result.summary()})"]
    where = "" if stamp is not None else " (from its log)"
    wanted: list[tuple[str, str, object]] = [
        ("scheme", hosts.SAW_SCHEME, expectation.scheme),
        ("port", hosts.SAW_PORT, expectation.port),
        ("sni", hosts.SAW_SNI, expectation.sni),
        ("client verify", hosts.SAW_CLIENT_VERIFY, expectation.client_verify),
        ("server block", hosts.SAW_SERVER_BLOCK, expectation.server_block),
    ]
    problems = [f"fake saw {label}{where}: expected {want!r}, got {seen.get(header)!r}"
                for label, header, want in wanted
                if want is not None and seen.get(header) != str(want)]
    subject = expectation.client_subject_contains
    got_subject = seen.get(hosts.SAW_CLIENT_SUBJECT)
    if subject is not None and (got_subject is None or subject not in got_subject):
        problems.append(f"fake saw client subject{where}: expected to contain {subject!r}, "
                        f"got {got_subject!r}")
    return problems


def _fake_not_reached(stamp: str | None, logged: Mapping[str, str] | None) -> list[str]:
    """Any stamp at all (whatever its run), or a line with the probe's marker in the fake's
    log, is a visit."""
    if stamp is not None:
        return [f"fake: expected not reached, got reached (its answer carries "
                f"{hosts.PROVENANCE}: {stamp})"]
    if logged is not None:
        return ["fake: expected not reached, got reached (its log has a line with the probe's "
                "marker)"]
    return []


# The fake's access-log fields (manifests/external/nginx.conf.j2) and the headers that carry
# the same facts on its answers.
_LOG_FIELDS = {"block": hosts.SAW_SERVER_BLOCK, "sni": hosts.SAW_SNI, "port": hosts.SAW_PORT,
               "scheme": hosts.SAW_SCHEME, "proto": hosts.SAW_TLS_PROTOCOL,
               "verify": hosts.SAW_CLIENT_VERIFY, "subject": hosts.SAW_CLIENT_SUBJECT}
_LOG_FIELD = re.compile(r'\b([a-z_]+)=("[^"]*"|\S+)')


def _fake_log_view(observed: Observation) -> dict[str, str] | None:
    """What the fake logged for this probe's request (found by the marker it logs as ``ua``),
    under the response headers' names."""
    for line in observed.fake_log.splitlines():
        fields = {key: value.strip('"') for key, value in _LOG_FIELD.findall(line)}
        if carries_marker(fields.get("ua"), observed.probe.marker):
            return {header: fields[key] for key, header in _LOG_FIELDS.items()
                    if fields.get(key) not in (None, "", "-")}
    return None


def _proxy_connect(expectation: ProxyConnect, observed: Observation) -> list[str]:
    """CONNECTs during the probe to the probe's own host (the tunnel's target is the app's TLS
    destination, which the probe URL names) and port; the present form also needs the answer."""
    host = urlsplit(observed.probe.url).hostname or ""
    port = expectation.target_port
    target = f"{host}:{port}" if port is not None else host
    tunnels = [e for e in observed.proxy_log if observed.in_window(e.start_time)
               and e.target_host == host and (port is None or e.target_port == port)]
    if not expectation.present:
        if tunnels:
            first = tunnels[0]
            return [f"proxy log: expected no CONNECT {target}, got CONNECT "
                    f"{first.target_host}:{first.target_port} {first.response_code} at "
                    f"{first.start_time.isoformat()}"]
        return []
    if not tunnels:
        during = [f"{e.target_host}:{e.target_port} {e.response_code}"
                  for e in observed.proxy_log if observed.in_window(e.start_time)]
        return [f"proxy log: expected a CONNECT {target} during the probe, got "
                f"{', '.join(during) or 'none'} ({len(observed.proxy_log)} CONNECT lines in all)"]
    code = expectation.response_code
    if code is not None and all(e.response_code != code for e in tunnels):
        return [f"proxy log: expected CONNECT {target} answered {code}, got "
                f"{', '.join(str(e.response_code) for e in tunnels)}"]
    return []


def _counter(expectation: ClusterCounter, observed: Observation) -> list[str]:
    before = observed.counters_before.get(expectation.cluster, 0)
    after = observed.counters_after.get(expectation.cluster)
    if after is None:
        return [f"gateway cluster {expectation.cluster}: expected cx_total to grow by "
                f">= {expectation.at_least}, got no such cluster"]
    if after - before < expectation.at_least:
        return [f"gateway cluster {expectation.cluster}: expected cx_total to grow by "
                f">= {expectation.at_least}, got {before} -> {after}"]
    return []


def ztunnel_candidates(observed: Observation) -> list[ZtunnelLogEntry]:
    """The probe's connections in ztunnel's log: outbound, from the client pod (``src.workload``
    is the pod's name, ``src.namespace`` its namespace) and logged in the probe's time window.
    ztunnel sees no HTTP, so the probe's marker cannot find them; the window can, as the client
    runs one probe at a time."""
    source = observed.ztunnel_source
    return [e for e in observed.ztunnel_log
            if e.direction == "outbound" and observed.in_window(e.time)
            and (source is None or (e.src_namespace, e.src_workload) == source)]


def _ztunnel_line(expectation: ZtunnelLine, observed: Observation) -> list[str]:
    source = observed.ztunnel_source
    ident = (f"{source[0]}/{source[1]}" if source else "the client") + \
        "'s outbound connection in the probe's time window"
    candidates = ztunnel_candidates(observed)
    if not expectation.present:
        if candidates:
            return [f"ztunnel log: expected no line for {ident}, got {candidates[0].summary()}"]
        return []
    if not candidates:
        tail = " | ".join(e.summary() for e in observed.ztunnel_log[-3:]) or "log empty"
        return [f"ztunnel log: expected a line for {ident}, got none; last lines: {tail}"]
    mismatches = [_ztunnel_mismatches(expectation, entry) for entry in candidates]
    if any(not found for found in mismatches):
        return []
    return [f"ztunnel log line for {ident}: {found}" for found in mismatches[0]]


def _ztunnel_mismatches(expectation: ZtunnelLine, entry: ZtunnelLogEntry) -> list[str]:
    checks: list[tuple[str, object, object]] = [
        ("via_waypoint", expectation.via_waypoint, entry.via_hbone),
        ("dst_service", expectation.dst_service, entry.dst_service),
        ("dst_port", expectation.dst_port, port_of(entry.dst_addr)),
        ("ok", expectation.ok, entry.ok),
    ]
    found = [f"{name} expected {want!r}, got {got!r} ({entry.summary()})"
             for name, want, got in checks if want is not None and want != got]
    wanted_error = expectation.error_contains
    if wanted_error is not None and (entry.error is None or wanted_error not in entry.error):
        found.append(f"error expected to contain {wanted_error!r}, got {entry.error!r}")
    least, got_bytes = expectation.bytes_recv_at_least, entry.bytes_recv
    if least is not None and (got_bytes is None or got_bytes < least):
        found.append(f"bytes_recv expected >= {least}, got {got_bytes!r}")
    return found


# <cluster>::<host:port>::<stat>::<value>; the host may be an IPv6 "[2001:db8::1]:443".
_CLUSTER_STAT = re.compile(r"^(?P<cluster>[^:]+)::(?P<host>.+)::(?P<stat>[a-z_]+)::(?P<value>\d+)$")


def cluster_counters(clusters_output: str, stat: str = "cx_total") -> dict[str, int]:
    """Sum a per-host stat per cluster from ``pilot-agent request GET clusters`` output
    (``outbound|443||www.wikipedia.org::185.15.59.224:443::cx_total::5``)."""
    totals: dict[str, int] = {}
    for line in clusters_output.splitlines():
        match = _CLUSTER_STAT.match(line.strip())
        if match is None or match["stat"] != stat:
            continue
        totals[match["cluster"]] = totals.get(match["cluster"], 0) + int(match["value"])
    return totals
