"""``x-kubernetes-validations`` rules, compiled once and evaluated as the API server does on
create: ``self`` is the value at the rule's schema node; the rule fails when it evaluates to
false or cannot be evaluated (kubernetes/kubernetes staging/src/k8s.io/apiextensions-apiserver
pkg/apiserver/schema/cel/validation.go).

Transition rules (those that read ``oldSelf``) only run on update, so on create, which is what
lint stands for, they are skipped as the API server skips them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, Final

import cel

from egress_e2e.rendering.kube_cel import (
    FORMAT_NAMESPACE,
    KUBERNETES_FUNCTIONS,
    STRINGS_FUNCTIONS,
    unknown_functions,
)

# x-kubernetes-validations reason -> how the API server words the error (field.ErrorType).
_REASONS: Final = {
    "FieldValueInvalid": "Invalid value",
    "FieldValueForbidden": "Forbidden",
    "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value",
}


class RuleError(Exception):
    """A rule lint cannot evaluate: it does not compile, or calls an unimplemented function."""


@dataclass(frozen=True)
class CompiledRule:
    program: cel.Program
    transition: bool         # reads oldSelf: evaluated on update only


@cache
def _context() -> cel.Context:
    # The runtime logs each error a Python function raises on logger "cel"; lint reports it as
    # the rule's failure instead, in its one line.
    logging.getLogger("cel").setLevel(logging.CRITICAL)
    context = cel.Context()
    for name, function in {**STRINGS_FUNCTIONS, **KUBERNETES_FUNCTIONS}.items():
        context.add_function(name, function)
    context.add_variable("format", FORMAT_NAMESPACE)
    return context


@cache
def compile_rule(text: str) -> CompiledRule:
    """The program for one rule; RuleError when lint could not evaluate it faithfully."""
    try:
        program = cel.compile(text)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise RuleError(f"CEL rule does not compile: {text!r}: {exc}") from exc
    missing = unknown_functions(program.functions())
    if missing:
        raise RuleError(f"CEL rule {text!r} calls {', '.join(missing)}, which lint does not "
                        "implement")
    return CompiledRule(program, "oldSelf" in program.variables())


def _run(program: cel.Program, value: object) -> Any:
    context = _context()
    context.add_variable("self", value)
    return program.execute(context)


# bool before int: True is an int to Python, a boolean to JSON.
_JSON_TYPES: Final[tuple[tuple[str, type | tuple[type, ...]], ...]] = (
    ("boolean", bool), ("object", Mapping), ("array", list), ("integer", int),
    ("number", float), ("string", str))


def json_type(value: object) -> str:
    """The JSON type name the API server prints for a value."""
    for name, kinds in _JSON_TYPES:
        if isinstance(value, kinds):
            return name
    return "null"


def check_rule(rule: Mapping[str, Any], value: object,
               schema_type: str | None = None) -> str | None:
    """None when ``rule`` holds for ``value``, else the API server's message for it."""
    failure = rule_failure(rule, value, schema_type)
    return None if failure is None else failure[0]


def rule_failure(rule: Mapping[str, Any], value: object,
                 schema_type: str | None = None) -> tuple[str, bool] | None:
    """None when ``rule`` holds, else (message, whether it is reported at the rule's
    ``fieldPath``: only a rule that evaluated to false is; an error stays at the node).

    ``schema_type`` is the ``type`` of the rule's schema node (default: ``value``'s JSON type);
    an evaluation error names it, as the API server's ``field.Invalid(fldPath, sts.Type, ...)``.
    """
    text = str(rule.get("rule", ""))
    try:
        compiled = compile_rule(text)
    except RuleError as exc:
        return f"internal error: {exc}", False
    if compiled.transition:
        return None
    try:
        holds = _run(compiled.program, value)
    except (ValueError, RuntimeError, TypeError, KeyError, IndexError) as exc:
        # validation.go: "<error> evaluating rule: <ruleErrorString>", always Invalid, naming the
        # schema's type, and the rule's message (trimmed) when it has one, else its text.
        kind = json_type(value) if schema_type is None else schema_type
        return (f'Invalid value: "{kind}": {_one_line(exc)} evaluating rule: '
                f"{rule_error_string(rule)}"), False
    if holds is True:
        return None
    if holds is not False:
        return f"Invalid value: rule {text!r} evaluated to {holds!r}, not a bool", False
    return _field_error(str(rule.get("reason") or "FieldValueInvalid"), value,
                        _message(rule, value)), True


