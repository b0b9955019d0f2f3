"""Web page of enrichment: the world map of activity by country, as far as the viewer may see."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from cyberfusion.account.permissions import Permission
from cyberfusion.api.deps import DbSession, OptionalActor
from cyberfusion.core.errors import PermissionDenied, ValidationFailed
from cyberfusion.enrichment import activity
from cyberfusion.product import worldmap
from cyberfusion.web import i18n, views
from cyberfusion.web.i18n import _

router = APIRouter(include_in_schema=False)


@router.get("/map", response_class=HTMLResponse, response_model=None)
def world_map(
    request: Request,
    session: DbSession,
    actor: OptionalActor,
    view: str = activity.ActivityView.CONCERNED.value,
    since: str = "",
    until: str = "",
) -> Response:
    viewer = views.viewer_of(request, session, actor)
    if viewer is None:
        return views.to_login()
    if not actor.can(Permission.INTEL_OBJECT_READ):
        return views.error_page(request, viewer, PermissionDenied("you may not read records"))
    filters = {"view": view, "since": since, "until": until}
    error = None
    counts: dict[str, int] = {}
    try:
        if view not in {v.value for v in activity.ActivityView}:
            raise ValidationFailed(f"view: unknown view {view!r}", field="view")
        first, last = views.day(since, "since"), views.day(until, "until")
        counts = activity.country_activity(
            session=session,
            actor=actor,
            view=activity.ActivityView(view),
            since=datetime.combine(first, time.min, UTC) if first else None,
            until=datetime.combine(last + timedelta(days=1), time.min, UTC) if last else None,
        )
    except ValidationFailed as exc:
        error = exc.detail
    with i18n.using(viewer.lang):
        drawn = worldmap.outlines()
        names = i18n.country_names(viewer.lang, sorted({*drawn.shapes, *drawn.points, *counts}))
        kept = {k: v for k, v in filters.items() if v and k != "view"}

        def search_link(code: str) -> str:
            return "/search?" + urlencode({"country": code, **kept})

        svg = worldmap.world_map_svg(
            counts,
            title=_("Observables by country"),
            names=names,
            number=i18n.format_number,
            link=search_link,
            none_label=views.word("none"),
        )
    rows = [(code, names.get(code, code), n, search_link(code)) for code, n in counts.items()]
    return views.show(
        request,
        viewer,
        "map.html",
        status_code=422 if error else 200,
        filters=filters,
        error=error,
        map_svg=Markup(svg),  # built from escaped parts by worldmap  # noqa: S704
        rows=rows,
        views=[v.value for v in activity.ActivityView],
    )
