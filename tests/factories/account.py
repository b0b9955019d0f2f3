"""Builders for users, actors and API keys."""

from __future__ import annotations

import itertools

from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.models import User
from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor, UserCreate

PASSWORD = "Correct-Horse-Battery-9"
_counter = itertools.count(1)


def user(
    session: Session, *, org: str = "ncb-fr", role: Role = Role.OFFICER, email: str | None = None
) -> User:
    return account_service.create(
        session=session,
        actor=Actor.operator("test"),
        user_in=UserCreate(
            email=email or f"user{next(_counter)}@test.example",
            org_slug=org,
            roles=[role],
            password=PASSWORD,
        ),
    )


def actor(session: Session, *, org: str = "ncb-fr", role: Role = Role.OFFICER) -> Actor:
    return account_service.actor_for(user(session, org=org, role=role), via="test")


def api_key(session: Session, target: User) -> str:
    _, key = account_service.create_api_key(
        session=session, actor=Actor.operator("test"), user=target
    )
    return key
