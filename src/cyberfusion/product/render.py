"""Render an issued product's stored document as HTML (Jinja2), PDF (WeasyPrint), a STIX 2.1
bundle with a `report` object, or CSV. Rendering reads the register only: the same product
always renders the same content."""

from __future__ import annotations

import csv
import io
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.core.time import as_utc
from cyberfusion.export.service import with_tlp_marking
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.types import ObservableType
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product, ProductFeedback, ProductItem
from cyberfusion.product.schemas import ProductFormat
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import TLP_MARKING_IDS, Tlp
from cyberfusion.stix.upgrade import tlp2_marking_definition

MEDIA_TYPES = {
    ProductFormat.HTML: "text/html; charset=utf-8",
    ProductFormat.PDF: "application/pdf",
    ProductFormat.STIX: "application/stix+json;version=2.1",
    ProductFormat.CSV: "text/csv; charset=utf-8",
}
EXTENSIONS = {
    ProductFormat.HTML: "html",
    ProductFormat.PDF: "pdf",
    ProductFormat.STIX: "json",
    ProductFormat.CSV: "csv",
}
CSV_COLUMNS = (
    "product_id",
    "scope",
    "item_id",
    "group",
    "type",
    "value",
    "record_id",
    "stix_id",
    "reasons",
    "network",
    "reported_at",
    "source",
    "reliability",
    "credibility",
    "confidence",
    "tlp",
)
# Ids of objects the product itself adds to a STIX bundle derive from these names, so a product
# renders the same bundle every time.
_NAMESPACE = uuid.UUID("6f1c1d43-8f7e-4b8e-9a55-2f6c1b0f5d10")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_DEFANGED_TYPES = frozenset(
    {
        ObservableType.URL.value,
        ObservableType.DOMAIN.value,
        ObservableType.EMAIL.value,
        ObservableType.IPV4.value,
    }
)
# Indicators listed per threat group in HTML and PDF: a page-based report of thousands of rows
# helps no reader, and WeasyPrint's time grows with the table cells (docs/benchmarks.md,
# "Products"); CSV and STIX carry every item.
LISTED_PER_GROUP = 250
TLP_COLOURS = {
    Tlp.CLEAR: "#ffffff",
    Tlp.GREEN: "#33ff00",
    Tlp.AMBER: "#ffc000",
    Tlp.AMBER_STRICT: "#ffc000",
    Tlp.RED: "#ff2b2b",
}


@dataclass(frozen=True)
class Rendered:
    content: bytes
    media_type: str
    filename: str


