"""The ambient catalog offline: which scenarios a data plane runs (gates, `list --data-plane`),
the ambient layout (ztunnel capture and the waypoint by label, no injection, no Sidecar), what
the waypoint scenarios render and assert, the DYNAMIC_DNS pair, the --data-plane setting, and
the matrix's data-plane and shard dimensions."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from egress_e2e import catalog, cli
from egress_e2e.catalog import ambient as ambient_catalog
from egress_e2e.catalog import wildcard
from egress_e2e.commands.catalog import list_lines
from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import ambient, matrix
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Document, plan, render_scenario
from egress_e2e.scenario import gates
from egress_e2e.scenario.expectations import CurlFails, FakeSaw, LogLine, Status
from egress_e2e.scenario.model import Scenario
from egress_e2e.session import settings

AMBIENT = [s for s in catalog.ALL if "ambient" in s.data_planes]
LAYOUTS = ("seed", "isolated")


def make_layout(scenario: Scenario, name: str) -> Layout:
    return Layout.seed(scenario) if name == "seed" else Layout.isolated_for(scenario, "run-a")


def of_kind(docs: list[Document] | tuple[Document, ...], kind: str) -> list[Document]:
    return [doc for doc in docs if doc.kind == kind]


def test_at_least_five_ambient_scenarios_and_both_dynamic_dns_ones() -> None:
    assert len(AMBIENT) >= 5
    assert {s.id for s in AMBIENT} >= {
        "ambient-waypoint-http", "ambient-waypoint-tls-origination", "ambient-waypoint-authz",
        "ambient-waypoint-bypass-blocked", "ambient-serviceentry-no-waypoint",
        "ambient-dynamic-dns"}
    # Every seed scenario stays sidecar-only: none silently runs on the other data plane.
    assert all(s.data_planes == ("sidecar",) for s in catalog.ALL if s not in AMBIENT)
    assert catalog.by_id("dynamic-dns-wildcard").data_planes == ("sidecar",)


def test_list_data_plane_filters_and_shows_the_plane(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list", "--data-plane", "ambient"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [s.id for s in AMBIENT]
    assert all(line.split()[2] == "ambient" for line in lines)
    assert cli.main(["list"]) == 0
    everything = capsys.readouterr().out.splitlines()
    assert len(everything) == len(catalog.ALL)
    http = next(line for line in everything if line.startswith("gateway-http "))
    assert http.split()[2] == "sidecar"
    with pytest.raises(SystemExit) as bad:
        cli.main(["list", "--data-plane", "ztunnel"])
    assert bad.value.code == 2
    assert "invalid choice: 'ztunnel'" in capsys.readouterr().err


def test_gates_skip_a_scenario_on_the_other_data_plane_with_the_reason() -> None:
    http = catalog.by_id("ambient-waypoint-http")
    assert gates.skip_reason(http, "1.31.1", "ambient") is None
    # Callers that know no data plane get sidecar: an ambient scenario never runs there.
    assert gates.skip_reason(http, "1.31.1") == (
        "ambient-waypoint-http runs on the ambient data plane; this run uses sidecar")
    sidecar = catalog.by_id("gateway-http")
    assert gates.skip_reason(sidecar, "1.31.1", "ambient") == (
        "gateway-http runs on the sidecar data plane; this run uses ambient")
    dns = catalog.by_id("dynamic-dns-wildcard")
    assert gates.skip_reason(dns, "1.29.3") == ("dynamic-dns-wildcard needs Istio >=1.30; this "
                                                "run uses 1.29.3")
    assert gates.skip_reason(dns, "1.30.0") is None
    with pytest.raises(ConfigError, match="data plane must be one of"):
        gates.skip_reason(http, "1.31.1", "istio")
    with pytest.raises(ConfigError, match="data_planes must name some of"):
        gates.data_plane_skip_reason(replace(http, data_planes=("waypoint",)), "ambient")
    lines = list_lines((http, sidecar), "1.31.1", "ambient")
    assert len(lines) == 1 and "skipped" not in lines[0]


@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("scenario", AMBIENT, ids=[s.id for s in AMBIENT])
def test_ambient_namespaces_are_captured_not_injected(scenario: Scenario,
                                                      layout_name: str) -> None:
    layout = make_layout(scenario, layout_name)
    assert layout.ambient and not layout.deploy_gateway
    docs = render_scenario(scenario, layout)
    namespaces = {doc.name: doc.body["metadata"]["labels"] for doc in of_kind(docs, "Namespace")}
    client = namespaces[layout.client_ns]
    assert client[ambient.DATAPLANE_MODE_LABEL] == "ambient"
    assert "istio-injection" not in client and "istio.io/rev" not in client
    # The egress namespace uses its waypoint, as --enroll-namespace labels it.
    assert namespaces[layout.gateway_ns][ambient.USE_WAYPOINT_LABEL] == ambient.WAYPOINT_NAME
    # No sidecar-only premises, and no injected gateway Deployment.
    assert not of_kind(docs, "Sidecar") and not of_kind(docs, "Deployment")
    assert "http-80-placeholder" not in {d.name for d in of_kind(docs, "Service")}


@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("scenario", AMBIENT, ids=[s.id for s in AMBIENT])
def test_the_waypoint_is_what_istioctl_applies_and_what_the_observer_selects(
        scenario: Scenario, layout_name: str) -> None:
    layout = make_layout(scenario, layout_name)
    [gateway] = [d for d in of_kind(render_scenario(scenario, layout), "Gateway")]
    body = gateway.body
    assert body["apiVersion"] == "gateway.networking.k8s.io/v1"
    assert (gateway.namespace, gateway.name) == (layout.gateway_ns, layout.gateway_name)
    assert body["metadata"]["labels"] == {"istio.io/waypoint-for": "service"}
    assert body["spec"] == {"gatewayClassName": "istio-waypoint", "listeners": [
        {"name": "mesh", "port": 15008, "protocol": "HBONE"}]}
    # The observer lists pods by the layout's gateway labels: the waypoint's pod label.
    selector = ",".join(f"{k}={v}" for k, v in layout.gateway_labels)
    assert selector == ambient.waypoint_pod_selector(gateway.name)
    # The egress configuration lives in the waypoint's namespace (or the client's, unbound).
    for doc in plan(scenario, layout).documents:
        if doc.kind in ("ServiceEntry", "DestinationRule", "AuthorizationPolicy"):
            assert doc.namespace in (layout.gateway_ns, layout.client_ns), doc.ref


def test_isolated_runs_get_their_own_egress_namespace() -> None:
    http = catalog.by_id("ambient-waypoint-http")
    first, second = (Layout.isolated_for(http, run) for run in ("run-a", "run-b"))
    assert first.gateway_ns != second.gateway_ns
    assert first.gateway_ns in first.owned_namespaces
    assert set(first.export_to or ()) == {first.client_ns, first.gateway_ns}
    seed = Layout.seed(http)
    assert (seed.client_ns, seed.gateway_ns, seed.owned_namespaces) == ("default",
                                                                        "istio-egress", ())
    with pytest.raises(ConfigError, match="runs on ambient, not sidecar"):
        Layout.isolated_for(http, "run-a", data_plane="sidecar")


def test_sidecar_layouts_are_unchanged_by_the_data_plane_field() -> None:
    http = catalog.by_id("gateway-http")
    layout = Layout.isolated_for(http, "run-a")
    assert layout.data_plane == "sidecar" and layout.deploy_gateway
    labels = of_kind(render_scenario(http, layout), "Namespace")[0].body["metadata"]["labels"]
    assert labels["istio-injection"] == "enabled" and ambient.DATAPLANE_MODE_LABEL not in labels


def _expectations(scenario_id: str, check_index: int) -> tuple[object, ...]:
    return catalog.by_id(scenario_id).checks[check_index].expect


def test_waypoint_evidence_is_the_waypoints_line_by_its_vip_cluster() -> None:
    for scenario in AMBIENT:
        for check in scenario.checks:
            for line in (e for e in check.expect if isinstance(e, LogLine)):
                # ztunnel is L4; only the waypoint ("gateway" in the layout) logs HTTP lines.
                assert line.proxy == "gateway", (scenario.id, check.name)
                if line.present and line.cluster is not None:
                    assert line.cluster.startswith("inbound-vip|80|http|"), line.cluster


def test_tls_origination_is_proven_by_https_at_the_fake() -> None:
    scenario = catalog.by_id("ambient-waypoint-tls-origination")
    docs = plan(scenario, Layout.isolated_for(scenario, "run-a")).documents
    [entry] = of_kind(docs, "ServiceEntry")
    assert entry.body["spec"]["ports"] == [{"number": 80, "name": "http", "protocol": "HTTP",
                                            "targetPort": 443}]
    [rule] = of_kind(docs, "DestinationRule")
    tls = rule.body["spec"]["trafficPolicy"]["tls"]
    assert tls["mode"] == "SIMPLE" and tls["sni"] == "httpbin.org"
    # The CA Secret the rule names is rendered in the waypoint's own namespace.
    secrets = {(d.namespace, d.name) for d in of_kind(docs, "Secret")}
    assert (rule.namespace, tls["credentialName"]) in secrets
    saw = [e for e in _expectations(scenario.id, 0) if isinstance(e, FakeSaw)]
    assert saw == [FakeSaw(scheme="https", port=443, sni="httpbin.org")]


def test_authz_targets_the_serviceentry_and_denies_post() -> None:
    scenario = catalog.by_id("ambient-waypoint-authz")
    docs = plan(scenario, Layout.isolated_for(scenario, "run-a")).documents
    [policy] = of_kind(docs, "AuthorizationPolicy")
    [entry] = of_kind(docs, "ServiceEntry")
    assert policy.namespace == entry.namespace
    assert policy.body["spec"]["targetRefs"] == [
        {"kind": "ServiceEntry", "group": "networking.istio.io", "name": entry.name}]
    assert policy.body["spec"]["rules"] == [{"to": [{"operation": {"methods": ["GET"]}}]}]
    get, post = scenario.checks
    assert Status(200) in get.expect and Status(403) in post.expect
    assert post.probe.extra_args == ("-X", "POST")
    assert FakeSaw(reached=False) in post.expect


def test_bypass_is_shown_open_then_closed_by_the_network_policy() -> None:
    scenario = catalog.by_id("ambient-waypoint-bypass-blocked")
    assert scenario.needs_network_policy and "uninjected" in scenario.clients
    layout = Layout.isolated_for(scenario, "run-a")
    built = plan(scenario, layout)
    pods = {d.name: d.body["metadata"]["labels"] for d in of_kind(list(built.base), "Pod")}
    assert pods["curl-uninjected"][ambient.DATAPLANE_MODE_LABEL] == "none"
    before, after = scenario.steps
    [policy] = of_kind(list(built.steps[1].apply), "NetworkPolicy")
    egress = policy.body["spec"]["egress"]
    to_waypoint = [rule for rule in egress if rule["ports"] == [{"protocol": "TCP",
                                                                  "port": 15008}]]
    assert to_waypoint and to_waypoint[0]["to"][0]["podSelector"]["matchLabels"] == \
        dict(layout.gateway_labels)
    # Open first (200, no waypoint line), then the same direct attempt times out.
    direct_open = before.checks[1]
    assert direct_open.probe.client == "uninjected"
    assert Status(200) in direct_open.expect
    assert LogLine(proxy="gateway", present=False) in direct_open.expect
    direct_closed = after.checks[0]
    assert direct_closed.probe.client == "uninjected"
    assert CurlFails(exit_codes=(28,)) in direct_closed.expect


def test_the_unbound_serviceentry_leaves_no_waypoint_line() -> None:
    scenario = catalog.by_id("ambient-serviceentry-no-waypoint")
    layout = Layout.isolated_for(scenario, "run-a")
    entries = {d.name: d for d in of_kind(plan(scenario, layout).documents, "ServiceEntry")}
    unbound = entries["jsonplaceholder"]
    assert unbound.namespace == layout.client_ns
    assert ambient.USE_WAYPOINT_LABEL not in unbound.body["metadata"].get("labels", {})
    bound, direct = scenario.checks
    assert any(isinstance(e, LogLine) and e.present for e in bound.expect)
    assert LogLine(proxy="gateway", present=False) in direct.expect


@pytest.mark.parametrize("scenario_id", ["dynamic-dns-wildcard", "ambient-dynamic-dns"])
def test_dynamic_dns_wildcards_need_no_envoyfilter_and_name_each_host(scenario_id: str) -> None:
    scenario = catalog.by_id(scenario_id)
    docs = plan(scenario, Layout.isolated_for(scenario, "run-a")).documents
    assert not of_kind(docs, "EnvoyFilter")
    [entry] = of_kind(docs, "ServiceEntry")
    spec = entry.body["spec"]
    assert spec["hosts"] == ["*.wikipedia.org"] and spec["resolution"] == "DYNAMIC_DNS"
    assert spec["location"] == "MESH_EXTERNAL"
    # en. and de. each reach their own server block: the host is named per request.
    blocks = {e.server_block for c in scenario.checks for e in c.expect
              if isinstance(e, FakeSaw)}
    assert {"wikipedia-en", "wikipedia-de"} <= {b.removesuffix("-http") for b in blocks if b}


def test_the_sidecar_dynamic_dns_sits_beside_the_sni_proxy_it_replaces() -> None:
    names = [s.id for s in wildcard.SCENARIOS]
    assert names.index("dynamic-dns-wildcard") == names.index("wildcard-sni-proxy") + 1
    ids = catalog.ids()
    assert ids.index("dynamic-dns-wildcard") == ids.index("wildcard-sni-proxy") + 1
    scenario = catalog.by_id("dynamic-dns-wildcard")
    assert scenario.requires_istio == ">=1.30" and scenario.gateway == "none"
    tls_lines = [e for c in scenario.checks for e in c.expect
                 if isinstance(e, LogLine) and e.tcp]
    assert {line.sni for line in tls_lines} == {"en.wikipedia.org", "de.wikipedia.org"}
    assert {line.cluster for line in tls_lines} == {wildcard.DYNAMIC_DNS_TLS_CLUSTER}
    assert ambient_catalog.WILDCARD_VIP_CLUSTER == "inbound-vip|80|http|*.wikipedia.org"


def test_render_and_explain_every_ambient_scenario(capsys: pytest.CaptureFixture[str]) -> None:
    for scenario in [*AMBIENT, catalog.by_id("dynamic-dns-wildcard")]:
        for extra in ([], ["--isolated"]):
            assert cli.main(["render", scenario.id, *extra]) == 0
            assert "kind: " in capsys.readouterr().out
        assert cli.main(["explain", scenario.id, "--json"]) == 0
        explained = json.loads(capsys.readouterr().out)
        assert len(json.dumps(explained)) > 100


def test_seed_render_tells_how_to_enrol_the_protected_namespace(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["render", "ambient-waypoint-http"]) == 0
    header = capsys.readouterr().out.split("# Source:")[0]
    assert "kubectl label namespace default istio.io/dataplane-mode=ambient" in header
    assert "istio-injection=enabled" not in header


def test_data_plane_setting_flag_and_env() -> None:
    [opt] = [o for o in settings.OPTIONS if o.dest == "data_plane"]
    assert (opt.flag, opt.env, opt.choices) == ("--data-plane", "EGRESS_E2E_DATA_PLANE",
                                                ("sidecar", "ambient"))
    assert settings.resolve({}, {}).data_plane == "sidecar"
    assert settings.resolve({}, {"EGRESS_E2E_DATA_PLANE": "Ambient"}).data_plane == "ambient"
    assert settings.resolve({"data_plane": "sidecar"},
                            {"EGRESS_E2E_DATA_PLANE": "ambient"}).data_plane == "sidecar"
    with pytest.raises(ConfigError, match="EGRESS_E2E_DATA_PLANE: expected one of sidecar, "
                                          "ambient, got 'waypoint'"):
        settings.resolve({}, {"EGRESS_E2E_DATA_PLANE": "waypoint"})
    with pytest.raises(ConfigError, match="upgrades sidecar meshes only"):
        settings.resolve({"upgrade_from": "1.30.5", "data_plane": "ambient"}, {})


RELEASES = [matrix.IstioSupport("1.31.1", "1.32", "1.37", "1.37", "egress-e2e-1-31"),
            matrix.IstioSupport("1.30.5", "1.32", "1.36", "1.36", "egress-e2e-1-30")]
IMAGES = {"1.36": "kindest/node:v1.36.4@sha256:" + "a" * 64,
          "1.37": "kindest/node:v1.37.0@sha256:" + "b" * 64}


def test_matrix_crosses_versions_with_data_planes_and_shards() -> None:
    entries = matrix.build(RELEASES, IMAGES, default="1.31.1", kind_version="v0.33.0",
                           data_planes=("ambient", "sidecar"), shards=2)
    assert [(e.istio, e.data_plane, e.shard, e.shards) for e in entries] == [
        ("1.30.5", "sidecar", "1", "2"), ("1.30.5", "sidecar", "2", "2"),
        ("1.30.5", "ambient", "1", "2"), ("1.30.5", "ambient", "2", "2"),
        ("1.31.1", "sidecar", "1", "2"), ("1.31.1", "sidecar", "2", "2"),
        ("1.31.1", "ambient", "1", "2"), ("1.31.1", "ambient", "2", "2")]
    assert len({e.name for e in entries}) == len(entries)
    assert entries[2].name == "istio-1.30.5-ambient-k8s-1.36-shard-1-of-2"
    assert entries[2].cluster == "egress-e2e-1-30-ambient"
    single = matrix.build(RELEASES, IMAGES, wanted="1.31.1", default="1.31.1",
                          kind_version="v0.33.0")
    assert [(e.name, e.data_plane, e.shards) for e in single] == [
        ("istio-1.31.1-k8s-1.37", "sidecar", "1")]
    with pytest.raises(ConfigError, match="data planes must be some of"):
        matrix.build(RELEASES, IMAGES, default="1.31.1", kind_version="v", data_planes=("x",))
    with pytest.raises(ConfigError, match="shards must be at least 1"):
        matrix.build(RELEASES, IMAGES, default="1.31.1", kind_version="v", shards=0)


def test_matrix_command_prints_ambient_jobs(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["matrix"]) == 0
    jobs = json.loads(capsys.readouterr().out)["include"]
    assert {job["data_plane"] for job in jobs} == {"sidecar", "ambient"}
    for job in jobs:
        assert job["cluster"].endswith("-ambient") is (job["data_plane"] == "ambient")
    assert cli.main(["matrix", "--data-plane", "sidecar", "--shards", "3"]) == 0
    jobs = json.loads(capsys.readouterr().out)["include"]
    assert {(job["data_plane"], job["shards"]) for job in jobs} == {("sidecar", "3")}
    assert sorted({job["shard"] for job in jobs}) == ["1", "2", "3"]
