"""A CRD's structural OpenAPI v3 schema applied to one object, the way the API server applies it
on create with kubectl's default strict field validation.

Order as in kubernetes/kubernetes staging/src/k8s.io/apiextensions-apiserver (pkg/apiserver/
schema/defaulting, pruning, pkg/apiserver/validation, pkg/apiserver/schema/cel): nulls the
schema does not allow are dropped, defaults are filled in, fields the schema does not declare
are reported (strict field validation rejects the request; without it they are pruned), then
the value validations (types, enums, bounds, patterns, formats, list types, oneOf/anyOf/allOf/
not) and every ``x-kubernetes-validations`` rule run, unless a type, enum, required, too-long
or too-many error came first: the API server then skips the rules and says "some validation
rules were not checked" (lint says it when a rule would have failed, and shows the rule's own
failure only when nothing blocks it). Messages follow the API server's ``field.Error`` forms
(kube-openapi pkg/validation/errors), e.g. ``Invalid value: "string": spec.port in body must be
of type integer: "string"``.
"""

from __future__ import annotations

import base64
import binascii
import copy
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Final

from egress_e2e.rendering.cel_rules import field_path, json_type, rule_failure

Problem = tuple[str, str]
Segment = str | int | tuple[str]   # field name | list index | map key

UNKNOWN_FIELD: Final = (
    'unknown field "{path}": with kubectl\'s default strict field validation the API server '
    "rejects the object; a client that does not ask for it has the field pruned with a warning")
RULES_NOT_CHECKED: Final = (
    "some validation rules were not checked because the object was invalid; correct the "
    "existing errors to complete validation")
# Top-level fields every object has, outside the CRD's own schema (metadata is ObjectMeta).
_ENVELOPE: Final = frozenset({"apiVersion", "kind", "metadata"})
_RFC3339: Final = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")


def format_path(path: Sequence[Segment]) -> str:
    """``spec.ports[0].name``, ``spec.portLevelMtls[8080]``: field.Path's spelling."""
    out = ""
    for segment in path:
        if isinstance(segment, int):
            out += f"[{segment}]"
        elif isinstance(segment, tuple):
            out += f"[{segment[0]}]"
        else:
            out += f".{segment}" if out else segment
    return out


def _shown(value: object) -> str:
    if isinstance(value, Mapping | list):
        return f'"{json_type(value)}"'
    return json.dumps(value)


def _same(left: object, right: object) -> bool:
    # JSON equality: true is not 1, 1 is 1.0.
    if isinstance(left, bool) or isinstance(right, bool):
        return isinstance(left, bool) and isinstance(right, bool) and left == right
    return left == right


def _is_type(value: object, wanted: str) -> bool:
    actual = json_type(value)
    if wanted not in ("object", "array", "string", "boolean", "integer", "number"):
        return True
    return actual == wanted or (wanted == "number" and actual == "integer")


def _valid_ip(text: str, version: int) -> bool:
    try:
        return ipaddress.ip_address(text).version == version and "%" not in text
    except ValueError:
        return False


def _valid_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


