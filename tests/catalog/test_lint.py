"""Offline lint: the whole catalog is clean in both layouts, and broken manifests fail with
the precise ``file:doc: Kind/name: field: message`` line."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from egress_e2e import catalog
from egress_e2e.catalog.via_gateway import GATEWAY_HTTP
from egress_e2e.cli import main
from egress_e2e.core.errors import ManifestError
from egress_e2e.core.paths import MANIFESTS_DIR
from egress_e2e.rendering import lint
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import BASE_TEMPLATES, Renderer, render_scenario
from egress_e2e.scenario.model import Step


def test_whole_catalog_lints_clean_in_both_layouts(capsys: pytest.CaptureFixture[str]) -> None:
    """`egress-e2e lint` with no path renders every scenario in both layouts and lints it."""
    status = main(["lint"])
    out, err = capsys.readouterr()
    assert (status, out) == (0, "")
    documents = int(err.split()[2])
    expected = sum(len(render_scenario(s, layout))
                   for s in catalog.ALL
                   for layout in (Layout.seed(s), Layout.isolated_for(s, "lint")))
    assert documents == expected


def test_lint_of_the_whole_catalog_takes_under_five_seconds() -> None:
    """Issue #13's budget, for the command as a user runs it (a fresh process, imports and
    schema bundles included)."""
    command = Path(sys.executable).with_name("egress-e2e")
    started = time.monotonic()
    done = subprocess.run([str(command), "lint"], capture_output=True, text=True, timeout=60,
                          check=False)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    assert elapsed < 5.0, f"lint took {elapsed:.1f} s"


def test_whole_catalog_lints_clean_against_istio_1_30(capsys: pytest.CaptureFixture[str]) -> None:
    """The older supported minor's CRDs (and Gateway API v1.5.1) accept the catalog too."""
    assert main(["lint", "--istio-version", "1.30"]) == 0
    assert capsys.readouterr().out == ""


def test_a_broken_template_fails_lint_at_its_document(tmp_path: Path) -> None:
    (tmp_path / "patterns" / "scratch").mkdir(parents=True)
    for name in BASE_TEMPLATES:
        (tmp_path / "base").mkdir(exist_ok=True)
        (tmp_path / "base" / f"{name}.yaml").write_text(
            (MANIFESTS_DIR / "base" / f"{name}.yaml").read_text())
    good = (MANIFESTS_DIR / "patterns" / "passthrough" / "virtualservice.yaml").read_text()
    (tmp_path / "patterns" / "scratch" / "vs.yaml").write_text(
        "{# two documents, the second misspells sniHosts #}\n" + good + "---\n"
        + good.replace("sniHosts:", "sniHost:", 1).replace("direct-httpbin", "typo-httpbin"))
    scenario = replace(GATEWAY_HTTP, id="scratch", steps=(Step(says="s", apply=("vs",)),))
    docs = Renderer(tmp_path).resources(scenario, Layout.seed(scenario), ["vs"])
    problems = [str(p) for p in lint.lint_rendered(docs, "scratch seed")]
    assert problems == [
        "manifests/patterns/scratch/vs.yaml[scratch seed]:2: "
        "VirtualService/typo-httpbin-through-egress-gateway: spec.tls[0].match[0].sniHosts: "
        "Required value",
        "manifests/patterns/scratch/vs.yaml[scratch seed]:2: "
        "VirtualService/typo-httpbin-through-egress-gateway: spec.tls[0].match[0].sniHost: "
        + lint.UNKNOWN_FIELD.format(path="spec.tls[0].match[0].sniHost"),
    ]


GOOD_GATEWAY = """\
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: istio-egressgateway
  namespace: default
spec:
  selector:
    istio: egressgateway
  servers:
  - port:
      number: 443
      name: https
      protocol: HTTPS
    hosts:
    - httpbin.org
    tls:
      mode: PASSTHROUGH
"""


def test_good_manifest_has_no_problems(tmp_path: Path) -> None:
    path = tmp_path / "good.yaml"
    path.write_text(GOOD_GATEWAY)
    assert lint.lint_paths([path]) == (1, [])


def test_bad_enum_value_gives_the_precise_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD_GATEWAY + "---\n" + GOOD_GATEWAY.replace("PASSTHROUGH", "PASSTRHOUGH"))
    count, problems = lint.lint_paths([path])
    assert count == 2
    assert len(problems) == 1
    line = str(problems[0])
    assert line == (f"{path}:2: Gateway/istio-egressgateway: spec.servers[0].tls.mode: "
                    'Unsupported value: "PASSTRHOUGH": supported values: "PASSTHROUGH", '
                    '"SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH", "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"')


