"""Render a scenario's manifests: base resources plus its pattern templates, for one layout.

Templates live under ``manifests/`` (Jinja2, StrictUndefined, one or more YAML documents each):
``base/*.yaml`` are rendered for every scenario, ``patterns/<id>/<resource>.yaml`` are the ones
``Step.apply`` names. The runner asks for a ``Plan``: what to apply first, what each step applies
and deletes, which namespaces the run owns, and what to delete one by one afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import jinja2
import yaml

from egress_e2e.core.errors import ManifestError
from egress_e2e.core.paths import MANIFESTS_DIR
from egress_e2e.core.redact import secret_values_hidden
from egress_e2e.infra.ambient import DATAPLANE_MODE_LABEL, USE_WAYPOINT_LABEL
from egress_e2e.infra.images import image
from egress_e2e.rendering.kube_yaml import KubectlYamlLoader
from egress_e2e.rendering.layout import CLIENT_PODS, PROTECTED_NAMESPACES, Layout
from egress_e2e.scenario.model import Scenario, Step

# Base templates in apply order: namespaces before what lives in them, Secrets and accounts
# before the pods that mount or use them.
BASE_TEMPLATES: Final = (
    "namespaces",
    "trust",
    "gateway",
    "clients",
    "outbound-policy",
)

# Images the base workloads run (pinned by digest in versions.toml).
WORKLOAD_ROLES: Final = ("curl", "httpbin")


def sidecar_egress_hosts(scenario: Scenario, layout: Layout) -> list[str]:
    """What the clients' namespace-wide Sidecar lets them see: the scenario's own list, else,
    in the isolated layout, the scenario's namespaces and istio-system (the shared gateway).
    Gateway API routes have no exportTo, and a sidecar's TLS listener takes every matching
    route whatever its namespace (pilot/pkg/networking/core/listener.go,
    buildSidecarOutboundTCPListenerOpts), so without this scope one scenario's TLSRoutes would
    steer another's TLS. The seed layout keeps the default scope, as the seeds do."""
    if scenario.sidecar_egress_hosts:
        return list(scenario.sidecar_egress_hosts)
    if not layout.isolated:
        return []
    return [*(f"{namespace}/*" for namespace in layout.owned_namespaces), "istio-system/*"]


def workload_images() -> dict[str, str]:
    """Read when rendering, not at import: a broken versions.toml must fail as one line."""
    return {role: image(role).ref for role in WORKLOAD_ROLES}

