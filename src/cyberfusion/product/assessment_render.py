"""Render an issued threat assessment's stored document as HTML (Jinja2, inline SVG charts and
world map) or PDF (WeasyPrint). Rendering reads the register only; the issuing hub's copy links
each figure to its trace (`GET /api/v1/assessments/{id}/figures/{figure_id}`), other readers'
copies do not."""

from __future__ import annotations

from typing import Any

import jinja2
from markupsafe import Markup

from cyberfusion.core.time import as_utc
from cyberfusion.product import charts, worldmap
from cyberfusion.product.models import Product
from cyberfusion.product.render import MEDIA_TYPES, TLP_COLOURS, Rendered
from cyberfusion.product.schemas import ProductFormat
from cyberfusion.sharing.models import Tlp

FORMATS = (ProductFormat.HTML, ProductFormat.PDF)
TRACE_PATH = "/api/v1/assessments/{product_id}/figures/"
REACTION_COLUMNS = ("products", "ack", "items", "takedown")
PROVIDER_COLUMNS = ("items", "takedown")

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("cyberfusion.product", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
)


def filename(product: Product, fmt: ProductFormat) -> str:
    scope = product.document["scope"]
    start = as_utc(product.period_start).strftime("%Y%m%d")
    end = as_utc(product.period_end).strftime("%Y%m%d")
    where = str(scope["code"] or scope["kind"]).lower().replace("_", "-")
    return f"assessment-{where}-{start}-{end}-v{product.version}.{fmt.value}"


def _points(figures: list[dict[str, Any]]) -> list[charts.Point]:
    return [
        charts.Point(
            f["label"].removeprefix("Week of "),
            None if f["suppressed"] else f["value"],
            f["text"],
        )
        for f in figures
    ]


def _rows(figures: list[dict[str, Any]], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    """Figures named `<prefix>-<column>` side by side, one row per prefix, in order."""
    rows: dict[str, dict[str, Any]] = {}
    for figure in figures:
        prefix, _, column = figure["id"].rpartition("-")
        if column in columns:
            row = rows.setdefault(prefix, {"name": figure["label"].partition(": ")[0]})
            row[column] = figure
    return list(rows.values())


def render_html(*, product: Product, with_traces: bool) -> str:
    document = product.document
    sections = document["sections"]
    k = document["suppression"]["k"]
    tlp = Tlp(product.tlp)
    map_data = document["map"]
    world_map = worldmap.world_map_svg(
        map_data["counts"],
        title="Records by country of attribution",
        suppressed=map_data["suppressed"],
        suppressed_label=f"< {k}" if k else "suppressed",
        names=map_data["names"],
    )
    return _ENV.get_template("assessment.html").render(
        doc=document,
        product=product,
        sections=sections,
        k=k,
        trace_base=TRACE_PATH.format(product_id=product.id) if with_traces else None,
        issued_at=as_utc(product.issued_at).strftime("%Y-%m-%d %H:%M UTC"),
        tlp_label=f"TLP:{tlp.value.upper()}",
        tlp_colour=TLP_COLOURS[tlp],
        trend_chart=Markup(  # noqa: S704  (SVG built by charts.py, every text escaped there)
            charts.line_chart_svg(_points(sections["trend"]), title="New records by week")
        ),
        types_chart=Markup(  # noqa: S704
            charts.bar_chart_svg(_points(sections["types"]), title="Records by threat type")
        ),
        families_chart=Markup(  # noqa: S704
            charts.bar_chart_svg(_points(sections["families"]), title="Top malware families")
        ),
        networks_chart=Markup(  # noqa: S704
            charts.bar_chart_svg(_points(sections["networks"]), title="Top hosting networks")
        ),
        world_map=Markup(world_map),  # noqa: S704  (worldmap.py escapes its text)
        reaction_rows=_rows(sections["reaction_countries"], REACTION_COLUMNS),
        provider_rows=_rows(sections["reaction_providers"], PROVIDER_COLUMNS),
    )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    # A product is self-contained: nothing is fetched while rendering, whatever the data says.
    raise ValueError(f"products load no external resources ({url[:80]!r})")


def render_pdf(*, product: Product, with_traces: bool) -> bytes:
    import weasyprint  # type: ignore[import-untyped]

    html = render_html(product=product, with_traces=with_traces)
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    return pdf


def render(*, product: Product, fmt: ProductFormat, with_traces: bool) -> Rendered:
    """The assessment as HTML or PDF; `with_traces` for the issuing hub's own copy."""
    if fmt == ProductFormat.PDF:
        content = render_pdf(product=product, with_traces=with_traces)
    else:
        content = render_html(product=product, with_traces=with_traces).encode()
    return Rendered(content, MEDIA_TYPES[fmt], filename(product, fmt))
