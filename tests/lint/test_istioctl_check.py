"""``lint --istioctl``: the argv it runs, the parsers on istioctl's own output formats, and the
whole path through a stand-in ``istioctl`` executable that reads the files it is given."""

from __future__ import annotations

import json
import socket
import sys
import textwrap
from pathlib import Path

import pytest

from egress_e2e import cli
from egress_e2e.core.errors import CommandFailed, ConfigError, ManifestError
from egress_e2e.infra.tools import RetryPolicy
from egress_e2e.rendering import istioctl_check
from egress_e2e.rendering.istioctl_check import (
    AnalyzeMessage,
    Batch,
    Source,
    ValidateMessage,
    analyze_argv,
    parse_analyze,
    parse_validate,
    validate_argv,
)


def test_validate_argv() -> None:
    assert validate_argv(Path("/bin/istioctl"), [Path("/t/a.yaml"), Path("/t/dir")]) == [
        "/bin/istioctl", "validate", "-f", "/t/a.yaml", "-f", "/t/dir"]


def test_analyze_argv() -> None:
    assert analyze_argv(Path("/bin/istioctl"), [Path("/t/b001")]) == [
        "/bin/istioctl", "analyze", "--use-kube=false", "--all-namespaces", "--output", "json",
        "/t/b001"]


# istioctl/pkg/validate/validate.go validateFiles: the multierror (hashicorp's list format)
# comes back through cobra's "Error: " line; warnings are printed first, per file.
VALIDATE_ERRORS = (
    '"/t/b001/d0002.yaml" has warnings: \n'
    "\t* EnvoyFilter/apps/lua: EnvoyFilter exposes internal implementation details that may "
    "change at any time. Prefer other APIs if possible, and exercise extreme caution, "
    "especially around upgrades.\n"
    "\n"
    "Error: 3 errors occurred:\n"
    "\t* Gateway/apps/egress: gateway must have at least one server\n"
    "\t* AuthorizationPolicy/apps/deny: invalid policy deny.apps: DENY action without `rules` is "
    "meaningless as it will never be triggered, add an empty rule `{}` if you want it be "
    "triggered for every request\n"
    "\t* failed to decode file /t/b001/d0003.yaml:  error converting YAML to JSON: yaml: line 2: "
    "did not find expected key\n"
    "\n"
    "\n"
)


def test_parse_validate_errors_and_warnings() -> None:
    assert parse_validate(VALIDATE_ERRORS) == [
        ValidateMessage("Warning", "EnvoyFilter exposes internal implementation details that may "
                        "change at any time. Prefer other APIs if possible, and exercise extreme "
                        "caution, especially around upgrades.", ("EnvoyFilter", "apps", "lua"),
                        "/t/b001/d0002.yaml"),
        ValidateMessage("Error", "gateway must have at least one server",
                        ("Gateway", "apps", "egress")),
        ValidateMessage("Error", "invalid policy deny.apps: DENY action without `rules` is "
                        "meaningless as it will never be triggered, add an empty rule `{}` if you "
                        "want it be triggered for every request", ("AuthorizationPolicy", "apps",
                                                                    "deny")),
        ValidateMessage("Error", "failed to decode file /t/b001/d0003.yaml:  error converting YAML "
                        "to JSON: yaml: line 2: did not find expected key"),
    ]


def test_parse_validate_success_and_single_errors() -> None:
    assert parse_validate('"/t/b001/d0001.yaml" is valid\n"/t/b001/d0002.yaml" is valid\n') == []
    # One error is still a multierror ("1 error occurred:"); a namespace-less document has an
    # empty middle part; a plain error (no multierror) is one "Error: " line.
    assert parse_validate("Error: 1 error occurred:\n\t* Sidecar//default: sidecar: empty "
                          "configuration provided\n\n\n") == [
        ValidateMessage("Error", "sidecar: empty configuration provided",
                        ("Sidecar", "", "default"))]
    assert parse_validate("Error: no file provided\n") == [
        ValidateMessage("Error", "no file provided")]


# pkg/config/analysis/diag/message.go Unstructured, printed by formatting.printJSON
# (json.MarshalIndent with a tab: keys sorted, as Go marshals a map).
ANALYZE_JSON = json.dumps([
    {"code": "IST0101",
     "documentationUrl": "https://istio.io/v1.31/docs/reference/config/analysis/ist0101/"
                         "?ref=istioctl-analyze",
     "level": "Error",
     "message": 'Referenced selector not found: "istio=egressgateway"',
     "origin": "Gateway apps/egress",
     "reference": "/t/b001/d0001.yaml:6"},
    {"code": "IST0102", "documentationUrl": "https://istio.io/v1.31/docs/reference/config/"
                                            "analysis/ist0102/?ref=istioctl-analyze",
     "level": "Info", "message": "The namespace is not enabled for Istio injection. Run "
                                 "'kubectl label namespace apps istio-injection=enabled' to "
                                 "enable it, or 'kubectl label namespace apps "
                                 "istio-injection=disabled' to explicitly mark it as not "
                                 "needing injection.",
     "origin": "Namespace apps"},
], indent="\t")


