"""Account logic: users, passwords, TOTP, lock-out, API keys, and building the Actor."""

from __future__ import annotations

import contextlib
import hashlib
import math
import secrets
import string
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.models import ApiKey, User, UserRole
from cyberfusion.account.permissions import ROLES_WITHOUT_TOTP, Permission, Role, permissions_for
from cyberfusion.account.schemas import Actor, UserCreate
from cyberfusion.audit import service as audit_service
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.registry import service as registry_service

_hasher = PasswordHasher()
# Checked against argon2 when the e-mail is unknown, so both paths take the same time.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
MIN_PASSWORD_LENGTH = 12
_COMMON_PASSWORDS = frozenset(
    {
        "password1234",
        "123456789012",
        "qwertyuiop12",
        "administrator",
        "letmein12345",
        "cyberfusion123",
        "interpol2025!",
        "welcome12345",
        "passw0rd1234",
        "changeme1234",
    }
)
KEY_PREFIX = "cf_"


def check_password_strength(password: str, *, email: str = "") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"password is too short: at least {MIN_PASSWORD_LENGTH} characters", field="password"
        )
    classes = sum(
        any(ch in group for ch in password)
        for group in (string.ascii_lowercase, string.ascii_uppercase, string.digits)
    ) + any(not ch.isalnum() for ch in password)
    if classes < 3 and len(password) < 20:
        raise ValidationFailed(
            "password is too weak: mix at least three of lower case, upper case, digits and "
            "symbols, or use 20 characters or more",
            field="password",
        )
    local = email.split("@", 1)[0].lower()
    if password.lower() in _COMMON_PASSWORDS or (len(local) >= 4 and local in password.lower()):
        raise ValidationFailed("password is too easy to guess", field="password")


def generate_password() -> str:
    return secrets.token_urlsafe(18)


def get_by_email(*, session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.lower())).one_or_none()


def get_by_email_or_raise(*, session: Session, email: str) -> User:
    user = get_by_email(session=session, email=email)
    if user is None:
        raise NotFound(f"no user with e-mail {email!r}", field="email")
    return user


def list_(*, session: Session) -> Sequence[User]:
    return session.scalars(select(User).order_by(User.email)).all()


def count(*, session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def needs_totp(roles: Sequence[str]) -> bool:
    return not all(Role(role) in ROLES_WITHOUT_TOTP for role in roles)


def create(*, session: Session, actor: Actor, user_in: UserCreate) -> User:
    actor.require(Permission.ACCOUNT_USER_MANAGE)
    email = user_in.email.lower()
    if get_by_email(session=session, email=email) is not None:
        raise Conflict(f"a user with e-mail {email!r} exists", field="email")
    org = registry_service.get_by_slug_or_raise(session=session, slug=user_in.org_slug)
    check_password_strength(user_in.password, email=email)
    roles = sorted({role.value for role in user_in.roles})
    totp_required = needs_totp(roles)
    user = User(
        email=email,
        display_name=user_in.display_name or email.split("@", 1)[0],
        org_id=org.id,
        password_hash=_hasher.hash(user_in.password),
        totp_secret=pyotp.random_base32() if totp_required else None,
        totp_required=totp_required,
        role_rows=[UserRole(role=role) for role in roles],
    )
    session.add(user)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="user.create",
        target_type="user",
        target_id=user.id,
        details={"email": email, "org": org.slug, "roles": roles},
    )
    return user


def reset_totp(*, session: Session, actor: Actor, email: str) -> User:
    """A new TOTP seed for a user who lost theirs (or whose seed was sealed under an earlier
    platform key); the old one stops working at once. Audited, without the seed."""
    actor.require(Permission.ACCOUNT_USER_MANAGE)
    user = get_by_email_or_raise(session=session, email=email)
    if not user.totp_required:
        raise ValidationFailed(f"{user.email} signs in without a second factor", field="email")
    user.totp_secret = pyotp.random_base32()
    user.totp_last_step = None
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="user.totp_reset",
        target_type="user",
        target_id=user.id,
        details={"email": user.email},
    )
    return user


def totp_uri(user: User) -> str | None:
    if not user.totp_secret:
        return None
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name="cyberfusion")


def actor_for(user: User, *, via: str) -> Actor:
    org = user.organisation
    return Actor(
        user_id=user.id,
        email=user.email,
        org_id=org.id,
        org_slug=org.slug,
        org_kind=org.kind,
        country_code=org.country_code,
        region_code=org.region_code,
        roles=tuple(user.roles),
        permissions=permissions_for(user.roles),
        via=via,
    )


LOCKED_MESSAGE = "this account is locked after repeated failures; try later"


@dataclass(frozen=True)
class LoginOutcome:
    """Login returns its outcome instead of raising, so the adapter commits the failure count."""

    user: User | None
    error: str | None = None
    # Set while the account is locked: seconds until it may try again (HTTP Retry-After).
    retry_after: int | None = None


