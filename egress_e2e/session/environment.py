"""The e2e environment: what the session prepared (cluster, Istio, fake internet) and how to
hand it to xdist workers as JSON."""

from __future__ import annotations

import contextlib
import functools
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from egress_e2e.core import paths, proc
from egress_e2e.core.errors import ClusterError, ConfigError, clip, tail_lines
from egress_e2e.core.labels import new_run_id
from egress_e2e.core.timeouts import Timeouts
from egress_e2e.core.timings import PhaseTimer
from egress_e2e.evidence.fakelogs import FakeLogs
from egress_e2e.fakes import containers, coredns, incluster
from egress_e2e.fakes.pki import Pki
from egress_e2e.fakes.pki import generate as generate_pki
from egress_e2e.fakes.placement import AddressedFakes, ClusterPlacement, FakeInternet
from egress_e2e.infra import ambient, cluster, docker, gateway_api, istio, tools, upgrade
from egress_e2e.infra import versions as versions_mod
from egress_e2e.infra.images import image
from egress_e2e.infra.kube import KubeApi, KubeClient
from egress_e2e.infra.rollout import wait_pod_ip
from egress_e2e.scenario.identity import DEFAULT_TRUST_DOMAIN
from egress_e2e.session import dnscheck, dnsedit, leftovers, locks
from egress_e2e.session.settings import Settings


@dataclass(frozen=True)
class FakeInternetInfo:
    """Where the session's fake internet is, as workers need it to find it again."""

    placement: ClusterPlacement
    pki_dir: Path                        # the per-run PKI (keys 0600, under private_dir)
    dns: dict[str, str]                  # host name -> address the cluster DNS answers
    connect_proxy_address: str = ""      # where the CONNECT proxy listens (tunnel scenarios)

    def to_data(self) -> dict[str, Any]:
        return {**asdict(self), "pki_dir": str(self.pki_dir)}

    @classmethod
    def from_data(cls, data: dict[str, Any]) -> FakeInternetInfo:
        return cls(placement=data["placement"], pki_dir=Path(data["pki_dir"]),
                   dns=dict(data["dns"]), connect_proxy_address=data["connect_proxy_address"])


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
    trust_domain: str = DEFAULT_TRUST_DOMAIN
    access_log_encoding: str = "TEXT"
    # The verified istioctl this run installed with (None on --existing-kubeconfig clusters):
    # diagnostics use it for proxy-config and analyze.
    istioctl: str | None = None
    fakes: FakeInternetInfo | None = None
    # A revisioned-only control plane on --existing-kubeconfig: injection by istio.io/rev.
    revision: str | None = None
    # An upgrade run: the release installed first (istio_version is then that release until
    # the upgrade), the method, the target's verified istioctl.
    upgrade_from: str | None = None
    upgrade_method: str | None = None
    upgrade_istioctl: str | None = None
    # "sidecar" or "ambient" (--data-plane): which scenarios apply (gates.skip_reason).
    data_plane: str = "sidecar"

    def to_json(self) -> str:
        data = asdict(self)
        for key in ("kubeconfig", "artifacts_dir", "private_dir"):
            data[key] = str(data[key])
        data["fakes"] = self.fakes.to_data() if self.fakes is not None else None
        return json.dumps(data, sort_keys=True)

    @property
    def fake_internet(self) -> FakeInternetInfo:
        if self.fakes is None:
            raise ConfigError("internal: the session prepared no fake internet")
        return self.fakes

    @classmethod
    def from_json(cls, text: str) -> E2EEnvironment:
        data = json.loads(text)
        for key in ("kubeconfig", "artifacts_dir", "private_dir"):
            data[key] = Path(data[key])
        if data.get("fakes") is not None:
            data["fakes"] = FakeInternetInfo.from_data(data["fakes"])
        return cls(**data)

    @property
    def timeouts(self) -> Timeouts:
        """Every wait's budget, scaled once by the session's --timeout-scale."""
        return Timeouts().scaled(self.timeout_scale)

    def describe(self) -> dict[str, object]:
        """The versions a report shows next to the results."""
        return {
            "run_id": self.run_id,
            "istio_version": self.istio_version,
            "kubernetes_version": self.kubernetes_version,
            "kind_version": self.kind_version,
            "cluster": self.cluster_name,
        }



