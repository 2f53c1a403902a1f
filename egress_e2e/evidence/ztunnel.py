"""ztunnel's access-log lines, parsed into one typed record.

In ambient, ztunnel is the only hop that sees a connection that no waypoint handles (an L4
ServiceEntry, or traffic to an address no service owns): its access log is the evidence then.
ztunnel logs each connection once, when it closes, at target ``access`` with the message
``connection complete`` (INFO, or ERROR with an ``error`` field); a connection it refuses before
it knows enough is ``connection failed`` (WARN) with fewer fields. Source: istio/ztunnel
release-1.31 ``src/proxy/metrics.rs`` (``access_log!``, ``ConnectionResult::record_internal``,
``log_early_deny``).

Two encodings (``src/telemetry.rs``):

- text (the default, ``logAsJson: false`` in manifests/charts/ztunnel/values.yaml):
  ``<RFC 3339 time>\\t<level>\\taccess\\t<message>\\t<k=v k=v ...>``, where strings are written
  with Rust's Debug quoting (``src.workload="curl"``) and addresses, numbers bare
  (``src.addr=10.244.0.24:46238 bytes_sent=67``);
- JSON (``LOG_FORMAT=json``): one object with ``level``, ``time``, ``scope``, ``message`` and
  the same dotted field names as keys.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from egress_e2e.core.errors import clip

ACCESS_TARGET = "access"
COMPLETE = "connection complete"
FAILED = "connection failed"
# ztunnel reaches a waypoint (or any HBONE peer) on this port; dst.hbone_addr is then the
# address inside the tunnel (the service VIP and port the client asked for).
HBONE_PORT = 15008

_TEXT_HEAD = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z)\t(?P<level>[a-z]+)\t"
    r"(?P<scope>[^\t]+)\t(?P<message>[^\t]*)(?:\t(?P<fields>.*))?$"
)
# One k=v pair: a Debug-quoted string (escapes allowed inside), or a bare token.
_FIELD = re.compile(r'(?P<key>[A-Za-z0-9_.]+)=(?P<value>"(?:[^"\\]|\\.)*"|\S*)')
_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t", "r": "\r", "0": "\0", "'": "'"}
_UNICODE = re.compile(r"\\u\{([0-9a-fA-F]{1,6})\}|\\(.)")
_DURATION = re.compile(r"^(\d+)ms$")


@dataclass(frozen=True)
class ZtunnelLogEntry:
    """One ``access`` event: when, how it ended, and the connection's fields by name."""

    time: datetime
    level: str
    message: str
    fields: Mapping[str, str]

    def get(self, key: str) -> str | None:
        return self.fields.get(key)

    @property
    def src_addr(self) -> str | None:
        return self.get("src.addr")

    @property
    def src_workload(self) -> str | None:
        return self.get("src.workload")

    @property
    def src_namespace(self) -> str | None:
        return self.get("src.namespace")

    @property
    def src_identity(self) -> str | None:
        return self.get("src.identity")

    @property
    def dst_addr(self) -> str | None:
        return self.get("dst.addr")

    @property
    def dst_hbone_addr(self) -> str | None:
        return self.get("dst.hbone_addr")

    @property
    def dst_service(self) -> str | None:
        return self.get("dst.service")

    @property
    def dst_workload(self) -> str | None:
        return self.get("dst.workload")

    @property
    def dst_identity(self) -> str | None:
        return self.get("dst.identity")

    @property
    def direction(self) -> str | None:
        return self.get("direction")

    @property
    def error(self) -> str | None:
        return self.get("error")

    @property
    def bytes_sent(self) -> int | None:
        return _int(self.get("bytes_sent"))

    @property
    def bytes_recv(self) -> int | None:
        return _int(self.get("bytes_recv"))

    @property
    def duration_ms(self) -> int | None:
        found = _DURATION.match(self.get("duration") or "")
        return int(found.group(1)) if found else None

    @property
    def ok(self) -> bool:
        """Completed without an error (ztunnel adds ``error`` only to failed connections)."""
        return self.message == COMPLETE and self.error is None

    @property
    def via_hbone(self) -> bool:
        """Sent into an HBONE tunnel (to a waypoint or a peer ztunnel), not straight out."""
        return self.dst_hbone_addr is not None or _port(self.dst_addr) == HBONE_PORT

    def summary(self) -> str:
        """A short one-line form for error messages."""
        route = f"{self.src_addr or '-'} -> {self.dst_addr or '-'}"
        if self.dst_hbone_addr:
            route += f" (hbone {self.dst_hbone_addr})"
        tail = f" error={self.error}" if self.error else ""
        return (f"[{self.time.isoformat()}] ztunnel {self.direction or '-'} {route} "
                f"service={self.dst_service or '-'}{tail}")


