"""Gateway API status as evidence: before a step's traffic, the Gateway is Programmed with routes
attached to its listeners and every route is Accepted with its references resolved, as istiod
wrote them on the objects. Polled and bounded; on timeout the last status read is the message.

Also where a Gateway API scenario's gateway is: Istio's automated deployment, not the harness's
(``gateway_api_layout``), so the observer, the identities and the diagnostics find it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Final

from egress_e2e.core.timeouts import Timeouts
from egress_e2e.core.waits import eventually
from egress_e2e.infra.ambient import GATEWAY_NAME_LABEL
from egress_e2e.infra.kube import KubeApi
from egress_e2e.infra.rollout import wait_pods_ready
from egress_e2e.rendering.layout import Layout
from egress_e2e.scenario.expectations import (
    GatewayProgrammed,
    RouteAccepted,
    StatusExpectation,
)
from egress_e2e.scenario.model import Scenario, Step

GATEWAY_API_GROUP: Final = "gateway.networking.k8s.io"
# TLSRoute is served as v1 from Gateway API v1.5 (both pinned bundles, v1.5.1 and v1.6.0, serve
# v1 as the storage version: config/crd/experimental/gateway.networking.k8s.io_tlsroutes.yaml).
API_VERSIONS: Final = {"Gateway": f"{GATEWAY_API_GROUP}/v1",
                       "HTTPRoute": f"{GATEWAY_API_GROUP}/v1",
                       "TLSRoute": f"{GATEWAY_API_GROUP}/v1"}
# The controllerName Istio writes in route status parents (features.ManagedGatewayController,
# used by pilot/pkg/config/kube/gateway/conditions.go createRouteStatus); other controllers'
# entries are not Istio's verdict.
ISTIO_CONTROLLER: Final = "istio.io/gateway-controller"
# The gatewayClassName the catalog's Gateways use; istiod names the automated Deployment,
# Service and ServiceAccount "<gateway>-<class>" (pilot/pkg/config/kube/gatewaycommon/
# gateway_utils.go GetDefaultName; deploymentcontroller.go DeploymentName/ServiceAccount).
GATEWAY_CLASS: Final = "istio"
# ServiceEntry parents are networking.istio.io (conversion.go: gvk.ServiceEntry).
PARENT_GROUPS: Final = {"Gateway": GATEWAY_API_GROUP, "ServiceEntry": "networking.istio.io"}

# What istiod writes True on a valid listener (besides Conflicted, written False).
LISTENER_CONDITIONS: Final = ("Accepted", "Programmed", "ResolvedRefs")

ObjectKey = tuple[str, str]          # (kind, name) in the scenario's client namespace
Objects = Mapping[ObjectKey, Mapping[str, Any] | None]


def deployed_name(gateway: str) -> str:
    """The automated Deployment/Service/ServiceAccount of a Gateway of class istio."""
    return f"{gateway}-{GATEWAY_CLASS}"


def gateway_api_layout(scenario: Scenario, layout: Layout) -> Layout:
    """``layout`` with the scenario's gateway where istiod puts it: the Gateway's own namespace
    (the client namespace), ``<gateway>-istio`` as name and service account, its pods found by
    gateway.networking.k8s.io/gateway-name (kube-gateway.yaml labels pods and selects on it).
    Scenarios without a Gateway API gateway get ``layout`` unchanged."""
    if scenario.gateway_api is None:
        return layout
    name = deployed_name(scenario.gateway_api)
    return replace(layout, gateway_ns=layout.client_ns, gateway_name=name, gateway_sa=name,
                   gateway_labels=((GATEWAY_NAME_LABEL, scenario.gateway_api),))


def key_of(expectation: StatusExpectation) -> ObjectKey:
    match expectation:
        case GatewayProgrammed(gateway=name):
            return "Gateway", name
        case RouteAccepted(kind=kind, route=name):
            return kind, name
    raise TypeError(f"unknown status expectation {expectation!r}")  # pragma: no cover


def _conditions(entry: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = entry.get("conditions") or []
    return {str(c.get("type")): c for c in found if isinstance(c, Mapping)}


def _condition_problems(what: str, conditions: Mapping[str, Mapping[str, Any]],
                        wanted: Sequence[str], generation: int) -> list[str]:
    problems: list[str] = []
    for name in wanted:
        cond = conditions.get(name)
        if cond is None:
            problems.append(f"{what}: no {name} condition yet")
            continue
        observed = int(cond.get("observedGeneration") or 0)
        if str(cond.get("status")) != "True":
            problems.append(f"{what}: {name} is {cond.get('status')} "
                            f"({cond.get('reason')}: {cond.get('message')})")
        elif generation and observed and observed < generation:
            # Status about an older spec says nothing about the one applied.
            problems.append(f"{what}: {name} is for generation {observed}, the object is at "
                            f"{generation}")
    return problems


def judge(expectation: StatusExpectation, found: Mapping[str, Any] | None) -> list[str]:
    """What in one object's status does not meet ``expectation`` (empty: it holds)."""
    kind, name = key_of(expectation)
    if found is None:
        return [f"{kind} {name}: not found"]
    generation = int((found.get("metadata") or {}).get("generation") or 0)
    status = found.get("status") or {}
    match expectation:
        case GatewayProgrammed(listeners=listeners, attached_routes=least):
            problems = _condition_problems(f"Gateway {name}", _conditions(status),
                                           ("Accepted", "Programmed"), generation)
            by_name = {str(entry.get("name")): entry for entry in status.get("listeners") or []}
            for listener in listeners:
                entry = by_name.get(listener)
                if entry is None:
                    problems.append(f"Gateway {name}: no status for listener {listener}")
                    continue
                # The Gateway's Programmed says nothing of one listener: a listener's own error
                # (a certificateRef missing or not permitted, an unsupported protocol) is only
                # its ResolvedRefs/Accepted False (conversion.go buildListener writes all three,
                # release-1.30 and release-1.31).
                problems += _condition_problems(f"Gateway {name} listener {listener}",
                                                _conditions(entry), LISTENER_CONDITIONS,
                                                generation)
                if int(entry.get("attachedRoutes") or 0) < least:
                    problems.append(f"Gateway {name}: listener {listener} has "
                                    f"{int(entry.get('attachedRoutes') or 0)} attached routes, "
                                    f"expected at least {least}")
            return problems
        case RouteAccepted(parent=parent, parent_kind=parent_kind):
            entry = _parent_status(status, parent, parent_kind)
            if entry is None:
                return [f"{kind} {name}: no status from {ISTIO_CONTROLLER} for {parent_kind} "
                        f"{parent}"]
            return _condition_problems(f"{kind} {name} on {parent_kind} {parent}",
                                       _conditions(entry), ("Accepted", "ResolvedRefs"),
                                       generation)
    raise TypeError(f"unknown status expectation {expectation!r}")  # pragma: no cover


