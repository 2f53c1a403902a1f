"""istiod's webhook rules for AuthorizationPolicy."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any, Final

from egress_e2e.rendering.webhook._common import _Doc, _Found, _is_ip, _list, _map, _q, _str, _strs

# ---- AuthorizationPolicy: validation.go ValidateAuthorizationPolicy; pkg/config/security/
# security.go CheckEmptyValues, ValidatePorts, ValidateIPs ----

_SOURCE_LISTS: Final = ("principals", "requestPrincipals", "namespaces", "ipBlocks",
                        "remoteIpBlocks", "notPrincipals", "notRequestPrincipals",
                        "notNamespaces", "notIpBlocks", "notRemoteIpBlocks", "serviceAccounts",
                        "notServiceAccounts", "trustDomains", "notTrustDomains")
_OPERATION_LISTS: Final = ("ports", "methods", "paths", "hosts", "notPorts", "notMethods",
                           "notPaths", "notHosts")
# What CUSTOM cannot match on yet, with istiod's names for them.
_CUSTOM_UNSUPPORTED: Final = (("namespaces", "From.Namespaces"),
                              ("notNamespaces", "From.NotNamespaces"),
                              ("serviceAccounts", "From.ServiceAccounts"),
                              ("notServiceAccounts", "From.NotServiceAccounts"),
                              ("trustDomains", "From.TrustDomains"),
                              ("notTrustDomains", "From.NotTrustDomains"),
                              ("principals", "From.Principals"),
                              ("notPrincipals", "From.NotPrincipals"),
                              ("requestPrincipals", "From.RequestPrincipals"),
                              ("notRequestPrincipals", "From.NotRequestPrincipals"))
_CUSTOM_UNSUPPORTED_KEYS: Final = ("source.namespace", "source.serviceAccount",
                                   "source.trustDomain", "source.principal")


def _authorization_policy(doc: _Doc, found: _Found) -> None:
    spec = doc.spec
    action = _str(spec.get("action")) or "ALLOW"
    # Every error is prefixed with the policy: multierror.Prefix(errs, "invalid policy n.ns:").
    policy = _Prefixed(found, f"invalid policy {doc.name}.{doc.namespace}:")
    rules = _list(spec.get("rules"))
    provider = spec.get("provider")
    # An empty list decodes to no rules at all, the same as an absent field.
    meaningless = ("action without `rules` is meaningless as it will never be triggered, add an "
                   "empty rule `{}` if you want it be triggered for every request")
    if action == "CUSTOM":
        if not rules:
            policy.add("spec.rules", f"CUSTOM {meaningless}")
        elif not _str(_map(provider).get("name")):
            policy.add("spec.provider.name", "`provider.name` must not be empty")
        _custom_rules(rules, policy)
    if provider is not None and action != "CUSTOM":
        policy.add("spec.provider", f"`provider` must not be with non CUSTOM action, found "
                                    f"{action}")
    if action == "DENY" and not rules:
        policy.add("spec.rules", f"DENY {meaningless}")
    for index, rule in enumerate(rules):
        where = f"spec.rules.{index}"
        if not isinstance(rule, Mapping):
            policy.add(where, f"`rule` must not be nil, found at rule {index}")
            continue
        for position, source in enumerate(_list(rule.get("from"))):
            _rule_source(_map(source).get("source"), index, f"{where}.from.{position}.source",
                         policy)
        for position, target in enumerate(_list(rule.get("to"))):
            _rule_operation(_map(target).get("operation"), index,
                            f"{where}.to.{position}.operation", policy)
        for position, condition in enumerate(_list(rule.get("when"))):
            when = _map(condition)
            key = _str(when.get("key"))
            if "key" in when and not key:
                policy.add(f"{where}.when.{position}.key", "`key` must not be empty")
            elif key and not _list(when.get("values")) and not _list(when.get("notValues")):
                policy.add(f"{where}.when.{position}",
                           f"at least one of `values` or `notValues` must be set for key {key}")


class _Prefixed:
    def __init__(self, found: _Found, prefix: str) -> None:
        self.found, self.prefix = found, prefix

    def add(self, path: str, message: str) -> None:
        self.found.add(path, f"{self.prefix} {message}")


def _custom_rules(rules: list[Any], policy: _Prefixed) -> None:
    for index, rule in enumerate(rules):
        for position, source in enumerate(_list(_map(rule).get("from"))):
            src = _map(_map(source).get("source"))
            for field, label in _CUSTOM_UNSUPPORTED:
                if _list(src.get(field)):
                    policy.add(f"spec.rules.{index}.from.{position}.source.{field}",
                               f"{label} is currently not supported with CUSTOM action")
        for position, when in enumerate(_list(_map(rule).get("when"))):
            key = _str(_map(when).get("key"))
            if key in _CUSTOM_UNSUPPORTED_KEYS or key.startswith("request.auth."):
                policy.add(f"spec.rules.{index}.when.{position}.key",
                           f"{key} is currently not supported with CUSTOM action")


def _go_name(field: str) -> str:
    return field[0].upper() + field[1:]


def _rule_source(src: object, rule: int, where: str, policy: _Prefixed) -> None:
    if not isinstance(src, Mapping):
        policy.add(where, f"`from.source` must not be nil, found at rule {rule}")
        return
    if not any(_list(src.get(field)) for field in _SOURCE_LISTS):
        policy.add(where, f"`from.source` must not be empty, found at rule {rule}")
    for field in ("ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks"):
        for value in _strs(src.get(field)):
            if (error := _policy_ip(value)) is not None:
                policy.add(f"{where}.{field}", error)
    for field in _SOURCE_LISTS:
        if "" in _strs(src.get(field)):
            policy.add(f"{where}.{field}", f"empty value not allowed, found in {_go_name(field)}")


def _rule_operation(operation: object, rule: int, where: str, policy: _Prefixed) -> None:
    if not isinstance(operation, Mapping):
        policy.add(where, f"`to.operation` must not be nil, found at rule {rule}")
        return
    if not any(_list(operation.get(field)) for field in _OPERATION_LISTS):
        policy.add(where, f"`to.operation` must not be empty, found at rule {rule}")
    for field in ("ports", "notPorts"):
        for value in _strs(operation.get(field)):
            if not value.isdigit() or int(value) > 65535:
                policy.add(f"{where}.{field}", f"bad port ({value}): {_parse_uint_error(value)}")
    for field in _OPERATION_LISTS:
        if "" in _strs(operation.get(field)):
            policy.add(f"{where}.{field}", f"empty value not allowed, found in {_go_name(field)}")


def _policy_ip(value: str) -> str | None:
    # security.go ValidateIPs: Go's netip error text is not reproduced, the prefix is.
    if "/" in value:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError as exc:
            return f"bad CIDR range ({value}): {exc}"
        return None
    return None if _is_ip(value) else f"bad IP address ({value})"


def _parse_uint_error(value: str) -> str:
    """strconv.ParseUint's error as Go's %v prints it (nil when only the range is wrong)."""
    if value.isdigit():
        return "<nil>"
    return f'strconv.ParseUint: parsing {_q(value)}: invalid syntax'