def test_unknown_istio_field_is_reported(tmp_path: Path) -> None:
    """kubectl's strict field validation makes the API server refuse `credentialname`; other
    clients would have it pruned, and Istio would originate TLS without the CA."""
    text = """\
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: originate-tls-for-httpbin
  namespace: default
spec:
  host: httpbin.org
  trafficPolicy:
    portLevelSettings:
    - port:
        number: 443
      tls:
        mode: SIMPLE
        credentialname: fake-internet-ca
"""
    problems = lint.lint_text(text, "dr.yaml")
    where = "spec.trafficPolicy.portLevelSettings[0].tls.credentialname"
    assert [str(p) for p in problems] == [
        f"dr.yaml:1: DestinationRule/originate-tls-for-httpbin: {where}: unknown field "
        f'"{where}": with kubectl\'s default strict field validation the API server rejects the '
        "object; a client that does not ask for it has the field pruned with a warning"
    ]


def test_missing_required_istio_field() -> None:
    text = """\
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: v, namespace: default}
spec:
  hosts: [httpbin.org]
  tls:
  - match:
    - port: 443
      sniHost: [httpbin.org]
    route:
    - destination: {host: httpbin.org}
"""
    fields = {(p.field, p.message) for p in lint.lint_text(text, "vs.yaml")}
    assert ("spec.tls[0].match[0].sniHosts", "Required value") in fields


def test_core_kinds_are_checked_strictly() -> None:
    text = """\
apiVersion: v1
kind: Service
metadata: {name: s, namespace: default}
spec:
  portz: []
  ports: [{port: eighty}]
"""
    lines = [str(p) for p in lint.lint_text(text, "svc.yaml")]
    assert "svc.yaml:1: Service/s: spec.portz: " + lint.UNKNOWN_FIELD.format(path="spec.portz") \
        in lines
    assert "svc.yaml:1: Service/s: spec.ports[0].port: 'eighty' is not of type 'integer'" in lines


@pytest.mark.parametrize(("api_version", "kind", "expected"), [
    ("example.com/v1", "Widget", "unknown kind example.com/v1 Widget"),
    ("networking.istio.io/v1", "Gatway",
     "unknown kind networking.istio.io/v1 Gatway for Istio 1.31's CRDs"),
    ("networking.istio.io/v9", "Gateway", "(served: gateway.networking.k8s.io/v1, "
                                          "gateway.networking.k8s.io/v1beta1, "
                                          "networking.istio.io/v1, networking.istio.io/v1alpha3, "
                                          "networking.istio.io/v1beta1)"),
    ("gateway.networking.k8s.io/v1", "TLSRout", "unknown kind"),
])
def test_unknown_kinds_are_errors(api_version: str, kind: str, expected: str) -> None:
    text = f"apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: x}}\n"
    problems = lint.lint_text(text, "k.yaml")
    assert len(problems) == 1
    assert problems[0].field == "kind"
    assert expected in problems[0].message


def test_yaml_syntax_error_is_one_problem_with_its_line() -> None:
    problems = lint.lint_text("apiVersion: v1\nkind: [\n", "broken.yaml")
    assert len(problems) == 1
    assert "does not parse at line" in str(problems[0])


def test_missing_identity_fields() -> None:
    assert lint.lint_text("kind: Pod\nmetadata: {name: p}\n", "f")[0].field == "apiVersion"
    assert lint.lint_text("apiVersion: v1\nkind: Pod\n", "f")[0].field == "metadata.name"
    assert lint.lint_text("- a\n", "f")[0].message == "expected a mapping, got list"


def test_missing_path_is_a_manifest_error(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="no such file"):
        lint.lint_paths([tmp_path / "absent.yaml"])


def test_lint_command_on_a_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "good.yaml").write_text(GOOD_GATEWAY)
    (tmp_path / "bad.yml").write_text(GOOD_GATEWAY.replace("number: 443", "number: https"))
    assert main(["lint", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines()[0] == (
        f"{tmp_path / 'bad.yml'}:1: Gateway/istio-egressgateway: spec.servers[0].port.number: "
        'Invalid value: "string": spec.servers[0].port.number in body must be of type integer: '
        '"string"')
    assert "in 2 document(s)" in err
    assert main(["lint", str(tmp_path / "good.yaml")]) == 0


def test_secret_values_never_appear_in_lint_lines() -> None:
    # A Secret's data is map[string][]byte: what is not base64 is refused on decode; a value of
    # the wrong type is reported too. Neither line may quote the secret.
    secret = ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ntype: kubernetes.io/tls\n"
              "data: {tls.key: 'PRIVATE KEY not base64!', tls.crt: 424242, ok: aGk=,\n"
              "       wrapped: \"aGVs\\nbG8=\"}\nstringData: {other: [hunter2]}\n")
    lines = [str(p) for p in lint.lint_text(secret, "s.yaml")]
    assert lines == [
        "s.yaml:1: Secret/s: data.tls.crt: (value redacted) is not of type 'string', 'null'",
        "s.yaml:1: Secret/s: stringData.other: (value redacted) is not of type 'string', 'null'",
        "s.yaml:1: Secret/s: data.tls.key: Invalid value: (value redacted): illegal base64 data "
        "(the API server refuses the request while decoding it)"]
    assert not any(secret_text in line for line in lines
                   for secret_text in ("PRIVATE", "424242", "hunter2"))
