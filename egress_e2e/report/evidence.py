"""Turn what a check observed (``verify.Observation``) into the report's ``Evidence``: the status,
the headers that prove the path, and the gateway's log line for this very request."""

from __future__ import annotations

from collections.abc import Sequence

from egress_e2e.core.errors import clip
from egress_e2e.evidence import echo
from egress_e2e.evidence.accesslog import AccessLogEntry
from egress_e2e.evidence.probe import carries_marker
from egress_e2e.evidence.verify import Observation
from egress_e2e.report.model import Evidence
from egress_e2e.scenario import hosts
from egress_e2e.scenario.expectations import Echoed, LogLine
from egress_e2e.scenario.model import Check

# The echoed request headers that tell which path a request took (see FIELD-NOTES, "Headers and
# what they prove"), then what the fake saw of the connection.
KEY_HEADERS = (
    "X-Envoy-Decorator-Operation",
    "X-Envoy-Internal",
    "X-Envoy-Peer-Metadata-Id",
    "X-Forwarded-Client-Cert",
    hosts.SAW_SCHEME,
    hosts.SAW_PORT,
    hosts.SAW_SNI,
)
_VALUE_LIMIT = 200


def from_observation(check: Check, observed: Observation,
                     mismatches: Sequence[str] = ()) -> Evidence:
    result = observed.probe
    try:
        echoed = echo.parse_headers_body(result.body)
    except ValueError:
        echoed = echo.Headers()  # not an echo: a block page, an error, a TLS failure
    wanted = KEY_HEADERS + tuple(e.header for e in check.expect if isinstance(e, Echoed))
    headers = tuple(
        (name, clip(echoed[name], _VALUE_LIMIT)) for name in dict.fromkeys(wanted) if name in echoed
    )
    notes = [str(result.error)] if result.error is not None else []
    notes += list(mismatches)
    line = _gateway_line(check, observed)
    return Evidence(
        check=check.name,
        status=result.status,
        headers=headers,
        gateway_log=line.summary() if line is not None else None,
        note="; ".join(notes),
    )


def _gateway_line(check: Check, observed: Observation) -> AccessLogEntry | None:
    """The gateway line with this probe's request id; for TCP checks (no request id in the log),
    the last TCP line within the probe's time window."""
    entries = observed.gateway_log
    mine = [e for e in entries if carries_marker(e.user_agent, observed.probe.marker)]
    if mine:
        return mine[0]
    wants_tcp = any(isinstance(e, LogLine) and e.tcp for e in check.expect)
    if wants_tcp:
        tcp = [e for e in entries if e.is_tcp and observed.in_window(e.start_time)]
        return tcp[-1] if tcp else None
    return None
