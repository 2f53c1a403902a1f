"""``egress-e2e list``, ``render``, ``explain`` and ``lint``: the catalog, read without a
cluster."""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from egress_e2e.core.errors import ConfigError
from egress_e2e.scenario.gates import skip_reason
from egress_e2e.scenario.model import DATA_PLANES, Scenario

if TYPE_CHECKING:
    from egress_e2e.catalog.files.load import LoadedFile
    from egress_e2e.running.scenario_dirs import UserScenarios

# The catalog is imported when a command runs, not when the CLI starts: a broken scenario module
# must not take `preflight` or `clean` down with it (and its error then prints as one line).

# The run id `render --isolated` uses unless told: names look like a run's, stably.
RENDER_RUN_ID = "render"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    listing = sub.add_parser("list", help="list the scenarios: id, seeds, title")
    listing.add_argument("--istio-version", metavar="X",
                         help="mark scenarios that do not apply to this Istio version")
    listing.add_argument("--data-plane", choices=DATA_PLANES,
                         help="only the scenarios for this data plane (sidecar or ambient)")
    add_scenarios_dir(listing)
    listing.set_defaults(func=run_list)

    render = sub.add_parser("render", help="print a scenario's manifests as multi-document YAML")
    render.add_argument("scenario_id", metavar="ID")
    render.add_argument("--isolated", action="store_true",
                        help="the isolated layout the e2e run applies (default: seed layout)")
    render.add_argument("--run-id", default=RENDER_RUN_ID,
                        help="run id for the isolated layout's unique names "
                             f"(default: {RENDER_RUN_ID})")
    add_scenarios_dir(render)
    render.set_defaults(func=run_render)

    explain = sub.add_parser("explain", help="what a scenario applies and asserts: each check's "
                                             "client, curl argv, marker and expectations")
    explain.add_argument("scenario_id", metavar="ID")
    explain.add_argument("--json", action="store_true", help="as data, for tools and review")
    explain.add_argument("--isolated", action="store_true",
                         help="the isolated layout the e2e run applies (default: seed layout)")
    explain.add_argument("--run-id", default=RENDER_RUN_ID,
                         help=f"run id for the isolated layout (default: {RENDER_RUN_ID})")
    add_scenarios_dir(explain)
    explain.set_defaults(func=run_explain)

    lint = sub.add_parser("lint", help="validate manifests offline (Istio and Gateway API CRD "
                                       "schemas and CEL rules, Kubernetes schemas); no path: "
                                       "every scenario in both layouts")
    lint.add_argument("paths", nargs="*", metavar="PATH", type=Path)
    lint.add_argument("--istio-version", metavar="VERSION",
                      help="validate against this Istio release's CRDs (default: versions.toml's)")
    lint.add_argument("--istioctl", action="store_true",
                      help="also run that release's pinned istioctl (validate, analyze "
                           "--use-kube=false) on the same documents; $EGRESS_E2E_ISTIOCTL_BIN "
                           "names one you have")
    add_scenarios_dir(lint, "; with it (and no PATH), lint those files: their fields, then "
                            "their rendered resources in both layouts")
    lint.set_defaults(func=run_lint)


def add_scenarios_dir(parser: argparse.ArgumentParser, more: str = "") -> None:
    """--scenarios-dir, as the pytest plugin has it (docs/scenarios.md)."""
    from egress_e2e.running.scenario_dirs import ENV, FLAG

    parser.add_argument(FLAG, dest="scenarios_dir", action="append", type=Path, metavar="DIR",
                        help=f"add the scenario files in DIR (repeatable) [env {ENV}, "
                             f"{os.pathsep}-separated]{more}")


def user_scenarios(args: argparse.Namespace) -> UserScenarios:
    """The scenario files the command was pointed at (flag, else env), loaded."""
    from egress_e2e.running import scenario_dirs

    return scenario_dirs.load(scenario_dirs.dirs_from(getattr(args, "scenarios_dir", None),
                                                      os.environ))


def list_lines(scenarios: tuple[Scenario, ...], istio_version: str | None,
               data_plane: str | None = None) -> list[str]:
    """One line per scenario: id, seeds, data planes, title, and why a run would skip it.
    With ``data_plane``, only the scenarios for that data plane."""
    if data_plane is not None:
        scenarios = tuple(s for s in scenarios if data_plane in s.data_planes)
    width = max((len(s.id) for s in scenarios), default=0)
    lines = []
    for scenario in scenarios:
        seeds = ",".join(dict.fromkeys(seed.file.split("_", 1)[0] for seed in scenario.seeds))
        planes = ",".join(scenario.data_planes)
        line = f"{scenario.id:<{width}}  {seeds:<11}  {planes:<15}  {scenario.title}"
        plane = data_plane or scenario.data_planes[0]
        reason = skip_reason(scenario, istio_version, plane) if istio_version else None
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
    for line in list_lines((*catalog.ALL, *user_scenarios(args).scenarios), args.istio_version,
                           getattr(args, "data_plane", None)):
        print(line)
    return 0


