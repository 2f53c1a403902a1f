"""Upgrade runs: which upgrades Istio supports, and the commands that carry one out.

An upgrade run installs the source release, applies the selected scenarios and checks them
(phase ``before``), moves the control plane to the target release and checks again while the
workloads still run the old proxies (``skew``), restarts the workloads onto the new proxies and
checks a third time (``after``). The scenarios' resources are applied once, before, and never
again: what is checked after is what an upgraded cluster really holds.

Two methods, as Istio's upgrade docs for 1.30/1.31 describe them:

- ``in-place``: the target's ``istioctl upgrade`` over the running control plane (an alias of
  ``install`` since 1.2x: istio/istio release-1.31 operator/cmd/mesh/upgrade.go). The gateway
  Deployment is part of that install, so it rolls onto the new proxy during the upgrade itself;
  in ``skew`` only the sidecars are old.
- ``revision``: the target installed beside the old one as revision ``<major>-<minor>-<patch>``
  (a DNS-1123 label, which ``istioctl install --revision`` demands: install.go), the
  ``default`` tag moved to it, the scenario namespaces relabelled from ``istio-injection`` to
  ``istio.io/rev``, the workloads restarted, then the old revision removed with ``istioctl
  uninstall --revision default``. The target install carries the same egress gateway
  component, so the gateway moves to the new revision with the install; ``skew`` is both
  control planes present, sidecars still old. How the old install's webhooks and gateway fare
  through the tag move and the uninstall is a prediction from istioctl's source (tag.go,
  uninstall.go), not yet run.

Everything here is a pure function over releases and argv lists; the session runs them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from egress_e2e.core.errors import ConfigError
from egress_e2e.infra import istio
from egress_e2e.infra.versions import IstioRelease, Versions, parse_version

FROM_ENV = "EGRESS_E2E_UPGRADE_FROM"
METHOD_ENV = "EGRESS_E2E_UPGRADE_METHOD"


class UpgradeMethod(StrEnum):
    IN_PLACE = "in-place"
    REVISION = "revision"


class Phase(StrEnum):
    BEFORE = "before"   # the source release, as installed
    SKEW = "skew"       # the target control plane, old sidecars
    AFTER = "after"     # the target control plane and proxies


PHASES: tuple[Phase, ...] = (Phase.BEFORE, Phase.SKEW, Phase.AFTER)

# What each phase means, for reports and progress lines.
PHASE_MEANS: dict[Phase, str] = {
    Phase.BEFORE: "source release installed",
    Phase.SKEW: "target control plane, workloads still on the source release's proxies",
    Phase.AFTER: "target control plane, workloads restarted onto the target's proxies",
}


@dataclass(frozen=True)
class UpgradePlan:
    source: IstioRelease
    target: IstioRelease
    method: UpgradeMethod

    @property
    def revision(self) -> str | None:
        """The revision the target is installed as (revision method only)."""
        if self.method is UpgradeMethod.REVISION:
            return revision_name(self.target.version)
        return None

    @property
    def label(self) -> str:
        return f"{self.source.version} -> {self.target.version} ({self.method})"

    def cluster_name(self) -> str:
        return cluster_name(self.source.version, self.target.version, self.method)


def revision_name(version: str) -> str:
    """``1.31.1`` -> ``1-31-1``: dots are not allowed in a revision (a DNS-1123 label)."""
    return _dashed(version)


def _dashed(version: str) -> str:
    return version.replace(".", "-")


def plan_upgrade(versions: Versions, source: str, target: str | None, method: str
                 ) -> UpgradePlan:
    """The upgrade from ``source`` to ``target`` (None: the default release), refused in one
    line when Istio does not support it: unknown versions, a downgrade or the same release, a
    jump of more than one minor (Istio's upgrade docs support N-1 to N), another major."""
    try:
        chosen = UpgradeMethod(method)
    except ValueError:
        raise ConfigError(f"unknown upgrade method {method!r}; use "
                          f"{' or '.join(m.value for m in UpgradeMethod)}") from None
    try:
        old = versions.istio(source)
    except ConfigError as exc:
        raise ConfigError(f"--upgrade-from: {exc}") from None
    new = versions.istio(target)
    old_v, new_v = parse_version(old.version), parse_version(new.version)
    if new_v == old_v:
        raise ConfigError(f"--upgrade-from {old.version} is the target release itself; pick an "
                          "older one, or drop --upgrade-from for a fresh install")
    if new_v < old_v:
        raise ConfigError(f"upgrade from {old.version} to {new.version} is a downgrade; Istio "
                          "supports upgrades only")
    if new_v.major != old_v.major or new_v.minor - old_v.minor > 1:
        raise ConfigError(f"upgrade from {old.version} to {new.version} skips a minor; Istio "
                          "supports one minor at a time (upgrade through each minor)")
    return UpgradePlan(old, new, chosen)


def upgrade_pairs(versions: Sequence[str]) -> list[tuple[str, str]]:
    """The upgrades the nightly runs: into each minor's newest patch, from the previous minor's
    newest patch and from the previous patch of the same minor (when both are pinned)."""
    by_minor: dict[tuple[int, int], list[str]] = {}
    for version in versions:
        parsed = parse_version(version)
        by_minor.setdefault((parsed.major, parsed.minor), []).append(version)
    for members in by_minor.values():
        members.sort(key=parse_version)
    pairs: list[tuple[str, str]] = []
    for (major, minor), members in sorted(by_minor.items()):
        newest = members[-1]
        previous_minor = by_minor.get((major, minor - 1))
        if previous_minor:
            pairs.append((previous_minor[-1], newest))
        if len(members) > 1:
            pairs.append((members[-2], newest))
    return pairs


def cluster_name(source: str, target: str, method: str) -> str:
    """An upgrade cluster's name says so: a normal run never reuses one (its names are
    ``egress-e2e-<minor>``), and two upgrade pairs or methods never share one."""
    return f"egress-e2e-up-{_dashed(source)}-to-{_dashed(target)}-{method}"


# ---- the commands ----

def in_place_argv(istioctl: Path | str, target: IstioRelease, kubeconfig: Path,
                  encoding: istio.AccessLogEncoding = "TEXT") -> list[str]:
    """The target's ``istioctl upgrade`` with the settings a fresh install of it gets."""
    argv = istio.install_argv(istioctl, target, kubeconfig, encoding)
    argv[1] = "upgrade"
    return argv


def revision_install_argv(istioctl: Path | str, target: IstioRelease, kubeconfig: Path,
                          encoding: istio.AccessLogEncoding = "TEXT") -> list[str]:
    """The target installed as its own revision, beside the running control plane."""
    argv = istio.install_argv(istioctl, target, kubeconfig, encoding)
    argv[2:2] = ["--revision", revision_name(target.version)]
    return argv


def tag_default_argv(istioctl: Path | str, kubeconfig: Path, revision: str) -> list[str]:
    """Point the ``default`` revision tag (the default injector and validation webhook) at the
    new revision before the old one goes (istioctl/pkg/tag/tag.go: ``tag set``)."""
    return [str(istioctl), "tag", "set", "default", "--revision", revision, "--overwrite",
            "--kubeconfig", str(kubeconfig)]


def uninstall_old_argv(istioctl: Path | str, kubeconfig: Path) -> list[str]:
    """Remove the source control plane, installed without a revision (so ``default``)."""
    return [str(istioctl), "uninstall", "--revision", "default", "--kubeconfig",
            str(kubeconfig), "-y"]


def relabel_namespace_argv(kubectl: Path | str, kubeconfig: Path, namespace: str,
                           revision: str) -> list[str]:
    """Move a namespace's injection to ``revision``: ``istio-injection`` would win over
    ``istio.io/rev`` (Istio's injection webhook selectors), so it goes."""
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "label", "namespace", namespace,
            "istio-injection-", f"istio.io/rev={revision}", "--overwrite"]


