"""Web forms of the administration page for data-sharing agreements: register, amend,
suspend, resume. The page itself is `web.views.administration`."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ValidationError

from cyberfusion.api.deps import DbSession, OptionalActor
from cyberfusion.core.errors import DomainError, ValidationFailed
from cyberfusion.partner import service as partner_service
from cyberfusion.partner.schemas import AgreementCreate, AgreementUpdate
from cyberfusion.web import auth
from cyberfusion.web import views as web_views

router = APIRouter(include_in_schema=False)
M = TypeVar("M", bound=BaseModel)


def _parsed(model: type[M], fields: dict[str, Any]) -> M:
    """A form as the API's input model; the first problem as a domain error on its field."""
    # An empty date or text box means "not given", as an absent JSON field does.
    sent = {k: v for k, v in fields.items() if v != ""}
    try:
        return model.model_validate(sent)
    except ValidationError as exc:
        where, problem = web_views.form_problem(exc)
        raise ValidationFailed(problem, field=where) from exc


def _done(agreement_id: int, what: str) -> RedirectResponse:
    return RedirectResponse(
        f"/admin?agreement={agreement_id}&done={what}#agreement-{agreement_id}", status_code=303
    )


@router.post("/admin/agreements", response_model=None)
def register_agreement(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    organisation: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    reference: Annotated[str, Form()] = "",
    signed_on: Annotated[str, Form()] = "",
    valid_from: Annotated[str, Form()] = "",
    valid_until: Annotated[str, Form()] = "",
    scope: Annotated[str, Form(max_length=4000)] = "",
    max_tlp: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    viewer = web_views.viewer_of(request, session, actor)
    if viewer is None:
        return web_views.to_login()
    try:
        agreement_in = _parsed(
            AgreementCreate,
            {
                "organisation": organisation,
                "title": title.strip(),
                "reference": reference.strip(),
                "signed_on": signed_on,
                "valid_from": valid_from,
                "valid_until": valid_until,
                "scope": scope.strip(),
                "max_tlp": max_tlp,
            },
        )
        agreement = partner_service.create(session=session, actor=actor, agreement_in=agreement_in)
    except DomainError as exc:
        return web_views.error_page(request, viewer, exc)
    return _done(agreement.id, "created")


@router.post("/admin/agreements/{agreement_id}", response_model=None)
def amend_agreement(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    agreement_id: int,
    title: Annotated[str, Form()] = "",
    valid_until: Annotated[str, Form()] = "",
    scope: Annotated[str, Form(max_length=4000)] = "",
    max_tlp: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """The form shows every field it sends: an emptied end date makes it open-ended."""
    auth.check_csrf(request, csrf_token)
    viewer = web_views.viewer_of(request, session, actor)
    if viewer is None:
        return web_views.to_login()
    try:
        agreement_in = _parsed(
            AgreementUpdate, {"title": title.strip(), "scope": scope.strip(), "max_tlp": max_tlp}
        )
        # Set explicitly, so that an empty box clears the end date rather than leaving it.
        agreement_in.valid_until = _parsed(
            AgreementUpdate, {"valid_until": valid_until}
        ).valid_until
        partner_service.update(
            session=session, actor=actor, agreement_id=agreement_id, agreement_in=agreement_in
        )
    except DomainError as exc:
        return web_views.error_page(request, viewer, exc)
    return _done(agreement_id, "amended")


@router.post("/admin/agreements/{agreement_id}/suspend", response_model=None)
def suspend_agreement(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    agreement_id: int,
    reason: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    viewer = web_views.viewer_of(request, session, actor)
    if viewer is None:
        return web_views.to_login()
    try:
        partner_service.suspend(
            session=session, actor=actor, agreement_id=agreement_id, reason=reason
        )
    except DomainError as exc:
        return web_views.error_page(request, viewer, exc)
    return _done(agreement_id, "suspended")


@router.post("/admin/agreements/{agreement_id}/resume", response_model=None)
def resume_agreement(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    agreement_id: int,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    viewer = web_views.viewer_of(request, session, actor)
    if viewer is None:
        return web_views.to_login()
    try:
        partner_service.resume(session=session, actor=actor, agreement_id=agreement_id)
    except DomainError as exc:
        return web_views.error_page(request, viewer, exc)
    return _done(agreement_id, "resumed")
