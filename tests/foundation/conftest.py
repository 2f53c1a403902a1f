"""Fixtures shared by the tests that drive the real Kubernetes client against the stand-in API
server (each module brings its own ``api``, the stand-in as that module needs it)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from egress_e2e.infra.kube import KubeClient

from .kube_standin import KubeStandIn


@pytest.fixture
def client(api: KubeStandIn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> KubeClient:
    # The dynamic client caches discovery in the temp directory, per server: keep it here.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return KubeClient(api.kubeconfig(tmp_path))
