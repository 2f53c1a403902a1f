"""Envoy access-log lines as Istio prints them, parsed into one typed record.

Istio's default TEXT format (1.23+ prints ``%UPSTREAM_CLUSTER_RAW%``, 1.22 ``%UPSTREAM_CLUSTER%``
in the same slot) and its JSON encoding (``meshConfig.accessLogEncoding: JSON``) carry the same
fields; both become an ``AccessLogEntry``. istio-proxy interleaves its own info/warning lines,
which ``parse`` rejects and ``parse_all`` skips.

Also here: the fake CONNECT proxy's (seed 004) access-log line, which uses its own short format.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from egress_e2e.core.errors import clip

_Entry = TypeVar("_Entry")

# Istio's default TEXT access-log format (1.23+), as istiod writes it into every proxy's access
# log config (pilot/pkg/model/telemetry_logging.go); the parser below reads lines of it, and the
# offline tests run real Envoy with it.
ISTIO_TEXT_FORMAT = (
    '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" '
    '%RESPONSE_CODE% %RESPONSE_FLAGS% %RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS% '
    '"%UPSTREAM_TRANSPORT_FAILURE_REASON%" %BYTES_RECEIVED% %BYTES_SENT% %DURATION% '
    '%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)% "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" '
    '"%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%" %UPSTREAM_CLUSTER_RAW% '
    '%UPSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_LOCAL_ADDRESS% %DOWNSTREAM_REMOTE_ADDRESS% '
    '%REQUESTED_SERVER_NAME% %ROUTE_NAME%\n'
)

# Envoy does not escape a double quote inside a quoted field, so the User-Agent (the one field a
# client controls freely) is matched greedily between its neighbours; the fields around it cannot
# contain quotes (ids, host names, addresses). Unquoted fields never hold spaces: Envoy turns
# spaces in response-code details into underscores.
_TEXT = re.compile(
    r'^\[(?P<start_time>[^\]]+)\] '
    r'"(?P<method>\S+) (?P<path>.*?) (?P<protocol>\S+)" '
    r'(?P<response_code>\d+) (?P<response_flags>\S+) (?P<response_code_details>\S+) '
    r'(?P<connection_termination_details>\S+) '
    r'"(?P<upstream_transport_failure_reason>[^"]*)" '
    r'(?P<bytes_received>\d+) (?P<bytes_sent>\d+) (?P<duration>\d+|-) '
    r'(?P<upstream_service_time>\d+|-) '
    r'"(?P<x_forwarded_for>[^"]*)" "(?P<user_agent>.*)" "(?P<request_id>[^"]*)" '
    r'"(?P<authority>[^"]*)" "(?P<upstream_host>[^"]*)" '
    # The last six slots; an empty value (seen for SNI in some proxies) leaves a double space.
    r'(?P<upstream_cluster>\S*) (?P<upstream_local_address>\S*) '
    r'(?P<downstream_local_address>\S*) (?P<downstream_remote_address>\S*) '
    r'(?P<requested_server_name>\S*) (?P<route_name>\S*)$'
)

# JSON keys Istio uses for accessLogEncoding: JSON (its default JSON format).
_JSON_REQUIRED = ("start_time", "response_code", "bytes_received", "bytes_sent")

_STRING_FIELDS = (
    "method", "path", "protocol", "response_flags", "response_code_details",
    "connection_termination_details", "upstream_transport_failure_reason", "x_forwarded_for",
    "user_agent", "request_id", "authority", "upstream_host", "upstream_cluster",
    "upstream_local_address", "downstream_local_address", "downstream_remote_address",
    "requested_server_name", "route_name",
)


@dataclass(frozen=True)
class AccessLogEntry:
    """One request (HTTP) or connection (TCP) as an Envoy proxy logged it."""

    start_time: datetime
    method: str | None
    path: str | None
    protocol: str | None
    response_code: int
    response_flags: str | None
    response_code_details: str | None
    connection_termination_details: str | None
    upstream_transport_failure_reason: str | None
    bytes_received: int
    bytes_sent: int
    duration_ms: int | None
    upstream_service_time_ms: int | None
    x_forwarded_for: str | None
    user_agent: str | None
    request_id: str | None
    authority: str | None
    upstream_host: str | None
    upstream_cluster: str | None
    upstream_local_address: str | None
    downstream_local_address: str | None
    downstream_remote_address: str | None
    requested_server_name: str | None
    route_name: str | None

    @property
    def is_tcp(self) -> bool:
        """A TCP proxy line: no method, path or protocol (``"- - -"``)."""
        return self.method is None and self.path is None and self.protocol is None

    def summary(self) -> str:
        """A short one-line form for error messages."""
        if self.is_tcp:
            head = f"TCP sni={self.requested_server_name or '-'}"
        else:
            head = f"{self.method} {self.path} {self.protocol} {self.response_code}"
        return (f"[{self.start_time.isoformat()}] {head} flags={self.response_flags or '-'} "
                f"cluster={self.upstream_cluster or '-'} id={self.request_id or '-'}")


def parse(line: str) -> AccessLogEntry:
    """Parse one TEXT or JSON access-log line; ValueError for anything else."""
    text = line.strip()
    if text.startswith("{"):
        return _parse_json(text)
    match = _TEXT.match(text)
    if match is None:
        raise ValueError(f"not an Envoy access-log line: {clip(text)}")
    fields = match.groupdict()
    strings = {name: _dash_to_none(fields[name]) for name in _STRING_FIELDS}
    return AccessLogEntry(
        start_time=_time(fields["start_time"]),
        response_code=int(fields["response_code"]),
        bytes_received=int(fields["bytes_received"]),
        bytes_sent=int(fields["bytes_sent"]),
        duration_ms=_optional_int(fields["duration"]),
        upstream_service_time_ms=_optional_int(fields["upstream_service_time"]),
        **strings,
    )


def parse_all(text: str) -> list[AccessLogEntry]:
    """Every access-log line in ``text`` (a container log), skipping the proxy's other lines."""
    return _parse_lines(text, parse)


