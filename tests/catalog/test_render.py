"""Rendering: every scenario in both layouts, the plan the runner follows, and failures that
name the template."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import jinja2
import jinja2.meta
import pytest
import yaml

from egress_e2e import catalog
from egress_e2e.catalog.via_gateway import GATEWAY_HTTP
from egress_e2e.core.errors import ManifestError
from egress_e2e.core.paths import MANIFESTS_DIR
from egress_e2e.core.redact import REDACTED
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import (
    BASE_TEMPLATES,
    Renderer,
    TrustMaterial,
    plan,
    render_scenario,
    to_yaml,
)
from egress_e2e.scenario.model import Scenario, Step

LAYOUTS = ("seed", "isolated")


def layout_for(scenario: Scenario, name: str, run_id: str = "test-run") -> Layout:
    return Layout.seed(scenario) if name == "seed" else Layout.isolated_for(scenario, run_id)


@pytest.mark.parametrize("layout_name", LAYOUTS)
@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_every_scenario_renders(scenario: Scenario, layout_name: str) -> None:
    layout = layout_for(scenario, layout_name)
    docs = render_scenario(scenario, layout)
    kinds = [doc.kind for doc in docs]
    assert kinds[0] == "Namespace"
    assert layout.client_ns in [d.name for d in docs if d.kind == "Namespace"]
    # Every client role the scenario probes from has its pod.
    pods = {(d.namespace, d.name) for d in docs if d.kind == "Pod"}
    for role in scenario.clients:
        namespace, pod, _ = layout.client_pod(role)
        assert (namespace, pod) in pods, role
    # Each pattern resource contributes at least one document.
    sources = {doc.source for doc in docs}
    for name in scenario.resources:
        assert f"patterns/{scenario.id}/{name}.yaml" in sources
    # What `render` prints is what kubectl would read back.
    reread = [d for d in yaml.safe_load_all(to_yaml(docs)) if d is not None]
    assert reread == [doc.body for doc in docs]


@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_every_template_variable_exists(scenario: Scenario) -> None:
    """StrictUndefined only catches the branches a render takes; this reads every template."""
    renderer = Renderer()
    known = set(renderer.variables(scenario, Layout.seed(scenario)))
    templates = [f"base/{name}.yaml" for name in BASE_TEMPLATES]
    templates += [f"patterns/{scenario.id}/{name}.yaml" for name in scenario.resources]
    for path in templates:
        source = (MANIFESTS_DIR / path).read_text()
        used = jinja2.meta.find_undeclared_variables(renderer.env.parse(source))
        assert used <= known, f"{path} uses undefined {sorted(used - known)}"


@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_every_pattern_file_is_applied_by_its_scenario(scenario: Scenario) -> None:
    directory = MANIFESTS_DIR / "patterns" / scenario.id
    on_disk = {path.stem for path in directory.glob("*.yaml")}
    assert on_disk == set(scenario.resources)


def test_base_documents_come_in_apply_order() -> None:
    p = plan(GATEWAY_HTTP, Layout.isolated_for(GATEWAY_HTTP, "r"))
    kinds = [doc.kind for doc in p.base]
    # Namespaces, then Secrets, then the gateway, then the clients that mount the Secrets.
    assert kinds.index("Secret") > max(i for i, k in enumerate(kinds) if k == "Namespace")
    assert kinds.index("Deployment") > kinds.index("Secret")
    assert kinds.index("Pod") > kinds.index("Deployment")
    assert [d.name for d in p.workloads] == [p.layout.gateway_name, "curl"]


def test_plan_for_an_isolated_run() -> None:
    layout = Layout.isolated_for(GATEWAY_HTTP, "r")
    p = plan(GATEWAY_HTTP, layout)
    assert p.create_namespaces == (layout.client_ns, layout.gateway_ns)
    assert p.delete_namespaces == (layout.client_ns, layout.gateway_ns)
    # Everything lives in owned namespaces: deleting them cleans up.
    assert p.cleanup_documents == ()
    assert [d.kind for d in p.steps[0].apply] == ["ServiceEntry", "Gateway", "VirtualService"]
    assert all(d.namespace == layout.client_ns for d in p.steps[0].apply)


def test_plan_on_the_shared_gateway_cleans_up_istio_system_objects() -> None:
    shared = replace(GATEWAY_HTTP, gateway="shared")
    layout = Layout.isolated_for(shared, "r")
    p = plan(shared, layout)
    assert "istio-system" not in p.create_namespaces + p.delete_namespaces
    leftovers = {(d.kind, d.namespace, d.name) for d in p.cleanup_documents}
    assert leftovers == {("Secret", "istio-system", layout.fake_ca_secret),
                         ("Secret", "istio-system", layout.client_cert_secret)}
    # No gateway Deployment of its own.
    assert not [d for d in p.base if d.kind == "Deployment"]


def test_seed_layout_owns_nothing_and_deletes_objects_one_by_one() -> None:
    p = plan(GATEWAY_HTTP, Layout.seed(GATEWAY_HTTP))
    assert p.delete_namespaces == ()
    assert p.create_namespaces == ("default",)
    cleanup = p.cleanup_documents
    assert cleanup[0].kind == "VirtualService"  # newest first
    assert {d.kind for d in cleanup} >= {"Secret", "Pod", "ServiceEntry", "Gateway"}


def test_steps_apply_and_delete_their_resources() -> None:
    scenario = catalog.by_id("passthrough-double-tls")
    p = plan(scenario, Layout.isolated_for(scenario, "r"))
    first, second = p.steps
    assert "DestinationRule" in [d.kind for d in first.apply]
    assert second.apply == ()
    assert [(d.kind, d.name) for d in second.delete] == [
        ("DestinationRule", "originate-tls-for-httpbin")]


def test_trust_material_fills_the_secrets_and_redaction_hides_it(tmp_path: Path) -> None:
    ca, cert, key = tmp_path / "ca.crt", tmp_path / "client.crt", tmp_path / "client.key"
    ca.write_text("-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n")
    cert.write_text("-----BEGIN CERTIFICATE-----\nCLIENT\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nSECRETKEY\n-----END PRIVATE KEY-----\n")
    trust = TrustMaterial.from_files(ca, cert, key)
    assert "SECRETKEY" not in repr(trust)
    layout = Layout.isolated_for(GATEWAY_HTTP, "r")
    docs = plan(GATEWAY_HTTP, layout, trust).base
    gateway_ca = next(d for d in docs if d.kind == "Secret" and d.namespace == layout.gateway_ns
                      and d.name == layout.fake_ca_secret)
    assert gateway_ca.body["stringData"]["cacert"] == ca.read_text()
    assert gateway_ca.body["stringData"]["ca.crt"] == ca.read_text()
    client = next(d for d in docs if d.kind == "Secret" and d.name == layout.client_cert_secret)
    assert set(client.body["stringData"]) == {"tls.crt", "tls.key", "ca.crt"}
    assert "SECRETKEY" in to_yaml(docs)
    redacted = to_yaml(docs, redact_secrets=True)
    assert "SECRETKEY" not in redacted and "BEGIN CERTIFICATE" not in redacted
    assert REDACTED in redacted


def test_missing_trust_files_raise_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"trust material: cannot read .*ca\.crt"):
        TrustMaterial.from_files(tmp_path / "ca.crt", tmp_path / "c", tmp_path / "k")


@pytest.fixture()
def scratch(tmp_path: Path) -> tuple[Renderer, Scenario]:
    """A renderer over a copy of the base templates and one scratch pattern directory."""
    for name in BASE_TEMPLATES:
        target = tmp_path / "base" / f"{name}.yaml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text((MANIFESTS_DIR / "base" / f"{name}.yaml").read_text())
    (tmp_path / "patterns" / "scratch").mkdir(parents=True)
    scenario = replace(GATEWAY_HTTP, id="scratch",
                       steps=(Step(says="scratch", apply=("thing",)),))
    return Renderer(tmp_path), scenario


def write_thing(renderer: Renderer, text: str) -> None:
    (renderer.manifests_dir / "patterns" / "scratch" / "thing.yaml").write_text(text)


def test_undefined_variable_names_the_template(scratch: tuple[Renderer, Scenario]) -> None:
    renderer, scenario = scratch
    write_thing(renderer, "kind: ConfigMap\nmetadata:\n  name: {{ gateway_nmae }}\n")
    with pytest.raises(ManifestError, match=r"template patterns/scratch/thing\.yaml: "
                                            r"'gateway_nmae' is undefined"):
        renderer.scenario(scenario, Layout.seed(scenario))


def test_missing_template_names_the_path(scratch: tuple[Renderer, Scenario]) -> None:
    renderer, scenario = scratch
    with pytest.raises(ManifestError, match=r"template patterns/scratch/thing\.yaml: not found"):
        renderer.scenario(scenario, Layout.seed(scenario))


def test_bad_yaml_names_the_template_and_line(scratch: tuple[Renderer, Scenario]) -> None:
    renderer, scenario = scratch
    write_thing(renderer, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
    with pytest.raises(ManifestError, match=r"patterns/scratch/thing\.yaml: rendered YAML does "
                                            r"not parse line \d+"):
        renderer.scenario(scenario, Layout.seed(scenario))


def test_a_namespaced_object_must_name_its_namespace(
        scratch: tuple[Renderer, Scenario]) -> None:
    renderer, scenario = scratch
    write_thing(renderer, "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n")
    with pytest.raises(ManifestError, match=r"ConfigMap/x has no metadata\.namespace"):
        renderer.scenario(scenario, Layout.seed(scenario))


def test_jinja_syntax_error_names_the_template(scratch: tuple[Renderer, Scenario]) -> None:
    renderer, scenario = scratch
    write_thing(renderer, "{% if %}\n")
    with pytest.raises(ManifestError, match=r"template patterns/scratch/thing\.yaml"):
        renderer.scenario(scenario, Layout.seed(scenario))


def test_layout_of_another_scenario_is_refused() -> None:
    other = catalog.by_id("passthrough")
    with pytest.raises(ManifestError, match="layout is for scenario passthrough"):
        render_scenario(GATEWAY_HTTP, Layout.seed(other))


def test_jinja_environment_is_strict() -> None:
    assert Renderer().env.undefined is jinja2.StrictUndefined


def test_empty_documents_are_dropped_and_numbering_matches_lint() -> None:
    from egress_e2e.rendering import lint
    from egress_e2e.rendering.render import parse_documents

    text = ("---\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n---\n"
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: b, labelz: {}}\n")
    docs = parse_documents(text, "x.yaml")
    assert [(d.index, d.name) for d in docs] == [(1, "a"), (2, "b")]
    # lint numbers the same document the same way, so its line points at the right one.
    assert [p.doc for p in lint.lint_text(text, "x.yaml")] == [2]
    assert [p.doc for p in lint.lint_rendered(docs, "t")] == [2]


def test_document_repr_never_shows_secret_values() -> None:
    trust = TrustMaterial("CA-PEM", "CERT-PEM", "KEY-PEM-VALUE")
    docs = plan(GATEWAY_HTTP, Layout.seed(GATEWAY_HTTP), trust).base
    secret = next(d for d in docs if d.kind == "Secret" and "tls.key" in d.body["stringData"])
    assert secret.body["stringData"]["tls.key"] == "KEY-PEM-VALUE"
    assert "KEY-PEM-VALUE" not in repr(docs)
    assert repr(secret) == ("Document(base/trust.yaml#2 "
                            "Secret/default/client-credential)")


def test_a_revisioned_mesh_injects_by_revision() -> None:
    """On an existing mesh with only istiod-<rev>, istio-injection=enabled injects nothing:
    the scenario's namespaces and its gateway name the revision instead."""
    layout = Layout.isolated_for(GATEWAY_HTTP, "r", revision="1-31-1")
    docs = render_scenario(GATEWAY_HTTP, layout)
    namespaces = [d.body["metadata"]["labels"] for d in docs if d.kind == "Namespace"]
    injected = [labels for labels in namespaces if "istio.io/rev" in labels]
    assert injected and all(labels["istio.io/rev"] == "1-31-1" for labels in injected)
    assert not [labels for labels in namespaces if "istio-injection" in labels]
    [gateway] = [d for d in docs if d.kind == "Deployment"]
    pod_labels = gateway.body["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["istio.io/rev"] == "1-31-1"
    default = render_scenario(GATEWAY_HTTP, Layout.isolated_for(GATEWAY_HTTP, "r"))
    assert not [d for d in default if "istio.io/rev" in str(d.body)]