# Kinds that live in a namespace; a template must say which (kubectl's context must not decide).
CLUSTER_SCOPED_KINDS: Final = frozenset(
    {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
)

_PLACEHOLDER_PEM: Final = "per-run {what}: the e2e run fills this in (render shows a placeholder)"


@dataclass(frozen=True)
class TrustMaterial:
    """The per-run fake CA and client certificate (PEM text) the base Secrets carry."""

    ca_pem: str
    client_cert_pem: str
    client_key_pem: str = field(repr=False)

    @classmethod
    def placeholder(cls) -> TrustMaterial:
        return cls(
            ca_pem=_PLACEHOLDER_PEM.format(what="fake CA certificate"),
            client_cert_pem=_PLACEHOLDER_PEM.format(what="client certificate"),
            client_key_pem=_PLACEHOLDER_PEM.format(what="client private key"),
        )

    @classmethod
    def from_files(cls, ca_cert: Path, client_cert: Path, client_key: Path) -> TrustMaterial:
        try:
            return cls(ca_cert.read_text(), client_cert.read_text(), client_key.read_text())
        except OSError as exc:
            raise ManifestError(f"trust material: cannot read {exc.filename}: "
                                f"{exc.strerror}") from exc


@dataclass(frozen=True)
class Document:
    """One rendered YAML document and where it came from."""

    source: str      # template path under manifests/, e.g. "patterns/passthrough/gateway.yaml"
    index: int       # 1-based position among the template's documents
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        return str(_metadata(self.body).get("name", ""))

    @property
    def namespace(self) -> str | None:
        value = _metadata(self.body).get("namespace")
        return None if value is None else str(value)

    @property
    def ref(self) -> str:
        """``Kind/namespace/name``, the identity kubectl would act on."""
        return f"{self.kind}/{self.namespace or '-'}/{self.name}"

    @property
    def sensitive(self) -> bool:
        return self.kind == "Secret"

    def __repr__(self) -> str:
        # Never the body: a Secret's holds the per-run client key, and reprs end up in test
        # failure output and logs.
        return f"Document({self.source}#{self.index} {self.ref})"


@dataclass(frozen=True)
class StepPlan:
    step: Step
    apply: tuple[Document, ...]
    delete: tuple[Document, ...]

    @property
    def workloads(self) -> tuple[Document, ...]:
        """Deployments and Pods this step applies: wait for them to be ready before checks."""
        return workloads(self.apply)


@dataclass(frozen=True)
class Plan:
    """Everything the runner applies for one scenario run, in order.

    1. create ``create_namespaces`` (their Namespace documents are the first base documents);
    2. apply ``base`` (Secrets, gateway, clients, Sidecar), wait for ``workloads``;
    3. per step: delete ``step.delete``, apply ``step.apply``, wait, run the step's checks;
    4. clean up: delete ``cleanup_documents`` (objects outside the owned namespaces, newest
       first), then the ``delete_namespaces``.
    """

    scenario: Scenario
    layout: Layout
    base: tuple[Document, ...]
    steps: tuple[StepPlan, ...]

    @property
    def create_namespaces(self) -> tuple[str, ...]:
        return tuple(doc.name for doc in self.base if doc.kind == "Namespace")

    @property
    def delete_namespaces(self) -> tuple[str, ...]:
        return self.layout.owned_namespaces

    @property
    def workloads(self) -> tuple[Document, ...]:
        return workloads(self.base)

    @property
    def documents(self) -> tuple[Document, ...]:
        """Base plus every document any step applies (first use), as ``render`` prints."""
        seen: dict[str, Document] = {}
        for doc in (*self.base, *(d for s in self.steps for d in s.apply)):
            seen.setdefault(f"{doc.source}#{doc.index}", doc)
        return tuple(seen.values())

    @property
    def cleanup_documents(self) -> tuple[Document, ...]:
        owned = set(self.layout.owned_namespaces)
        kept = [doc for doc in self.documents
                if doc.kind != "Namespace" and doc.namespace not in owned]
        return tuple(reversed(kept))


class Renderer:
    def __init__(self, manifests_dir: Path = MANIFESTS_DIR) -> None:
        self.manifests_dir = manifests_dir
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(manifests_dir)),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
            autoescape=False,  # noqa: S701 - YAML, not HTML
        )

    def variables(self, scenario: Scenario, layout: Layout,
                  trust: TrustMaterial | None = None) -> dict[str, Any]:
        """The contract's variables plus what the base templates need from the scenario."""
        material = trust or TrustMaterial.placeholder()
        if layout.scenario_id != scenario.id:
            raise ManifestError(f"layout is for scenario {layout.scenario_id}, "
                                f"not {scenario.id}")
        trust_namespaces = [layout.client_ns]
        if "other" in scenario.clients:
            trust_namespaces.append(layout.other_ns)
        if scenario.gateway != "none":
            trust_namespaces.append(layout.gateway_ns)
        return {
            **layout.variables(),
            "clients": list(scenario.clients),
            "client_pods": {role: {"namespace": layout.client_namespace(role), "pod": pod,
                                   "service_account": sa}
                            for role, (pod, sa) in CLIENT_PODS.items()
                            if role in scenario.clients},
            "gateway_mode": scenario.gateway,
            "deploy_gateway": layout.deploy_gateway,
            "outbound_policy": scenario.outbound_policy,
            "sidecar_egress_hosts": sidecar_egress_hosts(scenario, layout),
            "port_80_placeholder": not scenario.sidecar_egress_hosts,
            "client_namespaces": list(dict.fromkeys(
                layout.client_namespace(role) for role in scenario.clients)),
            "proxy_config": scenario.proxy_config,
            "namespaces": _namespaces_to_declare(scenario, layout),
            "trust_namespaces": list(dict.fromkeys(trust_namespaces)),
            "images": workload_images(),
            "ca_pem": material.ca_pem,
            "client_cert_pem": material.client_cert_pem,
            "client_key_pem": material.client_key_pem,
        }

    def template(self, path: str, variables: dict[str, Any]) -> list[Document]:
        """Render one template (path under manifests/) into its documents."""
        try:
            text = self.env.get_template(path).render(variables)
        except jinja2.TemplateNotFound as exc:
            raise ManifestError(f"template {path}: not found under {self.manifests_dir}") \
                from exc
        except jinja2.UndefinedError as exc:
            raise ManifestError(f"template {path}: {exc.message}") from exc
        except jinja2.TemplateError as exc:
            raise ManifestError(f"template {path}: {exc}") from exc
        return parse_documents(text, path)

    def base(self, scenario: Scenario, layout: Layout,
             trust: TrustMaterial | None = None) -> list[Document]:
        variables = self.variables(scenario, layout, trust)
        docs: list[Document] = []
        for name in BASE_TEMPLATES:
            docs.extend(self.template(f"base/{name}.yaml", variables))
        return docs

    def resources(self, scenario: Scenario, layout: Layout,
                  names: Sequence[str]) -> list[Document]:
        variables = self.variables(scenario, layout)
        docs: list[Document] = []
        for name in names:
            docs.extend(self.template(pattern_path(scenario.id, name), variables))
        return docs

    def plan(self, scenario: Scenario, layout: Layout,
             trust: TrustMaterial | None = None) -> Plan:
        steps = tuple(
            StepPlan(step=step,
                     apply=tuple(self.resources(scenario, layout, step.apply)),
                     delete=tuple(self.resources(scenario, layout, step.delete)))
            for step in scenario.steps
        )
        return Plan(scenario=scenario, layout=layout,
                    base=tuple(self.base(scenario, layout, trust)), steps=steps)

    def scenario(self, scenario: Scenario, layout: Layout,
                 trust: TrustMaterial | None = None) -> list[Document]:
        """Every document the scenario applies (base first), each once."""
        return list(self.plan(scenario, layout, trust).documents)