def test_parse_analyze() -> None:
    messages = parse_analyze(ANALYZE_JSON + "\n")
    assert messages == [
        AnalyzeMessage("IST0101", "Error", 'Referenced selector not found: "istio=egressgateway"',
                       "Gateway apps/egress", "/t/b001/d0001.yaml:6"),
        AnalyzeMessage("IST0102", "Info", messages[1].message, "Namespace apps", ""),
    ]
    assert messages[0].file == "/t/b001/d0001.yaml"
    # No messages: Go marshals a nil slice as null, an empty one as [].
    assert parse_analyze("null\n") == []
    assert parse_analyze("[]\n") == []


def test_parse_analyze_without_json_is_one_error() -> None:
    with pytest.raises(ManifestError, match="printed no JSON"):
        parse_analyze("Error: unknown flag: --output\n")
    with pytest.raises(ManifestError, match="printed no JSON"):
        parse_analyze("[{truncated")


# ---- the stand-in: an executable that reads its files and answers in istioctl's formats ----

STAND_IN = '''#!{python}
"""A stand-in for istioctl: validate and analyze on the files it is given.

A document asks for a finding through annotations: standin/error (validate error), standin/warning
(validate warning), standin/analyze ("<code> <level> <message>"). Every call is logged as JSON.
"""
import json, os, sys
import yaml

args = sys.argv[1:]
with open(os.environ["STANDIN_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")


def files(paths):
    for path in paths:
        if os.path.isdir(path):
            for root, _, names in os.walk(path):
                for name in sorted(names):
                    if name.endswith((".yaml", ".yml", ".json")):
                        yield os.path.join(root, name)
        else:
            yield path


def docs(path):
    with open(path) as handle:
        for body in yaml.safe_load_all(handle):
            if body:
                yield body


def notes(body):
    return (body.get("metadata") or {{}}).get("annotations") or {{}}


def key(body):
    meta = body.get("metadata") or {{}}
    return f"{{body.get('kind')}}/{{meta.get('namespace', '')}}/{{meta.get('name')}}"


if args[0] == "validate":
    paths = [args[i + 1] for i, arg in enumerate(args) if arg == "-f"]
    errors, warned, valid = [], {{}}, []
    for path in files(paths):
        for body in docs(path):
            if "standin/error" in notes(body):
                errors.append(f"{{key(body)}}: {{notes(body)['standin/error']}}")
            if "standin/warning" in notes(body):
                warning = notes(body)["standin/warning"]
                warned.setdefault(path, []).append(f"{{key(body)}}: {{warning}}")
        valid.append(path)
    for path, items in warned.items():
        points = "\\n\\t".join("* " + item for item in items)
        sys.stderr.write(f'"{{path}}" has warnings: \\n\\t{{points}}\\n\\n')
    if errors:
        count = "1 error" if len(errors) == 1 else f"{{len(errors)}} errors"
        points = "\\n\\t".join("* " + item for item in errors)
        sys.stderr.write(f"Error: {{count}} occurred:\\n\\t{{points}}\\n\\n\\n")
        sys.exit(1)
    for path in valid:
        sys.stderr.write(f'"{{path}}" is valid\\n')
    sys.exit(0)

if args[0] == "analyze":
    if args[1:5] != ["--use-kube=false", "--all-namespaces", "--output", "json"]:
        sys.stderr.write("Error: the stand-in knows only the files-only JSON call\\n")
        sys.exit(64)
    messages = []
    for path in files(args[5:]):
        for body in docs(path):
            wanted = notes(body).get("standin/analyze")
            if wanted:
                code, level, text = wanted.split(" ", 2)
                meta = body["metadata"]
                name = f"{{meta.get('namespace', '')}}/{{meta['name']}}"
                messages.append({{"code": code, "level": level, "message": text,
                                  "origin": f"{{body['kind']}} {{name}}",
                                  "reference": f"{{path}}:4",
                                  "documentationUrl": "https://istio.io/x"}})
    print(json.dumps(messages, indent="\\t", sort_keys=True) if messages else "null")
    if not messages:
        sys.stderr.write("\\u2714 No validation issues found when analyzing namespace: default.\\n")
    sys.exit(0)

sys.stderr.write("Error: unknown command\\n")
sys.exit(64)
'''