def defang(obs_type: str, value: str) -> str:
    """A value people can read but not click: hxxp://, [.] (reports travel by e-mail)."""
    if obs_type not in _DEFANGED_TYPES:
        return value
    if value.startswith("http"):
        value = "hxxp" + value[4:]
    return value.replace(".", "[.]")


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("cyberfusion.product", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    env.filters["defang"] = lambda item: defang(item["type"], item["value"])
    return env


_ENV = _environment()


def scope_of(product: Product) -> dict[str, str]:
    """The product's scope (kind, value, name) as its document states it; a document issued
    before CARs had scopes names its country."""
    scope = product.document.get("scope")
    if isinstance(scope, dict):
        return {key: str(scope[key]) for key in ("kind", "value", "name")}
    country = product.document.get("country") or {}
    return {
        "kind": "country",
        "value": str(country.get("code", product.country_code or "")),
        "name": str(country.get("name", product.country_code or "")),
    }


def filename(product: Product, fmt: ProductFormat) -> str:
    """car-fr-..., car-as64500-..., car-198.51.100.0-24-... (no slash, no colon)."""
    start = as_utc(product.period_start).strftime("%Y%m%d")
    end = as_utc(product.period_end).strftime("%Y%m%d")
    value = scope_of(product)["value"] or "xx"
    slug = value.lower().replace("/", "-").replace(":", "_")
    return f"{product.kind}-{slug}-{start}-{end}-v{product.version}.{EXTENSIONS[fmt]}"


def render(*, session: Session, product: Product, fmt: ProductFormat) -> Rendered:
    if fmt == ProductFormat.HTML:
        content = render_html(session=session, product=product).encode()
    elif fmt == ProductFormat.PDF:
        content = render_pdf(session=session, product=product)
    elif fmt == ProductFormat.STIX:
        content = orjson.dumps(
            render_stix(session=session, product=product), option=orjson.OPT_INDENT_2
        )
    else:
        content = render_csv(session=session, product=product).encode()
    return Rendered(content, MEDIA_TYPES[fmt], filename(product, fmt))


def _iso_ms(value: datetime) -> str:
    return (
        as_utc(value).strftime("%Y-%m-%dT%H:%M:%S.") + f"{as_utc(value).microsecond // 1000:03d}Z"
    )


def render_html(*, session: Session, product: Product) -> str:
    document = product.document
    ids = product_service.item_ids(session=session, product=product)
    tlp = Tlp(product.tlp)
    return _ENV.get_template("car.html").render(
        doc=document,
        scope=scope_of(product),
        product=product,
        item_ids=ids,
        listed=LISTED_PER_GROUP,
        issued_at=as_utc(product.issued_at).strftime("%Y-%m-%d %H:%M UTC"),
        tlp_label=f"TLP:{tlp.value.upper()}",
        tlp_colour=TLP_COLOURS[tlp],
    )


def _refuse_fetch(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    # A report is self-contained: nothing is fetched while rendering, whatever the data says.
    raise ValueError(f"products load no external resources ({url[:80]!r})")


def render_pdf(*, session: Session, product: Product) -> bytes:
    import weasyprint  # type: ignore[import-untyped]

    html = render_html(session=session, product=product)
    pdf: bytes = weasyprint.HTML(string=html, url_fetcher=_refuse_fetch).write_pdf()
    return pdf


def _identity(document: dict[str, Any], created: str) -> dict[str, Any]:
    return _org_identity(document["issuer"]["slug"], document["issuer"]["name"], created)


def _org_identity(slug: str, name: str, created: str) -> dict[str, Any]:
    return {
        "type": "identity",
        "spec_version": "2.1",
        "id": f"identity--{uuid.uuid5(_NAMESPACE, 'organisation:' + slug)}",
        "created": created,
        "modified": created,
        "name": name,
        "identity_class": "organization",
    }


# Outcomes that say the recipient saw the activity: these are STIX sightings. "acknowledged"
# (received), "false-positive" and "not-applicable" are not.
SIGHTING_OUTCOMES = ("investigating", "taken-down")


def render_feedback_stix(*, session: Session, product: Product) -> dict[str, Any]:
    """The recipient's feedback as STIX 2.1 sightings of the product's records, where it fits
    (`SIGHTING_OUTCOMES`): where_sighted_refs the recipient, labels the outcome, description
    the comment; marked with the product's TLP. With the recipient's identity and the marking
    definition."""
    tlp = Tlp(product.tlp)
    marking = TLP_MARKING_IDS[tlp]
    rows = session.execute(
        select(ProductFeedback, IntelObject.stix_id, Organisation.slug, Organisation.name)
        .join(ProductItem, ProductItem.id == ProductFeedback.product_item_id)
        .join(IntelObject, IntelObject.id == ProductItem.intel_object_id)
        .join(Organisation, Organisation.id == ProductFeedback.org_id)
        .where(
            ProductItem.product_id == product.id,
            ProductFeedback.outcome.in_(SIGHTING_OUTCOMES),
        )
        .order_by(ProductFeedback.id)
    ).all()
    identities: dict[str, dict[str, Any]] = {}
    sightings = []
    for feedback, stix_id, slug, name in rows:
        at = _iso_ms(feedback.created_at)
        identity = identities.setdefault(
            slug, _org_identity(slug, name, _iso_ms(product.issued_at))
        )
        identity["object_marking_refs"] = [marking]
        sighting: dict[str, Any] = {
            "type": "sighting",
            "spec_version": "2.1",
            "id": f"sighting--{uuid.uuid5(_NAMESPACE, f'feedback:{feedback.id}')}",
            "created": at,
            "modified": at,
            "first_seen": at,
            "last_seen": at,
            "count": 1,
            "sighting_of_ref": stix_id,
            "where_sighted_refs": [identity["id"]],
            "labels": [feedback.outcome],
            "object_marking_refs": [marking],
            "external_references": [
                {
                    "source_name": "cyberfusion",
                    "external_id": f"product-{product.id}-v{product.version}",
                }
            ],
        }
        if feedback.comment:
            sighting["description"] = feedback.comment
        sightings.append(sighting)
    return {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [*identities.values(), *sightings, tlp2_marking_definition(tlp)],
    }


def render_stix(*, session: Session, product: Product) -> dict[str, Any]:
    """A STIX 2.1 bundle: the `report` (TLP of the product, its records as object_refs), the
    records as reported (each with its own TLP), the issuer's identity and the TLP 2.0
    marking definitions used."""
    document = product.document
    scope = scope_of(product)
    tlp = Tlp(product.tlp)
    created = _iso_ms(product.issued_at)
    record_tlps: dict[int, Tlp] = {}
    for group in document["groups"]:
        for item in group["items"]:
            record_tlps[int(item["record_id"])] = Tlp(item["tlp"])
    records = session.scalars(
        select(IntelObject).where(IntelObject.id.in_(sorted(record_tlps))).order_by(IntelObject.id)
    ).all()
    objects = [with_tlp_marking(r.content, record_tlps[r.id]) for r in records]
    identity = _identity(document, created)
    summary = document["summary"]
    report = {
        "type": "report",
        "spec_version": "2.1",
        "id": f"report--{uuid.uuid5(_NAMESPACE, f'product:{product.id}:{product.content_hash}')}",
        "created": created,
        "modified": created,
        "created_by_ref": identity["id"],
        "name": document["title"],
        "description": (
            f"Cyber Activity Report for {scope['name']}"
            + (f" ({scope['value']})" if scope["kind"] == "country" else "")
            + f", {document['period']['since']} to "
            f"{document['period']['until']}: {summary['items']} indicators in "
            f"{len(document['groups'])} threat groups from {summary['sources']} sources. "
            f"Product {product.id} version {product.version}, content SHA-256 "
            f"{product.content_hash}."
        ),
        "report_types": ["threat-report"],
        "published": created,
        "object_refs": sorted({str(o["id"]) for o in objects}),
        "labels": ["cyber-activity-report", *(g["key"] for g in document["groups"])],
        "object_marking_refs": [TLP_MARKING_IDS[tlp]],
        "external_references": [
            {
                "source_name": "cyberfusion",
                "external_id": f"product-{product.id}-v{product.version}",
                "description": f"content-sha256:{product.content_hash}",
            }
        ],
    }
    identity["object_marking_refs"] = [TLP_MARKING_IDS[tlp]]
    levels = sorted({tlp, *record_tlps.values()}, key=lambda t: t.rank)
    bundle_objects = [
        report,
        identity,
        *objects,
        *(tlp2_marking_definition(level) for level in levels),
    ]
    return {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid5(_NAMESPACE, f'bundle:{product.id}:{product.content_hash}')}",
        "objects": bundle_objects,
    }


def _cell(text: str) -> str:
    """Text from data as a cell a spreadsheet will not execute."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def render_csv(*, session: Session, product: Product) -> str:
    ids = product_service.item_ids(session=session, product=product)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    scope = scope_of(product)
    for group in product.document["groups"]:
        for item in group["items"]:
            writer.writerow(
                [
                    product.id,
                    f"{scope['kind']}:{scope['value']}",
                    ids.get((item["observable_id"], item["record_id"]), ""),
                    group["key"],
                    item["type"],
                    item["value"],
                    item["record_id"],
                    item["stix_id"],
                    " ".join(item["reasons"]),
                    _cell(item["network"] or ""),
                    item["reported_at"],
                    item["source"],
                    item["reliability"],
                    item["credibility"],
                    item["confidence"],
                    item["tlp"],
                ]
            )
    return buffer.getvalue()
