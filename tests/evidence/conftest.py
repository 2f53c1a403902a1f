"""Fixtures for the evidence-layer tests; the sources themselves live in local_evidence.py."""

from __future__ import annotations

import pytest

from .local_evidence import envoy, httpbin_port, pki

__all__ = ["envoy", "httpbin_port", "pki"]


def pytest_configure(config: pytest.Config) -> None:
    # pytest refuses ``pytest_plugins`` in a conftest below the rootdir when the whole suite
    # runs; registering here gives the diagnostics tests the ``pytester`` fixture either way.
    if not config.pluginmanager.has_plugin("pytester"):
        config.pluginmanager.import_plugin("pytester")
