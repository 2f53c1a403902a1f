"""The EnvoyFilter patches of the wildcard and tunnel scenarios are raw Envoy config that no
Istio schema checks (a
patch value is a free-form Struct). Assemble each filter's patches into an Envoy bootstrap the way
istiod would apply them and let the real Envoy binary validate it (``--mode validate``): unknown
fields, wrong type URLs, or a DNS cache shared with different settings all fail here."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from egress_e2e.core import proc
from egress_e2e.evidence import accesslog
from egress_e2e.fakes import local
from egress_e2e.rendering.render import Document

# Istio's bootstrap enables internal listeners (waypoints and HBONE use them too).
INTERNAL_LISTENER_EXTENSION = {
    "name": "envoy.bootstrap.internal_listener",
    "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.bootstrap.internal_listener.v3"
                 ".InternalListener",
    },
}



def _patches(envoy_filter: Document) -> list[dict[str, Any]]:
    patches = envoy_filter.body["spec"]["configPatches"]
    assert isinstance(patches, list)
    return patches


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """A proto-style merge, as Istio's MERGE does for these fields (maps merge, scalars win)."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def _bootstrap(envoy_filter: Document, gateway_tcp_listener: dict[str, Any] | None
               ) -> dict[str, Any]:
    """ADD patches become static listeners and clusters; a NETWORK_FILTER MERGE is applied to
    ``gateway_tcp_listener`` (standing in for the listener istiod builds for the Gateway)."""
    listeners: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    for patch in _patches(envoy_filter):
        operation, value = patch["patch"]["operation"], patch["patch"]["value"]
        if patch["applyTo"] == "LISTENER" and operation == "ADD":
            listeners.append(copy.deepcopy(value))
        elif patch["applyTo"] == "CLUSTER" and operation == "ADD":
            clusters.append(copy.deepcopy(value))
        elif patch["applyTo"] == "NETWORK_FILTER" and operation == "MERGE":
            assert gateway_tcp_listener is not None, "a MERGE needs the listener it patches"
            chain = gateway_tcp_listener["filter_chains"][0]
            chain["filters"] = [_merge(f, value) if f["name"] == value["name"] else f
                                for f in chain["filters"]]
            listeners.append(gateway_tcp_listener)
        else:
            pytest.fail(f"unexpected patch {patch['applyTo']} {operation}")
    return {
        "bootstrap_extensions": [INTERNAL_LISTENER_EXTENSION],
        "static_resources": {"listeners": listeners, "clusters": clusters},
    }


def _validate(tmp_path: Path, bootstrap: dict[str, Any]) -> None:
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(bootstrap, sort_keys=False))
    done = proc.run([str(local.envoy_binary()), "--mode", "validate", "-c", str(config),
                     "-l", "error",
                     "--base-id-path", str(tmp_path / "base-id"), "--use-dynamic-base-id"],
                    timeout=60, check=False)
    assert done.returncode == 0, f"envoy rejects the patches: {done.stdout}{done.stderr}"


def _gateway_tcp_listener() -> dict[str, Any]:
    """What istiod builds for the seed's dummy tcp route: a tcp_proxy to the dummy cluster."""
    return {
        "name": "0.0.0.0_8443",
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": 8443}},
        "filter_chains": [{"filters": [{
            "name": "envoy.filters.network.tcp_proxy",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.filters.network.tcp_proxy.v3"
                         ".TcpProxy",
                "stat_prefix": "outbound|8443||dummy.local",
                "cluster": "outbound|8443||dummy.local",
            },
        }]}],
    }


@pytest.mark.parametrize("layout_name", ["seed", "isolated"])
def test_sni_forward_proxy_patches_are_valid_envoy_config(tmp_path: Path, kit: type,
                                                          layout_name: str) -> None:
    built = kit.plan_for("wildcard-sni-proxy", layout_name)
    envoy_filter = kit.one(built.documents, "EnvoyFilter")
    bootstrap = _bootstrap(envoy_filter, _gateway_tcp_listener())
    # The MERGE really re-points the gateway's tcp_proxy at the internal listener's cluster.
    merged = bootstrap["static_resources"]["listeners"][-1]
    assert merged["filter_chains"][0]["filters"][0]["typed_config"]["cluster"] == "sni_cluster"
    _validate(tmp_path, bootstrap)


@pytest.mark.parametrize("layout_name", ["seed", "isolated"])
def test_connect_tunnel_patches_are_valid_envoy_config(tmp_path: Path, kit: type,
                                                       layout_name: str) -> None:
    built = kit.plan_for("connect-tunnel", layout_name)
    _validate(tmp_path, _bootstrap(kit.one(built.documents, "EnvoyFilter"), None))


def test_a_broken_patch_is_rejected(tmp_path: Path, kit: type) -> None:
    """The validation has teeth: a misspelt field in the same patches fails."""
    built = kit.plan_for("wildcard-sni-proxy", "isolated")
    bootstrap = _bootstrap(kit.one(built.documents, "EnvoyFilter"), _gateway_tcp_listener())
    bootstrap["static_resources"]["clusters"][1]["cluster_type"]["typed_config"][
        "dns_cache_config"]["dns_lookup_familly"] = "V4_ONLY"
    config = tmp_path / "envoy.yaml"
    config.write_text(yaml.safe_dump(bootstrap))
    done = proc.run([str(local.envoy_binary()), "--mode", "validate", "-c", str(config),
                     "-l", "error",
                     "--use-dynamic-base-id", "--base-id-path", str(tmp_path / "id")],
                    timeout=60, check=False)
    assert done.returncode != 0
    assert "dns_lookup_familly" in done.stdout + done.stderr


def test_internal_listener_logs_in_istios_default_format(kit: type) -> None:
    """Fill the internal listener's log format as Envoy would for a TCP connection and parse the
    line with the harness's access-log parser: cluster and SNI land in their fields."""
    built = kit.plan_for("wildcard-sni-proxy", "isolated")
    envoy_filter = kit.one(built.documents, "EnvoyFilter")
    (listener,) = [p["patch"]["value"] for p in _patches(envoy_filter)
                   if p["applyTo"] == "LISTENER"]
    tcp_proxy = listener["filter_chains"][0]["filters"][1]["typed_config"]
    text_format = tcp_proxy["access_log"][0]["typed_config"]["log_format"][
        "text_format_source"]["inline_string"]
    values = {
        "%START_TIME%": "2026-11-21T23:00:00.000Z", "%RESPONSE_CODE%": "0",
        "%BYTES_RECEIVED%": "806", "%BYTES_SENT%": "5378", "%DURATION%": "82",
        "%UPSTREAM_HOST%": "172.18.0.9:443",
        "%UPSTREAM_CLUSTER_RAW%": "dynamic_forward_proxy_cluster",
        "%UPSTREAM_LOCAL_ADDRESS%": "10.244.0.12:58604",
        "%DOWNSTREAM_LOCAL_ADDRESS%": "envoy://sni_listener/",
        "%DOWNSTREAM_REMOTE_ADDRESS%": "envoy://internal_client_address/",
        "%REQUESTED_SERVER_NAME%": "de.wikipedia.org",
    }
    line = text_format
    for field, value in values.items():
        line = line.replace(field, value)
    # Every other field is absent on a TCP connection; Envoy prints "-".
    line = re.sub(r"%[A-Z_]+(\([^)]*\))?%", "-", line).rstrip("\n")
    entry = accesslog.parse(line)
    assert entry.upstream_cluster == "dynamic_forward_proxy_cluster"
    assert entry.requested_server_name == "de.wikipedia.org"
    assert entry.is_tcp
