"""Build the world map shapes the products and the web UI draw (run by hand, never at run time).

Input: the `world-atlas` package of the npm registry (Natural Earth 1:110m and 1:50m country
outlines as TopoJSON, ISC licence). Output: src/cyberfusion/product/data/world_map.json, one SVG
path per country (ISO 3166 alpha-2) already projected (Natural Earth I, Antarctica left out),
plus a point for each country too small to appear at 1:110m, taken from the 1:50m outlines, so
that no member country disappears from a map.

    cd /tmp && npm pack world-atlas@2.0.2 && tar xzf world-atlas-2.0.2.tgz
    .venv/bin/python tools/build_world_map.py /tmp/package
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from pathlib import Path
from typing import Any

import pycountry

OUT = Path(__file__).resolve().parents[1] / "src/cyberfusion/product/data/world_map.json"
WIDTH = 960.0
SOUTH = -58.0  # Antarctica is not drawn; the map stops below Cape Horn
NORTH = 84.0  # the northern tip of Greenland
# Features of world-atlas without an ISO numeric id, and the code they carry here.
UNNUMBERED = {"Kosovo": "XK", "N. Cyprus": "CY", "Somaliland": "SO"}


def natural_earth(lon: float, lat: float) -> tuple[float, float]:
    """The Natural Earth I projection (Šavrič et al. 2011), as d3-geo's naturalEarth1Raw."""
    lam, phi = math.radians(lon), math.radians(lat)
    p2 = phi * phi
    p4 = p2 * p2
    x = lam * (0.8707 - 0.131979 * p2 + p4 * (-0.013791 + p4 * (0.003971 * p2 - 0.001529 * p4)))
    y = phi * (1.007226 + p2 * (0.015085 + p4 * (-0.044475 + 0.028874 * p2 - 0.005916 * p4)))
    return x, y


X_MAX = natural_earth(180, 0)[0]
Y_MAX = natural_earth(0, 90)[1]
SCALE = WIDTH / (2 * X_MAX)
TOP = natural_earth(0, NORTH)[1]  # y grows downwards in SVG
HEIGHT = (TOP - natural_earth(0, SOUTH)[1]) * SCALE


def to_svg(lon: float, lat: float) -> tuple[float, float]:
    x, y = natural_earth(lon, lat)
    return (x + X_MAX) * SCALE, (TOP - y) * SCALE


def decode_arcs(topology: dict[str, Any]) -> list[list[tuple[float, float]]]:
    """TopoJSON arcs: quantized, delta-encoded positions -> longitude/latitude."""
    (sx, sy), (tx, ty) = topology["transform"]["scale"], topology["transform"]["translate"]
    arcs = []
    for arc in topology["arcs"]:
        x = y = 0
        points = []
        for dx, dy in arc:
            x += dx
            y += dy
            points.append((x * sx + tx, y * sy + ty))
        arcs.append(points)
    return arcs


def ring(arcs: list[list[tuple[float, float]]], indexes: list[int]) -> list[tuple[float, float]]:
    points: list[tuple[float, float]] = []
    for index in indexes:
        arc = arcs[index] if index >= 0 else arcs[~index][::-1]
        points.extend(arc if not points else arc[1:])
    return points


def polygons(geometry: dict[str, Any]) -> list[list[list[int]]]:
    if geometry["type"] == "Polygon":
        return [geometry["arcs"]]
    if geometry["type"] == "MultiPolygon":
        return list(geometry["arcs"])
    return []


def code_of(geometry: dict[str, Any]) -> str | None:
    if "id" not in geometry:
        return UNNUMBERED.get(geometry.get("properties", {}).get("name", ""))
    country = pycountry.countries.get(numeric=geometry["id"])
    return country.alpha_2 if country is not None else None


