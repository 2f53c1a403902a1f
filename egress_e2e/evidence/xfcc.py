"""X-Forwarded-Client-Cert, as Envoy sets it, and the SPIFFE identities inside it.

A gateway that terminated ISTIO_MUTUAL adds one element: ``By=`` its own SPIFFE id, ``Hash=`` the
sha256 of the client's DER certificate, ``Cert=`` the URL-encoded PEM, ``Subject=`` (quoted, often
``""`` for workload certs) and ``URI=``/``DNS=`` the client's SANs. Each proxy hop appends one
element after a comma; commas inside quoted values (a subject such as ``O=Acme\\, Inc.``) belong to
the value.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

_KEYS = ("by", "hash", "cert", "chain", "subject", "uri", "dns")


@dataclass(frozen=True)
class XfccElement:
    """One proxy hop's entry."""

    by: tuple[str, ...] = ()
    hash: str | None = None
    cert: str | None = None
    chain: str | None = None
    subject: str | None = None
    uri: tuple[str, ...] = ()
    dns: tuple[str, ...] = ()


def parse(value: str) -> list[XfccElement]:
    """Split an XFCC header into its hops; ValueError for a malformed value."""
    elements = []
    for element_text in _split(value, ","):
        if not element_text.strip():
            continue
        elements.append(_element(element_text))
    if not elements:
        raise ValueError("empty X-Forwarded-Client-Cert value")
    return elements


def _element(text: str) -> XfccElement:
    many: dict[str, list[str]] = {"by": [], "uri": [], "dns": []}
    one: dict[str, str] = {}
    for pair in _split(text, ";"):
        if not pair.strip():
            continue
        key, sep, raw = pair.partition("=")
        key = key.strip().lower()
        if not sep or key not in _KEYS:
            raise ValueError(f"XFCC pair is not one of {_KEYS}: {pair.strip()[:80]!r}")
        value = _unquote_value(raw.strip())
        if key in many:
            many[key].append(value)
        elif key in one:
            raise ValueError(f"XFCC key {key!r} repeats within one element")
        else:
            one[key] = value
    return XfccElement(
        by=tuple(many["by"]),
        hash=one.get("hash"),
        cert=unquote(one["cert"]) if "cert" in one else None,
        chain=unquote(one["chain"]) if "chain" in one else None,
        subject=one.get("subject"),
        uri=tuple(many["uri"]),
        dns=tuple(many["dns"]),
    )


def _split(text: str, separator: str) -> list[str]:
    """Split on ``separator`` outside double quotes; ``\\"`` inside quotes does not close them."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    index = 0
    while index < len(text):
        char = text[index]
        if quoted and char == "\\" and index + 1 < len(text):
            current.append(text[index:index + 2])
            index += 2
            continue
        if char == '"':
            quoted = not quoted
        elif char == separator and not quoted:
            parts.append("".join(current))
            current = []
            index += 1
            continue
        current.append(char)
        index += 1
    if quoted:
        raise ValueError(f"unbalanced quote in XFCC value: {text[:80]!r}")
    parts.append("".join(current))
    return parts


def _unquote_value(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == '"' and raw[-1] == '"':
        # Only \" is an escape; any other backslash (RFC 2253 "\,") is part of the value.
        return raw[1:-1].replace('\\"', '"')
    return raw
