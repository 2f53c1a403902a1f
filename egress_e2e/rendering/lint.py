"""Offline validation of manifests, before any cluster sees them.

Istio kinds are checked against Istio's API models (``cloudcoil-models-istio``, pydantic) and,
beyond what the models reject, every field the model does not know is reported: Istio's CRDs
preserve unknown fields, so the API server would store a misspelt ``sniHost`` and Istio would
silently ignore it. Core kinds are checked against Kubernetes' own JSON schemas
(``kubernetes-validate``, strict: unknown fields are errors there too). A kind neither knows is
an error. Each problem prints as ``file:doc: Kind/name: field: message``.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

from egress_e2e.core.errors import ManifestError
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, render_scenario
from egress_e2e.scenario.model import Scenario

# Kubernetes release whose schemas core kinds are checked against: the oldest kind node image
# the harness targets (the schemas only grow, so newer clusters accept the same documents).
KUBERNETES_SCHEMA_VERSION: Final = "1.34"

# The Istio API modules of cloudcoil-models-istio that define resources.
_ISTIO_MODULES: Final = (
    "cloudcoil.models.istio.networking.v1",
    "cloudcoil.models.istio.networking.v1alpha3",
    "cloudcoil.models.istio.networking.v1beta1",
    "cloudcoil.models.istio.security.v1",
    "cloudcoil.models.istio.security.v1beta1",
    "cloudcoil.models.istio.telemetry.v1",
    "cloudcoil.models.istio.telemetry.v1alpha1",
    "cloudcoil.models.istio.extensions.v1alpha1",
)
_ISTIO_GROUP_SUFFIX: Final = ".istio.io/"
# Fields Kubernetes itself fills in; a manifest may carry them (e.g. from `kubectl get -o yaml`).
_SERVER_FIELDS: Final = frozenset({"status"})


@dataclass(frozen=True)
class LintProblem:
    file: str
    doc: int
    kind: str
    name: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.doc}: {self.kind}/{self.name}: {self.field}: {self.message}"


@cache
def _istio_models() -> dict[tuple[str, str], Any]:
    """(apiVersion, kind) -> the pydantic model class, from the installed models package."""
    from cloudcoil.resources import Resource

    found: dict[tuple[str, str], Any] = {}
    for module_name in _ISTIO_MODULES:
        module = importlib.import_module(module_name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Resource) and cls.__module__ == module_name:
                api_version = cls.model_fields["api_version"].default
                kind = cls.model_fields["kind"].default
                if isinstance(api_version, str) and isinstance(kind, str):
                    found[(api_version, kind)] = cls
    return found


def lint_document(body: object, file: str, doc: int) -> list[LintProblem]:
    """Every problem in one parsed YAML document."""
    if not isinstance(body, dict):
        return [LintProblem(file, doc, "?", "?", "(document)",
                            f"expected a mapping, got {type(body).__name__}")]
    kind = str(body.get("kind") or "?")
    meta = body.get("metadata")
    name = str(meta.get("name") or "?") if isinstance(meta, dict) else "?"

    def problem(field: str, message: str) -> LintProblem:
        return LintProblem(file, doc, kind, name, field or "(document)", message)

    api_version = body.get("apiVersion")
    if not isinstance(api_version, str) or not api_version:
        return [problem("apiVersion", "missing")]
    if kind == "?":
        return [problem("kind", "missing")]
    if name == "?":
        return [problem("metadata.name", "missing")]
    if _ISTIO_GROUP_SUFFIX in api_version:
        return [problem(field, message) for field, message in _lint_istio(body, api_version,
                                                                            kind)]
    return [problem(field, message) for field, message in _lint_core(body)]


def _lint_istio(body: dict[str, Any], api_version: str, kind: str) -> list[tuple[str, str]]:
    from pydantic import ValidationError

    model = _istio_models().get((api_version, kind))
    if model is None:
        known = sorted({v for v, k in _istio_models() if k == kind})
        hint = f" (known versions: {', '.join(known)})" if known else ""
        return [("kind", f"unknown Istio kind {api_version} {kind}{hint}")]
    problems: list[tuple[str, str]] = []
    try:
        model.model_validate(body)
    except ValidationError as exc:
        problems = [(_path(err["loc"]), err["msg"]) for err in exc.errors()]
    # Unknown fields are looked for even when validation failed: a misspelt key usually comes
    # with a "Field required" for the right one, and both lines help.
    problems += [(path, UNKNOWN_FIELD) for path in _unknown_fields(model, body, ())]
    return problems


UNKNOWN_FIELD: Final = "unknown field (the API server would accept it and Istio ignore it)"


def _unknown_fields(annotation: Any, value: object, where: tuple[str | int, ...]) -> list[str]:
    """Paths in ``value`` that ``annotation`` (a model, list, dict or union of them) does not
    declare; pydantic itself ignores such extras."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _unknown_fields(args[0], value, where)
    found: list[str] = []
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in args if arg is not type(None)]
        # The reading with the fewest unknown fields is the one the author meant.
        readings = [_unknown_fields(option, value, where) for option in options]
        found = min(readings, key=len) if readings else []
    elif origin is list and isinstance(value, list) and args:
        for position, item in enumerate(value):
            found.extend(_unknown_fields(args[0], item, (*where, position)))
    elif origin is dict and isinstance(value, dict) and len(args) == 2:
        for key, item in value.items():
            found.extend(_unknown_fields(args[1], item, (*where, key)))
    elif isinstance(annotation, type) and isinstance(value, dict):
        found = _unknown_model_fields(annotation, value, where)
    return found


