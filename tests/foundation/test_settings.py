"""Option and environment parsing for the e2e run (pure functions, no cluster)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from egress_e2e.core.errors import ConfigError
from egress_e2e.session.settings import OPTIONS, Settings, resolve


def test_defaults_keep_nothing_and_use_kind() -> None:
    s = resolve({}, {})
    assert s == Settings()
    assert s.uses_kind and s.deletes_cluster
    assert s.artifacts_dir == Path("artifacts")


def test_flag_wins_over_environment() -> None:
    s = resolve({"istio_version": "1.31.1"}, {"EGRESS_E2E_ISTIO_VERSION": "1.30.5"})
    assert s.istio_version == "1.31.1"


def test_environment_used_when_flag_absent() -> None:
    env = {"EGRESS_E2E_ISTIO_VERSION": "1.30.5", "EGRESS_E2E_REUSE_CLUSTER": "yes",
           "EGRESS_E2E_TIMEOUT_SCALE": "2.5", "EGRESS_E2E_ACCESS_LOG_ENCODING": "json"}
    s = resolve({"istio_version": None, "reuse_cluster": False}, env)
    assert (s.istio_version, s.reuse_cluster, s.timeout_scale) == ("1.30.5", True, 2.5)
    assert s.access_log_encoding == "JSON"
    assert not s.deletes_cluster


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"EGRESS_E2E_KEEP_CLUSTER": "maybe"}, "EGRESS_E2E_KEEP_CLUSTER: expected 1/0/true/false"),
        ({"EGRESS_E2E_TIMEOUT_SCALE": "fast"}, "EGRESS_E2E_TIMEOUT_SCALE: expected a number"),
        ({"EGRESS_E2E_TIMEOUT_SCALE": "0"}, "--timeout-scale must be > 0"),
        ({"EGRESS_E2E_FAKES": "cloud"}, "expected one of containers, in-cluster"),
        ({"EGRESS_E2E_EXISTING_KUBECONFIG": "/nonexistent/kubeconfig"},
         "--existing-kubeconfig: no such file: /nonexistent/kubeconfig"),
    ],
)
def test_bad_values_give_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve({}, env)
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_existing_kubeconfig_means_no_kind(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    s = resolve({"existing_kubeconfig": str(kubeconfig)}, {})
    assert not s.uses_kind and not s.deletes_cluster
    # No kind network there: the fakes run in the cluster unless asked otherwise.
    assert s.fakes == "in-cluster"
    assert resolve({"existing_kubeconfig": str(kubeconfig), "fakes": "containers"},
                   {}).fakes == "containers"


def test_tool_binaries_must_be_executable(tmp_path: Path) -> None:
    tool = tmp_path / "kind"
    tool.write_text("#!/bin/sh\n")
    with pytest.raises(ConfigError, match="--kind-bin: not an executable file"):
        resolve({"kind_bin": str(tool)}, {})
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    assert resolve({"kind_bin": str(tool)}, {}).kind_bin == tool


def test_every_option_has_a_distinct_flag_and_env() -> None:
    assert len({o.flag for o in OPTIONS}) == len(OPTIONS)
    assert len({o.env for o in OPTIONS}) == len(OPTIONS)
    assert all(o.env.startswith("EGRESS_E2E_") for o in OPTIONS)
    assert set(Settings.__dataclass_fields__) == {o.dest for o in OPTIONS}
