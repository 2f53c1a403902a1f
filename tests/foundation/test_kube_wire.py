"""The real ``KubeClient`` against a stand-in API server on loopback: the exact requests it sends
(method, path, query, content type, body) and what it makes of the answers, exec over the
websocket channel protocol included; and that a server that never answers ends in one line
within the request timeout, proxy or not."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from egress_e2e.core.errors import ClusterError
from egress_e2e.infra.kube import FIELD_MANAGER, REQUEST_TIMEOUT, KubeClient, no_proxy_for

from .kube_standin import KubeStandIn, Pod, serving, silent_server, write_kubeconfig

NS_DOC = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}
SE_DOC = {"apiVersion": "networking.istio.io/v1", "kind": "ServiceEntry",
          "metadata": {"name": "httpbin", "namespace": "a"},
          "spec": {"hosts": ["httpbin.org"], "resolution": "DNS",
                   "ports": [{"number": 80, "name": "http", "protocol": "HTTP"}]}}


@pytest.fixture
def api(tmp_path: Path) -> Iterator[KubeStandIn]:
    with serving() as state:
        yield state


def test_apply_is_server_side_apply_with_the_harness_field_manager(api, client) -> None:
    client.apply([NS_DOC, SE_DOC])
    ns, se = api.sent("PATCH")
    assert ns.path == "/api/v1/namespaces/x"
    assert se.path == "/apis/networking.istio.io/v1/namespaces/a/serviceentries/httpbin"
    for request, doc in ((ns, NS_DOC), (se, SE_DOC)):
        assert request.query == {"fieldManager": [FIELD_MANAGER], "force": ["true"]}
        assert request.content_type == "application/apply-patch+yaml"
        assert yaml.safe_load(request.body) == doc
        assert request.headers["authorization"] == "Bearer stand-in-token"
    assert ("ServiceEntry", "a", "httpbin") in api.objects
    # The dynamic client found both kinds through discovery, once: the groups, then the one
    # group version it needed beside the core one.
    discovery = [r.path.rstrip("/") for r in api.requests if r.method == "GET"]
    assert {"/apis", "/api/v1", "/apis/networking.istio.io/v1"} <= set(discovery)
    assert discovery.count("/apis") == 1


def test_delete_tolerates_what_is_already_gone(api, client) -> None:
    client.apply([SE_DOC])
    client.delete([SE_DOC, {**SE_DOC, "metadata": {"name": "gone", "namespace": "a"}}])
    client.delete_namespace("never-made")
    deletes = [(r.path, r.method) for r in api.sent("DELETE")]
    assert deletes == [
        ("/apis/networking.istio.io/v1/namespaces/a/serviceentries/httpbin", "DELETE"),
        ("/apis/networking.istio.io/v1/namespaces/a/serviceentries/gone", "DELETE"),
        ("/api/v1/namespaces/never-made", "DELETE"),
    ]
    assert api.objects == {}


def test_an_apply_the_server_refuses_is_one_line_naming_the_object(api, client) -> None:
    bad = {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar",
           "metadata": {"name": "s", "namespace": "a"}}
    with pytest.raises(ClusterError) as info:
        client.apply([bad])
    assert str(info.value).startswith("apply Sidecar/a/s failed:")
    assert "\n" not in str(info.value)


def test_pods_by_label_selector_keep_native_sidecars(api, client) -> None:
    api.pods = [Pod("curl-1", "ns", {"app": "curl", "v": "1"}, ip="10.244.0.7",
                    init_containers=("istio-proxy",)),
                Pod("other", "ns", {"app": "other"}),
                Pod("curl-2", "elsewhere", {"app": "curl"})]
    pods = client.pods("ns", "app=curl,v=1")
    assert api.sent("GET", "/api/v1/namespaces/ns/pods")[0].query == {
        "labelSelector": ["app=curl,v=1"]}
    assert [(p.name, p.ip, p.ready, p.containers, p.init_containers) for p in pods] == [
        ("curl-1", "10.244.0.7", True, ("curl",), ("istio-proxy",))]


def test_logs_come_back_verbatim_and_a_missing_previous_is_empty(api, client) -> None:
    line = '{"authority":"httpbin.org","response_code":200}\n'
    api.logs[("ns", "curl", "istio-proxy")] = line
    assert client.logs("ns", "curl", "istio-proxy", since_seconds=300) == line
    (request,) = api.sent("GET", "/api/v1/namespaces/ns/pods/curl/log")
    assert request.query == {"container": ["istio-proxy"], "previous": ["false"],
                             "sinceSeconds": ["300"]}
    with pytest.raises(ClusterError, match="logs ns/curl/gone"):
        client.logs("ns", "curl", "gone")


def test_events_are_one_line_each(api, client) -> None:
    api.events["ns"] = [{"metadata": {"name": "e1"}, "type": "Warning", "reason": "BackOff",
                         "message": "restarting", "lastTimestamp": "2026-12-01T10:00:00Z",
                         "involvedObject": {"kind": "Pod", "name": "curl"}}]
    text = client.events("ns")
    assert text == "2026-12-01 10:00:00+00:00 Warning BackOff Pod/curl: restarting"
    assert api.sent("GET", "/api/v1/namespaces/ns/events")


def test_the_corefile_is_read_and_patched_as_a_strategic_merge(api, client) -> None:
    api.configmaps[("kube-system", "coredns")] = {"Corefile": ".:53 {}\n", "other": "kept"}
    assert client.configmap_data("kube-system", "coredns") == {"Corefile": ".:53 {}\n",
                                                               "other": "kept"}
    client.replace_configmap_data("kube-system", "coredns", {"Corefile": "new\n"})
    (patch,) = api.sent("PATCH", "/api/v1/namespaces/kube-system/configmaps/coredns")
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.json() == {"data": {"Corefile": "new\n"}}
    assert api.configmaps[("kube-system", "coredns")] == {"Corefile": "new\n", "other": "kept"}


def test_exec_speaks_the_channel_protocol(api, client) -> None:
    seen: list[tuple[str, str, str, list[str]]] = []

    def handler(ns: str, pod: str, container: str, argv: list[str]) -> tuple[str, str, int]:
        seen.append((ns, pod, container, argv))
        return ("172.18.0.5", "warning: x", 0) if argv[0] == "curl" else ("", "no such", 7)

    api.exec_handler = handler
    ok = client.exec("ns", "dns-check", "curl", ["curl", "-s", "--write-out", "%{remote_ip}",
                                                 "http://httpbin.org/"], timeout=5)
    assert (ok.stdout, ok.stderr, ok.exit_code) == ("172.18.0.5", "warning: x", 0)
    failed = client.exec("ns", "dns-check", "curl", ["nslookup", "x"], timeout=5)
    assert (failed.stderr, failed.exit_code) == ("no such", 7)
    request = api.sent("GET", "/api/v1/namespaces/ns/pods/dns-check/exec")[0]
    assert request.headers["upgrade"].lower() == "websocket"
    assert "v4.channel.k8s.io" in request.headers["sec-websocket-protocol"]
    assert request.query["command"] == ["curl", "-s", "--write-out", "%{remote_ip}",
                                        "http://httpbin.org/"]
    assert request.query["container"] == ["curl"]
    assert (request.query["stdout"], request.query["stderr"]) == (["true"], ["true"])
    assert request.headers["authorization"] == "Bearer stand-in-token"
    assert seen[1] == ("ns", "dns-check", "curl", ["nslookup", "x"])


def test_server_version(api, client) -> None:
    assert client.server_version() == "v1.37.0"


def test_a_proxy_in_the_environment_is_not_used_for_a_loopback_cluster(
        api, tmp_path, monkeypatch) -> None:
    """kubectl and kind never send loopback through HTTPS_PROXY; the Python client must not
    either, or every call fails while the kubectl checks pass."""
    with silent_server() as dead_proxy:
        for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.setenv(name, dead_proxy)
        monkeypatch.setenv("NO_PROXY", "corp.example")
        monkeypatch.delenv("no_proxy", raising=False)
        client = KubeClient(api.kubeconfig(tmp_path), request_timeout=(1, 2))
        assert client.server_version() == "v1.37.0"
        api.exec_handler = lambda *_: ("ok", "", 0)
        assert client.exec("ns", "p", "c", ["true"], timeout=5).stdout == "ok"


def test_no_proxy_adds_loopback_and_a_loopback_api_server() -> None:
    assert no_proxy_for("https://127.0.0.1:6443", "corp.example").split(",") == [
        "corp.example", "127.0.0.1", "localhost", "::1", "127.0.0.0/8"]
    assert "10.0.0.1" not in no_proxy_for("https://10.0.0.1:6443", None)
    assert no_proxy_for("https://localhost:6443", "localhost").count("localhost") == 1


@pytest.mark.timeout(30)
def test_a_server_that_never_answers_is_one_line_within_the_timeout(tmp_path) -> None:
    with silent_server() as url:
        client = KubeClient(write_kubeconfig(tmp_path, url), request_timeout=(1, 1))
        calls = {
            "list pods": lambda: client.pods("ns", "app=curl"),
            "read the server version": client.server_version,
            "apply Namespace/x failed": lambda: client.apply([NS_DOC]),
            "exec in ns/curl/curl": lambda: client.exec("ns", "curl", "curl", ["true"], 5),
            "patch configmap": lambda: client.replace_configmap_data("a", "b", {}),
        }
        for what, call in calls.items():
            started = time.monotonic()
            with pytest.raises(ClusterError) as info:
                call()
            elapsed = time.monotonic() - started
            message = str(info.value)
            assert message.startswith(what), message
            assert f"cannot reach {url}" in message, message
            assert "\n" not in message
            # One retry inside the client at most: two read timeouts and change.
            assert elapsed < 6, (what, elapsed)


def test_the_default_timeout_applies_to_calls_that_give_none(api, client) -> None:
    """The bound is on the client, so typed calls, the dynamic client and its discovery all
    get it without each call site remembering to pass one."""
    assert client._api_client.request_timeout == REQUEST_TIMEOUT
    assert all(0 < t <= 60 for t in REQUEST_TIMEOUT)


def test_ctrl_c_during_the_exec_handshake_is_not_swallowed(api, client) -> None:
    """The stream wraps a KeyboardInterrupt in its handshake as an API error; the waits would
    retry that. Ctrl-C arrives here while the client waits for the upgrade answer."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    main = threading.main_thread().ident
    assert main is not None

    def interrupt(*_: object) -> tuple[str, str, int]:
        signal.pthread_kill(main, signal.SIGINT)
        time.sleep(2)  # answer late: the interrupt lands while the client waits
        return "", "", 0

    api.exec_handler = interrupt
    try:
        with pytest.raises(KeyboardInterrupt):
            client.exec("ns", "p", "c", ["true"], timeout=5)
    finally:
        signal.signal(signal.SIGINT, previous)
