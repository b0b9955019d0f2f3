"""REST routes of intelligence records; reads go through the sharing filter."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import and_

from cyberfusion.account.permissions import Permission
from cyberfusion.api.deps import CurrentActor, DbSession, OptionalActor
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.intel.schemas import IntelObjectCreate, IntelObjectRead
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.schemas import LabelsIn

router = APIRouter(tags=["intel"])


@router.get("/objects", response_model=list[IntelObjectRead])
def list_objects(
    session: DbSession,
    actor: OptionalActor,
    limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0),
) -> list[IntelObjectRead]:
    """Records the caller may read, newest first; without credentials, public TLP:CLEAR only."""
    if not actor.is_anonymous:
        actor.require(Permission.INTEL_OBJECT_READ)
    records = intel_service.list_(session=session, actor=actor, limit=limit, offset=offset)
    return [intel_service.to_read(session, r) for r in records]


@router.get("/objects/{record_id}", response_model=IntelObjectRead)
def read_object(session: DbSession, actor: OptionalActor, record_id: int) -> IntelObjectRead:
    if not actor.is_anonymous:
        actor.require(Permission.INTEL_OBJECT_READ)
    record = intel_service.get_or_raise(session=session, actor=actor, record_id=record_id)
    return intel_service.to_read(session, record)


@router.post("/objects", response_model=IntelObjectRead, status_code=201)
def create_object(
    session: DbSession, actor: CurrentActor, object_in: IntelObjectCreate
) -> IntelObjectRead:
    record = intel_service.create(session=session, actor=actor, object_in=object_in)
    return intel_service.to_read(session, record)


@router.put("/objects/{record_id}/labels", response_model=IntelObjectRead)
def relabel_object(
    session: DbSession, actor: CurrentActor, record_id: int, labels_in: LabelsIn
) -> IntelObjectRead:
    record = intel_service.relabel(
        session=session, actor=actor, record_id=record_id, labels_in=labels_in
    )
    return intel_service.to_read(session, record)


class LookupIn(BaseModel):
    stix_id: str = Field(min_length=3, max_length=100)


class LookupOut(BaseModel):
    readable: list[IntelObjectRead]
    hidden_match: bool = Field(
        description="true when records you may not read also match; their owners were told"
    )


@router.post("/lookup", response_model=LookupOut)
def lookup(session: DbSession, actor: CurrentActor, lookup_in: LookupIn) -> LookupOut:
    """Hit/no-hit: does anyone hold this? Content only where the sharing rules allow."""
    result = sharing_service.hit_check(
        session=session,
        actor=actor,
        model=IntelObject,
        condition=and_(IntelObject.stix_id == lookup_in.stix_id),
        query_summary=lookup_in.stix_id,
    )
    return LookupOut(
        readable=[intel_service.to_read(session, r) for r in result.readable],
        hidden_match=result.hidden_match,
    )


class ValidationIn(BaseModel):
    decision: str = Field(description="validated or rejected")
    reason: str = Field(default="", max_length=1000)


class SubmissionValidationOut(BaseModel):
    submission_id: int
    decision: str
    changed: int


@router.post("/objects/{record_id}/validation", response_model=IntelObjectRead)
def validate_object(
    session: DbSession, actor: CurrentActor, record_id: int, validation_in: ValidationIn
) -> IntelObjectRead:
    """Validate or reject one record (fusion-centre analysts)."""
    record = intel_service.validate(
        session=session,
        actor=actor,
        record_id=record_id,
        decision=validation_in.decision,
        reason=validation_in.reason,
    )
    return intel_service.to_read(session, record)


@router.post("/submissions/{submission_id}/validation", response_model=SubmissionValidationOut)
def validate_submission(
    session: DbSession, actor: CurrentActor, submission_id: int, validation_in: ValidationIn
) -> SubmissionValidationOut:
    """Validate or reject every record of a submission that the analyst may read."""
    changed = intel_service.validate_submission(
        session=session,
        actor=actor,
        submission_id=submission_id,
        decision=validation_in.decision,
        reason=validation_in.reason,
    )
    return SubmissionValidationOut(
        submission_id=submission_id, decision=validation_in.decision, changed=changed
    )


class RuleIn(BaseModel):
    org: str = Field(description="slug of the organisation whose records the rule covers")
    min_confidence: int = Field(ge=0, le=100)


class RuleRead(BaseModel):
    id: int
    org_id: int
    min_confidence: int
    created_by: str


@router.post("/validation-rules", response_model=RuleRead, status_code=201)
def create_rule(session: DbSession, actor: CurrentActor, rule_in: RuleIn) -> RuleRead:
    """Records of `org` with confidence >= `min_confidence` enter validated."""
    rule = intel_service.add_rule(
        session=session, actor=actor, org_slug=rule_in.org, min_confidence=rule_in.min_confidence
    )
    return RuleRead(
        id=rule.id,
        org_id=rule.org_id,
        min_confidence=rule.min_confidence,
        created_by=rule.created_by,
    )


@router.get("/validation-rules", response_model=list[RuleRead])
def list_rules(session: DbSession, actor: CurrentActor) -> list[RuleRead]:
    return [
        RuleRead(id=r.id, org_id=r.org_id, min_confidence=r.min_confidence, created_by=r.created_by)
        for r in intel_service.list_rules(session=session, actor=actor)
    ]
