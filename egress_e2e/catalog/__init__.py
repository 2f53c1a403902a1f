"""The scenario catalog: every egress pattern the harness proves, by id.

Each module ``egress_e2e/catalog/<topic>.py`` exports ``SCENARIOS`` (a tuple of ``Scenario``);
the registry collects them all, so a new topic is a new file and nothing else. They are listed
in ``READING_ORDER`` (from no gateway at all to tunnels and failure modes, the order the seeds
build up), then any others by module name. Ids must be unique DNS labels: they name namespaces
and are what ``-k`` selects.

May import: ``core``, ``infra``, ``scenario``.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil
from collections.abc import Iterable

from egress_e2e.core.errors import ConfigError
from egress_e2e.core.labels import is_dns_label
from egress_e2e.scenario.model import Scenario

# Leave room for the isolated layout's "-other-" and suffix within a 63-character label.
MAX_ID_LENGTH = 40

READING_ORDER = (
    "registry-only-blocks", "serviceentry-direct", "gateway-http",
    "gateway-peer-metadata-in-mesh", "gateway-tls-origination",
    "mtls-gateway-tls-origination", "mtls-gateway-http", "passthrough", "passthrough-double-tls",
    "http-and-passthrough-combined", "externalname", "ingress-gateway",
    "dedicated-gateway-authz", "sidecar-registry-only", "mtls-origination",
    "app-mtls-passthrough", "mtls-gateway-tls-tcp", "wildcard-passthrough", "wildcard-sni-proxy",
    "dynamic-dns-wildcard",
    "connect-tunnel", "connect-tunnel-dr", "networkpolicy-bypass-blocked",
    "origination-untrusted-cert",
    # Ambient: the egress waypoint, then its policies, then the DYNAMIC_DNS wildcard.
    "ambient-waypoint-http", "ambient-waypoint-tls-origination", "ambient-waypoint-authz",
    "ambient-waypoint-bypass-blocked", "ambient-serviceentry-no-waypoint", "ambient-dynamic-dns",
)


def _topic_modules() -> list[str]:
    # Modules starting with "_" hold shared constants, not scenarios.
    return sorted(info.name for info in pkgutil.iter_modules(__path__)
                  if not info.ispkg and not info.name.startswith("_"))


def collect(scenarios: Iterable[Scenario]) -> tuple[Scenario, ...]:
    """Check ids (unique, DNS-safe, not too long) and return the scenarios in order."""
    seen: dict[str, Scenario] = {}
    for scenario in scenarios:
        if not is_dns_label(scenario.id) or len(scenario.id) > MAX_ID_LENGTH:
            raise ConfigError(f"scenario id {scenario.id!r}: expected a lowercase DNS label of "
                              f"at most {MAX_ID_LENGTH} characters")
        if scenario.id in seen:
            raise ConfigError(f"scenario id {scenario.id!r} is declared twice")
        seen[scenario.id] = scenario
    return tuple(seen.values())


def _load() -> tuple[Scenario, ...]:
    found: list[Scenario] = []
    for name in _topic_modules():
        module = importlib.import_module(f"{__name__}.{name}")
        declared = getattr(module, "SCENARIOS", None)
        if not isinstance(declared, tuple) or not all(isinstance(s, Scenario) for s in declared):
            raise ConfigError(f"catalog module {module.__name__}: SCENARIOS must be a tuple of "
                              "Scenario")
        found.extend(declared)
    rank = {scenario_id: index for index, scenario_id in enumerate(READING_ORDER)}
    return collect(sorted(found, key=lambda s: rank.get(s.id, len(rank))))


ALL: tuple[Scenario, ...] = _load()
_BY_ID: dict[str, Scenario] = {scenario.id: scenario for scenario in ALL}


def ids() -> tuple[str, ...]:
    return tuple(_BY_ID)


def by_id(scenario_id: str) -> Scenario:
    """The scenario with this id; ConfigError naming close matches otherwise."""
    try:
        return _BY_ID[scenario_id]
    except KeyError:
        close = [known for known in _BY_ID if scenario_id and scenario_id in known]
        close += [known for known in difflib.get_close_matches(scenario_id, list(_BY_ID), n=3,
                                                                cutoff=0.5)
                  if known not in close]
        hint = f"; did you mean {', '.join(close)}?" if close else \
            f"; known ids: {', '.join(_BY_ID)}"
        raise ConfigError(f"unknown scenario id {scenario_id!r}{hint}") from None