def pattern_path(scenario_id: str, resource: str) -> str:
    return f"patterns/{scenario_id}/{resource}.yaml"


def parse_documents(text: str, source: str) -> list[Document]:
    """Split rendered YAML into documents; empty ones (a false ``{% if %}``) are dropped."""
    try:
        # As kubectl would read it: what the run applies is what a user's kubectl would send.
        loaded = list(yaml.load_all(text, Loader=KubectlYamlLoader))
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" line {mark.line + 1}"
        raise ManifestError(f"template {source}: rendered YAML does not parse{where}: "
                            f"{getattr(exc, 'problem', exc)}") from exc
    docs: list[Document] = []
    # Numbered among non-empty documents, as kubectl (and lint) count them.
    for position, body in enumerate((b for b in loaded if b is not None), start=1):
        if not isinstance(body, dict):
            raise ManifestError(f"template {source}: document {position} is a "
                                f"{type(body).__name__}, expected a mapping")
        doc = Document(source=source, index=position, body=body)
        if not doc.kind or not doc.name:
            raise ManifestError(f"template {source}: document {position} has no kind or "
                                "metadata.name")
        if doc.kind not in CLUSTER_SCOPED_KINDS and not doc.namespace:
            raise ManifestError(f"template {source}: {doc.kind}/{doc.name} has no "
                                "metadata.namespace (templates must not rely on kubectl's)")
        docs.append(doc)
    return docs


def workloads(docs: Iterable[Document]) -> tuple[Document, ...]:
    return tuple(doc for doc in docs if doc.kind in ("Deployment", "Pod"))


def to_yaml(docs: Iterable[Document], redact_secrets: bool = False) -> str:
    """Multi-document YAML ready for ``kubectl apply -f -``, each with its source noted.

    ``redact_secrets`` blanks Secret values: use it for anything written to artifacts.
    """
    parts: list[str] = []
    for doc in docs:
        body = secret_values_hidden(doc.body) if redact_secrets and doc.sensitive else doc.body
        dumped = yaml.safe_dump(body, sort_keys=False, default_flow_style=False)
        parts.append(f"# Source: {doc.source}\n{dumped}")
    return "---\n".join(parts)


