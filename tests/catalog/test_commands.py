"""`egress-e2e list`, `render` and the registry, through the real CLI entry point."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from egress_e2e import catalog
from egress_e2e.catalog.via_gateway import GATEWAY_HTTP
from egress_e2e.cli import main
from egress_e2e.commands.catalog import list_lines
from egress_e2e.core.errors import ConfigError
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import render_scenario
from egress_e2e.scenario.model import Scenario


def test_list_prints_one_line_per_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [s.id for s in catalog.ALL]
    passthrough = next(line for line in lines if line.split()[0] == "passthrough")
    assert passthrough.split()[1] == "001,002"
    assert "Gateway PASSTHROUGH" in passthrough


def test_list_marks_gated_scenarios() -> None:
    gated = replace(GATEWAY_HTTP, id="needs-new-istio", requires_istio=">=1.26")
    lines = list_lines((GATEWAY_HTTP, gated), "1.24.3")
    assert "skipped" not in lines[0]
    assert lines[1].endswith("[skipped: needs-new-istio needs Istio >=1.26; this run uses "
                             "1.24.3]")
    assert "skipped" not in list_lines((gated,), "1.26.0")[0]
    assert "skipped" not in list_lines((gated,), None)[0]


def test_list_rejects_a_bad_version(capsys: pytest.CaptureFixture[str]) -> None:
    gated = [s for s in catalog.ALL if s.requires_istio]
    if not gated:
        with pytest.raises(ConfigError):
            list_lines((replace(GATEWAY_HTTP, requires_istio=">=1.26"),), "one.two")
        return
    assert main(["list", "--istio-version", "one.two"]) == 1
    assert "not an Istio version" in capsys.readouterr().err


@pytest.mark.parametrize("isolated", [False, True])
def test_render_prints_what_the_renderer_renders(
        isolated: bool, capsys: pytest.CaptureFixture[str]) -> None:
    scenario = catalog.by_id("passthrough")
    argv = ["render", "passthrough"] + (["--isolated", "--run-id", "r7"] if isolated else [])
    assert main(argv) == 0
    out = capsys.readouterr().out
    printed = [d for d in yaml.safe_load_all(out) if d is not None]
    layout = Layout.isolated_for(scenario, "r7") if isolated else Layout.seed(scenario)
    rendered = render_scenario(scenario, layout)
    namespaces = {d["metadata"].get("namespace") for d in printed}
    if isolated:
        assert printed == [doc.body for doc in rendered]
        assert "default" not in namespaces and layout.client_ns in namespaces
    else:
        # Safe to apply as printed: no placeholder Secret, no relabelled existing namespace;
        # everything else exactly as rendered, and what was left out named at the top.
        left_out = [doc for doc in rendered if doc.kind == "Secret"
                    or (doc.kind == "Namespace" and doc.name in ("default", "istio-system"))]
        assert left_out and printed == [doc.body for doc in rendered if doc not in left_out]
        assert "default" in namespaces
        header = [line for line in out.splitlines() if line.startswith("#   ")]
        assert [line.split(": ", 1)[0].strip("# ") for line in header] == [
            doc.ref for doc in left_out]
        assert not [d for d in printed if d["kind"] == "Secret"]


def test_render_seed_layout_lints_clean_as_printed(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    for scenario in catalog.ALL:
        assert main(["render", scenario.id]) == 0
        out = tmp_path / f"{scenario.id}.yaml"
        out.write_text(capsys.readouterr().out)
    assert main(["lint", *sorted(str(p) for p in tmp_path.iterdir())]) == 0


def test_render_unknown_id_suggests_close_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "passthru"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("egress-e2e: unknown scenario id 'passthru'; did you mean ")
    assert "passthrough" in err


def test_by_id_lists_substring_and_close_matches() -> None:
    with pytest.raises(ConfigError, match="did you mean ") as raised:
        catalog.by_id("passthrough-")
    assert "passthrough-double-tls" in str(raised.value)
    assert "http-and-passthrough-combined" in str(raised.value)
    with pytest.raises(ConfigError, match="gateway-http"):
        catalog.by_id("gateway-htpp")
    assert catalog.by_id("gateway-http") is GATEWAY_HTTP


def test_registry_refuses_duplicate_and_unsafe_ids() -> None:
    with pytest.raises(ConfigError, match="declared twice"):
        catalog.collect([GATEWAY_HTTP, GATEWAY_HTTP])
    with pytest.raises(ConfigError, match="DNS label"):
        catalog.collect([replace(GATEWAY_HTTP, id="Gateway_HTTP")])
    with pytest.raises(ConfigError, match="at most 40"):
        catalog.collect([replace(GATEWAY_HTTP, id="g" * 41)])
    assert catalog.collect([GATEWAY_HTTP]) == (GATEWAY_HTTP,)


def test_catalog_i_ids_are_registered() -> None:
    assert {
        "registry-only-blocks", "serviceentry-direct", "gateway-http", "gateway-tls-origination",
        "mtls-gateway-tls-origination", "mtls-gateway-http", "passthrough",
        "passthrough-double-tls", "http-and-passthrough-combined", "externalname",
        "ingress-gateway",
    } <= set(catalog.ids())


@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_each_scenario_says_where_it_comes_from(scenario: Scenario) -> None:
    assert scenario.seeds and all(seed.section for seed in scenario.seeds)
    assert scenario.differs, "say what differs from the seed, and why"
    assert scenario.checks, "a scenario proves something"
    for role in {check.probe.client for check in scenario.checks}:
        assert role in scenario.clients, f"probe from {role} but no such client deployed"
    # Probe URLs resolve against a layout (ExternalName and ingress name the namespace).
    layout = Layout.isolated_for(scenario, "r")
    for check in scenario.checks:
        assert "{" not in layout.resolve(check.probe.url)
