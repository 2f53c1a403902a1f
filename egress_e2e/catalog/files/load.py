"""Read a scenario file into a ``Scenario``: YAML with its line marks kept, the generated JSON
Schema, then what a schema cannot say (resource names, client roles, version specifiers).

Every problem is one line, ``path:line: field: message``; ``problems()`` lists them all (for
``lint``), ``load()`` raises the first as a ``ScenarioFileError``.
"""

from __future__ import annotations

import difflib
import json
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from egress_e2e.catalog import MAX_ID_LENGTH
from egress_e2e.catalog.files import model
from egress_e2e.core.errors import ConfigError
from egress_e2e.core.labels import is_dns_label
from egress_e2e.scenario import hosts as seed_hosts
from egress_e2e.scenario.model import Scenario, Seed

# The folder form: <id>/scenario.yaml beside the manifest files it references.
FOLDER_FILE: Final = "scenario.yaml"
SUFFIXES: Final = (".yaml", ".yml")
# Resource names end up in a template path (patterns/<id>/<name>.yaml): no slashes, no dots.
_RESOURCE_NAME: Final = re.compile(r"[a-z0-9]([-a-z0-9_]*[a-z0-9])?")
# What list shows in its seeds column for a scenario that comes from a file.
FILE_SEED: Final = "file"
FILE_TAG: Final = "scenario-file"
INTERNET_TAG: Final = "real-internet"
# What a probe URL may name in braces: the layout's URL fields (rendering/layout.py
# Layout.url_fields; a test keeps the two equal, this room may not import rendering).
URL_FIELDS: Final = ("client_ns", "other_ns", "gateway_ns", "gateway_name", "gateway_host")

Where = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.field or '(file)'}: {self.message}"


class ScenarioFileError(ConfigError):
    """A scenario file that does not load: the first problem as the one line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 1} more: egress-e2e lint --scenarios-dir shows all)" \
            if len(problems) > 1 else ""
        super().__init__(f"{problems[0]}{more}")


@dataclass(frozen=True)
class LoadedFile:
    """A scenario file, read: the scenario, its resources' template text by name, its hosts."""

    path: Path
    scenario: Scenario
    resources: dict[str, str] = field(repr=False)
    hosts: tuple[model.ExternalHost, ...] = ()
    # Resource name -> "line where it is declared", for lint lines that name the file.
    resource_lines: dict[str, int] = field(default_factory=dict, repr=False)
    # The line of the id field: a clash with another scenario's id is said there.
    id_line: int = 1
    # Host name (as written) -> its line, for clashes found across files.
    host_lines: dict[str, int] = field(default_factory=dict, repr=False)

    @property
    def internet_hosts(self) -> tuple[str, ...]:
        return tuple(h.name for h in self.hosts if h.internet)

    @property
    def fake_hosts(self) -> tuple[model.ExternalHost, ...]:
        return tuple(h for h in self.hosts if not h.internet)


def field_name(where: Where) -> str:
    """``steps[0].checks[1].expect[0].Status``: the path of a value, as a person reads it."""
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def discover(directory: Path) -> list[Path]:
    """The scenario files in ``directory``: ``*.yaml`` there, and ``*/scenario.yaml``."""
    if not directory.is_dir():
        raise ConfigError(f"--scenarios-dir {directory}: not a directory")
    found: list[Path] = []
    for entry in sorted(directory.iterdir()):
        if entry.is_file() and entry.suffix in SUFFIXES and not entry.name.startswith("."):
            found.append(entry)
        elif entry.is_dir() and (entry / FOLDER_FILE).is_file():
            found.append(entry / FOLDER_FILE)
    return found


def expected_id(path: Path) -> str:
    return path.parent.name if path.name == FOLDER_FILE else path.stem


def load(path: Path) -> LoadedFile:
    loaded, found = _read(path)
    if found or loaded is None:
        raise ScenarioFileError(found or [Problem(path, 1, "", "does not load")])
    return loaded


def problems(path: Path) -> list[Problem]:
    return _read(path)[1]