@dataclass
class PreparedSession:
    """What ``prepare`` made, and the clean-up each of its steps registered as it went
    (fakes, the Corefile edit, the cluster we created, the private key directory)."""

    env: E2EEnvironment
    cleanups: contextlib.ExitStack

    def close(self, timer: PhaseTimer) -> None:
        """Undo every step, newest first: fakes, DNS edit, then the cluster if we delete it."""
        with timer.phase("teardown", "fake internet and cluster cleaned up"):
            self.cleanups.close()


def prepare(settings: Settings, timer: PhaseTimer) -> PreparedSession:
    """Docker, tools, cluster, Istio and the fake internet, once per session. A step that fails
    undoes the steps before it, so a half-made session leaves nothing behind."""
    setup = _Setup(settings, timer, new_run_id(), contextlib.ExitStack())
    try:
        env = setup.prepare()
    except BaseException:
        setup.stack.close()
        raise
    return PreparedSession(env, setup.stack)


def pin_minor(version: str) -> str:
    """``1.31.1`` -> ``1.31``."""
    return ".".join(version.split(".")[:2])


@dataclass(frozen=True)
class _Target:
    """The cluster a session runs on, whoever made it."""

    kubeconfig: Path
    istio_version: str
    cluster_name: str | None = None
    kind_version: str | None = None
    created: bool = False
    istioctl: str | None = None
    revision: str | None = None
    upgrade_istioctl: str | None = None   # an upgrade run's target istioctl