def login(*, session: Session, email: str, password: str, totp_code: str) -> LoginOutcome:
    settings = get_settings()
    generic = "wrong e-mail, password or code"
    user = get_by_email(session=session, email=email.strip())
    if user is None or not user.is_active:
        with contextlib.suppress(VerificationError):
            _hasher.verify(_DUMMY_HASH, password)
        return LoginOutcome(None, generic)
    now = utcnow()
    if user.locked_until is not None and as_utc(user.locked_until) > now:
        wait = math.ceil((as_utc(user.locked_until) - now).total_seconds())
        return LoginOutcome(None, LOCKED_MESSAGE, retry_after=wait)
    ok = _verify_password(user, password) and _verify_totp(user, totp_code, now)
    actor = actor_for(user, via="session")
    if not ok:
        user.failed_logins += 1
        if user.failed_logins >= settings.lockout_threshold:
            user.locked_until = now + timedelta(seconds=settings.lockout_seconds)
            user.failed_logins = 0
            audit_service.record(
                session=session,
                actor=actor,
                action="user.lock",
                target_type="user",
                target_id=user.id,
                details={"reason": "repeated login failures"},
            )
            return LoginOutcome(None, LOCKED_MESSAGE, retry_after=settings.lockout_seconds)
        audit_service.record(
            session=session,
            actor=actor,
            action="user.login_failed",
            target_type="user",
            target_id=user.id,
            details={"failed_logins": user.failed_logins},
        )
        return LoginOutcome(None, generic)
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    audit_service.record(
        session=session, actor=actor, action="user.login", target_type="user", target_id=user.id
    )
    return LoginOutcome(user)


def _verify_password(user: User, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def _verify_totp(user: User, code: str, now: datetime) -> bool:
    if not user.totp_required:
        return True
    if not user.totp_secret:
        return False
    totp = pyotp.TOTP(user.totp_secret)
    code = code.strip().replace(" ", "")
    step_now = int(now.timestamp()) // totp.interval
    # Accept the previous, current and next step (clock drift), each at most once.
    for step in (step_now - 1, step_now, step_now + 1):
        if user.totp_last_step is not None and step <= user.totp_last_step:
            continue
        if secrets.compare_digest(totp.generate_otp(step), code):
            user.totp_last_step = step
            return True
    return False


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    *,
    session: Session,
    actor: Actor,
    user: User,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Returns the row and the key itself, which is shown once and never stored."""
    if actor.user_id != user.id:
        actor.require(Permission.ACCOUNT_USER_MANAGE)
    else:
        actor.require(Permission.ACCOUNT_APIKEY_MANAGE)
    if expires_at is not None and as_utc(expires_at) <= utcnow():
        raise ValidationFailed("expiry must be in the future", field="expires_at")
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(
        user_id=user.id, name=name, prefix=key[:10], key_hash=_hash_key(key), expires_at=expires_at
    )
    session.add(row)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="apikey.create",
        target_type="api_key",
        target_id=row.id,
        details={"user": user.email, "prefix": row.prefix, "name": name},
    )
    return row, key


def revoke_api_key(*, session: Session, actor: Actor, key: str) -> ApiKey:
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == _hash_key(key))).one_or_none()
    if row is None:
        raise NotFound("no such API key", field="key")
    if actor.user_id != row.user_id:
        actor.require(Permission.ACCOUNT_USER_MANAGE)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit_service.record(
            session=session,
            actor=actor,
            action="apikey.revoke",
            target_type="api_key",
            target_id=row.id,
            details={"prefix": row.prefix},
        )
    return row


def authenticate_key(*, session: Session, key: str) -> User:
    if not key.startswith(KEY_PREFIX):
        raise Unauthenticated("invalid API key")
    row = session.scalars(select(ApiKey).where(ApiKey.key_hash == _hash_key(key))).one_or_none()
    if row is None:
        raise Unauthenticated("invalid API key")
    now = utcnow()
    if row.revoked_at is not None:
        raise Unauthenticated("this API key was revoked")
    if row.expires_at is not None and as_utc(row.expires_at) <= now:
        raise Unauthenticated("this API key has expired")
    if not row.user.is_active:
        raise Unauthenticated("this API key's user is disabled")
    # Record use at most once a minute: a write per request would serialise readers on SQLite.
    if row.last_used_at is None or now - as_utc(row.last_used_at) > timedelta(minutes=1):
        row.last_used_at = now
    return row.user


def require_same_org_or_admin(actor: Actor, user: User) -> None:
    if actor.org_id != user.org_id and not actor.can(Permission.ACCOUNT_USER_MANAGE):
        raise PermissionDenied("not your organisation")


def list_api_keys(*, session: Session, actor: Actor) -> Sequence[ApiKey]:
    """Every API key (never the key itself: prefix, owner, dates), for administrators."""
    actor.require(Permission.ACCOUNT_USER_MANAGE)
    return session.scalars(
        select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    ).all()


def set_locale(*, session: Session, actor: Actor, user: User, locale: str | None) -> User:
    """The language a user reads the web UI in; None follows the browser again."""
    if actor.user_id != user.id:
        actor.require(Permission.ACCOUNT_USER_MANAGE)
    if user.locale != locale:
        previous, user.locale = user.locale, locale
        session.flush()
        audit_service.record(
            session=session,
            actor=actor,
            action="user.locale",
            target_type="user",
            target_id=user.id,
            details={"from": previous, "to": locale},
        )
    return user
