"""The 48-hour chart of an item's deliveries and human clicks, drawn on the server.

Plain SVG: no script, no web font, no colour that vanishes on a black-and-white
printer (the two series differ by pattern as well as colour), a title and a
description for screen readers, and the numbers themselves in a table beside it
on the page.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 40


def _scale_max(value: int) -> int:
    """A round top for the axis: 1, 2, 5, 10, 20, 50, …"""
    top = 1
    while top < value:
        top = top * 5 // 2 if str(top)[0] == "2" else top * 2
    return top


def hours_chart(timeline: Sequence[dict[str, int]], title: str) -> str:
    """Bars: deliveries per hour; a stepped line with dots: human clicks per hour."""
    hours = len(timeline) or 1
    top = _scale_max(
        max([1, *(h["deliveries"] for h in timeline), *(h["clicks"] for h in timeline)])
    )
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / hours

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-labelledby="chart-title chart-desc" '
        'class="hours-chart" font-family="sans-serif" font-size="11">',
        f'<title id="chart-title">{escape(title)}</title>',
        '<desc id="chart-desc">Deliveries (bars) and human clicks (line) per hour over the '
        "first 48 hours after publication.</desc>",
        '<defs><pattern id="hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="4" height="4" fill="#c9d6e8"/>'
        '<line x1="0" y1="0" x2="0" y2="4" stroke="#4a6fa5" stroke-width="1.5"/></pattern></defs>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]
    for fraction in (0, 0.5, 1):
        value = round(top * fraction)
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
            'stroke="#999" stroke-width="0.5"/>'
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end">{value}</text>'
        )
    for i, hour in enumerate(timeline):
        height = plot_h * hour["deliveries"] / top
        if height:
            parts.append(
                f'<rect class="deliveries" x="{LEFT + i * slot + 1:.1f}" '
                f'y="{y(hour["deliveries"]):.1f}" '
                f'width="{max(slot - 2, 1):.1f}" height="{height:.1f}" fill="url(#hatch)" '
                f'stroke="#4a6fa5" stroke-width="0.5"><title>hour {hour["hour"]}: '
                f"{hour['deliveries']} deliveries</title></rect>"
            )
    points = " ".join(
        f"{LEFT + (i + 0.5) * slot:.1f},{y(h['clicks']):.1f}" for i, h in enumerate(timeline)
    )
    parts.append(
        f'<polyline class="clicks" points="{points}" fill="none" stroke="#000" stroke-width="1.5"/>'
    )
    for i, hour in enumerate(timeline):
        if hour["clicks"]:
            parts.append(
                f'<circle cx="{LEFT + (i + 0.5) * slot:.1f}" cy="{y(hour["clicks"]):.1f}" r="3" '
                f'fill="#000"><title>hour {hour["hour"]}: {hour["clicks"]} clicks</title></circle>'
            )
    for mark in range(0, hours + 1, 6):
        x = LEFT + mark * slot
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 14}" text-anchor="middle">{mark} h</text>'
        )
    legend_y = HEIGHT - 8
    parts.append(
        f'<rect x="{LEFT}" y="{legend_y - 9}" width="12" height="10" fill="url(#hatch)" '
        f'stroke="#4a6fa5"/><text x="{LEFT + 16}" y="{legend_y}">deliveries</text>'
        f'<line x1="{LEFT + 110}" x2="{LEFT + 130}" y1="{legend_y - 4}" y2="{legend_y - 4}" '
        f'stroke="#000" stroke-width="1.5"/>'
        f'<text x="{LEFT + 134}" y="{legend_y}">human clicks</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