def _metadata(body: dict[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata")
    return meta if isinstance(meta, dict) else {}


def _namespaces_to_declare(scenario: Scenario, layout: Layout) -> list[dict[str, Any]]:
    """Namespace documents: the clients' (injection on), and the gateway's when deployed.

    Ambient: the clients' namespaces are captured by ztunnel (istio.io/dataplane-mode), never
    injected; the egress namespace holds the waypoint and is labelled to use it, as
    ``istioctl waypoint apply --enroll-namespace`` labels it (infra/ambient.py)."""
    if layout.ambient:
        captured = {DATAPLANE_MODE_LABEL: "ambient"}
        ambient: dict[str, dict[str, str]] = {layout.client_ns: captured}
        if "other" in scenario.clients:
            ambient.setdefault(layout.other_ns, captured)
        if scenario.gateway == "own":
            ambient.setdefault(layout.gateway_ns, {USE_WAYPOINT_LABEL: layout.gateway_name})
        return [{"name": name, "injection": False, "labels": labels}
                for name, labels in ambient.items()]
    declared: dict[str, bool] = {layout.client_ns: True}
    if "other" in scenario.clients:
        declared.setdefault(layout.other_ns, True)
    if layout.deploy_gateway:
        # The gateway pod asks for injection itself (label + gateway template).
        declared.setdefault(layout.gateway_ns, False)
    return [{"name": name, "injection": injection, "labels": {}}
            for name, injection in declared.items()]


_DEFAULT = Renderer()


def add_templates(templates: Mapping[str, str]) -> None:
    """Serve ``templates`` (path under manifests/ -> Jinja text) in the default renderer, ahead
    of the manifests directory: scenario files' resources (rendering/file_templates.py). The
    mapping is read live (Jinja's DictLoader re-checks it), so later edits to it are served;
    adding the same mapping again changes nothing."""
    loader = _DEFAULT.env.loader
    current = list(loader.loaders) if isinstance(loader, jinja2.ChoiceLoader) \
        else [loader] if loader is not None else []
    if any(isinstance(one, jinja2.DictLoader) and one.mapping is templates for one in current):
        return
    _DEFAULT.env.loader = jinja2.ChoiceLoader([jinja2.DictLoader(templates), *current])


@dataclass(frozen=True)
class Omitted:
    """A document ``render`` leaves out of the seed layout, and why."""

    ref: str
    why: str


def safe_to_apply(docs: Sequence[Document], layout: Layout
                  ) -> tuple[list[Document], list[Omitted]]:
    """The seed layout as a person may apply it to their own cluster: without the harness's
    placeholder Secrets (same-named Secrets of theirs would be overwritten) and without
    Namespace documents for namespaces every cluster has (applying them adds labels). The
    isolated layout is returned whole: it is what a test applies to namespaces of its own."""
    if layout.isolated:
        return list(docs), []
    kept: list[Document] = []
    omitted: list[Omitted] = []
    for doc in docs:
        if doc.kind == "Secret":
            keys = sorted({*(doc.body.get("data") or {}), *(doc.body.get("stringData") or {})})
            omitted.append(Omitted(doc.ref, "placeholder trust material for the harness's fake "
                                            "internet; if your pattern reads this Secret, create "
                                            f"your own with keys {', '.join(keys)}"))
        elif doc.kind == "Namespace" and doc.name in PROTECTED_NAMESPACES:
            labels = _metadata(doc.body).get("labels") or {}
            said = " ".join(f"{key}={value}" for key, value in sorted(labels.items()))
            how = (f"For ambient: kubectl label namespace {doc.name} "
                   f"istio.io/dataplane-mode=ambient" if layout.ambient else
                   f"For sidecars, as the seeds do: kubectl label namespace {doc.name} "
                   f"istio-injection=enabled")
            omitted.append(Omitted(doc.ref, f"exists already; the harness would label it "
                                            f"({said}). {how}"))
        else:
            kept.append(doc)
    return kept, omitted


def omitted_header(scenario_id: str, omitted: Sequence[Omitted]) -> str:
    """The comment ``render`` prints first: what it left out, one line each."""
    lines = [f"# egress-e2e render {scenario_id}: the seed layout, safe to apply as printed."]
    if omitted:
        lines.append("# Left out:")
        lines += [f"#   {item.ref}: {item.why}" for item in omitted]
    return "\n".join(lines) + "\n"


def plan(scenario: Scenario, layout: Layout, trust: TrustMaterial | None = None) -> Plan:
    return _DEFAULT.plan(scenario, layout, trust)


def render_scenario(scenario: Scenario, layout: Layout,
                    trust: TrustMaterial | None = None) -> list[Document]:
    return _DEFAULT.scenario(scenario, layout, trust)
