"""Charts of products as standalone inline SVG: a horizontal bar chart and a line chart.

Drawn on the server as strings, with no JavaScript and nothing fetched, so the same chart shows
in a browser and in WeasyPrint's PDF. A value may be withheld (small-cell suppression): its bar
or point is drawn hatched at no height, labelled with the text that replaces the figure, never
with the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import escape

BAR_COLOUR = "#3182bd"
LINE_COLOUR = "#1f3b63"
GRID_COLOUR = "#d9d9d9"
TEXT_COLOUR = "#1a1a1a"
FONT = 'font-family="DejaVu Sans, Liberation Sans, Arial, sans-serif"'
_HATCH = (
    '<defs><pattern id="{id}" width="4" height="4" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="4" height="4" fill="#ffffff"/>'
    '<line x1="0" y1="0" x2="0" y2="4" stroke="#636363" stroke-width="1.5"/></pattern></defs>'
)


@dataclass(frozen=True)
class Point:
    """One bar or point: its label, its value (None when withheld) and the text shown."""

    label: str
    value: float | None
    text: str


def _nice_max(largest: float) -> float:
    """A round upper bound for the axis (1, 2 or 5 times a power of ten)."""
    if largest <= 0:
        return 1.0
    magnitude = 1.0
    while magnitude * 10 <= largest:
        magnitude *= 10
    for step in (1, 2, 5, 10):
        if step * magnitude >= largest:
            return step * magnitude
    return 10 * magnitude  # pragma: no cover (the loop always returns)


def _ticks(top: float, count: int = 4) -> list[float]:
    return [top * i / count for i in range(count + 1)]


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else f"{int(value)}"


def bar_chart_svg(points: Sequence[Point], *, title: str, width: int = 640) -> str:
    """Horizontal bars, one row per point, the label on the left and the text at the bar's end."""
    row, label_width, top, bottom = 18, 210, 22, 22
    plot_width = width - label_width - 70
    height = top + row * max(len(points), 1) + bottom
    largest = _nice_max(max((p.value or 0 for p in points), default=0))
    hatch_id = "bar-hatch"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart bar-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}" {FONT} font-size="10">',
        f"<title>{escape(title)}</title>",
        _HATCH.format(id=hatch_id),
        f'<text x="0" y="13" font-weight="bold" fill="{TEXT_COLOUR}">{escape(title)}</text>',
    ]
    for tick in _ticks(largest):
        x = label_width + plot_width * tick / largest
        out.append(
            f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" '
            f'stroke="{GRID_COLOUR}" stroke-width="0.6"/>'
            f'<text x="{x:.1f}" y="{height - bottom + 12}" text-anchor="middle" '
            f'fill="#555">{_number(tick)}</text>'
        )
    if not points:
        out.append(
            f'<text x="{label_width}" y="{top + 13}" fill="#555">no records in this period</text>'
        )
    for index, point in enumerate(points):
        y = top + index * row
        label = point.label if len(point.label) <= 34 else point.label[:33] + "…"
        out.append(
            f'<text x="{label_width - 6}" y="{y + 13}" text-anchor="end" '
            f'fill="{TEXT_COLOUR}">{escape(label)}<title>{escape(point.label)}</title></text>'
        )
        if point.value is None:
            bar_width, fill = 14.0, f"url(#{hatch_id})"
        else:
            bar_width, fill = plot_width * point.value / largest, BAR_COLOUR
        out.append(
            f'<rect x="{label_width}" y="{y + 3}" width="{bar_width:.1f}" height="{row - 6}" '
            f'fill="{fill}" stroke="{BAR_COLOUR if point.value is None else "none"}" '
            f'stroke-width="0.5"/>'
            f'<text x="{label_width + bar_width + 4:.1f}" y="{y + 13}" '
            f'fill="{TEXT_COLOUR}">{escape(point.text)}</text>'
        )
    out.append("</svg>")
    return "".join(out)


def line_chart_svg(
    points: Sequence[Point], *, title: str, width: int = 640, height: int = 220
) -> str:
    """A line over the points in order (weeks of a trend). A withheld point breaks the line
    and is drawn as a hatched marker on the axis with its text above it."""
    left, right, top, bottom = 40, 36, 24, 42  # room for the last date label
    plot_width, plot_height = width - left - right, height - top - bottom
    largest = _nice_max(max((p.value or 0 for p in points), default=0))
    step = plot_width / max(len(points) - 1, 1)
    hatch_id = "line-hatch"
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart line-chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title)}" {FONT} font-size="10">',
        f"<title>{escape(title)}</title>",
        _HATCH.format(id=hatch_id),
        f'<text x="0" y="13" font-weight="bold" fill="{TEXT_COLOUR}">{escape(title)}</text>',
    ]
    for tick in _ticks(largest):
        y = top + plot_height * (1 - tick / largest)
        out.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="0.6"/>'
            f'<text x="{left - 4}" y="{y + 3:.1f}" text-anchor="end" fill="#555">'
            f"{_number(tick)}</text>"
        )
    # Label at most about twelve points on the axis, so the labels never overlap.
    every = max(1, -(-len(points) // 12))
    segments: list[list[tuple[float, float]]] = [[]]
    for index, point in enumerate(points):
        x = left + (index * step if len(points) > 1 else plot_width / 2)
        if index % every == 0:
            out.append(
                f'<text x="{x:.1f}" y="{top + plot_height + 14}" text-anchor="middle" '
                f'fill="#555">{escape(point.label)}</text>'
            )
        if point.value is None:
            segments.append([])
            base = top + plot_height
            out.append(
                f'<rect x="{x - 4:.1f}" y="{base - 8:.1f}" width="8" height="8" '
                f'fill="url(#{hatch_id})" stroke="{LINE_COLOUR}" stroke-width="0.5">'
                f"<title>{escape(point.label)}: {escape(point.text)}</title></rect>"
                f'<text x="{x:.1f}" y="{base - 11:.1f}" text-anchor="middle" '
                f'fill="{TEXT_COLOUR}" font-size="8">{escape(point.text)}</text>'
            )
            continue
        y = top + plot_height * (1 - point.value / largest)
        segments[-1].append((x, y))
        out.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{LINE_COLOUR}">'
            f"<title>{escape(point.label)}: {escape(point.text)}</title></circle>"
        )
    for segment in segments:
        if len(segment) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in segment)
            out.append(
                f'<polyline points="{path}" fill="none" stroke="{LINE_COLOUR}" stroke-width="1.5"/>'
            )
    if not points:
        out.append(
            f'<text x="{left + 8}" y="{top + 20}" fill="#555">no weeks in this period</text>'
        )
    out.append("</svg>")
    return "".join(out)
