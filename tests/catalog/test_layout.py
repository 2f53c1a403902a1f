"""Layouts: the seed's names as the contract lists them, and isolated names that are unique,
DNS-safe and short enough for every scenario."""

from __future__ import annotations

from dataclasses import replace

import pytest

from egress_e2e import catalog
from egress_e2e.catalog.via_gateway import GATEWAY_HTTP
from egress_e2e.core.errors import ConfigError
from egress_e2e.core.labels import is_dns_label
from egress_e2e.rendering.layout import PROTECTED_NAMESPACES, Layout
from egress_e2e.scenario import hosts
from egress_e2e.scenario.model import Scenario, SeedNames

CONTRACT_VARIABLES = {
    "scenario_id", "suffix", "isolated", "client_ns", "other_ns", "gateway_ns", "gateway_name",
    "gateway_host", "gateway_labels", "gateway_sa", "export_to", "fake_ca_secret",
    "client_cert_secret", "connect_proxy_address", "hosts",
}


def test_seed_layout_uses_seed_001_names_by_default() -> None:
    layout = Layout.seed(GATEWAY_HTTP)
    variables = layout.variables()
    assert set(variables) >= CONTRACT_VARIABLES
    assert (variables["client_ns"], variables["other_ns"], variables["gateway_ns"]) == (
        "default", "other", "istio-system")
    assert variables["gateway_name"] == "istio-egressgateway"
    assert variables["gateway_sa"] == "istio-egressgateway-service-account"
    assert variables["gateway_host"] == "istio-egressgateway.istio-system.svc.cluster.local"
    assert variables["gateway_labels"] == {"istio": "egressgateway"}
    assert variables["export_to"] is None
    assert variables["suffix"] == ""
    assert variables["isolated"] is False
    assert variables["hosts"] is hosts
    # The installed gateway is the seed's: the seed layout must not render a second one.
    assert layout.deploy_gateway is False
    assert layout.owned_namespaces == ()


def test_seed_layout_takes_a_scenarios_own_names() -> None:
    seed_000 = replace(GATEWAY_HTTP, id="seed-000-like", seed_names=SeedNames(
        client_ns="curl-external-tst", gateway_ns="curl-egress-tst",
        gateway_name="curl-egress-tst-gateway", gateway_installed=False))
    layout = Layout.seed(seed_000)
    assert layout.client_ns == "curl-external-tst"
    assert layout.gateway_host == "curl-egress-tst-gateway.curl-egress-tst.svc.cluster.local"
    assert layout.deploy_gateway is True


@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_isolated_names_are_dns_labels(scenario: Scenario) -> None:
    layout = Layout.isolated_for(scenario, "run-0001")
    names = [layout.client_ns, layout.other_ns, layout.fake_ca_secret,
             layout.client_cert_secret, layout.gateway_sa, *layout.labels.values()]
    if scenario.gateway == "own":
        names += [layout.gateway_ns, layout.gateway_name]
    for name in names:
        assert is_dns_label(name), name
    assert layout.suffix and layout.suffix in layout.client_ns


def test_longest_possible_id_still_fits() -> None:
    longest = replace(GATEWAY_HTTP, id="x" * catalog.MAX_ID_LENGTH, clients=("curl", "other"))
    layout = Layout.isolated_for(longest, "r")
    for name in (layout.client_ns, layout.other_ns, layout.gateway_ns):
        assert len(name) <= 63 and is_dns_label(name), name


def test_suffix_is_unique_per_run_and_scenario() -> None:
    other = catalog.by_id("passthrough")
    suffixes = {
        Layout.isolated_for(GATEWAY_HTTP, "run-a").suffix,
        Layout.isolated_for(GATEWAY_HTTP, "run-b").suffix,
        Layout.isolated_for(other, "run-a").suffix,
    }
    assert len(suffixes) == 3
    # ...and stable, so a rerun of `render --isolated --run-id X` prints the same names.
    assert Layout.isolated_for(GATEWAY_HTTP, "run-a") == Layout.isolated_for(GATEWAY_HTTP, "run-a")


def test_isolated_layout_owns_and_exports_to_its_namespaces() -> None:
    with_other = replace(GATEWAY_HTTP, clients=("curl", "other"))
    layout = Layout.isolated_for(with_other, "r1")
    assert layout.owned_namespaces == (layout.client_ns, layout.other_ns, layout.gateway_ns)
    # The gateway must see the routes and clusters: its namespace is in exportTo.
    assert layout.export_to == (layout.client_ns, layout.other_ns, layout.gateway_ns)
    assert layout.deploy_gateway is True
    assert layout.labels == {"istio": f"gateway-{layout.suffix}"}


def test_shared_gateway_layout_never_owns_istio_system() -> None:
    shared = replace(GATEWAY_HTTP, gateway="shared")
    layout = Layout.isolated_for(shared, "r1")
    assert layout.gateway_ns == "istio-system"
    assert layout.labels == {"istio": "egressgateway"}
    assert layout.deploy_gateway is False
    assert not set(layout.owned_namespaces) & PROTECTED_NAMESPACES
    assert "istio-system" in (layout.export_to or ())
    # Its Secrets in istio-system still carry the run's suffix.
    assert layout.suffix in layout.fake_ca_secret


def test_no_gateway_means_no_gateway_namespace() -> None:
    layout = Layout.isolated_for(catalog.by_id("registry-only-blocks"), "r1")
    assert layout.owned_namespaces == (layout.client_ns,)
    assert layout.export_to == (layout.client_ns,)


def test_empty_run_id_is_refused() -> None:
    with pytest.raises(ConfigError, match="run id"):
        Layout.isolated_for(GATEWAY_HTTP, "")


def test_client_pods_identities_and_urls() -> None:
    layout = Layout.isolated_for(replace(GATEWAY_HTTP, clients=("curl", "other")), "r1")
    assert layout.client_pod("curl") == (layout.client_ns, "curl", "curl")
    assert layout.client_pod("other") == (layout.other_ns, "curl", "curl")
    assert layout.client_pod("uninjected")[1] == "curl-uninjected"
    assert layout.spiffe_id("gateway") == (
        f"spiffe://cluster.local/ns/{layout.gateway_ns}/sa/{layout.gateway_sa}")
    assert layout.spiffe_id("client") == f"spiffe://cluster.local/ns/{layout.client_ns}/sa/curl"
    assert layout.spiffe_id("other-client") == (
        f"spiffe://cluster.local/ns/{layout.other_ns}/sa/curl")
    assert layout.resolve("http://external-name-httpbin.{client_ns}/headers") == (
        f"http://external-name-httpbin.{layout.client_ns}/headers")
    with pytest.raises(ConfigError, match="nope"):
        layout.resolve("http://{nope}/")
    with pytest.raises(ConfigError, match="unknown client role 'admin'"):
        layout.client_pod("admin")
