"""Account service: password rules, TOTP, lock-out and API keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.models import ApiKey, User
from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor, UserCreate
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.errors import (
    Conflict,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    ValidationFailed,
)
from tests.factories import account as account_factory

OPERATOR = Actor.operator("test")
GENERIC = "wrong e-mail, password or code"
LOCKED = "this account is locked after repeated failures; try later"


class Clock:
    """A settable replacement for the account service's clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fixed = Clock(datetime(2026, 11, 3, 9, 0, 10, tzinfo=UTC))
    monkeypatch.setattr(account_service, "utcnow", fixed)
    return fixed


def _user_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(User)) or 0


def _audit(session: Session, action: str, target_id: int) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry)
            .where(AuditEntry.action == action, AuditEntry.target_id == str(target_id))
            .order_by(AuditEntry.seq)
        )
    )


def _user_in(
    *, email: str = "new.user@test.example", org: str = "ncb-fr", password: str
) -> UserCreate:
    return UserCreate(email=email, org_slug=org, roles=[Role.OFFICER], password=password)


def _code(user: User, at: datetime) -> str:
    assert user.totp_secret is not None
    return pyotp.TOTP(user.totp_secret).at(at)


# Passwords


def test_password_is_stored_as_an_argon2id_hash_never_in_clear(session: Session) -> None:
    user = account_factory.user(session, email="hash.check@test.example")
    assert user.password_hash.startswith("$argon2id$")
    assert account_factory.PASSWORD not in user.password_hash
    assert PasswordHasher().verify(user.password_hash, account_factory.PASSWORD) is True
    (entry,) = _audit(session, "user.create", user.id)
    assert entry.details == {
        "email": "hash.check@test.example",
        "org": "ncb-fr",
        "roles": ["officer"],
    }


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("Sh0rt-pass!", "password is too short: at least 12 characters"),
        (
            "onlylowercase",
            "password is too weak: mix at least three of lower case, upper case, digits and "
            "symbols, or use 20 characters or more",
        ),
        (
            "ALLCAPS-AND-SYMBOLS",
            "password is too weak: mix at least three of lower case, upper case, digits and "
            "symbols, or use 20 characters or more",
        ),
        ("Marianne-2026-secret", "password is too easy to guess"),
        ("Password1234", "password is too easy to guess"),
        ("Interpol2025!", "password is too easy to guess"),
    ],
    ids=["too-short", "one-class", "two-classes", "contains-email-local-part", "common", "common2"],
)
def test_weak_passwords_are_refused_naming_the_field(
    session: Session, password: str, message: str
) -> None:
    before = _user_count(session)
    with pytest.raises(ValidationFailed) as excinfo:
        account_service.create(
            session=session,
            actor=OPERATOR,
            user_in=_user_in(email="marianne@test.example", password=password),
        )
    assert excinfo.value.field == "password"
    assert excinfo.value.detail == message
    assert _user_count(session) == before
    assert account_service.get_by_email(session=session, email="marianne@test.example") is None


def test_a_long_passphrase_of_one_class_is_accepted(session: Session) -> None:
    user = account_service.create(
        session=session,
        actor=OPERATOR,
        user_in=_user_in(password="correct horse battery staple"),
    )
    assert user.email == "new.user@test.example"


def test_duplicate_email_is_refused_whatever_the_case_and_nothing_is_created(
    session: Session,
) -> None:
    before = _user_count(session)
    with pytest.raises(Conflict) as excinfo:
        account_service.create(
            session=session,
            actor=OPERATOR,
            user_in=_user_in(
                email="Officer@NCB-FR.cyberfusion.example", password=account_factory.PASSWORD
            ),
        )
    assert excinfo.value.field == "email"
    assert excinfo.value.detail == "a user with e-mail 'officer@ncb-fr.cyberfusion.example' exists"
    assert _user_count(session) == before


def test_unknown_organisation_is_refused_naming_org(session: Session) -> None:
    before = _user_count(session)
    with pytest.raises(NotFound) as excinfo:
        account_service.create(
            session=session,
            actor=OPERATOR,
            user_in=_user_in(org="nowhere", password=account_factory.PASSWORD),
        )
    assert excinfo.value.field == "org"
    assert excinfo.value.detail == "no organisation with slug 'nowhere'"
    assert _user_count(session) == before


def test_creating_users_needs_the_user_manage_permission(session: Session) -> None:
    officer = account_factory.actor(session, role=Role.OFFICER)
    with pytest.raises(PermissionDenied) as excinfo:
        account_service.create(
            session=session, actor=officer, user_in=_user_in(password=account_factory.PASSWORD)
        )
    assert excinfo.value.detail == "this action needs the permission account:user:manage"


# TOTP and login


@pytest.mark.parametrize("role", list(Role))
def test_totp_is_required_for_every_role_but_viewer(session: Session, role: Role) -> None:
    user = account_factory.user(session, role=role)
    needs = role != Role.VIEWER
    assert user.totp_required is needs
    assert (user.totp_secret is not None) is needs
    assert (account_service.totp_uri(user) is not None) is needs


