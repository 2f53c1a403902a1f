"""YAML read as kubectl reads it, for everything that turns YAML into the objects the API server
gets: the rendered catalog (render.py) and lint (lint.py) see the same values kubectl would send.
"""

from __future__ import annotations

import re
from typing import Any, Final

import yaml
from yaml.tokens import ScalarToken


class KubectlYamlLoader(yaml.SafeLoader):
    """YAML read as kubectl reads it (sigs.k8s.io/yaml, a fork of go-yaml v2): YAML 1.1 scalars
    as PyYAML has them, except that a timestamp stays the string it was (go-yaml gives
    ``interface{}`` a string for it), base-60 numbers such as ``1:30`` are strings (go-yaml
    has no base 60), ``y`` and ``n`` are booleans, ``1e3`` is a number, and in a flow
    collection a ``:`` that no blank follows stays inside a plain scalar (``[2001:db8::]`` is
    one address, as Istio 1.31's pkg/config/validation/testdata/crds/serviceentry-valid.yaml
    has it; PyYAML would end the scalar at ``:]`` and read a mapping)."""

    def scan_plain(self) -> ScalarToken:
        token: ScalarToken = super().scan_plain()
        if not self.flow_level:
            return token
        value, end = token.value, token.end_mark
        # PyYAML stops before a ':' that a flow indicator follows; go-yaml's scanner ends a
        # plain scalar at ':' only before a blank. Only a ':' right after the scalar (no
        # spaces skipped) is taken back in.
        while (self.index == end.index and self.peek() == ":"
               and self.peek(1) not in _BLANK_OR_END):
            self.forward()
            value += ":"
            end = self.get_mark()
            if self.peek() not in _BLANK_OR_END + ",?[]{}:":
                more: ScalarToken = super().scan_plain()
                value += more.value
                end = more.end_mark
        return ScalarToken(value, True, token.start_mark, end)


_BLANK_OR_END: Final = "\0 \t\r\n\x85\u2028\u2029"


_TAG_INT: Final = "tag:yaml.org,2002:int"
_TAG_FLOAT: Final = "tag:yaml.org,2002:float"
_TAG_TIMESTAMP: Final = "tag:yaml.org,2002:timestamp"
KubectlYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in (_TAG_INT, _TAG_FLOAT, _TAG_TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
KubectlYamlLoader.add_implicit_resolver(_TAG_INT, re.compile(
    r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+)$"),
    list("-+0123456789"))
# go-yaml v2 resolve.go: a float is what its yamlStyleFloat matches (so 1e3 is one), or .inf/.nan.
KubectlYamlLoader.add_implicit_resolver(_TAG_FLOAT, re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"), list("-+0123456789."))
# go-yaml v2 resolve.go's table also makes y, Y, n and N booleans (PyYAML has them as strings):
# kubectl sends `debug: y` as true, which a string field refuses.
KubectlYamlLoader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:y|Y|n|N)$"),
                                        list("yYnN"))
KubectlYamlLoader.bool_values = {**yaml.SafeLoader.bool_values, "y": True, "n": False}


def load_documents(text: str) -> list[Any]:
    """The non-empty documents of a multi-document YAML text, read as kubectl reads them."""
    return [body for body in yaml.load_all(text, Loader=KubectlYamlLoader)
            if body is not None]


__all__ = ["KubectlYamlLoader", "load_documents"]