@pytest.fixture
def stand_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    script = tmp_path / "bin" / "istioctl"
    script.parent.mkdir()
    script.write_text(STAND_IN.format(python=sys.executable))
    script.chmod(0o755)
    monkeypatch.setenv("STANDIN_LOG", str(tmp_path / "calls.jsonl"))
    monkeypatch.setenv("EGRESS_E2E_ISTIOCTL_BIN", str(script))
    return script


def calls(tmp_path: Path) -> list[list[str]]:
    log = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


GOOD_SE = """\
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata:
  name: cnn
  namespace: apps
  annotations:
    standin/warning: 'addresses are required for ports serving TCP (or unset) protocol'
spec:
  hosts: [edition.cnn.com]
  ports: [{number: 443, name: tls, protocol: TLS}]
  resolution: DNS
"""

BAD_GATEWAY = """\
apiVersion: networking.istio.io/v1
kind: Gateway
metadata:
  name: egress
  namespace: apps
  annotations:
    standin/error: server must have TLS settings for HTTPS/TLS protocols
    standin/analyze: 'IST0101 Error Referenced credentialName not found: "gw-cert"'
spec:
  selector: {istio: egressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: [edition.cnn.com]
    tls: {mode: SIMPLE, credentialName: gw-cert}
"""


def test_lint_istioctl_end_to_end(tmp_path: Path, stand_in: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "egress.yaml"
    manifest.write_text(GOOD_SE + "---\n" + BAD_GATEWAY)
    code = cli.main(["lint", "--istioctl", str(manifest)])
    out, err = capsys.readouterr()
    assert code == 1
    # lint's own checks pass this file; the two errors come from the stand-in, one line each,
    # named after the user's file and document.
    assert out.splitlines() == [
        f"istioctl validate: {manifest}:2: Gateway/egress: (document): server must have TLS "
        "settings for HTTPS/TLS protocols",
        f"istioctl analyze IST0101: {manifest}:2: Gateway/egress: (document): Referenced "
        'credentialName not found: "gw-cert"',
    ]
    assert (f"egress-e2e lint: warning: istioctl validate: {manifest}:1: ServiceEntry/cnn: "
            "(document): addresses are required for ports serving TCP (or unset) protocol") in err
    assert "egress-e2e lint: 2 problem(s) in 2 document(s)" in err
    validate, analyze = calls(tmp_path)
    assert validate[:2] == ["validate", "-f"]
    assert analyze[:5] == ["analyze", "--use-kube=false", "--all-namespaces", "--output", "json"]
    # The temporary directory held one file per document, and is gone.
    workdir = Path(validate[2])
    assert workdir.name.startswith("egress-e2e-istioctl-")
    assert Path(analyze[5]).parent == workdir
    assert not workdir.exists()


def test_a_gateway_selector_without_pods_is_only_a_warning_offline(
        tmp_path: Path, stand_in: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Files hold no pods: the installed gateway's are on the cluster only, so analyze's
    # IST0101 for a Gateway selector says nothing about the files.
    manifest = tmp_path / "gw.yaml"
    manifest.write_text(BAD_GATEWAY.replace(
        "    standin/error: server must have TLS settings for HTTPS/TLS protocols\n", "").replace(
        'Referenced credentialName not found: "gw-cert"',
        'Referenced selector not found: "istio=egressgateway"'))
    assert cli.main(["lint", "--istioctl", str(manifest)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert ('warning: istioctl analyze IST0101: ' in err
            and 'Referenced selector not found: "istio=egressgateway" (offline: no pods in the '
                'files)' in err)


def test_lint_istioctl_clean_file_passes(tmp_path: Path, stand_in: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    manifest = tmp_path / "se.yaml"
    manifest.write_text(GOOD_SE)
    assert cli.main(["lint", "--istioctl", str(manifest)]) == 0
    out, err = capsys.readouterr()
    assert out == ""
    assert "1 document(s) ok" in err


def test_a_key_in_several_documents_is_told_apart_file_by_file(
        tmp_path: Path, stand_in: Path) -> None:
    bad = BAD_GATEWAY.replace("    standin/analyze: 'IST0101 Error Referenced credentialName not "
                              'found: "gw-cert"\'\n', "")
    good = bad.replace("    standin/error: server must have TLS settings for HTTPS/TLS "
                       "protocols\n", "")
    import yaml
    batches = [Batch("one", (Source("a.yaml", 1, yaml.safe_load(good)),)),
               Batch("two", (Source("b.yaml", 1, yaml.safe_load(bad)),))]
    findings = istioctl_check.check(batches, stand_in)
    assert [(f.source.file if f.source else None, f.message) for f in findings] == [
        ("b.yaml", "server must have TLS settings for HTTPS/TLS protocols")]
    # One run over everything, then each candidate file alone, then analyze per batch.
    assert [call[0] for call in calls(tmp_path)] == ["validate", "validate", "validate",
                                                     "analyze", "analyze"]


def test_the_catalog_runs_validate_once_and_analyze_per_plan(
        tmp_path: Path, stand_in: Path) -> None:
    from egress_e2e import catalog

    scenarios = catalog.ALL[:2]
    assert istioctl_check.lint_findings(stand_in, [], scenarios) == 0
    made = calls(tmp_path)
    assert [call[0] for call in made] == ["validate"] + ["analyze"] * (2 * len(scenarios))


def test_an_istioctl_that_fails_otherwise_is_one_error(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "istioctl"
    broken.write_text("#!/bin/sh\necho 'Error: unknown flag: --use-kube' >&2\nexit 64\n")
    broken.chmod(0o755)
    batch = Batch("x", (Source("a.yaml", 1, {"apiVersion": "v1", "kind": "Namespace",
                                              "metadata": {"name": "apps"}}),))
    with pytest.raises(CommandFailed, match="exited 64"):
        istioctl_check.check([batch], broken)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_without_istioctl_obtain_fails_in_one_line(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EGRESS_E2E_ISTIOCTL_BIN", raising=False)
    monkeypatch.setenv("EGRESS_E2E_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EGRESS_E2E_ISTIO_BASE_URL", f"http://127.0.0.1:{_closed_port()}/d")
    with pytest.raises(ConfigError) as caught:
        istioctl_check.obtain(retry=RetryPolicy(attempts=1, first_wait=0, timeout=2))
    message = str(caught.value)
    assert message.startswith("lint --istioctl: cannot obtain istioctl ")
    assert "cannot reach 127.0.0.1" in message
    assert "EGRESS_E2E_ISTIOCTL_BIN" in message
    assert "\n" not in message


def test_lint_istioctl_with_an_unusable_binary_is_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    not_executable = tmp_path / "istioctl"
    not_executable.write_text("")
    monkeypatch.setenv("EGRESS_E2E_ISTIOCTL_BIN", str(not_executable))
    manifest = tmp_path / "se.yaml"
    manifest.write_text(GOOD_SE)
    assert cli.main(["lint", "--istioctl", str(manifest)]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith("egress-e2e: lint --istioctl: cannot obtain istioctl ")
    assert "Traceback" not in err


def test_the_stand_in_itself_speaks_istioctls_format(tmp_path: Path, stand_in: Path) -> None:
    # The parsers read what the stand-in prints, so check it against the hand-written sample.
    manifest = tmp_path / "gw.yaml"
    manifest.write_text(BAD_GATEWAY)
    from egress_e2e.core import proc

    done = proc.run(validate_argv(stand_in, [manifest]), check=False)
    assert done.returncode == 1
    assert done.stderr == textwrap.dedent("""\
        Error: 1 error occurred:
        \t* Gateway/apps/egress: server must have TLS settings for HTTPS/TLS protocols


        """)


def test_lint_istioctl_with_a_scenarios_dir_checks_those_scenarios(
        tmp_path: Path, stand_in: Path, capsys: pytest.CaptureFixture[str]) -> None:
    examples = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
    if not examples.is_dir():
        pytest.skip("no examples/scenarios in this tree")
    code = cli.main(["lint", "--istioctl", "--scenarios-dir", str(examples)])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    made = calls(tmp_path)
    # validate once, then analyze for each example scenario in both layouts.
    assert made[0][0] == "validate"
    assert len(made) > 1
    assert {call[0] for call in made[1:]} == {"analyze"}
    assert (len(made) - 1) % 2 == 0


def test_path_batch_reads_documents_as_lint_does(tmp_path: Path) -> None:
    # istioctl must be given the values lint checked: kubectl keeps a date and 1:30 as strings
    # and an unquoted "2001:db8::" in a flow list as one string.
    file = tmp_path / "se.yaml"
    file.write_text("apiVersion: networking.istio.io/v1\nkind: ServiceEntry\n"
                    "metadata: {name: se, labels: {since: 2026-01-02, at: 1:30}}\n"
                    "spec: {hosts: [a.test], addresses: [2001:db8::]}\n")
    (doc,) = istioctl_check.path_batch([file]).docs
    assert doc.body["metadata"]["labels"] == {"since": "2026-01-02", "at": "1:30"}
    assert doc.body["spec"]["addresses"] == ["2001:db8::"]
