"""A recording Kubernetes API for the offline tests of code that drives a cluster.

The Kubernetes API cannot run here, so ``RecordingKube`` keeps what the code sends (applies,
waits, execs, deletes) and answers like a cluster whose pods are Ready. Its ``exec`` runs curl
for real, here, pointed at the local fake internet: the seed hosts' fixed ports map to the
local fakes' ports and the pod's mounted PKI to the local one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from egress_e2e.core import proc
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.fakes import local
from egress_e2e.infra.kube import DeploymentStatus, ExecResult, PodInfo
from egress_e2e.scenario import hosts

# The runner's waits, short: the local fakes answer at once.
FAST = Timeouts(converge=8.0, settle=1.5, interval=0.2, probe=5.0, evidence=0.5)


@dataclass
class Item:
    """A pytest item, as the report and diagnostics use it."""

    user_properties: list[tuple[str, object]] = field(default_factory=list)
    nodeid: str = "scenarios/test_catalog.py::test_scenario[serviceentry-direct]"
    sections: list[tuple[str, str, str]] = field(default_factory=list)

    def add_report_section(self, when: str, key: str, content: str) -> None:
        self.sections.append((when, key, content))


@dataclass
class RecordingKube:
    """A ``KubeApi`` that records what it is sent; curl execs run locally against the fakes."""

    fakes: local.LocalFakes
    calls: list[tuple[str, Any]] = field(default_factory=list)
    # What ``logs`` answers for a (namespace, pod) (a ztunnel's, say); empty otherwise.
    log_texts: dict[tuple[str, str], str] = field(default_factory=dict)

    def apply(self, docs: Sequence[Mapping[str, Any]]) -> None:
        self.calls.append(("apply", [dict(d) for d in docs]))

    def delete(self, docs: Sequence[Mapping[str, Any]]) -> None:
        self.calls.append(("delete", [f"{d['kind']}/{d['metadata']['name']}" for d in docs]))

    def delete_namespace(self, name: str) -> None:
        self.calls.append(("delete_namespace", name))

    def pods(self, namespace: str, selector: str) -> list[PodInfo]:
        self.calls.append(("pods", (namespace, selector)))
        name = selector.split("=", 1)[1].split(",", maxsplit=1)[0]
        return [PodInfo(name, namespace, "Running", True, ("curl",), ("istio-proxy",), "10.0.0.9")]

    def exec(self, namespace: str, pod: str, container: str, argv: Sequence[str],
             timeout: float) -> ExecResult:
        self.calls.append(("exec", (namespace, pod, container, list(argv))))
        if argv[0] != "curl":
            return ExecResult("", f"{argv[0]}: not in this recording", 127)
        done = proc.run(self._locally(argv), timeout=timeout, check=False)
        return ExecResult(done.stdout, done.stderr, done.returncode)

    def _locally(self, argv: Sequence[str]) -> list[str]:
        """The pod's curl, here: the mounted PKI path and the seed host's ports map to the
        local fakes."""
        pki = str(self.fakes.pki.directory)
        mapped = [arg.replace("/etc/fake-internet", pki) for arg in argv]
        ports = self.fakes.ports
        return ["curl", "--connect-to", f":{hosts.HTTP_PORT}:127.0.0.1:{ports.http}",
                "--connect-to", f":{hosts.TLS_PORT}:127.0.0.1:{ports.tls}",
                "--connect-to", f":{hosts.CONNECT_PORT}:127.0.0.1:{ports.connect}",
                *mapped[1:]]

    def logs(self, namespace: str, pod: str, container: str, *,
             since_seconds: int | None = None, previous: bool = False) -> str:
        self.calls.append(("logs", (namespace, pod, container)))
        return self.log_texts.get((namespace, pod), "")

    def events(self, namespace: str) -> str:
        return ""

    def configmap_data(self, namespace: str, name: str) -> dict[str, str]:
        return {}

    def replace_configmap_data(self, namespace: str, name: str,
                               data: Mapping[str, str]) -> None:
        self.calls.append(("configmap", (namespace, name)))

    def server_version(self) -> str:
        return "v1.37.0"

    def restart_deployment(self, namespace: str, name: str, restarted_at: str) -> bool:
        self.calls.append(("restart", (namespace, name)))
        return True

    def deployment_status(self, namespace: str, name: str) -> DeploymentStatus:
        return DeploymentStatus(name, 2, 2, 2, 2, 2, 2, 2)


@dataclass
class LocalLogs:
    fakes: local.LocalFakes

    def read(self, which: str) -> str:
        return self.fakes.nginx_access_log() if which == "nginx" else \
            self.fakes.proxy_access_log()

    def container_names(self) -> tuple[str, ...]:
        return ()


