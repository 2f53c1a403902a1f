"""Observation records: what each vantage point saw for every check of one scenario run, kept
so the offline suite can replay it through today's parsers and verification.

One file per scenario and Istio version, ``<root>/<istio-version>/<scenario-id>.json``, holds
that scenario's checks in the order they ran. An e2e run writes them under
``artifacts/observations/``; the same format is the offline fixtures' format
(``tests/evidence/observations/``), so a nightly's records can be committed as they are.

Format (``format_version`` 1): the Istio, Kubernetes, kind and data-plane versions; the run id
(the fakes stamp it, FakeSaw compares it); per check the identities XFCC is judged against,
the probe (argv, marker, URL, request id, start and end), what the client got (exit code,
status, headers, body up to ``BODY_LIMIT`` characters), every access-log line the probe's
marker or SNI matched at each proxy (raw, as logged), ztunnel's lines for the client's
connections in the probe's window (ambient; optional, older records lack it), the fake's lines
for the probe (nginx by marker, CONNECT proxy by target and time), the gateway counters the
expectations read (before and after), and each expectation with its verdict (passed, or the
failure messages).

Secrets never reach a file: ``write`` runs every string through the caller's redaction (the
runner passes the diagnostics bundle's) and its own pass, which blanks PEM private keys and the
values of credential headers (Authorization, Proxy-Authorization, Cookie, Set-Cookie) wherever
they show (response headers, an echoed body, the probe's argv, a log line).

Replay (``replay``): the raw lines are parsed again with ``accesslog``, the expectations judged
again with ``verify``. A check recorded as passing must still pass; one recorded as failing
must fail on the same expectations, each message the same up to its first ``", got "`` (what
was expected; the "got" part may quote log tails a record does not keep).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tempfile
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from egress_e2e.core.errors import ConfigError, clip
from egress_e2e.core.redact import REDACTED
from egress_e2e.evidence import accesslog, verify, ztunnel
from egress_e2e.evidence.echo import CurlError, Headers
from egress_e2e.evidence.probe import ProbeResult, carries_marker
from egress_e2e.infra.versions import parse_version
from egress_e2e.scenario import expectations as exp
from egress_e2e.scenario.expectations import Expectation
from egress_e2e.scenario.identity import Identities
from egress_e2e.scenario.model import Check

FORMAT_VERSION: Final = 1
# The only data plane the harness runs today (ambient would be another value).
DATA_PLANE: Final = "sidecar"   # the default: records from before ambient runs carry none
# Enough for an httpbin echo carrying an XFCC certificate chain; a block page is far shorter.
BODY_LIMIT: Final = 16384
OBSERVATIONS_DIR: Final = "observations"
CREDENTIAL_HEADERS: Final = ("authorization", "proxy-authorization", "cookie", "set-cookie")

_EXPECTATION_KINDS: Final[dict[str, type[Any]]] = {
    cls.__name__: cls for cls in (exp.Status, exp.CurlFails, exp.Body, exp.Echoed, exp.Xfcc,
                                  exp.LogLine, exp.FakeSaw, exp.ProxyConnect,
                                  exp.ClusterCounter, exp.ZtunnelLine)}


@dataclass(frozen=True)
class Versions:
    istio: str
    kubernetes: str | None = None
    kind: str | None = None
    data_plane: str = DATA_PLANE


@dataclass(frozen=True)
class ProbeRecord:
    argv: tuple[str, ...]
    marker: str
    url: str
    request_id: str
    started: str        # ISO 8601, the harness host's clock
    finished: str


@dataclass(frozen=True)
class ClientRecord:
    exit_code: int
    status: int | None
    http_version: str | None
    error_exit_code: int | None
    error_message: str | None
    headers: tuple[tuple[str, str], ...]
    body: str
    body_truncated: bool = False


@dataclass(frozen=True)
class Counter:
    cluster: str
    before: int
    after: int | None   # None: no such cluster after the probe

    @property
    def delta(self) -> int | None:
        return None if self.after is None else self.after - self.before


@dataclass(frozen=True)
class Verdict:
    expectation: Expectation
    messages: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return not self.messages


@dataclass(frozen=True)
class CheckRecord:
    name: str
    # Who XFCC's roles were for this check's client (the namespaces carry the run id).
    identities: Identities
    probe: ProbeRecord
    client: ClientRecord
    gateway_log: tuple[str, ...] = ()
    sidecar_log: tuple[str, ...] = ()
    fake_log: tuple[str, ...] = ()
    proxy_log: tuple[str, ...] = ()
    counters: tuple[Counter, ...] = ()
    # ztunnel's lines for the client's connections in the probe's window (ambient); records
    # written before it have none.
    ztunnel_log: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts)


@dataclass(frozen=True)
class ObservationRecord:
    scenario: str
    versions: Versions
    run_id: str
    checks: tuple[CheckRecord, ...] = ()
    format_version: int = FORMAT_VERSION


@dataclass(frozen=True)
class RawLogs:
    """The texts the last evidence read came from, for the sources the check needed."""

    gateway: str = ""
    sidecar: str = ""
    fake: str = ""
    proxy: str = ""
    ztunnel: str = ""


def record_path(root: Path, istio_version: str, scenario_id: str) -> Path:
    return root / istio_version / f"{scenario_id}.json"


# --- building a record from what a check saw ----------------------------------------------

def check_record(check: Check, observed: verify.Observation, ids: Identities,
                 raw: RawLogs) -> CheckRecord:
    """One check's record: the probe, the lines that belong to it, each expectation's verdict."""
    result = observed.probe
    counters = tuple(
        Counter(e.cluster, observed.counters_before.get(e.cluster, 0),
                observed.counters_after.get(e.cluster))
        for e in dict.fromkeys(e for e in check.expect if isinstance(e, exp.ClusterCounter)))
    return CheckRecord(
        name=check.name, identities=ids, probe=_probe_record(result), client=_client_record(result),
        gateway_log=_proxy_lines(raw.gateway, check, observed),
        sidecar_log=_proxy_lines(raw.sidecar, check, observed),
        fake_log=tuple(line for line in raw.fake.splitlines()
                       if result.marker and result.marker in line),
        proxy_log=_connect_lines(raw.proxy, observed),
        counters=counters,
        ztunnel_log=_ztunnel_lines(raw.ztunnel, observed),
        verdicts=tuple(Verdict(e, tuple(verify.verify([e], observed, ids)))
                       for e in check.expect),
    )


def _probe_record(result: ProbeResult) -> ProbeRecord:
    return ProbeRecord(argv=result.argv, marker=result.marker, url=result.url,
                       request_id=result.request_id, started=result.started.isoformat(),
                       finished=result.finished.isoformat())


def _client_record(result: ProbeResult) -> ClientRecord:
    error = result.error
    return ClientRecord(
        exit_code=result.exit_code, status=result.status, http_version=result.http_version,
        error_exit_code=error.exit_code if error is not None else None,
        error_message=error.message if error is not None else None,
        headers=tuple((name, value) for name in result.headers
                      for value in result.headers.get_all(name)),
        body=result.body[:BODY_LIMIT], body_truncated=len(result.body) > BODY_LIMIT)


def _snis(check: Check, observed: verify.Observation) -> set[str | None]:
    """The SNIs verify finds TCP lines by (``verify._candidates``); None stands for the lines
    without SNI that ``match_sni=False`` looks for."""
    host = urlsplit(observed.probe.url).hostname
    found: set[str | None] = {host}
    for e in check.expect:
        if isinstance(e, exp.LogLine):
            found.add(e.sni if e.match_sni else None)
    return found


def _proxy_lines(text: str, check: Check, observed: verify.Observation) -> tuple[str, ...]:
    snis = _snis(check, observed)
    kept = []
    for line in text.splitlines():
        try:
            entry = accesslog.parse(line)
        except ValueError:
            continue  # the proxy's own messages
        if carries_marker(entry.user_agent, observed.probe.marker) or (
                entry.is_tcp and entry.requested_server_name in snis
                and observed.in_window(entry.start_time)):
            kept.append(line)
    return tuple(kept)


def _connect_lines(text: str, observed: verify.Observation) -> tuple[str, ...]:
    host = urlsplit(observed.probe.url).hostname
    kept = []
    for line in text.splitlines():
        try:
            entry = accesslog.parse_connect(line)
        except ValueError:
            continue
        if entry.target_host == host and observed.in_window(entry.start_time):
            kept.append(line)
    return tuple(kept)


def _ztunnel_lines(text: str, observed: verify.Observation) -> tuple[str, ...]:
    """The lines ``verify.ztunnel_candidates`` would pick: the client's outbound connections in
    the probe's window."""
    kept = []
    for line in text.splitlines():
        try:
            entry = ztunnel.parse(line)
        except ValueError:
            continue  # ztunnel's other messages
        only = dataclasses.replace(observed, ztunnel_log=(entry,))
        if verify.ztunnel_candidates(only):
            kept.append(line)
    return tuple(kept)


