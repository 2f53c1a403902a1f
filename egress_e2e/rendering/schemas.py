"""The CRD schema bundles lint validates Istio and Gateway API objects against, and which ones
go with which Istio minor.

The bundles (``schemas/*.json``) are written by ``tools/build_schema_bundle.py`` from the CRD
files of the pinned upstream releases; ``versions.toml``'s ``[schemas]`` table pins the sha256 of
each source file and of each bundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final

from egress_e2e.core.errors import ConfigError

# Istio minor -> (its CRDs' bundle, the Gateway API bundle at the version its go.mod pins:
# istio/istio release-1.31 go.mod sigs.k8s.io/gateway-api v1.6.0, release-1.30 v1.5.1).
# Experimental channel: Istio's docs install it for TLSRoute, TCPRoute and friends.
BUNDLES_FOR_MINOR: Final[dict[str, tuple[str, str]]] = {
    "1.31": ("istio-1.31", "gateway-api-v1.6.0-experimental"),
    "1.30": ("istio-1.30", "gateway-api-v1.5.1-experimental"),
}


@dataclass(frozen=True)
class KindSchema:
    api_version: str
    kind: str
    namespaced: bool
    status_subresource: bool     # the API server then resets status on create
    schema: dict[str, Any]
    bundle: str


@dataclass(frozen=True)
class Bundle:
    name: str
    sources: tuple[dict[str, str], ...]
    kinds: dict[tuple[str, str], KindSchema]      # (apiVersion, kind) -> schema

    def versions_of(self, kind: str) -> list[str]:
        return sorted(version for version, known in self.kinds if known == kind)


def bundle_text(name: str) -> bytes:
    """The bundle file's bytes, as shipped in the package."""
    path = resources.files("egress_e2e.rendering") / "schemas" / f"{name}.json"
    if not path.is_file():
        raise ConfigError(f"lint: no schema bundle {name!r} in the package")
    return path.read_bytes()


@cache
def load_bundle(name: str) -> Bundle:
    data = json.loads(bundle_text(name))
    schemas: list[dict[str, Any]] = data["schemas"]
    kinds: dict[tuple[str, str], KindSchema] = {}
    for key, entry in data["kinds"].items():
        group, version, kind = key.split("/")
        api_version = f"{group}/{version}"
        kinds[(api_version, kind)] = KindSchema(api_version, kind,
                                                entry["scope"] == "Namespaced",
                                                bool(entry["status"]),
                                                schemas[entry["schema"]], name)
    return Bundle(name, tuple(data["sources"]), kinds)


def minor_of(istio_version: str) -> str:
    """``1.31.1`` or ``1.31`` -> ``1.31``; ConfigError for a minor without bundles."""
    parts = istio_version.removeprefix("v").split(".")
    minor = ".".join(parts[:2])
    if minor not in BUNDLES_FOR_MINOR:
        known = ", ".join(sorted(BUNDLES_FOR_MINOR))
        raise ConfigError(f"lint: no CRD schemas for Istio {istio_version} (known: {known})")
    return minor


@cache
def kinds_for(minor: str) -> dict[tuple[str, str], KindSchema]:
    """Every (apiVersion, kind) lint knows a CRD schema for, for one Istio minor."""
    found: dict[tuple[str, str], KindSchema] = {}
    for name in BUNDLES_FOR_MINOR[minor]:
        found.update(load_bundle(name).kinds)
    return found
