"""One curl probe: the exact argv a client workload runs, and what came back.

Every probe carries a correlation ``marker`` as its User-Agent, and every vantage point finds its
own record of the request by it: sidecar and gateway access logs print ``%REQ(USER-AGENT)%`` in
Istio's default TEXT and JSON formats, the fake echoes it and nginx logs it. The request id is no
handle past a gateway: Istio runs gateway HTTP servers with ``use_remote_address: true`` and no
internal address ranges (pilot/pkg/networking/core/gateway.go), so since Envoy 1.33 a sidecar's
request is an edge request there and Envoy writes a new ``x-request-id`` (istio/istio#57938). No
proxy in the path rewrites User-Agent. A probe still sends a fresh ``x-request-id``, which finds
the client sidecar's line and shows in diagnostics.

curl's ``--write-out`` appends, after the body, a separator line that holds a random nonce (the
body cannot forge it: an echo reflects the marker, so the marker is not used), then curl's
``%{json}`` (status, exit code, error message) and ``%{header_json}`` (the response headers of
the last response). Needs curl >= 7.83 (``header_json``); samples/curl ships newer.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from egress_e2e.core import proc
from egress_e2e.core.errors import CommandFailed, format_command
from egress_e2e.evidence.echo import CurlError, Headers, headers_from_json, parse_curl_error
from egress_e2e.scenario.model import Curl

# Where the client pods mount the per-run fake CA and client certificate (shared contract).
FAKE_INTERNET_DIR = "/etc/fake-internet"
# curl's connect timeout is capped lower than the whole transfer, so a blackholed connection
# fails quickly with exit 28 instead of using the whole budget.
_CONNECT_TIMEOUT_CAP_S = 5.0


@dataclass(frozen=True)
class PreparedProbe:
    """A probe ready to run: its argv (to run locally or after ``kubectl exec ... --``)."""

    probe: Curl
    request_id: str
    marker: str                 # the User-Agent every vantage point logs or echoes
    separator: str              # curl's write-out separator (never sent anywhere)
    argv: tuple[str, ...]

    def parse(self, *, stdout: str, stderr: str, exit_code: int,
              started: datetime, finished: datetime) -> ProbeResult:
        return parse_output(self, stdout=stdout, stderr=stderr, exit_code=exit_code,
                            started=started, finished=finished)


@dataclass(frozen=True)
class ProbeResult:
    """What the client saw. ``status`` is None when no HTTP response arrived."""

    request_id: str
    url: str
    argv: tuple[str, ...]
    exit_code: int
    status: int | None
    http_version: str | None
    headers: Headers
    body: str
    error: CurlError | None
    stderr: str
    started: datetime
    finished: datetime
    curl_info: dict[str, object] = field(default_factory=dict, repr=False)
    marker: str = ""

    def summary(self) -> str:
        outcome = str(self.error) if self.error is not None else f"HTTP {self.status}"
        return f"{self.url} (marker {self.marker}): {outcome}"

    def describe(self, body_limit: int = 600) -> str:
        """Request and response as a person reads them (errors and diagnostics)."""
        lines = [f"request: {format_command(self.argv)}", f"marker: {self.marker}",
                 f"x-request-id: {self.request_id}",
                 f"started: {self.started.isoformat()} finished: {self.finished.isoformat()}",
                 f"exit code: {self.exit_code}", f"status: {self.status}"]
        if self.error is not None:
            lines.append(f"error: {self.error}")
        lines.extend(f"< {name}: {value}" for name, value in self.headers.items())
        body = self.body if len(self.body) <= body_limit else self.body[:body_limit] + "..."
        lines.append(f"body: {body}")
        if self.stderr.strip():
            lines.append(f"stderr: {self.stderr.strip()[-body_limit:]}")
        return "\n".join(lines)


def new_request_id() -> str:
    return str(uuid.uuid4())


MARKER_PREFIX = "egress-e2e-probe/"


def new_marker() -> str:
    """A User-Agent unique to one probe: a product token, so servers log it as they are."""
    return f"{MARKER_PREFIX}{secrets.token_hex(8)}"


def carries_marker(logged: str | None, marker: str) -> bool:
    """Whether a logged User-Agent is this probe's marker."""
    return bool(marker) and logged == marker