# --- replaying a record ------------------------------------------------------------------

def observation_of(check: CheckRecord, run_id: str) -> verify.Observation:
    """The record as the ``Observation`` verify judges, its raw lines parsed again."""
    client, probe = check.client, check.probe
    error = (CurlError(client.error_exit_code, client.error_message or "")
             if client.error_exit_code is not None else None)
    result = ProbeResult(
        request_id=probe.request_id, url=probe.url, argv=probe.argv,
        exit_code=client.exit_code, status=client.status, http_version=client.http_version,
        headers=Headers(client.headers), body=client.body, error=error, stderr="",
        started=datetime.fromisoformat(probe.started),
        finished=datetime.fromisoformat(probe.finished), marker=probe.marker)
    return verify.Observation(
        probe=result,
        gateway_log=tuple(accesslog.parse(line) for line in check.gateway_log),
        sidecar_log=tuple(accesslog.parse(line) for line in check.sidecar_log),
        fake_log="\n".join(check.fake_log),
        proxy_log=tuple(accesslog.parse_connect(line) for line in check.proxy_log),
        ztunnel_log=tuple(ztunnel.parse(line) for line in check.ztunnel_log),
        counters_before={c.cluster: c.before for c in check.counters},
        counters_after={c.cluster: c.after for c in check.counters if c.after is not None},
        run_id=run_id)