def run_render(args: argparse.Namespace) -> int:
    from egress_e2e.rendering.layout import Layout
    from egress_e2e.rendering.render import (
        omitted_header,
        render_scenario,
        safe_to_apply,
        to_yaml,
    )
    from egress_e2e.running.scenario_dirs import by_id

    scenario = by_id(args.scenario_id, user_scenarios(args))
    layout = Layout.isolated_for(scenario, args.run_id) if args.isolated \
        else Layout.seed(scenario)
    docs, omitted = safe_to_apply(render_scenario(scenario, layout), layout)
    if not layout.isolated:
        sys.stdout.write(omitted_header(scenario.id, omitted))
    sys.stdout.write(to_yaml(docs))
    return 0


def run_explain(args: argparse.Namespace) -> int:
    import json

    from egress_e2e.rendering.layout import Layout
    from egress_e2e.report.explain import explain
    from egress_e2e.running.scenario_dirs import by_id

    scenario = by_id(args.scenario_id, user_scenarios(args))
    layout = Layout.isolated_for(scenario, args.run_id) if args.isolated \
        else Layout.seed(scenario)
    explained = explain(scenario, layout)
    if args.json:
        sys.stdout.write(json.dumps(explained.to_data(), indent=2) + "\n")
    else:
        sys.stdout.write(explained.to_text())
    return 0


# The validators `lint` runs come with the test extra, not with what `make e2e` installs.
_LINT_NEEDS = {"cel": "common-expression-language",
               "kubernetes_validate": "kubernetes-validate"}


def run_lint(args: argparse.Namespace) -> int:
    from egress_e2e import catalog
    from egress_e2e.rendering import lint
    from egress_e2e.running import scenario_dirs

    missing = [dist for module, dist in _LINT_NEEDS.items() if not _importable(module)]
    if missing:
        raise ConfigError(f"lint needs {', '.join(missing)} (the test extra): run 'make venv' "
                          "or pip install -e '.[test]' -c requirements.lock")
    istioctl = _lint_istioctl(args)
    problems: Sequence[object]
    if args.paths:
        count, problems = lint.lint_paths(args.paths, args.istio_version)
    elif scenario_dirs.dirs_from(args.scenarios_dir, os.environ):
        count, problems = lint_files(args)
    else:
        count, problems = lint.lint_catalog(catalog.ALL, istio_version=args.istio_version)
    for problem in problems:
        print(problem)
    found = len(problems)
    if istioctl is not None:
        from egress_e2e.rendering import istioctl_check

        found += istioctl_check.lint_findings(istioctl, args.paths, _linted_scenarios(args))
    if found:
        where = f"{count} document(s)" if count else "the scenario files"
        print(f"egress-e2e lint: {found} problem(s) in {where}", file=sys.stderr)
        return 1
    print(f"egress-e2e lint: {count} document(s) ok", file=sys.stderr)
    return 0


def _lint_istioctl(args: argparse.Namespace) -> Path | None:
    """With --istioctl, the pinned istioctl, obtained first: one error line if it cannot be."""
    if not getattr(args, "istioctl", False):
        return None
    from egress_e2e.rendering import istioctl_check

    return istioctl_check.obtain(getattr(args, "istio_version", None))


def _linted_scenarios(args: argparse.Namespace) -> list[Scenario]:
    """The scenarios lint rendered: --scenarios-dir's when given, else the catalog."""
    from egress_e2e import catalog
    from egress_e2e.running import scenario_dirs

    dirs = scenario_dirs.dirs_from(getattr(args, "scenarios_dir", None), os.environ)
    if dirs:
        return [one.scenario for one in scenario_dirs.load(dirs).files]
    return list(catalog.ALL)


def lint_files(args: argparse.Namespace) -> tuple[int, list[str]]:
    """Each scenario file's own problems (all of them, one line each), then the ids, then the
    rendered resources of the files that load, each problem relabelled with the file it came
    from: (documents, problems)."""
    from egress_e2e.catalog.files import load as files
    from egress_e2e.core.errors import EgressE2EError
    from egress_e2e.rendering import lint
    from egress_e2e.running import scenario_dirs

    dirs = scenario_dirs.dirs_from(getattr(args, "scenarios_dir", None), os.environ)
    paths = scenario_dirs.discover(dirs)
    if not paths:
        raise ConfigError(f"--scenarios-dir {' '.join(map(str, dirs))}: no scenario files "
                          "(<id>.yaml, or <id>/scenario.yaml)")
    problems = [str(p) for path in paths for p in files.problems(path)]
    if problems:
        return 0, problems
    user = scenario_dirs.load(dirs)  # an id clash raises its one line
    count = 0
    for one in user.files:
        try:
            found, lint_problems = lint.lint_catalog(
                [one.scenario], istio_version=getattr(args, "istio_version", None))
        except EgressE2EError as exc:
            problems.append(_relabel(str(exc), one))
            continue
        count += found
        problems += [_relabel(str(problem), one) for problem in lint_problems]
    return count, problems


def _relabel(line: str, one: LoadedFile) -> str:
    """A lint or render line about ``manifests/patterns/<id>/<name>.yaml`` (where the
    renderer serves a file's resource) names the scenario file and the resource's line."""
    for name, line_number in one.resource_lines.items():
        served = f"patterns/{one.scenario.id}/{name}.yaml"
        for prefix in (f"manifests/{served}", served):
            if prefix in line:
                return line.replace(prefix, f"{one.path}:{line_number}: resource {name} ", 1)
    return f"{one.path}: {line}"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False