@dataclass
class _Setup:
    settings: Settings
    timer: PhaseTimer
    run_id: str
    stack: contextlib.ExitStack

    @property
    def timeouts(self) -> Timeouts:
        return self.settings.timeouts

    @property
    def logs_dir(self) -> Path:
        """Each tool's whole output (kind.log, istioctl.log) and `kind export logs` on a failed
        create: errors carry only a tail."""
        return self.settings.artifacts_dir.resolve() / "logs"

    def prepare(self) -> E2EEnvironment:
        versions = versions_mod.load()
        key, what = self.cluster_key(versions)
        self.stack.enter_context(locks.holding(
            locks.cluster_lock_path(paths.state_dir(), key), what))
        private_dir = locks.new_private_dir(self.run_id)  # 0700
        self.stack.callback(shutil.rmtree, private_dir, ignore_errors=True)
        # Held while the keys exist: `clean` removes only directories nobody holds.
        self.stack.enter_context(locks.holding(private_dir / locks.SESSION_LOCK,
                                               f"run {self.run_id}'s key directory"))
        target = self.kind(versions) if self.settings.uses_kind else self.existing(versions)
        api = KubeClient(target.kubeconfig)
        kubernetes_version = api.server_version()
        # Runs after the fakes and the DNS edit are undone, before a cluster we made is deleted.
        self.stack.callback(leftovers.sweep, target.kubeconfig, self.run_id)
        fakes = self.fakes(private_dir, target.kubeconfig, api)
        return E2EEnvironment(
            run_id=self.run_id, kubeconfig=target.kubeconfig,
            istio_version=target.istio_version, kubernetes_version=kubernetes_version,
            cluster_name=target.cluster_name, kind_version=target.kind_version,
            created_cluster=target.created, artifacts_dir=self.settings.artifacts_dir.resolve(),
            private_dir=private_dir, timeout_scale=self.settings.timeout_scale,
            access_log_encoding=self.settings.access_log_encoding, fakes=fakes,
            istioctl=target.istioctl, revision=target.revision,
            upgrade_from=target.istio_version if self.settings.upgrade_from else None,
            upgrade_method=self.settings.upgrade_method if self.settings.upgrade_from else None,
            upgrade_istioctl=target.upgrade_istioctl,
            data_plane=self.settings.data_plane,
        )

    def cluster_name(self, release: versions_mod.IstioRelease) -> str:
        if self.settings.cluster_name:
            return self.settings.cluster_name
        if self.upgrade_plan:
            return self.upgrade_plan.cluster_name()
        name = cluster.default_cluster_name(release)
        # Ambient gets a cluster of its own: a sidecar mesh is never turned into an ambient one.
        return f"{name}-ambient" if self.settings.data_plane == "ambient" else name

    @functools.cached_property
    def upgrade_plan(self) -> upgrade.UpgradePlan | None:
        """An upgrade run's plan, made once (preflight has already refused a bad pair)."""
        if not self.settings.upgrade_from:
            return None
        return upgrade.plan_upgrade(versions_mod.load(), self.settings.upgrade_from,
                                    self.settings.istio_version, self.settings.upgrade_method)

    def install_release(self, versions: versions_mod.Versions) -> versions_mod.IstioRelease:
        """What this session installs: an upgrade run's source release, else the one asked."""
        plan = self.upgrade_plan
        return plan.source if plan else versions.istio(self.settings.istio_version)

    def cluster_key(self, versions: versions_mod.Versions) -> tuple[str, str]:
        """What two sessions must not share (kind: the cluster's name; an existing cluster:
        its API server), and how to name it in the refusal."""
        kubeconfig = self.settings.existing_kubeconfig
        if kubeconfig is None:
            name = self.cluster_name(self.install_release(versions))
            return f"kind:{name}", f"kind cluster {name}"
        server = locks.server_of(kubeconfig)
        return f"server:{server}", f"the cluster at {server}"

    def kind(self, versions: versions_mod.Versions) -> _Target:
        """Docker, pinned tools, a kind cluster, and the pinned Istio on it."""
        settings, timer = self.settings, self.timer
        release = self.install_release(versions)
        plan = self.upgrade_plan
        with timer.phase("preflight", "Docker engine answers"):
            # Exported as DOCKER_HOST when found through a context or a fallback socket, so
            # kind, the docker CLI and testcontainers talk to the engine that answered here.
            engine = docker.require_engine()
        timer.emit(f"[preflight] Docker engine: {engine.url} ({engine.source})")
        with timer.phase("tools", f"kind {versions.kind.version} and istioctl "
                                  f"{release.version} verified"):
            kind = tools.kind_binary(versions, explicit=settings.kind_bin)
            istioctl = tools.istioctl_binary(release, explicit=settings.istioctl_bin)
            # An upgrade needs the target's istioctl too: fetched and verified up front, so a
            # bad download fails before an hour of 'before' checks.
            target_istioctl = tools.istioctl_binary(plan.target) if plan else None
        ready = self.cluster(versions, release, kind)
        self.gateway_api_crds(versions, release, ready.kubeconfig)
        if settings.data_plane == "ambient":
            return self.ambient(versions, release, istioctl, ready)
        with timer.phase("istio", f"{release.version} ready"):
            outcome = istio.ensure_istio(
                istio.Istioctl(istioctl, run=proc.logging_to(self.logs_dir / "istioctl.log")),
                release, ready.kubeconfig,
                istio.kubectl_deployment_fetcher(ready.kubeconfig), where=ready.name,
                encoding=settings.access_log_encoding,
                ready_timeout=self.timeouts.istio,
                fetch_mesh=istio.kubectl_mesh_config_fetcher(ready.kubeconfig))
        if outcome.repaired:
            timer.emit(f"[istio] {release.version} was incomplete ({'; '.join(outcome.repaired)})"
                       ": istioctl install ran again")
        if not outcome.analyze.clean:
            timer.emit(f"[istio] istioctl analyze: {outcome.analyze.summary()}")
        return _Target(ready.kubeconfig, release.version, ready.name, versions.kind.version,
                       ready.created, str(istioctl),
                       upgrade_istioctl=str(target_istioctl) if target_istioctl else None)

    def gateway_api_crds(self, versions: versions_mod.Versions,
                         release: versions_mod.IstioRelease, kubeconfig: Path) -> None:
        """The Gateway API CRDs pinned for the release, before Istio is installed (as Istio's
        docs order it): the Gateway API scenarios and ambient's waypoints need them. Applied
        server-side on every run, so a reused cluster converges to the pin too."""
        pin = versions.gateway_api_for(release.version)
        with self.timer.phase("gateway-api", f"Gateway API {pin.version} ({pin.channel}) CRDs "
                                             "served"):
            gateway_api.install(pin, kubeconfig,
                                run=proc.logging_to(self.logs_dir / "kubectl.log"))

    def check_gateway_api_crds(self, versions: versions_mod.Versions, istio_version: str,
                               api: KubeApi) -> None:
        """Someone else's cluster: say in one line when its Gateway API CRDs do not fit the
        Istio there (absent, another version or channel); the run goes on."""
        try:
            pin = versions.gateway_api_for(istio_version)
        except ConfigError:
            self.timer.emit(f"[gateway-api] no Gateway API pin for Istio {istio_version}: its "
                            "CRDs are not checked")
            return
        misfit = gateway_api.fit_line(pin, pin_minor(istio_version),
                                      gateway_api.read_installed(api))
        if misfit is not None:
            self.timer.emit(f"[gateway-api] {misfit}")

    def ambient(self, versions: versions_mod.Versions, release: versions_mod.IstioRelease,
                istioctl: Path, ready: cluster.ReadyCluster) -> _Target:
        """The ambient profile instead of the sidecar install (infra/ambient.py)."""
        with self.timer.phase("istio", f"{release.version} ambient ready"):
            outcome = ambient.ensure_ambient(
                istioctl, release, ready.kubeconfig,
                istio.kubectl_deployment_fetcher(ready.kubeconfig),
                ambient.kubectl_fetcher(ready.kubeconfig, "daemonset"), where=ready.name,
                encoding=self.settings.access_log_encoding, ready_timeout=self.timeouts.istio,
                run=proc.logging_to(self.logs_dir / "istioctl.log"),
                fetch_mesh=istio.kubectl_mesh_config_fetcher(ready.kubeconfig))
        if not outcome.analyze.clean:
            self.timer.emit(f"[istio] istioctl analyze: {outcome.analyze.summary()}")
        return _Target(ready.kubeconfig, release.version, ready.name, versions.kind.version,
                       ready.created, str(istioctl))

    def existing(self, versions: versions_mod.Versions) -> _Target:
        """--existing-kubeconfig: no kind, no install; say which Istio is there."""
        kubeconfig = self.settings.existing_kubeconfig
        if kubeconfig is None:
            raise ConfigError("internal: existing() without --existing-kubeconfig")
        api = KubeClient(kubeconfig)  # a kubeconfig that does not load fails here, in one line
        found = istio.detect_existing(kubeconfig, self.settings.istio_version, versions)
        self.timer.emit(found.message)
        # Not our install: its outbound mode is set per scenario namespace instead; its access
        # log is the one thing the evidence cannot do without.
        problems = istio.mesh_config_problems(
            istio.kubectl_mesh_config_fetcher(kubeconfig, revision=found.revision)(),
            encoding=self.settings.access_log_encoding, outbound_mode=False,
            configmap=istio.mesh_configmap(found.revision))
        if problems:
            raise ClusterError(f"the mesh on {kubeconfig} does not suit the scenarios: "
                               f"{'; '.join(problems)}; set meshConfig.accessLogFile=/dev/stdout"
                               f" (and --access-log-encoding to match) and run again")
        self.check_gateway_api_crds(versions, found.version, api)
        if self.settings.data_plane == "ambient":
            state = ambient.daemonset_readiness(ambient.ZTUNNEL, ambient.kubectl_fetcher(
                kubeconfig, "daemonset")(istio.NAMESPACE, ambient.ZTUNNEL))
            if not state.ready:
                raise ClusterError(f"--data-plane ambient needs ztunnel on {kubeconfig}: "
                                   f"{state.observation}")
        return _Target(kubeconfig, found.version, revision=found.revision)

    def cluster(self, versions: versions_mod.Versions, release: versions_mod.IstioRelease,
                kind: Path) -> cluster.ReadyCluster:
        settings, timer = self.settings, self.timer
        clusters = cluster.KindClusters(kind, cluster.ClusterState(paths.state_dir()),
                                        run=proc.logging_to(self.logs_dir / "kind.log"),
                                        logs_dir=self.logs_dir)
        name = self.cluster_name(release)
        image = versions.node_image_for(release)
        with timer.phase("cluster", f"{name} ready"):
            # An upgrade cluster is never reused: what it holds after a run is the target.
            reuse = settings.reuse_cluster and not settings.upgrade_from
            ready = clusters.ensure(name, release, image, reuse=reuse,
                                    timeout=self.timeouts.cluster,
                                    revive_timeout=self.timeouts.revive)
        timer.emit(f"[cluster] {'created' if ready.created else 'reused'} {name} ({image})")
        if ready.created and settings.deletes_cluster:
            self.stack.callback(clusters.delete, name)
        if settings.preload_images:
            # Istio's images, and the pods the harness runs in the cluster (clients, the
            # ingress scenario's workload); the container fakes run beside kind, not in it.
            wanted = (*release.images, versions.image("curl"), versions.image("httpbin"))
            with timer.phase("images", f"{len(wanted)} images loaded into {name}"):
                workdir = Path(tempfile.mkdtemp(prefix="egress-e2e-images-"))
                self.stack.callback(shutil.rmtree, workdir, ignore_errors=True)
                clusters.preload(name, wanted, versions_mod.detect_platform().arch, workdir)
        return ready

    def fakes(self, private_dir: Path, kubeconfig: Path, api: KubeApi) -> FakeInternetInfo:
        """Start the fake internet where the settings say, point the cluster DNS at it, and
        return what workers need to find it again (JSON-safe)."""
        settings, timer, run_id = self.settings, self.timer, self.run_id
        pki = generate_pki(private_dir / "pki", run_id)
        with timer.phase("fakes", f"fake internet ({settings.fakes}) up"):
            if settings.fakes == "containers":
                running: FakeInternet = self.stack.enter_context(
                    containers.start_containers(private_dir, run_id, pki))
            else:
                self.stack.callback(api.delete_namespace, incluster.fake_namespace(run_id))
                running = _start_in_cluster(api, run_id, pki, kubeconfig,
                                            self.timeouts.fakes)
        entries = dict(running.dns_entries())
        with timer.phase("dns", "every CoreDNS replica answers the seed host names with "
                                "the fakes"):
            self.stack.callback(dnsedit.undo, api)
            dnsedit.edit(api, lambda corefile: coredns.add_fake_hosts(corefile, entries, run_id))
            # Every replica restarted on the edited Corefile, none left on the old one.
            dnscheck.restart_coredns(api, timeout=self.timeouts.dns)
            dnscheck.wait_for_fake_dns(api, run_id, entries, image("curl").ref,
                                       timeout=self.timeouts.dns,
                                       diagnose=lambda: _fake_log_tails(running))
        return FakeInternetInfo(placement=settings.fakes, pki_dir=pki.directory, dns=entries,
                                connect_proxy_address=running.connect_proxy_address)


def _fake_log_tails(running: FakeInternet) -> str:
    """The fakes' last log lines, for the error that says they do not answer."""
    parts = []
    for name, read in (("nginx", running.nginx_access_log),
                       ("connect-proxy", running.proxy_access_log)):
        try:
            parts.append(f"{name} log tail: {tail_lines(read()) or '(empty)'}")
        except Exception as exc:  # diagnostics only: say why there is none
            parts.append(f"{name} log: {clip(str(exc))}")
    return "; ".join(parts)


def _start_in_cluster(api: KubeApi, run_id: str, pki: Pki, kubeconfig: Path,
                      ready_timeout: float) -> FakeInternet:
    namespace = incluster.fake_namespace(run_id)
    api.apply(incluster.web_objects(run_id, pki))
    web = wait_pod_ip(api, namespace, f"app={incluster.WEB_NAME}", ready_timeout)
    api.apply(incluster.proxy_objects(run_id, web))
    proxy = wait_pod_ip(api, namespace, f"app={incluster.PROXY_NAME}", ready_timeout)
    logs = FakeLogs("in-cluster", run_id, str(kubeconfig), kubectl=str(tools.kubectl_path()))
    return AddressedFakes(run_id, pki, web, proxy, logs.read)
