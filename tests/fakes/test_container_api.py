"""The container placement's real Docker calls (docker-py, on the engine testcontainers
resolves) against a stand-in Engine API on a unix socket: what is created, the files copied in
(not bind-mounted) before the start, the running check, and the one-line errors for a container
that exits, a registry that refuses a pull, a missing network and a Docker that is gone."""

from __future__ import annotations

import json
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from egress_e2e.core.errors import FakeInternetError
from egress_e2e.core.labels import RUN_LABEL
from egress_e2e.fakes import containers
from egress_e2e.fakes.pki import Pki, generate

from .docker_standin import DockerStandIn, serving

RUN = "d0c4e2a1b3c5"


@pytest.fixture
def engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[DockerStandIn]:
    # A unix socket path must stay short (108 bytes): not under pytest's tmp_path.
    with tempfile.TemporaryDirectory(prefix="dk-") as short, \
            serving(Path(short) / "docker.sock") as state:
        monkeypatch.setenv("DOCKER_HOST", state.host)
        monkeypatch.delenv("DOCKER_CONTEXT", raising=False)
        monkeypatch.delenv("DOCKER_TLS_VERIFY", raising=False)
        yield state


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return generate(tmp_path_factory.mktemp("pki") / "pki", RUN)


ROLES = ("httpbin", "nginx", "connect-proxy")


def _start_fails(tmp_path: Path, pki: Pki) -> pytest.ExceptionInfo[FakeInternetError]:
    with pytest.raises(FakeInternetError) as info, \
            containers.start_containers(tmp_path, RUN, pki, start_timeout=5):
        pytest.fail("started")
    return info


def _names() -> list[str]:
    return [containers.container_name(RUN, role) for role in ROLES]


def test_files_are_copied_in_before_start_and_everything_is_removed(engine, pki,
                                                                      tmp_path) -> None:
    with containers.start_containers(tmp_path, RUN, pki, start_timeout=5) as fakes:
        web = engine.by_name(_names()[1])
        proxy = engine.by_name(_names()[2])
        assert fakes.web_address == web.ip and fakes.proxy_address == proxy.ip
        web.stdout = b'block=tls sni=httpbin.org run=' + RUN.encode() + b"\n"
        assert fakes.nginx_access_log() == web.stdout.decode()
        created = {c.name: c for c in engine.containers.values()}
        archived = {name: c.files() for name, c in created.items()}
    assert engine.containers == {}   # reaped by label
    (listing,) = engine.sent("GET", "/containers/json")
    assert json.loads(listing.query["filters"][0]) == {"label": [f"{RUN_LABEL}={RUN}"]}

    # Each container: created, its files uploaded, then started; never a bind mount.
    for name in _names():
        ops = [(r.method, r.path) for r in engine.requests
               if name in r.query.get("name", []) or created[name].id in r.path]
        expected = [("POST", "/containers/create")]
        if not name.startswith("egress-e2e-httpbin"):
            expected.append(("PUT", f"/containers/{created[name].id}/archive"))
        expected.append(("POST", f"/containers/{created[name].id}/start"))
        assert [op for op in ops if op in expected] == expected, ops
        body = created[name].config
        assert body["HostConfig"].get("Binds") in (None, [])
        assert body["HostConfig"]["NetworkMode"] == "kind"
        assert body["Labels"][RUN_LABEL] == RUN
    assert created[_names()[2]].config["Env"] == ["ENVOY_UID=0"]
    assert sorted(created[_names()[2]].config["HostConfig"]["ExtraHosts"])[0].endswith(
        f":{created[_names()[1]].ip}")
    assert [r.query["path"] for r in engine.sent("PUT")] == [["/"], ["/"]]
    # After each start the container is inspected (running? its address on kind?).
    for name in _names():
        cid = created[name].id
        paths = [r.path for r in engine.requests]
        start = paths.index(f"/containers/{cid}/start")
        assert f"/containers/{cid}/json" in paths[start:]
    # The access log is read from both streams, as `docker logs` gives them.
    (logs,) = [r for r in engine.sent("GET") if r.path.endswith("/logs")]
    assert (logs.query["stdout"], logs.query["stderr"]) == (["1"], ["1"])

    nginx_files = archived[_names()[1]]
    assert nginx_files["/etc/fake-internet/pki/server.key"] == (
        0o600, pki.server_key.read_bytes())
    assert nginx_files["/etc/fake-internet/pki/ca.crt"] == (0o644, pki.ca_cert.read_bytes())
    assert nginx_files["/etc/fake-internet/nginx.conf"][0] == 0o644
    assert b"listen 443" in nginx_files["/etc/fake-internet/nginx.conf"][1]
    assert nginx_files["/etc/fake-internet"] == (0o755, b"/")
    assert nginx_files["/etc/fake-internet/pki"] == (0o755, b"/")
    assert not any("client.key" in path for files in archived.values() for path in files)
    proxy_files = archived[_names()[2]]
    keys = {path: mode for path, (mode, _) in proxy_files.items() if path.endswith(".key")}
    assert keys == {f"/etc/fake-internet/pki/{pki.server_key.name}": 0o600,
                    f"/etc/fake-internet/pki/{pki.untrusted_server_key.name}": 0o600}
    assert b"static_resources" in proxy_files["/etc/fake-internet/envoy-connect-proxy.yaml"][1]
    assert archived[_names()[0]] == {}


