"""Version gates: which scenarios apply to which Istio release, said explicitly, never guessed."""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from egress_e2e.core.errors import ConfigError
from egress_e2e.infra.versions import parse_version
from egress_e2e.scenario.model import Scenario


def skip_reason(scenario: Scenario, istio_version: str) -> str | None:
    """Why ``scenario`` does not apply to ``istio_version``, or None when it does."""
    if scenario.requires_istio is None:
        return None
    try:
        spec = SpecifierSet(scenario.requires_istio)
    except InvalidSpecifier as exc:
        raise ConfigError(
            f"scenario {scenario.id}: bad requires_istio {scenario.requires_istio!r}"
        ) from exc
    if spec.contains(parse_version(istio_version), prereleases=True):
        return None
    return f"{scenario.id} needs Istio {scenario.requires_istio}; this run uses {istio_version}"