# The string formats the bundles use that the API server checks (kube-openapi pkg/validation/
# strfmt default.go); numeric formats (int32, int64, double) only name the wire type.
_FORMATS: Final[dict[str, Callable[[str], bool]]] = {
    "ipv4": lambda text: _valid_ip(text, 4),
    "ipv6": lambda text: _valid_ip(text, 6),
    "byte": _valid_base64,
    "date-time": lambda text: _RFC3339.fullmatch(text) is not None,
}


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def prune_nulls(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` without the nulls the API server drops on decode, before defaulting and
    validation: a map entry whose schema is neither nullable nor defaulted (list items stay).
    apiextensions-apiserver pkg/apiserver/schema/defaulting/prunenulls.go
    PruneNonNullableNullsWithoutDefaults, called by customresource_handler.go's decoder."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key in list(value):
            sub: Any = None
            if isinstance(properties, Mapping) and key in properties:
                sub = properties[key]
            elif isinstance(extra, Mapping):
                sub = extra
            if not isinstance(sub, Mapping):
                continue
            if value[key] is None and not sub.get("nullable") and "default" not in sub:
                del value[key]
            else:
                prune_nulls(sub, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        for item in value:
            prune_nulls(schema["items"], item)
    return value


def apply_defaults(schema: Mapping[str, Any], value: Any) -> Any:
    """``value`` with the schema's defaults filled in (in place for containers)."""
    if isinstance(value, dict):
        properties = schema.get("properties")
        if isinstance(properties, Mapping):
            for name, sub in properties.items():
                if "default" in sub and (name not in value or
                                         (value[name] is None and not sub.get("nullable"))):
                    value[name] = copy.deepcopy(sub["default"])
                if name in value:
                    value[name] = apply_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, Mapping):
            for key in list(value):
                value[key] = apply_defaults(extra, value[key])
    elif isinstance(value, list) and isinstance(schema.get("items"), Mapping):
        value[:] = [apply_defaults(schema["items"], item) for item in value]
    return value


@dataclass
class _Walk:
    strict: bool = True          # report undeclared fields (off inside oneOf and friends)
    rules: bool = True           # run x-kubernetes-validations (off inside oneOf and friends)
    problems: list[Problem] = field(default_factory=list)
    rule_problems: list[Problem] = field(default_factory=list)
    # A type, enum, required, too-long or too-many error: the API server then skips the CEL
    # rules (apiextensions-apiserver pkg/registry/customresource/strategy.go hasBlockingErr).
    blocking: bool = False

    def add(self, path: Sequence[Segment], message: str, blocking: bool = False) -> None:
        self.problems.append((format_path(path), message))
        self.blocking = self.blocking or blocking

    def invalid(self, path: Sequence[Segment], value: object, detail: str,
                blocking: bool = False) -> None:
        where = format_path(path) or "<root>"
        self.add(path, f"Invalid value: {_shown(value)}: {where} in body {detail}", blocking)

    def node(self, schema: Mapping[str, Any], value: Any, path: list[Segment]) -> None:
        if value is None:
            if not schema.get("nullable") and "type" in schema:
                self.invalid(path, "null", f"must be of type {schema['type']}: \"null\"", True)
            return
        if schema.get("x-kubernetes-int-or-string"):
            if not (isinstance(value, str) or _is_type(value, "integer")):
                self.invalid(path, json_type(value),
                             f'must be of type integer,string: "{json_type(value)}"', True)
                return
        elif "type" in schema and not _is_type(value, schema["type"]):
            self.invalid(path, json_type(value),
                         f'must be of type {schema["type"]}: "{json_type(value)}"', True)
            return
        self.enum(schema, value, path)
        if isinstance(value, str):
            self.string(schema, value, path)
        elif isinstance(value, int | float) and not isinstance(value, bool):
            self.number(schema, value, path)
        elif isinstance(value, list):
            self.array(schema, value, path)
        elif isinstance(value, Mapping):
            self.mapping(schema, value, path)
        self.combinators(schema, value, path)
        if self.rules:
            for rule in schema.get("x-kubernetes-validations", ()):
                failure = rule_failure(rule, value, str(schema.get("type", "")))
                if failure is not None:
                    message, at_field_path = failure
                    where = format_path(path) + (field_path(rule) if at_field_path else "")
                    self.rule_problems.append((where, message))

    def enum(self, schema: Mapping[str, Any], value: object, path: list[Segment]) -> None:
        allowed = schema.get("enum")
        if isinstance(allowed, list) and not any(_same(value, item) for item in allowed):
            supported = ", ".join(json.dumps(item) for item in allowed)
            self.add(path, f"Unsupported value: {_shown(value)}: supported values: {supported}",
                     True)

    def string(self, schema: Mapping[str, Any], value: str, path: list[Segment]) -> None:
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            self.add(path, f"Too long: may not be more than {schema['maxLength']} bytes", True)
        if "minLength" in schema and len(value) < schema["minLength"]:
            self.invalid(path, value, f"should be at least {schema['minLength']} chars long")
        if "pattern" in schema and not _pattern(schema["pattern"]).search(value):
            self.invalid(path, value, f"should match '{schema['pattern']}'")
        check = _FORMATS.get(str(schema.get("format", "")))
        if check is not None and not check(value):
            self.invalid(path, value, f'must be of type {schema["format"]}: {json.dumps(value)}')

    def number(self, schema: Mapping[str, Any], value: float, path: list[Segment]) -> None:
        if "maximum" in schema:
            top = schema["maximum"]
            if value > top or (schema.get("exclusiveMaximum") and value == top):
                how = "less than" if schema.get("exclusiveMaximum") else \
                    "less than or equal to"
                self.invalid(path, value, f"should be {how} {top}")
        if "minimum" in schema:
            bottom = schema["minimum"]
            if value < bottom or (schema.get("exclusiveMinimum") and value == bottom):
                how = "greater than" if schema.get("exclusiveMinimum") else \
                    "greater than or equal to"
                self.invalid(path, value, f"should be {how} {bottom}")
        if schema.get("multipleOf") and value % schema["multipleOf"] != 0:
            self.invalid(path, value, f"should be a multiple of {schema['multipleOf']}")

    def array(self, schema: Mapping[str, Any], value: list[Any], path: list[Segment]) -> None:
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            self.add(path, f"Too many: {len(value)}: must have at most {schema['maxItems']} "
                           "items", True)
        if "minItems" in schema and len(value) < schema["minItems"]:
            self.invalid(path, len(value), f"should have at least {schema['minItems']} items")
        items = schema.get("items")
        if isinstance(items, Mapping):
            for position, item in enumerate(value):
                self.node(items, item, [*path, position])
        self.list_type(schema, value, path)

    def list_type(self, schema: Mapping[str, Any], value: list[Any],
                  path: list[Segment]) -> None:
        # apiextensions-apiserver pkg/apiserver/schema/listtype/validation.go: one Duplicate per
        # repeated value (at its second appearance); for a map list the identity is the map keys
        # the item sets (an absent key differs from a null one), printed as Go's %#v prints it.
        kind = schema.get("x-kubernetes-list-type")
        if kind not in ("set", "map") or not self.strict:
            return
        keys = schema.get("x-kubernetes-list-map-keys", ())
        seen: dict[str, int] = {}
        for position, item in enumerate(value):
            if kind == "map":
                if not isinstance(item, Mapping):
                    continue
                identity: object = {key: item[key] for key in keys if key in item}
            else:
                identity = item
            text = json.dumps(identity, sort_keys=True)
            seen[text] = seen.get(text, 0) + 1
            if seen[text] == 2:
                shown = go_sharp(identity) if isinstance(identity, Mapping) else \
                    _shown(identity)
                self.add([*path, position], f"Duplicate value: {shown}")

    def mapping(self, schema: Mapping[str, Any], value: Mapping[str, Any],
                path: list[Segment]) -> None:
        for name in schema.get("required", ()):
            if name not in value:
                self.add([*path, name], "Required value", True)
        if "maxProperties" in schema and len(value) > schema["maxProperties"]:
            self.add(path, f"Too many: {len(value)}: must have at most "
                           f"{schema['maxProperties']} items", True)
        if "minProperties" in schema and len(value) < schema["minProperties"]:
            self.invalid(path, len(value),
                         f"should have at least {schema['minProperties']} properties")
        properties = schema.get("properties")
        extra = schema.get("additionalProperties")
        preserve = schema.get("x-kubernetes-preserve-unknown-fields") is True
        for key, item in value.items():
            if not path and key in _ENVELOPE:
                continue
            if isinstance(properties, Mapping) and key in properties:
                self.node(properties[key], item, [*path, key])
            elif isinstance(extra, Mapping):
                self.node(extra, item, [*path, (key,)])
            elif self.strict and not preserve and extra is not True:
                shown = format_path([*path, key])
                self.add([*path, key], UNKNOWN_FIELD.format(path=shown))

    def combinators(self, schema: Mapping[str, Any], value: object,
                    path: list[Segment]) -> None:
        for sub in schema.get("allOf", ()):
            inner = _Walk(strict=False, rules=False)
            inner.node(sub, value, path)
            self.problems.extend(inner.problems)
            self.blocking = self.blocking or inner.blocking
        if "oneOf" in schema:
            passing = sum(_passes(sub, value, path) for sub in schema["oneOf"])
            if passing != 1:
                self.invalid(path, value, "must validate one and only one schema (oneOf)")
        if "anyOf" in schema and not any(_passes(sub, value, path) for sub in schema["anyOf"]):
            self.invalid(path, value, "must validate at least one schema (anyOf)")
        if "not" in schema and _passes(schema["not"], value, path):
            self.invalid(path, value, "must not validate the schema (not)")


def go_sharp(value: object) -> str:
    """A decoded JSON value as Go's %#v prints it inside a field.Error (keys sorted)."""
    if isinstance(value, Mapping):
        inner = ", ".join(f"{json.dumps(key)}:{go_sharp(item)}"
                          for key, item in sorted(value.items()))
        return f"map[string]interface {{}}{{{inner}}}"
    if isinstance(value, list):
        return f"[]interface {{}}{{{', '.join(go_sharp(item) for item in value)}}}"
    if value is None:
        return "interface {}(nil)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _passes(schema: Mapping[str, Any], value: object, path: list[Segment]) -> bool:
    inner = _Walk(strict=False, rules=False)
    inner.node(schema, value, path)
    return not inner.problems


def validate(schema: Mapping[str, Any], body: Mapping[str, Any]) -> list[Problem]:
    """(field path, message) for each way ``body`` breaks ``schema``; ``body`` is not
    changed (null pruning and defaults work on a copy)."""
    value = apply_defaults(schema, prune_nulls(schema, copy.deepcopy(dict(body))))
    walk = _Walk()
    walk.node(schema, value, [])
    if walk.blocking and walk.rule_problems:
        return [*walk.problems, ("", RULES_NOT_CHECKED)]
    return walk.problems + walk.rule_problems
