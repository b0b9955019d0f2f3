"""REST routes of the audit log."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel

from cyberfusion.account.permissions import Permission
from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.audit import service as audit_service

router = APIRouter(tags=["audit"])


class VerifyRead(BaseModel):
    ok: bool
    entries: int
    bad_entry: int | None
    reason: str


@router.get("/audit/verify", response_model=VerifyRead)
def verify(session: DbSession, actor: CurrentActor) -> VerifyRead:
    actor.require(Permission.AUDIT_LOG_VERIFY)
    result = audit_service.verify(session=session)
    return VerifyRead(
        ok=result.ok, entries=result.entries, bad_entry=result.bad_seq, reason=result.reason
    )
