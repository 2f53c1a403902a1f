"""Root conftest: loads the harness's pytest plugin for scenarios/ (and, inertly, for tests/)."""

pytest_plugins = ["egress_e2e.plugin"]
