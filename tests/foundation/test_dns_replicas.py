"""Every CoreDNS replica serves the edited Corefile before any scenario: the session restarts the
Deployment through the API and waits until no replica from before the edit is left, then asks
from a pod, first whether the fakes answer by address, then whether the names resolve.

The real ``KubeClient`` talks to the stand-in API server (its Deployment controller rolls one
pod per step); the lookup pod's execs run the real curl here, against the local fakes."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from egress_e2e.core import proc
from egress_e2e.core.errors import WaitTimeout
from egress_e2e.fakes import coredns, local
from egress_e2e.infra.kube import RESTARTED_AT
from egress_e2e.session import dnscheck, dnsedit

from .kube_standin import KubeStandIn, deployment, serving
from .recording import RecordingKube

COREDNS = (coredns.COREDNS_NAMESPACE, coredns.COREDNS_DEPLOYMENT)
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/kube-system/deployments/coredns"


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("dns-replica-fakes")) as running:
        yield running


@pytest.fixture
def api(fakes: local.LocalFakes) -> Iterator[KubeStandIn]:
    """The stand-in, with kind's CoreDNS (2 replicas) and a lookup pod whose curl runs here."""
    with serving() as state:
        state.deployments[COREDNS] = deployment(*COREDNS, replicas=2)
        state.configmaps[(coredns.COREDNS_NAMESPACE, coredns.COREDNS_CONFIGMAP)] = {
            coredns.COREFILE_KEY: ".:53 {\n    forward . /etc/resolv.conf\n}\n"}
        here = RecordingKube(fakes)

        def run_here(_ns: str, _pod: str, _container: str, argv: list[str]
                     ) -> tuple[str, str, int]:
            done = proc.run(here._locally(argv), timeout=20, check=False)
            return done.stdout, done.stderr, done.returncode

        state.exec_handler = run_here
        yield state


def test_coredns_is_restarted_and_every_replica_replaced(api, client) -> None:
    assert dnscheck.restart_coredns(client, timeout=20, restarted_at="2026-12-01T10:00:00+00:00")
    (patch,) = api.sent("PATCH", DEPLOYMENT_PATH)
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.json() == {"spec": {"template": {"metadata": {"annotations": {
        RESTARTED_AT: "2026-12-01T10:00:00+00:00"}}}}}
    # Read until the controller had observed the new generation, replaced both pods and left
    # no old one: 1 (observe) + 2 (one pod each) + the read that sees it done.
    reads = api.sent("GET", DEPLOYMENT_PATH)
    assert len(reads) >= 3
    status = api.deployments[COREDNS]["status"]
    assert (status["updatedReplicas"], status["replicas"]) == (2, 2)


def test_a_rollout_that_does_not_finish_gives_up_naming_what_is_left(api, client) -> None:
    api.stuck_rollouts.add(COREDNS)
    started = time.monotonic()
    with pytest.raises(WaitTimeout) as info:
        dnscheck.restart_coredns(client, timeout=2)
    assert time.monotonic() - started < 10
    assert "deployment kube-system/coredns rolled out" in str(info.value)
    assert "not yet observed" in str(info.value)


def test_no_coredns_deployment_is_no_restart(api, client) -> None:
    del api.deployments[COREDNS]
    assert dnscheck.restart_coredns(client, timeout=2) is False
    assert api.sent("GET", DEPLOYMENT_PATH) == []


def test_the_fakes_answer_by_address_then_by_name(api, client, fakes) -> None:
    entries = fakes.dns_entries()
    dnscheck.wait_for_fake_dns(client, "run7", entries, "curl:pinned", timeout=20)
    namespace = dnscheck.namespace_for("run7")
    applied = [r.path for r in api.sent("PATCH")]
    assert applied == [f"/api/v1/namespaces/{namespace}",
                       f"/api/v1/namespaces/{namespace}/pods/{dnscheck.LOOKUP_POD}"]
    argvs = [r.query["command"] for r in api.sent("GET") if r.path.endswith("/exec")]
    wanted = dnscheck.targets(entries)
    # First every fake by its address (--resolve pins it), then every name through DNS, twice.
    pinned = [a for a in argvs if "--resolve" in a]
    by_name = [a for a in argvs if "--resolve" not in a]
    assert argvs[:len(wanted)] == pinned[:len(wanted)]
    assert {a[a.index("--resolve") + 1] for a in pinned} == {
        f"{t.url.split('/')[2]}:{t.expected_ip}" for t in wanted}
    assert len(by_name) == 2 * len(wanted)
    assert api.sent("DELETE")[-1].path == f"/api/v1/namespaces/{namespace}"
    assert api.pods == []


def test_undoing_the_corefile_edit_restarts_coredns(api, client) -> None:
    key = (coredns.COREDNS_NAMESPACE, coredns.COREDNS_CONFIGMAP)
    corefile = api.configmaps[key][coredns.COREFILE_KEY]
    api.configmaps[key][coredns.COREFILE_KEY] = coredns.add_fake_hosts(
        corefile, {"httpbin.org": "172.18.0.5"}, "run8")
    dnsedit.undo(client)
    assert api.configmaps[key][coredns.COREFILE_KEY] == corefile
    assert len(api.sent("PATCH", DEPLOYMENT_PATH)) == 1
    dnsedit.undo(client)   # nothing left to remove: no second restart
    assert len(api.sent("PATCH", DEPLOYMENT_PATH)) == 1
