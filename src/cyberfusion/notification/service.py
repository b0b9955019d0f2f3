"""Notification logic: an organisation reads its own notifications only."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.notification.models import Notification


def list_(*, session: Session, actor: Actor, limit: int = 100) -> Sequence[Notification]:
    actor.require(Permission.NOTIFICATION_NOTIFICATION_READ)
    return session.scalars(
        select(Notification)
        .where(Notification.recipient_org_id == actor.org_id)
        .order_by(Notification.id.desc())
        .limit(limit)
    ).all()


def count_unread(*, session: Session, actor: Actor) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.recipient_org_id == actor.org_id, Notification.read_at.is_(None))
        )
        or 0
    )
