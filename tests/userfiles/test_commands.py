"""The issue's acceptance, through the real entry points: `egress-e2e new`, then `lint`,
`list`, `render` (both layouts) and `explain` with --scenarios-dir, and pytest collecting the
file's scenario alone with -k. The examples under examples/scenarios pass the same."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from egress_e2e import catalog
from egress_e2e.cli import main
from egress_e2e.running import scenario_dirs

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "scenarios"
EXAMPLE_IDS = ("billing-gateway-http", "ledger-mtls-origination")


def _collect(directory: Path, keyword: str, *extra: str,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
         "scenarios", "--scenarios-dir", str(directory), "-k", keyword, "--collect-only", "-q",
         *extra], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        env=env if env is not None else {k: v for k, v in os.environ.items()
                                         if k != scenario_dirs.ENV})


def test_new_from_a_catalog_scenario_lints_lists_renders_and_collects(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "mine"
    assert main(["new", "my-egress", "--from", "gateway-http", "--dir", str(directory)]) == 0
    written = directory / "my-egress.yaml"
    text = written.read_text()
    assert text.startswith("# An egress-e2e scenario file")
    # Each field written carries what it does, once (model.DOCS, the schema's words).
    from egress_e2e.catalog.files import model

    for key in ("ScenarioFile.differs", "ScenarioFile.resources", "Step.says", "Check.probe"):
        said = f"# {key.split('.', 1)[1]}: {model.DOCS[key][:30]}"
        assert text.count(said) == 1, said
    assert "# The expectations, by name, with their fields" in text
    capsys.readouterr()

    assert main(["lint", "--scenarios-dir", str(directory)]) == 0
    assert "document(s) ok" in capsys.readouterr().err

    assert main(["list", "--scenarios-dir", str(directory)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == [*catalog.ids(), "my-egress"]
    assert lines[-1].split()[1] == "file"

    for layout in ([], ["--isolated"]):
        assert main(["render", "my-egress", *layout, "--scenarios-dir", str(directory)]) == 0
        docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
        kinds = {d["kind"] for d in docs}
        assert {"ServiceEntry", "Gateway", "VirtualService"} <= kinds
        gateway = next(d for d in docs if d["kind"] == "Gateway")
        assert gateway["spec"]["servers"][0]["hosts"] == ["httpbin.org"]
        if layout:
            assert gateway["metadata"]["namespace"].startswith("my-egress-")

    assert main(["explain", "my-egress", "--scenarios-dir", str(directory)]) == 0
    assert "check (step 1): the request leaves through the gateway as plain HTTP" in \
        capsys.readouterr().out

    done = _collect(directory, "my-egress")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "scenarios/test_catalog.py::test_scenario[my-egress]" in done.stdout
    total = len(catalog.ALL) + 1
    assert f"1/{total} tests collected ({total - 1} deselected)" in done.stdout


def test_the_env_names_the_directories_too(tmp_path: Path) -> None:
    directory = tmp_path / "mine"
    assert main(["new", "my-egress", "--dir", str(directory)]) == 0
    env = {**os.environ, scenario_dirs.ENV: str(directory)}
    done = subprocess.run([str(Path(sys.executable).parent / "egress-e2e"), "list"],
                          cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1].split()[0] == "my-egress"
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:randomly", "-p", "no:cacheprovider",
         "scenarios", "-k", "my-egress", "--collect-only", "-q"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=120, check=False)
    assert "test_scenario[my-egress]" in collected.stdout, collected.stdout


def test_new_refuses_to_overwrite_and_bad_input_is_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    directory = tmp_path / "mine"
    assert main(["new", "my-egress", "--dir", str(directory)]) == 0
    before = (directory / "my-egress.yaml").read_text()
    capsys.readouterr()
    assert main(["new", "my-egress", "--from", "passthrough", "--dir", str(directory)]) == 1
    assert capsys.readouterr().err == (f"egress-e2e: new my-egress: {directory}/my-egress.yaml "
                                       "exists already; not overwritten\n")
    assert (directory / "my-egress.yaml").read_text() == before
    for argv, said in (
            (["new", "My_Egress"], "new 'My_Egress': expected a lowercase DNS label"),
            (["new", "gateway-http"], "new gateway-http: a catalog scenario has that id"),
            (["new", "other", "--from", "gateway-htp"], "unknown scenario id 'gateway-htp'; "
                                                         "did you mean gateway-http")):
        assert main([*argv, "--dir", str(directory)]) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and said in err, err


def test_the_starter_lints_and_declares_its_host(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", "partner-api", "--dir", str(tmp_path)]) == 0
    assert main(["lint", "--scenarios-dir", str(tmp_path)]) == 0
    assert "hosts:" in (tmp_path / "partner-api.yaml").read_text()
    assert capsys.readouterr().err.endswith("document(s) ok\n")


def test_lint_refuses_a_resource_that_fails_lint_naming_the_file(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(EXAMPLES / "billing-gateway-http.yaml", tmp_path)
    path = tmp_path / "billing-gateway-http.yaml"
    path.write_text(path.read_text().replace("        resolution: DNS",
                                             "        resolutoin: DNS"))
    assert main(["lint", "--scenarios-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    line = next(n for n, text in enumerate(path.read_text().splitlines(), 1)
                if "- name: serviceentry" in text)
    assert out and all(o.startswith(f"{path}:{line}: resource serviceentry [") for o in out)
    assert any("ServiceEntry/billing-partner: spec.resolutoin:" in o for o in out)
    # Both layouts are linted.
    assert {o.split("[", 1)[1].split("]")[0] for o in out} == {
        "billing-gateway-http seed", "billing-gateway-http isolated"}


def test_lint_lists_every_field_problem_one_line_each(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(EXAMPLES / "billing-gateway-http.yaml", tmp_path)
    path = tmp_path / "billing-gateway-http.yaml"
    path.write_text(path.read_text().replace("mirrors:", "mirorrs:")
                    .replace("- FakeSaw:", "- FakeSeen:"))
    assert main(["lint", "--scenarios-dir", str(tmp_path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2
    assert out[0].startswith(f"{path}:6: mirorrs: unknown field")
    assert ": steps[0].checks[0].expect[3].FakeSeen: unknown expectation" in out[1]


def test_a_bad_file_stops_pytest_in_one_line(tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / "billing-gateway-http.yaml", tmp_path)
    path = tmp_path / "billing-gateway-http.yaml"
    path.write_text(path.read_text().replace("mirrors:", "mirorrs:"))
    done = _collect(tmp_path, "billing")
    assert done.returncode != 0
    said = [line for line in (done.stdout + done.stderr).splitlines() if "mirorrs" in line]
    assert len(said) == 1
    assert said[0].startswith(f"ERROR: egress-e2e: {path}:6: mirorrs: unknown field (did you "
                              "mean mirrors? expected one of: clients, data_planes, differs,")


def test_the_examples_lint_list_render_and_collect(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["lint", "--scenarios-dir", str(EXAMPLES)]) == 0
    assert "document(s) ok" in capsys.readouterr().err
    assert main(["list", "--scenarios-dir", str(EXAMPLES)]) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed[-2:] == list(EXAMPLE_IDS)
    for scenario_id in EXAMPLE_IDS:
        for layout in ([], ["--isolated"]):
            assert main(["render", scenario_id, *layout, "--scenarios-dir",
                         str(EXAMPLES)]) == 0
            docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
            assert any(d["kind"] == "ServiceEntry" for d in docs)
    done = _collect(EXAMPLES, " or ".join(EXAMPLE_IDS))
    assert done.returncode == 0, done.stdout + done.stderr
    for scenario_id in EXAMPLE_IDS:
        assert f"scenarios/test_catalog.py::test_scenario[{scenario_id}]" in done.stdout


def test_the_runs_own_selection_check_sees_the_files(tmp_path: Path) -> None:
    """pytest_sessionstart's cheap check collects in-process: it must be given the files too,
    or `-k my-egress` would select nothing and the run stop before it starts."""
    from egress_e2e.core.errors import ConfigError
    from egress_e2e.running import selection

    assert main(["new", "my-egress", "--dir", str(tmp_path)]) == 0
    paths = (str(ROOT / "scenarios"),)
    selection.check_run(selection.Run(paths, keyword="my-egress", rootdir=ROOT,
                                      scenarios_dirs=(str(tmp_path),)))
    with pytest.raises(ConfigError, match="-k 'my-egress' selects no scenario"):
        selection.check_run(selection.Run(paths, keyword="my-egress", rootdir=ROOT))
