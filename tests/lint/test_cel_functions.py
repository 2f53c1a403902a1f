"""The CEL side of lint: every rule of every bundled CRD compiles and calls only functions lint
provides, and each Kubernetes extension function the rules use behaves as the API server's
(kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/cel/library: urls.go, ip.go, cidr.go,
format.go; cel-go ext/strings.go)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import cel
import pytest

from egress_e2e.rendering import cel_rules, kube_cel, schemas

BUNDLES = sorted({name for pair in schemas.BUNDLES_FOR_MINOR.values() for name in pair})


def rules_of(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield from node.get("x-kubernetes-validations", ())
        for value in node.values():
            yield from rules_of(value)
    elif isinstance(node, list):
        for value in node:
            yield from rules_of(value)


def every_rule() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for name in BUNDLES:
        data = json.loads(schemas.bundle_text(name))
        found += [(name, rule) for rule in rules_of(data["schemas"])]
    return found


def test_every_rule_of_every_bundle_compiles_with_known_functions() -> None:
    rules = every_rule()
    assert len(rules) > 500  # Istio ~400 and Gateway API ~350 rules: the walk found them
    failures = []
    for bundle, rule in rules:
        for text in (rule["rule"], rule.get("messageExpression")):
            if text:
                try:
                    cel_rules.compile_rule(text)
                except cel_rules.RuleError as exc:
                    failures.append(f"{bundle}: {exc}")
    assert failures == []


def test_the_kubernetes_functions_the_rules_call_are_the_ones_tested_here() -> None:
    called = set()
    for _, rule in every_rule():
        called |= set(cel.compile(rule["rule"]).functions())
    extensions = sorted(called & (kube_cel.KUBERNETES_FUNCTIONS.keys()
                                  | kube_cel.STRINGS_FUNCTIONS.keys()))
    assert extensions == ["dns1123Label", "getScheme", "isIP", "isURL", "split", "substring",
                          "url", "validate"]


def test_a_rule_calling_an_unimplemented_function_is_an_internal_error() -> None:
    message = cel_rules.check_rule({"rule": "quantity(self).isGreaterThan(quantity('1'))",
                                    "message": "never shown"}, "2")
    assert message is not None
    assert message.startswith("internal error: CEL rule")
    assert "isGreaterThan, quantity" in message


def holds(rule: str, value: object) -> str | None:
    return cel_rules.check_rule({"rule": rule, "message": "failed"}, value)


@pytest.mark.parametrize(("text", "valid"), [
    ("https://registry.test/plugin.wasm", True),
    ("oci://registry.test/plugin:v1", True),
    ("/absolute/path", True),
    ("mailto:someone", True),          # Go keeps an opaque URI
    ("registry.test/plugin", False),   # no scheme and not an absolute path
    ("", False),
    ("http://bad host/", False),       # a space is not a host character
    ("http://h:8x/", False),           # the port must be digits
    ("http://[::1]:80/", True),
    ("http://h/%zz", False),           # a broken escape
    ("a\bb", False),                   # a control character
])
def test_is_url_follows_go_parse_request_uri(text: str, valid: bool) -> None:
    assert kube_cel.is_url(text) is valid
    assert (holds("isURL(self)", text) is None) is valid


def test_url_accessors() -> None:
    assert holds("url(self).getScheme() == 'https'", "HTTPS://reg.test:5000/p?q=1") is None
    assert holds("url(self).getHost() == 'reg.test'", "https://reg.test:5000/p") is None
    assert holds("url(self).getPort() == '5000'", "https://reg.test:5000/p") is None
    assert holds("url(self).getEscapedPath() == '/p'", "https://reg.test:5000/p") is None
    assert holds("url(self).getHost() == '::1'", "http://[::1]:80/") is None
    message = holds("url(self).getScheme() == 'http'", "no-scheme")
    assert message is not None
    assert "URL parse error during conversion from string: invalid URI for request" in message


@pytest.mark.parametrize(("text", "valid"), [
    ("10.1.2.3", True), ("2001:db8::1", True), ("api.test", False), ("010.1.2.3", False),
    ("fe80::1%eth0", False), ("::ffff:10.1.2.3", False), ("10.0.0.0/8", False),
])
def test_is_ip(text: str, valid: bool) -> None:
    assert (holds("isIP(self)", text) is None) is valid


def test_ip_family_and_is_cidr() -> None:
    assert holds("ip(self).family() == 6", "2001:db8::1") is None
    assert holds("ip(self).family() == 4", "10.0.0.1") is None
    assert holds("isCIDR(self)", "10.0.0.0/8") is None
    assert holds("isCIDR(self)", "10.0.0.1/33") is not None
    assert holds("isCIDR(self)", "10.0.0.1") is not None


def test_format_named_validators() -> None:
    rule = "format.dns1123Label().validate(self) == null"
    assert holds(rule, "backend-1") is None
    assert holds(rule, "Backend_1") is not None
    found = kube_cel.validate({"kubernetes.NamedFormat": "dns1123Label"}, "a" * 64)
    assert found is not None
    assert found[0] == "must be no more than 63 characters"
    assert holds("format.dns1123Subdomain().validate(self) == null", "a.b-c.test") is None
    assert holds("format.dns1035Label().validate(self) == null", "1abc") is not None


def test_strings_extension() -> None:
    assert holds("self.split('/')[0] == 'shop'", "shop/cart") is None
    assert holds("self.substring(1, 3) == 'ho'", "shop") is None
    assert holds("self.indexOf('o') == 2", "shop") is None
    assert holds("self.lowerAscii() == 'shop'", "SHOP") is None
    message = holds("self.substring(2, 9) == ''", "shop")
    assert message is not None and "evaluating rule" in message


def test_rule_outcomes_and_messages() -> None:
    assert holds("self > 1", 2) is None
    # Kubernetes >= 1.35 prints a scalar's value, omits an object's or array's.
    assert holds("self > 1", 1) == "Invalid value: 1: failed"
    assert holds("self != 'x'", "x") == 'Invalid value: "x": failed'
    assert cel_rules.check_rule({"rule": "self.size() < 1", "message": " m "}, ["a"]) == \
        "Invalid value: m"
    assert cel_rules.check_rule({"rule": "self.size() < 1"}, {"a": 1}) == \
        "Invalid value: failed rule: self.size() < 1"
    assert cel_rules.check_rule({"rule": "false", "reason": "FieldValueDuplicate",
                                 "message": "m"}, "x") == 'Duplicate value: "x"'
    reasoned = cel_rules.check_rule({"rule": "false", "message": "m",
                                     "reason": "FieldValueForbidden"}, {})
    assert reasoned == "Forbidden: m"
    expressed = cel_rules.check_rule({"rule": "self.size() < 2", "message": "m",
                                      "messageExpression": "'has ' + string(self.size())"},
                                     [1, 2, 3])
    assert expressed == "Invalid value: has 3"
    # An evaluation error names the schema's type and the rule's message, else its text.
    assert holds("duration(self) > duration('1ms')", "soon") == (
        'Invalid value: "string": type conversion error from \'string\' to '
        "'google.protobuf.Duration' evaluating rule: failed")
    assert cel_rules.check_rule({"rule": "duration(self) > duration('1ms')"}, "soon", "") == (
        'Invalid value: "": type conversion error from \'string\' to '
        "'google.protobuf.Duration' evaluating rule: duration(self) > duration('1ms')")
    # A transition rule (oldSelf) only runs on update; lint checks a create.
    assert holds("self == oldSelf", "x") is None
    missing = holds("self.value == 'x'", {})
    assert missing == 'Invalid value: "object": no such key: value evaluating rule: failed'
