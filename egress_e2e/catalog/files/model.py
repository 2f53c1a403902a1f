"""The scenario file format as dataclasses, and the JSON Schema generated from them.

A scenario file (``<id>.yaml``, or ``<id>/scenario.yaml`` beside manifest files) spells the
same ``Scenario`` the Python catalog declares. The file's own shapes are the dataclasses here;
steps, checks, probes, hops, seed names and expectations are the model's own classes, so the
file speaks the catalog's vocabulary by the same names and fields. ``schema()`` walks these
dataclasses' type hints (nothing is written by hand), and ``build()`` turns validated data back
into them. ``python -m egress_e2e.catalog.files.model`` prints the schema committed at
``schemas/scenario-file.schema.json``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from egress_e2e.scenario import expectations
from egress_e2e.scenario.model import DataPlane, Hop, SeedNames, Step

SCHEMA_FILE: Final = "schemas/scenario-file.schema.json"

HostKind = Literal["http", "tls", "mtls"]
# The client roles the base templates deploy (rendering/layout.py CLIENT_PODS).
ClientRole = Literal["curl", "other", "uninjected", "restricted"]

# Expectation classes by the name a file uses for them: the class name itself.
EXPECTATIONS: Final[dict[str, type]] = {
    cls.__name__: cls for cls in typing.get_args(expectations.Expectation)}


@dataclass(frozen=True)
class Resource:
    """One resource the steps apply by name: a Jinja template of Kubernetes manifests."""

    name: str
    manifest: str | None = None
    file: str | None = None


@dataclass(frozen=True)
class ExternalHost:
    """An external host the scenario calls."""

    name: str
    kind: HostKind = "http"
    internet: bool = False


@dataclass(frozen=True)
class ScenarioFile:
    """A scenario file: what a catalog declaration carries."""

    id: str
    title: str
    flow: tuple[Hop, ...]
    resources: tuple[Resource, ...]
    steps: tuple[Step, ...]
    mirrors: str = ""
    differs: tuple[str, ...] = ()
    hosts: tuple[ExternalHost, ...] = ()
    clients: tuple[ClientRole, ...] = ("curl",)
    outbound_policy: Literal["REGISTRY_ONLY", "ALLOW_ANY"] = "REGISTRY_ONLY"
    gateway: Literal["own", "shared", "none"] = "own"
    requires_istio: str | None = None
    # The model's data planes, whatever they grow to (scenario/model.py DATA_PLANES).
    data_planes: tuple[DataPlane, ...] = ("sidecar",)
    gateway_api: str | None = None
    needs_network_policy: bool = False
    sidecar_egress_hosts: tuple[str, ...] = ()
    proxy_config: str | None = None
    tags: tuple[str, ...] = ()
    seed_names: SeedNames = field(default_factory=SeedNames)


# What each field does: the schema's descriptions and the comments `egress-e2e new` writes.
DOCS: Final[dict[str, str]] = {
    "ScenarioFile": "An egress scenario: the resources it applies, the flow it claims, and "
                    "the probes with what each must show.",
    "ScenarioFile.id": "Lowercase DNS label (at most 40 characters), the file's name without "
                       ".yaml (or its folder's name); it names the run's namespaces and is what "
                       "-k selects. Must not be a catalog id.",
    "ScenarioFile.title": "One line saying what the scenario proves.",
    "ScenarioFile.mirrors": "Free text: the config of yours this scenario mirrors (a repository,"
                            " a runbook, a ticket).",
    "ScenarioFile.flow": "The traffic path the scenario claims, hop by hop; the report draws it.",
    "ScenarioFile.resources": "The manifests the steps apply, by name: Jinja templates "
                              "rendered with the layout variables (client_ns, gateway_ns, "
                              "gateway_host, export_to...), inline or in a file beside "
                              "scenario.yaml.",
    "ScenarioFile.steps": "Apply (or delete) resources, then run checks; in order.",
    "ScenarioFile.differs": "What differs from the config it mirrors, and why.",
    "ScenarioFile.hosts": "External hosts the probes call: the fake internet answers them and "
                          "the cluster DNS maps them to it, unless internet is true.",
    "ScenarioFile.clients": "Client workloads to deploy: curl (injected), other (injected, a "
                            "second namespace), uninjected, restricted (selected by a Sidecar).",
    "ScenarioFile.outbound_policy": "meshConfig outboundTrafficPolicy the clients see "
                                    "(a Sidecar resource in their namespaces).",
    "ScenarioFile.gateway": "own: an egress gateway deployed in the scenario's namespace; "
                            "shared: istio-system's (runs one at a time); none.",
    "ScenarioFile.requires_istio": "A version specifier such as '>=1.26': other Istio versions "
                                   "skip the scenario.",
    "ScenarioFile.data_planes": "The data planes the scenario applies to (sidecar, ambient); a "
                                "run on another skips it.",
    "ScenarioFile.gateway_api": "The Gateway API Gateway (gatewayClassName istio, in the client "
                                "namespace) that is the scenario's gateway; null: an Istio "
                                "Gateway on a deployed gateway.",
    "ScenarioFile.needs_network_policy": "Skip unless the cluster enforces NetworkPolicy.",
    "ScenarioFile.sidecar_egress_hosts": "The egress hosts of the clients' namespace-wide "
                                         "Sidecar (e.g. ./*); empty: the default scope plus a "
                                         "port-80 HTTP placeholder Service in the isolated "
                                         "layout.",
    "ScenarioFile.proxy_config": "ProxyConfig JSON for the clients' and the own gateway's "
                                 "proxy.istio.io/config annotation (null: mesh defaults).",
    "ScenarioFile.tags": "Free labels.",
    "ScenarioFile.seed_names": "The names the seed (non-isolated) layout renders with; the e2e "
                               "run's isolated layout ignores them.",
    "Resource": "A Jinja template of one or more Kubernetes manifests.",
    "Resource.name": "What steps' apply/delete call it.",
    "Resource.manifest": "The template text (give this or file).",
    "Resource.file": "A template file, relative to the scenario file's folder (give this or "
                     "manifest).",
    "ExternalHost": "An external host name the scenario calls.",
    "ExternalHost.name": "The host name, as the probes and the ServiceEntry spell it.",
    "ExternalHost.kind": "How the fake internet answers it: http (port 80), tls (port 443, a "
                         "server certificate from the per-run CA), mtls (port 8443, requires "
                         "the per-run client certificate).",
    "ExternalHost.internet": "true: the real host on the internet (not faked, not mapped); the "
                             "scenario runs only with --allow-internet.",
    "Hop": "One hop of the flow.",
    "Hop.role": "What the hop is.",
    "Hop.name": "Its label in the report (e.g. curl, sidecar, egress gateway, the host).",
    "Hop.link": "How traffic travels on the link leaving this hop.",
    "Step": "Apply or delete resources, then run checks.",
    "Step.says": "What the step does, in words.",
    "Step.apply": "Resource names to apply.",
    "Step.delete": "Resource names to delete first.",
    "Step.checks": "Probes and what each must show.",
    "Step.ready": "Gateway API status to hold (polled, bounded) after applying and before the "
                  "checks, each {Name: {field: value}}.",
    "Check": "A probe and what it must show, held consecutive times in a row.",
    "Check.name": "What the check proves.",
    "Check.probe": "The request.",
    "Check.expect": "Expectations, each a one-key mapping: the expectation's name and its "
                    "fields.",
    "Check.consecutive": "How many probes in a row must show it.",
    "Curl": "One curl request from a client workload.",
    "Curl.url": "The URL; {client_ns}, {other_ns}, {gateway_ns}, {gateway_name} and "
                "{gateway_host} are filled in for the layout.",
    "Curl.client": "Which client runs it (one of clients).",
    "Curl.trust_fake_ca": "curl --cacert with the per-run CA (the app itself speaks TLS).",
    "Curl.client_cert": "App-level mTLS with the per-run client certificate.",
    "Curl.extra_args": "More curl arguments.",
    "Curl.timeout_s": "curl --max-time in seconds, before --timeout-scale.",
    "SeedNames": "Names of the seed layout.",
    "SeedNames.client_ns": "The clients' namespace.",
    "SeedNames.other_ns": "The second client's namespace.",
    "SeedNames.gateway_ns": "The egress gateway's namespace.",
    "SeedNames.gateway_name": "The egress gateway's Service and Deployment name.",
    "SeedNames.gateway_sa": "The egress gateway's service account.",
    "SeedNames.gateway_labels": "The egress gateway's selector labels, as [key, value] pairs.",
    "SeedNames.gateway_installed": "The gateway comes with the Istio install (not rendered).",
    "SeedNames.mesh_config_ns": "Where mesh-wide config lives.",
    "Expectation": "One expectation: {Name: {field: value}}.",
    "Status.code": "The HTTP status code.",
    "CurlFails.exit_codes": "curl exit codes, one of which it must exit with.",
    "CurlFails.message": "Text its error line contains.",
    "Body.contains": "Text the response body contains.",
    "Echoed.header": "The request header, as httpbin /headers echoes it.",
    "Echoed.equals": "Its value equals this.",
    "Echoed.startswith": "Its value starts with this.",
    "Echoed.contains": "Its value contains this.",
    "Echoed.absent": "The header must not reach the fake.",
    "Xfcc.by": "Whose identity By= names.",
    "Xfcc.uri": "Whose identity URI= names.",
    "LogLine.proxy": "Whose access log.",
    "LogLine.present": "false: no line may appear within the settle window.",
    "LogLine.tcp": "A TCP (not HTTP) line.",
    "LogLine.method": "Request method.",
    "LogLine.path": "Request path.",
    "LogLine.protocol": "Downstream protocol (HTTP/1.1, HTTP/2).",
    "LogLine.response_code": "Response code.",
    "LogLine.response_flags": "Envoy response flags.",
    "LogLine.cluster": "Upstream cluster, exactly.",
    "LogLine.cluster_contains": "Upstream cluster contains this.",
    "LogLine.sni": "Requested server name.",
    "LogLine.downstream_local_port": "The port the proxy received it on.",
    "LogLine.route_name": "The route's name.",
    "LogLine.transport_failure_contains": "Upstream transport failure reason contains this.",
    "LogLine.match_sni": "false: find TCP lines by time among lines without SNI.",
    "FakeSaw.reached": "An answer stamped with this run's id reached the client.",
    "FakeSaw.scheme": "http or https, as the fake saw it.",
    "FakeSaw.port": "The fake's port.",
    "FakeSaw.sni": "The SNI the fake saw.",
    "FakeSaw.client_subject_contains": "The client certificate subject the fake verified.",
    "FakeSaw.client_verify": "nginx $ssl_client_verify (SUCCESS, NONE...).",
    "FakeSaw.server_block": "Which of the fake's server blocks answered.",
    "ProxyConnect.present": "false: no CONNECT for the probe's host at all.",
    "ProxyConnect.target_port": "The tunnel's port.",
    "ProxyConnect.response_code": "The proxy's answer to the CONNECT.",
    "ClusterCounter.cluster": "The Envoy cluster on the gateway.",
    "ClusterCounter.at_least": "How much its cx_total must grow over the check.",
    "ZtunnelLine.present": "false: ztunnel logs no outbound connection from the client in the "
                           "probe's time window (within the settle window).",
    "ZtunnelLine.via_waypoint": "true: ztunnel carried it over HBONE (dst.hbone_addr, port "
                                "15008) to a waypoint; false: straight to the destination.",
    "ZtunnelLine.dst_service": "dst.service: the service hostname ztunnel matched.",
    "ZtunnelLine.dst_port": "The port of dst.addr, where ztunnel connected.",
    "ZtunnelLine.ok": "true: connection complete without an error; false: with one.",
    "ZtunnelLine.error_contains": "ztunnel's error field contains this.",
    "ZtunnelLine.bytes_recv_at_least": "bytes_recv (what the client got) is at least this.",
    "GatewayProgrammed.gateway": "The Gateway API Gateway's name, in the client namespace.",
    "GatewayProgrammed.listeners": "Listener names that must each have routes attached.",
    "GatewayProgrammed.attached_routes": "At least this many (status.listeners[]."
                                         "attachedRoutes).",
    "RouteAccepted.kind": "The route's kind.",
    "RouteAccepted.route": "The route's name, in the client namespace.",
    "RouteAccepted.parent": "The parentRef's name.",
    "RouteAccepted.parent_kind": "The parentRef's kind: a Gateway, or a ServiceEntry (routes "
                                 "bound to the external host itself).",
}


def _doc(owner: type, name: str | None = None) -> str:
    key = owner.__name__ if name is None else f"{owner.__name__}.{name}"
    if key in DOCS:
        return DOCS[key]
    if name is not None:
        return ""
    doc = (owner.__doc__ or "").strip()
    # A dataclass without a docstring gets its signature as one: not a description.
    if doc.startswith(f"{owner.__name__}("):
        return ""
    return " ".join(doc.split("\n\n")[0].split())


def hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def is_expectation(tp: Any) -> bool:
    return tp is expectations.Expectation or (
        isinstance(tp, types.UnionType)
        and set(typing.get_args(tp)) == set(EXPECTATIONS.values()))


def named_choices(tp: Any) -> dict[str, type] | None:
    """A union of dataclasses (the expectations, a step's status checks): its members by class
    name, which a file writes as a one-key mapping ``{Name: {field: value}}``."""
    if typing.get_origin(tp) not in (types.UnionType, typing.Union):
        return None
    members = typing.get_args(tp)
    if not all(isinstance(m, type) and dataclasses.is_dataclass(m) for m in members):
        return None
    return {m.__name__: m for m in members}


def _simple(tp: Any) -> dict[str, Any] | None:
    names = {str: "string", int: "integer", float: "number", bool: "boolean",
             type(None): "null"}
    return {"type": names[tp]} if tp in names else None


def _schema_of(tp: Any, defs: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0911, PLR0912
    simple = _simple(tp)
    if simple is not None:
        return simple
    choices = named_choices(tp)
    if choices is not None:
        one_of = {"type": "object", "minProperties": 1, "maxProperties": 1,
                  "propertyNames": {"enum": sorted(choices)},
                  "properties": {name: _schema_of(cls, defs)
                                 for name, cls in sorted(choices.items())}}
        if not is_expectation(tp):
            return {"description": "One of these, by name: {Name: {field: value}}.", **one_of}
        if "Expectation" not in defs:
            defs["Expectation"] = {"description": DOCS["Expectation"], **one_of}
        return {"$ref": "#/$defs/Expectation"}
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        name = tp.__name__
        if name not in defs:
            defs[name] = {}  # placeholder against recursion
            defs[name] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{name}"}
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is Literal:
        return {"enum": list(args)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema_of(args[0], defs)}
        return {"type": "array", "prefixItems": [_schema_of(a, defs) for a in args],
                "minItems": len(args), "maxItems": len(args), "items": False}
    if origin in (types.UnionType, typing.Union):
        members = [a for a in args if a is not type(None)]
        if len(members) == 1 and len(args) == 2:
            inner = _schema_of(members[0], defs)
            if "type" in inner and isinstance(inner["type"], str):
                return {**inner, "type": [inner["type"], "null"]}
            if "enum" in inner:
                return {"enum": [*inner["enum"], None]}
        return {"anyOf": [_schema_of(a, defs) for a in args]}
    raise TypeError(f"no schema for type {tp!r}")


def _json_default(value: object) -> object:
    if isinstance(value, tuple):
        return [_json_default(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return dataclasses.MISSING


def _object_schema(cls: type, defs: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = {}
    required: list[str] = []
    types_of = hints(cls)
    for item in dataclasses.fields(cls):
        prop = _schema_of(types_of[item.name], defs)
        doc = _doc(cls, item.name)
        if doc:
            prop = {"description": doc, **prop}
        if item.default is not dataclasses.MISSING:
            default = _json_default(item.default)
            if default is not dataclasses.MISSING:
                prop["default"] = default
        elif item.default_factory is dataclasses.MISSING:
            required.append(item.name)
        properties[item.name] = prop
    out: dict[str, Any] = {"type": "object"}
    doc = _doc(cls)
    if doc:
        out = {"description": doc, **out}
    out["properties"] = properties
    if required:
        out["required"] = required
    out["additionalProperties"] = False
    return out


def schema() -> dict[str, Any]:
    """The JSON Schema (2020-12) of a scenario file, from ``ScenarioFile``'s type hints."""
    defs: dict[str, Any] = {}
    top = _object_schema(ScenarioFile, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "title": "egress-e2e scenario file", **top, "$defs": dict(sorted(defs.items()))}


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def build(tp: Any, value: Any) -> Any:  # noqa: PLR0911 (a kind each)
    """Schema-valid data as ``tp``: lists become tuples, mappings dataclasses."""
    choices = named_choices(tp)
    if choices is not None:
        ((name, fields),) = value.items()
        return build(choices[name], fields or {})
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        types_of = hints(tp)
        return tp(**{key: build(types_of[key], item) for key, item in value.items()})
    if tp is float and isinstance(value, int):
        return float(value)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(build(args[0], item) for item in value)
        return tuple(build(a, item) for a, item in zip(args, value, strict=True))
    if origin in (types.UnionType, typing.Union) and value is not None:
        members = [a for a in args if a is not type(None)]
        if len(members) == 1:
            return build(members[0], value)
    return value


def unbuild(value: Any, tp: Any) -> Any:
    """The data a file would carry for ``value`` (a dataclass or field value of type ``tp``):
    fields left at their defaults are left out."""
    if named_choices(tp) is not None:
        return {type(value).__name__: unbuild(value, type(value))}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        types_of = hints(type(value))
        out: dict[str, Any] = {}
        for item in dataclasses.fields(value):
            current = getattr(value, item.name)
            if item.default is not dataclasses.MISSING and current == item.default:
                continue
            if item.default_factory is not dataclasses.MISSING \
                    and current == item.default_factory():
                continue
            out[item.name] = unbuild(current, types_of[item.name])
        return out
    if isinstance(value, tuple):
        args = typing.get_args(tp)
        if len(args) == 2 and args[1] is Ellipsis:
            return [unbuild(v, args[0]) for v in value]
        return [unbuild(v, a) for v, a in zip(value, args, strict=True)]
    return value


if __name__ == "__main__":
    sys.stdout.write(schema_text())
