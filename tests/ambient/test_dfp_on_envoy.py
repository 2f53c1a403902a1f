"""What the sidecar's HTTP DYNAMIC_DNS path needs from Envoy, measured on the real binary.

istiod gives a DYNAMIC_DNS wildcard port a dynamic forward proxy (DFP) cluster named like any
outbound cluster (pilot/pkg/networking/core/cluster.go, buildOutboundClusters) and adds the DFP
HTTP filter to the shared 0.0.0.0_80 listener only when the wildcard ServiceEntry is the service
that built that listener (listener_builder.go; listener.go returns early for later HTTP
services on the port). When another port-80 Service built it (the isolated layout's
http-80-placeholder), the route still goes to the DFP cluster but no filter feeds its DNS cache.
Whether that still answers is Envoy's business: the cluster resolves the host itself only with
the runtime flag ``envoy.reloadable_features.dfp_cluster_resolves_hosts`` on. These tests run
both listener shapes with the flag on and off, so the catalog's prediction for
dynamic-dns-wildcard's HTTP checks names the flag that decides it.
"""

from __future__ import annotations

import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from egress_e2e.catalog import wildcard
from egress_e2e.core import localproc
from egress_e2e.core.waits import until
from egress_e2e.fakes import local

CLUSTER = wildcard.DYNAMIC_DNS_HTTP_CLUSTER
FLAG = "envoy.reloadable_features.dfp_cluster_resolves_hosts"
CACHE = "outbound|80||*.wikipedia.org-dns"




class _Answer(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = f"reached {self.headers['Host']}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def upstream() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def _bootstrap(listen: int, admin: int, *, dfp_filter: bool, flag: bool | None
               ) -> dict[str, Any]:
    cache = {"name": CACHE, "dns_lookup_family": "V4_ONLY"}
    filters: list[dict[str, Any]] = []
    if dfp_filter:
        filters.append({"name": "envoy.filters.http.dynamic_forward_proxy", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.dynamic_forward_proxy"
                     ".v3.FilterConfig",
            "dns_cache_config": cache}})
    filters.append({"name": "envoy.filters.http.router", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}})
    hcm = {
        "@type": "type.googleapis.com/envoy.extensions.filters.network"
                 ".http_connection_manager.v3.HttpConnectionManager",
        "stat_prefix": "outbound_0.0.0.0_80",
        "access_log": [{"name": "envoy.access_loggers.stdout", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.access_loggers.stream.v3"
                     ".StdoutAccessLog",
            "log_format": {"text_format": "LINE %RESPONSE_CODE% %RESPONSE_FLAGS% "
                                          "%UPSTREAM_CLUSTER_RAW%\n"}}}],
        "route_config": {"name": "80", "virtual_hosts": [{
            "name": "*.wikipedia.org:80", "domains": ["*"],
            "routes": [{"match": {"prefix": "/"}, "route": {"cluster": CLUSTER}}]}]},
        "http_filters": filters,
    }
    config: dict[str, Any] = {
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin}}},
        "static_resources": {
            "listeners": [{
                "name": "0.0.0.0_80",
                "address": {"socket_address": {"address": "127.0.0.1", "port_value": listen}},
                "filter_chains": [{"filters": [{
                    "name": "envoy.filters.network.http_connection_manager",
                    "typed_config": hcm}]}]}],
            "clusters": [{
                "name": CLUSTER, "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "2s",
                "cluster_type": {"name": "envoy.clusters.dynamic_forward_proxy", "typed_config": {
                    "@type": "type.googleapis.com/envoy.extensions.clusters"
                             ".dynamic_forward_proxy.v3.ClusterConfig",
                    "dns_cache_config": cache}}}],
        },
    }
    if flag is not None:
        config["layered_runtime"] = {"layers": [{"name": "static",
                                                 "static_layer": {FLAG: flag}}]}
    return config


def _ready(admin: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/ready", timeout=1) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


@contextmanager
def _running(tmp_path: Path, **shape: Any) -> Iterator[tuple[int, Path]]:
    listen, admin = localproc.free_port(), localproc.free_port()
    tmp_path.mkdir(parents=True, exist_ok=True)
    config, log = tmp_path / "envoy.yaml", tmp_path / "envoy.log"
    config.write_text(yaml.safe_dump(_bootstrap(listen, admin, **shape), sort_keys=False))
    with log.open("w") as out:
        envoy = subprocess.Popen(
            [str(local.envoy_binary()), "-c", str(config), "-l", "warning", "--base-id-path",
             str(tmp_path / "base-id"), "--use-dynamic-base-id"],
            stdout=out, stderr=subprocess.STDOUT)
    try:
        until(lambda: _ready(admin), bool, what="envoy not ready", timeout=30, interval=0.1,
              describe=lambda _: log.read_text()[-500:])
        yield listen, log
    finally:
        envoy.terminate()
        envoy.wait(timeout=10)


def _get(listen: int, host: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{listen}/headers",
                                     headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def _line(log: Path) -> tuple[str, str, str]:
    """(response code, flags, cluster) of the last access-log line. An answered request may
    carry DC: urllib closes its connection first."""
    line: str = until(lambda: [ln for ln in log.read_text().splitlines() if ln.startswith("LINE ")],
                 bool, what="no access-log line", timeout=10, interval=0.1,
                 describe=lambda _: log.read_text()[-500:])[-1]
    _, code, flags, cluster = line.split(" ")
    return code, flags, cluster


@pytest.mark.parametrize("flag", [None, False])
def test_with_the_filter_the_dfp_cluster_answers_by_host(tmp_path: Path, upstream: int,
                                                         flag: bool | None) -> None:
    """The shape istiod builds when the wildcard ServiceEntry owns the listener."""
    with _running(tmp_path, dfp_filter=True, flag=flag) as (listen, log):
        assert _get(listen, f"localhost:{upstream}") == 200
        assert _line(log)[::2] == ("200", CLUSTER)


def test_without_the_filter_the_flag_decides(tmp_path: Path, upstream: int) -> None:
    """The shape istiod builds when an older port-80 Service owns the listener."""
    with _running(tmp_path / "off", dfp_filter=False, flag=False) as (listen, log):
        assert _get(listen, f"localhost:{upstream}") == 503
        assert _line(log) == ("503", "UH", CLUSTER)
    with _running(tmp_path / "on", dfp_filter=False, flag=True) as (listen, log):
        assert _get(listen, f"localhost:{upstream}") == 200
        assert _line(log)[::2] == ("200", CLUSTER)
