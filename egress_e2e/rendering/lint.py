"""Offline validation of manifests, before any cluster sees them, as strict as the API server.

Istio and Gateway API kinds are checked against their CRDs' own OpenAPI v3 schemas and CEL
rules (``schemas``: bundles built from the pinned releases' CRD files; ``structural`` and
``cel_rules`` apply them as the API server does on create with kubectl's default strict field
validation), then against istiod's webhook rules (``webhook``). Core kinds are checked against
Kubernetes' own JSON schemas (``kubernetes-validate``, strict: unknown fields are errors there
too) and the enums the API server checks in code (``core_checks``). Every kind's
``metadata.name`` must be what Kubernetes accepts for it. A kind none of them knows is an error.
YAML becomes JSON the way kubectl makes it (non-string map keys become strings first). Each
problem prints as ``file:doc: Kind/name: field: message``.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Final

import yaml

from egress_e2e.core.errors import ManifestError
from egress_e2e.infra import versions
from egress_e2e.rendering import schemas, structural
from egress_e2e.rendering.core_checks import (
    core_enum_problems,
    metadata_problems,
    object_meta_problems,
)
from egress_e2e.rendering.kube_yaml import load_documents
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, render_scenario
from egress_e2e.rendering.webhook import webhook_problems
from egress_e2e.scenario.model import Scenario

# Kubernetes release whose schemas core kinds are checked against: the oldest kind node image
# the harness targets (the schemas only grow, so newer clusters accept the same documents).
KUBERNETES_SCHEMA_VERSION: Final = "1.34"

# API groups whose kinds come from CRDs lint ships schemas for.
_ISTIO_GROUP_SUFFIX: Final = ".istio.io"
_CRD_GROUP_SUFFIXES: Final = (_ISTIO_GROUP_SUFFIX, "gateway.networking.k8s.io",
                              "gateway.networking.x-k8s.io")
UNKNOWN_FIELD: Final = structural.UNKNOWN_FIELD


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
def istio_minor(istio_version: str | None) -> str:
    """The Istio minor whose CRDs lint validates against: ``istio_version`` (a version or a
    minor versions.toml knows), else versions.toml's default. Read once per process."""
    return schemas.minor_of(versions.load().istio(istio_version).minor)


def as_kubectl_json(value: Any) -> Any:
    """``value`` as kubectl sends it: sigs.k8s.io/yaml turns YAML into JSON, so a map key such
    as ``8080`` or ``true`` becomes the string "8080" / "true", and a float that is a whole
    number is a JSON integer (``1.0`` is sent as ``1``)."""
    if isinstance(value, Mapping):
        return {_key(key): as_kubectl_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_kubectl_json(item) for item in value]
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat().replace("+00:00", "Z")
    return value


def _key(key: object) -> str:
    if isinstance(key, bool):
        return "true" if key else "false"
    if key is None:
        return "null"
    if isinstance(key, float) and math.isfinite(key) and key.is_integer():
        return str(int(key))
    return str(key)


def lint_document(parsed: object, file: str, doc: int,
                  istio_version: str | None = None) -> list[LintProblem]:
    """Every problem in one parsed YAML document, for the Istio version given (default:
    versions.toml's)."""
    if not isinstance(parsed, dict):
        return [LintProblem(file, doc, "?", "?", "(document)",
                            f"expected a mapping, got {type(parsed).__name__}")]
    body: dict[str, Any] = as_kubectl_json(parsed)
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
    if name == "?" or not isinstance(meta, dict):
        return [problem("metadata.name", "missing")]
    found = metadata_problems(kind, meta)
    group = api_version.rpartition("/")[0]
    if group.endswith(_CRD_GROUP_SUFFIXES):
        found += _lint_crd(body, api_version, kind, istio_minor(istio_version))
    else:
        found += _lint_core(body) + core_enum_problems(body)
    return [problem(field, message) for field, message in found]


def _lint_crd(body: dict[str, Any], api_version: str, kind: str,
              minor: str) -> list[tuple[str, str]]:
    known = schemas.kinds_for(minor)
    entry = known.get((api_version, kind))
    if entry is None:
        served = sorted(version for version, k in known if k == kind)
        hint = f" (served: {', '.join(served)})" if served else ""
        return [("kind", f"unknown kind {api_version} {kind} for Istio {minor}'s CRDs{hint}")]
    problems = object_meta_problems(body.get("metadata") or {})
    if entry.status_subresource:
        # Reset on create (status is written through the subresource), so never validated.
        body = {key: value for key, value in body.items() if key != "status"}
    problems += structural.validate(entry.schema, body)
    if api_version.rpartition("/")[0].endswith(_ISTIO_GROUP_SUFFIX):
        problems += webhook_problems(body)
    return problems