def _unknown_model_fields(model: type, value: dict[str, Any],
                          where: tuple[str | int, ...]) -> list[str]:
    from pydantic import BaseModel, RootModel

    if issubclass(model, RootModel):
        return _unknown_fields(model.model_fields["root"].annotation, value, where)
    if not issubclass(model, BaseModel):
        return []
    declared: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        declared[name] = info.annotation
        if info.alias:
            declared[info.alias] = info.annotation
    found: list[str] = []
    for key, item in value.items():
        if not where and key in _SERVER_FIELDS:
            continue
        if key in declared:
            found.extend(_unknown_fields(declared[key], item, (*where, key)))
        else:
            found.append(_path((*where, key)))
    return found


def _lint_core(body: dict[str, Any]) -> list[tuple[str, str]]:
    validator = _core_validator(str(body.get("apiVersion")), str(body.get("kind")))
    if validator is None:
        return [("kind", f"unknown kind {body.get('apiVersion')} {body.get('kind')} "
                         f"(no Kubernetes {KUBERNETES_SCHEMA_VERSION} schema, not an Istio kind)")]
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.path])
    return [(_path(tuple(err.path)), str(err.message)) for err in errors]


@cache
def _core_validator(api_version: str, kind: str) -> Any:
    """A strict JSON-schema validator for one core kind, from kubernetes-validate's schemas.

    kubernetes-validate's own ``validate`` re-reads its 1.5 MB definitions file on every call;
    building the validator once per kind keeps linting the whole catalog fast.
    """
    import json
    from importlib import resources

    import jsonschema  # type: ignore[import-untyped]  # no stubs; only its validator is used
    import referencing

    schemas = resources.files("kubernetes_validate") / "kubernetes-json-schema" / \
        f"v{KUBERNETES_SCHEMA_VERSION}.0-local-strict"
    # "apps/v1" -> "apps-v1", "rbac.authorization.k8s.io/v1" -> "rbac-v1", "v1" -> "v1".
    group, _, version = api_version.rpartition("/")
    stem = f"{group.split('.')[0]}-{version}" if group else version
    schema_file = schemas / f"{kind.lower()}-{stem}.json"
    if not schema_file.is_file():
        return None
    schema = json.loads(schema_file.read_text())
    definitions = _core_definitions(str(schemas / "_definitions.json"))
    # Both files carry an $id, which is how the kind's "$ref"s find the definitions.
    registry: referencing.Registry[Any] = referencing.Registry().with_resources([
        (schema["$id"], referencing.Resource.from_contents(schema)),
        (definitions["$id"], referencing.Resource.from_contents(definitions)),
    ])
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def _core_definitions(path: str) -> dict[str, Any]:
    import json

    loaded: dict[str, Any] = json.loads(Path(path).read_text())
    return loaded


def _path(loc: Iterable[object]) -> str:
    return ".".join(str(part) for part in loc)


def lint_text(text: str, file: str) -> list[LintProblem]:
    """Lint a multi-document YAML text; a YAML syntax error is one problem with its line."""
    return _lint_text_counted(text, file)[1]


def _lint_text_counted(text: str, file: str) -> tuple[int, list[LintProblem]]:
    try:
        loaded = [body for body in yaml.safe_load_all(text) if body is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        return 0, [LintProblem(file, 0, "?", "?", "(yaml)",
                               f"does not parse{line}: {getattr(exc, 'problem', exc)}")]
    problems: list[LintProblem] = []
    # Numbered as kubectl would count them: empty documents between separators do not count.
    for position, body in enumerate(loaded, start=1):
        problems.extend(lint_document(body, file, position))
    return len(loaded), problems


def lint_paths(paths: Sequence[Path]) -> tuple[int, list[LintProblem]]:
    """Lint files (directories: their *.yaml and *.yml). Returns (documents, problems)."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        elif path.exists():
            files.append(path)
        else:
            raise ManifestError(f"lint: no such file or directory: {path}")
    count = 0
    problems: list[LintProblem] = []
    for file in files:
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"lint: cannot read {file}: {exc}") from exc
        found, file_problems = _lint_text_counted(text, str(file))
        count += found
        problems.extend(file_problems)
    return count, problems


def lint_rendered(docs: Iterable[Document], label: str) -> list[LintProblem]:
    """Lint rendered documents; ``file`` reads ``manifests/<source>[<label>]``."""
    problems: list[LintProblem] = []
    for doc in docs:
        problems.extend(lint_document(doc.body, f"manifests/{doc.source}[{label}]", doc.index))
    return problems


def lint_catalog(scenarios: Iterable[Scenario], run_id: str = "lint") -> tuple[int,
                                                                               list[LintProblem]]:
    """Render every scenario in both layouts and lint the result: (documents, problems)."""
    count = 0
    problems: list[LintProblem] = []
    for scenario in scenarios:
        for layout in (Layout.seed(scenario), Layout.isolated_for(scenario, run_id)):
            docs = render_scenario(scenario, layout)
            count += len(docs)
            problems.extend(lint_rendered(docs, f"{scenario.id} {layout.name}"))
    return count, problems
