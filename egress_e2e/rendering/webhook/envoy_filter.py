"""istiod's webhook rules for EnvoyFilter."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from egress_e2e.rendering.webhook._common import _Doc, _Found, _list, _map, _str

# ---- EnvoyFilter: envoyfilter/envoyfilter.go validateEnvoyFilter; pkg/config/xds/xds.go
# BuildXDSObjectFromStruct ----

_LISTENER_CLASS: Final = ("LISTENER", "FILTER_CHAIN", "NETWORK_FILTER", "HTTP_FILTER")
_ROUTE_CLASS: Final = ("ROUTE_CONFIGURATION", "VIRTUAL_HOST", "HTTP_ROUTE")
_MATCH_OBJECTS: Final = ("listener", "routeConfiguration", "cluster")
# pkg/wellknown: HTTPConnectionManager.
_HCM: Final = ("envoy.filters.network.http_connection_manager", "envoy.http_connection_manager")
# Envoy's v2 xDS API (envoy.api.v2.*, envoy.config.*.v2.*) is gone from go-control-plane, so
# istiod cannot resolve such an Any; envoyfilter.go adds the hint for a ".v2." type.
_V2_TYPE: Final = re.compile(r"^(?:[^/]*/)?envoy\.(?:[a-z0-9_]+\.)*v2\.")


def _envoy_filter(doc: _Doc, found: _Found) -> None:
    for index, patch in enumerate(_list(doc.spec.get("configPatches"))):
        where = f"spec.configPatches.{index}"
        if not isinstance(patch, Mapping):
            found.add(where, "Envoy filter: null config patch")
            continue
        match = patch.get("match")
        if isinstance(match, Mapping) and match.get("context") == "WAYPOINT":
            continue  # istiod does not validate waypoint patches yet
        apply_to = _str(patch.get("applyTo"))
        body = patch.get("patch")
        if apply_to in ("", "INVALID"):
            found.add(f"{where}.applyTo", "Envoy filter: missing applyTo")
            continue
        if not isinstance(body, Mapping):
            found.add(f"{where}.patch", "Envoy filter: missing patch")
            continue
        operation = _str(body.get("operation"))
        if operation in ("", "INVALID"):
            found.add(f"{where}.patch.operation", "Envoy filter: missing patch operation")
            continue
        if operation != "REMOVE" and body.get("value") is None:
            found.add(f"{where}.patch.value",
                      "Envoy filter: missing patch value for non-remove operation")
            continue
        if isinstance(match, Mapping) and not _patch_match(apply_to, match, where, found):
            continue
        value = body.get("value")
        if isinstance(value, Mapping):
            for type_url in _any_types(value):
                if _V2_TYPE.match(type_url):
                    found.add(f"{where}.patch.value",
                              "referenced type unknown (hint: try using the v3 XDS API): Envoy "
                              f"filter: could not resolve Any message type: {type_url}")
                    break  # decoding stops at the first type it cannot resolve


def _patch_match(apply_to: str, match: Mapping[str, Any], where: str, found: _Found) -> bool:
    """The applyTo/match consistency checks; False where istiod stops checking the patch."""
    if not any(match.get(name) is not None for name in _MATCH_OBJECTS):
        return True
    if apply_to in _LISTENER_CLASS:
        listener = match.get("listener")
        if not isinstance(listener, Mapping):
            found.add(f"{where}.match", "Envoy filter: applyTo for listener class objects cannot "
                                        "have non listener match")
            return False
        net_filter = _map(listener.get("filterChain")).get("filter")
        if isinstance(net_filter, Mapping):
            error = _filter_match(apply_to, net_filter)
            if error is not None:
                found.add(f"{where}.match.listener.filterChain.filter", error)
                return False
    elif apply_to in _ROUTE_CLASS and match.get("routeConfiguration") is None:
        found.add(f"{where}.match", "Envoy filter: applyTo for http route class objects cannot "
                                    "have non route configuration match")
    elif apply_to == "CLUSTER" and match.get("cluster") is None:
        found.add(f"{where}.match", "Envoy filter: applyTo for cluster class objects cannot "
                                    "have non cluster match")
    return True


def _filter_match(apply_to: str, net_filter: Mapping[str, Any]) -> str | None:
    name = _str(net_filter.get("name"))
    if not name:
        return "Envoy filter: filter match has no name to match on"
    sub_filter = net_filter.get("subFilter")
    if not isinstance(sub_filter, Mapping):
        return None
    if apply_to != "HTTP_FILTER":
        return "Envoy filter: subfilter match can be used with applyTo HTTP_FILTER only"
    if name not in _HCM:
        return f"Envoy filter: subfilter match requires filter match with {_HCM[0]}"
    if not _str(sub_filter.get("name")):
        return "Envoy filter: subfilter match has no name to match on"
    return None


def _any_types(value: object) -> Iterable[str]:
    """Every ``@type`` in a patch value, depth first in key order (as the JSON is decoded)."""
    if isinstance(value, Mapping):
        type_url = value.get("@type")
        if isinstance(type_url, str):
            yield type_url
        for key in sorted(value):
            if key != "@type":
                yield from _any_types(value[key])
    elif isinstance(value, list):
        for item in value:
            yield from _any_types(item)