def parse(line: str) -> ZtunnelLogEntry:
    """Parse one ztunnel access-log line (text or JSON); ValueError for anything else,
    including ztunnel's other (non-``access``) log lines."""
    text = line.strip()
    if text.startswith("{"):
        return _parse_json(text)
    head = _TEXT_HEAD.match(text)
    if head is None:
        raise ValueError(f"not a ztunnel log line: {clip(text)}")
    if head["scope"] != ACCESS_TARGET:
        raise ValueError(f"not a ztunnel access-log line (scope {head['scope']}): {clip(text)}")
    fields: dict[str, str] = {}
    rest = head["fields"] or ""
    position = 0
    while position < len(rest):
        if rest[position] == " ":
            position += 1
            continue
        found = _FIELD.match(rest, position)
        if found is None:
            raise ValueError(f"ztunnel access log: cannot read fields at {clip(rest[position:])}")
        fields[found["key"]] = _unquote(found["value"])
        position = found.end()
    return ZtunnelLogEntry(time=_time(head["time"]), level=head["level"],
                           message=head["message"], fields=fields)


def parse_all(text: str) -> list[ZtunnelLogEntry]:
    """Every access-log line of a ztunnel pod's log; its other lines are skipped."""
    entries = []
    for line in text.splitlines():
        try:
            entries.append(parse(line))
        except ValueError:
            continue
    return entries


def connections(entries: Iterable[ZtunnelLogEntry], *, src_workload: str | None = None,
                src_namespace: str | None = None, since: datetime | None = None,
                direction: str = "outbound") -> list[ZtunnelLogEntry]:
    """The client side's records of connections opened by one workload (ztunnel logs the same
    connection again as ``inbound`` on the receiving node when the peer is in the mesh)."""
    return [entry for entry in entries
            if entry.direction == direction
            and (src_workload is None or entry.src_workload == src_workload)
            and (src_namespace is None or entry.src_namespace == src_namespace)
            and (since is None or entry.time >= since)]


def _parse_json(text: str) -> ZtunnelLogEntry:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"ztunnel JSON log line does not parse: {clip(text)}") from exc
    if not isinstance(raw, dict) or raw.get("scope") != ACCESS_TARGET:
        raise ValueError(f"not a ztunnel access-log line: {clip(text)}")
    try:
        when = _time(str(raw["time"]))
    except KeyError as exc:
        raise ValueError(f"ztunnel JSON log line without time: {clip(text)}") from exc
    fields = {str(key): str(value) for key, value in raw.items()
              if key not in ("level", "time", "scope", "message") and value is not None}
    return ZtunnelLogEntry(time=when, level=str(raw.get("level", "")),
                           message=str(raw.get("message", "")), fields=fields)


def _unquote(value: str) -> str:
    if len(value) < 2 or not (value.startswith('"') and value.endswith('"')):
        return value

    def unescape(found: re.Match[str]) -> str:
        if found.group(1) is not None:
            return chr(int(found.group(1), 16))
        return _ESCAPES.get(found.group(2), found.group(0))

    return _UNICODE.sub(unescape, value[1:-1])


def _time(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError(f"ztunnel log line: bad time {text!r}") from exc


def _int(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def _port(address: str | None) -> int | None:
    if not address or ":" not in address:
        return None
    tail = address.rsplit(":", 1)[1]
    return int(tail) if tail.isdigit() else None
