"""Web sessions: who is signed in, idle timeout, CSRF tokens."""

from __future__ import annotations

import secrets
import time

from fastapi import Request
from sqlalchemy.orm import Session

from cyberfusion.account.models import User
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import PermissionDenied


def session_user(request: Request, session: Session) -> User | None:
    """The signed-in user; None if nobody is, the session idled out or the user is disabled."""
    if "session" not in request.scope:
        return None
    data = request.session
    user_id = data.get("uid")
    if user_id is None:
        return None
    now = int(time.time())
    if now - int(data.get("seen", 0)) > get_settings().session_idle_seconds:
        data.clear()
        return None
    user = session.get(User, int(user_id))
    if user is None or not user.is_active or data.get("epoch") != _epoch(user):
        data.clear()
        return None
    data["seen"] = now
    return user


def _epoch(user: User) -> str:
    # Changes when the password changes, which ends the user's other sessions.
    return user.password_hash[-16:]


def sign_in(request: Request, user: User) -> None:
    request.session.clear()
    request.session.update(
        {
            "uid": user.id,
            "seen": int(time.time()),
            "epoch": _epoch(user),
            "csrf": secrets.token_urlsafe(24),
        }
    )


def sign_out(request: Request) -> None:
    request.session.clear()


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return str(token)


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not secrets.compare_digest(str(expected), submitted):
        raise PermissionDenied(
            "the form expired or came from elsewhere; reload and try again", field="csrf_token"
        )
