"""The Kubernetes CEL extension functions that the bundled CRDs' rules call, for the
``common-expression-language`` runtime (cel-rust).

The runtime brings CEL's standard functions and macros (``has``, ``all``, ``exists_one``,
``size``, ``matches``, ``duration``, ``int`` ...); the API server adds libraries of its own
(kubernetes/kubernetes staging/src/k8s.io/apiserver/pkg/cel/library: urls.go, ip.go, cidr.go,
format.go) and cel-go's strings extension (cel-go ext/strings.go). The runtime calls a method
``x.f(a)`` as ``f(x, a)``, so each is one Python function. Values the API server would give a
type of its own (a URL, an IP, a format) travel as a one-key map naming it.

``KNOWN_FUNCTIONS`` lists everything a rule may call; ``unknown_functions`` tells a rule that
calls anything else, so such a rule is reported instead of passing silently.
"""

from __future__ import annotations

import ipaddress
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from cel.stdlib import EXTENSIONS

from egress_e2e.rendering.names import DNS1035_LABEL, DNS1123_LABEL, DNS1123_SUBDOMAIN, NameRule

_URL_KEY: Final = "kubernetes.URL"
_IP_KEY: Final = "net.IP"
_FORMAT_KEY: Final = "kubernetes.NamedFormat"
# Rules see `format` as a variable whose methods name a format: format.dns1123Label().
FORMAT_NAMESPACE: Final = {"kubernetes.format": "namespace"}


class CelFunctionError(ValueError):
    """A Kubernetes CEL function refused its argument (the rule then fails to evaluate)."""


@dataclass(frozen=True)
class GoURL:
    """The parts of a URL as Go's url.ParseRequestURI splits it."""
    scheme: str
    host: str       # host[:port], as written
    path: str
    query: str
    opaque: str


def _split_scheme(text: str) -> tuple[str, str]:
    # Go net/url getScheme: letters, then letters, digits, '+', '-', '.' up to ':'.
    for position, char in enumerate(text):
        if char.isascii() and char.isalpha():
            continue
        if char in string.digits or char in "+-.":
            if position == 0:
                return "", text
            continue
        if char == ":":
            if position == 0:
                raise CelFunctionError("missing protocol scheme")
            return text[:position], text[position + 1:]
        return "", text
    return "", text


_HOST_OK: Final = frozenset(string.ascii_letters + string.digits + "!$&'()*+,;=:[]<>\"-_.~%")
_USERINFO_OK: Final = frozenset(string.ascii_letters + string.digits + "-._:~!$&'()*+,;=%@")


def _valid_port(colon_port: str) -> bool:
    return colon_port == "" or (colon_port[0] == ":"
                                and all(char in string.digits for char in colon_port[1:]))


def _check_escapes(text: str) -> None:
    position = text.find("%")
    while position != -1:
        hexes = text[position + 1:position + 3]
        if len(hexes) < 2 or any(c not in string.hexdigits for c in hexes):
            raise CelFunctionError(f'invalid URL escape "{text[position:position + 3]}"')
        position = text.find("%", position + 3)


def _check_host(host: str) -> None:
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise CelFunctionError("missing ']' in host")
        port = host[end + 1:]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon != -1 else ""
    if not _valid_port(port):
        raise CelFunctionError(f'invalid port "{port}" after host')
    if any(char.isascii() and char not in _HOST_OK for char in host):
        raise CelFunctionError(f'invalid character in host name "{host}"')
    _check_escapes(host)


def parse_request_uri(text: str) -> GoURL:
    """Parse as Go's url.ParseRequestURI, which the API server's url() and isURL() use:
    an absolute URI or an absolute path; a fragment is not split off."""
    if text == "":
        raise CelFunctionError("empty url")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise CelFunctionError("invalid control character in URL")
    scheme, rest = _split_scheme(text)
    scheme = scheme.lower()
    query = ""
    if rest.endswith("?") and rest.count("?") == 1:
        rest = rest[:-1]
    else:
        rest, _, query = rest.partition("?")
    if not rest.startswith("/"):
        if scheme:
            return GoURL(scheme, "", "", query, rest)
        raise CelFunctionError("invalid URI for request")
    host = ""
    if scheme and rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        rest = slash + path
        userinfo, at, host = authority.rpartition("@")
        if not at:
            host = authority
        elif any(char.isascii() and char not in _USERINFO_OK for char in userinfo):
            raise CelFunctionError("net/url: invalid userinfo")
        _check_host(host)
    _check_escapes(rest)
    return GoURL(scheme, host, rest, query, "")


def _url_text(value: object) -> str:
    if isinstance(value, Mapping) and isinstance(value.get(_URL_KEY), str):
        return str(value[_URL_KEY])
    raise CelFunctionError(f"no such overload: expected a URL, got {type(value).__name__}")


def is_url(text: str) -> bool:
    try:
        parse_request_uri(text)
    except CelFunctionError:
        return False
    return True


