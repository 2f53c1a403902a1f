"""Observation records after a run: copying a nightly's into the fixtures (``import_records``)
and what changed between two of them (``diff_records``, ``diff_paths``).

Import takes records from any nesting (downloaded artifacts are ``<artifact>/<istio>/<id>.json``
or deeper), validates every one before writing any, and keeps one file per Istio version and
scenario: of several for the same pair (a re-run's attempt-2 beside attempt-1), the last in
natural path order wins, as ``report merge`` picks results.

Diff compares the same scenario's records check by check (by name): status, response headers
and echoed request headers added or gone, and access-log fields, each proxy's lines parsed again
with ``evidence.accesslog``. Fields that differ on every run (times, ids, byte counts,
ephemeral addresses) are not compared.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from egress_e2e.core.errors import ConfigError
from egress_e2e.evidence import accesslog, echo, observations, verify
from egress_e2e.evidence.observations import CheckRecord, ObservationRecord

# AccessLogEntry fields an upgrade may change and a re-run does not.
STABLE_LOG_FIELDS = (
    "method", "path", "protocol", "response_code", "response_flags", "response_code_details",
    "connection_termination_details", "upstream_transport_failure_reason", "authority",
    "upstream_cluster", "requested_server_name", "route_name",
)


@dataclass(frozen=True)
class Imported:
    source: Path
    target: Path


def gather(inputs: Sequence[Path]) -> list[tuple[Path, ObservationRecord]]:
    """Every record under ``inputs`` (files or directories, any depth), validated; ConfigError
    listing every bad one, one per line, before anything is written."""
    found: list[Path] = []
    for path in inputs:
        if path.is_dir():
            found += observations.find(path)
        elif path.is_file():
            found.append(path)
        else:
            raise ConfigError(f"no such file or directory: {path}")
    if not found:
        raise ConfigError(f"no observation records (*.json) under {', '.join(map(str, inputs))}")
    records, bad = [], []
    for path in sorted(set(found), key=_natural_key):
        try:
            records.append((path, observations.read(path)))
        except ConfigError as exc:
            bad.append(str(exc))
    if bad:
        raise ConfigError("\n".join(bad))
    return records


def import_records(inputs: Sequence[Path], into: Path) -> list[Imported]:
    """Copy the records under ``inputs`` into ``into/<istio>/<scenario>.json``, one per
    (version, scenario). Each file is replaced at once (never half-written)."""
    chosen: dict[tuple[str, str], tuple[Path, ObservationRecord]] = {}
    for path, record in gather(inputs):
        chosen[(record.versions.istio, record.scenario)] = (path, record)
    done = []
    for (version, scenario), (path, record) in sorted(chosen.items()):
        target = observations.record_path(into, version, scenario)
        observations.write(record, target)
        done.append(Imported(path, target))
    return done


def _natural_key(path: Path) -> list[object]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]


# --- diff ----------------------------------------------------------------------------------

def diff_paths(a: Path, b: Path) -> list[str]:
    """Differences between two record files, or two version directories (their records paired
    by file name; one only on one side is a difference too)."""
    if a.is_dir() and b.is_dir():
        lines: list[str] = []
        left, right = _by_name(a), _by_name(b)
        for name in sorted(left.keys() | right.keys()):
            if name not in right:
                lines.append(f"{name}: only in {a}")
            elif name not in left:
                lines.append(f"{name}: only in {b}")
            else:
                lines += diff_records(observations.read(left[name]),
                                      observations.read(right[name]))
        return lines
    for path in (a, b):
        if not path.exists():
            raise ConfigError(f"no such file or directory: {path}")
    if a.is_dir() or b.is_dir():
        raise ConfigError(f"compare two record files or two version directories, not a file "
                          f"and a directory: {a}, {b}")
    return diff_records(observations.read(a), observations.read(b))


def _by_name(root: Path) -> dict[str, Path]:
    return {str(path.relative_to(root)): path for path in observations.find(root)}


def diff_records(a: ObservationRecord, b: ObservationRecord) -> list[str]:
    """What changed from ``a`` to ``b``, one plain line each, ``<scenario>: <check>: ...``."""
    if a.scenario != b.scenario:
        raise ConfigError(f"records of different scenarios: {a.scenario} and {b.scenario}")
    head = f"{a.scenario}"
    lines = []
    if a.versions != b.versions:
        lines.append(f"{head}: versions {_versions(a)} -> {_versions(b)}")
    left = {c.name: c for c in a.checks}
    right = {c.name: c for c in b.checks}
    for name in dict.fromkeys([*left, *right]):
        if name not in right:
            lines.append(f"{head}: {name}: check only in the first record")
        elif name not in left:
            lines.append(f"{head}: {name}: check only in the second record")
        else:
            lines += [f"{head}: {name}: {line}" for line in _check_diff(left[name], right[name])]
    return lines


def _versions(record: ObservationRecord) -> str:
    v = record.versions
    return (f"Istio {v.istio}, Kubernetes {v.kubernetes or '?'}, kind {v.kind or '?'}, "
            f"{v.data_plane}")


def _check_diff(a: CheckRecord, b: CheckRecord) -> list[str]:
    lines = []
    if _outcome(a) != _outcome(b):
        lines.append(f"status {_outcome(a)} -> {_outcome(b)}")
    lines += _names_diff("response header", [n for n, _ in a.client.headers],
                         [n for n, _ in b.client.headers])
    lines += _names_diff("echoed request header", _echoed(a), _echoed(b))
    for proxy in ("gateway", "sidecar"):
        lines += _log_diff(f"{proxy} log", _lines(a, proxy), _lines(b, proxy))
    if a.passed != b.passed:
        lines.append(f"verdict {_verdict(a)} -> {_verdict(b)}")
    return lines


def _outcome(check: CheckRecord) -> str:
    client = check.client
    if client.status is not None:
        return f"HTTP {client.status}"
    return f"curl exit {client.error_exit_code if client.error_exit_code is not None else '?'}"


def _verdict(check: CheckRecord) -> str:
    if check.passed:
        return "passed"
    failing = next(v for v in check.verdicts if not v.passed)
    return f"failed ({failing.messages[0]})"


def _echoed(check: CheckRecord) -> list[str]:
    try:
        return list(echo.parse_headers_body(check.client.body))
    except ValueError:
        return []  # not an echo


def _names_diff(what: str, a: Iterable[str], b: Iterable[str]) -> list[str]:
    left = {n.lower(): n for n in a}
    right = {n.lower(): n for n in b}
    return ([f"{what} added: {right[k]}" for k in sorted(right.keys() - left.keys())]
            + [f"{what} gone: {left[k]}" for k in sorted(left.keys() - right.keys())])


def _lines(check: CheckRecord, proxy: str) -> list[accesslog.AccessLogEntry]:
    raw = check.gateway_log if proxy == "gateway" else check.sidecar_log
    return [accesslog.parse(line) for line in raw]


def _log_diff(where: str, a: list[accesslog.AccessLogEntry],
              b: list[accesslog.AccessLogEntry]) -> list[str]:
    lines = []
    if len(a) != len(b):
        lines.append(f"{where}: {len(a)} matching line(s) -> {len(b)}")
    for number, (left, right) in enumerate(zip(a, b, strict=False), start=1):
        label = where if len(a) == len(b) == 1 else f"{where} line {number}"
        for name in STABLE_LOG_FIELDS:
            was, now = getattr(left, name), getattr(right, name)
            if was != now:
                lines.append(f"{label}: {name} {was!r} -> {now!r}")
        was_port = verify.port_of(left.downstream_local_address)
        now_port = verify.port_of(right.downstream_local_address)
        if was_port != now_port:
            lines.append(f"{label}: downstream_local_port {was_port!r} -> {now_port!r}")
    return lines
