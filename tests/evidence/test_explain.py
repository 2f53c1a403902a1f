"""``egress-e2e explain``: every scenario explains itself, and the argv it prints is the real
probe: run through an Envoy that replaces x-request-id as Istio's gateways do, its marker still
finds the Envoy's access-log line and reaches the upstream."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e import catalog
from egress_e2e.cli import main
from egress_e2e.core import localproc, proc, waits
from egress_e2e.evidence import accesslog, echo, probe
from egress_e2e.evidence.accesslog import ISTIO_TEXT_FORMAT

from .local_evidence import ENVOY

pytestmark = pytest.mark.timeout(60)


def _explain(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    assert main(["explain", *argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, dict)
    return data


@pytest.mark.parametrize("scenario_id", catalog.ids())
def test_every_scenario_explains_its_checks(scenario_id: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    scenario = catalog.by_id(scenario_id)
    data = _explain(capsys, scenario_id, "--isolated")
    assert data["id"] == scenario_id
    checks = data["checks"]
    assert isinstance(checks, list)
    assert [c["name"] for c in checks] == [c.name for c in scenario.checks]
    for check, declared in zip(checks, scenario.checks, strict=True):
        argv = check["argv"]
        assert argv[0] == "curl" and argv[argv.index("-A") + 1] == check["marker"]
        assert check["marker"].startswith(probe.MARKER_PREFIX)
        assert check["client"] == declared.probe.client
        assert [e["type"] for e in check["expect"]] == [
            type(e).__name__ for e in declared.expect]
    applies = data["applies"]
    assert isinstance(applies, list) and any(a["kind"] == "Namespace" for a in applies)


def test_text_names_each_check_its_argv_and_expectations(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "gateway-http"]) == 0
    text = capsys.readouterr().out
    assert "check (step 1): the request leaves through the gateway as plain HTTP" in text
    assert "marker: egress-e2e-probe/" in text
    assert "expects: the gateway's access log has a line for this probe" in text
    assert "-A egress-e2e-probe/" in text


def test_unknown_id_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["explain", "gateway-htp"]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "gateway-htp" in err[0] and "gateway-http" in err[0]


def _edge_gateway_config(listen: int, admin: int, upstream: int, log: Path) -> dict[str, object]:
    """An HTTP listener as Istio 1.30/1.31 configure a gateway's HTTP server for this purpose:
    ``use_remote_address`` and no internal address ranges (pilot/pkg/networking/core/
    gateway.go), so a request from a loopback peer is an edge request and Envoy >= 1.33 writes
    a new x-request-id; Istio's TEXT access-log format."""
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network."
                 "http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "outbound_0.0.0.0_8080",
        "use_remote_address": True,
        "access_log": [{"name": "envoy.access_loggers.file", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3."
                     "FileAccessLog",
            "path": str(log), "log_format": {"text_format_source": {
                "inline_string": ISTIO_TEXT_FORMAT}}}}],
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}],
        "route_config": {"name": "http.8080", "virtual_hosts": [{
            "name": "httpbin.org:80", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"},
                        "route": {"cluster": "outbound|80||httpbin.org"}}]}]},
    }
    return {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{"name": "0.0.0.0_8080", "address": {"socket_address": {
                "address": "127.0.0.1", "port_value": listen}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm}]}]}],
            "clusters": [{"name": "outbound|80||httpbin.org", "type": "STATIC",
                          "connect_timeout": "2s", "load_assignment": {
                              "cluster_name": "outbound|80||httpbin.org", "endpoints": [{
                                  "lb_endpoints": [{"endpoint": {"address": {
                                      "socket_address": {"address": "127.0.0.1",
                                                         "port_value": upstream}}}}]}]}}],
        },
    }


@pytest.fixture(scope="module")
def edge_gateway(tmp_path_factory: pytest.TempPathFactory,
                 httpbin_port: int) -> Iterator[tuple[int, Path]]:
    root = tmp_path_factory.mktemp("edge-gateway")
    listen, admin, log = localproc.free_port(), localproc.free_port(), root / "access.log"
    config = root / "envoy.json"
    config.write_text(json.dumps(_edge_gateway_config(listen, admin, httpbin_port, log)))
    argv = [str(ENVOY), "-c", str(config), "--base-id", str(random.randint(1000, 60000)),
            "--disable-hot-restart", "--concurrency", "1", "-l", "warning",
            "--file-flush-interval-msec", "50"]
    with localproc.running("envoy", argv, root / "envoy.log", port=admin,
                           timeout=20) as process:
        process.wait_for_port(listen)
        yield listen, log


def test_explained_argv_leaves_its_marker_past_a_gateway_that_replaces_request_ids(
        capsys: pytest.CaptureFixture[str], edge_gateway: tuple[int, Path]) -> None:
    port, log = edge_gateway
    data = _explain(capsys, "gateway-http")
    check = data["checks"][0]  # type: ignore[index]
    argv: list[str] = check["argv"]
    sent_id = argv[argv.index("-H") + 1].removeprefix("x-request-id: ")
    # The exact argv, with only the name resolution a cluster's DNS would do.
    proc_done = proc.run([*argv, "--connect-to", f"httpbin.org:80:127.0.0.1:{port}"],
                         timeout=30, check=False)
    assert proc_done.returncode == 0, proc_done.stderr
    headers = echo.parse_headers_body(proc_done.stdout.split("\n@@egress-e2e-")[0])
    assert headers.get("User-Agent") == check["marker"]

    def lines() -> list[accesslog.AccessLogEntry]:
        return accesslog.parse_all(log.read_text() if log.exists() else "")

    entries = waits.until(lines, lambda found: any(
        e.user_agent == check["marker"] for e in found), what="gateway access log line",
        timeout=10, interval=0.05)
    [mine] = [e for e in entries if probe.carries_marker(e.user_agent, check["marker"])]
    # The gateway replaced the id: matching by it, as the harness once did, finds nothing.
    assert mine.request_id != sent_id
    assert not [e for e in entries if probe.same_request_id(e.request_id, sent_id)]
    assert mine.upstream_cluster == "outbound|80||httpbin.org" and mine.response_code == 200
