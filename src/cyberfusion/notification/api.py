"""REST routes of notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict

from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.notification import service as notification_service

router = APIRouter(tags=["notification"])


class NotificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: str
    summary: str
    payload: dict[str, Any]
    created_at: datetime
    read_at: datetime | None


@router.get("/notifications", response_model=list[NotificationRead])
def list_notifications(
    session: DbSession,
    actor: CurrentActor,
    unread: bool = False,
    kind: Annotated[str | None, Query(description="hit, match or deconfliction")] = None,
    before_id: Annotated[int | None, Query(description="page back: ids below this")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NotificationRead]:
    """Your organisation's notifications, newest first: hits on your records (who looked up a
    value you hold), matches (another organisation reported values you hold) and deconfliction
    notices."""
    if kind is not None and kind not in notification_service.KINDS:
        raise ValidationFailed(
            f"kind must be one of {', '.join(notification_service.KINDS)}", field="kind"
        )
    rows = notification_service.list_(
        session=session, actor=actor, limit=limit, unread=unread, kind=kind, before_id=before_id
    )
    return [NotificationRead.model_validate(n) for n in rows]


@router.post("/notifications/{notification_id}/read", response_model=NotificationRead)
def mark_read(session: DbSession, actor: CurrentActor, notification_id: int) -> NotificationRead:
    """Mark one of your organisation's notifications read."""
    found = notification_service.mark_read(
        session=session, actor=actor, notification_id=notification_id
    )
    return NotificationRead.model_validate(found)
