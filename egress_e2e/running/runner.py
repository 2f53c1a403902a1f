"""Running one scenario on the prepared cluster, as one step runner (``ScenarioRun.run``):
try (render its plan, apply it, run each step's checks until their evidence holds) / on failure
(the diagnostics bundle, gathered while the failing state is still on the cluster) / always
(clean up what it applied).

Every check, passing or failing, also leaves its observation record (what each vantage point
saw, ``evidence.observations``) in ``<artifacts>/observations/<istio>/<scenario>.json``,
rewritten after each check so a failing scenario keeps the checks it reached. The raw texts
the records quote are kept as the observer reads them (``Observer.raw_logs``, ``_TappedLogs``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from egress_e2e.core.errors import ClusterError, EgressE2EError
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.core.waits import eventually, stays_absent, until
from egress_e2e.evidence import observations, route_status, verify
from egress_e2e.evidence.fakelogs import FakeLogReader, FakeLogs
from egress_e2e.evidence.observe import Needs, Observer
from egress_e2e.fakes.placement import LogName
from egress_e2e.infra.kube import KubeApi
from egress_e2e.infra.rollout import wait_pods_ready, wait_rollout
from egress_e2e.infra.tools import kubectl_path
from egress_e2e.rendering import render
from egress_e2e.rendering.layout import CLIENT_PODS, Layout
from egress_e2e.report import evidence, record
from egress_e2e.running import diagnostics
from egress_e2e.scenario.model import Check, Scenario
from egress_e2e.session import netpol
from egress_e2e.session.environment import E2EEnvironment


def selector_of(doc: render.Document) -> str:
    """The label selector that finds a workload document's pods."""
    body = doc.body
    labels = (body.get("spec", {}).get("selector", {}).get("matchLabels")
              if doc.kind == "Deployment" else body.get("metadata", {}).get("labels"))
    if not labels:
        raise ValueError(f"{doc.ref}: no labels to find its pods by")
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def trust_material(env: E2EEnvironment) -> render.TrustMaterial:
    pki_dir = env.fake_internet.pki_dir
    return render.TrustMaterial.from_files(pki_dir / "ca.crt", pki_dir / "client.crt",
                                           pki_dir / "client.key")


# Runs the bundle's commands and returns file -> content (``diagnostics.gather``).
Gatherer = Callable[..., dict[str, str]]


@dataclass
class _TappedLogs:
    """A FakeLogReader that keeps the last text it read of each fake, for the records."""

    inner: FakeLogReader
    last: dict[str, str] = field(default_factory=dict)

    def read(self, which: LogName) -> str:
        text = self.inner.read(which)
        self.last[which] = text
        return text

    def container_names(self) -> tuple[str, ...]:
        return self.inner.container_names()


