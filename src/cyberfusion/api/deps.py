"""FastAPI dependencies: one session (and transaction) per request, and the typed actor."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.models import User
from cyberfusion.account.schemas import Actor
from cyberfusion.core.db import get_sessionmaker
from cyberfusion.core.errors import Unauthenticated

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_session() -> Iterator[Session]:
    """The request owns the transaction: commit when the handler returns, roll back on error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# "function" scope: commit before the response is sent, so a client that reads right after a
# write sees it. Streaming responses read through a fresh transaction of the same session.
DbSession = Annotated[Session, Depends(get_session, scope="function")]


def _key_from_header(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "bearer" and value.strip():
        return value.strip()
    if scheme == "basic":
        # TAXII clients send the key as the password of HTTP Basic; the user name is ignored.
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthenticated("malformed HTTP Basic credentials") from exc
        _, sep, password = decoded.partition(":")
        if not sep or not password:
            raise Unauthenticated("HTTP Basic credentials need the API key as password")
        return password
    raise Unauthenticated("send the API key as 'Authorization: Bearer <key>'")


def _session_user(request: Request, session: Session) -> User | None:
    from cyberfusion.web.auth import session_user

    return session_user(request, session)


def get_optional_actor(request: Request, session: DbSession) -> Actor:
    key = _key_from_header(request)
    if key is not None:
        user = account_service.authenticate_key(session=session, key=key)
        return account_service.actor_for(user, via="apikey")
    signed_in = _session_user(request, session)
    if signed_in is not None:
        if request.method not in SAFE_METHODS and request.url.path.startswith("/api/"):
            # A browser sends the cookie on any request; a state change through the API with
            # a cookie must also prove it came from our pages (the token is in the session).
            from cyberfusion.web.auth import check_csrf

            check_csrf(request, request.headers.get("x-csrf-token"))
        return account_service.actor_for(signed_in, via="session")
    return Actor.anonymous()


def get_actor(actor: Annotated[Actor, Depends(get_optional_actor)]) -> Actor:
    if actor.is_anonymous:
        raise Unauthenticated("authentication required: send 'Authorization: Bearer <key>'")
    return actor


CurrentActor = Annotated[Actor, Depends(get_actor)]
OptionalActor = Annotated[Actor, Depends(get_optional_actor)]
