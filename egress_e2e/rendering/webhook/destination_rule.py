"""istiod's webhook rules for DestinationRule."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from egress_e2e.rendering.webhook._common import (
    _Doc,
    _Found,
    _fqdn,
    _int,
    _is_ip,
    _is_label,
    _list,
    _map,
    _str,
    _validate_port,
    _wildcard_domain,
)

# ---- DestinationRule: validation.go ValidateDestinationRule, validateTrafficPolicy,
# validateConnectionPool, validatePortTrafficPolicies, validateSubset; agent/validation.go
# ValidateTLS ----

def _destination_rule(doc: _Doc, found: _Found) -> None:
    host = doc.spec.get("host")
    if isinstance(host, str):
        found.add("spec.host", _wildcard_domain(host))
    _traffic_policy(doc.spec.get("trafficPolicy"), "spec.trafficPolicy", found)
    names: set[str] = set()
    for index, subset in enumerate(_list(doc.spec.get("subsets"))):
        where = f"spec.subsets.{index}"
        if not isinstance(subset, Mapping):
            found.add(where, "subset may not be null")
            continue
        name = _str(subset.get("name"))
        if name in names:
            found.add(f"{where}.name", f"duplicate subset names: {name}")
        names.add(name)
        # The CRD requires `name`; an empty one still gets through to istiod.
        if "name" in subset:
            found.add(f"{where}.name", _subset_name(name))
        _traffic_policy(subset.get("trafficPolicy"), f"{where}.trafficPolicy", found)


def _subset_name(name: str) -> str | None:
    # validation.go validateSubsetName
    if not name:
        return "subset name cannot be empty"
    return None if _is_label(name) else f"subset name is invalid: {name}"


_POLICY_FIELDS: Final = ("outlierDetection", "connectionPool", "loadBalancer", "tls",
                         "portLevelSettings", "tunnel", "proxyProtocol", "retryBudget")
_PORT_POLICY_FIELDS: Final = ("outlierDetection", "connectionPool", "loadBalancer", "tls")


def _set(policy: Mapping[str, Any], field: str) -> bool:
    return policy.get(field) is not None


def _traffic_policy(policy: object, where: str, found: _Found) -> None:
    if not isinstance(policy, Mapping):
        return
    if not any(_set(policy, field) for field in _POLICY_FIELDS):
        found.add(where, "traffic policy must have at least one field")
        return
    if _set(policy, "tunnel") and _set(policy, "proxyProtocol"):
        found.add(where, "tunnel and proxyProtocol must not be set together")
        return
    _connection_pool(policy.get("connectionPool"), f"{where}.connectionPool", found)
    _load_balancer(policy.get("loadBalancer"), f"{where}.loadBalancer", found)
    _client_tls(policy.get("tls"), f"{where}.tls", found)
    for index, port_policy in enumerate(_list(policy.get("portLevelSettings"))):
        here = f"{where}.portLevelSettings.{index}"
        if not isinstance(port_policy, Mapping):
            found.add(here, "traffic policy may not be null")
            continue
        if not _set(port_policy, "port"):
            found.add(f"{here}.port", "portTrafficPolicy must have valid port")
        if not any(_set(port_policy, field) for field in _PORT_POLICY_FIELDS):
            found.add(here, "port traffic policy must have at least one field")
            continue
        _connection_pool(port_policy.get("connectionPool"), f"{here}.connectionPool", found)
        _load_balancer(port_policy.get("loadBalancer"), f"{here}.loadBalancer", found)
        _client_tls(port_policy.get("tls"), f"{here}.tls", found)
    tunnel = policy.get("tunnel")
    if isinstance(tunnel, Mapping):
        _tunnel(tunnel, f"{where}.tunnel", found)


def _tunnel(tunnel: Mapping[str, Any], where: str, found: _Found) -> None:
    # validation.go validateTunnelSettings (targetHost and targetPort are the CRD's `required`)
    protocol = _str(tunnel.get("protocol"))
    if protocol not in ("", "CONNECT", "POST"):
        found.add(f"{where}.protocol", 'tunnel protocol must be "CONNECT" or "POST"')
    if "targetHost" in tunnel:
        target = _str(tunnel.get("targetHost"))
        fqdn_error = _fqdn(target)
        if fqdn_error is not None and not _is_ip(target):
            found.add(f"{where}.targetHost", "tunnel target host must be valid FQDN or IP "
                                             f"address: {fqdn_error}; {target} is not a valid IP")
    if "targetPort" in tunnel:
        port_error = _validate_port(_int(tunnel.get("targetPort")))
        if port_error is not None:
            found.add(f"{where}.targetPort", f"tunnel target port is invalid: {port_error}")


def _connection_pool(pool: object, where: str, found: _Found) -> None:
    if not isinstance(pool, Mapping):
        return
    http, tcp = pool.get("http"), pool.get("tcp")
    if http is None and tcp is None:
        found.add(where, "connection pool must have at least one field")
        return
    settings = _map(http)
    if settings.get("h2UpgradePolicy") == "UPGRADE" and settings.get("useClientProtocol") is True:
        found.add(f"{where}.http", "use client protocol must not be true when H2UpgradePolicy is "
                                   "UPGRADE")


def _load_balancer(balancer: object, where: str, found: _Found) -> None:
    settings = _map(balancer)
    if _set(settings, "localityLbSetting") and _set(settings, "zoneAwareLbSetting"):
        found.add(where, "only one of localityLbSetting and zoneAwareLbSetting can be set")


def _client_tls(tls: object, where: str, found: _Found) -> None:
    # agent/validation.go ValidateTLS
    if not isinstance(tls, Mapping):
        return
    mode = _str(tls.get("mode"))
    credential = _str(tls.get("credentialName"))
    ca = _str(tls.get("caCertificates"))
    sans = tls.get("subjectAltNames")
    if tls.get("insecureSkipVerify") is True:
        if mode == "SIMPLE" and (ca or credential or sans):
            found.add(where, "cannot specify CaCertificates or CredentialName or SubjectAltNames "
                             "when InsecureSkipVerify is set true")
        if mode == "MUTUAL" and (ca or sans):
            found.add(where, "cannot specify CaCertificates or SubjectAltNames when "
                             "InsecureSkipVerify is set true")
    if mode in ("SIMPLE", "MUTUAL") and credential:
        if any(_str(tls.get(name)) for name in ("clientCertificate", "caCertificates",
                                                "privateKey", "caCrl")):
            found.add(where, "cannot specify client certificates or CA certificate or CA CRL If "
                             "credentialName is set")
        return  # the credential holds the certificates
    if mode == "MUTUAL":
        if not _str(tls.get("clientCertificate")):
            found.add(f"{where}.clientCertificate", "client certificate required for mutual tls")
        if not _str(tls.get("privateKey")):
            found.add(f"{where}.privateKey", "private key required for mutual tls")