# Today's expectations for (scenario id, check name); None: judge by the recorded ones.
CurrentExpectations = Callable[[str, str], Sequence[Expectation] | None]


def _judged(record: ObservationRecord, check: CheckRecord,
            current: CurrentExpectations | None) -> Iterator[tuple[Expectation, list[str]]]:
    wanted = current(record.scenario, check.name) if current is not None else None
    if wanted is None:
        wanted = [v.expectation for v in check.verdicts]
    observed = observation_of(check, record.run_id)
    for expectation in wanted:
        yield expectation, verify.verify([expectation], observed, check.identities)


def _key(message: str) -> str:
    return message.split(", got ", 1)[0]


def replay(record: ObservationRecord, current: CurrentExpectations | None = None) -> list[str]:
    """Where today's parsers and verification disagree with the record, one line per
    disagreement, in check order (empty: the record still holds). With ``current``, a check
    today's catalog still has is judged by today's expectations; one the record lacks is held
    to pass."""
    problems: list[str] = []
    for check in record.checks:
        recorded = {v.expectation: v for v in check.verdicts}
        try:
            judged = list(_judged(record, check, current))
        except ValueError as exc:
            problems.append(f"check {check.name!r}: a recorded line no longer parses: {exc}")
            continue
        for expectation, now in judged:
            then = recorded.get(expectation)
            what = f"check {check.name!r}: {describe_expectation(expectation)}"
            if (then is None or then.passed) and now:
                problems.append(f"{what} recorded passing, now fails: {now[0]}")
            elif then is not None and not then.passed and not now:
                problems.append(f"{what} recorded failing ({then.messages[0]}), now passes")
            elif then is not None and [_key(m) for m in then.messages] != [_key(m) for m in now]:
                problems.append(f"{what} fails differently: recorded {then.messages[0]!r}, "
                                f"now {now[0]!r}")
    return problems


def rejected(record: ObservationRecord, current: CurrentExpectations | None = None) -> list[str]:
    """The checks that do not hold on this record by today's expectations, one line each."""
    found = []
    for check in record.checks:
        try:
            failing = [(e, now) for e, now in _judged(record, check, current) if now]
        except ValueError as exc:
            found.append(f"check {check.name!r}: a recorded line no longer parses: {exc}")
            continue
        if failing:
            expectation, now = failing[0]
            found.append(f"check {check.name!r}: {describe_expectation(expectation)}: {now[0]}")
    return found


def replay_problem(where: str, record: ObservationRecord,
                   current: CurrentExpectations | None = None,
                   newest_known: str | None = None) -> str | None:
    """The one line a replay fails with, or None when the record still holds: the scenario,
    the Istio version and the first mismatch. A record from an Istio newer than
    ``newest_known`` (the newest release the expectations were written for) that today's
    expectations reject is named by ``where`` (its file), whatever it recorded."""
    version = record.versions.istio
    if newest_known is not None and _newer(version, newest_known):
        found = rejected(record, current)
        if found:
            return (f"{where}: Istio {version} is newer than the expectations know "
                    f"({newest_known}) and they reject it: {record.scenario}: {found[0]}")
    problems = replay(record, current)
    if problems:
        return f"{record.scenario} on Istio {version}: {problems[0]}"
    return None