def rule_error_string(rule: Mapping[str, Any]) -> str:
    """validation.go ruleErrorString: the rule's message, else its text, trimmed."""
    message = rule.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()
    return str(rule.get("rule", "")).strip()


def _field_error(reason: str, value: object, detail: str) -> str:
    """A failed rule as Kubernetes >= 1.35 prints it (the harness's clusters run 1.36):
    validation.go passes the value itself for a scalar and field.OmitValueType for an object
    or array (kubernetes/kubernetes#132798, #133832; 1.32-1.34 printed the schema's type
    instead), and field.Error.ErrorBody drops an omitted value. A Duplicate has no detail."""
    what = _REASONS.get(reason, _REASONS["FieldValueInvalid"])
    if reason in ("FieldValueForbidden", "FieldValueRequired"):
        return f"{what}: {detail}"
    shown = None if isinstance(value, Mapping | list) else go_value(value)
    head = what if shown is None else f"{what}: {shown}"
    return head if reason == "FieldValueDuplicate" else f"{head}: {detail}"


def go_value(value: object) -> str:
    """A scalar as field.Error prints it: %v for numbers and booleans, %q for a string."""
    if value is None:
        return '"null"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


def _message(rule: Mapping[str, Any], value: object) -> str:
    # validation.go: a messageExpression's trimmed, non-empty result, else
    # ruleMessageOrDefault (the trimmed message, else "failed rule: <rule>").
    expression = rule.get("messageExpression")
    if isinstance(expression, str) and expression:
        try:
            shown = _run(compile_rule(expression).program, value)
        except (RuleError, ValueError, RuntimeError, TypeError, KeyError, IndexError):
            shown = None
        if isinstance(shown, str) and shown.strip() and "\n" not in shown.strip():
            return shown.strip()
    message = rule.get("message")
    if isinstance(message, str) and message.strip():
        return message.strip()
    return f"failed rule: {rule_error_string(rule)}"


# A string the conversion cannot parse: cel-go words it "type conversion error from 'string' to
# '<type>'" (cel-go common/types/string.go ConvertToType); the runtime names its parser instead.
_CONVERSIONS: Final = {"int": "int", "uint": "uint", "double": "double",
                       "duration": "google.protobuf.Duration",
                       "timestamp": "google.protobuf.Timestamp"}


def _one_line(exc: BaseException) -> str:
    """The runtime's error as cel-go would word the gist of it, on one line."""
    if isinstance(exc, KeyError):
        return f"no such key: {exc.args[0] if exc.args else ''}"
    text = " ".join(str(exc).split())
    for function, target in _CONVERSIONS.items():
        if text.startswith(f"Function '{function}' error: ") and "pars" in text.lower():
            return f"type conversion error from 'string' to '{target}'"
    # A Kubernetes function's own error is the message; drop the runtime's wrapping of it.
    text = text.split("CelFunctionError: ", 1)[-1].split(" Python function ", 1)[0]
    # The runtime appends generic advice to each error: keep the first sentence.
    return text.split(". ")[0].rstrip(".")


def field_path(rule: Mapping[str, Any]) -> str:
    """The rule's ``fieldPath`` (a JSON path relative to the node, e.g. ``.spec.x``), or ''."""
    path = rule.get("fieldPath")
    return path if isinstance(path, str) else ""