def path_of(arcs: list[list[tuple[float, float]]], geometry: dict[str, Any]) -> str:
    parts = []
    for polygon in polygons(geometry):
        for indexes in polygon:
            for piece in split_at_antimeridian(ring(arcs, indexes)):
                parts.append(svg_ring([to_svg(lon, lat) for lon, lat in piece]))
    return "".join(parts)


def split_at_antimeridian(points: list[tuple[float, float]]) -> list[list[tuple[float, float]]]:
    """A ring crossing 180° (Russia, Fiji) as its two halves: the longitudes are unwrapped, then
    the ring is clipped to each side of the meridian (Sutherland-Hodgman against one edge)."""
    if all(abs(b[0] - a[0]) <= 180 for a, b in itertools.pairwise(points)):
        return [points]
    unwrapped = [(lon + 360 if lon < 0 else lon, lat) for lon, lat in points]
    east = clip(unwrapped, keep_east=True)
    west = [(lon - 360, lat) for lon, lat in clip(unwrapped, keep_east=False)]
    return [half for half in (east, west) if len(half) >= 3]


def clip(points: list[tuple[float, float]], *, keep_east: bool) -> list[tuple[float, float]]:
    """The part of a ring (unwrapped longitudes) east of 180° (lon <= 180) or west of it."""

    def inside(point: tuple[float, float]) -> bool:
        return point[0] <= 180 if keep_east else point[0] >= 180

    out: list[tuple[float, float]] = []
    for index, current in enumerate(points):
        previous = points[index - 1]
        if inside(current) != inside(previous):
            share = (180 - previous[0]) / (current[0] - previous[0])
            out.append((180.0, previous[1] + share * (current[1] - previous[1])))
        if inside(current):
            out.append(current)
    return out


def svg_ring(points: list[tuple[float, float]]) -> str:
    """One closed SVG subpath, to a tenth of a pixel, repeated points dropped."""
    rounded: list[tuple[float, float]] = []
    for x, y in points:
        point = (round(x, 1), round(y, 1))
        if not rounded or point != rounded[-1]:
            rounded.append(point)
    if len(rounded) < 3:
        return ""
    head, *rest = rounded
    return f"M{head[0]:g} {head[1]:g}" + "".join(f"L{x:g} {y:g}" for x, y in rest) + "Z"


def centre(arcs: list[list[tuple[float, float]]], geometry: dict[str, Any]) -> tuple[float, float]:
    """The centre of a small country's largest ring (good enough for a dot on a world map)."""
    best: list[tuple[float, float]] = []
    for polygon in polygons(geometry):
        outer = ring(arcs, polygon[0])
        if len(outer) > len(best):
            best = outer
    lon = sum(p[0] for p in best) / len(best)
    lat = sum(p[1] for p in best) / len(best)
    x, y = to_svg(lon, lat)
    return round(x, 1), round(y, 1)


def main(package: Path) -> None:
    coarse = json.loads((package / "countries-110m.json").read_text())
    fine = json.loads((package / "countries-50m.json").read_text())
    arcs = decode_arcs(coarse)
    shapes: dict[str, str] = {}
    for geometry in coarse["objects"]["countries"]["geometries"]:
        code = code_of(geometry)
        if code is None or code == "AQ":
            continue
        shapes[code] = shapes.get(code, "") + path_of(arcs, geometry)
    fine_arcs = decode_arcs(fine)
    points: dict[str, list[float]] = {}
    for geometry in fine["objects"]["countries"]["geometries"]:
        code = code_of(geometry)
        if code is None or code in shapes or code == "AQ":
            continue
        points[code] = list(centre(fine_arcs, geometry))
    version = json.loads((package / "package.json").read_text())["version"]
    document = {
        "source": f"world-atlas {version} (Natural Earth 1:110m; small countries from 1:50m)",
        "projection": "Natural Earth I",
        "width": WIDTH,
        "height": round(HEIGHT, 1),
        "shapes": dict(sorted(shapes.items())),
        "points": dict(sorted(points.items())),
    }
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"{OUT}: {len(shapes)} shapes, {len(points)} points, {OUT.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