def test_a_viewer_who_also_holds_another_role_needs_totp(session: Session) -> None:
    user = account_service.create(
        session=session,
        actor=OPERATOR,
        user_in=UserCreate(
            email="mixed@test.example",
            org_slug="ncb-fr",
            roles=[Role.VIEWER, Role.OFFICER],
            password=account_factory.PASSWORD,
        ),
    )
    assert user.roles == ["officer", "viewer"]
    assert user.totp_required is True


def test_login_with_password_and_current_code(session: Session, clock: Clock) -> None:
    user = account_factory.user(session)
    outcome = account_service.login(
        session=session,
        email=user.email.upper(),
        password=account_factory.PASSWORD,
        totp_code=_code(user, clock.now),
    )
    assert outcome.user is user
    assert outcome.error is None
    assert user.failed_logins == 0
    assert user.last_login_at == clock.now
    assert len(_audit(session, "user.login", user.id)) == 1


def test_a_code_typed_with_a_space_is_accepted(session: Session, clock: Clock) -> None:
    user = account_factory.user(session)
    code = _code(user, clock.now)
    outcome = account_service.login(
        session=session,
        email=user.email,
        password=account_factory.PASSWORD,
        totp_code=f" {code[:3]} {code[3:]} ",
    )
    assert outcome.user is user


def test_a_code_from_the_previous_step_is_accepted_for_clock_drift(
    session: Session, clock: Clock
) -> None:
    user = account_factory.user(session)
    code = _code(user, clock.now - timedelta(seconds=30))
    outcome = account_service.login(
        session=session, email=user.email, password=account_factory.PASSWORD, totp_code=code
    )
    assert outcome.user is user


def test_a_code_works_once_a_replay_is_refused_and_counted(session: Session, clock: Clock) -> None:
    user = account_factory.user(session)
    code = _code(user, clock.now)
    first = account_service.login(
        session=session, email=user.email, password=account_factory.PASSWORD, totp_code=code
    )
    assert first.user is user
    replay = account_service.login(
        session=session, email=user.email, password=account_factory.PASSWORD, totp_code=code
    )
    assert replay.user is None
    assert replay.error == GENERIC
    assert user.failed_logins == 1
    # The next time step brings a new code, which works.
    clock.now += timedelta(seconds=30)
    fresh = account_service.login(
        session=session,
        email=user.email,
        password=account_factory.PASSWORD,
        totp_code=_code(user, clock.now),
    )
    assert fresh.user is user
    assert user.failed_logins == 0


@pytest.mark.parametrize("code", ["000000", "", "not a code"])
def test_right_password_with_a_wrong_code_is_a_failure(
    session: Session, clock: Clock, code: str
) -> None:
    user = account_factory.user(session)
    outcome = account_service.login(
        session=session, email=user.email, password=account_factory.PASSWORD, totp_code=code
    )
    assert outcome.user is None
    assert outcome.error == GENERIC
    assert user.failed_logins == 1
    assert user.last_login_at is None


def test_a_viewer_signs_in_without_a_code(session: Session, clock: Clock) -> None:
    viewer = account_factory.user(session, role=Role.VIEWER)
    outcome = account_service.login(
        session=session, email=viewer.email, password=account_factory.PASSWORD, totp_code=""
    )
    assert outcome.user is viewer


def test_unknown_and_disabled_users_get_the_generic_error(session: Session, clock: Clock) -> None:
    unknown = account_service.login(
        session=session,
        email="nobody@test.example",
        password=account_factory.PASSWORD,
        totp_code="123456",
    )
    assert unknown == account_service.LoginOutcome(None, GENERIC)
    user = account_factory.user(session)
    user.is_active = False
    disabled = account_service.login(
        session=session,
        email=user.email,
        password=account_factory.PASSWORD,
        totp_code=_code(user, clock.now),
    )
    assert disabled == account_service.LoginOutcome(None, GENERIC)


def test_five_failures_lock_the_account_even_against_the_right_password(
    session: Session, clock: Clock
) -> None:
    user = account_factory.user(session)
    for attempt in range(1, 5):
        outcome = account_service.login(
            session=session, email=user.email, password="Wrong-Password-99", totp_code="000000"
        )
        assert outcome.error == GENERIC
        assert user.failed_logins == attempt
        assert user.locked_until is None
    fifth = account_service.login(
        session=session, email=user.email, password="Wrong-Password-99", totp_code="000000"
    )
    assert fifth == account_service.LoginOutcome(None, LOCKED, retry_after=15 * 60)
    assert user.locked_until == clock.now + timedelta(seconds=15 * 60)
    assert user.failed_logins == 0
    (lock_entry,) = _audit(session, "user.lock", user.id)
    assert lock_entry.details == {"reason": "repeated login failures"}
    assert lock_entry.actor == user.email

    clock.now += timedelta(seconds=60)
    while_locked = account_service.login(
        session=session,
        email=user.email,
        password=account_factory.PASSWORD,
        totp_code=_code(user, clock.now),
    )
    assert while_locked == account_service.LoginOutcome(None, LOCKED, retry_after=14 * 60)
    assert user.last_login_at is None
    # The refused code was not consumed: the lock check comes before verification.
    assert user.totp_last_step is None

    clock.now += timedelta(seconds=15 * 60)
    after = account_service.login(
        session=session,
        email=user.email,
        password=account_factory.PASSWORD,
        totp_code=_code(user, clock.now),
    )
    assert after.user is user
    assert user.locked_until is None
    assert len(_audit(session, "user.lock", user.id)) == 1


