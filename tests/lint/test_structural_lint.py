"""The broken-variant classes lint must catch as the API server would (typos, enums, lax types,
map keys, missing required fields, names, core enums), the fields the 1.24 models wrongly
refused, the per-version schemas, and the schema keywords themselves."""

from __future__ import annotations

from typing import Any

import pytest

from egress_e2e.rendering import kube_yaml, lint, structural

VS = "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs}\n"
SE = "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: se}\n"
DR = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: dr}\n"
PA = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: pa}\n"


def crd_lines(text: str, version: str = "1.31") -> list[str]:
    """Problems from the CRD schema (not the webhook rules, which are webhook.py's)."""
    webhook = {(p.field, p.message) for p in _webhook_only(text)}
    return [f"{p.field}: {p.message}" for p in lint.lint_text(text, "t.yaml", version)
            if (p.field, p.message) not in webhook]


def _webhook_only(text: str) -> list[lint.LintProblem]:
    import yaml

    from egress_e2e.rendering.webhook import webhook_problems

    body = lint.as_kubectl_json(yaml.safe_load(text))
    return [lint.LintProblem("t.yaml", 1, "", "", f, m) for f, m in webhook_problems(body)]


def test_a_typo_is_an_unknown_field_with_what_really_happens() -> None:
    text = SE + "spec: {hosts: [a.test], resolutoin: DNS}\n"
    assert lint.lint_text(text, "se.yaml")[0].message == (
        'unknown field "spec.resolutoin": with kubectl\'s default strict field validation the '
        "API server rejects the object; a client that does not ask for it has the field pruned "
        "with a warning")


def test_preserved_subtrees_take_any_field() -> None:
    """Istio's CRDs keep unknown fields under status and EnvoyFilter patch.value only."""
    envoy_filter = """\
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef}
spec:
  configPatches:
  - applyTo: CLUSTER
    patch: {operation: ADD, value: {name: c, anything: {at: [all]}}}
status: {whatever: 1}
"""
    assert crd_lines(envoy_filter) == []
    assert crd_lines(envoy_filter.replace("applyTo: CLUSTER", "applyTo: CLUSTER\n    aplyTo: X"))\
        == ["spec.configPatches[0].aplyTo: " + structural.UNKNOWN_FIELD.format(
            path="spec.configPatches[0].aplyTo")]


def test_enum_lists_the_supported_values() -> None:
    assert crd_lines(SE + "spec: {hosts: [a.test], resolution: DNS_RR}\n") == [
        'spec.resolution: Unsupported value: "DNS_RR": supported values: "NONE", "STATIC", '
        '"DNS", "DNS_ROUND_ROBIN", "DYNAMIC_DNS"']


@pytest.mark.parametrize(("text", "expected"), [
    (SE + "spec: {hosts: [a.test], ports: [{number: '80', name: http, protocol: HTTP}]}\n",
     'spec.ports[0].number: Invalid value: "string": spec.ports[0].number in body must be of '
     'type integer: "string"'),
    (VS + "spec: {hosts: [a.test], http: [{route: [{destination: {host: a.test}, "
          "weight: '100'}]}]}\n",
     'spec.http[0].route[0].weight: Invalid value: "string": spec.http[0].route[0].weight in '
     'body must be of type integer: "string"'),
    (DR + "spec: {host: a.test, trafficPolicy: {tls: {mode: SIMPLE, insecureSkipVerify: "
          "'true'}}}\n",
     'spec.trafficPolicy.tls.insecureSkipVerify: Invalid value: "string": '
     'spec.trafficPolicy.tls.insecureSkipVerify in body must be of type boolean: "string"'),
    (SE + "spec: {hosts: [a.test], ports: [{number: 80.5, name: http}]}\n",
     'spec.ports[0].number: Invalid value: "number": spec.ports[0].number in body must be of '
     'type integer: "number"'),
    (SE + "spec: {hosts: a.test}\n",
     'spec.hosts: Invalid value: "string": spec.hosts in body must be of type array: "string"'),
])
def test_lax_types_are_errors(text: str, expected: str) -> None:
    assert expected in crd_lines(text)


