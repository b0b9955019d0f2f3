"""REST routes of intake: submissions in every format, and observable lookup."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ValidationError

from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import DomainError, ValidationFailed
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import EnvelopeIn, SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.observable import service as observable_service
from cyberfusion.sharing.models import Audience, Reliability, Tlp
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn

router = APIRouter(tags=["intake"])


class PayloadTooLarge(DomainError):
    status = 413
    title = "Payload too large"


class UnsupportedMediaType(DomainError):
    status = 415
    title = "Unsupported media type"


_JSON_TYPES = (
    "application/json",
    "application/stix+json",
    "application/taxii+json",
    "application/misp+json",
)


async def _body(request: Request) -> bytes:
    limit = get_settings().max_submission_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _labels(
    tlp: Tlp | None,
    audience: Audience | None,
    audience_country: str | None,
    audience_region: str | None,
    recipients: str | None,
) -> LabelsIn | None:
    if not any((tlp, audience, audience_country, audience_region, recipients)):
        return None
    data: dict[str, Any] = {
        "tlp": tlp or Tlp.AMBER,
        "audience": audience or Audience.ORGANISATION,
        "audience_country": audience_country,
        "audience_region": audience_region,
        "recipients": [r for r in (recipients or "").split(",") if r],
    }
    return LabelsIn.model_validate(data)


@router.post(
    "/submissions",
    response_model=SubmissionRead,
    status_code=201,
    responses={
        200: {"description": "the same submission was received before; same answer"},
        413: {"description": "body over the limit"},
        415: {"description": "unsupported content type"},
        422: {"description": "refused: the per-object results say why"},
    },
)
async def create_submission(
    request: Request,
    session: DbSession,
    actor: CurrentActor,
    format: Annotated[SourceFormat, Query(description="how to read the body")] = SourceFormat.AUTO,  # noqa: A002
    partial: bool = False,
    tlp: Tlp | None = None,
    audience: Audience | None = None,
    audience_country: str | None = None,
    audience_region: str | None = None,
    recipients: Annotated[str | None, Query(description="comma-separated slugs")] = None,
    reliability: Reliability = Reliability.X,
    credibility: Annotated[int, Query(ge=1, le=4)] = 4,
    confidence: Annotated[int, Query(ge=0, le=100)] = 50,
) -> JSONResponse:
    """Submit a STIX bundle or MISP event as the JSON body, `{"format": "csv"|"text"|...,
    "content": ...}` as JSON, CSV (`text/csv`) or text (`text/plain`) as the body, or any of
    them as the `file` field of a multipart upload. Atomic unless `partial=true`; sending the
    same content again changes nothing and returns the same answer (200)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    fmt = format
    try:
        labels = _labels(tlp, audience, audience_country, audience_region, recipients)
    except ValidationError as exc:
        raise ValidationFailed(str(exc.errors()[0]["msg"]), field="labels") from exc
    evaluation = EvaluationIn(
        reliability=reliability, credibility=credibility, confidence=confidence
    )
    if content_type == "multipart/form-data":
        form = await request.form(max_part_size=get_settings().max_submission_bytes)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise ValidationFailed("a multipart submission needs a `file` field", field="file")
        raw = await upload.read()
        if len(raw) > get_settings().max_submission_bytes:
            raise PayloadTooLarge("the file is over the limit")
        if fmt == SourceFormat.AUTO and isinstance(form.get("format"), str):
            fmt = SourceFormat(str(form.get("format")))
    elif content_type in _JSON_TYPES or content_type.endswith("+json"):
        raw = await _body(request)
        raw, fmt, labels, evaluation, partial = _maybe_envelope(
            raw, fmt, labels, evaluation, partial
        )
    elif content_type in ("text/csv", "text/plain", "application/octet-stream"):
        raw = await _body(request)
        if fmt == SourceFormat.AUTO:
            fmt = {"text/csv": SourceFormat.CSV, "text/plain": SourceFormat.AUTO}.get(
                content_type, SourceFormat.AUTO
            )
    else:
        raise UnsupportedMediaType(
            f"content type {content_type or '(none)'!r} is not accepted: send application/json, "
            "text/csv, text/plain or multipart/form-data",
            field="content-type",
        )
    options = SubmissionOptions(
        source_format=fmt, labels=labels, evaluation=evaluation, partial=partial
    )
    result = intake_service.submit(session=session, actor=actor, raw=raw, options=options)
    status = 200 if result.replayed else (422 if result.status == "rejected" else 201)
    return JSONResponse(result.model_dump(mode="json"), status_code=status)


def _maybe_envelope(
    raw: bytes,
    fmt: SourceFormat,
    labels: LabelsIn | None,
    evaluation: EvaluationIn,
    partial: bool,
) -> tuple[bytes, SourceFormat, LabelsIn | None, EvaluationIn, bool]:
    if b'"content"' not in raw[:65536] or b'"format"' not in raw:
        return raw, fmt, labels, evaluation, partial
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw, fmt, labels, evaluation, partial
    if not (isinstance(data, dict) and "content" in data and "format" in data):
        return raw, fmt, labels, evaluation, partial
    try:
        envelope = EnvelopeIn.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ValidationFailed(f"{first['msg']}", field=".".join(map(str, first["loc"]))) from exc
    content = envelope.content
    body = content.encode() if isinstance(content, str) else orjson.dumps(content)
    return (
        body,
        envelope.format,
        envelope.labels or labels,
        envelope.evaluation or evaluation,
        envelope.partial or partial,
    )


@router.get("/submissions/{submission_id}", response_model=SubmissionRead)
def read_submission(session: DbSession, actor: CurrentActor, submission_id: int) -> SubmissionRead:
    submission = intake_service.get_or_raise(
        session=session, actor=actor, submission_id=submission_id
    )
    return intake_service.to_read(submission, replayed=False)


class OccurrenceRead(BaseModel):
    record_id: int
    organisation: str
    reported_at: datetime
    tlp: str
    audience: str


class LookupRead(BaseModel):
    type: str
    value: str
    known: bool
    occurrences: list[OccurrenceRead]
    hidden_match: bool


@router.get("/observables/lookup", response_model=LookupRead)
def lookup_observable(
    session: DbSession,
    actor: CurrentActor,
    value: Annotated[str, Query(min_length=1, max_length=4096)],
    type: Annotated[str | None, Query(description="observable type; guessed when absent")] = None,  # noqa: A002
) -> LookupRead:
    """The normalised value and who reported it, as far as the caller may see; for records it
    may not read, only `hidden_match` (their owners are told who asked)."""
    from cyberfusion.registry.models import Organisation

    result = observable_service.lookup(session=session, actor=actor, raw=value, obs_type=type)
    slugs = {
        o.id: o.slug
        for o in session.query(Organisation).filter(
            Organisation.id.in_({occ.owner_org_id for occ in result.occurrences})
        )
    }
    from cyberfusion.sharing.models import SharingLabel

    labels = {
        lab.id: lab
        for lab in session.query(SharingLabel).filter(
            SharingLabel.id.in_({occ.label_id for occ in result.occurrences})
        )
    }
    return LookupRead(
        type=result.obs_type,
        value=result.value,
        known=result.observable_id is not None,
        occurrences=[
            OccurrenceRead(
                record_id=o.intel_object_id,
                organisation=slugs[o.owner_org_id],
                reported_at=o.reported_at,
                tlp=labels[o.label_id].tlp,
                audience=labels[o.label_id].audience,
            )
            for o in result.occurrences
        ],
        hidden_match=result.hidden_match,
    )
