"""The policy, wildcard, tunnel and failure-mode scenarios as declared: every scenario renders
in both layouts, lints clean, names its seed,
says what it changed, and its failure modes assert a precise failure."""

from __future__ import annotations

from pathlib import Path

import pytest

from egress_e2e import catalog
from egress_e2e.catalog._isolation import OWN_GATEWAY_SCOPED
from egress_e2e.core.paths import MANIFESTS_DIR
from egress_e2e.rendering.lint import lint_rendered
from egress_e2e.rendering.render import Plan
from egress_e2e.scenario.expectations import Body, CurlFails, Echoed, LogLine, Status
from egress_e2e.scenario.model import Check

SEEDS_DIR = Path("/work/shared/seeds")


def test_every_catalog_ii_scenario_is_registered(kit: type) -> None:
    assert set(kit.ids) <= set(catalog.ids())
    for scenario_id in kit.ids:
        assert catalog.by_id(scenario_id).id == scenario_id


def test_renders_and_lints_clean(built: Plan, layout_name: str) -> None:
    docs = built.documents
    assert docs, f"{built.scenario.id} renders nothing"
    problems = lint_rendered(docs, f"{built.scenario.id} {layout_name}")
    assert not problems, "\n".join(str(p) for p in problems)


def test_every_template_is_used_and_every_used_template_exists(scenario_id: str) -> None:
    scenario = catalog.by_id(scenario_id)
    directory = MANIFESTS_DIR / "patterns" / scenario_id
    on_disk = {path.stem for path in directory.glob("*.yaml")}
    used = {name for step in scenario.steps for name in (*step.apply, *step.delete)}
    assert used == on_disk, f"unused: {on_disk - used}, missing: {used - on_disk}"


def test_names_its_seed_and_says_what_differs(scenario_id: str) -> None:
    scenario = catalog.by_id(scenario_id)
    assert scenario.seeds and scenario.differs
    for seed in scenario.seeds:
        assert seed.section.strip()
        if SEEDS_DIR.is_dir():
            assert (SEEDS_DIR / seed.file).is_file(), f"no seed file {seed.file}"
    for step in scenario.steps:
        assert step.says.strip() and step.checks, f"{scenario_id}: a step without checks"


def _failure_is_precise(check: Check) -> list[str]:
    """A check that expects no 200 must say exactly how it fails."""
    statuses = [e.code for e in check.expect if isinstance(e, Status)]
    if 200 in statuses:
        return []
    curl_fails = [e for e in check.expect if isinstance(e, CurlFails)]
    if curl_fails:
        return [] if all(e.exit_codes for e in curl_fails) else ["CurlFails without exit codes"]
    if not statuses:
        return ["neither a status nor a curl failure"]
    # A status alone could come from anywhere: name its body, or the log line that produced it.
    detail = [e for e in check.expect
              if isinstance(e, Body)
              or (isinstance(e, LogLine) and (e.response_code in statuses
                                              or e.route_name or e.transport_failure_contains))]
    return [] if detail else [f"status {statuses} without a body or log detail"]


def test_failure_modes_assert_the_precise_failure(scenario_id: str) -> None:
    scenario = catalog.by_id(scenario_id)
    for check in scenario.checks:
        assert not _failure_is_precise(check), f"{scenario_id}: {check.name}: " \
            f"{_failure_is_precise(check)}"


@pytest.mark.parametrize(("scenario_id", "step", "check_name_part", "status", "body"), [
    ("dedicated-gateway-authz", 0, "allowed namespace is denied", 403, "RBAC: access denied"),
    ("dedicated-gateway-authz", 1, "another namespace", 403, "RBAC: access denied"),
    ("mtls-origination", 1, "no client certificate", 400,
     "No required SSL certificate was sent"),
    ("mtls-origination", 2, "plain HTTP on its TLS port", 400,
     "The plain HTTP request was sent to HTTPS port"),
    ("origination-untrusted-cert", 0, "refuses the certificate", 503,
     "upstream connect error or disconnect/reset before headers"),
])
def test_named_failures(scenario_id: str, step: int, check_name_part: str, status: int,
                        body: str) -> None:
    scenario = catalog.by_id(scenario_id)
    matching = [c for c in scenario.steps[step].checks if check_name_part in c.name]
    assert len(matching) == 1
    expect = matching[0].expect
    assert Status(status) in expect
    assert any(isinstance(e, Body) and e.contains == body for e in expect)
    if status != 200:
        assert Status(200) not in expect


def test_networkpolicy_bypass_times_out_precisely() -> None:
    scenario = catalog.by_id("networkpolicy-bypass-blocked")
    assert scenario.needs_network_policy
    before, after = scenario.steps
    bypass = [c for c in before.checks if c.probe.client == "uninjected"]
    assert [Status(200)] == [e for e in bypass[0].expect if isinstance(e, Status)]
    blocked = next(c for c in after.checks if c.probe.client == "uninjected")
    assert CurlFails(exit_codes=(28,)) in blocked.expect
    through = next(c for c in after.checks if c.probe.client == "curl")
    assert Status(200) in through.expect
    # Through the gateway, as Istio 1.30/1.31 gateways treat a sidecar's request: at the edge.
    assert Echoed("X-Envoy-Internal", absent=True) in through.expect
    assert Echoed.present("X-Envoy-External-Address") in through.expect


def test_untrusted_cert_names_the_transport_failure() -> None:
    scenario = catalog.by_id("origination-untrusted-cert")
    logs = [e for e in scenario.checks[0].expect if isinstance(e, LogLine)]
    # The TLS error is in the gateway's log, after retries used up on connection failures;
    # the body names only the last reset reason (tests/calibration, Envoy 1.40).
    assert logs == [LogLine(proxy="gateway", response_code=503, response_flags="URX,UF",
                            cluster="outbound|443||httpbin.org",
                            transport_failure_contains="CERTIFICATE_VERIFY_FAILED")]
    bodies = [e.contains for e in scenario.checks[0].expect if isinstance(e, Body)]
    assert "CERTIFICATE_VERIFY_FAILED" not in " ".join(bodies)
    assert any("retried and the latest reset reason" in body for body in bodies)


def _credential_names(built: Plan) -> list[str]:
    """credentialName values of every DestinationRule TLS setting the scenario renders."""
    found: list[str] = []

    def visit(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("credentialName"), str):
                found.append(node["credentialName"])
            for value in node.values():
                visit(value)
        elif isinstance(node, list):
            for value in node:
                visit(value)

    for doc in built.documents:
        if doc.kind == "DestinationRule":
            visit(doc.body["spec"])
    return found


def test_differs_names_the_layout_and_the_trust_changes(scenario_id: str, kit: type) -> None:
    scenario = catalog.by_id(scenario_id)
    if scenario.gateway == "own":
        assert OWN_GATEWAY_SCOPED in scenario.differs
    credentials = _credential_names(kit.plan_for(scenario_id, "isolated"))
    if credentials:
        assert any("fake CA" in line for line in scenario.differs), scenario_id
