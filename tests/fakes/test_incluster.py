"""What the in-cluster placement would apply on an existing cluster: objects outside the mesh,
no Services the mesh could route to, the same configs and images as the containers."""

from __future__ import annotations

import base64

import kubernetes_validate
import pytest
import yaml

from egress_e2e.core.labels import RUN_LABEL
from egress_e2e.fakes import config, incluster
from egress_e2e.fakes.pki import generate
from egress_e2e.infra.images import image
from egress_e2e.scenario import hosts

RUN = "beef00112233"
WEB_IP = "10.244.0.17"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory):
    return generate(tmp_path_factory.mktemp("incluster") / "pki", RUN)


@pytest.fixture(scope="module")
def objects(pki):
    return [*incluster.web_objects(RUN, pki), *incluster.proxy_objects(RUN, WEB_IP)]


def _kind(objects, kind):
    return [obj for obj in objects if obj["kind"] == kind]


def test_objects_are_valid_kubernetes(objects) -> None:
    for obj in objects:
        kubernetes_validate.validate(obj, "1.33", strict=True)


def test_namespace_is_outside_the_mesh(objects) -> None:
    (namespace,) = _kind(objects, "Namespace")
    assert namespace["metadata"]["name"] == f"egress-e2e-fakes-{RUN}"
    assert namespace["metadata"]["labels"]["istio-injection"] == "disabled"
    for obj in objects[1:]:
        assert obj["metadata"]["namespace"] == namespace["metadata"]["name"]
        assert obj["metadata"]["labels"][RUN_LABEL] == RUN
    for deployment in _kind(objects, "Deployment"):
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pod_labels["sidecar.istio.io/inject"] == "false"


def test_no_service_the_mesh_could_route_to(objects) -> None:
    assert _kind(objects, "Service") == []


def test_pki_secret_holds_server_material_but_not_the_client_key(objects, pki) -> None:
    (secret,) = _kind(objects, "Secret")
    assert set(secret["data"]) == {"ca.crt", "server.crt", "server.key",
                                   "untrusted-server.crt", "untrusted-server.key"}
    assert base64.b64decode(secret["data"]["server.key"]) == pki.server_key.read_bytes()


def test_redacted_objects_hold_no_key_material(objects, pki) -> None:
    safe = incluster.redacted(objects)
    text = yaml.safe_dump_all(safe)
    key_b64 = base64.b64encode(pki.server_key.read_bytes()).decode()
    assert key_b64[:40] not in text
    assert "<redacted>" in text
    assert key_b64[:40] in yaml.safe_dump_all(objects)  # the originals are untouched
    assert len(safe) == len(objects)


def test_containers_match_the_container_placement(objects) -> None:
    web, proxy = _kind(objects, "Deployment")
    pods = {c["name"]: c for d in (web, proxy) for c in d["spec"]["template"]["spec"]["containers"]}
    assert pods["nginx"]["image"] == image("nginx").ref
    assert pods["httpbin"]["image"] == image("httpbin").ref
    assert pods["envoy"]["image"] == image("envoy").ref
    assert pods["nginx"]["command"] == config.nginx_argv("nginx", "/etc/fake-internet/nginx.conf")
    assert pods["envoy"]["command"][:3] == ["envoy", "-c",
                                            "/etc/fake-internet/envoy-connect-proxy.yaml"]
    assert {p["containerPort"] for p in pods["nginx"]["ports"]} == {80, 443, 8443, 9443}
    mounts = {m["mountPath"]: m for m in pods["nginx"]["volumeMounts"]}
    assert mounts["/etc/fake-internet/nginx.conf"]["subPath"] == "nginx.conf"
    assert mounts["/etc/fake-internet/pki"]["readOnly"] is True


def test_nginx_talks_to_httpbin_in_its_own_pod(objects) -> None:
    (web_config, _proxy_config) = _kind(objects, "ConfigMap")
    text = web_config["data"]["nginx.conf"]
    assert f"server 127.0.0.1:{config.HTTPBIN_PORT};" in text
    assert "(in-cluster)" in text


def test_proxy_tunnels_wildcards_and_the_web_pod_ip(objects) -> None:
    (_web_config, proxy_config) = _kind(objects, "ConfigMap")
    bootstrap = yaml.safe_load(proxy_config["data"]["envoy-connect-proxy.yaml"])
    hcm = bootstrap["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    served = hcm["typed_config"]["route_config"]["virtual_hosts"][0]["domains"]
    # The cluster DNS answers the whole wikipedia.org zone, so the wildcard is safe here.
    assert "*.wikipedia.org:443" in served
    assert f"{WEB_IP}:443" in served
    assert f"{hosts.CONNECT_PROXY}:443" not in served


def test_kubectl_commands_are_scoped_to_the_run() -> None:
    ns = f"egress-e2e-fakes-{RUN}"
    assert incluster.pod_ip_argv("kubectl", "/k", RUN, incluster.WEB_NAME) == [
        "kubectl", "--kubeconfig", "/k", "-n", ns, "get", "pods",
        "-l", f"app=fake-web,{RUN_LABEL}={RUN}",
        "-o", "jsonpath={.items[0].status.podIP}"]
    assert incluster.logs_argv("kubectl", "/k", RUN, incluster.PROXY_NAME, "envoy") == [
        "kubectl", "--kubeconfig", "/k", "-n", ns, "logs", "deployment/fake-connect-proxy",
        "-c", "envoy"]