def test_yaml_becomes_json_as_kubectl_makes_it() -> None:
    assert lint.as_kubectl_json({8080: {"on": True}, True: 1.0, 1.5: [2.0]}) == \
        {"8080": {"on": True}, "true": 1, "1.5": [2]}
    # An integer key is the string "8080" by the time the API server sees it: accepted.
    integer_key = PA + "spec:\n  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n" \
                       "    8080: {mode: STRICT}\n"
    assert crd_lines(integer_key) == []
    # A whole-number float is sent as an integer.
    assert crd_lines(SE + "spec: {hosts: [a.test], ports: [{number: 80.0, name: h}]}\n") == []


def test_yaml_scalars_are_read_as_kubectl_reads_them() -> None:
    (doc,) = kube_yaml.load_documents("t: 2026-01-02\nb60: 1:30\ne: 1e3\nh: 0x1F\no: yes\n")
    assert doc == {"t": "2026-01-02", "b60": "1:30", "e": 1000.0, "h": 31, "o": True}
    # A timestamp-looking string stays a string, so a string field accepts it.
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {since: 2026-01-02}\n"
    assert lint.lint_text(text, "c.yaml") == []


def test_y_and_n_are_booleans_as_go_yaml_reads_them() -> None:
    (doc,) = kube_yaml.load_documents("a: y\nb: N\nc: 'y'\nd: yy\ne: [n]\n")
    assert doc == {"a": True, "b": False, "c": "y", "d": "yy", "e": [False]}
    # So a label written `debug: y` reaches the API server as a boolean, which it refuses.
    text = SE.replace("metadata: {name: se}", "metadata: {name: se, labels: {debug: y}}") + \
        "spec: {hosts: [a.test]}\n"
    assert [p.field for p in lint.lint_text(text, "se.yaml")] == ["metadata.labels[debug]"]


def test_a_colon_inside_a_flow_plain_scalar_stays_in_it() -> None:
    # sigs.k8s.io/yaml reads an unquoted IPv6 address ending in "::" inside [...] as one
    # string (Istio 1.31's own valid ServiceEntry test data writes addresses so); PyYAML alone
    # would read a mapping and the CRD would then reject the address.
    (doc,) = kube_yaml.load_documents("a: [10.1.2.3, 2001:db8::, b:c]\nm: {k: [x:y], q: v}\n")
    assert doc == {"a": ["10.1.2.3", "2001:db8::", "b:c"], "m": {"k": ["x:y"], "q": "v"}}
    (doc,) = kube_yaml.load_documents("a: [k: v]\n")
    assert doc == {"a": [{"k": "v"}]}
    text = SE + "spec: {hosts: [api.partner.test], addresses: [10.9.8.7, 2001:db8::], " \
                "resolution: STATIC, endpoints: [{address: 10.9.8.7}]}\n"
    assert lint.lint_text(text, "se.yaml") == []


def test_invalid_map_keys_fail_the_crd_rule() -> None:
    text = PA + "spec:\n  selector: {matchLabels: {app: a}}\n  portLevelMtls:\n" \
                "    acd: {mode: STRICT}\n"
    (line,) = crd_lines(text)
    assert line.startswith('spec.portLevelMtls: Invalid value: "object": ')
    # An evaluation error names the rule's message (validation.go ruleErrorString).
    assert line.endswith("evaluating rule: port must be between 1-65535")


def test_missing_required_fields() -> None:
    assert crd_lines(SE + "spec: {ports: [{number: 80}]}\n") == [
        "spec.hosts: Required value", "spec.ports[0].name: Required value"]


@pytest.mark.parametrize(("kind", "api", "name", "rule"), [
    ("VirtualService", "networking.istio.io/v1", "Egress_VS", "RFC 1123 subdomain"),
    ("HTTPRoute", "gateway.networking.k8s.io/v1", "-route", "RFC 1123 subdomain"),
    ("ConfigMap", "v1", "a..b", "RFC 1123 subdomain"),
    ("Service", "v1", "1-svc", "DNS-1035 label"),
    ("Namespace", "v1", "team.a", "RFC 1123 label"),
])
def test_names_must_be_what_kubernetes_accepts(kind: str, api: str, name: str,
                                               rule: str) -> None:
    text = f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: {name}}}\n"
    found = [p for p in lint.lint_text(text, "n.yaml") if p.field == "metadata.name"]
    assert len(found) == 1
    assert found[0].message.startswith(f'Invalid value: "{name}": ')
    assert rule in found[0].message


def test_object_meta_is_checked_for_custom_resources_too() -> None:
    text = SE.replace("metadata: {name: se}", "metadata: {name: se, lables: {a: b}, "
                                              "labels: {version: 2}}") + "spec: {hosts: [a.test]}\n"
    assert crd_lines(text) == [
        "metadata.lables: " + structural.UNKNOWN_FIELD.format(path="metadata.lables"),
        'metadata.labels[version]: Invalid value: 2: metadata.labels[version] in body must be of '
        'type string: "integer"']


