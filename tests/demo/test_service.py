"""The demo world: idempotent loading and one account for every role."""

from __future__ import annotations

from typing import Any

import pyotp
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.models import User
from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.audit.models import AuditEntry
from cyberfusion.demo import service as demo_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.registry.models import Organisation, OrgKind


def _count(session: Session, model: type[Any]) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def _counts(session: Session) -> dict[str, int]:
    return {
        "organisations": _count(session, Organisation),
        "users": _count(session, User),
        "records": _count(session, IntelObject),
        "audit entries": _count(session, AuditEntry),
    }


def test_loading_the_demo_twice_changes_nothing(session: Session) -> None:
    # The session fixture has loaded the demo world once already.
    before = _counts(session)
    users = demo_service.load(session=session, actor=Actor.operator("demo"))
    assert _counts(session) == before
    assert before["records"] == 6
    assert [(u.email, u.org, u.role) for u in users] == [
        (email, org, role.value) for email, org, role in demo_service.USERS
    ]


def test_the_demo_world_has_every_member_ncb_the_hub_and_the_desks(session: Session) -> None:
    kinds = dict(
        session.execute(select(Organisation.kind, func.count()).group_by(Organisation.kind)).all()
    )
    assert kinds == {
        OrgKind.NCB.value: 196,
        OrgKind.HUB.value: 1,
        OrgKind.DESK.value: 5,
        OrgKind.CERT.value: 5,
        OrgKind.NATIONAL_UNIT.value: 2,
        OrgKind.PRIVATE_PARTNER.value: 2,
        OrgKind.INTERNATIONAL_ORG.value: 1,
    }


def test_every_role_has_a_demo_user(session: Session) -> None:
    by_role: dict[str, list[str]] = {}
    for email, org_slug, _ in demo_service.USERS:
        user = account_service.get_by_email_or_raise(session=session, email=email)
        assert user.organisation.slug == org_slug
        for role in user.roles:
            by_role.setdefault(role, []).append(email)
    assert sorted(by_role) == sorted(role.value for role in Role)
    assert by_role == {
        "admin": ["admin@hub.cyberfusion.example"],
        "hub_analyst": ["analyst@hub.cyberfusion.example"],
        "desk_officer": ["officer@desk-africa.cyberfusion.example"],
        "officer": ["officer@ncb-fr.cyberfusion.example", "officer@ncb-ng.cyberfusion.example"],
        "partner_analyst": ["analyst@partner-northwind.cyberfusion.example"],
        "viewer": ["viewer@ncb-br.cyberfusion.example"],
    }


def test_demo_users_sign_in_with_the_published_password_and_secrets(session: Session) -> None:
    for email, _, role in demo_service.USERS:
        user = account_service.get_by_email_or_raise(session=session, email=email)
        if role == Role.VIEWER:
            assert user.totp_secret is None
            code = ""
        else:
            assert user.totp_secret == demo_service.demo_totp_secret(email)
            code = pyotp.TOTP(user.totp_secret).now()
        outcome = account_service.login(
            session=session, email=email, password=demo_service.DEMO_PASSWORD, totp_code=code
        )
        assert outcome.user is user, (email, outcome.error)


def test_demo_totp_secrets_are_stable_per_email_and_differ_between_users() -> None:
    secrets_ = {email: demo_service.demo_totp_secret(email) for email, _, _ in demo_service.USERS}
    assert len(set(secrets_.values())) == len(demo_service.USERS)
    for email, secret in secrets_.items():
        assert demo_service.demo_totp_secret(email) == secret
        assert len(secret) == 32
        pyotp.TOTP(secret).now()
