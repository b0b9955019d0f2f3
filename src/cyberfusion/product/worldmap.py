"""A choropleth world map as standalone SVG, for products (HTML and PDF) and the web UI.

The country outlines are projected once, offline (tools/build_world_map.py, from Natural Earth
through the `world-atlas` package), and shipped with the platform: drawing a map is string
assembly, with no JavaScript and nothing fetched at run time, so the same map works in a
browser without scripts and in WeasyPrint. Countries too small for the 1:110m outlines are drawn
as dots, so no member country disappears from a map.

Counts are split into at most five classes at quantiles of the non-zero values; each country
carries a <title> with its name and figure (a tooltip in browsers, read by screen readers), and
the legend says what each shade means. A cell suppressed for disclosure control is drawn hatched
with its own legend entry and never with its figure.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Any

from markupsafe import escape

# Sequential blues (ColorBrewer); the legend writes its text beside each swatch, never on it.
SHADES = ("#deebf7", "#9ecae1", "#6baed6", "#3182bd", "#08519c")
EMPTY = "#f2f2f2"
BORDER = "#8c8c8c"
DOT_RADIUS = 3.5  # a small country with a figure
EMPTY_DOT_RADIUS = 2.0  # one without: present, but not drawing the eye
LEGEND_HEIGHT = 28.0


@dataclass(frozen=True)
class Outlines:
    width: float
    height: float
    shapes: dict[str, str]
    points: dict[str, tuple[float, float]]
    source: str


@lru_cache(maxsize=1)
def outlines() -> Outlines:
    raw: dict[str, Any] = json.loads(
        resources.files("cyberfusion.product").joinpath("data/world_map.json").read_text()
    )
    return Outlines(
        width=float(raw["width"]),
        height=float(raw["height"]),
        shapes=dict(raw["shapes"]),
        points={code: (float(x), float(y)) for code, (x, y) in raw["points"].items()},
        source=str(raw["source"]),
    )


def classes(values: Collection[int], count: int = len(SHADES)) -> list[int]:
    """Upper bounds of at most `count` classes at quantiles of the positive values, ascending;
    the last bound is the largest value, so every positive value falls in a class."""
    positive = sorted(v for v in values if v > 0)
    if not positive:
        return []
    bounds: list[int] = []
    for step in range(1, count + 1):
        # the value at the step-th quantile: ceil(n * step / count) - 1, the largest at the end
        bound = positive[-(-len(positive) * step // count) - 1]
        if not bounds or bound > bounds[-1]:
            bounds.append(bound)
    return bounds


def shade(value: int, bounds: list[int]) -> str:
    if value <= 0 or not bounds:
        return EMPTY
    for index, bound in enumerate(bounds):
        if value <= bound:
            return SHADES[index + len(SHADES) - len(bounds)]
    return SHADES[-1]


def world_map_svg(
    counts: Mapping[str, int],
    *,
    title: str,
    suppressed: Collection[str] = (),
    suppressed_label: str = "suppressed",
    names: Mapping[str, str] | None = None,
    number: Callable[[int], str] = str,
    link: Callable[[str], str] | None = None,
    none_label: str = "none",
) -> str:
    """The map of `counts` (ISO 3166 alpha-2 -> figure) as one <svg> element.

    `suppressed` countries are hatched and shown without a figure; `names` gives the country
    names for the tooltips (the code otherwise); `number` formats figures in the reader's
    locale; `link`, when given, makes each country with a figure a link (the web UI's search).
    """
    shapes = outlines()
    hidden = {code.upper() for code in suppressed}
    figures = {code.upper(): value for code, value in counts.items() if code.upper() not in hidden}
    bounds = classes(list(figures.values()))
    names = names or {}
    height = shapes.height + LEGEND_HEIGHT
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="world-map" role="img" '
        f'viewBox="0 0 {shapes.width:g} {height:g}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        '<defs><pattern id="wm-hatch" width="4" height="4" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="4" height="4" fill="#ffffff"/>'
        '<line x1="0" y1="0" x2="0" y2="4" stroke="#636363" stroke-width="1.5"/></pattern></defs>',
        f'<rect width="{shapes.width:g}" height="{shapes.height:g}" fill="#ffffff"/>',
    ]

    def country(code: str, element: str) -> str:
        name = names.get(code, code)
        if code in hidden:
            label, fill = f"{name}: {suppressed_label}", "url(#wm-hatch)"
        else:
            value = figures.get(code, 0)
            label = f"{name}: {number(value) if value else none_label}"
            fill = shade(value, bounds)
        body = element.format(fill=fill) + f"<title>{escape(label)}</title>"
        group = f'<g data-country="{code}">{body}</g>'
        if link is not None and (figures.get(code, 0) > 0 or code in hidden):
            return f'<a href="{escape(link(code))}">{group}</a>'
        return group

    for code, path in shapes.shapes.items():
        out.append(
            country(code, f'<path d="{path}" fill="{{fill}}" stroke="{BORDER}" stroke-width=".4"/>')
        )
    for code, (x, y) in shapes.points.items():
        radius = DOT_RADIUS if figures.get(code, 0) > 0 or code in hidden else EMPTY_DOT_RADIUS
        out.append(
            country(
                code,
                f'<circle cx="{x:g}" cy="{y:g}" r="{radius:g}" fill="{{fill}}" '
                f'stroke="{BORDER}" stroke-width="0.5"/>',
            )
        )
    out.append(_legend(bounds, hidden, shapes.height, number, suppressed_label, none_label))
    out.append("</svg>")
    return "".join(out)


def _legend(
    bounds: list[int],
    hidden: Collection[str],
    top: float,
    number: Callable[[int], str],
    suppressed_label: str,
    none_label: str,
) -> str:
    entries: list[tuple[str, str]] = [(EMPTY, none_label)]
    low = 1
    for index, bound in enumerate(bounds):
        text = number(bound) if low == bound else f"{number(low)}\u2013{number(bound)}"
        entries.append((SHADES[index + len(SHADES) - len(bounds)], text))
        low = bound + 1
    if hidden:
        entries.append(("url(#wm-hatch)", suppressed_label))
    parts = ['<g class="legend" font-family="sans-serif" font-size="11" fill="#1a1a1a">']
    x = 8.0
    y = top + 8
    for fill, text in entries:
        parts.append(
            f'<rect x="{x:g}" y="{y:g}" width="14" height="12" fill="{fill}" stroke="{BORDER}" '
            'stroke-width="0.5"/>'
        )
        parts.append(f'<text x="{x + 18:g}" y="{y + 10:g}">{escape(text)}</text>')
        x += 26 + 7 * len(text)
    parts.append("</g>")
    return "".join(parts)
