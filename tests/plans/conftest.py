"""The policy, client-certificate, wildcard, tunnel and failure-mode scenarios (seeds 000, 003,
004, policy layers and failure modes): rendered plans in both layouts,
shared by the tests of this directory. Rendering is the real renderer; nothing is mocked."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, Plan, plan
from egress_e2e.scenario.model import Scenario

PLAN_SCENARIOS = (
    "dedicated-gateway-authz",
    "sidecar-registry-only",
    "mtls-origination",
    "app-mtls-passthrough",
    "mtls-gateway-tls-tcp",
    "wildcard-passthrough",
    "wildcard-sni-proxy",
    "connect-tunnel",
    "connect-tunnel-dr",
    "networkpolicy-bypass-blocked",
    "origination-untrusted-cert",
)
RUN_ID = "plans-test"
LAYOUTS = ("seed", "isolated")


def layout_for(scenario: Scenario, name: str) -> Layout:
    return Layout.seed(scenario) if name == "seed" else Layout.isolated_for(scenario, RUN_ID)


_PLANS: dict[tuple[str, str], Plan] = {}


def plan_for(scenario_id: str, layout_name: str) -> Plan:
    key = (scenario_id, layout_name)
    if key not in _PLANS:
        scenario = catalog.by_id(scenario_id)
        _PLANS[key] = plan(scenario, layout_for(scenario, layout_name))
    return _PLANS[key]


def state_after(built: Plan, step: int) -> list[Document]:
    """The pattern objects in the cluster after step ``step`` (0-based): each step deletes, then
    applies, by Kind/namespace/name, as the runner does."""
    live: dict[str, Document] = {}
    for step_plan in built.steps[: step + 1]:
        for doc in step_plan.delete:
            live.pop(doc.ref, None)
        for doc in step_plan.apply:
            live[doc.ref] = doc
    return list(live.values())


def of_kind(docs: Iterable[Document], kind: str) -> list[Document]:
    return [doc for doc in docs if doc.kind == kind]


def one(docs: Iterable[Document], kind: str, name: str | None = None) -> Document:
    found = [doc for doc in of_kind(docs, kind) if name is None or doc.name == name]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {[d.ref for d in found]}"
    return found[0]


def spec(doc: Document) -> dict[str, Any]:
    value = doc.body.get("spec")
    assert isinstance(value, dict), f"{doc.ref} has no spec"
    return value


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes label-selector semantics (matchLabels, matchExpressions In/NotIn/Exists/
    DoesNotExist), enough to evaluate the rendered policies against the rendered pods."""
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def pod_labels(doc: Document) -> dict[str, str]:
    """A Pod's labels, or a Deployment's pod template labels."""
    meta = doc.body["metadata"] if doc.kind == "Pod" else doc.body["spec"]["template"]["metadata"]
    return dict(meta.get("labels") or {})


@pytest.fixture(params=PLAN_SCENARIOS)
def scenario_id(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=LAYOUTS)
def layout_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def built(scenario_id: str, layout_name: str) -> Plan:
    return plan_for(scenario_id, layout_name)


class Kit:
    """The helpers above, handed to tests as a fixture (conftest modules are not importable
    under --import-mode=importlib)."""

    ids = PLAN_SCENARIOS
    layouts = LAYOUTS
    plan_for = staticmethod(plan_for)
    layout_for = staticmethod(layout_for)
    state_after = staticmethod(state_after)
    of_kind = staticmethod(of_kind)
    one = staticmethod(one)
    spec = staticmethod(spec)
    selects = staticmethod(selects)
    pod_labels = staticmethod(pod_labels)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