def test_missing_images_are_pulled_by_digest(engine, pki, tmp_path) -> None:
    with containers.start_containers(tmp_path, RUN, pki, start_timeout=5):
        pass
    pulls = [(r.query["fromImage"][0], r.query["tag"][0])
             for r in engine.sent("POST", "/images/create")]
    assert len(pulls) == 3
    for (repository, tag), spec_image in zip(pulls, _images(pki, tmp_path), strict=True):
        # The engine pulls <repository>@<digest>: the pinned bytes, whatever the tag says now.
        assert (repository, tag) == (spec_image.repository, spec_image.digest)


def _images(pki: Pki, tmp_path: Path) -> list[containers.Image]:
    conf = containers.write_nginx_config(tmp_path / "c", RUN)
    httpbin, nginx = containers.web_specs(RUN, pki, conf)
    proxy = containers.proxy_spec(RUN, pki, containers.write_proxy_config(tmp_path / "c", RUN,
                                                                          "1.2.3.4"), "1.2.3.4")
    return [httpbin.image, nginx.image, proxy.image]


def test_a_container_that_exits_is_one_line_with_its_log_tail(engine, pki, tmp_path) -> None:
    engine.exits[f"egress-e2e-nginx-{RUN}"] = (
        1, b'nginx: [emerg] open() "/etc/fake-internet/nginx.conf" failed (21: Is a directory)\n')
    info = _start_fails(tmp_path, pki)
    message = str(info.value)
    assert message.startswith(f"fake nginx: container egress-e2e-nginx-{RUN} exited (exit code 1)")
    assert "Is a directory" in message and "\n" not in message
    (logs,) = [r for r in engine.sent("GET") if r.path.endswith("/logs")]
    assert logs.query["tail"] == [str(containers.LOG_TAIL_LINES)]
    assert engine.containers == {}   # httpbin, already running, was removed too


def test_a_registry_that_refuses_the_pull_is_one_line(engine, pki, tmp_path) -> None:
    engine.pull_error = (500, "toomanyrequests: You have reached your pull rate limit.")
    info = _start_fails(tmp_path, pki)
    message = str(info.value)
    assert message.startswith("fake httpbin: pull docker.io/")
    assert "toomanyrequests" in message and "\n" not in message
    assert engine.sent("POST", "/containers/create") == []


def test_a_missing_kind_network_is_one_line(engine, pki, tmp_path) -> None:
    engine.networks = {"bridge"}
    assert str(_start_fails(tmp_path, pki).value).startswith(
        "fake httpbin: create the container failed: network kind not found")


def test_no_docker_is_one_line_and_the_cleanup_does_not_hide_it(pki, tmp_path,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/nothing.sock")
    info = _start_fails(tmp_path, pki)
    assert str(info.value).startswith("fake internet: connect to Docker failed:")
    assert "\n" not in str(info.value)


def test_the_archive_has_modes_owners_and_parent_directories(pki) -> None:
    import io
    import tarfile
    files = (containers.CopiedFile(pki.ca_cert, "/etc/fake-internet/pki/ca.crt"),
             containers.CopiedFile(pki.server_key, "/etc/fake-internet/pki/server.key", 0o600))
    with tarfile.open(fileobj=io.BytesIO(containers.archive(files))) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert list(members) == ["etc", "etc/fake-internet", "etc/fake-internet/pki",
                             "etc/fake-internet/pki/ca.crt", "etc/fake-internet/pki/server.key"]
    assert stat.S_IMODE(members["etc/fake-internet/pki/server.key"].mode) == 0o600
    assert all(m.uid == 0 and m.gid == 0 for m in members.values())
    assert members["etc/fake-internet"].isdir()
