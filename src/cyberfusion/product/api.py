"""REST routes of intelligence products: the inbox, downloads, acknowledgement, feedback per
indicator, and for the hub issuing, action templates and reaction statistics."""

from __future__ import annotations

from datetime import datetime

import orjson
from fastapi import APIRouter, Query, Response

from cyberfusion.account.schemas import Actor
from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.product import assessment as assessment_service
from cyberfusion.product import assessment_render, render
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product, ProductKind
from cyberfusion.product.schemas import (
    ActionTemplateRead,
    ActionTemplateUpdate,
    AssessmentFormat,
    AssessmentIssue,
    CarIssue,
    CarIssueResult,
    CountryStats,
    FeedbackIn,
    FeedbackRead,
    FigureTraceRead,
    ProductFormat,
    ProductItemRead,
    ProductRead,
    ProviderStats,
)

router = APIRouter(prefix="/products", tags=["product"])

# A downloaded report is a document, not a page of the application: it runs nothing and loads
# nothing; its styles are inline.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"


@router.get("", response_model=list[ProductRead])
def list_products(
    session: DbSession,
    actor: CurrentActor,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[ProductRead]:
    """Products the caller may read (its organisation's inbox and, for the hub, its register)."""
    rows = product_service.list_(session=session, actor=actor, limit=limit, offset=offset)
    return [product_service.to_read(session=session, actor=actor, product=p) for p in rows]


@router.get("/inbox", response_model=list[ProductRead])
def inbox(
    session: DbSession, actor: CurrentActor, unread: bool = Query(False)
) -> list[ProductRead]:
    """Products delivered to the caller's organisation, newest first."""
    rows = product_service.inbox(session=session, actor=actor, unread_only=unread)
    return [product_service.to_read(session=session, actor=actor, product=p) for p in rows]


@router.post(
    "/car",
    response_model=CarIssueResult,
    responses={201: {"model": CarIssueResult, "description": "a new product or version"}},
)
def issue_car(
    session: DbSession, actor: CurrentActor, car_in: CarIssue, response: Response
) -> CarIssueResult:
    """Issue a country's Cyber Activity Report for a period (hub). 201 with the product when
    one is issued; 200 with `issued: false` when there is nothing to report or the same
    content was issued already."""
    result = product_service.issue_car(session=session, actor=actor, car_in=car_in)
    if result.issued:
        response.status_code = 201
    return CarIssueResult(
        issued=result.issued,
        detail=result.detail,
        product=None
        if result.product is None
        else product_service.to_read(session=session, actor=actor, product=result.product),
    )


@router.get("/templates", response_model=list[ActionTemplateRead])
def list_templates(session: DbSession, actor: CurrentActor) -> list[ActionTemplateRead]:
    """The recommended-action template of each threat group (hub)."""
    return product_service.list_templates(session=session, actor=actor)


@router.put("/templates/{threat_group}", response_model=ActionTemplateRead)
def update_template(
    session: DbSession, actor: CurrentActor, threat_group: str, template_in: ActionTemplateUpdate
) -> ActionTemplateRead:
    """Rewrite one threat group's template (hub); the next products use it."""
    return product_service.update_template(
        session=session, actor=actor, threat_group=threat_group, template_in=template_in
    )


@router.get("/stats/countries", response_model=list[CountryStats])
def country_stats(
    session: DbSession,
    actor: CurrentActor,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[CountryStats]:
    """Per country: products, acknowledgement latency, feedback and takedown rate (hub); with
    since/until, of the products whose period overlaps them."""
    return product_service.country_stats(session=session, actor=actor, since=since, until=until)


@router.get("/stats/providers", response_model=list[ProviderStats])
def provider_stats(
    session: DbSession,
    actor: CurrentActor,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[ProviderStats]:
    """Per hosting network: items and median time from report to takedown (hub); with
    since/until, of the products whose period overlaps them."""
    return product_service.provider_stats(session=session, actor=actor, since=since, until=until)


@router.get("/{product_id}", response_model=ProductRead)
def read_product(session: DbSession, actor: CurrentActor, product_id: int) -> ProductRead:
    """A product's metadata; 404 unless the caller may read it."""
    product = product_service.get_or_raise(session=session, actor=actor, product_id=product_id)
    return product_service.to_read(session=session, actor=actor, product=product)


@router.get(
    "/{product_id}/download",
    response_class=Response,
    responses={
        200: {
            "content": {media: {} for media in render.MEDIA_TYPES.values()},
            "description": "the report in the requested format",
        }
    },
)
def download(
    session: DbSession,
    actor: CurrentActor,
    product_id: int,
    format: ProductFormat = Query(ProductFormat.HTML),  # noqa: A002
) -> Response:
    """The product as HTML, PDF, STIX 2.1 or CSV. The recipient's first download marks it read."""
    product = product_service.get_or_raise(session=session, actor=actor, product_id=product_id)
    if product.kind == ProductKind.ASSESSMENT.value:
        if format not in assessment_render.FORMATS:
            raise ValidationFailed("an assessment is rendered as html or pdf", field="format")
        return _assessment_response(actor, product, format)
    rendered = render.render(session=session, product=product, fmt=format)
    product_service.mark_read(session=session, actor=actor, product=product)
    return Response(
        content=rendered.content,
        media_type=rendered.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{rendered.filename}"',
            "Content-Security-Policy": REPORT_CSP,
            "X-Content-Hash": product.content_hash,
        },
    )


@router.get("/{product_id}/items", response_model=list[ProductItemRead])
def list_items(session: DbSession, actor: CurrentActor, product_id: int) -> list[ProductItemRead]:
    """The indicators of a product with their ids (to give feedback) and latest outcome."""
    return product_service.items(session=session, actor=actor, product_id=product_id)


@router.post("/{product_id}/acknowledge", response_model=ProductRead)
def acknowledge(session: DbSession, actor: CurrentActor, product_id: int) -> ProductRead:
    """The recipient confirms receipt; the first acknowledgement is kept."""
    product = product_service.acknowledge(session=session, actor=actor, product_id=product_id)
    return product_service.to_read(session=session, actor=actor, product=product)


@router.post("/{product_id}/feedback", response_model=FeedbackRead, status_code=201)
def give_feedback(
    session: DbSession, actor: CurrentActor, product_id: int, feedback_in: FeedbackIn
) -> FeedbackRead:
    """The recipient's outcome for one item; a false positive sends the record back to the
    analysts' queue with lower confidence."""
    row = product_service.give_feedback(
        session=session, actor=actor, product_id=product_id, feedback_in=feedback_in
    )
    return FeedbackRead(
        id=row.id,
        item_id=row.product_item_id,
        organisation=actor.org_slug or "",
        outcome=row.outcome,
        comment=row.comment,
        created_at=row.created_at,
        created_by=row.created_by,
    )


@router.get("/{product_id}/feedback", response_model=list[FeedbackRead])
def list_feedback(session: DbSession, actor: CurrentActor, product_id: int) -> list[FeedbackRead]:
    """Every outcome given for the product's items, oldest first."""
    return product_service.list_feedback(session=session, actor=actor, product_id=product_id)


@router.get(
    "/{product_id}/feedback/stix",
    response_class=Response,
    responses={200: {"content": {render.MEDIA_TYPES[ProductFormat.STIX]: {}}}},
)
def feedback_sightings(session: DbSession, actor: CurrentActor, product_id: int) -> Response:
    """The feedback that reports activity seen (investigating, taken down) as STIX 2.1
    sightings of the product's records."""
    product = product_service.get_or_raise(session=session, actor=actor, product_id=product_id)
    bundle = render.render_feedback_stix(session=session, product=product)
    return Response(
        content=orjson.dumps(bundle, option=orjson.OPT_INDENT_2),
        media_type=render.MEDIA_TYPES[ProductFormat.STIX],
    )


# --------------------------------------------------------------------------- assessments

# Threat assessments are products too (the register, the sharing filter), under their own path.
assessments = APIRouter(prefix="/assessments", tags=["assessment"])


@assessments.post("", response_model=ProductRead, status_code=201)
def issue_assessment(
    session: DbSession, actor: CurrentActor, assessment_in: AssessmentIssue
) -> ProductRead:
    """Issue a threat assessment (hub): global, a region's or a country's, for a period. For
    the hub alone its figures are exact; for any wider audience small cells are suppressed."""
    product = assessment_service.issue_assessment(
        session=session, actor=actor, assessment_in=assessment_in
    )
    return product_service.to_read(session=session, actor=actor, product=product)


@assessments.get("/{product_id}", response_model=ProductRead)
def read_assessment(session: DbSession, actor: CurrentActor, product_id: int) -> ProductRead:
    """An assessment's metadata; 404 unless the caller may read it."""
    product = assessment_service.get_or_raise(session=session, actor=actor, product_id=product_id)
    return product_service.to_read(session=session, actor=actor, product=product)


@assessments.get(
    "/{product_id}/download",
    response_class=Response,
    responses={
        200: {
            "content": {render.MEDIA_TYPES[f]: {} for f in assessment_render.FORMATS},
            "description": "the assessment as HTML or PDF",
        }
    },
)
def download_assessment(
    session: DbSession,
    actor: CurrentActor,
    product_id: int,
    format: AssessmentFormat = Query(AssessmentFormat.HTML),  # noqa: A002
) -> Response:
    """The assessment as HTML or PDF; the issuing hub's copy links every figure to its trace."""
    product = assessment_service.get_or_raise(session=session, actor=actor, product_id=product_id)
    return _assessment_response(actor, product, ProductFormat(format.value))


def _assessment_response(actor: Actor, product: Product, fmt: ProductFormat) -> Response:
    rendered = assessment_render.render(
        product=product, fmt=fmt, with_traces=assessment_service.is_issuer(actor, product)
    )
    return Response(
        content=rendered.content,
        media_type=rendered.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{rendered.filename}"',
            "Content-Security-Policy": REPORT_CSP,
            "X-Content-Hash": product.content_hash,
        },
    )


@assessments.get("/{product_id}/figures/{figure_id}", response_model=FigureTraceRead)
def figure_trace(
    session: DbSession,
    actor: CurrentActor,
    product_id: int,
    figure_id: str,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> FigureTraceRead:
    """Where a figure comes from (the issuing hub's analysts): the query that produced it, its
    parameters and value, and its records by id, a page at a time."""
    return assessment_service.figure_trace(
        session=session,
        actor=actor,
        product_id=product_id,
        figure_id=figure_id,
        limit=limit,
        offset=offset,
    )


# The application includes this module's `router`; its routes keep their own paths.
router.routes.extend(assessments.routes)