def same_request_id(logged: str | None, sent: str) -> bool:
    """Whether a logged x-request-id is the one sent. Holds at the client's sidecar; not past a
    gateway, which writes a new one (that is why probes are found by their marker).

    Envoy's UUID request-id extension may rewrite the UUID's version nibble (index 14) to record
    the trace decision, so for UUIDs that one character is not compared.
    """
    if logged is None:
        return False
    if len(logged) == len(sent) == 36 and logged[8] == sent[8] == "-":
        return (logged[:14] + logged[15:]).lower() == (sent[:14] + sent[15:]).lower()
    return logged == sent


def prepare(probe: Curl, *, request_id: str | None = None, timeout_scale: float = 1.0,
            cert_dir: str = FAKE_INTERNET_DIR, curl: str = "curl") -> PreparedProbe:
    """The curl argv for ``probe``. ``cert_dir`` is where ca.crt/client.crt/client.key live."""
    rid = request_id or new_request_id()
    marker = new_marker()
    separator = f"@@egress-e2e-{secrets.token_hex(8)}@@"
    max_time = probe.timeout_s * timeout_scale
    connect_time = min(max_time, _CONNECT_TIMEOUT_CAP_S * timeout_scale)
    argv = [curl, "-sS", "--max-time", f"{max_time:g}", "--connect-timeout", f"{connect_time:g}",
            "-A", marker, "-H", f"x-request-id: {rid}",
            "--write-out", f"\n{separator}\n%{{json}}\n{separator}\n%{{header_json}}"]
    if probe.trust_fake_ca:
        argv += ["--cacert", f"{cert_dir}/ca.crt"]
    if probe.client_cert:
        argv += ["--cert", f"{cert_dir}/client.crt", "--key", f"{cert_dir}/client.key"]
    argv += [*probe.extra_args, probe.url]
    return PreparedProbe(probe, rid, marker, separator, tuple(argv))


def parse_output(prepared: PreparedProbe, *, stdout: str, stderr: str, exit_code: int,
                 started: datetime, finished: datetime) -> ProbeResult:
    """Split curl's stdout into body, curl's own JSON report and the response headers."""
    separator = f"\n{prepared.separator}\n"
    parts = stdout.rsplit(separator, 2)
    info: dict[str, object] = {}
    headers = Headers()
    body = stdout
    if len(parts) == 3:
        body, info_text, header_text = parts
        info = _json_object(info_text)
        headers = headers_from_json(_json_object(header_text))
    code = info.get("http_code", info.get("response_code"))
    status = int(code) if isinstance(code, int | str) and str(code).isdigit() else None
    error = parse_curl_error(stderr, exit_code)
    if error is not None and not error.message and isinstance(info.get("errormsg"), str):
        error = CurlError(error.exit_code, str(info["errormsg"]))
    version = info.get("http_version")
    return ProbeResult(
        request_id=prepared.request_id, url=prepared.probe.url, argv=prepared.argv,
        exit_code=exit_code, status=status or None,
        http_version=str(version) if version not in (None, "0") else None,
        headers=headers, body=body, error=error, stderr=stderr,
        started=started, finished=finished, curl_info=info, marker=prepared.marker,
    )


def _json_object(text: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


def run_local(prepared: PreparedProbe, *, prefix: Sequence[str] = (),
              timeout: float | None = None) -> ProbeResult:
    """Run the probe here (tests, local fakes) or behind ``prefix`` (``kubectl exec ... --``)."""
    limit = timeout if timeout is not None else prepared.probe.timeout_s * 2 + 10
    started = datetime.now(UTC)
    try:
        done = proc.run([*prefix, *prepared.argv], timeout=limit, check=False)
    except CommandFailed as exc:
        finished = datetime.now(UTC)
        return prepared.parse(stdout=exc.stdout, stderr=exc.stderr + "\n(probe timed out)",
                              exit_code=-1, started=started, finished=finished)
    return prepared.parse(stdout=done.stdout, stderr=done.stderr, exit_code=done.returncode,
                          started=started, finished=datetime.now(UTC))
