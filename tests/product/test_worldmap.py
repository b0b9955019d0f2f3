"""The world map: every member country drawn, classes at quantiles, suppression, links."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cyberfusion.product import worldmap
from cyberfusion.registry.service import member_rows

SVG = "{http://www.w3.org/2000/svg}"


def _countries(svg: str) -> dict[str, ET.Element]:
    root = ET.fromstring(svg)
    return {g.attrib["data-country"]: g for g in root.iter(f"{SVG}g") if "data-country" in g.attrib}


def _title(group: ET.Element) -> str:
    title = group.find(f"{SVG}title")
    assert title is not None
    return title.text or ""


def _fill(group: ET.Element) -> str:
    shape = group.find(f"{SVG}path")
    if shape is None:
        shape = group.find(f"{SVG}circle")
    assert shape is not None
    return shape.attrib["fill"]


def test_every_member_country_is_on_the_map() -> None:
    members = {row["iso2"] for row in member_rows()}
    drawn = _countries(worldmap.world_map_svg({}, title="Nothing"))
    assert len(members) == 196
    assert members - drawn.keys() == set()


def test_classes_are_quantiles_ending_at_the_largest_value() -> None:
    assert worldmap.classes(list(range(1, 11))) == [2, 4, 6, 8, 10]
    assert worldmap.classes([7]) == [7]
    assert worldmap.classes([1, 1, 1, 100]) == [1, 100]
    assert worldmap.classes([0, 0]) == []


def test_figures_shade_the_countries_and_name_them_in_the_tooltip() -> None:
    svg = worldmap.world_map_svg(
        {"fr": 10, "NG": 1, "SG": 4},
        title="Reports",
        names={"FR": "France", "NG": "Nigeria"},
        number=lambda n: f"{n:,}",
    )
    drawn = _countries(svg)
    assert _title(drawn["FR"]) == "France: 10"
    assert _title(drawn["NG"]) == "Nigeria: 1"
    assert _title(drawn["BR"]) == "BR: none"
    assert _fill(drawn["FR"]) == worldmap.SHADES[-1]
    assert _fill(drawn["NG"]) == worldmap.SHADES[-3]
    assert _fill(drawn["BR"]) == worldmap.EMPTY
    # Singapore is too small for the 1:110m outlines: a dot, enlarged because it has a figure.
    dot = drawn["SG"].find(f"{SVG}circle")
    assert dot is not None and dot.attrib["r"] == str(worldmap.DOT_RADIUS)
    assert ET.fromstring(svg).attrib["aria-label"] == "Reports"


def test_a_suppressed_cell_is_hatched_and_never_shows_its_figure() -> None:
    svg = worldmap.world_map_svg(
        {"DE": 3, "FR": 40}, title="t", suppressed=["DE"], suppressed_label="fewer than 5"
    )
    drawn = _countries(svg)
    assert _title(drawn["DE"]) == "DE: fewer than 5"
    assert _fill(drawn["DE"]) == "url(#wm-hatch)"
    assert "3" not in re.findall(r"<text[^>]*>([^<]*)</text>", svg)
    assert "fewer than 5" in re.findall(r"<text[^>]*>([^<]*)</text>", svg)


def test_links_only_where_there_is_something_to_see_and_titles_are_escaped() -> None:
    svg = worldmap.world_map_svg(
        {"FR": 2},
        title='<script>"x"</script>',
        link=lambda code: f"/search?country={code}&q=",
    )
    root = ET.fromstring(svg)
    links = [a.attrib["href"] for a in root.iter(f"{SVG}a")]
    assert links == ["/search?country=FR&q="]
    assert "<script>" not in svg
