"""The diagnostics bundle: what it gathers, how it redacts, and a failing test that writes one."""

from __future__ import annotations

import base64
import json
import secrets
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from egress_e2e.running import diagnostics
from egress_e2e.running.diagnostics import DiagnosticsTarget, GatherItem, Workload

KUBECTL = str(Path(sys.executable).parent / "kubectl")


def _target(**overrides: object) -> DiagnosticsTarget:
    fields: dict[str, object] = dict(
        namespaces=("egress-a1",),
        workloads=(Workload("client", "egress-a1", "curl-7d9", app_container="curl"),
                   Workload("gateway", "egress-a1", "gw-5c4")),
        kubeconfig="/run/kubeconfig", fake_containers=("fake-internet",))
    fields.update(overrides)
    return DiagnosticsTarget(**fields)  # type: ignore[arg-type]


def test_gather_items_exact_commands() -> None:
    items = {item.file: list(item.argv) for item in diagnostics.gather_items(_target())}
    k = ["kubectl", "--kubeconfig", "/run/kubeconfig"]
    i = ["istioctl", "--kubeconfig", "/run/kubeconfig"]
    ns = "namespaces/egress-a1"
    client, gateway = "pods/client-egress-a1-curl-7d9", "pods/gateway-egress-a1-gw-5c4"
    assert items[f"{ns}/pods.txt"] == [*k, "get", "pods", "-n", "egress-a1", "-o", "wide"]
    assert items[f"{ns}/events.txt"] == [*k, "get", "events", "-n", "egress-a1",
                                         "--sort-by=.lastTimestamp"]
    assert items[f"{ns}/istio-config.yaml"][:3] == [*k, "get"][:3]
    assert "secrets" not in " ".join(items[f"{ns}/istio-config.yaml"])
    assert items[f"{ns}/istioctl-analyze.txt"] == [*i, "analyze", "-n", "egress-a1"]
    assert items[f"{client}/curl.log"] == [*k, "logs", "-n", "egress-a1", "curl-7d9", "-c",
                                           "curl", "--timestamps"]
    assert items[f"{client}/istio-proxy.previous.log"] == [
        *k, "logs", "-n", "egress-a1", "curl-7d9", "-c", "istio-proxy", "--timestamps",
        "--previous"]
    assert items[f"{gateway}/config_dump.json"] == [
        *k, "exec", "-n", "egress-a1", "gw-5c4", "-c", "istio-proxy", "--",
        "pilot-agent", "request", "GET", "config_dump"]
    assert items[f"{gateway}/clusters.txt"][-1] == "clusters"
    assert items[f"{gateway}/proxy-config-listeners.txt"] == [
        *i, "proxy-config", "listeners", "gw-5c4.egress-a1"]
    assert f"{gateway}/curl.log" not in items
    assert items["fakes/fake-internet.log"] == ["docker", "logs", "--timestamps",
                                                "fake-internet"]
    # namespace 5; client: app + proxy logs 4, agent 2, proxy-config 4; gateway 8; fake 1
    assert len(items) == 5 + 10 + 8 + 1


def test_gather_without_istioctl_or_proxy() -> None:
    target = _target(istioctl=None, kubeconfig=None, context="kind-egress",
                     workloads=(Workload("uninjected", "ns", "p", "curl", has_proxy=False),))
    files = [item.file for item in diagnostics.gather_items(target)]
    assert not [f for f in files if "istioctl" in f or "proxy-config" in f]
    assert not [f for f in files if "istio-proxy" in f or "config_dump" in f]
    first = diagnostics.gather_items(target)[0].argv
    assert first[:3] == ("kubectl", "--context", "kind-egress")


