"""What the API server checks in code rather than in its OpenAPI schema, for the fields lint
users get wrong: ``metadata.name`` / ``metadata.namespace``, label keys and values and
annotation keys (every kind), and the enums of core kinds (``imagePullPolicy``, Service
``type``, ``restartPolicy``, port ``protocol``).

Source: kubernetes/kubernetes pkg/apis/core/validation/validation.go (supportedPullPolicies,
supportedServiceType, validateRestartPolicy, supportedPortProtocols, ValidateServiceName) and
staging/src/k8s.io/apimachinery/pkg/api/validation/objectmeta.go. ``field.NotSupported`` lists
the values of a set sorted, so the messages do too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import Any, Final

from egress_e2e.rendering.cel_rules import json_type
from egress_e2e.rendering.names import (
    DNS1123_LABEL,
    LABEL_VALUE,
    name_rule,
    qualified_name_errors,
)
from egress_e2e.rendering.structural import UNKNOWN_FIELD, Problem, Segment, format_path

PULL_POLICIES: Final = ("Always", "IfNotPresent", "Never")
SERVICE_TYPES: Final = ("ClusterIP", "ExternalName", "LoadBalancer", "NodePort")
RESTART_POLICIES: Final = ("Always", "OnFailure", "Never")
PROTOCOLS: Final = ("SCTP", "TCP", "UDP")
# Where each workload kind keeps its PodSpec.
_POD_SPEC_AT: Final[dict[str, tuple[str, ...]]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
_CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")


def not_supported(path: Sequence[Segment], value: object, allowed: Sequence[str]) -> Problem:
    supported = ", ".join(json.dumps(item) for item in allowed)
    return (format_path(path), f"Unsupported value: {json.dumps(value)}: supported values: "
                               f"{supported}")


def metadata_problems(kind: str, metadata: Mapping[str, Any]) -> list[Problem]:
    """The name rule of ``kind`` (a DNS-1123 subdomain unless Kubernetes wants a label) and a
    namespace that is a DNS-1123 label."""
    found: list[Problem] = []
    for key, rule in (("name", name_rule(kind)), ("namespace", DNS1123_LABEL)):
        value = metadata.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            found.append((f"metadata.{key}", f'Invalid value: "{type(value).__name__}": '
                                             f'metadata.{key} in body must be of type string'))
            continue
        found.extend((f"metadata.{key}", f"Invalid value: {json.dumps(value)}: {message}")
                     for message in rule.errors(value))
    found.extend(_label_problems(metadata.get("labels"), "metadata.labels", check_values=True))
    found.extend(_label_problems(metadata.get("annotations"), "metadata.annotations",
                                 check_values=False))
    return found


def _label_problems(values: object, where: str, check_values: bool) -> list[Problem]:
    # apimachinery pkg/api/validation/objectmeta.go ValidateAnnotations (keys, lowercased) and
    # pkg/apis/meta/v1/validation ValidateLabels (keys and values): each error is at the map
    # itself, naming the bad key or value. Non-string values are object_meta_problems' job.
    if not isinstance(values, Mapping):
        return []
    found: list[Problem] = []
    for name, value in values.items():
        key = str(name) if check_values else str(name).lower()
        found.extend((where, f"Invalid value: {json.dumps(key)}: {message}")
                     for message in qualified_name_errors(key))
        if check_values and isinstance(value, str):
            found.extend((where, f"Invalid value: {json.dumps(value)}: {message}")
                         for message in LABEL_VALUE.errors(value))
    return found


# ObjectMeta's fields (kubernetes/apimachinery pkg/apis/meta/v1/types.go): a CRD's schema
# leaves metadata to the API server, whose strict decoding refuses any other key there.
OBJECT_META_FIELDS: Final = frozenset({
    "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation",
    "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "labels",
    "annotations", "ownerReferences", "finalizers", "managedFields"})


def object_meta_problems(metadata: Mapping[str, Any]) -> list[Problem]:
    """Unknown ObjectMeta fields, and labels or annotations that are not string maps."""
    found: list[Problem] = []
    for key in metadata:
        if key not in OBJECT_META_FIELDS:
            path = format_path(["metadata", key])
            found.append((path, UNKNOWN_FIELD.format(path=path)))
    for key in ("labels", "annotations"):
        values = metadata.get(key)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            found.append((f"metadata.{key}", f'Invalid value: "{type(values).__name__}": '
                                             f"metadata.{key} in body must be of type object"))
            continue
        for name, value in values.items():
            if not isinstance(value, str):
                path = format_path(["metadata", key, (name,)])
                found.append((path, f"Invalid value: {json.dumps(value)}: {path} in body must "
                                    f'be of type string: "{json_type(value)}"'))
    return found


def _at(body: Mapping[str, Any], path: Sequence[str]) -> object:
    node: object = body
    for key in path:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


def _enum(found: list[Problem], node: Mapping[str, Any], key: str, path: list[Segment],
          allowed: Sequence[str]) -> None:
    value = node.get(key)
    if value is not None and value not in allowed:
        found.append(not_supported([*path, key], value, allowed))


def _ports(found: list[Problem], ports: object, path: list[Segment]) -> None:
    if isinstance(ports, list):
        for position, port in enumerate(ports):
            if isinstance(port, Mapping):
                _enum(found, port, "protocol", [*path, position], PROTOCOLS)


def _secret_data_problems(data: object) -> list[Problem]:
    # Secret.data is map[string][]byte: the API server's JSON decoding reads each value as
    # standard base64 (Go encoding/json; DecodeString skips CR and LF) and refuses the request
    # otherwise. The value is a secret, so the message never shows it.
    if not isinstance(data, Mapping):
        return []
    found: list[Problem] = []
    for key, value in data.items():
        if not isinstance(value, str):
            continue
        try:
            base64.b64decode(value.replace("\r", "").replace("\n", ""), validate=True)
        except (binascii.Error, ValueError):
            found.append((format_path(["data", str(key)]),
                          "Invalid value: (value redacted): illegal base64 data (the API server "
                          "refuses the request while decoding it)"))
    return found


def core_enum_problems(body: Mapping[str, Any]) -> list[Problem]:
    """Unsupported values of the core enums lint checks, with the API server's messages, and
    Secret data that does not decode."""
    kind = str(body.get("kind", ""))
    found: list[Problem] = []
    if kind == "Secret" and str(body.get("apiVersion")) == "v1":
        found.extend(_secret_data_problems(body.get("data")))
    if kind == "Service":
        spec = body.get("spec")
        if isinstance(spec, Mapping):
            _enum(found, spec, "type", ["spec"], SERVICE_TYPES)
            _ports(found, spec.get("ports"), ["spec", "ports"])
    where = _POD_SPEC_AT.get(kind)
    pod = _at(body, where) if where else None
    if where and isinstance(pod, Mapping):
        base: list[Segment] = list(where)
        allowed = RESTART_POLICIES if kind == "Pod" else \
            ("OnFailure", "Never") if kind in ("Job", "CronJob") else ("Always",)
        _enum(found, pod, "restartPolicy", base, allowed)
        for list_key in _CONTAINER_LISTS:
            containers = pod.get(list_key)
            if not isinstance(containers, list):
                continue
            for position, container in enumerate(containers):
                if not isinstance(container, Mapping):
                    continue
                path: list[Segment] = [*base, list_key, position]
                _enum(found, container, "imagePullPolicy", path, PULL_POLICIES)
                _ports(found, container.get("ports"), [*path, "ports"])
    return found
