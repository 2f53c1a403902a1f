"""Scenario files' resources as templates the renderer finds where it finds the catalog's.

A file's resource ``<name>`` of scenario ``<id>`` is served, from memory, as the template
``patterns/<id>/<name>.yaml`` (``render.pattern_path``): ``render.add_templates`` serves this
module's mapping in front of the manifests directory. So ``plan``, ``render``, ``explain``,
``lint`` and the runner render a file's scenario exactly as a catalog one: same Jinja
environment, same variables, same ``{% include %}`` of catalog templates. File ids never equal
catalog ids (refused on load), so nothing of the catalog's is shadowed in the default renderer.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import jinja2

from egress_e2e.core.paths import MANIFESTS_DIR
from egress_e2e.rendering import render

# Read live by the default renderer (render.add_templates): edited in place, never replaced.
_TEMPLATES: dict[str, str] = {}


def templates_of(scenario_id: str, resources: Mapping[str, str]) -> dict[str, str]:
    """Resource name -> text, as template path -> text."""
    return {render.pattern_path(scenario_id, name): text for name, text in resources.items()}


def register(scenario_id: str, resources: Mapping[str, str]) -> None:
    """Make the default renderer (``render.plan`` and friends) serve these resources, in place
    of what an earlier load registered for this id (ids are unique within one load; a process
    that loads again, such as a test session, sees the files as they are now)."""
    folder = render.pattern_path(scenario_id, "-").rsplit("/", 1)[0] + "/"
    stale = [path for path in _TEMPLATES if path.startswith(folder)]
    for path in stale:
        del _TEMPLATES[path]
    render.add_templates(_TEMPLATES)
    _TEMPLATES.update(templates_of(scenario_id, resources))


def renderer_with(scenario_id: str, resources: Mapping[str, str],
                  manifests_dir: Path = MANIFESTS_DIR) -> render.Renderer:
    """A renderer of its own that serves these resources first (a file reusing a catalog id
    then renders from the file, not the catalog): what the equivalence tests compare with."""
    renderer = render.Renderer(manifests_dir)
    renderer.env.loader = jinja2.ChoiceLoader([
        jinja2.DictLoader(templates_of(scenario_id, resources)),
        jinja2.FileSystemLoader(str(manifests_dir))])
    return renderer

