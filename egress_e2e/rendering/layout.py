"""Where a scenario's objects live: the names its templates are rendered with.

Two layouts give the same template variables (see the shared contract):

- the **seed layout** uses the seed's own names (``default``, ``istio-system/istio-egressgateway``)
  so a person can put the rendered YAML next to the seed and compare;
- the **isolated layout** (what the e2e run applies) gives each scenario run its own namespaces,
  its own gateway, a selector label no other scenario uses, and ``exportTo`` limited to the
  scenario's namespaces, so scenarios run side by side under pytest-xdist.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Final

from egress_e2e.core.errors import ConfigError
from egress_e2e.core.labels import MAX_DNS_LABEL, RUN_LABEL_K8S
from egress_e2e.infra.ambient import GATEWAY_NAME_LABEL, WAYPOINT_NAME
from egress_e2e.scenario import hosts
from egress_e2e.scenario.identity import (
    DEFAULT_TRUST_DOMAIN,
    IDENTITY_ROLES,
    Identities,
)
from egress_e2e.scenario.model import Scenario

# A documentation address (TEST-NET-3): what `render` prints until the run knows the CONNECT
# proxy's real IP. Never routable, so a stray apply fails loudly instead of reaching something.
PLACEHOLDER_CONNECT_PROXY_ADDRESS: Final = "203.0.113.10"

# The installed (shared) egress gateway: what seed 001 and 002 use.
SHARED_GATEWAY_NS: Final = "istio-system"
SHARED_GATEWAY_NAME: Final = "istio-egressgateway"
SHARED_GATEWAY_SA: Final = "istio-egressgateway-service-account"
SHARED_GATEWAY_LABELS: Final = (("istio", "egressgateway"),)

# Namespaces a run must never delete, whatever a layout says.
PROTECTED_NAMESPACES: Final = frozenset(
    {"default", "istio-system", "kube-system", "kube-public", "kube-node-lease"}
)

# Names the isolated layout derives; these are their worst-case extra lengths around the id.
_SUFFIX_LEN: Final = 6
_LONGEST_INFIX: Final = "-other-"

# The client pods by role: (pod name, service account). Namespaces come from the layout.
CLIENT_PODS: Final = {
    "curl": ("curl", "curl"),
    "other": ("curl", "curl"),
    "uninjected": ("curl-uninjected", "curl-uninjected"),
    "restricted": ("curl-restricted", "curl-restricted"),
}
CLIENT_CONTAINER: Final = "curl"


@dataclass(frozen=True)
class Layout:
    """The template variables for one scenario in one layout, plus what the run owns."""

    scenario_id: str
    isolated: bool
    suffix: str
    client_ns: str
    other_ns: str
    gateway_ns: str
    gateway_name: str
    gateway_sa: str
    gateway_labels: tuple[tuple[str, str], ...]
    export_to: tuple[str, ...] | None
    fake_ca_secret: str
    client_cert_secret: str
    mesh_config_ns: str
    connect_proxy_address: str
    # Render the gateway's Deployment/Service/ServiceAccount (False: the install provides it).
    deploy_gateway: bool
    # Namespaces this run creates and deletes afterwards; never a protected one.
    owned_namespaces: tuple[str, ...]
    # The run these names belong to ("" in the seed layout): a label on every owned namespace,
    # so the session (and `egress-e2e clean`) can find what a crashed worker left.
    run_id: str = ""
    # Inject sidecars by this control-plane revision (istio.io/rev) instead of the default
    # (istio-injection: enabled): an existing mesh with only a revisioned istiod.
    revision: str | None = None
    # "sidecar" or "ambient": ambient namespaces are labelled for ztunnel instead of injection,
    # and the scenario's "gateway" is the egress namespace's waypoint (istiod deploys it).
    data_plane: str = "sidecar"

    @property
    def ambient(self) -> bool:
        return self.data_plane == "ambient"

    @classmethod
    def seed(cls, scenario: Scenario,
             connect_proxy_address: str = PLACEHOLDER_CONNECT_PROXY_ADDRESS,
             data_plane: str | None = None) -> Layout:
        """The seed's own names. Nothing is owned: these namespaces may hold other things."""
        names = scenario.seed_names
        plane = layout_data_plane(scenario, data_plane)
        return cls(
            scenario_id=scenario.id,
            isolated=False,
            suffix="",
            client_ns=names.client_ns,
            other_ns=names.other_ns,
            gateway_ns=names.gateway_ns,
            gateway_name=names.gateway_name,
            gateway_sa=names.gateway_sa,
            gateway_labels=names.gateway_labels,
            export_to=None,
            # Secret *names*, not secrets. Seed 001's MUTUAL origination names its one so.
            fake_ca_secret="fake-internet-ca",  # noqa: S106
            client_cert_secret="client-credential",  # noqa: S106
            mesh_config_ns=names.mesh_config_ns,
            connect_proxy_address=connect_proxy_address,
            deploy_gateway=(scenario.gateway == "own" and not names.gateway_installed
                            and plane == "sidecar"),
            owned_namespaces=(),
            data_plane=plane,
        )

    @classmethod
    def isolated_for(cls, scenario: Scenario, run_id: str, *, revision: str | None = None,
                     connect_proxy_address: str = PLACEHOLDER_CONNECT_PROXY_ADDRESS,
                     data_plane: str | None = None) -> Layout:
        """Unique names for ``scenario`` in run ``run_id``: its own namespaces and gateway."""
        plane = layout_data_plane(scenario, data_plane)
        if not run_id:
            raise ConfigError("isolated layout needs a run id, got an empty string")
        suffix = run_suffix(run_id, scenario.id)
        stem = scenario.id[: MAX_DNS_LABEL - len(_LONGEST_INFIX) - _SUFFIX_LEN].rstrip("-")
        client_ns = f"{stem}-{suffix}"
        other_ns = f"{stem}-other-{suffix}"
        if scenario.gateway == "shared":
            # One xdist group runs these serially; the Secrets still carry the suffix so a
            # leftover from an earlier run cannot be mistaken for this run's.
            gateway_ns, gateway_name, gateway_sa = (
                SHARED_GATEWAY_NS, SHARED_GATEWAY_NAME, SHARED_GATEWAY_SA)
            labels = SHARED_GATEWAY_LABELS
        elif plane == "ambient":
            # The waypoint istioctl would make: one per egress namespace, named "waypoint",
            # running as a service account of that name (istiod's gateway controller names
            # both after the Gateway: pilot/pkg/config/kube/gatewaycommon/
            # deploymentcontroller.go), its pods labelled with the Gateway's name.
            gateway_ns = f"{stem}-gw-{suffix}"
            gateway_name = gateway_sa = WAYPOINT_NAME
            labels = ((GATEWAY_NAME_LABEL, WAYPOINT_NAME),)
        else:
            gateway_ns = f"{stem}-gw-{suffix}"
            gateway_name = gateway_sa = f"gateway-{suffix}"
            labels = (("istio", f"gateway-{suffix}"),)
        owned = [client_ns]
        if "other" in scenario.clients:
            owned.append(other_ns)
        if scenario.gateway == "own":
            owned.append(gateway_ns)
        # exportTo: every namespace whose proxies need the config (clients and the gateway);
        # "." alone would hide the routes and clusters from a gateway in its own namespace.
        proxies = [client_ns]
        if "other" in scenario.clients:
            proxies.append(other_ns)
        if scenario.gateway != "none":
            proxies.append(gateway_ns)
        return cls(
            scenario_id=scenario.id,
            isolated=True,
            suffix=suffix,
            client_ns=client_ns,
            other_ns=other_ns,
            gateway_ns=gateway_ns,
            gateway_name=gateway_name,
            gateway_sa=gateway_sa,
            gateway_labels=labels,
            export_to=tuple(dict.fromkeys(proxies)),
            fake_ca_secret=f"fake-ca-{suffix}",
            client_cert_secret=f"fake-client-{suffix}",
            mesh_config_ns=client_ns,
            connect_proxy_address=connect_proxy_address,
            deploy_gateway=scenario.gateway == "own" and plane == "sidecar",
            owned_namespaces=tuple(n for n in owned if n not in PROTECTED_NAMESPACES),
            run_id=run_id,
            revision=revision,
            data_plane=plane,
        )

    @property
    def name(self) -> str:
        return "isolated" if self.isolated else "seed"

    @property
    def gateway_host(self) -> str:
        return f"{self.gateway_name}.{self.gateway_ns}.svc.cluster.local"

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.gateway_labels)

    def client_namespace(self, role: str) -> str:
        """The namespace of a client role ("other" lives in the second namespace)."""
        _check_role(role)
        return self.other_ns if role == "other" else self.client_ns

    def client_pod(self, role: str) -> tuple[str, str, str]:
        """(namespace, pod, container) to exec into for a probe from ``role``."""
        _check_role(role)
        return self.client_namespace(role), CLIENT_PODS[role][0], CLIENT_CONTAINER

    def identities(self, role: str = "curl",
                   trust_domain: str = DEFAULT_TRUST_DOMAIN) -> Identities:
        """Who "gateway", "client" (``role``'s workload), "other-client" and "workload" (the
        scenario's own server behind an ingress gateway) are here."""
        _check_role(role)
        return Identities(
            gateway_ns=self.gateway_ns, gateway_sa=self.gateway_sa,
            client_ns=self.client_namespace(role), client_sa=CLIENT_PODS[role][1],
            other_client_ns=self.other_ns, other_client_sa=CLIENT_PODS["other"][1],
            trust_domain=trust_domain)

    def spiffe_id(self, identity: str, role: str = "curl",
                  trust_domain: str = DEFAULT_TRUST_DOMAIN) -> str:
        """The SPIFFE id of one of ``IDENTITY_ROLES`` ("client" is ``role``'s workload)."""
        if identity not in IDENTITY_ROLES:
            raise ConfigError(f"unknown identity {identity!r}: expected one of "
                              f"{', '.join(IDENTITY_ROLES)}")
        return self.identities(role, trust_domain).spiffe(identity)

    def resolve(self, text: str) -> str:
        """Fill ``{client_ns}``-style fields in a probe URL (ExternalName, ingress probes)."""
        try:
            return text.format_map(self.url_fields())
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(f"scenario {self.scenario_id}: cannot resolve {text!r}: "
                              f"unknown field {exc}") from exc

    def url_fields(self) -> dict[str, str]:
        return {
            "client_ns": self.client_ns,
            "other_ns": self.other_ns,
            "gateway_ns": self.gateway_ns,
            "gateway_name": self.gateway_name,
            "gateway_host": self.gateway_host,
        }

    def variables(self) -> dict[str, Any]:
        """The contract's template variables (render adds the base templates' extras)."""
        export_to: list[str] | None = None if self.export_to is None else list(self.export_to)
        module: ModuleType = hosts
        return {
            "scenario_id": self.scenario_id,
            "suffix": self.suffix,
            "isolated": self.isolated,
            "run_id": self.run_id,
            "run_label": RUN_LABEL_K8S,
            "revision": self.revision,
            "client_ns": self.client_ns,
            "other_ns": self.other_ns,
            "gateway_ns": self.gateway_ns,
            "gateway_name": self.gateway_name,
            "gateway_host": self.gateway_host,
            "gateway_labels": self.labels,
            "gateway_sa": self.gateway_sa,
            "export_to": export_to,
            "fake_ca_secret": self.fake_ca_secret,
            "client_cert_secret": self.client_cert_secret,
            "connect_proxy_address": self.connect_proxy_address,
            "mesh_config_ns": self.mesh_config_ns,
            "data_plane": self.data_plane,
            "hosts": module,
        }


def layout_data_plane(scenario: Scenario, data_plane: str | None) -> str:
    """The data plane a layout renders ``scenario`` for: the one asked, which the scenario must
    declare, else sidecar when it applies there, else its first."""
    if data_plane is None:
        return "sidecar" if "sidecar" in scenario.data_planes else scenario.data_planes[0]
    if data_plane not in scenario.data_planes:
        raise ConfigError(f"scenario {scenario.id} runs on {'/'.join(scenario.data_planes)}, "
                          f"not {data_plane}")
    return data_plane


def run_suffix(run_id: str, scenario_id: str) -> str:
    """Six hex digits unique to (run, scenario): short enough for 63-character names."""
    digest = hashlib.sha256(f"{run_id}/{scenario_id}".encode()).hexdigest()
    return digest[:_SUFFIX_LEN]


def _check_role(role: str) -> None:
    if role not in CLIENT_PODS:
        raise ConfigError(f"unknown client role {role!r}: expected one of "
                          f"{', '.join(CLIENT_PODS)}")
