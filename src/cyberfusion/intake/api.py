"""REST routes of intake: submissions in every format (the lookup of values is in correlation)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, BinaryIO

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from cyberfusion.api.deps import CurrentActor, DbSession
from cyberfusion.core.config import get_settings
from cyberfusion.core.errors import DomainError, ValidationFailed
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import EnvelopeIn, SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.sharing.models import Audience, Reliability, Tlp
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn

if TYPE_CHECKING:
    # A TypedDict the package defines for type checkers only.
    from python_multipart.multipart import MultipartCallbacks

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


# Multipart fields other than the file are short options (`format`); longer is malformed.
_FIELD_LIMIT = 1024


@dataclass
class _Upload:
    """The `file` part of a multipart submission, spooled to a temporary file on disk, and
    the other (short) fields."""

    file: BinaryIO
    filename: str | None
    fields: dict[str, str] = field(default_factory=dict)


class _MultipartReader:
    """python-multipart callbacks: the `file` part goes to a temporary file as it arrives,
    other parts to small buffers. Nothing holds the whole body in memory."""

    def __init__(self) -> None:
        self.spool: BinaryIO = tempfile.TemporaryFile(prefix="cyberfusion-upload-")  # noqa: SIM115
        self.filename: str | None = None
        self.files = 0
        self.fields: dict[str, str] = {}
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._target: str | None = None  # "file", a field name, or None (ignored part)
        self._buffer = bytearray()
        self.error: DomainError | None = None

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": self._header_field,
            "on_header_value": self._header_value_data,
            "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self._headers = {}
        self._target = None
        self._buffer = bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.strip().lower()] = self._header_value.strip()
        self._header_name = self._header_value = b""

    def _headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = params.get(b"name", b"").decode("utf-8", errors="replace")
        if name == "file":
            self.files += 1
            if self.files > 1:
                self.error = ValidationFailed(
                    "a multipart submission takes one `file` field", field="file"
                )
                return
            filename = params.get(b"filename")
            self.filename = filename.decode("utf-8", errors="replace") if filename else None
        self._target = name or None

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self.error is not None or self._target is None:
            return
        if self._target == "file":
            self.spool.write(data[start:end])
            return
        self._buffer += data[start:end]
        if len(self._buffer) > _FIELD_LIMIT:
            self.error = ValidationFailed(
                f"the multipart field {self._target!r} is over {_FIELD_LIMIT} bytes",
                field=self._target,
            )

    def _part_end(self) -> None:
        if self.error is None and self._target not in (None, "file"):
            assert self._target is not None
            self.fields[self._target] = bytes(self._buffer).decode("utf-8", errors="replace")


async def _stream_multipart(request: Request) -> _Upload:
    """Read a multipart body chunk by chunk into a temporary file; 413 as soon as it passes
    `max_submission_bytes`, 422 when it is malformed or has no `file` field."""
    limit = get_settings().max_submission_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"the body is {declared} bytes; the limit is {limit}")
    _, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if not boundary:
        raise ValidationFailed(
            "a multipart/form-data body needs a boundary in its Content-Type",
            field="content-type",
        )
    reader = _MultipartReader()
    try:
        parser = MultipartParser(boundary, reader.callbacks())
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            parser.write(chunk)
            if reader.error is not None:
                raise reader.error
        parser.finalize()
        if reader.error is not None:
            raise reader.error
        if reader.files == 0:
            raise ValidationFailed("a multipart submission needs a `file` field", field="file")
    except MultipartParseError as exc:
        reader.spool.close()
        raise ValidationFailed(f"the multipart body is malformed: {exc}", field="file") from exc
    except BaseException:
        reader.spool.close()
        raise
    reader.spool.seek(0)
    return _Upload(reader.spool, reader.filename, reader.fields)


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
    upload: _Upload | None = None
    if content_type == "multipart/form-data":
        upload = await _stream_multipart(request)
        if fmt == SourceFormat.AUTO and "format" in upload.fields:
            try:
                fmt = SourceFormat(upload.fields["format"])
            except ValueError as exc:
                upload.file.close()
                choices = ", ".join(member.value for member in SourceFormat)
                raise ValidationFailed(
                    f"{upload.fields['format']!r} is not a format: use one of {choices}",
                    field="format",
                ) from exc
        raw = b""
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
    if upload is None:
        result = intake_service.submit(session=session, actor=actor, raw=raw, options=options)
    else:
        with upload.file:
            result = intake_service.submit_file(
                session=session,
                actor=actor,
                source=upload.file,
                options=options,
                name=upload.filename,
            )
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
