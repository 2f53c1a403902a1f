"""What a scenario applies and asserts, check by check, for a person or a reviewer to read.

Built from the same declaration and renderer the run uses: the objects of each step as the
layout names them, each check's client pod, the exact curl argv the runner would exec there
(``evidence.probe.prepare``), the correlation marker that argv carries, and every expectation,
in words and as data. A real run makes a fresh marker for every attempt; the one shown is an
example of its form.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from egress_e2e.core.errors import format_command
from egress_e2e.evidence import probe
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, plan
from egress_e2e.scenario.expectations import (
    Body,
    ClusterCounter,
    CurlFails,
    Echoed,
    Expectation,
    FakeSaw,
    GatewayProgrammed,
    LogLine,
    ProxyConnect,
    RouteAccepted,
    Status,
    StatusExpectation,
    Xfcc,
    ZtunnelLine,
)
from egress_e2e.scenario.model import Check, Scenario


@dataclass(frozen=True)
class ExplainedCheck:
    step: int
    name: str
    client: str                      # the role ("curl", "uninjected", ...)
    pod: tuple[str, str, str]        # namespace, pod, container the argv runs in
    argv: tuple[str, ...]
    marker: str
    consecutive: int
    expect: tuple[Expectation, ...]


@dataclass(frozen=True)
class Explanation:
    scenario: Scenario
    layout: Layout
    applies: tuple[tuple[int, str, str, str], ...]   # step (0: base), kind, namespace, name
    checks: tuple[ExplainedCheck, ...]
    # Status that must hold before a step's traffic (Gateway API objects), by step.
    ready: tuple[tuple[int, StatusExpectation], ...] = ()

    def to_data(self) -> dict[str, Any]:
        return {
            "id": self.scenario.id,
            "title": self.scenario.title,
            "layout": self.layout.name,
            "applies": [{"step": step, "kind": kind, "namespace": namespace, "name": name}
                        for step, kind, namespace, name in self.applies],
            "checks": [{
                "step": check.step,
                "name": check.name,
                "client": check.client,
                "exec": {"namespace": check.pod[0], "pod": check.pod[1],
                         "container": check.pod[2]},
                "argv": list(check.argv),
                "marker": check.marker,
                "consecutive": check.consecutive,
                "expect": [expectation_data(e) for e in check.expect],
            } for check in self.checks],
            "ready": [{"step": step, **status_data(e)} for step, e in self.ready],
            "mirrors": [str(task) for task in self.scenario.mirrors],
        }

    def to_text(self) -> str:
        lines = [f"{self.scenario.id}: {self.scenario.title} ({self.layout.name} layout)"]
        for step in sorted({s for s, *_ in self.applies}):
            label = "base" if step == 0 else f"step {step}"
            objects = [f"{kind} {namespace + '/' if namespace else ''}{name}"
                       for s, kind, namespace, name in self.applies if s == step]
            lines.append(f"  applies ({label}): " + ", ".join(objects))
        lines += [f"  mirrors: {task}" for task in self.scenario.mirrors]
        lines += [f"  before traffic (step {step}): {status_words(e)}" for step, e in self.ready]
        for check in self.checks:
            namespace, pod, container = check.pod
            lines += [
                f"  check (step {check.step}): {check.name}",
                f"    from {check.client} ({namespace}/{pod}, container {container}), "
                f"held {check.consecutive} times in a row",
                f"    runs: {format_command(check.argv)}",
                f"    marker: {check.marker}",
            ]
            lines += [f"    expects: {expectation_words(e)}" for e in check.expect]
        return "\n".join(lines) + "\n"


def explain(scenario: Scenario, layout: Layout) -> Explanation:
    built = plan(scenario, layout)
    applies = [_applied(0, doc) for doc in built.base]
    checks: list[ExplainedCheck] = []
    ready: list[tuple[int, StatusExpectation]] = []
    for number, step in enumerate(built.steps, start=1):
        applies += [_applied(number, doc) for doc in step.apply]
        ready += [(number, status) for status in step.step.ready]
        checks += [_check(number, check, layout) for check in step.step.checks]
    return Explanation(scenario, layout, tuple(applies), tuple(checks), tuple(ready))


def _applied(step: int, doc: Document) -> tuple[int, str, str, str]:
    return step, doc.kind, doc.namespace or "", doc.name


def _check(step: int, check: Check, layout: Layout) -> ExplainedCheck:
    curl = dataclasses.replace(check.probe, url=layout.resolve(check.probe.url))
    prepared = probe.prepare(curl)
    return ExplainedCheck(step, check.name, check.probe.client,
                          layout.client_pod(check.probe.client), prepared.argv,
                          prepared.marker, check.consecutive, check.expect)


def expectation_data(expectation: Expectation) -> dict[str, Any]:
    """``{"type": "LogLine", "proxy": "gateway", ...}``: the fields that are checked."""
    fields = {f.name: getattr(expectation, f.name) for f in dataclasses.fields(expectation)}
    checked = {name: value for name, value in fields.items() if value is not None}
    return {"type": type(expectation).__name__, **checked}


def status_data(expectation: StatusExpectation) -> dict[str, Any]:
    """``{"type": "RouteAccepted", "kind": "TLSRoute", ...}``, as ``expectation_data``."""
    fields = {f.name: getattr(expectation, f.name) for f in dataclasses.fields(expectation)}
    return {"type": type(expectation).__name__, **fields}


def status_words(expectation: StatusExpectation) -> str:
    """A status expectation as a sentence (polled, bounded, before the step's checks)."""
    match expectation:
        case GatewayProgrammed(gateway, listeners, least):
            text = f"Gateway {gateway} is Accepted and Programmed"
            if listeners:
                text += (f", listener(s) {', '.join(listeners)} each Accepted, Programmed and "
                         f"ResolvedRefs with at least {least} attached route(s)")
            return text
        case RouteAccepted(kind, route, parent, parent_kind):
            return (f"{kind} {route} is Accepted with ResolvedRefs on {parent_kind} {parent} "
                    "(Istio's controller)")
    raise TypeError(f"unknown status expectation {expectation!r}")  # pragma: no cover


def expectation_words(expectation: Expectation) -> str:  # noqa: PLR0911 (one case a kind)
    """The expectation as a sentence."""
    match expectation:
        case Status(code):
            return f"HTTP status {code}"
        case CurlFails(codes, message):
            text = "curl fails with exit " + " or ".join(str(c) for c in codes)
            return text + (f", its error containing {message!r}" if message else "")
        case Body(contains):
            return f"the response body contains {contains!r}"
        case Echoed():
            return _echoed_words(expectation)
        case Xfcc(by, uri):
            return f"the fake echoed X-Forwarded-Client-Cert with By={by}, URI={uri}"
        case LogLine():
            return _log_line_words(expectation)
        case FakeSaw():
            return _fake_saw_words(expectation)
        case ProxyConnect(present, port, code):
            where = f"the probe's host:{port}" if port else "the probe's host"
            answered = f", answered {code}" if code is not None else ""
            return (f"the fake CONNECT proxy logged a CONNECT to {where} during the probe"
                    f"{answered}" if present
                    else f"the fake CONNECT proxy logged no CONNECT to {where}")
        case ClusterCounter(cluster, at_least):
            return f"the gateway's cluster {cluster} opened at least {at_least} connection(s)"
        case ZtunnelLine():
            return _ztunnel_words(expectation)
    raise TypeError(f"unknown expectation {expectation!r}")  # pragma: no cover


def _echoed_words(e: Echoed) -> str:
    head = f"the fake echoed {e.header}"
    if e.absent:
        return f"the fake saw no {e.header} header"
    tests = [f"equal to {e.equals!r}" if e.equals is not None else "",
             f"starting with {e.startswith!r}" if e.startswith is not None else "",
             f"containing {e.contains!r}" if e.contains is not None else ""]
    said = ", ".join(t for t in tests if t)
    return f"{head} {said}" if said else f"{head} (any value)"


def _log_line_words(e: LogLine) -> str:
    kind = "TCP line" if e.tcp else "HTTP line" if e.tcp is False else "line"
    found = ("by the probe's marker" if e.tcp is False else
             f"by the probe's marker, or a TCP line by SNI {e.sni or '(the URL host)'} in the "
             "probe's time window" if e.match_sni else
             "by the probe's marker, or a TCP line without SNI in the probe's time window")
    fields = {f.name: getattr(e, f.name) for f in dataclasses.fields(e)
              if f.name not in ("proxy", "present", "tcp", "match_sni")}
    said = ", ".join(f"{name}={value!r}" for name, value in fields.items() if value is not None)
    if not e.present:
        return f"the {e.proxy}'s access log shows no {kind} for this probe ({found})"
    return (f"the {e.proxy}'s access log has a {kind} for this probe ({found})"
            + (f" with {said}" if said else ""))


def _fake_saw_words(e: FakeSaw) -> str:
    if not e.reached:
        return "the fake internet never saw this probe"
    fields = {f.name: getattr(e, f.name) for f in dataclasses.fields(e) if f.name != "reached"}
    said = ", ".join(f"{name}={value!r}" for name, value in fields.items() if value is not None)
    return ("the fake internet (stamped with this run's id) saw this probe"
            + (f" with {said}" if said else ""))


def _ztunnel_words(e: ZtunnelLine) -> str:
    found = ("ztunnel's access log (found by the client pod as source and the probe's time "
             "window; ztunnel logs no HTTP)")
    if not e.present:
        return f"{found} shows no outbound connection for this probe"
    said = []
    if e.via_waypoint is not None:
        said.append("carried over HBONE to the waypoint" if e.via_waypoint
                    else "sent straight to the destination, not over HBONE to a waypoint")
    if e.dst_service is not None:
        said.append(f"to service {e.dst_service!r}")
    if e.dst_port is not None:
        said.append(f"connected to port {e.dst_port}")
    if e.ok is not None:
        said.append("completed without error" if e.ok else "ended with an error")
    if e.error_contains is not None:
        said.append(f"its error containing {e.error_contains!r}")
    if e.bytes_recv_at_least is not None:
        said.append(f"at least {e.bytes_recv_at_least} byte(s) received")
    return (f"{found} has the probe's outbound connection"
            + (", " + ", ".join(said) if said else ""))
