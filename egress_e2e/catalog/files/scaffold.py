"""Write a scenario file: a catalog scenario (``from_catalog``) or a starter, as commented YAML.

The text is written by hand, not dumped, so that each field carries the comment saying what it
does (``model.DOCS``, the same words the schema's descriptions use) the first time it appears.
What is written is read back before it is returned: it must load into the very data it spells.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
import typing
from pathlib import Path
from typing import Any, Final

import yaml

from egress_e2e.catalog.files import model
from egress_e2e.core.errors import ConfigError
from egress_e2e.core.paths import MANIFESTS_DIR
from egress_e2e.scenario.expectations import Echoed, FakeSaw, LogLine, Status
from egress_e2e.scenario.model import Check, Curl, DataPlane, Hop, Scenario, Step

_INCLUDE: Final = re.compile(r"""\{%-?\s*include\s+["']([^"']+)["']\s*-?%\}""")
_WIDTH: Final = 96

# The starter `egress-e2e new <id>` writes without --from: a made-up host through the gateway.
STARTER_HOST: Final = "api.partner.example"


def template_source(path: str, manifests_dir: Path = MANIFESTS_DIR, depth: int = 0) -> str:
    """A catalog template's Jinja text, with its ``{% include %}``s inlined (a scenario file's
    resource is one self-contained template)."""
    if depth > 5:
        raise ConfigError(f"template {path}: includes nest too deep")
    try:
        text = (manifests_dir / path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"template {path}: cannot read it ({exc.strerror})") from exc
    return _INCLUDE.sub(lambda m: template_source(m.group(1), manifests_dir, depth + 1), text)


def from_catalog(new_id: str, scenario: Scenario,
                 manifests_dir: Path = MANIFESTS_DIR) -> model.ScenarioFile:
    """``scenario`` as a file's data, under ``new_id``; its templates inlined as resources."""
    names = dict.fromkeys(name for step in scenario.steps
                          for name in (*step.apply, *step.delete))
    # The catalog's template path (rendering/render.py pattern_path).
    resources = tuple(model.Resource(name, manifest=template_source(
        f"patterns/{scenario.id}/{name}.yaml", manifests_dir)) for name in names)
    clients = typing.cast(tuple[model.ClientRole, ...], scenario.clients)
    planes = typing.cast(tuple[DataPlane, ...], scenario.data_planes)
    mirrored = [str(source) for source in (*scenario.seeds, *scenario.mirrors)]
    return model.ScenarioFile(
        id=new_id, title=scenario.title, flow=scenario.flow, resources=resources,
        steps=scenario.steps, data_planes=planes, gateway_api=scenario.gateway_api,
        mirrors=f"catalog scenario {scenario.id}: {'; '.join(mirrored)}",
        differs=scenario.differs, clients=clients, outbound_policy=scenario.outbound_policy,
        gateway=scenario.gateway, requires_istio=scenario.requires_istio,
        needs_network_policy=scenario.needs_network_policy,
        sidecar_egress_hosts=scenario.sidecar_egress_hosts, proxy_config=scenario.proxy_config,
        tags=scenario.tags, seed_names=scenario.seed_names)


def starter(new_id: str) -> model.ScenarioFile:
    """A small complete scenario to edit: plain HTTP to a declared host via the own gateway."""
    url = f"http://{STARTER_HOST}/headers"
    return model.ScenarioFile(
        id=new_id,
        title=f"Plain HTTP to {STARTER_HOST} through the egress gateway",
        mirrors="(say which config of yours this mirrors)",
        hosts=(model.ExternalHost(STARTER_HOST, "http"),),
        flow=(Hop.app("plain HTTP"), Hop.sidecar("plain HTTP"), Hop.gateway("plain HTTP"),
              Hop.external(STARTER_HOST)),
        resources=(model.Resource("egress", manifest=_STARTER_MANIFEST),),
        steps=(Step(
            says=f"A ServiceEntry for {STARTER_HOST}, a Gateway on the gateway's port 80 and a "
                 "VirtualService sending mesh traffic to the gateway and on to the host.",
            apply=("egress",),
            checks=(Check(
                "the request leaves through the gateway",
                Curl(url),
                (Status(200), Echoed.present("X-Envoy-External-Address"),
                 LogLine(proxy="gateway", method="GET", path="/headers", response_code=200,
                         cluster=f"outbound|80||{STARTER_HOST}"),
                 FakeSaw(scheme="http", port=80)),
            ),),
        ),),
    )