def _lint_core(body: dict[str, Any]) -> list[tuple[str, str]]:
    validator = _core_validator(str(body.get("apiVersion")), str(body.get("kind")))
    if validator is None:
        return [("kind", f"unknown kind {body.get('apiVersion')} {body.get('kind')} "
                         f"(no Kubernetes {KUBERNETES_SCHEMA_VERSION} schema, not an Istio kind)")]
    errors = sorted(validator.iter_errors(body), key=lambda e: [str(p) for p in e.path])
    found: list[tuple[str, str]] = []
    for err in errors:
        where = list(err.path)
        if err.validator == "additionalProperties" and isinstance(err.instance, dict):
            # As for CRDs: with strict field validation the API server refuses the field.
            declared = err.schema.get("properties", {}) if isinstance(err.schema, dict) else {}
            for key in err.instance:
                if key not in declared:
                    path = structural.format_path([*where, key])
                    found.append((path, UNKNOWN_FIELD.format(path=path)))
            continue
        found.append((structural.format_path(where), _core_message(body, where, err)))
    return found


_SECRET_VALUES: Final = ("data", "stringData")


def _core_message(body: Mapping[str, Any], where: Sequence[object], err: Any) -> str:
    """jsonschema's message, which quotes the bad value, except under a Secret's data: there
    the value is a secret and the line names only what is wrong with it."""
    if body.get("kind") != "Secret" or not where or where[0] not in _SECRET_VALUES:
        return str(err.message)
    wanted = err.validator_value
    if err.validator == "type":
        kinds = wanted if isinstance(wanted, list) else [wanted]
        return f"(value redacted) is not of type {', '.join(map(repr, kinds))}"
    return f"(value redacted) fails the schema's {err.validator!r} check"


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


def lint_text(text: str, file: str, istio_version: str | None = None) -> list[LintProblem]:
    """Lint a multi-document YAML text; a YAML syntax error is one problem with its line."""
    return _lint_text_counted(text, file, istio_version)[1]


def _lint_text_counted(text: str, file: str,
                       istio_version: str | None) -> tuple[int, list[LintProblem]]:
    try:
        loaded = load_documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        return 0, [LintProblem(file, 0, "?", "?", "(yaml)",
                               f"does not parse{line}: {getattr(exc, 'problem', exc)}")]
    problems: list[LintProblem] = []
    # Numbered as kubectl would count them: empty documents between separators do not count.
    for position, body in enumerate(loaded, start=1):
        problems.extend(lint_document(body, file, position, istio_version))
    return len(loaded), problems


def yaml_files(paths: Sequence[Path]) -> list[Path]:
    """The files to lint: each path, or a directory's *.yaml and *.yml; one line if absent."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        elif path.exists():
            files.append(path)
        else:
            raise ManifestError(f"lint: no such file or directory: {path}")
    return files


def lint_paths(paths: Sequence[Path],
               istio_version: str | None = None) -> tuple[int, list[LintProblem]]:
    """Lint files (directories: their *.yaml and *.yml). Returns (documents, problems)."""
    count = 0
    problems: list[LintProblem] = []
    for file in yaml_files(paths):
        try:
            text = file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ManifestError(f"lint: cannot read {file}: {exc}") from exc
        found, file_problems = _lint_text_counted(text, str(file), istio_version)
        count += found
        problems.extend(file_problems)
    return count, problems


def rendered_file(doc: Document, label: str) -> str:
    """How a rendered document's lines name it: ``manifests/<source>[<label>]``."""
    return f"manifests/{doc.source}[{label}]"


def lint_rendered(docs: Iterable[Document], label: str,
                  istio_version: str | None = None) -> list[LintProblem]:
    """Lint rendered documents; ``file`` reads ``manifests/<source>[<label>]``."""
    problems: list[LintProblem] = []
    for doc in docs:
        problems.extend(lint_document(doc.body, rendered_file(doc, label), doc.index,
                                      istio_version))
    return problems


def rendered_catalog(scenarios: Iterable[Scenario], run_id: str = "lint"
                     ) -> Iterator[tuple[str, list[Document]]]:
    """Every scenario rendered in both layouts, as (``<id> <layout>`` label, documents)."""
    for scenario in scenarios:
        for layout in (Layout.seed(scenario), Layout.isolated_for(scenario, run_id)):
            yield f"{scenario.id} {layout.name}", render_scenario(scenario, layout)


def lint_catalog(scenarios: Iterable[Scenario], run_id: str = "lint",
                 istio_version: str | None = None) -> tuple[int, list[LintProblem]]:
    """Render every scenario in both layouts and lint the result: (documents, problems)."""
    count = 0
    problems: list[LintProblem] = []
    for label, docs in rendered_catalog(scenarios, run_id):
        count += len(docs)
        problems.extend(lint_rendered(docs, label, istio_version))
    return count, problems
