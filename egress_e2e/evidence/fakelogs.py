"""Reading the fake internet's logs from any process of the session (xdist workers included):
the session hands workers only names, and the logs are read by container or pod name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from egress_e2e.core import proc
from egress_e2e.fakes import containers, incluster
from egress_e2e.fakes.placement import ClusterPlacement, LogName


class FakeLogReader(Protocol):
    def read(self, which: LogName) -> str: ...
    def container_names(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class FakeLogs:
    placement: ClusterPlacement
    run_id: str
    kubeconfig: str
    kubectl: str = "kubectl"
    docker: str = "docker"

    def argv(self, which: LogName) -> list[str]:
        """The command that prints ``which`` fake's log (also used by diagnostics)."""
        if self.placement == "containers":
            return [self.docker, "logs", containers.container_name(self.run_id, which)]
        deployment, container = ((incluster.WEB_NAME, "nginx") if which == "nginx"
                                 else (incluster.PROXY_NAME, "envoy"))
        return incluster.logs_argv(self.kubectl, self.kubeconfig, self.run_id, deployment,
                                   container)

    def read(self, which: LogName) -> str:
        done = proc.run(self.argv(which), timeout=30.0)
        # docker logs splits the container's stdout and stderr; nginx and Envoy log to either.
        return done.stdout + done.stderr

    def container_names(self) -> tuple[str, ...]:
        if self.placement != "containers":
            return ()
        return tuple(containers.container_name(self.run_id, role)
                     for role in ("httpbin", "nginx", "connect-proxy"))
