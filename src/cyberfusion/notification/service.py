"""Notification logic: an organisation reads its own notifications only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import NotFound
from cyberfusion.core.time import utcnow
from cyberfusion.notification.models import Notification

KINDS = ("hit", "match", "deconfliction")


def list_(
    *,
    session: Session,
    actor: Actor,
    limit: int = 100,
    unread: bool = False,
    kind: str | None = None,
    before_id: int | None = None,
) -> Sequence[Notification]:
    """The actor's organisation's notifications, newest first; `before_id` pages back."""
    actor.require(Permission.NOTIFICATION_NOTIFICATION_READ)
    statement = select(Notification).where(Notification.recipient_org_id == actor.org_id)
    if unread:
        statement = statement.where(Notification.read_at.is_(None))
    if kind is not None:
        statement = statement.where(Notification.kind == kind)
    if before_id is not None:
        statement = statement.where(Notification.id < before_id)
    return session.scalars(statement.order_by(Notification.id.desc()).limit(limit)).all()


def get_or_raise(*, session: Session, actor: Actor, notification_id: int) -> Notification:
    actor.require(Permission.NOTIFICATION_NOTIFICATION_READ)
    found = session.get(Notification, notification_id)
    if found is None or actor.org_id is None or found.recipient_org_id != actor.org_id:
        raise NotFound(f"notification {notification_id} does not exist", field="notification_id")
    return found


def mark_read(*, session: Session, actor: Actor, notification_id: int) -> Notification:
    """Mark one notification of the actor's organisation read (again: no change)."""
    found = get_or_raise(session=session, actor=actor, notification_id=notification_id)
    if found.read_at is None:
        found.read_at = utcnow()
        session.flush()
    return found


def count_unread(*, session: Session, actor: Actor) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.recipient_org_id == actor.org_id, Notification.read_at.is_(None))
        )
        or 0
    )
