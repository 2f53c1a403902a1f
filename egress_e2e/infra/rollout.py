"""Waiting for workloads: pods that are Ready, polled through ``KubeApi`` with a bounded wait."""

from __future__ import annotations

from egress_e2e.core.waits import eventually
from egress_e2e.infra.kube import DeploymentStatus, KubeApi, PodInfo


def pod_problems(pods: list[PodInfo], expected: int = 1) -> list[str]:
    """Why these pods are not yet what a test can use (empty when they are)."""
    if len(pods) < expected:
        return [f"{len(pods)} pod(s), want {expected}"]
    return [f"{p.name}: phase {p.phase}, ready {p.ready}" for p in pods
            if not (p.ready and p.phase == "Running")]


def describe_pods(pods: list[PodInfo]) -> str:
    if not pods:
        return "no pods"
    return ", ".join(f"{p.name} ({p.phase}, ready={p.ready})" for p in pods)


def wait_pods_ready(api: KubeApi, namespace: str, selector: str, timeout: float,
                    expected: int = 1, *, interval: float = 1.0,
                    what: str | None = None) -> list[PodInfo]:
    return eventually(
        lambda: api.pods(namespace, selector),
        lambda pods: pod_problems(pods, expected),
        what=what or f"pods {selector!r} in {namespace} Ready", timeout=timeout,
        consecutive=1, interval=interval, describe=describe_pods,
    )


def wait_pod_ip(api: KubeApi, namespace: str, selector: str, timeout: float) -> str:
    pods = wait_pods_ready(api, namespace, selector, timeout)
    ip = pods[0].ip
    if not ip:
        raise AssertionError(f"pod {pods[0].name} is Ready without an IP")
    return ip


def rollout_problems(status: DeploymentStatus) -> list[str]:
    """Why a Deployment's rollout is not finished (empty when it is), as ``kubectl rollout
    status`` judges it: the controller saw the latest spec, every replica runs the new template,
    no old pod is left, and all are available."""
    problems = []
    if status.observed_generation < status.generation:
        problems.append(f"generation {status.generation} not yet observed "
                        f"(at {status.observed_generation})")
    if status.updated < status.replicas:
        problems.append(f"{status.updated} of {status.replicas} replicas updated")
    if status.current > status.updated:
        problems.append(f"{status.current - status.updated} old replica(s) still running")
    if status.available < status.updated:
        problems.append(f"{status.available} of {status.updated} updated replicas available")
    return problems


def describe_rollout(status: DeploymentStatus) -> str:
    return (f"{status.name}: generation {status.observed_generation}/{status.generation}, "
            f"{status.updated} updated, {status.ready} ready, {status.available} available, "
            f"{status.current} total, {status.replicas} wanted")


def wait_rollout(api: KubeApi, namespace: str, name: str, timeout: float, *,
                 interval: float = 1.0) -> DeploymentStatus:
    """Until ``name``'s rollout is complete (see ``rollout_problems``)."""
    return eventually(
        lambda: api.deployment_status(namespace, name), rollout_problems,
        what=f"deployment {namespace}/{name} rolled out", timeout=timeout, consecutive=1,
        interval=interval, describe=describe_rollout,
    )
