"""Root conftest: the harness's pytest plugin (active only for runs of scenarios/) and pytester,
which the offline tests use to run example test sessions."""

pytest_plugins = ["egress_e2e.running.plugin", "pytester"]