def _newer(version: str, than: str) -> bool:
    try:
        return parse_version(version) > parse_version(than)
    except ConfigError:
        return False  # not a release number (a dev build): not known to be newer


def describe_expectation(expectation: Expectation) -> str:
    """``LogLine(proxy='gateway', response_code=503)``: only what differs from the defaults."""
    shown = [f"{f.name}={getattr(expectation, f.name)!r}"
             for f in dataclasses.fields(expectation)
             if f.default is dataclasses.MISSING or getattr(expectation, f.name) != f.default]
    return f"{type(expectation).__name__}({', '.join(shown)})"


# --- JSON ----------------------------------------------------------------------------------

def to_json(record: ObservationRecord) -> dict[str, Any]:
    data = _plain(dataclasses.asdict(record))
    assert isinstance(data, dict)
    for check, raw in zip(record.checks, data["checks"], strict=True):
        raw["verdicts"] = [{"expectation": _expectation_json(v.expectation),
                            "passed": v.passed, "messages": list(v.messages)}
                           for v in check.verdicts]
        for counter, raw_counter in zip(check.counters, raw["counters"], strict=True):
            raw_counter["delta"] = counter.delta
    # format_version first, so a reader sees which format it holds before anything else.
    return {"format_version": data.pop("format_version"), **data}


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _expectation_json(expectation: Expectation) -> dict[str, Any]:
    fields = {f.name: _plain(getattr(expectation, f.name))
              for f in dataclasses.fields(expectation)}
    return {"kind": type(expectation).__name__, **fields}


def from_json(data: Any, where: str) -> ObservationRecord:
    """A record from parsed JSON; ConfigError naming ``where`` and the first problem."""
    try:
        return _record(data)
    except (KeyError, TypeError, ValueError) as exc:
        detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
        raise ConfigError(f"{where}: not an observation record: {detail}") from None


def _record(data: Any) -> ObservationRecord:
    top = _object(data, "record")
    version = _typed(top, "format_version", int)
    if version != FORMAT_VERSION:
        raise ValueError(f"format_version {version}, this harness reads {FORMAT_VERSION}")
    versions = _object(top["versions"], "versions")
    return ObservationRecord(
        scenario=_typed(top, "scenario", str),
        versions=Versions(istio=_typed(versions, "istio", str),
                          kubernetes=_optional(versions, "kubernetes", str),
                          kind=_optional(versions, "kind", str),
                          data_plane=_typed(versions, "data_plane", str)),
        run_id=_typed(top, "run_id", str),
        checks=tuple(_check(item) for item in _list(top, "checks")),
        format_version=version)


def _check(data: Any) -> CheckRecord:
    item = _object(data, "check")
    probe = _object(item["probe"], "probe")
    client = _object(item["client"], "client")
    ids = _object(item["identities"], "identities")
    for stamp in ("started", "finished"):
        datetime.fromisoformat(_typed(probe, stamp, str))
    return CheckRecord(
        name=_typed(item, "name", str),
        identities=Identities(**{f.name: _typed(ids, f.name, str)
                                 for f in dataclasses.fields(Identities)}),
        probe=ProbeRecord(argv=_strings(probe, "argv"), marker=_typed(probe, "marker", str),
                          url=_typed(probe, "url", str),
                          request_id=_typed(probe, "request_id", str),
                          started=_typed(probe, "started", str),
                          finished=_typed(probe, "finished", str)),
        client=ClientRecord(
            exit_code=_typed(client, "exit_code", int), status=_optional(client, "status", int),
            http_version=_optional(client, "http_version", str),
            error_exit_code=_optional(client, "error_exit_code", int),
            error_message=_optional(client, "error_message", str),
            headers=tuple(_pair(h) for h in _list(client, "headers")),
            body=_typed(client, "body", str),
            body_truncated=_typed(client, "body_truncated", bool)),
        gateway_log=_strings(item, "gateway_log"), sidecar_log=_strings(item, "sidecar_log"),
        fake_log=_strings(item, "fake_log"), proxy_log=_strings(item, "proxy_log"),
        counters=tuple(_counter(c) for c in _list(item, "counters")),
        ztunnel_log=_strings(item, "ztunnel_log") if "ztunnel_log" in item else (),
        verdicts=tuple(_verdict(v) for v in _list(item, "verdicts")))


