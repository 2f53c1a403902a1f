"""A session deletes what a crashed worker left, and only what its own run labelled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from egress_e2e import catalog
from egress_e2e.core import proc
from egress_e2e.core.errors import CommandFailed
from egress_e2e.core.labels import RUN_LABEL_K8S
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import render_scenario
from egress_e2e.session import leftovers


def test_every_owned_namespace_carries_the_run_id() -> None:
    for scenario in catalog.ALL:
        layout = Layout.isolated_for(scenario, "run-7")
        namespaces = {doc.name: doc.body["metadata"]["labels"]
                      for doc in render_scenario(scenario, layout) if doc.kind == "Namespace"}
        assert set(layout.owned_namespaces) <= set(namespaces), scenario.id
        for name in layout.owned_namespaces:
            assert namespaces[name][RUN_LABEL_K8S] == "run-7", (scenario.id, name)


def test_the_seed_layout_labels_no_run() -> None:
    layout = Layout.seed(catalog.by_id("gateway-http"))
    for doc in render_scenario(catalog.by_id("gateway-http"), layout):
        if doc.kind == "Namespace":
            assert RUN_LABEL_K8S not in doc.body["metadata"]["labels"]


def test_sweep_deletes_by_this_runs_label_without_waiting(tmp_path: Path) -> None:
    sent: list[list[str]] = []

    def run(argv: list[str], **_: Any) -> proc.Completed:
        sent.append(argv)
        return proc.Completed(tuple(argv), 0, 'namespace "gateway-http-1a2b3c" deleted\n', "")

    deleted = leftovers.sweep(tmp_path / "kubeconfig", "abc123", run=run)
    assert deleted == ['namespace "gateway-http-1a2b3c" deleted']
    [argv] = sent
    assert argv[1:] == ["--kubeconfig", str(tmp_path / "kubeconfig"), "delete", "namespace",
                        "-l", "egress-e2e/run-id=abc123", "--ignore-not-found", "--wait=false"]


def test_sweep_never_selects_every_run() -> None:
    with pytest.raises(ValueError, match="every run"):
        leftovers.sweep(Path("kubeconfig"), "")


def test_sweep_with_the_real_kubectl_fails_in_one_line(tmp_path: Path) -> None:
    # No API server behind this kubeconfig: kubectl's own error, as the harness reports it.
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n"
        "    server: https://127.0.0.1:9\ncontexts:\n- name: c\n  context:\n    cluster: c\n"
        "    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: t\n")
    with pytest.raises(CommandFailed) as caught:
        leftovers.sweep(kubeconfig, "abc123")
    message = str(caught.value)
    assert "\n" not in message and "delete namespace -l egress-e2e/run-id=abc123" in message
