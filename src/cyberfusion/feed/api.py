"""REST routes of feeds: set-up, runs and status of feeds in; blocklists and the MISP feed out."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Response
from fastapi.responses import StreamingResponse

from cyberfusion.api.deps import CurrentActor, DbSession, OptionalActor
from cyberfusion.export.service import StatusFilter
from cyberfusion.feed import out
from cyberfusion.feed import service as feed_service
from cyberfusion.feed.schemas import (
    BlocklistKind,
    FeedCreate,
    FeedRead,
    FeedRunRead,
    FeedUpdate,
    Tier,
)

router = APIRouter(tags=["feeds"])

_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "no such feed for your organisation"}
}


@router.get("/feeds", response_model=list[FeedRead])
def list_feeds(session: DbSession, actor: CurrentActor) -> list[FeedRead]:
    """Your organisation's feeds, with their schedule and last run."""
    return [
        feed_service.to_read(session=session, feed=feed)
        for feed in feed_service.list_(session=session, actor=actor)
    ]


@router.post(
    "/feeds",
    response_model=FeedRead,
    status_code=201,
    responses={409: {"description": "the name is taken"}, 422: {"description": "invalid"}},
)
def create_feed(session: DbSession, actor: CurrentActor, feed_in: FeedCreate) -> FeedRead:
    """Set up a feed for your organisation; it runs at once, then every `interval_seconds`.
    Feeds set up here fetch public http(s) URLs only (docs/feeds.md)."""
    feed = feed_service.create(session=session, actor=actor, feed_in=feed_in, trusted=False)
    return feed_service.to_read(session=session, feed=feed)


@router.get("/feeds/{feed_id}", response_model=FeedRead, responses=_NOT_FOUND)
def read_feed(session: DbSession, actor: CurrentActor, feed_id: int) -> FeedRead:
    feed = feed_service.get_or_raise(session=session, actor=actor, feed_id=feed_id)
    return feed_service.to_read(session=session, feed=feed)


@router.patch("/feeds/{feed_id}", response_model=FeedRead, responses=_NOT_FOUND)
def update_feed(
    session: DbSession, actor: CurrentActor, feed_id: int, feed_in: FeedUpdate
) -> FeedRead:
    """Change the fields sent; `"auth": null` removes the stored credentials."""
    feed = feed_service.get_or_raise(session=session, actor=actor, feed_id=feed_id)
    feed = feed_service.update(
        session=session, actor=actor, feed=feed, feed_in=feed_in, trusted=False
    )
    return feed_service.to_read(session=session, feed=feed)


@router.delete("/feeds/{feed_id}", status_code=204, responses=_NOT_FOUND)
def delete_feed(session: DbSession, actor: CurrentActor, feed_id: int) -> Response:
    """Remove the feed and its run history; what it brought in stays."""
    feed = feed_service.get_or_raise(session=session, actor=actor, feed_id=feed_id)
    feed_service.delete_(session=session, actor=actor, feed=feed)
    return Response(status_code=204)


@router.post(
    "/feeds/{feed_id}/run",
    response_model=FeedRunRead,
    responses={**_NOT_FOUND, 409: {"description": "the feed is running"}},
)
def run_feed(session: DbSession, actor: CurrentActor, feed_id: int) -> FeedRunRead:
    """Run the feed now and answer with the run; a failed run is a 200 with status failed."""
    feed_run = feed_service.run_now(session=session, actor=actor, feed_id=feed_id)
    feed = feed_service.get_or_raise(session=session, actor=actor, feed_id=feed_id)
    return feed_service.run_to_read(feed, feed_run)


@router.get("/feeds/{feed_id}/runs", response_model=list[FeedRunRead], responses=_NOT_FOUND)
def list_runs(
    session: DbSession,
    actor: CurrentActor,
    feed_id: int,
    limit: Annotated[int, Query(ge=1, le=200)] = 20,
) -> list[FeedRunRead]:
    """The feed's latest runs, newest first: status, counts, problems and errors."""
    feed = feed_service.get_or_raise(session=session, actor=actor, feed_id=feed_id)
    return [
        feed_service.run_to_read(feed, feed_run)
        for feed_run in feed_service.runs(session=session, feed=feed, limit=limit)
    ]


# -- feeds out ---------------------------------------------------------------------------------

_OUT: dict[int | str, dict[str, Any]] = {
    401: {"description": "this tier needs credentials"},
    404: {"description": "your organisation does not belong to this tier"},
}
_Status = Annotated[
    StatusFilter,
    Query(description="validated (default), unvalidated or any"),
]
_Since = Annotated[datetime | None, Query(description="only records stored after (UTC)")]


@router.get(
    "/feeds-out/{tier}/{kind}.txt",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}, **_OUT},
)
def blocklist_text(
    session: DbSession,
    actor: OptionalActor,
    tier: Tier,
    kind: BlocklistKind,
    status: _Status = StatusFilter.VALIDATED,
    since: _Since = None,
) -> StreamingResponse:
    """A blocklist for firewalls (`ip`: addresses and CIDR blocks) or DNS resolvers
    (`domain`), or URLs (`url`): one value a line. Without credentials: the `public` tier."""
    chunks = out.blocklist_text(
        session=session, actor=actor, tier=tier, kind=kind, status=status, since=since
    )
    return StreamingResponse(chunks, media_type="text/plain; charset=utf-8")


@router.get(
    "/feeds-out/{tier}/blocklist.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **_OUT},
)
def blocklist_csv(
    session: DbSession,
    actor: OptionalActor,
    tier: Tier,
    kind: Annotated[
        list[BlocklistKind] | None, Query(alias="type", description="ip, domain, url; repeat")
    ] = None,
    status: _Status = StatusFilter.VALIDATED,
    since: _Since = None,
) -> StreamingResponse:
    """Every value of the tier (or of the types asked) as CSV with our intake header."""
    chunks = out.blocklist_csv(
        session=session, actor=actor, tier=tier, kinds=kind or (), status=status, since=since
    )
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8")


@router.get("/feeds-out/{tier}/misp/manifest.json", responses=_OUT)
def misp_manifest(session: DbSession, actor: OptionalActor, tier: Tier) -> Response:
    """The MISP feed's manifest: one event per day records were stored (validated only).
    Point a MISP feed at `/api/v1/feeds-out/<tier>/misp` with an `Authorization` header."""
    manifest = out.misp_manifest(session=session, actor=actor, tier=tier)
    return Response(orjson.dumps(manifest), media_type="application/json")


@router.get(
    "/feeds-out/{tier}/misp/hashes.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}}, **_OUT},
)
def misp_hashes(session: DbSession, actor: OptionalActor, tier: Tier) -> StreamingResponse:
    """`<md5 of an attribute value>,<event uuid>` per attribute, as MISP feeds have."""
    chunks = out.misp_hashes(session=session, actor=actor, tier=tier)
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8")


@router.get("/feeds-out/{tier}/misp/{event_uuid}.json", responses=_OUT)
def misp_event(
    session: DbSession, actor: OptionalActor, tier: Tier, event_uuid: uuid.UUID
) -> Response:
    """One event of the MISP feed."""
    body = out.misp_event(session=session, actor=actor, tier=tier, event_uuid=str(event_uuid))
    return Response(body, media_type="application/json")
