"""REST routes of notifications."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from cyberfusion.api.deps import CurrentActor, DbSession
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
def list_notifications(session: DbSession, actor: CurrentActor) -> list[NotificationRead]:
    rows = notification_service.list_(session=session, actor=actor)
    return [NotificationRead.model_validate(n) for n in rows]
