"""The session's DNS check, run from a recording cluster whose lookup pod's curl is real and
reaches the local fake internet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e.core.errors import FakeInternetError
from egress_e2e.fakes import local
from egress_e2e.scenario import hosts
from egress_e2e.session import dnscheck

from .recording import RecordingKube


@pytest.fixture(scope="module")
def fakes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[local.LocalFakes]:
    with local.start(tmp_path_factory.mktemp("dns-fakes")) as running:
        yield running


def test_targets_cover_a_host_the_wildcard_zone_and_the_proxy() -> None:
    entries = {hosts.HTTPBIN: "172.18.0.5", hosts.WIKIPEDIA_EN: "172.18.0.5",
               hosts.CONNECT_PROXY: "172.18.0.6"}
    targets = dnscheck.targets(entries)
    assert [(t.host, t.expected_ip) for t in targets] == list(entries.items())
    argv = dnscheck.lookup_argv(targets[2])
    assert argv[0] == "curl" and argv[-1] == f"https://{hosts.CONNECT_PROXY}:3128/"
    assert "%{remote_ip}" in argv


def test_names_that_reach_the_fakes_pass(fakes: local.LocalFakes) -> None:
    kube = RecordingKube(fakes)
    dnscheck.wait_for_fake_dns(kube, "run1", fakes.dns_entries(), "curl:pinned", timeout=20)
    applied = next(docs for kind, docs in kube.calls if kind == "apply")
    assert [d["kind"] for d in applied] == ["Namespace", "Pod"]
    pod = applied[1]
    assert pod["metadata"]["labels"]["sidecar.istio.io/inject"] == "false"
    execs = [args for kind, args in kube.calls if kind == "exec"]
    assert {e[3][-1] for e in execs} == {t.url for t in dnscheck.targets(fakes.dns_entries())}
    assert kube.calls[-1] == ("delete_namespace", "egress-e2e-dns-run1")


def test_a_name_that_goes_elsewhere_gives_up_naming_it(fakes: local.LocalFakes,
                                                       tmp_path: Path) -> None:
    kube = RecordingKube(fakes)
    entries = {**fakes.dns_entries(), hosts.CONNECT_PROXY: "10.9.9.9"}
    # Here the lookup pod's curl always lands on the local fakes, so the fake "at" 10.9.9.9
    # fails the first question (does it answer at its address?) before DNS is asked.
    with pytest.raises(FakeInternetError) as info:
        dnscheck.wait_for_fake_dns(kube, "run2", entries, "curl:pinned", timeout=3,
                                   diagnose=lambda: "nginx log tail: (empty)")
    assert f"{hosts.CONNECT_PROXY}: no HTTP answer at 10.9.9.9 (status " in str(info.value)
    assert "from 127.0.0.1)" in str(info.value)
    assert str(info.value).endswith("; nginx log tail: (empty)")
    assert kube.calls[-1] == ("delete_namespace", "egress-e2e-dns-run2")


def test_a_fake_that_does_not_answer_is_no_answer() -> None:
    wanted = dnscheck.targets({hosts.HTTPBIN: "172.18.0.5"})
    assert dnscheck.reach_problems({hosts.HTTPBIN: "172.18.0.5 200"}, wanted) == []
    assert dnscheck.reach_problems({hosts.HTTPBIN: "172.18.0.5 000"}, wanted) == [
        f"{hosts.HTTPBIN}: no HTTP answer at 172.18.0.5 (status 000 from 172.18.0.5)"]
    assert dnscheck.reach_problems({hosts.HTTPBIN: " 000"}, wanted) == [
        f"{hosts.HTTPBIN}: no HTTP answer at 172.18.0.5 (no connection)"]
