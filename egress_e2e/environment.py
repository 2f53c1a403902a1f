"""The e2e environment: what the session prepared (cluster, Istio, fake internet) and how to
hand it to xdist workers as JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from egress_e2e import docker
from egress_e2e.errors import ConfigError
from egress_e2e.settings import Settings
from egress_e2e.timings import PhaseTimer


@dataclass(frozen=True)
class E2EEnvironment:
    run_id: str
    kubeconfig: Path
    istio_version: str
    kubernetes_version: str
    cluster_name: str | None          # None for --existing-kubeconfig
    kind_version: str | None
    created_cluster: bool
    artifacts_dir: Path
    private_dir: Path                  # keys live here (0700), never under artifacts
    timeout_scale: float = 1.0
    trust_domain: str = "cluster.local"
    access_log_encoding: str = "TEXT"
    network_policy_enforced: bool | None = None
    # What the fake internet placement reported: DNS name -> address, proxy address, etc.
    fakes: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("kubeconfig", "artifacts_dir", "private_dir"):
            data[key] = str(data[key])
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> E2EEnvironment:
        data = json.loads(text)
        for key in ("kubeconfig", "artifacts_dir", "private_dir"):
            data[key] = Path(data[key])
        return cls(**data)

    def describe(self) -> dict[str, object]:
        """The versions a report shows next to the results."""
        return {
            "run_id": self.run_id,
            "istio_version": self.istio_version,
            "kubernetes_version": self.kubernetes_version,
            "kind_version": self.kind_version,
            "cluster": self.cluster_name,
        }


def prepare(settings: Settings, timer: PhaseTimer) -> E2EEnvironment:
    """Docker, tools, cluster, Istio and the fake internet, once per session."""
    if settings.uses_kind:
        with timer.phase("preflight", "Docker engine answers"):
            docker.require_engine()
    raise ConfigError("the e2e session setup is not wired yet")


def teardown(env: E2EEnvironment, settings: Settings, timer: PhaseTimer) -> None:
    del env, settings, timer