def test_gather_runs_real_commands_and_keeps_failures(tmp_path: Path) -> None:
    target = _target(kubectl=KUBECTL, kubeconfig=str(tmp_path / "missing"),
                     istioctl=str(tmp_path / "no-istioctl"), fake_containers=())
    items = [*diagnostics.gather_items(target)[:2],
             GatherItem("namespaces/egress-a1/istioctl-analyze.txt",
                        (str(tmp_path / "no-istioctl"), "analyze")),
             GatherItem("ok.txt", (sys.executable, "-c", "print('fine')"))]
    files = diagnostics.gather(items, timeout=20)
    assert files["ok.txt"] == "fine\n"
    pods = files["namespaces/egress-a1/pods.txt"]
    assert "--- exit 1: " in pods and "kubectl" in pods
    assert "executable not found" in files["namespaces/egress-a1/istioctl-analyze.txt"]


def _pem_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def test_redaction_of_yaml_list_flow_and_block_styles() -> None:
    value = "hunter2-" + secrets.token_hex(4)
    text = (
        "apiVersion: v1\nitems:\n- apiVersion: v1\n  data:\n"
        f"    password: {base64.b64encode(value.encode()).decode()}\n"
        "  kind: Secret\n  metadata:\n    name: creds\n"
        "- apiVersion: v1\n  data: {plain: visible}\n  kind: ConfigMap\nkind: List\n"
        "---\napiVersion: v1\nkind: Secret\nstringData: {inline: " + value + "x}\n"
        "---\napiVersion: v1\nkind: Secret\nstringData:\n  key.pem: |\n"
        + "".join(f"    {line}\n" for line in _pem_key().splitlines())
        + "metadata:\n  name: tls\n"
        "---\napiVersion: v1\nkind: ConfigMap\ndata:\n  keep: me\n"
    )
    out = diagnostics.redact(text)
    assert value not in out
    assert "PRIVATE KEY" not in out
    assert "name: creds" in out and "name: tls" in out
    assert "keep: me" in out
    assert "password: <redacted>" in out
    assert "stringData: <redacted>" in out


def test_redaction_of_free_text_tokens_and_keys() -> None:
    jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJzeXN0ZW0ifQ.c2lnbmF0dXJlLWJ5dGVz"
    text = (f"Authorization: Bearer abc.DEF-123_~+/==\nx-token: {jwt}\n"
            "users:\n- name: u\n  user:\n    token: sha256~secret\n"
            f'{{"key": {json.dumps(_pem_key())}}}\n'
            "Cert=-----BEGIN%20EC%20PRIVATE%20KEY-----%0AMHcCAQEE%0A-----END%20EC%20PRIVATE"
            "%20KEY-----%0A\n")
    out = diagnostics.redact(text)
    assert "abc.DEF" not in out and "Bearer <redacted>" in out
    assert jwt not in out
    assert "sha256~secret" not in out
    assert "MHcCAQEE" not in out
    assert "BEGIN PRIVATE KEY-----\\n" not in out
    assert out.count("<redacted>") >= 5


INNER_TEST = '''
from pathlib import Path

import pytest

from egress_e2e.running import diagnostics

ARTIFACTS = Path({artifacts!r})
FILES = {files!r}


@pytest.fixture
def scenario(request):
    """The runner's failure path in small: try the body; on failure, bundle, then re-raise."""
    def run(body):
        try:
            body()
        except Exception:
            items = diagnostics.gather_items(diagnostics.DiagnosticsTarget(
                namespaces=("egress-a1",), workloads=()))
            bundle = diagnostics.write_bundle(ARTIFACTS, "run-42", request.node.nodeid,
                                              FILES, items)
            diagnostics.attach(request.node, bundle)
            raise
    return run


def test_gateway_route(scenario):
    def body():
        assert False, "gateway log has no line for request 7f3c"
    scenario(body)


def test_fine(scenario):
    scenario(lambda: None)


def test_fails_while_applying(scenario):
    def body():
        raise RuntimeError("apply broke")
    scenario(body)
'''