def _parent_status(status: Mapping[str, Any], parent: str, parent_kind: str
                   ) -> Mapping[str, Any] | None:
    for entry in status.get("parents") or []:
        ref = entry.get("parentRef") or {}
        if entry.get("controllerName") != ISTIO_CONTROLLER or ref.get("name") != parent:
            continue
        # parentRef defaults: kind Gateway, group gateway.networking.k8s.io.
        if (ref.get("kind") or "Gateway") == parent_kind and \
                (ref.get("group") or GATEWAY_API_GROUP) == PARENT_GROUPS[parent_kind]:
            return entry  # type: ignore[no-any-return]
    return None


@dataclass(frozen=True)
class StatusSnapshot:
    """The objects one look read, and what did not hold."""

    objects: Objects
    problems: tuple[str, ...]

    def describe(self) -> str:
        parts = []
        for (kind, name), body in self.objects.items():
            parts.append(f"{kind} {name}: {summary(body)}")
        return "; ".join(parts) or "nothing read"


def summary(body: Mapping[str, Any] | None) -> str:
    """Conditions (type=status reason) of an object and its listeners/parents, compactly."""
    if body is None:
        return "absent"
    status = body.get("status") or {}
    words = [_conds(status)]
    for entry in status.get("listeners") or []:
        words.append(f"listener {entry.get('name')} attachedRoutes="
                     f"{entry.get('attachedRoutes')} [{_conds(entry)}]")
    for entry in status.get("parents") or []:
        ref = entry.get("parentRef") or {}
        words.append(f"parent {ref.get('kind') or 'Gateway'}/{ref.get('name')} "
                     f"[{_conds(entry)}]")
    return ", ".join(w for w in words if w) or "no status"


def _conds(entry: Mapping[str, Any]) -> str:
    return " ".join(f"{c.get('type')}={c.get('status')}({c.get('reason')})"
                    for c in entry.get("conditions") or [])


def look(api: KubeApi, namespace: str, expected: Sequence[StatusExpectation]) -> StatusSnapshot:
    """Read every object ``expected`` names once and judge it."""
    objects: dict[ObjectKey, Mapping[str, Any] | None] = {}
    for expectation in expected:
        key = key_of(expectation)
        if key not in objects:
            objects[key] = api.get(API_VERSIONS[key[0]], key[0], namespace, key[1])
    problems = [p for e in expected for p in judge(e, objects[key_of(e)])]
    return StatusSnapshot(objects, tuple(problems))


def await_status(api: KubeApi, scenario: Scenario, layout: Layout, step: Step,
                 timeouts: Timeouts) -> StatusSnapshot | None:
    """The one call the runner makes after applying a step and before its checks: the step's
    status expectations hold (twice in a row: istiod rewrites status as it reconciles), then
    the automated gateway's pods are Ready. None when the step declares none. Raises
    WaitTimeout with the last status read."""
    if not step.ready:
        return None
    namespace = layout.client_ns
    snapshot = eventually(lambda: look(api, namespace, step.ready),
                          lambda seen: list(seen.problems),
                          what=f"{scenario.id}: Gateway API status", timeout=timeouts.converge,
                          consecutive=2, interval=timeouts.interval,
                          describe=StatusSnapshot.describe)
    if scenario.gateway_api is not None:
        # Programmed follows the gateway's Service and its addresses (pilot/pkg/config/kube/
        # gateway/conversion.go setProgrammedCondition), not the Deployment's pods: traffic
        # needs those Ready.
        wait_pods_ready(api, namespace, f"{GATEWAY_NAME_LABEL}={scenario.gateway_api}",
                        timeouts.workloads)
    return snapshot


def uses_gateway_api(scenario: Scenario) -> bool:
    """Whether a scenario applies Gateway API objects (its diagnostics then carry them)."""
    return scenario.gateway_api is not None or any(step.ready for step in scenario.steps)