_STARTER_MANIFEST: Final = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: partner-api
  namespace: {{ client_ns }}
spec:
  hosts:
  - api.partner.example
{% if export_to is not none %}
  exportTo: {{ export_to | tojson }}
{% endif %}
  ports:
  - number: 80
    name: http
    protocol: HTTP
  resolution: DNS
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: partner-egress
  namespace: {{ client_ns }}
spec:
  selector: {{ gateway_labels | tojson }}
  servers:
  - port:
      number: 80
      name: http
      protocol: HTTP
    hosts:
    - api.partner.example
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: partner-api-through-egress-gateway
  namespace: {{ client_ns }}
spec:
  hosts:
  - api.partner.example
{% if export_to is not none %}
  exportTo: {{ export_to | tojson }}
{% endif %}
  gateways:
  - partner-egress
  - mesh
  http:
  - match:
    - gateways:
      - mesh
      port: 80
    route:
    - destination:
        host: {{ gateway_host }}
        port:
          number: 80
  - match:
    - gateways:
      - partner-egress
      port: 80
    route:
    - destination:
        host: api.partner.example
        port:
          number: 80
"""


def to_text(declared: model.ScenarioFile, *, origin: str = "") -> str:
    """The commented YAML for ``declared``; loading it gives back the same data."""
    data = model.unbuild(declared, model.ScenarioFile)
    # The fields a person edits first come first, whatever their defaults.
    for key in ("id", "title", "mirrors", "flow", "resources", "steps"):
        data.setdefault(key, model.unbuild(getattr(declared, key),
                                           model.hints(model.ScenarioFile)[key]))
    order = ["id", "title", "mirrors", "hosts", "clients", "outbound_policy", "gateway",
             "gateway_api", "requires_istio", "data_planes", "needs_network_policy",
             "sidecar_egress_hosts", "proxy_config", "tags", "seed_names", "differs", "flow",
             "resources", "steps"]
    data = {key: data[key] for key in order if key in data}
    header = [
        "# An egress-e2e scenario file (docs/scenarios.md). Editors validate it with",
        "# schemas/scenario-file.schema.json; `egress-e2e lint --scenarios-dir DIR` checks it "
        "and",
        "# its rendered resources. Fields left out take their defaults.",
    ]
    if origin:
        header.append(f"# Written by `egress-e2e new` from {origin}.")
    lines = [*header, *_Writer().mapping(model.ScenarioFile, data, 0)]
    text = "\n".join(lines) + "\n"
    loaded = yaml.safe_load(text)
    if loaded != data:  # a writer bug, never a user's: say where it went wrong
        raise AssertionError("scenario file writer: the text does not read back as written")
    return text


class _Writer:
    def __init__(self) -> None:
        self.said: set[str] = set()
        self.vocabularies_said: set[str] = set()

    def comment(self, key: str, pad: str) -> list[str]:
        doc = model.DOCS.get(key)
        if not doc or key in self.said:
            return []
        self.said.add(key)
        name = key.split(".", 1)[1]
        return [f"{pad}# {line}" for line in
                textwrap.wrap(f"{name}: {doc}", _WIDTH - len(pad) - 2)]

    def mapping(self, cls: type, data: dict[str, Any], indent: int,
                first_prefix: str | None = None) -> list[str]:
        pad = " " * indent
        types_of = model.hints(cls)
        lines: list[str] = []
        for index, (key, value) in enumerate(data.items()):
            prefix = first_prefix if index == 0 and first_prefix is not None else pad
            lines += self.comment(f"{cls.__name__}.{key}", pad)
            if key in ("expect", "ready"):
                lines += self.vocabulary(pad, key, types_of[key])
            lines += self.entry(prefix, key, value, types_of[key], indent)
        return lines

    def vocabulary(self, pad: str, key: str, tp: Any) -> list[str]:
        """Once per file for each list of named choices: its names and fields."""
        choices = model.named_choices(_item_type(tp))
        if key in self.vocabularies_said or choices is None:
            return []
        self.vocabularies_said.add(key)
        what = "expectations" if key == "expect" else "status checks"
        lines = [f"{pad}# The {what}, by name, with their fields (all optional unless "
                 "marked *):"]
        for name, cls in sorted(choices.items()):
            fields = []
            for item in dataclasses.fields(cls):
                star = "*" if item.default is dataclasses.MISSING else ""
                fields.append(f"{item.name}{star}")
            lines += [f"{pad}#   {line}" for line in textwrap.wrap(
                f"{name} ({', '.join(fields)}): {_first_sentence(cls.__doc__ or '')}",
                _WIDTH - len(pad) - 4)]
        return lines

    def entry(self, prefix: str, key: str, value: Any, tp: Any, indent: int) -> list[str]:
        inner = _item_type(tp)
        if isinstance(value, str) and "\n" in value and _block_safe(value):
            chomp = "" if value.endswith("\n") and not value.endswith("\n\n") else \
                ("-" if not value.endswith("\n") else "+")
            body = [" " * (indent + 2) + line if line else ""
                    for line in value.removesuffix("\n").split("\n")]
            return [f"{prefix}{key}: |{chomp}", *body]
        if isinstance(value, dict) and value and isinstance(tp, type) \
                and dataclasses.is_dataclass(tp):
            return [f"{prefix}{key}:", *self.mapping(tp, value, indent + 2)]
        if isinstance(value, list) and value and inner is not None and (
                dataclasses.is_dataclass(inner) or model.named_choices(inner) is not None):
            lines = [f"{prefix}{key}:"]
            for item in value:
                lines += self.item(item, inner, indent + 2)
            return lines
        flat = _flow(value)
        if isinstance(value, list) and len(prefix) + len(key) + len(flat) + 2 > _WIDTH:
            lines = [f"{prefix}{key}:"]
            for item in value:
                lines += _wrapped(f"{' ' * (indent + 2)}- ", item, indent + 4)
            return lines
        return _wrapped(f"{prefix}{key}: ", value, indent + 2)

    def item(self, value: dict[str, Any], tp: Any, indent: int) -> list[str]:
        pad = " " * indent
        if model.named_choices(tp) is not None:
            ((name, fields),) = value.items()
            return _wrapped(f"{pad}- {name}: ", fields, indent + 4)
        if not value:
            return [f"{pad}- {{}}"]
        return self.mapping(tp, value, indent + 2, first_prefix=f"{pad}- ")


def _item_type(tp: Any) -> Any:
    args = typing.get_args(tp)
    if typing.get_origin(tp) is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _block_safe(text: str) -> bool:
    """A literal block keeps this text exactly: no leading spaces on its first line, no tabs
    or carriage returns, no trailing spaces."""
    lines = text.split("\n")
    return not (lines[0].startswith(" ") or "\t" in text or "\r" in text
                or any(line != line.rstrip(" ") for line in lines))


def _flow(value: Any, width: int = 10**6) -> str:
    dumped = yaml.safe_dump(value, default_flow_style=True, width=width, sort_keys=False,
                            allow_unicode=True)
    return dumped.removesuffix("\n").removesuffix("\n...").strip()


def _wrapped(lead: str, value: Any, indent: int) -> list[str]:
    """``lead`` then ``value`` in flow style, folded to the width: continuation lines indented
    past the key (YAML folds a plain or quoted scalar's line breaks back into spaces)."""
    # PyYAML breaks at the first chance past the width: aim short of it.
    first, *rest = _flow(value, max(_WIDTH - len(lead) - 16, 30)).split("\n")
    return [f"{lead}{first}", *(" " * indent + line.lstrip(" ") for line in rest)]


def _first_sentence(doc: str) -> str:
    text = " ".join(doc.strip().split("\n\n")[0].split()).replace("``", "")
    match = re.match(r"(.*?[a-z)\]'])\.(\s|$)", text)
    return (match.group(1) if match else text.rstrip(".")) + "."