def _read(path: Path) -> tuple[LoadedFile | None, list[Problem]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(path, 1, "", f"cannot read it ({exc})")]
    lines: dict[Where, int] = {}
    try:
        data = _compose(text, path, lines)
    except _YamlProblem as exc:
        return None, [exc.problem]
    found = _schema_problems(path, data, lines)
    if found:
        return None, found
    declared: model.ScenarioFile = model.build(model.ScenarioFile, data)
    checker = _Checker(path, lines)
    resources = checker.check(declared)
    if checker.found:
        return None, sorted(checker.found, key=lambda p: p.line)
    scenario = _scenario(declared)
    return LoadedFile(path, scenario, resources, declared.hosts,
                      {r.name: lines.get(("resources", i), 1)
                       for i, r in enumerate(declared.resources)},
                      lines.get(("id",), 1),
                      {h.name: lines.get(("hosts", i), 1)
                       for i, h in enumerate(declared.hosts)}), []


class _YamlProblem(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def _compose(text: str, path: Path, lines: dict[Where, int]) -> Any:
    """The YAML as plain data, recording each value's line (a mapping value: its key's)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise _YamlProblem(Problem(path, 1, "", "empty file"))
        return _convert(node, (), lines, loader, path)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        said = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise _YamlProblem(Problem(path, line, "", f"not valid YAML: {said}")) from exc
    finally:
        loader.dispose()


def _convert(node: yaml.Node, where: Where, lines: dict[Where, int], loader: yaml.SafeLoader,
             path: Path) -> Any:
    lines.setdefault(where, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise _YamlProblem(Problem(path, line, field_name(where),
                                           f"keys must be strings, got {key!r}"))
            if key in out:
                raise _YamlProblem(Problem(path, line, field_name((*where, key)),
                                           "given twice"))
            lines[(*where, key)] = line
            out[key] = _convert(value_node, (*where, key), lines, loader, path)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(item, (*where, index), lines, loader, path)
                for index, item in enumerate(node.value)]
    return loader.construct_object(node)


@cache
def _validator() -> Any:
    import jsonschema  # type: ignore[import-untyped]

    return jsonschema.Draft202012Validator(model.schema())


def _line(lines: dict[Where, int], where: Where) -> int:
    while where and where not in lines:
        where = where[:-1]
    return lines.get(where, 1)


def _schema_problems(path: Path, data: Any, lines: dict[Where, int]) -> list[Problem]:
    # Each problem with the path of its value: a missing field's parent is where[:-1].
    found: dict[tuple[int, str], tuple[Problem, Where]] = {}

    def add(where: Where, message: str) -> None:
        problem = Problem(path, _line(lines, where), field_name(where), message)
        found.setdefault((problem.line, problem.field), (problem, where))

    for error in _validator().iter_errors(data):
        where: Where = tuple(error.absolute_path)
        schema_path = list(error.absolute_schema_path)
        if error.validator == "additionalProperties":
            known = sorted(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - set(known)):
                close = difflib.get_close_matches(key, known, n=1)
                hint = f"did you mean {close[0]}? " if close else ""
                add((*where, key), f"unknown field ({hint}expected one of: {', '.join(known)})")
        elif "propertyNames" in schema_path:
            name = str(error.instance)
            known = [str(v) for v in error.validator_value]
            what = "expectation" if set(known) == set(model.EXPECTATIONS) else "name"
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"did you mean {close[0]}? " if close else ""
            add((*where, name), f"unknown {what} ({hint}expected one of: {', '.join(known)})")
        elif error.validator in ("minProperties", "maxProperties") and "propertyNames" in \
                error.schema:
            add(where, "one mapping key, the name, with its fields: {Status: {code: 200}}")
        elif error.validator == "required":
            missing = [str(k) for k in error.validator_value if k not in error.instance]
            for key in missing:
                add((*where, key), "missing (a required field)")
        elif error.validator == "enum":
            add(where, f"{error.instance!r} is not one of: "
                       f"{', '.join(map(str, error.validator_value))}")
        elif error.validator == "type":
            add(where, f"expected {_type_words(error.validator_value)}, got "
                       f"{type(error.instance).__name__} {_short(error.instance)}")
        else:
            add(where, error.message)
    # A misspelt field also leaves its right spelling missing: the misspelling says both
    # (compared by parent path, so top-level fields count too).
    unknown = {where[:-1] for p, where in found.values() if p.message.startswith("unknown field")}
    kept = [p for p, where in found.values()
            if not (p.message.startswith("missing") and where[:-1] in unknown)]
    return sorted(kept, key=lambda p: (p.line, p.field))


def _type_words(value: Any) -> str:
    kinds = value if isinstance(value, list) else [value]
    words = {"object": "a mapping", "array": "a list", "string": "a string",
             "integer": "an integer", "number": "a number", "boolean": "true or false",
             "null": "null"}
    return " or ".join(words.get(str(k), str(k)) for k in kinds)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class _Checker:
    """What the schema cannot say, each problem at its line."""

    def __init__(self, path: Path, lines: dict[Where, int]) -> None:
        self.path = path
        self.lines = lines
        self.found: list[Problem] = []

    def add(self, where: Where, message: str) -> None:
        self.found.append(Problem(self.path, _line(self.lines, where), field_name(where),
                                  message))

    def check(self, declared: model.ScenarioFile) -> dict[str, str]:
        self._identity(declared)
        resources = self._resources(declared)
        # Every declared name counts, read or not: one fault is one problem.
        self._steps(declared, {r.name for r in declared.resources})
        self._hosts(declared)
        if declared.requires_istio is not None:
            try:
                SpecifierSet(declared.requires_istio)
            except InvalidSpecifier:
                self.add(("requires_istio",), f"{declared.requires_istio!r} is not a version "
                                              "specifier (e.g. '>=1.26')")
        if declared.proxy_config is not None:
            try:
                json.loads(declared.proxy_config)
            except ValueError as exc:
                self.add(("proxy_config",), f"not JSON ({exc})")
        return resources

    def _identity(self, declared: model.ScenarioFile) -> None:
        if not is_dns_label(declared.id) or len(declared.id) > MAX_ID_LENGTH:
            self.add(("id",), f"{declared.id!r}: expected a lowercase DNS label of at most "
                              f"{MAX_ID_LENGTH} characters")
        elif declared.id != expected_id(self.path):
            where = "folder" if self.path.name == FOLDER_FILE else "file"
            self.add(("id",), f"{declared.id!r} differs from its {where}'s name "
                              f"{expected_id(self.path)!r}: rename one")
        if not declared.flow:
            self.add(("flow",), "empty: give the hops from the app to the external host")
        if not declared.steps:
            self.add(("steps",), "empty: a scenario has at least one step")
        if len(set(declared.clients)) != len(declared.clients):
            self.add(("clients",), "a client role is listed twice")
        if not declared.data_planes:
            self.add(("data_planes",), "empty: name the data planes it applies to")
        if declared.gateway_api is not None:
            if not is_dns_label(declared.gateway_api):
                self.add(("gateway_api",), f"{declared.gateway_api!r}: the Gateway's name, a "
                                           "lowercase DNS label")
            elif declared.gateway != "none":
                # istiod deploys <name>-istio in the client namespace for it, the very names
                # the run's layout then gives "the gateway" (evidence/route_status.py): a
                # deployed gateway beside it would take them too.
                self.add(("gateway",), f"{declared.gateway!r} with gateway_api: istiod deploys "
                                       "the Gateway API gateway; write gateway: none")

    def _resources(self, declared: model.ScenarioFile) -> dict[str, str]:
        texts: dict[str, str] = {}
        for index, resource in enumerate(declared.resources):
            where: Where = ("resources", index)
            if not _RESOURCE_NAME.fullmatch(resource.name):
                self.add((*where, "name"), f"{resource.name!r}: lowercase letters, digits, '-' "
                                           "and '_'")
                continue
            if resource.name in texts:
                self.add((*where, "name"), f"{resource.name!r} is declared twice")
                continue
            if (resource.manifest is None) == (resource.file is None):
                self.add(where, "give exactly one of manifest (inline) or file (a path)")
                continue
            text = resource.manifest if resource.manifest is not None \
                else self._file_text((*where, "file"), resource.file or "")
            if text is None:
                continue
            # A literal block's text starts on the line after its key.
            first_line = self.lines.get((*where, "manifest"), 0) + 1 \
                if resource.manifest is not None else 1
            self._template_syntax(where, text, first_line, resource)
            texts[resource.name] = text
        return texts

    def _file_text(self, where: Where, relative: str) -> str | None:
        folder = self.path.parent.resolve()
        target = (folder / relative).resolve()
        if Path(relative).is_absolute() or folder not in target.parents:
            self.add(where, f"{relative!r}: a path inside the scenario's folder")
            return None
        try:
            return target.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.add(where, f"cannot read {relative} ({getattr(exc, 'strerror', None) or exc})")
            return None

    def _template_syntax(self, where: Where, text: str, first_line: int,
                         resource: model.Resource) -> None:
        try:
            jinja2.Environment(autoescape=False).parse(text)  # noqa: S701 - YAML, not HTML
        except jinja2.TemplateSyntaxError as exc:
            if resource.manifest is not None:
                # The line in the scenario file itself, where the editor should go.
                self.found.append(Problem(
                    self.path, first_line + exc.lineno - 1,
                    field_name((*where, "manifest")),
                    f"template line {exc.lineno}: {exc.message}"))
            else:
                self.add((*where, "file"), f"{resource.file}:{exc.lineno}: {exc.message}")

    def _steps(self, declared: model.ScenarioFile, names: set[str]) -> None:
        for number, step in enumerate(declared.steps):
            for key in ("apply", "delete"):
                for index, name in enumerate(getattr(step, key)):
                    if name not in names:
                        self.add(("steps", number, key, index),
                                 f"{name!r} is not a resource of this file (resources: "
                                 f"{', '.join(sorted(names)) or 'none'})")
            for index, check in enumerate(step.checks):
                if check.probe.client not in declared.clients:
                    self.add(("steps", number, "checks", index, "probe", "client"),
                             f"{check.probe.client!r} is not one of clients "
                             f"({', '.join(declared.clients)})")
                if not check.expect:
                    self.add(("steps", number, "checks", index, "expect"),
                             "empty: say what the probe must show")
                if check.consecutive < 1:
                    self.add(("steps", number, "checks", index, "consecutive"),
                             "at least 1")
                self._url(("steps", number, "checks", index, "probe", "url"), check.probe.url)
                if check.probe.timeout_s <= 0:
                    self.add(("steps", number, "checks", index, "probe", "timeout_s"),
                             "more than 0 seconds")

    def _url(self, where: Where, url: str) -> None:
        """The run fills the URL's fields per layout (Layout.resolve): an unknown one would
        only fail there, so it is said here."""
        try:
            named = [name for _, name, _, _ in string.Formatter().parse(url) if name is not None]
        except ValueError as exc:
            self.add(where, f"{url!r}: {exc} (write a literal brace as {{{{ or }}}})")
            return
        unknown = [name for name in named if name not in URL_FIELDS]
        if unknown:
            self.add(where, f"{{{unknown[0]}}} is not a URL field (fields: "
                            f"{', '.join('{' + f + '}' for f in URL_FIELDS)})")

    def _hosts(self, declared: model.ScenarioFile) -> None:
        seen: set[str] = set()
        faked = {h.name.rstrip(".").lower() for h in declared.hosts if not h.internet}
        for index, host in enumerate(declared.hosts):
            name = host.name.rstrip(".").lower()
            labels = name.split(".")
            if len(labels) < 2 or not all(is_dns_label(label) for label in labels):
                self.add(("hosts", index, "name"), f"{host.name!r}: a DNS name such as "
                                                   "billing.partner.example")
            elif name in seen:
                self.add(("hosts", index, "name"), f"{host.name!r} is declared twice")
            elif host.internet:
                # The run's DNS answers a faked name and its subdomains with the fakes
                # (fakes/coredns.py): such a "real" host would silently reach a fake.
                zone = faked_zone(name, (*seed_hosts.ALL_HOSTS, *sorted(faked)))
                if zone is not None:
                    self.add(("hosts", index, "internet"),
                             f"{host.name!r} cannot be the real internet: the run's DNS maps "
                             f"{zone} (and its subdomains) to the fake internet")
            seen.add(name)


def faked_zone(name: str, zones: Iterable[str]) -> str | None:
    """The first of ``zones`` that is ``name`` or a parent domain of it, or None."""
    return next((zone for zone in zones if name == zone or name.endswith(f".{zone}")), None)


def _scenario(declared: model.ScenarioFile) -> Scenario:
    internet = [h.name for h in declared.hosts if h.internet]
    title = declared.title
    tags = (*declared.tags, FILE_TAG)
    if internet:
        # Said in the title: list, the report and JUnit all show it.
        title += f" [real internet: {', '.join(internet)}]"
        tags += (INTERNET_TAG,)
    return Scenario(
        id=declared.id,
        title=title,
        seeds=(Seed(FILE_SEED, declared.mirrors or declared.title),),
        flow=declared.flow,
        steps=declared.steps,
        differs=declared.differs,
        clients=declared.clients,
        outbound_policy=declared.outbound_policy,
        gateway=declared.gateway,
        requires_istio=declared.requires_istio,
        needs_network_policy=declared.needs_network_policy,
        sidecar_egress_hosts=declared.sidecar_egress_hosts,
        tags=tuple(dict.fromkeys(tags)),
        seed_names=declared.seed_names,
        proxy_config=declared.proxy_config,
        data_planes=declared.data_planes,
        gateway_api=declared.gateway_api,
    )
