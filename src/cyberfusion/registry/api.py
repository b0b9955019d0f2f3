"""REST routes of the member registry."""

from __future__ import annotations

from fastapi import APIRouter

from cyberfusion.account.permissions import Permission
from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.schemas import CountryRead, OrganisationCreate, OrganisationRead

router = APIRouter(tags=["registry"])


@router.get("/countries", response_model=list[CountryRead])
def list_countries(session: DbSession) -> list[CountryRead]:
    """The member countries with their region (public reference data)."""
    return [CountryRead.model_validate(c) for c in registry_service.list_countries(session=session)]


@router.get("/organisations", response_model=list[OrganisationRead])
def list_organisations(session: DbSession, actor: CurrentActor) -> list[OrganisationRead]:
    actor.require(Permission.REGISTRY_ORGANISATION_READ)
    return [OrganisationRead.model_validate(o) for o in registry_service.list_(session=session)]


@router.post("/organisations", response_model=OrganisationRead, status_code=201)
def create_organisation(
    session: DbSession, actor: CurrentActor, organisation_in: OrganisationCreate
) -> OrganisationRead:
    org = registry_service.create(session=session, actor=actor, organisation_in=organisation_in)
    return OrganisationRead.model_validate(org)
