"""``egress-e2e list``, ``render``, ``explain`` and ``lint``: the catalog, read without a
cluster."""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

from egress_e2e.core.errors import ConfigError
from egress_e2e.scenario.gates import skip_reason
from egress_e2e.scenario.model import Scenario

# The catalog is imported when a command runs, not when the CLI starts: a broken scenario module
# must not take `preflight` or `clean` down with it (and its error then prints as one line).

# The run id `render --isolated` uses unless told: names look like a run's, stably.
RENDER_RUN_ID = "render"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = sub.add_parser("list", help="list the scenarios: id, seeds, title")
    listing.add_argument("--istio-version", metavar="X",
                         help="mark scenarios that do not apply to this Istio version")
    listing.set_defaults(func=run_list)

    render = sub.add_parser("render", help="print a scenario's manifests as multi-document YAML")
    render.add_argument("scenario_id", metavar="ID")
    render.add_argument("--isolated", action="store_true",
                        help="the isolated layout the e2e run applies (default: seed layout)")
    render.add_argument("--run-id", default=RENDER_RUN_ID,
                        help="run id for the isolated layout's unique names "
                             f"(default: {RENDER_RUN_ID})")
    render.set_defaults(func=run_render)

    explain = sub.add_parser("explain", help="what a scenario applies and asserts: each check's "
                                             "client, curl argv, marker and expectations")
    explain.add_argument("scenario_id", metavar="ID")
    explain.add_argument("--json", action="store_true", help="as data, for tools and review")
    explain.add_argument("--isolated", action="store_true",
                         help="the isolated layout the e2e run applies (default: seed layout)")
    explain.add_argument("--run-id", default=RENDER_RUN_ID,
                         help=f"run id for the isolated layout (default: {RENDER_RUN_ID})")
    explain.set_defaults(func=run_explain)

    lint = sub.add_parser("lint", help="validate manifests offline (Istio models, Kubernetes "
                                       "schemas); no path: every scenario in both layouts")
    lint.add_argument("paths", nargs="*", metavar="PATH", type=Path)
    lint.set_defaults(func=run_lint)


def list_lines(scenarios: tuple[Scenario, ...], istio_version: str | None) -> list[str]:
    width = max((len(s.id) for s in scenarios), default=0)
    lines = []
    for scenario in scenarios:
        seeds = ",".join(dict.fromkeys(seed.file.split("_", 1)[0] for seed in scenario.seeds))
        line = f"{scenario.id:<{width}}  {seeds:<11}  {scenario.title}"
        reason = skip_reason(scenario, istio_version) if istio_version else None
        if reason:
            line += f"  [skipped: {reason}]"
        lines.append(line)
    return lines


def run_list(args: argparse.Namespace) -> int:
    from egress_e2e import catalog
    from egress_e2e.infra import versions

    if args.istio_version:
        versions.parse_version(args.istio_version)  # not a version: one error line
        known = versions.load().known_istio
        if args.istio_version not in known:
            # Gates still apply (an --existing-kubeconfig cluster may run any release).
            print(f"egress-e2e: note: Istio {args.istio_version} is not pinned in versions.toml"
                  f" (pinned: {', '.join(known)})", file=sys.stderr)
    for line in list_lines(catalog.ALL, args.istio_version):
        print(line)
    return 0


def run_render(args: argparse.Namespace) -> int:
    from egress_e2e import catalog
    from egress_e2e.rendering.layout import Layout
    from egress_e2e.rendering.render import (
        omitted_header,
        render_scenario,
        safe_to_apply,
        to_yaml,
    )

    scenario = catalog.by_id(args.scenario_id)
    layout = Layout.isolated_for(scenario, args.run_id) if args.isolated \
        else Layout.seed(scenario)
    docs, omitted = safe_to_apply(render_scenario(scenario, layout), layout)
    if not layout.isolated:
        sys.stdout.write(omitted_header(scenario.id, omitted))
    sys.stdout.write(to_yaml(docs))
    return 0


def run_explain(args: argparse.Namespace) -> int:
    import json

    from egress_e2e import catalog
    from egress_e2e.rendering.layout import Layout
    from egress_e2e.report.explain import explain

    scenario = catalog.by_id(args.scenario_id)
    layout = Layout.isolated_for(scenario, args.run_id) if args.isolated \
        else Layout.seed(scenario)
    explained = explain(scenario, layout)
    if args.json:
        sys.stdout.write(json.dumps(explained.to_data(), indent=2) + "\n")
    else:
        sys.stdout.write(explained.to_text())
    return 0


# The validators `lint` runs come with the test extra, not with what `make e2e` installs.
_LINT_NEEDS = {"cloudcoil.models.istio": "cloudcoil-models-istio",
               "kubernetes_validate": "kubernetes-validate"}


def run_lint(args: argparse.Namespace) -> int:
    from egress_e2e import catalog
    from egress_e2e.rendering import lint

    missing = [dist for module, dist in _LINT_NEEDS.items() if not _importable(module)]
    if missing:
        raise ConfigError(f"lint needs {', '.join(missing)} (the test extra): run 'make venv' "
                          "or pip install -e '.[test]' -c requirements.lock")
    if args.paths:
        count, problems = lint.lint_paths(args.paths)
    else:
        count, problems = lint.lint_catalog(catalog.ALL)
    for problem in problems:
        print(problem)
    if problems:
        print(f"egress-e2e lint: {len(problems)} problem(s) in {count} document(s)",
              file=sys.stderr)
        return 1
    print(f"egress-e2e lint: {count} document(s) ok", file=sys.stderr)
    return 0


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