def _parse_lines(text: str, parse_line: Callable[[str], _Entry]) -> list[_Entry]:
    entries = []
    for line in text.splitlines():
        try:
            entries.append(parse_line(line))
        except ValueError:
            continue  # not a line of this kind: the proxy's own messages
    return entries


def _parse_json(text: str) -> AccessLogEntry:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not an Envoy access-log line (bad JSON): {clip(text)}") from exc
    if not isinstance(data, dict) or any(key not in data for key in _JSON_REQUIRED):
        raise ValueError(f"JSON line lacks access-log keys {_JSON_REQUIRED}: {clip(text)}")
    strings = {name: _json_string(data, name) for name in _STRING_FIELDS}
    return AccessLogEntry(
        start_time=_time(str(data["start_time"])),
        response_code=_json_int(data, "response_code") or 0,
        bytes_received=_json_int(data, "bytes_received") or 0,
        bytes_sent=_json_int(data, "bytes_sent") or 0,
        duration_ms=_json_int(data, "duration"),
        upstream_service_time_ms=_json_int(data, "upstream_service_time"),
        **strings,
    )


def _json_string(data: Mapping[str, object], key: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    return _dash_to_none(str(value))


def _json_int(data: Mapping[str, object], key: str) -> int | None:
    # Envoy emits numbers for numeric operators, but a user format may quote them.
    value = data.get(key)
    if value is None or value in ("-", ""):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"access-log key {key!r} is not a number: {value!r}")
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"access-log key {key!r} is not a number: {value!r}") from exc


def _dash_to_none(value: str) -> str | None:
    return None if value in ("-", "") else value


def _optional_int(value: str) -> int | None:
    return None if value == "-" else int(value)


def _time(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"access-log start time is not ISO 8601: {value!r}") from exc
    if parsed.tzinfo is None:
        # Envoy's default START_TIME is UTC; a custom format may drop the zone.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


# --- The fake CONNECT proxy (seed 004's Envoy) ----------------------------------------------

_CONNECT = re.compile(
    r'^\[(?P<start_time>[^\]]+)\] (?P<downstream>\S+) '
    r'"CONNECT (?P<target>\S+) \S+ (?P<protocol>\S+)" \S+ (?P<code>\d+) \S+ (?P<flags>\S+)$'
)


@dataclass(frozen=True)
class ConnectEntry:
    """A tunnel the CONNECT proxy opened.

    Seed 004's line: ``[t] <peer> "CONNECT <ip>:443 - HTTP/1.1" - 200 - DC``.
    """

    start_time: datetime
    downstream_remote_address: str
    target_host: str
    target_port: int
    protocol: str
    response_code: int
    response_flags: str | None


def parse_connect(line: str) -> ConnectEntry:
    match = _CONNECT.match(line.strip())
    if match is None:
        raise ValueError(f"not a CONNECT proxy access-log line: {clip(line.strip())}")
    host, _, port = match["target"].rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"CONNECT target is not host:port: {match['target']!r}")
    return ConnectEntry(
        start_time=_time(match["start_time"]),
        downstream_remote_address=match["downstream"],
        target_host=host.strip("[]"),
        target_port=int(port),
        protocol=match["protocol"],
        response_code=int(match["code"]),
        response_flags=_dash_to_none(match["flags"]),
    )


def parse_connect_all(text: str) -> list[ConnectEntry]:
    """Every CONNECT line in ``text`` (the fake CONNECT proxy's log)."""
    return _parse_lines(text, parse_connect)
