"""Version gates: which scenarios apply to which Istio release, said explicitly, never guessed."""

from __future__ import annotations

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from egress_e2e.core.errors import ConfigError
from egress_e2e.infra.versions import parse_version
from egress_e2e.scenario.model import DATA_PLANES, Scenario


def data_plane_skip_reason(scenario: Scenario, data_plane: str) -> str | None:
    """Why ``scenario`` does not apply to a run on ``data_plane``, or None when it does."""
    if data_plane not in DATA_PLANES:
        raise ConfigError(f"data plane must be one of {', '.join(DATA_PLANES)}, "
                          f"got {data_plane!r}")
    unknown = [plane for plane in scenario.data_planes if plane not in DATA_PLANES]
    if unknown or not scenario.data_planes:
        raise ConfigError(f"scenario {scenario.id}: data_planes must name some of "
                          f"{', '.join(DATA_PLANES)}, got {scenario.data_planes!r}")
    if data_plane in scenario.data_planes:
        return None
    return (f"{scenario.id} runs on the {'/'.join(scenario.data_planes)} data plane; this run "
            f"uses {data_plane}")


def skip_reason(scenario: Scenario, istio_version: str, data_plane: str = "sidecar"
                ) -> str | None:
    """Why ``scenario`` does not apply to ``istio_version`` on ``data_plane``, or None when it
    does. The data plane defaults to sidecar, so a caller that does not know of ambient never
    runs an ambient-only scenario on a sidecar mesh."""
    reason = data_plane_skip_reason(scenario, data_plane)
    if reason is not None:
        return reason
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
