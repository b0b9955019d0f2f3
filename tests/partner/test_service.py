"""Data-sharing agreements: status from dates and suspension, amendments, audit, permissions."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from cyberfusion.partner import service as partner_service
from cyberfusion.partner.models import AgreementStatus
from cyberfusion.partner.schemas import AgreementCreate, AgreementUpdate
from cyberfusion.sharing.models import Tlp
from tests.factories import account as account_factory


def _admin(session: Session) -> Actor:
    return account_factory.actor(session, org="hub", role=Role.ADMIN)


def _agreement_in(**overrides: object) -> AgreementCreate:
    values: dict[str, object] = {
        "organisation": "cert-sg",
        "title": "Phishing feed exchange",
        "reference": "DSA-TEST-0001",
        "signed_on": date(2026, 3, 1),
        "valid_from": date(2026, 3, 10),
        "valid_until": date(2027, 3, 9),
        "scope": "Phishing URLs, both ways.",
        "max_tlp": Tlp.AMBER,
    }
    return AgreementCreate.model_validate(values | overrides)


def _audit(session: Session, agreement_id: int) -> list[tuple[str, dict[str, object]]]:
    rows = session.scalars(
        select(AuditEntry)
        .where(AuditEntry.target_type == "agreement", AuditEntry.target_id == str(agreement_id))
        .order_by(AuditEntry.seq)
    ).all()
    return [(row.action, row.details) for row in rows]


def test_the_demo_gives_each_partner_one_agreement(session: Session) -> None:
    rows = partner_service.list_(session=session, actor=_admin(session))
    assert sorted(row.organisation.slug for row in rows) == [
        "cert-br",
        "cert-fr",
        "cert-jo",
        "cert-ng",
        "cert-sg",
        "intl-regional-police",
        "partner-bluewave",
        "partner-northwind",
    ]
    northwind = next(row for row in rows if row.organisation.slug == "partner-northwind")
    assert (northwind.reference, northwind.max_tlp) == ("DSA-2026-PARTNER-NORTHWIND", "green")


def test_create_records_the_agreement_and_audits_it(session: Session) -> None:
    admin = _admin(session)
    agreement = partner_service.create(session=session, actor=admin, agreement_in=_agreement_in())
    read = partner_service.to_read(agreement, today=date(2026, 6, 1))
    assert (read.organisation, read.organisation_name) == ("cert-sg", "SingCERT")
    assert (read.reference, read.max_tlp, read.status) == (
        "DSA-TEST-0001",
        Tlp.AMBER,
        AgreementStatus.ACTIVE,
    )
    assert read.created_by == admin.email
    assert _audit(session, agreement.id) == [
        (
            "agreement.create",
            {
                "organisation": "cert-sg",
                "reference": "DSA-TEST-0001",
                "title": "Phishing feed exchange",
                "signed_on": "2026-03-01",
                "valid_from": "2026-03-10",
                "valid_until": "2027-03-09",
                "max_tlp": "amber",
            },
        )
    ]


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 3, 9), AgreementStatus.PENDING),
        (date(2026, 3, 10), AgreementStatus.ACTIVE),
        (date(2027, 3, 9), AgreementStatus.ACTIVE),
        (date(2027, 3, 10), AgreementStatus.EXPIRED),
    ],
)
def test_status_follows_the_dates_both_inclusive(
    session: Session, today: date, expected: AgreementStatus
) -> None:
    agreement = partner_service.create(
        session=session, actor=_admin(session), agreement_in=_agreement_in()
    )
    assert partner_service.status_of(agreement, today=today) == expected


def test_an_open_ended_agreement_never_expires(session: Session) -> None:
    agreement = partner_service.create(
        session=session, actor=_admin(session), agreement_in=_agreement_in(valid_until=None)
    )
    assert partner_service.status_of(agreement, today=date(2099, 1, 1)) == AgreementStatus.ACTIVE


def test_suspension_wins_over_the_dates_and_can_be_lifted(session: Session) -> None:
    admin = _admin(session)
    agreement = partner_service.create(session=session, actor=admin, agreement_in=_agreement_in())
    partner_service.suspend(
        session=session, actor=admin, agreement_id=agreement.id, reason="  breach of handling  "
    )
    assert partner_service.status_of(agreement, today=date(2026, 6, 1)) == (
        AgreementStatus.SUSPENDED
    )
    assert (agreement.suspension_reason, agreement.suspended_by) == (
        "breach of handling",
        admin.email,
    )
    with pytest.raises(Conflict, match="is suspended since"):
        partner_service.suspend(session=session, actor=admin, agreement_id=agreement.id, reason="x")
    partner_service.resume(session=session, actor=admin, agreement_id=agreement.id)
    assert partner_service.status_of(agreement, today=date(2026, 6, 1)) == AgreementStatus.ACTIVE
    assert agreement.suspended_at is None
    with pytest.raises(Conflict, match="is not suspended"):
        partner_service.resume(session=session, actor=admin, agreement_id=agreement.id)
    assert [action for action, _ in _audit(session, agreement.id)] == [
        "agreement.create",
        "agreement.suspend",
        "agreement.resume",
    ]


def test_a_suspension_needs_a_reason(session: Session) -> None:
    admin = _admin(session)
    agreement = partner_service.create(session=session, actor=admin, agreement_in=_agreement_in())
    with pytest.raises(ValidationFailed, match="say why") as caught:
        partner_service.suspend(session=session, actor=admin, agreement_id=agreement.id, reason=" ")
    assert caught.value.field == "reason"


def test_update_changes_what_is_sent_and_audits_each_change(session: Session) -> None:
    admin = _admin(session)
    agreement = partner_service.create(session=session, actor=admin, agreement_in=_agreement_in())
    partner_service.update(
        session=session,
        actor=admin,
        agreement_id=agreement.id,
        agreement_in=AgreementUpdate.model_validate({"max_tlp": "green", "valid_until": None}),
    )
    assert (agreement.max_tlp, agreement.valid_until, agreement.title) == (
        "green",
        None,
        "Phishing feed exchange",
    )
    assert _audit(session, agreement.id)[-1] == (
        "agreement.update",
        {"changes": {"max_tlp": ["amber", "green"], "valid_until": ["2027-03-09", None]}},
    )


def test_update_refuses_dates_out_of_order_and_empty_required_fields(session: Session) -> None:
    admin = _admin(session)
    agreement = partner_service.create(session=session, actor=admin, agreement_in=_agreement_in())
    with pytest.raises(ValidationFailed, match="valid_until must not be before valid_from"):
        partner_service.update(
            session=session,
            actor=admin,
            agreement_id=agreement.id,
            agreement_in=AgreementUpdate(valid_from=date(2027, 6, 1)),
        )
    with pytest.raises(ValidationFailed, match="title cannot be empty"):
        partner_service.update(
            session=session,
            actor=admin,
            agreement_id=agreement.id,
            agreement_in=AgreementUpdate.model_validate({"title": None}),
        )


def test_references_are_unique(session: Session) -> None:
    admin = _admin(session)
    first = partner_service.create(session=session, actor=admin, agreement_in=_agreement_in())
    with pytest.raises(Conflict, match=f"agreement {first.id} already has reference"):
        partner_service.create(
            session=session, actor=admin, agreement_in=_agreement_in(organisation="cert-br")
        )
    second = partner_service.create(
        session=session,
        actor=admin,
        agreement_in=_agreement_in(organisation="cert-br", reference="DSA-TEST-0002"),
    )
    with pytest.raises(Conflict) as caught:
        partner_service.update(
            session=session,
            actor=admin,
            agreement_id=second.id,
            agreement_in=AgreementUpdate(reference="DSA-TEST-0001"),
        )
    assert caught.value.field == "reference"


def test_only_partner_organisations_sign_agreements(session: Session) -> None:
    with pytest.raises(ValidationFailed, match="ncb-fr is a ncb, not a partner") as caught:
        partner_service.create(
            session=session,
            actor=_admin(session),
            agreement_in=_agreement_in(organisation="ncb-fr"),
        )
    assert caught.value.field == "organisation"
    with pytest.raises(NotFound, match="no organisation with slug 'nobody'"):
        partner_service.create(
            session=session,
            actor=_admin(session),
            agreement_in=_agreement_in(organisation="nobody"),
        )


def test_list_filters_by_organisation_and_computed_status(session: Session) -> None:
    admin = _admin(session)
    agreement = partner_service.create(session=session, actor=admin, agreement_in=_agreement_in())
    partner_service.suspend(session=session, actor=admin, agreement_id=agreement.id, reason="r")
    of_sg = partner_service.list_(session=session, actor=admin, organisation="cert-sg")
    assert [row.reference for row in of_sg] == ["DSA-2026-CERT-SG", "DSA-TEST-0001"]
    suspended = partner_service.list_(
        session=session, actor=admin, status=AgreementStatus.SUSPENDED
    )
    assert [row.reference for row in suspended] == ["DSA-TEST-0001"]


@pytest.mark.parametrize("role", [Role.HUB_ANALYST, Role.OFFICER, Role.VIEWER])
def test_only_administrators_see_and_manage_agreements(session: Session, role: Role) -> None:
    actor = account_factory.actor(
        session, org="hub" if role == Role.HUB_ANALYST else "ncb-fr", role=role
    )
    with pytest.raises(PermissionDenied, match="partner:agreement:read"):
        partner_service.list_(session=session, actor=actor)
    with pytest.raises(PermissionDenied, match="partner:agreement:manage"):
        partner_service.create(session=session, actor=actor, agreement_in=_agreement_in())
