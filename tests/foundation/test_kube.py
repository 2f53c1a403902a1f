"""The thin Kubernetes layer, with the real client against what can exist here: kubeconfig
files, and an API server address on loopback where nothing answers."""

from __future__ import annotations

from pathlib import Path

import pytest

from egress_e2e.core.errors import ClusterError
from egress_e2e.core.localproc import free_port
from egress_e2e.infra.kube import KubeClient, doc_ref


def _kubeconfig(tmp_path: Path, server: str) -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: {server}
contexts:
- name: c
  context: {{cluster: c, user: u}}
current-context: c
users:
- name: u
  user: {{token: not-a-real-token}}
""")
    return path


def test_a_kubeconfig_that_does_not_load_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "kubeconfig"
    path.write_text("garbage: [\n")
    with pytest.raises(ClusterError) as info:
        KubeClient(path)
    assert str(info.value).startswith(f"bad kubeconfig {path}:")
    assert "\n" not in str(info.value)


def test_a_server_that_does_not_answer_gives_cluster_errors(tmp_path: Path) -> None:
    """Every call the waits repeat fails as ClusterError (retried), never a raw client error."""
    client = KubeClient(_kubeconfig(tmp_path, f"http://127.0.0.1:{free_port()}"))
    client._core.api_client.configuration.retries = 0  # one attempt is enough to fail
    calls = {
        "list pods": lambda: client.pods("ns", "app=curl"),
        "list events in ns": lambda: client.events("ns"),
        "read configmap kube-system/coredns": lambda: client.configmap_data("kube-system",
                                                                            "coredns"),
        "read the server version": client.server_version,
        "exec in ns/curl/curl": lambda: client.exec("ns", "curl", "curl", ["true"], 5.0),
        "apply Namespace/x failed": lambda: client.apply(
            [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}]),
        "delete namespace x failed": lambda: client.delete_namespace("x"),
    }
    for what, call in calls.items():
        with pytest.raises(ClusterError) as info:
            call()
        assert str(info.value).startswith(what), str(info.value)


def test_doc_ref_names_kind_namespace_and_name() -> None:
    assert doc_ref({"kind": "Gateway", "metadata": {"name": "gw", "namespace": "a"}}) == \
        "Gateway/a/gw"
    assert doc_ref({"kind": "Namespace", "metadata": {"name": "a"}}) == "Namespace/a"
