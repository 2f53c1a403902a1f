"""The traffic-flow picture: a scenario's declared hops as boxes, each link an arrow labelled with
how traffic travels on it (plain HTTP, ISTIO_MUTUAL, TLS originated, passthrough, CONNECT
tunnel...). Drawn from ``Scenario.flow`` itself, left to right, the way the seeds draw theirs.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from html import escape

from egress_e2e.scenario.model import Hop

_FILL = {
    "app": "#dbeafe",
    "sidecar": "#e0e7ff",
    "gateway": "#fde68a",
    "proxy": "#fbcfe8",
    "external": "#dcfce7",
}
_BOX_H = 56
_TOP = 34          # room above the boxes for the link labels
_CHAR_W = 7.2      # rough width of a 12-13 px sans-serif character
_PAD = 10


def _box_width(hop: Hop) -> float:
    return max(116.0, _CHAR_W * max(len(hop.name), len(hop.role)) + 2 * _PAD)


def _gap_width(link: str) -> float:
    return max(90.0, _CHAR_W * len(link) + 2 * _PAD)


def svg_id(text: str) -> str:
    """A fragment-safe id; several pictures share one page, so marker ids must differ."""
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "flow"


def render(flow: Sequence[Hop], key: str) -> str:
    """An inline ``<svg>`` for ``flow``; ``key`` (the scenario id) keeps its ids unique."""
    if not flow:
        return '<p class="noflow">no flow declared</p>'
    ident = svg_id(key)
    marker = f"arrow-{ident}"
    blocked_marker = f"arrow-blocked-{ident}"
    parts: list[str] = []
    x = float(_PAD)
    mid_y = _TOP + _BOX_H / 2
    for index, hop in enumerate(flow):
        width = _box_width(hop)
        fill = _FILL.get(hop.role, "#f3f4f6")
        parts.append(
            f'<g class="hop hop-{escape(hop.role)}">'
            f'<rect x="{x:.0f}" y="{_TOP}" width="{width:.0f}" height="{_BOX_H}" rx="8" '
            f'fill="{fill}" stroke="#374151"/>'
            f'<text x="{x + width / 2:.0f}" y="{_TOP + 24}" text-anchor="middle" '
            f'font-size="13" font-weight="600">{escape(hop.name)}</text>'
            f'<text x="{x + width / 2:.0f}" y="{_TOP + 42}" text-anchor="middle" '
            f'font-size="11" fill="#4b5563">{escape(hop.role)}</text></g>'
        )
        x += width
        if index == len(flow) - 1:
            break
        gap = _gap_width(hop.link)
        blocked = hop.link == "blocked"
        colour = "#b91c1c" if blocked else "#111827"
        dash = ' stroke-dasharray="6 4"' if blocked else ""
        parts.append(
            f'<g class="link" data-link="{escape(hop.link)}">'
            f'<line x1="{x + 2:.0f}" y1="{mid_y:.0f}" x2="{x + gap - 4:.0f}" y2="{mid_y:.0f}" '
            f'stroke="{colour}" stroke-width="2"{dash} '
            f'marker-end="url(#{blocked_marker if blocked else marker})"/>'
            f'<text x="{x + gap / 2:.0f}" y="{_TOP - 8}" text-anchor="middle" font-size="12" '
            f'fill="{colour}">{escape(hop.link or "unlabelled")}</text></g>'
        )
        x += gap
    width_total = x + _PAD
    height_total = _TOP + _BOX_H + _PAD
    names = " to ".join(hop.name for hop in flow)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="flow" role="img" '
        f'width="{width_total:.0f}" height="{height_total}" '
        f'viewBox="0 0 {width_total:.0f} {height_total}" font-family="sans-serif">'
        f"<title>{escape(key)}: {escape(names)}</title>"
        f"<defs>{_marker(marker, '#111827')}{_marker(blocked_marker, '#b91c1c')}</defs>"
        + "".join(parts)
        + "</svg>"
    )


def _marker(ident: str, colour: str) -> str:
    return (
        f'<marker id="{ident}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="8" '
        f'markerHeight="8" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="{colour}"/></marker>'
    )