@dataclass
class ScenarioRun:
    scenario: Scenario
    env: E2EEnvironment
    api: KubeApi
    timer: PhaseTimer
    item: diagnostics.ReportItem
    timeouts: Timeouts = field(default_factory=Timeouts)
    # Where the fakes' logs are read; by default found from the session's environment.
    fake_logs: FakeLogReader | None = None
    # Runs the diagnostics commands (kubectl, istioctl, docker); offline tests record them.
    gather: Gatherer = diagnostics.gather
    emit: Callable[[str], None] = print
    last_observation: verify.Observation | None = field(default=None, init=False)
    # This run's checks as recorded so far (the scenario's observation record).
    observed_checks: list[observations.CheckRecord] = field(default_factory=list, init=False)
    # Off in an upgrade's skew phase: old proxies under a new istiod are no observation of
    # either release (before and after are, and are recorded as their releases').
    record_observations: bool = True

    def __post_init__(self) -> None:
        self.timeouts = self.timeouts.scaled(self.env.timeout_scale)
        # A Gateway API scenario's gateway is the Deployment istiod makes for its Gateway.
        self.layout = route_status.gateway_api_layout(self.scenario, Layout.isolated_for(
            self.scenario, self.env.run_id, revision=self.env.revision,
            connect_proxy_address=self.env.fake_internet.connect_proxy_address))
        self.plan = render.plan(self.scenario, self.layout, trust_material(self.env))
        self.logs: FakeLogReader = self.fake_logs or FakeLogs(
            placement=self.env.fake_internet.placement, run_id=self.env.run_id,
            kubeconfig=str(self.env.kubeconfig), kubectl=str(kubectl_path()))
        self.fake_tap = _TappedLogs(self.logs)
        self.observer = Observer(self.api, self.layout, self.fake_tap, self.timeouts,
                                 run_id=self.env.run_id)

    def run(self, *, keep: bool = False) -> None:
        """The whole scenario. A failing check raises once its bundle is written; clean-up runs
        whatever happened, and its own problems are raised only when nothing else failed.

        ``keep`` (an upgrade run's ``before``): a scenario that held stays applied, for the
        later phases to check again; one that failed is cleaned up as always."""
        failed = True
        try:
            self.execute()
            failed = False
        except Exception:
            self.keep_diagnostics()
            raise
        finally:
            if failed or not keep:
                self.cleanup(quiet=failed)

    # ---- an upgrade run's later phases (session/upgrading.py) ----

    def hold_again(self) -> None:
        """The last step's checks once more, on what is applied, nothing applied again: the
        earlier steps changed the resources, so only the last step describes what the cluster
        holds. A failing check raises once its bundle is written; nothing is cleaned up."""
        self.observed_checks = []
        try:
            last = self.plan.steps[-1].step
            with self.timer.phase(f"{self.scenario.id}/held-again",
                                  f"{self.scenario.id}: last step held again"):
                # Route status first: an upgrade that stops watching a route kind shows here.
                route_status.await_status(self.api, self.scenario, self.layout, last,
                                          self.timeouts)
                for check in last.checks:
                    self.run_check(check)
        except Exception:
            self.keep_diagnostics()
            raise

    @property
    def injected_namespaces(self) -> tuple[str, ...]:
        """The namespaces whose pods the injector gives a proxy (by either label)."""
        return tuple(doc.name for doc in self.plan.base if doc.kind == "Namespace"
                     and {"istio-injection", "istio.io/rev"}
                     & set(doc.body.get("metadata", {}).get("labels") or {}))

    @property
    def final_workloads(self) -> tuple[render.Document, ...]:
        """The Deployments and Pods applied once every step has run (a step may delete some)."""
        held = {doc.ref: doc for doc in self.plan.workloads}
        for step in self.plan.steps:
            for doc in step.delete:
                held.pop(doc.ref, None)
            held.update((doc.ref, doc) for doc in step.workloads)
        return tuple(held.values())

    def restart_workloads(self) -> None:
        """Give every workload a new pod, injected by whatever injects now: Deployments by a
        rollout restart, bare Pods (the clients) deleted and applied again from the same
        document."""
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        for doc in self.final_workloads:
            namespace = doc.namespace or self.layout.client_ns
            if doc.kind == "Deployment":
                self.api.restart_deployment(namespace, doc.name, restarted_at=stamp)
                wait_rollout(self.api, namespace, doc.name, self.timeouts.workloads)
            else:
                self.recreate_pod(doc, namespace)
        if self.scenario.gateway_api is not None:
            # istiod's own Deployment for the Gateway: whether the new istiod rolls it depends
            # on its template; after must not depend on that.
            self.api.restart_deployment(self.layout.gateway_ns, self.layout.gateway_name,
                                        restarted_at=stamp)
            wait_rollout(self.api, self.layout.gateway_ns, self.layout.gateway_name,
                         self.timeouts.workloads)
        # The gateway's pod is a new one now: the observer finds it again.
        self.observer.forget_gateway_pod()
        self.wait_workloads(self.final_workloads)

    def recreate_pod(self, doc: render.Document, namespace: str) -> None:
        """Delete, wait until it is gone (an apply would only patch a terminating pod), apply."""
        self.api.delete([doc.body])
        until(lambda: self.api.get("v1", "Pod", namespace, doc.name), lambda got: got is None,
              what=f"pod {namespace}/{doc.name} gone before it is created again",
              timeout=self.timeouts.workloads, interval=self.timeouts.interval,
              describe=lambda got: "still there" if got else "gone")
        self.api.apply([doc.body])

    def execute(self) -> None:
        record.scenario(self.item, self.scenario)
        with record.phase(self.item, "apply"), self.timer.phase(
                f"{self.scenario.id}/apply", f"{self.scenario.id}: base applied"):
            self.api.apply([d.body for d in self.plan.base])
            self.wait_workloads(self.plan.workloads)
        for number, step in enumerate(self.plan.steps, start=1):
            with self.timer.phase(f"{self.scenario.id}/step-{number}",
                                  f"{self.scenario.id}: step {number} held"):
                with record.phase(self.item, "apply"):
                    if step.delete:
                        self.api.delete([d.body for d in step.delete])
                    self.api.apply([d.body for d in step.apply])
                    self.wait_workloads(step.workloads)
                with record.phase(self.item, "propagate"):
                    # Status before traffic: Programmed, Accepted, ResolvedRefs (#14).
                    route_status.await_status(self.api, self.scenario, self.layout, step.step,
                                              self.timeouts)
                for check in step.step.checks:
                    self.run_check(check)

    def wait_workloads(self, docs: tuple[render.Document, ...]) -> None:
        for doc in docs:
            wait_pods_ready(self.api, doc.namespace or self.layout.client_ns, selector_of(doc),
                            self.timeouts.workloads)

    def run_check(self, check: Check) -> None:
        """Hold the check's expectations ``consecutive`` times in a row, then watch its
        absences over the settle window. Time until the final run of successes began counts
        as propagation; the run itself (and the settle window) as probing."""
        ids = self.layout.identities(check.probe.client, self.env.trust_domain)
        present = [e for e in check.expect if not verify.needs_settle_window(e)]
        absent = [e for e in check.expect if verify.needs_settle_window(e)]
        what = f"{self.scenario.id}: {check.name}"
        started = time.monotonic()
        before = self.last_observation
        streak_began: list[float | None] = [None]

        def judge(observed: verify.Observation) -> list[str]:
            problems = verify.verify(present, observed, ids)
            if problems:
                streak_began[0] = None
            elif streak_began[0] is None:
                streak_began[0] = time.monotonic()
            return problems

        def attempt() -> verify.Observation:
            observed = self.observer.observe(check, lambda o: verify.verify(present, o, ids))
            self.last_observation = observed
            return observed

        try:
            observed = eventually(attempt, judge, what=what, timeout=self.timeouts.converge,
                                  consecutive=check.consecutive,
                                  interval=self.timeouts.interval, describe=verify.describe)
            held = streak_began[0] or time.monotonic()
            record.phase_time(self.item, "propagate", held - started)
            if absent:
                needs = Needs.of(check.expect)
                observed = stays_absent(
                    lambda: self.observer.evidence(check, observed.probe, needs,
                                                   dict(observed.counters_before)),
                    lambda seen: verify.verify(absent, seen, ids),
                    what=what, settle=self.timeouts.settle, interval=self.timeouts.interval,
                    describe=verify.describe)
                self.last_observation = observed
            record.phase_time(self.item, "probe", time.monotonic() - held)
        finally:
            if self.last_observation is not None:
                record.evidence(self.item, evidence.from_observation(
                    check, self.last_observation,
                    verify.verify(check.expect, self.last_observation, ids)))
                if self.last_observation is not before:  # this check's, not the last one's
                    self.keep_observation(check, self.last_observation)

    @property
    def observations_path(self) -> Path:
        return observations.record_path(
            self.env.artifacts_dir / observations.OBSERVATIONS_DIR, self.env.istio_version,
            self.scenario.id)

    def raw_logs(self, check: Check) -> observations.RawLogs:
        """The texts the last evidence came from, for the sources this check read (another
        check's text for a source this one did not read is not this check's)."""
        needs = Needs.of(check.expect)
        client_ns, client_pod, _ = self.layout.client_pod(check.probe.client)
        taps, fakes = self.observer.raw_logs, self.fake_tap.last
        gateway = ""
        if needs.gateway_log:
            with contextlib.suppress(EgressE2EError):
                gateway = taps.get((self.layout.gateway_ns, self.observer.gateway_pod()), "")
        return observations.RawLogs(
            gateway=gateway,
            sidecar=taps.get((client_ns, client_pod), "") if needs.sidecar_log else "",
            fake=fakes.get("nginx", "") if needs.fake_log else "",
            proxy=fakes.get("connect-proxy", "") if needs.proxy_log else "",
            ztunnel=self.observer.last_ztunnel_text() if needs.ztunnel_log else "")

    def keep_observation(self, check: Check, observed: verify.Observation) -> None:
        """Add the check to the scenario's record and write it. Never raises: a record that
        cannot be written is one warning line, not a failed run."""
        if not self.record_observations:
            return
        try:
            ids = self.layout.identities(check.probe.client, self.env.trust_domain)
            self.observed_checks.append(observations.check_record(
                check, observed, ids, self.raw_logs(check)))
            env = self.env
            whole = observations.ObservationRecord(
                scenario=self.scenario.id,
                versions=observations.Versions(istio=env.istio_version,
                                               kubernetes=env.kubernetes_version,
                                               kind=env.kind_version,
                                               data_plane=env.data_plane),
                run_id=observed.run_id, checks=tuple(self.observed_checks))
            observations.write(whole, self.observations_path, redact=diagnostics.redact)
        except Exception as exc:
            self.emit(f"[observations] {self.scenario.id}: record not written: {exc}")

    def diagnostics_target(self) -> diagnostics.DiagnosticsTarget:
        workloads = [
            diagnostics.Workload(f"client-{role}", self.layout.client_namespace(role),
                                 CLIENT_PODS[role][0], app_container="curl",
                                 has_proxy=role != "uninjected")
            for role in self.scenario.clients
        ]
        if self.scenario.gateway != "none" or self.scenario.gateway_api is not None:
            # A gateway that never became Ready is itself the finding: the namespace listing
            # and events show it, so the bundle goes on without its pod.
            with contextlib.suppress(EgressE2EError):
                workloads.append(diagnostics.Workload("gateway", self.layout.gateway_ns,
                                                      self.observer.gateway_pod()))
        namespaces = [*self.layout.owned_namespaces]
        if self.layout.gateway_ns not in namespaces and self.scenario.gateway != "none":
            namespaces.append(self.layout.gateway_ns)
        return diagnostics.DiagnosticsTarget(
            namespaces=tuple(namespaces), workloads=tuple(workloads),
            kubeconfig=str(self.env.kubeconfig), kubectl=str(kubectl_path()),
            istioctl=self.env.istioctl, fake_containers=self.logs.container_names(),
            gateway_api=route_status.uses_gateway_api(self.scenario),
        )

    def diagnostics_files(self) -> dict[str, str]:
        """What the failure bundle holds besides the gathered commands' output."""
        files = {"manifests/applied.yaml": render.to_yaml(self.plan.documents,
                                                          redact_secrets=True)}
        if self.last_observation is not None:
            files["probe.txt"] = self.last_observation.probe.describe()
            files["observation.txt"] = verify.describe(self.last_observation)
        return files

    def keep_diagnostics(self) -> None:
        """Write the failure bundle and name it in the report. Never raises: a bundle that
        cannot be written must not keep the scenario's namespaces alive."""
        try:
            items = diagnostics.gather_items(self.diagnostics_target())
            files = {**self.gather(items, timeout=self.timeouts.collect),
                     **self.diagnostics_files()}
            bundle = diagnostics.write_bundle(self.env.artifacts_dir, self.env.run_id,
                                              self.item.nodeid, files, items)
            diagnostics.attach(self.item, bundle)
        except Exception as exc:
            self.emit(f"[diagnostics] {self.scenario.id}: bundle not written: {exc}")

    def cleanup(self, *, quiet: bool = False) -> None:
        """Delete what the run applied: objects outside its namespaces, then the namespaces,
        each attempted even when an earlier delete failed. The failures are raised together,
        or, with ``quiet`` (another failure is already on its way), printed."""
        problems: list[str] = []
        with record.phase(self.item, "cleanup"), self.timer.phase(
                f"{self.scenario.id}/cleanup", f"{self.scenario.id}: cleaned up"):
            for doc in self.plan.cleanup_documents:
                try:
                    self.api.delete([doc.body])
                except EgressE2EError as exc:
                    problems.append(str(exc))
            for namespace in self.plan.delete_namespaces:
                try:
                    self.api.delete_namespace(namespace)
                except EgressE2EError as exc:
                    problems.append(str(exc))
        if problems:
            message = f"{self.scenario.id}: clean-up left things behind: " + "; ".join(problems)
            if quiet:
                self.emit(f"[cleanup] {message}")
            else:
                raise ClusterError(message)


@dataclass
class NetworkPolicyEnforcement:
    """Whether the CNI enforces NetworkPolicy: measured once per process, only when a
    scenario needs it."""

    verdict: netpol.Verdict | None = None

    def enforced(self, api: KubeApi, env: E2EEnvironment, image: str) -> netpol.Verdict:
        if self.verdict is None:
            timeouts = env.timeouts
            self.verdict = netpol.detect(api, run_id=env.run_id, image=image,
                                         ready_timeout=timeouts.netpol_ready,
                                         enforce_within=timeouts.netpol_enforce)
        return self.verdict

