"""REST routes for the signed-in user and their API keys."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cyberfusion.account import service as account_service
from cyberfusion.account.schemas import ApiKeyCreated, MeRead
from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.core.errors import NotFound

router = APIRouter(tags=["account"])


@router.get("/me", response_model=MeRead)
def read_me(session: DbSession, actor: CurrentActor) -> MeRead:
    assert actor.user_id is not None
    user = account_service.get_by_email_or_raise(session=session, email=actor.email or "")
    return MeRead(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        organisation=user.organisation.slug,
        organisation_kind=user.organisation.kind,
        country=user.organisation.country_code,
        region=user.organisation.region_code,
        roles=user.roles,
        permissions=sorted(p.value for p in actor.permissions),
        authenticated_by=actor.via,
    )


class ApiKeyIn(BaseModel):
    name: str = Field(default="", max_length=100)
    expires_at: datetime | None = None


@router.post("/me/apikeys", response_model=ApiKeyCreated, status_code=201)
def create_my_key(session: DbSession, actor: CurrentActor, key_in: ApiKeyIn) -> ApiKeyCreated:
    user = account_service.get_by_email(session=session, email=actor.email or "")
    if user is None:
        raise NotFound("no such user")
    row, key = account_service.create_api_key(
        session=session, actor=actor, user=user, name=key_in.name, expires_at=key_in.expires_at
    )
    return ApiKeyCreated(id=row.id, key=key, prefix=row.prefix, expires_at=row.expires_at)