def url(text: str) -> dict[str, str]:
    try:
        parse_request_uri(text)
    except CelFunctionError as exc:
        raise CelFunctionError(f"URL parse error during conversion from string: {exc}") from exc
    return {_URL_KEY: text}


def get_scheme(value: object) -> str:
    return parse_request_uri(_url_text(value)).scheme


def _host_port(value: object) -> tuple[str, str]:
    host = parse_request_uri(_url_text(value)).host
    if host.startswith("["):
        end = host.rfind("]")
        return host[1:end], host[end + 2:]
    name, colon, port = host.rpartition(":")
    return (name, port) if colon else (host, "")


def get_host(value: object) -> str:
    return _host_port(value)[0]


def get_port(value: object) -> str:
    return _host_port(value)[1]


def get_escaped_path(value: object) -> str:
    return parse_request_uri(_url_text(value)).path


def _parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # apiserver pkg/cel/library/ip.go: netip.ParseAddr, then no zone and no IPv4-mapped IPv6.
    try:
        address = ipaddress.ip_address(text)
    except ValueError as exc:
        raise CelFunctionError(f"IP Address {text!r} parse error during conversion from string: "
                               f"{exc}") from exc
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id is not None:
            raise CelFunctionError("IP address with zone value is not allowed")
        if address.ipv4_mapped is not None:
            raise CelFunctionError("IPv4-mapped IPv6 address is not allowed")
    return address


def is_ip(text: str) -> bool:
    try:
        _parse_ip(text)
    except CelFunctionError:
        return False
    return True


def ip(text: str) -> dict[str, str]:
    return {_IP_KEY: str(_parse_ip(text))}


def family(value: object) -> int:
    if isinstance(value, Mapping) and isinstance(value.get(_IP_KEY), str):
        return ipaddress.ip_address(str(value[_IP_KEY])).version
    raise CelFunctionError("no such overload: family() needs an IP")


def is_cidr(text: str) -> bool:
    # apiserver pkg/cel/library/cidr.go: netip.ParsePrefix (host bits may be set; no zone).
    address, slash, bits = text.partition("/")
    if not slash or not bits.isdigit() or (len(bits) > 1 and bits[0] == "0"):
        return False
    try:
        parsed = _parse_ip(address)
    except CelFunctionError:
        return False
    return int(bits) <= parsed.max_prefixlen


_FORMATS: Final[dict[str, NameRule]] = {
    "dns1123Label": DNS1123_LABEL,
    "dns1123Subdomain": DNS1123_SUBDOMAIN,
    "dns1035Label": DNS1035_LABEL,
}


def _format_of(name: str) -> Callable[[object], dict[str, str]]:
    def named(namespace: object) -> dict[str, str]:
        if namespace != FORMAT_NAMESPACE:
            raise CelFunctionError(f"no such overload: {name}() is a method of format")
        return {_FORMAT_KEY: name}
    return named


def validate(named: object, value: str) -> list[str] | None:
    """``format.<name>().validate(s)``: null when valid, else the list of errors
    (apiserver pkg/cel/library/format.go)."""
    if not (isinstance(named, Mapping) and named.get(_FORMAT_KEY) in _FORMATS):
        raise CelFunctionError("no such overload: validate() needs a format")
    errors = _FORMATS[str(named[_FORMAT_KEY])].errors(value)
    return errors or None


KUBERNETES_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = {
    "isURL": is_url,
    "url": url,
    "getScheme": get_scheme,
    "getHost": get_host,
    "getPort": get_port,
    "getEscapedPath": get_escaped_path,
    "isIP": is_ip,
    "ip": ip,
    "family": family,
    "isCIDR": is_cidr,
    "validate": validate,
    **{name: _format_of(name) for name in _FORMATS},
}
# cel-go's strings extension, as the runtime's own stdlib module implements it.
STRINGS_FUNCTIONS: Final[dict[str, Callable[..., Any]]] = dict(EXTENSIONS["strings"])

# What the runtime itself evaluates (cel-spec's standard definitions and macros).
BUILTIN_FUNCTIONS: Final = frozenset({
    "has", "all", "exists", "exists_one", "map", "filter", "size", "contains", "startsWith",
    "endsWith", "matches", "int", "uint", "double", "string", "bytes", "bool", "duration",
    "timestamp", "type", "dyn", "getDays", "getHours", "getMinutes",
    "getSeconds", "getMilliseconds", "getFullYear", "getMonth", "getDayOfMonth",
    "getDayOfWeek", "getDayOfYear",
})
KNOWN_FUNCTIONS: Final = BUILTIN_FUNCTIONS | KUBERNETES_FUNCTIONS.keys() | \
    STRINGS_FUNCTIONS.keys()


def unknown_functions(referenced: list[str]) -> list[str]:
    """The functions of a compiled rule that neither the runtime nor this module provides
    (operators such as ``_==_`` and ``@in`` are the runtime's)."""
    return sorted(name for name in referenced
                  if not name.startswith(("_", "@", "!")) and name not in KNOWN_FUNCTIONS)
