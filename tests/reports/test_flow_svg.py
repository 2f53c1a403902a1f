"""The traffic-flow picture is the declared flow: every hop a box, every link a labelled arrow."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

from egress_e2e.report import flow_svg, record
from egress_e2e.report.model import (
    Evidence,
    ResultSet,
    RunInfo,
    ScenarioResult,
    flow_from_data,
)
from egress_e2e.scenario.model import Hop, Scenario, Step

SVG = "{http://www.w3.org/2000/svg}"
FLOW = (
    Hop.app("app TLS"),
    Hop.sidecar("ISTIO_MUTUAL"),
    Hop.gateway("CONNECT tunnel", name="egress <gw> & co"),
    Hop.proxy("passthrough"),
    Hop.external("www.google.com"),
)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # also proves the markup is well-formed XML, escaping included


def test_boxes_and_arrows_follow_the_declaration_in_order() -> None:
    root = parse(flow_svg.render(FLOW, "connect-tunnel"))
    hops = root.findall(f"{SVG}g[@class]")
    boxes = [g for g in hops if g.get("class", "").startswith("hop ")]
    links = [g for g in hops if g.get("class") == "link"]
    assert [g.findall(f"{SVG}text")[0].text for g in boxes] == [h.name for h in FLOW]
    assert [g.findall(f"{SVG}text")[1].text for g in boxes] == [h.role for h in FLOW]
    assert [g.get("data-link") for g in links] == [h.link for h in FLOW[:-1]]
    assert [g.find(f"{SVG}text").text for g in links] == [h.link for h in FLOW[:-1]]  # type: ignore[union-attr]
    # Left to right: each box starts after the previous one ends.
    xs = [float(g.find(f"{SVG}rect").get("x", "0")) for g in boxes]  # type: ignore[union-attr]
    assert xs == sorted(xs) and len(set(xs)) == len(xs)
    assert float(root.get("width", "0")) > xs[-1]


def test_blocked_link_is_drawn_red_and_dashed() -> None:
    flow = (Hop.app("plain HTTP"), Hop.sidecar("blocked"), Hop.external("example.com"))
    root = parse(flow_svg.render(flow, "blocked"))
    lines = root.findall(f".//{SVG}line")
    assert lines[0].get("stroke-dasharray") is None
    assert lines[1].get("stroke-dasharray") and lines[1].get("stroke") == "#b91c1c"
    assert lines[1].get("marker-end") == "url(#arrow-blocked-blocked)"


def test_marker_ids_differ_per_scenario() -> None:
    one = parse(flow_svg.render(FLOW, "a b"))
    two = parse(flow_svg.render(FLOW, "a/c"))
    ids_one = {m.get("id") for m in one.iter(f"{SVG}marker")}
    ids_two = {m.get("id") for m in two.iter(f"{SVG}marker")}
    assert ids_one and not ids_one & ids_two


def test_empty_flow_says_so() -> None:
    assert "no flow declared" in flow_svg.render((), "x")


class _Item:
    def __init__(self) -> None:
        self.user_properties: list[tuple[str, object]] = []


def test_recorded_flow_is_the_scenario_declaration() -> None:
    """record.scenario -> properties -> result set -> picture: the same hops come out."""
    declared = Scenario(id="s", title="t", seeds=(), flow=FLOW, steps=(Step("x"),))
    item = _Item()
    record.scenario(item, declared)
    record.scenario(item, declared)  # idempotent
    record.phase_time(item, "apply", 1.0)
    record.phase_time(item, "apply", 0.5)
    record.evidence(item, Evidence("probe", 200, (("a", "b"),), "line"))
    record.diagnostics(item, "/old")
    record.diagnostics(item, "/new")
    folded = record.read(item.user_properties)
    assert folded["phases"] == {"apply": 1.5}
    assert folded[record.DIAGNOSTICS] == "/new"
    assert folded["evidence"] == [Evidence("probe", 200, (("a", "b"),), "line")]
    flow = flow_from_data(json.loads(folded[record.FLOW]))
    assert flow == FLOW
    result = ScenarioResult("s", "t", "n", RunInfo("1.31.1"), "passed", 1.0, flow=flow)
    again = ResultSet.from_dict(ResultSet([result]).to_dict())
    assert again.results[0].flow == FLOW
