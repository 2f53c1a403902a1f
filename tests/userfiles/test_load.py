"""Reading scenario files: a good one becomes the Scenario it spells; a bad one is refused in
one line, ``path:line: field: message``, at the line of the fault."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from egress_e2e import catalog
from egress_e2e.catalog.files import load as files
from egress_e2e.catalog.files import scaffold
from egress_e2e.core.errors import ConfigError
from egress_e2e.running import scenario_dirs
from egress_e2e.scenario.expectations import Echoed, FakeSaw, LogLine, Status

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "scenarios"
BILLING = EXAMPLES / "billing-gateway-http.yaml"


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text)
    return path


def _billing(tmp_path: Path, old: str = "", new: str = "") -> Path:
    text = BILLING.read_text()
    if old:
        assert old in text, old
        text = text.replace(old, new, 1)
    return _write(tmp_path, "billing-gateway-http", text)


def _line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_the_example_loads_into_the_scenario_it_spells() -> None:
    loaded = files.load(BILLING)
    scenario = loaded.scenario
    assert scenario.id == "billing-gateway-http"
    assert scenario.resources == ("serviceentry", "gateway", "virtualservice")
    assert scenario.gateway == "own" and scenario.clients == ("curl",)
    assert [hop.role for hop in scenario.flow] == ["app", "sidecar", "gateway", "external"]
    [check] = scenario.checks
    assert check.probe.url == "http://billing.partner.example/headers"
    assert check.expect == (
        Status(200), Echoed("X-Envoy-Peer-Metadata-Id", startswith="router~"),
        LogLine(proxy="gateway", method="GET", path="/headers", response_code=200,
                cluster="outbound|80||billing.partner.example"),
        FakeSaw(scheme="http", port=80))
    assert [(h.name, h.kind, h.internet) for h in loaded.hosts] == [
        ("billing.partner.example", "http", False)]
    assert scenario.seeds[0].file == files.FILE_SEED
    assert files.FILE_TAG in scenario.tags


def test_the_folder_form_reads_its_manifest_files() -> None:
    folder = EXAMPLES / "ledger-mtls-origination"
    loaded = files.load(folder / "scenario.yaml")
    assert loaded.resources["originate-mtls"] == (folder / "destinationrule-mtls.yaml").read_text()
    assert loaded.scenario.steps[1].delete == ("originate-mtls",)


@pytest.mark.parametrize("case", [
    ("mirrors:", "mirorrs:", "mirorrs:", "mirorrs", "unknown field (did you mean mirrors?"),
    ("        probe:\n", "        prob:\n", "prob:", "steps[0].checks[0].prob",
     "unknown field (did you mean probe?"),
    ("- Status: {code: 200}", "- Statuss: {code: 200}", "Statuss",
     "steps[0].checks[0].expect[0].Statuss", "unknown expectation (did you mean Status?"),
    ("- Status: {code: 200}", "- Status: {cod: 200}", "cod: 200",
     "steps[0].checks[0].expect[0].Status.cod", "unknown field (did you mean code?"),
    ("- Status: {code: 200}", "- Status: {code: ok}", "code: ok",
     "steps[0].checks[0].expect[0].Status.code", "expected an integer, got str 'ok'"),
    ("gateway: own", "gateway: mine", "gateway: mine", "gateway",
     "'mine' is not one of: own, shared, none"),
    ("gateway: own", "data_planes: [sidecar, ztunnel]", "data_planes", "data_planes[1]",
     "'ztunnel' is not one of: sidecar, ambient"),
    ("    apply: [serviceentry, gateway, virtualservice]",
     "    apply: [serviceentry, gateway, virtualservic]", "apply:", "steps[0].apply[2]",
     "'virtualservic' is not a resource of this file"),
    ("          url: http://billing.partner.example/headers",
     "          url: http://billing.partner.example/headers\n          client: other",
     "client: other", "steps[0].checks[0].probe.client", "'other' is not one of clients"),
    ("id: billing-gateway-http", "id: billing", "id: billing", "id",
     "'billing' differs from its file's name 'billing-gateway-http'"),
    ("gateway: own", "requires_istio: soon", "requires_istio", "requires_istio",
     "'soon' is not a version specifier"),
    ("gateway: own", "gateway: own\ngateway_api: billing-gw", "gateway: own", "gateway",
     "'own' with gateway_api: istiod deploys the Gateway API gateway; write gateway: none"),
    ("          url: http://billing.partner.example/headers",
     "          url: http://{clientns}.example/headers", "url:",
     "steps[0].checks[0].probe.url", "{clientns} is not a URL field (fields: {client_ns},"),
    ("    kind: http", "    kind: ftp", "kind: ftp", "hosts[0].kind",
     "'ftp' is not one of: http, tls, mtls"),
    ("  - name: gateway\n    manifest: |\n",
     "  - name: gateway\n    file: gw.yaml\n    manifest: |\n",
     "name: gateway", "resources[1]", "give exactly one of manifest (inline) or file"),
    ("        name: billing-egress\n        namespace", "        name: billing-egress\n"
     "        namespace: {{ client_ns\n        x", "x: {{ client_ns }}", "resources[1].manifest",
     "template line 6: expected token 'end of print statement'"),
])
def test_a_bad_file_is_one_line_at_its_fault(tmp_path: Path,
                                             case: tuple[str, str, str, str, str]) -> None:
    """(what to replace, with what, a text on the faulty line, the field, the message)"""
    old, new, needle, field, message = case
    path = _billing(tmp_path, old, new)
    with pytest.raises(ConfigError) as info:
        files.load(path)
    said = str(info.value)
    assert "\n" not in said
    line = _line_of(path, needle)
    assert said.startswith(f"{path}:{line}: {field}: {message}"), said


def test_a_missing_required_field_and_bad_yaml(tmp_path: Path) -> None:
    path = _billing(tmp_path, "title: Plain HTTP to billing.partner.example leaves through the "
                              "egress gateway\n", "")
    assert str(files.problems(path)[0]) == (f"{path}:{_line_of(path, 'id:')}: title: missing "
                                            "(a required field)")
    broken = _write(tmp_path, "broken", "id: broken\nflow: [\n")
    [problem] = files.problems(broken)
    assert problem.line == 3 and "not valid YAML" in problem.message
    twice = _write(tmp_path, "twice", "id: twice\nid: again\n")
    assert str(files.problems(twice)[0]) == f"{twice}:2: id: given twice"


def test_every_problem_is_listed_and_the_error_names_the_first(tmp_path: Path) -> None:
    path = _billing(tmp_path, "mirrors:", "mirorrs:")
    path.write_text(path.read_text().replace("- Status: {code: 200}", "- Statuss: {code: 200}"))
    found = files.problems(path)
    assert [p.field for p in found] == ["mirorrs", "steps[0].checks[0].expect[0].Statuss"]
    with pytest.raises(files.ScenarioFileError, match=r"\(and 1 more"):
        files.load(path)


def test_a_resource_file_must_stay_in_the_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ledger-mtls-origination"
    shutil.copytree(EXAMPLES / "ledger-mtls-origination", folder)
    scenario_file = folder / "scenario.yaml"
    scenario_file.write_text(scenario_file.read_text().replace(
        "file: gateway.yaml", "file: ../../gateway.yaml"))
    [problem] = files.problems(scenario_file)
    assert problem.field == "resources[1].file"
    assert "a path inside the scenario's folder" in problem.message
    scenario_file.write_text(scenario_file.read_text().replace(
        "file: ../../gateway.yaml", "file: nowhere.yaml"))
    assert "cannot read nowhere.yaml" in files.problems(scenario_file)[0].message


def test_an_id_may_not_repeat_a_catalog_one_or_another_files(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    for directory in (first, second):
        shutil.copy(BILLING, directory / BILLING.name)
    with pytest.raises(ConfigError) as info:
        scenario_dirs.load((first, second))
    line = _line_of(BILLING, "id:")
    assert str(info.value) == (f"{second / BILLING.name}:{line}: id: 'billing-gateway-http' is "
                               f"already declared by {first / BILLING.name}:{line}")
    clash = tmp_path / "c"
    clash.mkdir()
    (clash / "gateway-http.yaml").write_text(
        scaffold.to_text(scaffold.from_catalog("gateway-http", catalog.by_id("gateway-http"))))
    with pytest.raises(ConfigError) as info:
        scenario_dirs.load((clash,))
    path = clash / "gateway-http.yaml"
    assert str(info.value).startswith(f"{path}:{_line_of(path, 'id: gateway-http')}: id: "
                                      "'gateway-http' is already a catalog scenario's")


def test_dirs_come_from_the_flag_else_the_env(tmp_path: Path) -> None:
    env = {scenario_dirs.ENV: f"{tmp_path / 'x'}:{tmp_path / 'y'}:"}
    assert scenario_dirs.dirs_from(None, env) == (tmp_path / "x", tmp_path / "y")
    assert scenario_dirs.dirs_from([str(tmp_path / "z")], env) == (tmp_path / "z",)
    assert scenario_dirs.dirs_from(None, {}) == ()
    with pytest.raises(ConfigError, match="not a directory"):
        scenario_dirs.load((tmp_path / "missing",))


def test_an_internet_host_is_labelled_and_needs_allow_internet(tmp_path: Path) -> None:
    path = _billing(tmp_path, "    kind: http", "    kind: http\n    internet: true")
    user = scenario_dirs.load((tmp_path,))
    scenario = user.scenarios[0]
    assert scenario.title.endswith("[real internet: billing.partner.example]")
    assert files.INTERNET_TAG in scenario.tags
    reason = user.internet_skip_reason(scenario, allowed=False)
    assert reason == ("billing-gateway-http calls the real internet (billing.partner.example): "
                      "run with --allow-internet (or EGRESS_E2E_ALLOW_INTERNET=1) to allow it")
    assert user.internet_skip_reason(scenario, allowed=True) is None
    # Not faked, not in the DNS: the real host is what it calls.
    assert scenario_dirs.declare_hosts(user).names == ()
    assert [f.path for f in user.files] == [path]
    assert scenario_dirs.internet_allowed(False, {"EGRESS_E2E_ALLOW_INTERNET": "1"})
    assert not scenario_dirs.internet_allowed(False, {})
    with pytest.raises(ConfigError, match="expected 1 or 0"):
        scenario_dirs.internet_allowed(False, {"EGRESS_E2E_ALLOW_INTERNET": "maybe"})


def test_a_misspelt_required_field_is_one_problem(tmp_path: Path) -> None:
    """The misspelling names the right spelling; the right one is not also said missing (at
    the top level as inside a step)."""
    path = _billing(tmp_path, "title:", "titel:")
    path.write_text(path.read_text().replace("  - says:", "  - sayz:"))
    found = files.problems(path)
    assert [(p.line, p.field) for p in found] == [
        (_line_of(path, "titel:"), "titel"), (_line_of(path, "sayz:"), "steps[0].sayz")]
    assert all("unknown field (did you mean" in p.message for p in found)


def test_a_probe_timeout_must_be_positive(tmp_path: Path) -> None:
    path = _billing(tmp_path, "          url: http://billing.partner.example/headers",
                    "          url: http://billing.partner.example/headers\n"
                    "          timeout_s: 0")
    [problem] = files.problems(path)
    assert (problem.line, problem.field) == (_line_of(path, "timeout_s"),
                                             "steps[0].checks[0].probe.timeout_s")


@pytest.mark.parametrize("name", ["httpbin.org", "api.en.wikipedia.org", "api.billing.partner"
                                                                         ".example"])
def test_a_real_internet_host_may_not_be_a_faked_name(tmp_path: Path, name: str) -> None:
    """The run's DNS answers faked names and their subdomains with the fakes: a host marked
    internet under one would silently reach a fake."""
    path = _billing(tmp_path, "    kind: http\n",
                    f"    kind: http\n  - name: {name}\n    internet: true\n")
    [problem] = files.problems(path)
    assert problem.field == "hosts[1].internet"
    assert problem.line == _line_of(path, "internet: true")
    assert "cannot be the real internet: the run's DNS maps" in problem.message


def test_a_real_internet_host_another_file_fakes_is_refused(tmp_path: Path) -> None:
    shutil.copy(BILLING, tmp_path / BILLING.name)
    other = tmp_path / "other-billing.yaml"
    other.write_text(BILLING.read_text().replace("id: billing-gateway-http", "id: other-billing")
                     .replace("    kind: http", "    internet: true"))
    with pytest.raises(ConfigError) as info:
        scenario_dirs.load((tmp_path,))
    said = str(info.value)
    assert said.startswith(f"{other}:{_line_of(other, '- name: billing.partner.example')}: "
                           "hosts: 'billing.partner.example' is marked internet, but "
                           f"{tmp_path / BILLING.name} fakes billing.partner.example"), said


def test_loading_again_serves_the_files_as_they_are_now(tmp_path: Path) -> None:
    """The default renderer reads the registered resources live: a second load (a new test
    session in one process) renders the edited file, not the first text."""
    from egress_e2e.rendering.layout import Layout
    from egress_e2e.rendering.render import plan

    path = tmp_path / BILLING.name
    shutil.copy(BILLING, path)

    def ports() -> list[int]:
        scenario = scenario_dirs.load((tmp_path,)).scenarios[0]
        docs = plan(scenario, Layout.seed(scenario)).steps[0].apply
        entry = next(d for d in docs if d.kind == "ServiceEntry")
        return [p["number"] for p in entry.body["spec"]["ports"]]

    assert ports() == [80]
    path.write_text(path.read_text().replace("        - number: 80\n",
                                             "        - number: 8080\n", 1))
    assert ports() == [8080]


def test_the_url_fields_are_the_layouts() -> None:
    from egress_e2e.rendering.layout import Layout

    assert set(files.URL_FIELDS) == set(Layout.seed(catalog.ALL[0]).url_fields())