# API keys


def test_an_api_key_is_returned_once_and_stored_as_its_sha256(session: Session) -> None:
    user = account_factory.user(session)
    row, key = account_service.create_api_key(
        session=session, actor=OPERATOR, user=user, name="feed"
    )
    assert key.startswith("cf_")
    assert len(key) == 46
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()
    assert row.prefix == key[:10]
    stored = [row.name, row.prefix, row.key_hash]
    assert key not in stored
    (entry,) = _audit(session, "apikey.create", row.id)
    assert entry.details == {"user": user.email, "prefix": key[:10], "name": "feed"}
    assert account_service.authenticate_key(session=session, key=key) is user
    assert row.last_used_at is not None


def test_api_key_expiry_must_lie_in_the_future(session: Session) -> None:
    user = account_factory.user(session)
    with pytest.raises(ValidationFailed) as excinfo:
        account_service.create_api_key(
            session=session,
            actor=OPERATOR,
            user=user,
            expires_at=datetime.now(UTC) - timedelta(minutes=1),
        )
    assert excinfo.value.field == "expires_at"
    assert excinfo.value.detail == "expiry must be in the future"
    count = session.scalar(
        select(func.count()).select_from(ApiKey).where(ApiKey.user_id == user.id)
    )
    assert count == 0


def test_a_key_for_someone_else_needs_the_user_manage_permission(session: Session) -> None:
    officer = account_factory.user(session)
    other = account_factory.user(session)
    with pytest.raises(PermissionDenied) as excinfo:
        account_service.create_api_key(
            session=session, actor=account_service.actor_for(officer, via="test"), user=other
        )
    assert excinfo.value.detail == "this action needs the permission account:user:manage"


@pytest.mark.parametrize(
    "key", ["cf_unknown-key-of-the-right-shape-000000000000000", "not-even-prefixed", ""]
)
def test_an_unknown_key_is_refused(session: Session, key: str) -> None:
    with pytest.raises(Unauthenticated) as excinfo:
        account_service.authenticate_key(session=session, key=key)
    assert excinfo.value.detail == "invalid API key"


def test_revoked_expired_and_disabled_keys_are_refused_with_their_reason(
    session: Session,
) -> None:
    user = account_factory.user(session)
    revoked = account_factory.api_key(session, user)
    row = account_service.revoke_api_key(session=session, actor=OPERATOR, key=revoked)
    assert row.revoked_at is not None
    # Revoking twice changes nothing and writes one audit entry.
    account_service.revoke_api_key(session=session, actor=OPERATOR, key=revoked)
    assert len(_audit(session, "apikey.revoke", row.id)) == 1
    with pytest.raises(Unauthenticated) as excinfo:
        account_service.authenticate_key(session=session, key=revoked)
    assert excinfo.value.detail == "this API key was revoked"

    expired = account_factory.api_key(session, user)
    expired_row = session.scalars(
        select(ApiKey).where(ApiKey.key_hash == hashlib.sha256(expired.encode()).hexdigest())
    ).one()
    expired_row.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.flush()
    with pytest.raises(Unauthenticated) as excinfo:
        account_service.authenticate_key(session=session, key=expired)
    assert excinfo.value.detail == "this API key has expired"

    live = account_factory.api_key(session, user)
    user.is_active = False
    with pytest.raises(Unauthenticated) as excinfo:
        account_service.authenticate_key(session=session, key=live)
    assert excinfo.value.detail == "this API key's user is disabled"


def test_revoking_an_unknown_key_names_the_key(session: Session) -> None:
    with pytest.raises(NotFound) as excinfo:
        account_service.revoke_api_key(session=session, actor=OPERATOR, key="cf_nope")
    assert excinfo.value.field == "key"
    assert excinfo.value.detail == "no such API key"


def test_only_the_owner_or_an_administrator_revokes_a_key(session: Session) -> None:
    owner = account_factory.user(session)
    key = account_factory.api_key(session, owner)
    stranger = account_service.actor_for(account_factory.user(session), via="test")
    with pytest.raises(PermissionDenied):
        account_service.revoke_api_key(session=session, actor=stranger, key=key)
    own = account_service.actor_for(owner, via="test")
    assert (
        account_service.revoke_api_key(session=session, actor=own, key=key).revoked_at is not None
    )


def test_a_failed_login_is_audited_with_the_failure_count(session: Session) -> None:
    user = account_factory.user(session, email="failing@test.example")
    outcome = account_service.login(
        session=session, email=user.email, password="Wrong-Password-123", totp_code="000000"
    )
    assert outcome.user is None
    (entry,) = _audit(session, "user.login_failed", user.id)
    assert entry.details == {"failed_logins": 1}