def test_failing_example_writes_a_redacted_bundle(pytester: pytest.Pytester,
                                                 tmp_path: Path) -> None:
    password = "p4ss-" + secrets.token_hex(8)
    token = secrets.token_urlsafe(24)
    key_pem = _pem_key()
    key_b64 = base64.b64encode(key_pem.encode()).decode()
    secret_doc = {"apiVersion": "v1", "kind": "Secret",
                  "metadata": {"name": "client-credential", "namespace": "egress-a1"},
                  "data": {"tls.key": key_b64}, "stringData": {"password": password}}
    applied = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: client-credential\n"
        "  annotations:\n    kubectl.kubernetes.io/last-applied-configuration: "
        f"'{json.dumps(secret_doc)}'\n"
        f"data:\n  tls.key: {key_b64}\nstringData:\n  password: \"{password}\"\n"
        "---\napiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
        "metadata:\n  name: httpbin\nspec:\n  hosts: [httpbin.org]\n"
    )
    files = {
        "manifests/applied.yaml": applied,
        "pods/client/curl.log": f"connecting with password={password}\n"
                                f"Authorization: Bearer {token}\n",
        "pods/gateway/config_dump.json": json.dumps({"configs": [
            {"secret": secret_doc}, {"pem": key_pem}]}),
        "namespaces/egress-a1/secret.json": json.dumps(secret_doc, indent=2),
        "probe.txt": "request: curl -sS http://httpbin.org/headers\nstatus: 503\n",
    }
    artifacts = tmp_path / "artifacts"
    pytester.makepyfile(test_example=INNER_TEST.format(artifacts=str(artifacts), files=files))
    junit = tmp_path / "junit.xml"
    result = pytester.runpytest("-p", "no:cacheprovider", f"--junitxml={junit}", "-rA")
    result.assert_outcomes(passed=1, failed=2)

    runs = sorted((artifacts / "run-42").iterdir())
    assert [p.name for p in runs] == [
        "test_example.py_test_fails_while_applying", "test_example.py_test_gateway_route"]
    bundle = runs[1]
    written = sorted(str(p.relative_to(bundle)) for p in bundle.rglob("*") if p.is_file())
    assert written == sorted([*files, "index.txt"])
    forbidden = [password, token, key_b64, key_b64[:40], *key_pem.splitlines()[1:-1]]
    for path in artifacts.rglob("*"):
        if path.is_file():
            content = path.read_text()
            for value in forbidden:
                assert value not in content, f"{value[:12]}... leaked into {path}"
            assert "PRIVATE KEY-----\n" not in content
    applied_out = (bundle / "manifests/applied.yaml").read_text()
    assert "name: client-credential" in applied_out
    assert "hosts: [httpbin.org]" in applied_out
    assert json.loads((bundle / "namespaces/egress-a1/secret.json").read_text())["data"] == {
        "tls.key": "<redacted>"}
    assert (bundle / "probe.txt").read_text() == files["probe.txt"]
    index = (bundle / "index.txt").read_text()
    assert "namespaces/egress-a1/events.txt\n  $ kubectl get events -n egress-a1" in index

    # The path is in the JUnit report and in the terminal report of the failed test only.
    properties = {
        case.get("name"): [p.get("value") for p in case.iter("property")
                           if p.get("name") == diagnostics.BUNDLE_PROPERTY]
        for case in ET.parse(junit).getroot().iter("testcase")}
    assert properties == {"test_gateway_route": [str(bundle)], "test_fine": [],
                          "test_fails_while_applying": [str(runs[0])]}
    result.stdout.fnmatch_lines([f"*diagnostics bundle: {bundle}*"])


def test_bundle_paths_stay_inside(tmp_path: Path) -> None:
    assert diagnostics.bundle_dir(tmp_path, "run/1", "tests/a.py::test[x-y]") == (
        tmp_path / "run_1" / "tests_a.py_test_x-y")
    with pytest.raises(ValueError, match="escapes"):
        diagnostics.write_bundle(tmp_path, "r", "t", {"../../etc/x": "no"})