def gateway_revision_patch_argv(kubectl: Path | str, kubeconfig: Path, namespace: str,
                                deployment: str, revision: str) -> list[str]:
    """Point a gateway Deployment's pods at ``revision``'s injector (a gateway the scenario
    deployed itself, not one the install owns)."""
    patch = {"spec": {"template": {"metadata": {"labels": {"istio.io/rev": revision}}}}}
    return [str(kubectl), "--kubeconfig", str(kubeconfig), "-n", namespace, "patch",
            "deployment", deployment, "--type", "merge", "-p",
            json.dumps(patch, separators=(",", ":"))]


@dataclass(frozen=True)
class Action:
    """One step of an upgrade, run between two phases."""

    says: str
    argv: tuple[str, ...]


def control_plane_actions(plan: UpgradePlan, istioctl: Path | str, kubeconfig: Path,
                          encoding: istio.AccessLogEncoding = "TEXT") -> list[Action]:
    """Between ``before`` and ``skew``: the control plane moves."""
    if plan.method is UpgradeMethod.IN_PLACE:
        argv = in_place_argv(istioctl, plan.target, kubeconfig, encoding)
        says = f"istioctl upgrade to {plan.target.version}"
    else:
        argv = revision_install_argv(istioctl, plan.target, kubeconfig, encoding)
        says = f"istioctl install {plan.target.version} as revision {plan.revision}"
    return [Action(says, tuple(argv))]


def injection_moves(plan: UpgradePlan, istioctl: Path | str, kubectl: Path | str,
                    kubeconfig: Path, namespaces: Sequence[str]) -> list[Action]:
    """Between ``skew`` and ``after``, before the workloads restart: with a revision, new pods
    must be injected by it. In place there is nothing to move (the injector itself moved).

    The ``default`` tag moves first: setting it deactivates the old non-revisioned injector
    (istioctl/pkg/tag/generate.go, DeactivateIstioInjectionWebhook), so pods that ask for
    injection by ``sidecar.istio.io/inject`` alone (the scenarios' own gateways) are injected by
    the new revision when they restart, like the relabelled namespaces' pods."""
    revision = plan.revision
    if revision is None:
        return []
    actions = [Action(f"the default tag points at revision {revision}",
                      tuple(tag_default_argv(istioctl, kubeconfig, revision)))]
    actions += [Action(f"namespace {namespace} injects from revision {revision}",
                       tuple(relabel_namespace_argv(kubectl, kubeconfig, namespace, revision)))
                for namespace in namespaces]
    return actions


def retire_old(plan: UpgradePlan, istioctl: Path | str, kubeconfig: Path) -> list[Action]:
    """After the workloads restarted: a revision upgrade removes the old control plane."""
    if plan.revision is None:
        return []
    return [Action(f"remove the {plan.source.version} control plane",
                   tuple(uninstall_old_argv(istioctl, kubeconfig)))]
