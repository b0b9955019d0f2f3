"""Pages of the analyst web UI: sign-in, dashboard, search, records, validation, products,
administration."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from importlib import resources
from typing import Annotated, Any
from urllib.parse import urlencode

from babel.dates import format_date
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy.orm import Session

from cyberfusion import __version__
from cyberfusion.account import service as account_service
from cyberfusion.account.models import User
from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.api.deps import DbSession, OptionalActor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import DomainError, NotFound, PermissionDenied, ValidationFailed
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.notification import service as notification_service
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.types import ObservableType
from cyberfusion.partner import service as partner_service
from cyberfusion.product import assessment as assessment_service
from cyberfusion.product import charts
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Outcome, ProductKind
from cyberfusion.product.render import LISTED_PER_GROUP
from cyberfusion.product.schemas import (
    AssessmentAudience,
    AssessmentIssue,
    CarIssue,
    FeedbackIn,
    ProductFormat,
    ProductItemRead,
)
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.web import auth, i18n
from cyberfusion.web.i18n import N_, _

templates = Jinja2Templates(directory=str(resources.files("cyberfusion.web").joinpath("templates")))
templates.env.add_extension("jinja2.ext.i18n")
templates.env.install_gettext_callables(  # type: ignore[attr-defined]
    gettext=i18n._, ngettext=i18n.ngettext, newstyle=True
)
templates.env.globals["version"] = __version__
templates.env.filters["number"] = i18n.format_number
templates.env.filters["percent"] = i18n.format_share
templates.env.filters["when"] = i18n.format_when
# A calendar day (agreement dates), without a time, in the reader's language.
templates.env.filters["day"] = lambda value: format_date(
    value, format="medium", locale=i18n.current()
)

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
TREND_WEEKS = 12  # the dashboard's trend: records received per week
ADMIN_AUDIT_TAIL = 10_000  # audit entries the administration page checks on each load
# An object page looks up at most this many of its values: each lookup is a query and, for
# matches the reader may not see, a notification to their owners.
MAX_OBJECT_OBSERVABLES = 20
STATUSES = ("unvalidated", "validated", "rejected")
LANGUAGE_COOKIE_SECONDS = 365 * 24 * 3600
# Words stored as data (statuses, audiences, results) shown in the reader's language.
WORDS = {
    "unvalidated": N_("unvalidated"),
    "validated": N_("validated"),
    "rejected": N_("rejected"),
    "organisation": N_("organisation"),
    "organisations": N_("listed organisations"),
    "country": N_("country"),
    "region": N_("region"),
    "members": N_("members"),
    "community": N_("community"),
    "public": N_("public"),
    "accepted": N_("accepted"),
    "duplicate": N_("duplicate"),
    "partial": N_("partial"),
    "complete": N_("complete"),
    "car": N_("Cyber Activity Report"),
    "assessment": N_("Threat assessment"),
    "acknowledged": N_("acknowledged"),
    "investigating": N_("investigating"),
    "taken-down": N_("taken down"),
    "false-positive": N_("false positive"),
    "not-applicable": N_("not applicable"),
    "none": N_("none"),
    "pending": N_("pending"),
    "active": N_("active"),
    "suspended": N_("suspended"),
    "expired": N_("expired"),
}
# What an agreement form did, as the administration page confirms it.
AGREEMENT_DONE = frozenset({"created", "amended", "suspended", "resumed"})
# Messages of the account service that a signed-out user reads on the login page.
LOGIN_MESSAGES = frozenset(
    {
        N_("wrong e-mail, password or code"),
        N_("this account is locked after repeated failures; try later"),
    }
)


def word(value: object) -> str:
    text = str(value)
    return _(WORDS[text]) if text in WORDS else text


templates.env.filters["word"] = word


@dataclass(frozen=True)
class Viewer:
    """Who reads a page: the user, the actor the services check, the session, the language."""

    user: User
    actor: Actor
    session: Session
    lang: str


def render(
    request: Request, name: str, context: dict[str, Any], *, lang: str, status_code: int = 200
) -> HTMLResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context = {
        "csrf_token": auth.csrf_token(request),
        "lang": lang,
        "dir": i18n.direction(lang),
        "languages": i18n.LANGUAGES,
        "here": here,
        "user": None,
        **context,
    }
    # Starlette renders the template while building the response: inside `using`.
    with i18n.using(lang):
        response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers["Content-Language"] = lang
    return response


def show(
    request: Request, viewer: Viewer, name: str, *, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """A page of the signed-in UI: the menu needs the user, permissions and unread count."""
    actor = viewer.actor
    return render(
        request,
        name,
        {
            "user": viewer.user,
            "org": viewer.user.organisation,
            "may": {
                "submit": actor.can(Permission.INTEL_OBJECT_SUBMIT),
                "validate": actor.can(Permission.INTEL_OBJECT_VALIDATE),
                "notifications": actor.can(Permission.NOTIFICATION_NOTIFICATION_READ),
                "products": actor.can(Permission.PRODUCT_REPORT_READ),
                "admin": actor.can(Permission.ACCOUNT_USER_MANAGE),
            },
            "unread": notification_service.count_unread(session=viewer.session, actor=actor),
            **context,
        },
        lang=viewer.lang,
        status_code=status_code,
    )


def error_page(request: Request, viewer: Viewer, exc: DomainError) -> HTMLResponse:
    titles = {
        403: N_("Not allowed"),
        404: N_("Not found"),
        409: N_("Conflict"),
        422: N_("Invalid input"),
    }
    title = titles.get(exc.status, N_("Something went wrong"))
    return show(
        request, viewer, "error.html", status_code=exc.status, title=title, detail=exc.detail
    )


def member_country_choices(viewer: Viewer) -> list[tuple[str, str]]:
    """(code, name) of every member country for a select, named and sorted in the reader's
    language."""
    codes = [c.iso2 for c in registry_service.list_countries(session=viewer.session)]
    return sorted(i18n.country_names(viewer.lang, codes).items(), key=lambda item: item[1])


def viewer_of(request: Request, session: Session, actor: Actor) -> Viewer | None:
    if actor.is_anonymous or actor.email is None:
        return None
    user = account_service.get_by_email_or_raise(session=session, email=actor.email)
    return Viewer(user, actor, session, i18n.negotiate(request, user.locale))


def to_login() -> RedirectResponse:
    return RedirectResponse("/login", status_code=303)


def _local_path(target: str) -> str:
    """Only a path on this site: a redirect must not take the user elsewhere."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


