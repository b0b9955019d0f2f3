"""REST routes of data-sharing agreements (administrators)."""

from __future__ import annotations

from fastapi import APIRouter

from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.partner import service as partner_service
from cyberfusion.partner.models import AgreementStatus
from cyberfusion.partner.schemas import (
    AgreementCreate,
    AgreementRead,
    AgreementSuspend,
    AgreementUpdate,
)

router = APIRouter(prefix="/agreements", tags=["partner"])


@router.get("", response_model=list[AgreementRead])
def list_agreements(
    session: DbSession,
    actor: CurrentActor,
    organisation: str | None = None,
    status: AgreementStatus | None = None,
) -> list[AgreementRead]:
    """Every agreement, by partner, optionally of one organisation (slug) or one status
    (computed from the dates and the suspension)."""
    rows = partner_service.list_(
        session=session, actor=actor, organisation=organisation, status=status
    )
    return [partner_service.to_read(row) for row in rows]


@router.post("", response_model=AgreementRead, status_code=201)
def create_agreement(
    session: DbSession, actor: CurrentActor, agreement_in: AgreementCreate
) -> AgreementRead:
    """Register a signed agreement with a partner organisation (CERT, private or
    international partner). Audited."""
    agreement = partner_service.create(session=session, actor=actor, agreement_in=agreement_in)
    return partner_service.to_read(agreement)


@router.get("/{agreement_id}", response_model=AgreementRead)
def read_agreement(session: DbSession, actor: CurrentActor, agreement_id: int) -> AgreementRead:
    agreement = partner_service.get_or_raise(
        session=session, actor=actor, agreement_id=agreement_id
    )
    return partner_service.to_read(agreement)


@router.patch("/{agreement_id}", response_model=AgreementRead)
def update_agreement(
    session: DbSession, actor: CurrentActor, agreement_id: int, agreement_in: AgreementUpdate
) -> AgreementRead:
    """Amend the fields sent (`valid_until: null` makes it open-ended). Audited with each
    change."""
    agreement = partner_service.update(
        session=session, actor=actor, agreement_id=agreement_id, agreement_in=agreement_in
    )
    return partner_service.to_read(agreement)


@router.post("/{agreement_id}/suspend", response_model=AgreementRead)
def suspend_agreement(
    session: DbSession, actor: CurrentActor, agreement_id: int, suspend_in: AgreementSuspend
) -> AgreementRead:
    """Suspend an agreement, with the reason; 409 if it is suspended already. Audited."""
    agreement = partner_service.suspend(
        session=session, actor=actor, agreement_id=agreement_id, reason=suspend_in.reason
    )
    return partner_service.to_read(agreement)


@router.post("/{agreement_id}/resume", response_model=AgreementRead)
def resume_agreement(session: DbSession, actor: CurrentActor, agreement_id: int) -> AgreementRead:
    """Lift a suspension; 409 if the agreement is not suspended. Audited."""
    agreement = partner_service.resume(session=session, actor=actor, agreement_id=agreement_id)
    return partner_service.to_read(agreement)
