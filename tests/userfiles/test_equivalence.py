"""One model, two spellings: every catalog scenario, written as a file by `egress-e2e new
--from`, loads back into a Scenario that renders the same documents in both layouts and
explains the same checks. The file's resources are rendered from the file (a renderer that
serves them before the catalog's templates), so the comparison is the file's text against
the catalog's templates, not the catalog against itself."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from egress_e2e import catalog
from egress_e2e.catalog.files import load as files
from egress_e2e.catalog.files import scaffold
from egress_e2e.rendering import file_templates
from egress_e2e.rendering.layout import Layout
from egress_e2e.rendering.render import Renderer, pattern_path
from egress_e2e.report.explain import explain
from egress_e2e.scenario.model import Scenario


def _layouts(scenario: Scenario) -> list[Layout]:
    return [Layout.seed(scenario), Layout.isolated_for(scenario, "equivalence")]


def _as_file(scenario: Scenario, tmp_path: Path) -> files.LoadedFile:
    path = tmp_path / f"{scenario.id}.yaml"
    path.write_text(scaffold.to_text(scaffold.from_catalog(scenario.id, scenario),
                                     origin=f"catalog scenario {scenario.id}"))
    return files.load(path)


@pytest.mark.parametrize("scenario", catalog.ALL, ids=lambda s: s.id)
def test_a_catalog_scenario_written_as_a_file_is_the_same_scenario(
        scenario: Scenario, tmp_path: Path) -> None:
    loaded = _as_file(scenario, tmp_path)
    twin = loaded.scenario
    # What the run reads, field for field (seeds become the file's free-text "mirrors").
    for name in ("id", "flow", "steps", "differs", "clients", "outbound_policy", "gateway",
                 "requires_istio", "needs_network_policy", "seed_names", "proxy_config",
                 "data_planes", "gateway_api", "sidecar_egress_hosts"):
        assert getattr(twin, name) == getattr(scenario, name), name
    assert twin.title == scenario.title
    # Seeds and istio.io tasks are free text in a file: every one of them is said there.
    [mirrored] = twin.seeds
    assert all(str(source) in mirrored.section for source in (*scenario.seeds,
                                                                *scenario.mirrors))
    assert set(loaded.resources) == {n for s in scenario.steps for n in (*s.apply, *s.delete)}

    from_file = file_templates.renderer_with(scenario.id, loaded.resources)
    # The file's own text is what renders: each resource is served from memory.
    for name, text in loaded.resources.items():
        source, _, _ = from_file.env.loader.get_source(  # type: ignore[union-attr]
            from_file.env, pattern_path(scenario.id, name))
        assert source == text
    from_catalog = Renderer()
    # Each spelling gets the layouts the run would make for it.
    for layout, twin_layout in zip(_layouts(scenario), _layouts(twin), strict=True):
        assert twin_layout == layout
        want = from_catalog.plan(scenario, layout)
        got = from_file.plan(twin, twin_layout)
        assert [(d.source, d.index, d.body) for d in got.documents] == [
            (d.source, d.index, d.body) for d in want.documents], layout.name
        assert [[d.body for d in s.apply] for s in got.steps] == [
            [d.body for d in s.apply] for s in want.steps]
        assert [[d.body for d in s.delete] for s in got.steps] == [
            [d.body for d in s.delete] for s in want.steps]
        # explain's checks come from the declaration and the layout: the same, marker aside
        # (a fresh one per call).
        want_checks = [dataclasses.replace(c, marker="", argv=()) for c in
                       explain(scenario, layout).checks]
        got_checks = [dataclasses.replace(c, marker="", argv=()) for c in
                      explain(twin, twin_layout).checks]
        assert got_checks == want_checks
        assert [_argv(c.argv, c.marker) for c in explain(twin, twin_layout).checks] == [
            _argv(c.argv, c.marker) for c in explain(scenario, layout).checks]


_FRESH = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
                    r"|egress-e2e-[0-9a-f]{16}")


def _argv(argv: tuple[str, ...], marker: str) -> tuple[str, ...]:
    """The argv with what each call makes fresh (marker, request id, output separators)."""
    return tuple(_FRESH.sub("<fresh>", a.replace(marker, "<marker>")) for a in argv)