# --------------------------------------------------------------------------- sign-in, language


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request) -> HTMLResponse:
    lang = i18n.negotiate(request, None)
    return render(request, "login.html", {"error": None, "email": ""}, lang=lang)


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
        lang = i18n.negotiate(request, None)
        with i18n.using(lang):
            error = _(outcome.error) if outcome.error in LOGIN_MESSAGES else outcome.error
        if outcome.retry_after is not None:
            # Locked: not a wrong answer but "too many attempts, come back later".
            locked = render(
                request, "login.html", {"error": error, "email": email}, lang=lang, status_code=429
            )
            locked.headers["Retry-After"] = str(outcome.retry_after)
            return locked
        return render(
            request, "login.html", {"error": error, "email": email}, lang=lang, status_code=401
        )
    auth.sign_in(request, outcome.user)
    return RedirectResponse("/", status_code=303)


@router.post("/logout", response_model=None)
def logout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    auth.check_csrf(request, csrf_token)
    auth.sign_out(request)
    return to_login()


@router.post("/language", response_model=None)
def choose_language(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    lang: Annotated[str, Form()] = "",
    next_path: Annotated[str, Form(alias="next")] = "/",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    """Set the UI language: on the account when signed in, and in a cookie for the login page."""
    auth.check_csrf(request, csrf_token)
    chosen = i18n.supported(lang)
    if chosen is None:
        raise ValidationFailed(
            f"unknown language {lang!r}; choose one of {', '.join(i18n.LANGUAGES)}", field="lang"
        )
    viewer = viewer_of(request, session, actor)
    if viewer is not None:
        account_service.set_locale(session=session, actor=actor, user=viewer.user, locale=chosen)
    response = RedirectResponse(_local_path(next_path), status_code=303)
    response.set_cookie(
        i18n.COOKIE,
        chosen,
        max_age=LANGUAGE_COOKIE_SECONDS,
        httponly=True,
        samesite="strict",
        secure=get_settings().secure_cookies,
    )
    return response


# --------------------------------------------------------------------------- dashboard


@router.get("/", response_class=HTMLResponse, response_model=None)
def dashboard(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    may_read_notes = actor.can(Permission.NOTIFICATION_NOTIFICATION_READ)
    tasks = None
    if actor.can(Permission.INTEL_OBJECT_VALIDATE):
        tasks = intel_service.search(session=session, actor=actor, status="unvalidated", limit=0)[1]
    weeks = intel_service.weekly_counts(
        session=session, actor=actor, weeks=TREND_WEEKS, until=datetime.now(UTC)
    )
    with i18n.using(viewer.lang):
        trend = charts.line_chart_svg(
            [
                charts.Point(
                    format_date(start, "d MMM", locale=viewer.lang), n, i18n.format_number(n)
                )
                for start, n in weeks
            ],
            title=_("Records received per week"),
        )
    return show(
        request,
        viewer,
        "dashboard.html",
        stats={
            "countries": len(registry_service.list_countries(session=session)),
            "organisations": registry_service.count(session=session),
            "users": account_service.count(session=session),
            "readable_records": intel_service.count(session=session, actor=actor),
        },
        by_type=intel_service.count_by(session=session, actor=actor, column="stix_type"),
        by_status=intel_service.count_by(session=session, actor=actor, column="status"),
        tasks=tasks,
        trend=Markup(trend),  # built from escaped parts by product.charts  # noqa: S704
        trend_total=sum(n for _, n in weeks),
        trend_weeks=TREND_WEEKS,
        notifications=(
            notification_service.list_(session=session, actor=actor, limit=5)
            if may_read_notes
            else []
        ),
        recent=[
            intel_service.to_read(session, r)
            for r in intel_service.list_(session=session, actor=actor, limit=10)
        ],
    )


# --------------------------------------------------------------------------- search


def day(raw: str, field: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise ValidationFailed(f"{field}: {raw!r} is not a date (YYYY-MM-DD)", field=field) from exc


@dataclass(frozen=True)
class ValueHit:
    """A search text that is an observable value: the lookup's answer, as far as one may see."""

    obs_type: str
    value: str
    observable_id: int | None
    readable: int
    hidden_match: bool


@router.get("/search", response_class=HTMLResponse, response_model=None)
def search(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    q: str = "",
    type: str = "",  # noqa: A002 - the query parameter users see in the address bar
    tlp: str = "",
    status: str = "",
    since: str = "",
    until: str = "",
    country: str = "",
    source: str = "",
    page: int = 1,
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    q = q.strip()
    country, source = country.strip().upper(), source.strip()
    filters = {
        "q": q,
        "type": type,
        "tlp": tlp,
        "status": status,
        "since": since,
        "until": until,
        "country": country,
        "source": source,
    }
    error = None
    value_hit = None
    records: list[Any] = []
    total = 0
    page = max(page, 1)
    try:
        if tlp and tlp not in {t.value for t in Tlp}:
            raise ValidationFailed(f"tlp: unknown TLP {tlp!r}", field="tlp")
        if status and status not in STATUSES:
            raise ValidationFailed(f"status: unknown status {status!r}", field="status")
        first, last = day(since, "since"), day(until, "until")
        if country:
            registry_service.get_country_or_raise(session=session, code=country)
        source_org = (
            registry_service.get_by_slug_or_raise(session=session, slug=source, field="source")
            if source
            else None
        )
        if q and actor.can(Permission.INTEL_OBJECT_READ):
            value_hit = _value_hit(session, actor, q)
        found, total = intel_service.search(
            session=session,
            actor=actor,
            text=q or None,
            stix_type=type or None,
            tlp=tlp or None,
            status=status or None,
            since=datetime.combine(first, time.min, UTC) if first else None,
            until=datetime.combine(last + timedelta(days=1), time.min, UTC) if last else None,
            country=country or None,
            source_org_id=source_org.id if source_org is not None else None,
            limit=PAGE_SIZE,
            offset=(page - 1) * PAGE_SIZE,
        )
        records = [intel_service.to_read(session, r) for r in found]
    except (ValidationFailed, NotFound) as exc:
        error = exc.detail
    pages = max(1, -(-total // PAGE_SIZE))
    link = {k: v for k, v in filters.items() if v}
    return show(
        request,
        viewer,
        "search.html",
        status_code=422 if error else 200,
        filters=filters,
        error=error,
        value_hit=value_hit,
        records=records,
        total=total,
        page=page,
        pages=pages,
        prev_url=f"/search?{urlencode({**link, 'page': page - 1})}" if page > 1 else None,
        next_url=f"/search?{urlencode({**link, 'page': page + 1})}" if page < pages else None,
        types=list(intel_service.count_by(session=session, actor=actor, column="stix_type")),
        tlps=[t.value for t in Tlp],
        statuses=STATUSES,
        countries=member_country_choices(viewer),
        sources=registry_service.list_(session=session),
    )


def _value_hit(session: Session, actor: Actor, text: str) -> ValueHit | None:
    """The lookup of `text` if it reads as an observable value; None if it is just words."""
    try:
        obs_type, value = observable_service.parse_selector(text)
    except ValidationFailed:
        return None
    result = observable_service.lookup(session=session, actor=actor, raw=value, obs_type=obs_type)
    return ValueHit(
        result.obs_type,
        result.value,
        result.observable_id,
        len(result.occurrences),
        result.hidden_match,
    )


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Reporter:
    org: str
    record_id: int
    reported_at: datetime


@dataclass(frozen=True)
class ObservableView:
    obs_type: str
    value: str
    observable_id: int | None
    others: list[Reporter]
    hidden_match: bool
    facts: dict[str, Any] | None


def _org_slug(session: Session, org_id: int, cache: dict[int, str]) -> str:
    if org_id not in cache:
        org = session.get(Organisation, org_id)
        cache[org_id] = org.slug if org is not None else str(org_id)
    return cache[org_id]


def _observable_view(
    session: Session, actor: Actor, obs_type: str, value: str, *, exclude_record: int | None
) -> ObservableView:
    result = observable_service.lookup(session=session, actor=actor, raw=value, obs_type=obs_type)
    slugs: dict[int, str] = {}
    others = [
        Reporter(_org_slug(session, o.owner_org_id, slugs), o.intel_object_id, o.reported_at)
        for o in result.occurrences
        if o.intel_object_id != exclude_record
    ]
    facts = (
        enrichment_service.describe(
            session=session, actor=actor, observable_id=result.observable_id
        )
        if result.observable_id is not None
        else None
    )
    return ObservableView(
        result.obs_type, result.value, result.observable_id, others, result.hidden_match, facts
    )


@router.get("/objects/{record_id}", response_class=HTMLResponse, response_model=None)
def object_page(
    request: Request, session: DbSession, actor: OptionalActor, record_id: int
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        record = intel_service.get_or_raise(session=session, actor=actor, record_id=record_id)
        pairs = observable_service.observables_of(record.content)
        observables = [
            _observable_view(session, actor, obs_type, value, exclude_record=record.id)
            for obs_type, value in pairs[:MAX_OBJECT_OBSERVABLES]
        ]
    except DomainError as exc:
        return error_page(request, viewer, exc)
    read = intel_service.to_read(session, record)
    owner = registry_service.get_by_slug(session=session, slug=read.owner)
    return show(
        request,
        viewer,
        "object.html",
        record=read,
        owner=owner,
        provenance={
            "submission_id": record.submission_id,
            "own_submission": record.owner_org_id == actor.org_id,
            "submitted_via": record.submitted_via,
            "source_format": record.source_format,
        },
        content_json=json.dumps(read.content, indent=2, ensure_ascii=False, sort_keys=True),
        versions=[
            intel_service.to_read(session, v)
            for v in intel_service.versions(session=session, actor=actor, stix_id=record.stix_id)
        ],
        observables=observables,
        more_observables=max(0, len(pairs) - MAX_OBJECT_OBSERVABLES),
        may_validate=actor.can(Permission.INTEL_OBJECT_VALIDATE),
    )


@router.get("/observables", response_class=HTMLResponse, response_model=None)
def observable_page(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    value: str = "",
    type: str = "",  # noqa: A002 - the query parameter users see in the address bar
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    error = None
    found = None
    if value.strip():
        try:
            obs_type, normalised = observable_service.parse_selector(value, type or None)
            found = _observable_view(session, actor, obs_type, normalised, exclude_record=None)
        except DomainError as exc:
            error = exc.detail
    return show(
        request,
        viewer,
        "observable.html",
        status_code=422 if error else 200,
        value=value,
        obs_type=type,
        types=[t.value for t in ObservableType],
        found=found,
        error=error,
    )


# --------------------------------------------------------------------------- validation


@router.get("/validation", response_class=HTMLResponse, response_model=None)
def validation_queue(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    decided: int | None = None,
    decision: str = "",
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        actor.require(Permission.INTEL_OBJECT_VALIDATE)
    except DomainError as exc:
        return error_page(request, viewer, exc)
    found, total = intel_service.search(
        session=session, actor=actor, status="unvalidated", limit=PAGE_SIZE
    )
    return show(
        request,
        viewer,
        "validation.html",
        records=[intel_service.to_read(session, r) for r in found],
        total=total,
        decided=decided,
        decision=decision if decision in STATUSES else "",
    )


@router.post("/objects/{record_id}/validation", response_model=None)
def validate_record(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    record_id: int,
    decision: Annotated[str, Form()] = "",
    reason: Annotated[str, Form(max_length=1000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        intel_service.validate(
            session=session, actor=actor, record_id=record_id, decision=decision, reason=reason
        )
    except DomainError as exc:
        return error_page(request, viewer, exc)
    query = urlencode({"decided": record_id, "decision": decision})
    return RedirectResponse(f"/validation?{query}", status_code=303)


# --------------------------------------------------------------------------- products


@router.get("/products", response_class=HTMLResponse, response_model=None)
def products(
    request: Request, session: DbSession, actor: OptionalActor, notice: str = ""
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    return _products_page(request, viewer, notice=notice)


def _products_page(
    request: Request,
    viewer: Viewer,
    *,
    notice: str = "",
    error: str | None = None,
    form: dict[str, str] | None = None,
) -> Response:
    session, actor = viewer.session, viewer.actor
    try:
        rows = product_service.list_(session=session, actor=actor, limit=200)
    except DomainError as exc:
        return error_page(request, viewer, exc)
    may_issue = actor.can(Permission.PRODUCT_REPORT_ISSUE)
    countries = member_country_choices(viewer) if may_issue else []
    return show(
        request,
        viewer,
        "products.html",
        status_code=422 if error else 200,
        products=[product_service.to_read(session=session, actor=actor, product=p) for p in rows],
        may_issue=may_issue,
        notice=ISSUE_NOTICES.get(notice),
        error=error,
        form=form or {},
        countries=countries,
        regions=registry_service.list_regions(session=session) if may_issue else [],
        audiences=[a.value for a in AssessmentAudience if a != AssessmentAudience.ORGANISATIONS],
    )


ISSUE_NOTICES = {"nothing-new": N_("Nothing new to report for that country and period.")}


def form_problem(exc: ValidationError) -> tuple[str, str]:
    """The first problem of a form checked with an API input model: (field, "field: why")."""
    first = exc.errors()[0]
    # The field, not the member of a union type pydantic tried last ("since.datetime").
    where = str(first["loc"][0]) if first["loc"] else "form"
    return where, f"{where}: {first['msg']}"


def _issue_error(exc: ValidationError | DomainError) -> str:
    return exc.detail if isinstance(exc, DomainError) else form_problem(exc)[1]


@router.post("/products/cars", response_model=None)
async def issue_car_form(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    """The hub issues one country's Cyber Activity Report from the products page."""
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    form = {k: str(v) for k, v in (await request.form()).items()}
    auth.check_csrf(request, form.get("csrf_token", ""))
    try:
        car_in = CarIssue(
            country=form.get("country") or None,
            since=form.get("since") or None,
            until=form.get("until") or None,
        )
        result = product_service.issue_car(session=session, actor=actor, car_in=car_in)
    except PermissionDenied as exc:
        return error_page(request, viewer, exc)
    except (ValidationError, DomainError) as exc:
        with i18n.using(viewer.lang):
            return _products_page(request, viewer, error=_issue_error(exc), form=form)
    if result.product is None or not result.issued:
        return RedirectResponse("/products?notice=nothing-new", status_code=303)
    return RedirectResponse(f"/products/{result.product.id}", status_code=303)


@router.post("/products/assessments", response_model=None)
async def issue_assessment_form(
    request: Request, session: DbSession, actor: OptionalActor
) -> Response:
    """The hub issues a threat assessment from the products page."""
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    form = {k: str(v) for k, v in (await request.form()).items()}
    auth.check_csrf(request, form.get("csrf_token", ""))
    scope = form.get("scope") or "global"
    try:
        assessment_in = AssessmentIssue.model_validate(
            {
                "scope": scope,
                "country": (form.get("country") or None) if scope == "country" else None,
                "region": (form.get("region") or None) if scope == "region" else None,
                "since": form.get("since") or None,
                "until": form.get("until") or None,
                "audience": form.get("audience") or "hub",
            }
        )
        product = assessment_service.issue_assessment(
            session=session, actor=actor, assessment_in=assessment_in
        )
    except PermissionDenied as exc:
        return error_page(request, viewer, exc)
    except (ValidationError, DomainError) as exc:
        with i18n.using(viewer.lang):
            return _products_page(request, viewer, error=_issue_error(exc), form=form)
    return RedirectResponse(f"/products/{product.id}", status_code=303)


@router.get("/products/reaction", response_class=HTMLResponse, response_model=None)
def products_reaction(
    request: Request, session: DbSession, actor: OptionalActor, since: str = "", until: str = ""
) -> Response:
    """How recipients react to the products: per country and per hosting network (issuers)."""
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    filters = {"since": since, "until": until}
    error = None
    countries: list[Any] = []
    providers: list[Any] = []
    try:
        first, last = day(since, "since"), day(until, "until")
        start = datetime.combine(first, time.min, UTC) if first else None
        end = datetime.combine(last + timedelta(days=1), time.min, UTC) if last else None
        countries = product_service.country_stats(
            session=session, actor=actor, since=start, until=end
        )
        providers = product_service.provider_stats(
            session=session, actor=actor, since=start, until=end
        )
    except ValidationFailed as exc:
        error = exc.detail
    except DomainError as exc:
        return error_page(request, viewer, exc)
    return show(
        request,
        viewer,
        "reaction.html",
        status_code=422 if error else 200,
        filters=filters,
        error=error,
        countries=countries,
        names=i18n.country_names(viewer.lang, [c.country for c in countries]),
        providers=providers,
    )


@dataclass(frozen=True)
class ItemGroup:
    """One threat group of a product: the hub's advice and the items listed on the page."""

    key: str
    title: str
    why_it_matters: str
    actions: list[str]
    count: int
    items: list[ProductItemRead]


def _item_groups(document: dict[str, Any], items: list[ProductItemRead]) -> list[ItemGroup]:
    by_group: dict[str, list[ProductItemRead]] = {}
    for item in items:
        by_group.setdefault(item.group, []).append(item)
    groups = []
    # The document keeps the groups in the report's order with the advice issued with it.
    for entry in document.get("groups", []):
        key = str(entry["key"])
        found = by_group.pop(key, [])
        groups.append(
            ItemGroup(
                key,
                str(entry.get("title", key)),
                str(entry.get("why_it_matters", "")),
                [str(a) for a in entry.get("actions", [])],
                len(found),
                found[:LISTED_PER_GROUP],
            )
        )
    for key, found in by_group.items():
        groups.append(ItemGroup(key, key, "", [], len(found), found[:LISTED_PER_GROUP]))
    return groups


@router.get("/products/{product_id}", response_class=HTMLResponse, response_model=None)
def product_page(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    product_id: int,
    acknowledged: int = 0,
    answered: int | None = None,
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        product = product_service.get_or_raise(session=session, actor=actor, product_id=product_id)
        items = product_service.items(session=session, actor=actor, product_id=product_id)
    except DomainError as exc:
        return error_page(request, viewer, exc)
    # Opening the page is reading the product, as its first download is.
    product_service.mark_read(session=session, actor=actor, product=product)
    read = product_service.to_read(session=session, actor=actor, product=product)
    return show(
        request,
        viewer,
        "product.html",
        product=read,
        document=product.document,
        groups=_item_groups(product.document, items),
        listed=LISTED_PER_GROUP,
        # A threat assessment is a document (HTML, PDF); a CAR is also data (STIX, CSV).
        formats=(
            [ProductFormat.HTML.value, ProductFormat.PDF.value]
            if product.kind == ProductKind.ASSESSMENT
            else [f.value for f in ProductFormat]
        ),
        outcomes=[o.value for o in Outcome],
        # Only the recipient acknowledges and answers; the hub reads its register.
        may_answer=read.delivery is not None and actor.can(Permission.PRODUCT_REPORT_FEEDBACK),
        acknowledged=bool(acknowledged),
        answered=answered,
    )


@router.post("/products/{product_id}/acknowledge", response_model=None)
def acknowledge_product(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    product_id: int,
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        product_service.acknowledge(session=session, actor=actor, product_id=product_id)
    except DomainError as exc:
        return error_page(request, viewer, exc)
    return RedirectResponse(f"/products/{product_id}?acknowledged=1", status_code=303)


@router.post("/products/{product_id}/feedback", response_model=None)
def product_feedback(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    product_id: int,
    item_id: Annotated[str, Form()] = "",
    outcome: Annotated[str, Form()] = "",
    comment: Annotated[str, Form(max_length=4000)] = "",
    csrf_token: Annotated[str, Form()] = "",
) -> Response:
    auth.check_csrf(request, csrf_token)
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        if not item_id.isdigit():
            raise ValidationFailed(
                f"item_id: {item_id!r} is not an item of product {product_id}", field="item_id"
            )
        if outcome not in {o.value for o in Outcome}:
            raise ValidationFailed(
                f"outcome: unknown outcome {outcome!r} for item {item_id}; choose one of "
                f"{', '.join(o.value for o in Outcome)}",
                field="outcome",
            )
        product_service.give_feedback(
            session=session,
            actor=actor,
            product_id=product_id,
            feedback_in=FeedbackIn(item_id=int(item_id), outcome=Outcome(outcome), comment=comment),
        )
    except DomainError as exc:
        return error_page(request, viewer, exc)
    return RedirectResponse(
        f"/products/{product_id}?answered={item_id}#item-{item_id}", status_code=303
    )


# --------------------------------------------------------------------------- notifications, admin


@router.get("/notifications", response_class=HTMLResponse, response_model=None)
def notifications(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        rows = notification_service.list_(session=session, actor=actor, limit=200)
    except DomainError as exc:
        return error_page(request, viewer, exc)
    return show(request, viewer, "notifications.html", notifications=rows)


@router.get("/admin", response_class=HTMLResponse, response_model=None)
def administration(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    agreement: int | None = None,
    done: str = "",
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        keys = account_service.list_api_keys(session=session, actor=actor)
        actor.require(Permission.AUDIT_LOG_VERIFY)
        # The agreement forms post to partner/views.py and come back here with what they did.
        agreements = [
            partner_service.to_read(a) for a in partner_service.list_(session=session, actor=actor)
        ]
    except DomainError as exc:
        return error_page(request, viewer, exc)
    organisations = registry_service.list_(session=session)
    return show(
        request,
        viewer,
        "admin.html",
        organisations=organisations,
        users=account_service.list_(session=session),
        keys=keys,
        # Every page load walks the last entries only; `cyberfusion audit verify` walks all.
        audit=audit_service.verify(session=session, tail=ADMIN_AUDIT_TAIL),
        agreements=agreements,
        partners=[o for o in organisations if o.kind in partner_service.PARTNER_KINDS],
        tlps=[t.value for t in Tlp],
        agreement_done=agreement if done in AGREEMENT_DONE else None,
        done=done,
    )


# --------------------------------------------------------------------------- submissions


def _upload_page(
    request: Request, viewer: Viewer, error: str | None, status_code: int = 200
) -> HTMLResponse:
    return show(
        request,
        viewer,
        "upload.html",
        status_code=status_code,
        error=error,
        tlps=list(Tlp),
        audiences=[a for a in Audience if a is not Audience.ORGANISATIONS],
    )


@router.get("/submissions/new", response_class=HTMLResponse, response_model=None)
def upload_form(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    return _upload_page(request, viewer, None)


@router.post("/submissions", response_class=HTMLResponse, response_model=None)
async def upload(request: Request, session: DbSession, actor: OptionalActor) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    form = await request.form(max_part_size=get_settings().max_submission_bytes)
    auth.check_csrf(request, str(form.get("csrf_token") or ""))
    upload_file = form.get("file")
    if upload_file is None or isinstance(upload_file, str):
        with i18n.using(viewer.lang):
            return _upload_page(request, viewer, _("choose a file to upload"), 422)
    raw = await upload_file.read()
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
        return _upload_page(request, viewer, error, 422)
    return RedirectResponse(f"/submissions/{result.id}", status_code=303)


@router.get("/submissions/{submission_id}", response_class=HTMLResponse, response_model=None)
def submission_page(
    request: Request, session: DbSession, actor: OptionalActor, submission_id: int
) -> Response:
    viewer = viewer_of(request, session, actor)
    if viewer is None:
        return to_login()
    try:
        submission = intake_service.get_or_raise(
            session=session, actor=actor, submission_id=submission_id
        )
    except NotFound as exc:
        return error_page(request, viewer, exc)
    result = intake_service.to_read(submission, replayed=False)
    return show(request, viewer, "submission.html", result=result, shown=result.results[:1000])
