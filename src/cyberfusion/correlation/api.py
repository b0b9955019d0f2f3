"""REST routes of correlation: who else reported a value, the graph around it, flag overrides."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.correlation import graph as graph_service
from cyberfusion.correlation import service as correlation_service
from cyberfusion.correlation.schemas import (
    CorrelationRead,
    FlagRead,
    GraphRead,
    LookupRead,
    RelatedRead,
    ReportRead,
)
from cyberfusion.enrichment import service as enrichment_service

router = APIRouter(tags=["correlation"])


def _read(result: correlation_service.Correlation) -> CorrelationRead:
    return CorrelationRead(
        type=result.obs_type,
        value=result.value,
        observable_id=result.observable_id if result.known else None,
        known=result.known,
        reports=[ReportRead(**vars(report)) for report in result.reports],
        hidden_match=result.hidden_match,
        assessment=result.assessment,
        enrichment=result.enrichment,
        related=[
            RelatedRead(
                relation=item.relation,
                type=item.obs_type,
                value=item.value,
                observable_id=item.observable_id,
                reports=[ReportRead(**vars(report)) for report in item.reports],
                hidden_match=item.hidden_match,
            )
            for item in result.related
        ],
    )


def _lookup_read(result: correlation_service.Correlation) -> LookupRead:
    full = _read(result)
    facts = result.enrichment or {}
    current = facts.get("enrichment", {})
    geo = (current.get("geo") or {}).get("data", {})
    asn = (current.get("asn") or {}).get("data", {})
    flags = facts.get("flags", [])
    return LookupRead(
        type=full.type,
        value=full.value,
        known=full.known,
        occurrences=full.reports,
        hidden_match=full.hidden_match,
        match_elsewhere=full.hidden_match or any(r.hidden_match for r in full.related),
        noise=bool(facts.get("noise", False)),
        warninglists=[f["name"] for f in flags if f["source"] == "warninglist"],
        country=geo.get("country"),
        as_organisation=asn.get("as_organisation"),
        as_network=asn.get("as_network"),
        countries=[
            {"country": place["country"], "reason": place["reason"]}
            for place in facts.get("jurisdictions", [])
        ],
        assessment=full.assessment,
        enrichment=full.enrichment,
        correlations=full.related,
    )


@router.get("/observables/lookup", response_model=LookupRead)
def lookup_observable(
    session: DbSession,
    actor: CurrentActor,
    value: Annotated[str, Query(min_length=1, max_length=4096)],
    type: Annotated[str | None, Query(description="observable type; guessed when absent")] = None,  # noqa: A002
) -> LookupRead:
    """Who else has this value: the normalised value, who reported it as far as the caller may
    see, its enrichment (country, AS), warninglist hits and the countries it concerns, and its
    correlations; `match_elsewhere` (and `hidden_match` for the value itself) where records
    the caller may not read match, without their content (their owners are told who asked)."""
    result = correlation_service.correlate_value(
        session=session, actor=actor, raw=value, obs_type=type
    )
    return _lookup_read(result)


@router.get("/correlation", response_model=CorrelationRead)
def correlate_value(
    session: DbSession,
    actor: CurrentActor,
    value: Annotated[str, Query(min_length=1, max_length=4096)],
    type: Annotated[str | None, Query(description="observable type; guessed when absent")] = None,  # noqa: A002
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CorrelationRead:
    """Who reported a value and the values around it (containing blocks, addresses inside a
    block, parent names and names below, a URL's host and what the host resolves to), with
    enrichment and corroboration, as far as the caller may see. Records it may not read show
    as `hidden_match`; their owners are told who asked."""
    result = correlation_service.correlate_value(
        session=session, actor=actor, raw=value, obs_type=type, limit=limit
    )
    return _read(result)


@router.get("/observables/{observable_id}/correlation", response_model=CorrelationRead)
def correlate_observable(
    session: DbSession,
    actor: CurrentActor,
    observable_id: int,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> CorrelationRead:
    """The same for a stored observable the caller may read a report of (else 404)."""
    result = correlation_service.correlate(
        session=session, actor=actor, observable_id=observable_id, limit=limit
    )
    return _read(result)


@router.get("/graph", response_model=GraphRead)
def graph(
    session: DbSession,
    actor: CurrentActor,
    around: Annotated[str, Query(description="'observable:<id>' or 'object:<id>'")],
    depth: Annotated[int, Query(ge=0, le=graph_service.MAX_DEPTH)] = 2,
    limit: Annotated[int, Query(ge=1, le=graph_service.MAX_LIMIT)] = 500,
) -> GraphRead:
    """A bounded neighbourhood (at most `limit` nodes, `depth` steps) of observables, records
    and autonomous systems around one node, with candidate clusters; `truncated` says whether
    the limit cut it."""
    result = graph_service.neighbourhood(
        session=session, actor=actor, around=around, depth=depth, limit=limit
    )
    return GraphRead.model_validate(result.as_dict())


class VictimIn(BaseModel):
    country: str = Field(min_length=2, max_length=2, description="ISO 3166 alpha-2 code")


class JurisdictionRead(BaseModel):
    observable_id: int
    country: str
    reason: str
    source: str


@router.post(
    "/observables/{observable_id}/victims", response_model=JurisdictionRead, status_code=201
)
def place_victim(
    session: DbSession, actor: CurrentActor, observable_id: int, victim_in: VictimIn
) -> JurisdictionRead:
    """Record that victims of the value's activity are in a member country (jurisdiction
    `victim-in`): the value then concerns that country's Cyber Activity Reports. Audited."""
    place = enrichment_service.place_victim(
        session=session, actor=actor, observable_id=observable_id, country_code=victim_in.country
    )
    return JurisdictionRead(
        observable_id=place.observable_id,
        country=place.country_code,
        reason=place.reason,
        source=place.source,
    )


@router.post("/observable-flags/{flag_id}/override", response_model=FlagRead)
def override_flag(session: DbSession, actor: CurrentActor, flag_id: int) -> FlagRead:
    """An analyst decides a flagged value is not noise here: it enters correlation notices and
    products again. Audited."""
    flag = enrichment_service.override_flag(session=session, actor=actor, flag_id=flag_id)
    return FlagRead(
        id=flag.id,
        observable_id=flag.observable_id,
        source=flag.source,
        name=flag.name,
        overridden_by=flag.overridden_by,
        overridden_at=flag.overridden_at,
    )
