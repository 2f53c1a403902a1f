"""``x-kubernetes-validations`` rules, compiled once and evaluated as the API server does on
create: ``self`` is the value at the rule's schema node; the rule fails when it evaluates to
false or cannot be evaluated (kubernetes/kubernetes staging/src/k8s.io/apiextensions-apiserver
pkg/apiserver/schema/cel/validation.go).

Transition rules (those that read ``oldSelf``) only run on update, so on create, which is what
lint stands for, they are skipped as the API server skips them.
"""

from __future__ import annotations

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
    "FieldValueInvalid": "Invalid value: \"{kind}\": ",
    "FieldValueForbidden": "Forbidden: ",
    "FieldValueRequired": "Required value: ",
    "FieldValueDuplicate": "Duplicate value: ",
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


def check_rule(rule: Mapping[str, Any], value: object) -> str | None:
    """None when ``rule`` holds for ``value``, else the API server's message for it."""
    text = str(rule.get("rule", ""))
    try:
        compiled = compile_rule(text)
    except RuleError as exc:
        return f"internal error: {exc}"
    if compiled.transition:
        return None
    prefix = _REASONS.get(str(rule.get("reason") or "FieldValueInvalid"),
                          _REASONS["FieldValueInvalid"]).format(kind=json_type(value))
    try:
        holds = _run(compiled.program, value)
    except (ValueError, RuntimeError, TypeError, KeyError, IndexError) as exc:
        # The API server reports an evaluation error as the rule failing, with the error.
        return f"{prefix}{_one_line(exc)} evaluating rule: {text}"
    if holds is True:
        return None
    if holds is not False:
        return f"{prefix}rule {text!r} evaluated to {holds!r}, not a bool"
    return prefix + _message(rule, value, text)


def _message(rule: Mapping[str, Any], value: object, text: str) -> str:
    expression = rule.get("messageExpression")
    if isinstance(expression, str) and expression:
        try:
            shown = _run(compile_rule(expression).program, value)
        except (RuleError, ValueError, RuntimeError, TypeError, KeyError, IndexError):
            shown = None
        if isinstance(shown, str) and shown.strip():
            return shown
    message = rule.get("message")
    if isinstance(message, str) and message:
        return message
    return f"failed rule: {text}"


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