@pytest.mark.parametrize(("api", "kind"), [("v1", "ConfigMap"),
                                         ("networking.istio.io/v1", "ServiceEntry")])
def test_label_keys_and_values_and_annotation_keys(api: str, kind: str) -> None:
    def problems(meta: str) -> list[str]:
        text = f"apiVersion: {api}\nkind: {kind}\nmetadata: {{name: x, {meta}}}\n"
        return [f"{p.field}: {p.message}" for p in lint.lint_text(text, "m.yaml")
                if p.field.startswith("metadata.")]

    fine = ("labels: {app: shop, app.kubernetes.io/name: s, empty: '', v: v1.2_3}, "
            "annotations: {Sidecar.Istio.io/inject: 'any text: at all'}")
    assert problems(fine) == []
    (value,) = problems("labels: {app: my shop}")
    assert value.startswith('metadata.labels: Invalid value: "my shop": a valid label must be '
                            "an empty string or consist of alphanumeric characters")
    assert problems("labels: {app: " + "a" * 64 + "}") == [
        f'metadata.labels: Invalid value: "{"a" * 64}": must be no more than 63 characters']
    (key,) = problems("labels: {'my app': x}")
    assert key.startswith('metadata.labels: Invalid value: "my app": name part must consist of '
                          "alphanumeric characters")
    (prefix,) = problems("annotations: {'Bad_Prefix.io/x': z}")
    assert prefix.startswith('metadata.annotations: Invalid value: "bad_prefix.io/x": prefix '
                             "part a lowercase RFC 1123 subdomain")
    (parts,) = problems("annotations: {a/b/c: z}")
    assert parts.startswith('metadata.annotations: Invalid value: "a/b/c": a qualified name ')
    assert parts.endswith("with an optional DNS subdomain prefix and '/' "
                          "(e.g. 'example.com/MyName')")


def test_name_messages_are_the_api_servers() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata: {name: 1svc, namespace: Team}\nspec: {}\n"
    lines = [str(p) for p in lint.lint_text(text, "s.yaml")]
    assert "s.yaml:1: Service/1svc: metadata.name: Invalid value: \"1svc\": a DNS-1035 label " \
           "must consist of lower case alphanumeric characters or '-', start with an alphabetic " \
           "character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', " \
           "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')" in lines
    assert any(line.startswith("s.yaml:1: Service/1svc: metadata.namespace: Invalid value: "
                               '"Team": a lowercase RFC 1123 label') for line in lines)


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  selector: {matchLabels: {app: d}}
  template:
    metadata: {labels: {app: d}}
    spec:
      restartPolicy: OnFailure
      containers:
      - name: c
        image: curl
        imagePullPolicy: always
        ports: [{containerPort: 80, protocol: tcp}]
"""


def test_core_enums_use_the_api_servers_messages() -> None:
    fields = {(p.field, p.message) for p in lint.lint_text(DEPLOYMENT, "d.yaml")}
    assert fields == {
        ("spec.template.spec.restartPolicy",
         'Unsupported value: "OnFailure": supported values: "Always"'),
        ("spec.template.spec.containers[0].imagePullPolicy",
         'Unsupported value: "always": supported values: "Always", "IfNotPresent", "Never"'),
        ("spec.template.spec.containers[0].ports[0].protocol",
         'Unsupported value: "tcp": supported values: "SCTP", "TCP", "UDP"'),
    }
    service = "apiVersion: v1\nkind: Service\nmetadata: {name: s}\nspec: {type: Nodeport}\n"
    assert [p.message for p in lint.lint_text(service, "s.yaml")] == [
        'Unsupported value: "Nodeport": supported values: "ClusterIP", "ExternalName", '
        '"LoadBalancer", "NodePort"']
    pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {restartPolicy: Sometimes, " \
          "containers: [{name: c, image: i}]}\n"
    assert [p.field for p in lint.lint_text(pod, "p.yaml")] == ["spec.restartPolicy"]


NOW_ACCEPTED = {
    "authorizationpolicy-serviceaccounts-trustdomains": """\
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: ap}
spec:
  rules: [{from: [{source: {serviceAccounts: [shop/cart]}}, {source: {trustDomains: [corp]}}]}]
