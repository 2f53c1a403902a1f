"""What istiod's webhook rules share: lenient readers, protocols, host and port checks, and
the document and problem list each rule works on."""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

Problem = tuple[str, str]

# pkg/config/labels/instance.go: dns1123LabelFmt, wildcardPrefix, DNS1123LabelMaxLength.
_DNS1123_LABEL: Final = re.compile(r"[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?")
_WILDCARD_LABEL: Final = re.compile(r"(\*|(\*|\*-)?[a-zA-Z0-9](?:[-a-zA-Z0-9]*[a-zA-Z0-9])?)")
_LABEL_MAX: Final = 63
# pkg/config/validation/validation.go: UnixAddressPrefix; pkg/config/constants: IstioMeshGateway.
_UNIX_PREFIX: Final = "unix://"
_MESH_GATEWAY: Final = "mesh"


# ---- small readers: the schema side reports wrong types, these just look past them ----

def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _str(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _strs(value: object) -> list[str]:
    return [item for item in _list(value) if isinstance(item, str)]


def _q(text: str) -> str:
    """Go's %q for the ASCII names manifests hold."""
    return json.dumps(text, ensure_ascii=False)


def _is_label(value: str) -> bool:
    return len(value) <= _LABEL_MAX and _DNS1123_LABEL.fullmatch(value) is not None


def _is_wildcard_label(value: str) -> bool:
    return len(value) <= _LABEL_MAX and _WILDCARD_LABEL.fullmatch(value) is not None


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


# ---- pkg/config/protocol/instance.go: Parse, IsHTTP, IsTLS ----

_PROTOCOLS: Final = {"tcp": "TCP", "udp": "UDP", "grpc": "GRPC", "grpc-web": "GRPC-Web",
                     "http": "HTTP", "http_proxy": "HTTP_PROXY", "http2": "HTTP2",
                     "https": "HTTPS", "tls": "TLS", "mongo": "Mongo", "redis": "Redis",
                     "mysql": "MySQL"}
_UNSUPPORTED: Final = "UnsupportedProtocol"


def _protocol(name: str) -> str:
    return _PROTOCOLS.get(name.lower(), _UNSUPPORTED)


def _is_http(protocol: str) -> bool:
    return protocol in ("HTTP", "HTTP2", "HTTP_PROXY", "GRPC", "GRPC-Web")


def _is_tls(protocol: str) -> bool:
    return protocol in ("HTTPS", "TLS")


# ---- pkg/config/validation/agent/validation.go: host and port checks ----

def _validate_port(number: int) -> str | None:
    # agent/validation.go ValidatePort
    if 1 <= number <= 65535:
        return None
    return f"port number {number} must be in the range 1..65535"


def _dns1123_preconditions(name: str) -> str | None:
    # agent/validation.go CheckDNS1123Preconditions
    if len(name) > 255:
        return f"domain name {_q(name)} too long (max 255)"
    if not name:
        return "empty domain name not allowed"
    return None


def _dns1123_labels(domain: str) -> str | None:
    # agent/validation.go ValidateDNS1123Labels
    parts = domain.split(".")
    if parts[-1].isdigit():
        return (f"domain name {_q(domain)} invalid (top level domain {_q(parts[-1])} cannot be "
                "all-numeric)")
    for index, label in enumerate(parts):
        if index == len(parts) - 1 and label == "":
            return None  # a trailing dot, as in `istio.io.`
        if not _is_label(label):
            return f"domain name {_q(domain)} invalid (label {_q(label)} invalid)"
    return None


def _fqdn(name: str) -> str | None:
    # agent/validation.go ValidateFQDN
    return _dns1123_preconditions(name) or _dns1123_labels(name)


def _wildcard_domain(domain: str) -> str | None:
    # agent/validation.go ValidateWildcardDomain: a wildcard only in the first label.
    if (error := _dns1123_preconditions(domain)) is not None:
        return error
    first, dot, rest = domain.partition(".")
    if not _is_wildcard_label(first):
        return f"domain name {_q(domain)} invalid (label {_q(first)} invalid)"
    return _dns1123_labels(rest) if dot else None


def _partial_wildcard(host: str) -> str | None:
    # agent/validation.go ValidatePartialWildCard
    if "*" in host and len(host) != 1 and not host.startswith("*."):
        return f"partial wildcard {_q(host)} not allowed"
    return None


def _hostname_part(hostname: str, is_gateway: bool) -> list[str]:
    # agent/validation.go validateSidecarOrGatewayHostnamePart
    errors = []
    if hostname != "*" and "." not in hostname:
        errors.append("short names (non FQDN) are not allowed")
    if (error := _wildcard_domain(hostname)) is not None:
        if not is_gateway:
            errors.append(error)
        if not _is_ip(hostname):  # a Gateway may name an IP instead
            errors.append(error)
    if (error := _partial_wildcard(hostname)) is not None:
        errors.append(error)
    return errors


def _namespace_slash_host(hostname: str, is_gateway: bool) -> list[str]:
    # agent/validation.go ValidateNamespaceSlashWildcardHostname (gatewaySemantics false: the
    # Gateway API conversion is istiod's own, never a user's manifest)
    namespace, slash, dns_name = hostname.partition("/")
    if not slash:
        if is_gateway:
            return _hostname_part(hostname, True)  # old-style host, no namespace
        return ["host must be of form namespace/dnsName"]
    errors = []
    if not namespace or not dns_name:
        errors.append("config namespace and dnsName in host entry cannot be empty")
    if not is_gateway:
        bare = namespace.removeprefix("~")
        if bare not in ("", "*", ".") and not _is_label(bare):
            errors.append(f"invalid namespace value {_q(namespace)} in sidecar")
    elif namespace not in ("*", ".") and not _is_label(namespace):
        errors.append(f"invalid namespace value {_q(namespace)} in gateway")
    return errors + _hostname_part(dns_name, is_gateway)


def _unix_address(address: str) -> str | None:
    # validation.go ValidateUnixAddress
    if not address:
        return "unix address must not be empty"
    if address.startswith("@"):
        return None
    if not address.startswith("/") or address.endswith("/"):
        return f"{address} is not an absolute path to a file"
    return None


def _ip_subnet(subnet: str) -> str | None:
    # agent/validation.go ValidateIPSubnet
    if subnet.count("/") == 1:
        try:
            ipaddress.ip_network(subnet, strict=False)
        except ValueError:
            return f"{subnet} is not a valid CIDR block"
        return None
    return None if _is_ip(subnet) else f"{subnet} is not a valid IP"


# pkg/config/host/name.go: Name.Matches and Name.SubsetOf.
def _host_matches(a: str, b: str) -> bool:
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild and b_wild:
        return b[1:].endswith(a[1:]) if len(a) < len(b) else a[1:].endswith(b[1:])
    if a_wild:
        return b.endswith(a[1:])
    if b_wild:
        return a.endswith(b[1:])
    return a == b


def _host_subset_of(a: str, b: str) -> bool:
    a_wild, b_wild = a.startswith("*"), b.startswith("*")
    if a_wild:
        return b_wild and len(a) >= len(b) and a[1:].endswith(b[1:])
    if b_wild:
        return a.endswith(b[1:])
    return a == b


def _proto_text(fields: Iterable[tuple[str, object]]) -> str:
    """A message as Go's ``%v`` prints it (prototext, compact; unset fields left out)."""
    parts = []
    for name, value in fields:
        if value in (None, "", 0):
            continue
        parts.append(f"{name}:{_q(value) if isinstance(value, str) else value}")
    return " ".join(parts)


@dataclass(frozen=True)
class _Doc:
    name: str
    namespace: str
    labels: Mapping[str, Any]
    spec: Mapping[str, Any]


_INDEX = re.compile(r"\.(\d+)(?=\.|$)")


def _field_path(dotted: str) -> str:
    """``spec.servers.0.hosts`` -> ``spec.servers[0].hosts``: the API server's spelling, which
    the schema side of lint prints too (structural.format_path)."""
    return _INDEX.sub(r"[\1]", dotted)


class _Found:
    """The problems of one document, in the order istiod finds them."""

    def __init__(self) -> None:
        self.items: list[Problem] = []

    def add(self, path: str, message: str | None) -> None:
        if message is not None:
            self.items.append((_field_path(path), message))

    def extend(self, path: str, messages: Iterable[str]) -> None:
        for message in messages:
            self.items.append((_field_path(path), message))