def _counter(data: Any) -> Counter:
    item = _object(data, "counter")
    return Counter(_typed(item, "cluster", str), _typed(item, "before", int),
                   _optional(item, "after", int))


def _verdict(data: Any) -> Verdict:
    item = _object(data, "verdict")
    messages = _strings(item, "messages")
    if _typed(item, "passed", bool) == bool(messages):
        raise ValueError("a verdict's 'passed' contradicts its messages")
    return Verdict(_expectation(item["expectation"]), messages)


def _expectation(data: Any) -> Expectation:
    item = dict(_object(data, "expectation"))
    kind = _typed(item, "kind", str)
    cls = _EXPECTATION_KINDS.get(kind)
    if cls is None:
        raise ValueError(f"unknown expectation kind {kind!r}")
    del item["kind"]
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in item.items():
        if name not in hints:
            raise ValueError(f"{kind} has no field {name!r}")
        values[name] = tuple(value) if isinstance(value, list) else value
    built: Expectation = cls(**values)
    return built


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not a JSON object")
    return value


def _list(data: Mapping[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise TypeError(f"{key!r} is not a list")
    return value


def _strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    values = _list(data, key)
    if not all(isinstance(v, str) for v in values):
        raise TypeError(f"{key!r} holds a non-string")
    return tuple(values)


def _pair(value: Any) -> tuple[str, str]:
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, str) for v in value)):
        raise TypeError("a header is not a [name, value] pair")
    return value[0], value[1]


_T = typing.TypeVar("_T")


def _typed(data: Mapping[str, Any], key: str, kind: type[_T]) -> _T:
    value = data[key]
    # bool is an int in Python; JSON keeps them apart, and so does a record.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key!r} should be {kind.__name__}, got {clip(repr(value), 60)}")
    return value


def _optional(data: Mapping[str, Any], key: str, kind: type[_T]) -> _T | None:
    return None if data.get(key) is None else _typed(data, key, kind)


# --- reading and writing -------------------------------------------------------------------

def read(path: Path) -> ObservationRecord:
    """A record file; ConfigError (one line naming the file) for anything that is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not readable as JSON: {exc}") from None
    return from_json(data, str(path))


def find(root: Path) -> list[Path]:
    """Every record file under ``root`` (any depth), sorted."""
    return sorted(root.rglob("*.json"))


def write(record: ObservationRecord, path: Path,
          redact: Callable[[str], str] = lambda text: text) -> None:
    """Write ``record`` (every string through ``redact`` and this module's scrub) as a 0644
    file, replacing the old one at once; the directory is created. OSError is the caller's."""
    text = json.dumps(_scrubbed(to_json(record), redact), indent=2, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; records are for anyone to read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_PEM_KEY = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----.*?-----END \1PRIVATE KEY-----",
                      re.DOTALL)
_PEM_KEY_URL = re.compile(r"-----BEGIN%20([A-Z0-9%]*?)PRIVATE%20KEY-----.*?"
                          r"-----END%20\1PRIVATE%20KEY-----", re.DOTALL)
# A credential header's value as a header line, a curl -H argument or an echoed JSON member.
_CREDENTIAL = re.compile(r'(?i)\b(' + "|".join(CREDENTIAL_HEADERS)
                         + r')("?\s*:\s*"?|\s*=\s*)((?:\\"|[^"\r\n])+)')


def scrub(text: str) -> str:
    """Private keys and credential header values out of one string."""
    text = _PEM_KEY.sub(f"-----{REDACTED} PRIVATE KEY-----", text)
    text = _PEM_KEY_URL.sub(f"-----{REDACTED}%20PRIVATE%20KEY-----", text)
    return _CREDENTIAL.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def _scrubbed(node: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(node, dict):
        return {k: _scrubbed(v, redact) for k, v in node.items()}
    if isinstance(node, list):
        if (len(node) == 2 and all(isinstance(v, str) for v in node)
                and node[0].lower() in CREDENTIAL_HEADERS):
            return [node[0], REDACTED]  # a [name, value] response header
        return [_scrubbed(v, redact) for v in node]
    if isinstance(node, str):
        return scrub(redact(node))
    return node
