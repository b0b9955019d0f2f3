"""Data-sharing agreements with partners: register, amend, suspend and resume them (admins).

An agreement records what a partner organisation (a CERT, a private or an international
partner) agreed to share and the most sensitive TLP it may receive. The maximum TLP is
informative here: what anyone reads is decided by the sharing rules alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.errors import Conflict, NotFound, ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.partner.models import Agreement, AgreementStatus
from cyberfusion.partner.schemas import (
    AgreementCreate,
    AgreementRead,
    AgreementUpdate,
)
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import OrgKind
from cyberfusion.sharing.models import Tlp

# Members (NCBs, national units, desks, the hub) share under the platform's own rules;
# agreements are for the organisations outside it.
PARTNER_KINDS = frozenset({OrgKind.CERT, OrgKind.PRIVATE_PARTNER, OrgKind.INTERNATIONAL_ORG})


def status_of(agreement: Agreement, *, today: date | None = None) -> AgreementStatus:
    """Suspension wins; then the dates, both inclusive, on the UTC calendar."""
    today = today or utcnow().date()
    if agreement.suspended_at is not None:
        return AgreementStatus.SUSPENDED
    if agreement.valid_until is not None and agreement.valid_until < today:
        return AgreementStatus.EXPIRED
    if agreement.valid_from > today:
        return AgreementStatus.PENDING
    return AgreementStatus.ACTIVE


def to_read(agreement: Agreement, *, today: date | None = None) -> AgreementRead:
    return AgreementRead(
        id=agreement.id,
        organisation=agreement.organisation.slug,
        organisation_name=agreement.organisation.name,
        title=agreement.title,
        reference=agreement.reference,
        signed_on=agreement.signed_on,
        valid_from=agreement.valid_from,
        valid_until=agreement.valid_until,
        scope=agreement.scope,
        max_tlp=Tlp(agreement.max_tlp),
        status=status_of(agreement, today=today),
        suspended_at=agreement.suspended_at,
        suspended_by=agreement.suspended_by,
        suspension_reason=agreement.suspension_reason,
        created_by=agreement.created_by,
        created_at=agreement.created_at,
        updated_at=agreement.updated_at,
    )


def get_or_raise(*, session: Session, actor: Actor, agreement_id: int) -> Agreement:
    actor.require(Permission.PARTNER_AGREEMENT_READ)
    agreement = session.get(Agreement, agreement_id)
    if agreement is None:
        raise NotFound(f"agreement {agreement_id} does not exist", field="agreement_id")
    return agreement


def list_(
    *,
    session: Session,
    actor: Actor,
    organisation: str | None = None,
    status: AgreementStatus | None = None,
    today: date | None = None,
) -> Sequence[Agreement]:
    """Agreements by partner name then start date; `status` filters on the computed status."""
    actor.require(Permission.PARTNER_AGREEMENT_READ)
    query = select(Agreement).order_by(Agreement.organisation_id, Agreement.valid_from)
    if organisation is not None:
        org = registry_service.get_by_slug_or_raise(
            session=session, slug=organisation, field="organisation"
        )
        query = query.where(Agreement.organisation_id == org.id)
    rows = session.scalars(query).all()
    if status is not None:
        rows = [row for row in rows if status_of(row, today=today) == status]
    return sorted(rows, key=lambda row: (row.organisation.name, row.valid_from, row.id))


def _check_reference(session: Session, reference: str, *, other_than: int | None = None) -> None:
    existing = session.scalars(
        select(Agreement).where(Agreement.reference == reference)
    ).one_or_none()
    if existing is not None and existing.id != other_than:
        raise Conflict(
            f"agreement {existing.id} already has reference {reference!r}", field="reference"
        )


def _details(agreement: Agreement) -> dict[str, Any]:
    return {
        "organisation": agreement.organisation.slug,
        "reference": agreement.reference,
        "title": agreement.title,
        "signed_on": agreement.signed_on.isoformat(),
        "valid_from": agreement.valid_from.isoformat(),
        "valid_until": agreement.valid_until.isoformat() if agreement.valid_until else None,
        "max_tlp": agreement.max_tlp,
    }


def create(*, session: Session, actor: Actor, agreement_in: AgreementCreate) -> Agreement:
    actor.require(Permission.PARTNER_AGREEMENT_MANAGE)
    org = registry_service.get_by_slug_or_raise(
        session=session, slug=agreement_in.organisation, field="organisation"
    )
    if org.kind not in PARTNER_KINDS:
        raise ValidationFailed(
            f"{org.slug} is a {org.kind}, not a partner: agreements are for "
            f"{', '.join(sorted(k.value for k in PARTNER_KINDS))} organisations",
            field="organisation",
        )
    _check_reference(session, agreement_in.reference)
    agreement = Agreement(
        organisation_id=org.id,
        title=agreement_in.title,
        reference=agreement_in.reference,
        signed_on=agreement_in.signed_on,
        valid_from=agreement_in.valid_from,
        valid_until=agreement_in.valid_until,
        scope=agreement_in.scope,
        max_tlp=agreement_in.max_tlp.value,
        created_by=actor.label,
    )
    session.add(agreement)
    session.flush()
    session.refresh(agreement)
    audit_service.record(
        session=session,
        actor=actor,
        action="agreement.create",
        target_type="agreement",
        target_id=agreement.id,
        details=_details(agreement),
    )
    return agreement


def update(
    *, session: Session, actor: Actor, agreement_id: int, agreement_in: AgreementUpdate
) -> Agreement:
    """Change the fields sent; the audit entry lists each change as [before, after]."""
    actor.require(Permission.PARTNER_AGREEMENT_MANAGE)
    agreement = get_or_raise(session=session, actor=actor, agreement_id=agreement_id)
    sent = agreement_in.model_dump(include=agreement_in.model_fields_set)
    for name in ("title", "reference", "signed_on", "valid_from", "scope", "max_tlp"):
        # Only valid_until may be cleared (open-ended); the others are required.
        if name in sent and sent[name] is None:
            raise ValidationFailed(f"{name} cannot be empty", field=name)
    if "reference" in sent:
        _check_reference(session, sent["reference"], other_than=agreement.id)
    valid_from = sent.get("valid_from", agreement.valid_from)
    valid_until = sent.get("valid_until", agreement.valid_until)
    if valid_until is not None and valid_until < valid_from:
        raise ValidationFailed("valid_until must not be before valid_from", field="valid_until")
    before = _details(agreement) | {"scope": agreement.scope}
    for name, value in sent.items():
        setattr(agreement, name, value.value if name == "max_tlp" else value)
    agreement.updated_at = utcnow()
    session.flush()
    after = _details(agreement) | {"scope": agreement.scope}
    changes = {k: [before[k], after[k]] for k in after if before[k] != after[k]}
    if changes:
        audit_service.record(
            session=session,
            actor=actor,
            action="agreement.update",
            target_type="agreement",
            target_id=agreement.id,
            details={"changes": changes},
        )
    return agreement


def suspend(*, session: Session, actor: Actor, agreement_id: int, reason: str) -> Agreement:
    actor.require(Permission.PARTNER_AGREEMENT_MANAGE)
    agreement = get_or_raise(session=session, actor=actor, agreement_id=agreement_id)
    if agreement.suspended_at is not None:
        raise Conflict(
            f"agreement {agreement.id} is suspended since {agreement.suspended_at.isoformat()}",
            field="agreement_id",
        )
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("say why the agreement is suspended", field="reason")
    now = utcnow()
    agreement.suspended_at, agreement.suspended_by = now, actor.label
    agreement.suspension_reason, agreement.updated_at = reason, now
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="agreement.suspend",
        target_type="agreement",
        target_id=agreement.id,
        details={"reference": agreement.reference, "reason": reason},
    )
    return agreement


def resume(*, session: Session, actor: Actor, agreement_id: int) -> Agreement:
    """Lift a suspension; the agreement is then active, pending or expired by its dates."""
    actor.require(Permission.PARTNER_AGREEMENT_MANAGE)
    agreement = get_or_raise(session=session, actor=actor, agreement_id=agreement_id)
    if agreement.suspended_at is None:
        raise Conflict(f"agreement {agreement.id} is not suspended", field="agreement_id")
    previous = agreement.suspension_reason
    agreement.suspended_at = agreement.suspended_by = agreement.suspension_reason = None
    agreement.updated_at = utcnow()
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="agreement.resume",
        target_type="agreement",
        target_id=agreement.id,
        details={"reference": agreement.reference, "suspension_reason": previous},
    )
    return agreement
