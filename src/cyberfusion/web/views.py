"""Pages of the web shell: login, logout, home."""

from __future__ import annotations

from importlib import resources
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from cyberfusion import __version__
from cyberfusion.account import service as account_service
from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.api.deps import DbSession, OptionalActor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import DomainError
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.notification import service as notification_service
from cyberfusion.registry import service as registry_service
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.web import auth

templates = Jinja2Templates(directory=str(resources.files("cyberfusion.web").joinpath("templates")))
templates.env.globals["version"] = __version__

router = APIRouter(include_in_schema=False)


def render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> HTMLResponse:
    context = {"csrf_token": auth.csrf_token(request), **context}
    return templates.TemplateResponse(request, name, context, status_code=status_code)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    return render(request, "login.html", {"error": None, "email": ""})


@router.post("/login", response_class=HTMLResponse, response_model=None)
def login(
    request: Request,
    session: DbSession,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    code: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    outcome = account_service.login(session=session, email=email, password=password, totp_code=code)
    if outcome.user is None:
        # The failure count must persist even though the login failed.
        session.commit()
        return render(
            request, "login.html", {"error": outcome.error, "email": email}, status_code=401
        )
    auth.sign_in(request, outcome.user)
    return RedirectResponse("/", status_code=303)


@router.post("/logout", response_model=None)
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    auth.check_csrf(request, csrf_token)
    auth.sign_out(request)
    return RedirectResponse("/login", status_code=303)


@router.get("/", response_class=HTMLResponse, response_model=None)
def home(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    if actor.is_anonymous:
        return RedirectResponse("/login", status_code=303)
    user = account_service.get_by_email_or_raise(session=session, email=actor.email or "")
    audit = (
        audit_service.verify(session=session) if actor.can(Permission.AUDIT_LOG_VERIFY) else None
    )
    return render(
        request,
        "home.html",
        {
            "user": user,
            "org": user.organisation,
            "stats": {
                "countries": len(registry_service.list_countries(session=session)),
                "organisations": registry_service.count(session=session),
                "users": account_service.count(session=session),
                "readable_records": intel_service.count(session=session, actor=actor),
                "unread_notifications": notification_service.count_unread(
                    session=session, actor=actor
                ),
            },
            "audit": audit,
            "recent": [
                intel_service.to_read(session, r)
                for r in intel_service.list_(session=session, actor=actor, limit=10)
            ],
        },
    )


def _signed_in(actor: Actor) -> Response | None:
    return RedirectResponse("/login", status_code=303) if actor.is_anonymous else None


@router.get("/submissions/new", response_class=HTMLResponse, response_model=None)
def upload_form(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    if (redirect := _signed_in(actor)) is not None:
        return redirect
    user = account_service.get_by_email_or_raise(session=session, email=actor.email or "")
    return render(
        request,
        "upload.html",
        {
            "user": user,
            "org": user.organisation,
            "error": None,
            "tlps": list(Tlp),
            "audiences": list(Audience),
        },
    )


@router.post("/submissions", response_class=HTMLResponse, response_model=None)
async def upload(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    if (redirect := _signed_in(actor)) is not None:
        return redirect
    form = await request.form(max_part_size=get_settings().max_submission_bytes)
    auth.check_csrf(request, str(form.get("csrf_token") or ""))
    user = account_service.get_by_email_or_raise(session=session, email=actor.email or "")
    upload_file = form.get("file")
    error = None
    raw = b""
    if upload_file is None or isinstance(upload_file, str):
        error = "choose a file to upload"
    else:
        raw = await upload_file.read()
    if error is None:
        try:
            options = SubmissionOptions(
                source_format=SourceFormat(str(form.get("format") or "auto")),
                labels=LabelsIn(
                    tlp=Tlp(str(form.get("tlp") or "amber")),
                    audience=Audience(str(form.get("audience") or "organisation")),
                ),
                partial=form.get("partial") == "on",
            )
            result = intake_service.submit(session=session, actor=actor, raw=raw, options=options)
        except (DomainError, ValueError) as exc:
            error = exc.detail if isinstance(exc, DomainError) else str(exc)
        else:
            return RedirectResponse(f"/submissions/{result.id}", status_code=303)
    return render(
        request,
        "upload.html",
        {
            "user": user,
            "org": user.organisation,
            "error": error,
            "tlps": list(Tlp),
            "audiences": list(Audience),
        },
        status_code=422,
    )


@router.get("/submissions/{submission_id}", response_class=HTMLResponse, response_model=None)
def submission_page(
    request: Request, session: DbSession, actor: OptionalActor, submission_id: int
) -> Response:
    if (redirect := _signed_in(actor)) is not None:
        return redirect
    user = account_service.get_by_email_or_raise(session=session, email=actor.email or "")
    submission = intake_service.get_or_raise(
        session=session, actor=actor, submission_id=submission_id
    )
    result = intake_service.to_read(submission, replayed=False)
    return render(
        request,
        "submission.html",
        {"user": user, "org": user.organisation, "result": result, "shown": result.results[:1000]},
    )