""",
    "destinationrule-http2keepalive-retrybudget": DR + """\
spec:
  host: a.test
  trafficPolicy:
    connectionPool: {http: {http2KeepAlive: {interval: 30s, timeout: 5s}}}
    retryBudget: {percent: 20.0, minRetryConcurrency: 3}
""",
    "serviceentry-dynamic-dns": SE + """\
spec:
  hosts: ["*.partner.test"]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DYNAMIC_DNS
""",
    "envoyfilter-waypoint-merge-and-replace-list": """\
apiVersion: networking.istio.io/v1alpha3
kind: EnvoyFilter
metadata: {name: ef}
spec:
  configPatches:
  - applyTo: HTTP_FILTER
    match:
      context: WAYPOINT
      waypoint: {filter: {name: envoy.filters.network.http_connection_manager}}
    patch: {operation: MERGE_AND_REPLACE_LIST, value: {name: x}}
""",
    "requestauthentication-spacedelimitedclaims": """\
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {name: ra}
spec:
  jwtRules: [{issuer: https://issuer.test, spaceDelimitedClaims: [scope]}]
""",
    "gateway-credentialnames": """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw}
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [a.test]
    tls: {mode: SIMPLE, credentialNames: [rsa-cert, ecdsa-cert]}
""",
    "trafficextension-kind": """\
apiVersion: extensions.istio.io/v1alpha1
kind: TrafficExtension
metadata: {name: te}
spec:
  lua: {inlineCode: "function envoy_on_request(h) end"}
""",
}


@pytest.mark.parametrize("case", sorted(NOW_ACCEPTED))
def test_fields_the_old_models_refused_are_accepted_on_1_31(case: str) -> None:
    assert crd_lines(NOW_ACCEPTED[case]) == []


def test_a_1_31_only_field_is_unknown_on_1_30() -> None:
    text = DR + "spec: {host: a.test, trafficPolicy: {connectionPool: {http: " \
                "{http2KeepAlive: {interval: 30s}}}}}\n"
    assert crd_lines(text, "1.31") == []
    assert crd_lines(text, "1.30.5") == [
        "spec.trafficPolicy.connectionPool.http.http2KeepAlive: " + structural.UNKNOWN_FIELD.format(
            path="spec.trafficPolicy.connectionPool.http.http2KeepAlive")]


def test_an_istio_version_without_schemas_is_one_clear_error() -> None:
    from egress_e2e.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown Istio version '1\.2'"):
        lint.lint_text(SE + "spec: {hosts: [a.test]}\n", "t.yaml", "1.2")


def test_rules_are_not_run_on_an_object_with_blocking_errors() -> None:
    """A type, enum, required or too-long error makes the API server skip the CEL rules and say
    so; lint shows that line when a rule would have failed too."""
    breaks_a_rule = SE + "spec: {hosts: [a.test], resolution: NONE, endpoints: [{address: " \
                         "10.0.0.1}]}\n"
    assert crd_lines(breaks_a_rule) == ['spec: Invalid value: NONE mode cannot set '
                                        "endpoints"]
    assert crd_lines(breaks_a_rule.replace("hosts: [a.test], ", "hosts: [a.test], "
                                           "location: OUTSIDE, ")) == [
        'spec.location: Unsupported value: "OUTSIDE": supported values: "MESH_EXTERNAL", '
        '"MESH_INTERNAL"',
        "(document): " + structural.RULES_NOT_CHECKED]


def test_one_of_for_mutually_exclusive_fields() -> None:
    text = VS + "spec: {hosts: [a.test], http: [{route: [{destination: {host: a.test}}], " \
                "fault: {abort: {httpStatus: 503, grpcStatus: UNAVAILABLE}}}]}\n"
    assert crd_lines(text) == [
        'spec.http[0].fault.abort: Invalid value: "object": spec.http[0].fault.abort in body '
        "must validate one and only one schema (oneOf)"]
    assert crd_lines(text.replace(", grpcStatus: UNAVAILABLE", "")) == []


def test_nullable_fields_take_null_and_others_do_not() -> None:
    gateway = NOW_ACCEPTED["gateway-credentialnames"]
    assert crd_lines(gateway.replace("credentialNames: [rsa-cert, ecdsa-cert]",
                                     "insecureSkipVerify: null")) == []
    # A null the schema does not allow is dropped before validation (defaulting/prunenulls.go),
    # so an optional field set to null is accepted, a required one is missing ...
    assert crd_lines(gateway.replace("mode: SIMPLE", "mode: null")) == []
    assert crd_lines(SE + "spec: {hosts: null}\n") == ["spec.hosts: Required value"]
    # ... and a null list item, which is not dropped, is the wrong type.
    assert crd_lines(SE + "spec: {hosts: [null]}\n") == [
        'spec.hosts[0]: Invalid value: "null": spec.hosts[0] in body must be of type string: '
        '"null"']


def schema_problems(schema: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    return structural.validate({"type": "object", "properties": {"x": schema}}, {"x": value})


def test_bounds_and_lengths() -> None:
    assert schema_problems({"type": "integer", "maximum": 10, "exclusiveMaximum": True}, 10) == [
        ("x", "Invalid value: 10: x in body should be less than 10")]
    assert schema_problems({"type": "number", "minimum": 0}, -0.5) == [
        ("x", "Invalid value: -0.5: x in body should be greater than or equal to 0")]
    assert schema_problems({"type": "string", "maxLength": 3}, "abcd") == [
        ("x", "Too long: may not be more than 3 bytes")]
    assert schema_problems({"type": "string", "pattern": "^[a-z]+$"}, "A") == [
        ("x", "Invalid value: \"A\": x in body should match '^[a-z]+$'")]
    assert schema_problems({"type": "array", "maxItems": 1, "items": {"type": "string"}},
                           ["a", "b"]) == [("x", "Too many: 2: must have at most 1 items")]
    assert schema_problems({"type": "array", "minItems": 1}, []) == [
        ("x", "Invalid value: 0: x in body should have at least 1 items")]
    assert schema_problems({"type": "object", "maxProperties": 1,
                            "additionalProperties": {"type": "string"}}, {"a": "1", "b": "2"}) \
        == [("x", "Too many: 2: must have at most 1 items")]


def test_list_types_and_formats() -> None:
    assert schema_problems({"type": "array", "x-kubernetes-list-type": "set",
                            "items": {"type": "string"}}, ["a", "b", "a"]) == [
        ("x[2]", 'Duplicate value: "a"')]
    listmap = {"type": "array", "x-kubernetes-list-type": "map",
               "x-kubernetes-list-map-keys": ["port", "protocol"],
               "items": {"type": "object", "properties": {
                   "port": {"type": "integer"}, "protocol": {"type": "string"}}}}
    assert schema_problems(listmap, [{"port": 1, "protocol": "TCP"},
                                     {"port": 1, "protocol": "UDP"}]) == []
    assert schema_problems(listmap, [{"port": 1, "protocol": "TCP"},
                                     {"port": 1, "protocol": "TCP"}]) == [
        ("x[1]", 'Duplicate value: map[string]interface {}{"port":1, "protocol":"TCP"}')]
    # One error per repeated value, at its second appearance (listtype/validation.go).
    assert schema_problems({"type": "array", "x-kubernetes-list-type": "set",
                            "items": {"type": "string"}}, ["a", "a", "a", "b", "b"]) == [
        ("x[1]", 'Duplicate value: "a"'), ("x[4]", 'Duplicate value: "b"')]
    assert schema_problems({"type": "string", "format": "ipv4"}, "10.0.0.1") == []
    assert schema_problems({"type": "string", "format": "ipv4"}, "10.0.0.256") == [
        ("x", 'Invalid value: "10.0.0.256": x in body must be of type ipv4: "10.0.0.256"')]
    assert schema_problems({"type": "string", "format": "byte"}, "not base64!") != []
    assert schema_problems({"type": "string", "format": "date-time"},
                           "2026-01-02T03:04:05Z") == []
    assert schema_problems({"x-kubernetes-int-or-string": True}, "50%") == []
    assert schema_problems({"x-kubernetes-int-or-string": True}, 50) == []
    assert schema_problems({"x-kubernetes-int-or-string": True}, True) == [
        ("x", 'Invalid value: "boolean": x in body must be of type integer,string: "boolean"')]


def test_defaults_are_applied_before_rules() -> None:
    schema = {"type": "object", "properties": {"x": {
        "type": "object",
        "properties": {"kind": {"type": "string", "default": "Service"}},
        "x-kubernetes-validations": [{"rule": "self.kind == 'Service'", "message": "m"}]}}}
    assert structural.validate(schema, {"x": {}}) == []
    assert structural.validate(schema, {"x": {"kind": "Other"}}) == [
        ("x", "Invalid value: m")]
