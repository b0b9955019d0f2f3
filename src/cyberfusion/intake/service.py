"""Intake: read a submission in any supported format, validate every object, store it
atomically with its labels, provenance and observables, and answer per object."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.canonical import content_hash
from cyberfusion.core.errors import NotFound, ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.intake.models import Submission
from cyberfusion.intake.parsed import ParsedObject, ParseResult
from cyberfusion.intake.schemas import ObjectResult, SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable import service as observable_service
from cyberfusion.registry.models import Organisation, OrgKind
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import Audience, SharingLabel, Tlp, strictest_tlp
from cyberfusion.sharing.schemas import LabelsIn

# Records from these organisations wait for an analyst (or a rule) before entering products.
UNVALIDATED_KINDS = frozenset(
    {OrgKind.CERT.value, OrgKind.PRIVATE_PARTNER.value, OrgKind.INTERNATIONAL_ORG.value}
)
# Timestamps a generated object takes from the moment it was built: two reports of the same
# content that differ only in these are the same object.
_VOLATILE = ("created", "modified", "valid_from")
_CHUNK = 500


@dataclass
class _Candidate:
    index: int
    parsed: ParsedObject
    label: SharingLabel | None = None
    modified: datetime | None = None
    result: ObjectResult | None = None
    observables: list[tuple[str, str]] = field(default_factory=list)


def detect_format(raw: bytes) -> SourceFormat:
    head = raw[:4096].lstrip()
    if head.startswith((b"{", b"[")):
        probe = head[:2048]
        if b'"Event"' in probe or b'"Attribute"' in probe or b'"info"' in probe:
            return SourceFormat.MISP
        return SourceFormat.STIX
    first = head.split(b"\n", 1)[0].lower()
    if b"," in first and (b"value" in first or b"type" in first):
        return SourceFormat.CSV
    lines = [ln.strip() for ln in head.splitlines()[:20] if ln.strip()]
    if lines and all(b" " not in ln for ln in lines):
        return SourceFormat.CSV
    return SourceFormat.TEXT


def _decode(raw: bytes) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationFailed(
            f"content is not valid UTF-8: byte {exc.start} ({raw[exc.start : exc.start + 1]!r})",
            field="content",
        ) from exc


def _json(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValidationFailed(
            f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}",
            field="content",
        ) from exc


def parse(raw: bytes, source_format: SourceFormat, *, received_at: datetime) -> ParseResult:
    """Bytes to STIX 2.1 objects and per-record errors; never raises for bad records, only for
    content that cannot be read at all (encoding, JSON syntax)."""
    text = _decode(raw)
    if source_format == SourceFormat.STIX:
        from cyberfusion.stix.validate import validate_bundle

        bundle = _json(text)
        if not isinstance(bundle, dict):
            raise ValidationFailed("a STIX submission is one bundle object", field="content")
        objects, problems = validate_bundle(bundle)
        result = ParseResult()
        bad = {p.index for p in problems}
        for index, obj in enumerate(objects):
            if index not in bad:
                result.objects.append(ParsedObject(content=obj, source=f"object {index}"))
        from cyberfusion.intake.parsed import ParseError

        for problem in problems:
            result.errors.append(
                ParseError(
                    source=f"object {problem.index}" if problem.index >= 0 else "bundle",
                    field=problem.property or "",
                    reason=problem.reason,
                )
            )
        return result
    if source_format == SourceFormat.MISP:
        from cyberfusion.intake.misp import parse_misp_event

        return parse_misp_event(_json(text))
    if source_format == SourceFormat.CSV:
        from cyberfusion.intake.csv_format import parse_csv

        return parse_csv(text, default_time=received_at)
    from cyberfusion.intake.text_format import parse_text

    return parse_text(text, default_time=received_at)


def _idempotency_key(org_id: int, fmt: SourceFormat, sha: str, options: SubmissionOptions) -> str:
    return content_hash(
        {
            "org": org_id,
            "format": fmt.value,
            "sha256": sha,
            "options": options.model_dump(mode="json", exclude={"source_format"}),
        }
    )


def _semantic_hash(content: dict[str, Any]) -> str:
    return content_hash({k: v for k, v in content.items() if k not in _VOLATILE})


def _modified(content: dict[str, Any]) -> datetime:
    from cyberfusion.intel.service import object_version

    return object_version(content)


def _labels_for(parsed: ParsedObject, base: LabelsIn) -> LabelsIn:
    """Content first (its TLP marking, the source's hints), then the submission's labels."""
    tlp = parsed.tlp or strictest_tlp(parsed.content.get("object_marking_refs")) or base.tlp
    update: dict[str, Any] = {"tlp": tlp}
    if parsed.audience is not None:
        update["audience"] = parsed.audience
        if parsed.audience != base.audience:
            update.update(audience_country=None, audience_region=None, recipients=[])
    labels = base.model_copy(update=update)
    # A marking from the content that the default audience cannot carry narrows the audience
    # to the owner, rather than losing the object or widening anything.
    if labels.tlp == Tlp.AMBER_STRICT and labels.audience not in (
        Audience.ORGANISATION,
        Audience.ORGANISATIONS,
    ):
        labels = labels.model_copy(
            update={
                "audience": Audience.ORGANISATION,
                "audience_country": None,
                "audience_region": None,
                "recipients": [],
            }
        )
    if labels.audience == Audience.PUBLIC and labels.tlp != Tlp.CLEAR:
        labels = labels.model_copy(update={"audience": Audience.COMMUNITY})
    return labels


def default_labels(org: Organisation) -> LabelsIn:
    """The organisation's defaults: TLP:AMBER, for the organisation itself."""
    return LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION)


def submit(
    *, session: Session, actor: Actor, raw: bytes, options: SubmissionOptions
) -> SubmissionRead:
    """Store a submission atomically (or, with `partial`, its valid objects) and answer per
    object. The same bytes with the same options from the same organisation get the stored
    answer again and change nothing."""
    actor.require(Permission.INTEL_OBJECT_SUBMIT)
    if actor.org_id is None:
        raise ValidationFailed("submissions belong to an organisation", field="org")
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    if not raw.strip():
        raise ValidationFailed("the submission is empty", field="content")
    fmt = options.source_format
    if fmt == SourceFormat.AUTO:
        fmt = detect_format(raw)
    sha = hashlib.sha256(raw).hexdigest()
    key = _idempotency_key(org.id, fmt, sha, options)
    existing = session.scalars(select(Submission).where(Submission.idempotency_key == key)).first()
    if existing is not None:
        return to_read(existing, replayed=True)

    received_at = utcnow()
    parsed = parse(raw, fmt, received_at=received_at)
    results: list[ObjectResult] = []
    candidates: list[_Candidate] = []
    for error in parsed.errors:
        results.append(
            ObjectResult(
                index=-1,
                source=error.source,
                id=None,
                type=None,
                status="rejected",
                property=error.field or None,
                reason=error.reason,
            )
        )
    base = options.labels or default_labels(org)
    label_cache: dict[str, SharingLabel] = {}
    seen_ids: dict[tuple[str, datetime], _Candidate] = {}
    for index, item in enumerate(parsed.objects):
        content = item.content
        cand = _Candidate(index=index, parsed=item)
        cand.result = ObjectResult(
            index=index,
            source=item.source,
            id=content.get("id"),
            type=content.get("type"),
            status="accepted",
        )
        try:
            cand.modified = _modified(content)
            labels = _labels_for(item, base)
            fp = labels.model_dump_json()
            if fp not in label_cache:
                label_cache[fp] = sharing_service.resolve(
                    session=session, owner=org, labels_in=labels
                )
            cand.label = label_cache[fp]
        except ValidationFailed as exc:
            cand.result.status, cand.result.property, cand.result.reason = (
                "rejected",
                exc.field,
                exc.detail,
            )
        else:
            twin = seen_ids.get((str(content.get("id")), cand.modified))
            if twin is not None:
                same = content_hash(twin.parsed.content) == content_hash(content)
                cand.result.status = "duplicate" if same else "rejected"
                if not same:
                    cand.result.property = "id"
                    cand.result.reason = (
                        f"{content.get('id')} appears twice in this submission "
                        "with different content and the same modified time"
                    )
            else:
                seen_ids[(str(content.get("id")), cand.modified)] = cand
        candidates.append(cand)

    _mark_existing(
        session, org.id, [c for c in candidates if c.result and c.result.status == "accepted"]
    )
    results.extend(c.result for c in candidates if c.result is not None)
    rejected = sum(1 for r in results if r.status == "rejected")
    status = "accepted" if rejected == 0 else ("partial" if options.partial else "rejected")
    to_store = [c for c in candidates if c.result and c.result.status == "accepted"]
    if status == "rejected":
        to_store = []
        for r in results:
            if r.status == "accepted":
                r.status = "not stored"
                r.reason = (
                    "not stored: the submission was refused as a whole "
                    "(send partial=true to keep the valid objects)"
                )
    submission = Submission(
        org_id=org.id,
        user_id=actor.user_id,
        via=actor.via,
        source_format=fmt.value,
        content_sha256=sha,
        idempotency_key=key,
        partial=options.partial,
        status=status,
        accepted=len(to_store),
        duplicates=sum(1 for r in results if r.status == "duplicate"),
        rejected=rejected,
        results={},
        received_at=received_at,
    )
    session.add(submission)
    session.flush()
    if to_store:
        _store(session, actor, org, submission, to_store, fmt, options)
    submission.results = {"results": [r.model_dump(mode="json") for r in results]}
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="submission.create",
        target_type="submission",
        target_id=submission.id,
        details={
            "format": fmt.value,
            "sha256": sha,
            "status": status,
            "accepted": submission.accepted,
            "duplicates": submission.duplicates,
            "rejected": rejected,
        },
    )
    return to_read(submission, replayed=False)


def _mark_existing(session: Session, org_id: int, candidates: Sequence[_Candidate]) -> None:
    """Objects this organisation already holds: the same version with the same content is a
    duplicate; the same version with other content is refused; a generated object whose
    content differs only in its build timestamps is a duplicate of any earlier version."""
    by_id: dict[str, list[_Candidate]] = {}
    for cand in candidates:
        by_id.setdefault(str(cand.parsed.content["id"]), []).append(cand)
    ids = list(by_id)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        rows = session.execute(
            select(
                IntelObject.stix_id,
                IntelObject.modified,
                IntelObject.content_hash,
                IntelObject.content,
            ).where(IntelObject.owner_org_id == org_id, IntelObject.stix_id.in_(chunk))
        ).all()
        for stix_id, modified, digest, content in rows:
            for cand in by_id.get(stix_id, []):
                assert cand.result is not None
                if cand.result.status != "accepted":
                    continue
                version = cand.modified.isoformat() if cand.modified else ""
                if modified == cand.modified:
                    if digest == content_hash(cand.parsed.content):
                        cand.result.status = "duplicate"
                    else:
                        cand.result.status = "rejected"
                        cand.result.property = "modified"
                        cand.result.reason = (
                            f"{stix_id} version {version} is already stored with other "
                            "content; a new version needs a new modified time"
                        )
                elif cand.parsed.generated and _semantic_hash(content) == _semantic_hash(
                    cand.parsed.content
                ):
                    cand.result.status = "duplicate"


def _store(
    session: Session,
    actor: Actor,
    org: Organisation,
    submission: Submission,
    candidates: Sequence[_Candidate],
    fmt: SourceFormat,
    options: SubmissionOptions,
) -> None:
    status = "unvalidated" if org.kind in UNVALIDATED_KINDS else "validated"
    evaluation = options.evaluation
    now = submission.received_at
    rows = []
    for cand in candidates:
        content = cand.parsed.content
        assert cand.label is not None and cand.modified is not None
        confidence = content.get("confidence")
        rows.append(
            {
                "stix_id": content["id"],
                "stix_type": content["type"],
                "spec_version": str(content.get("spec_version", "2.1")),
                "modified": cand.modified,
                "content": content,
                "content_hash": content_hash(content),
                "owner_org_id": org.id,
                "label_id": cand.label.id,
                "reliability": evaluation.reliability.value,
                "credibility": evaluation.credibility,
                "confidence": confidence if isinstance(confidence, int) else evaluation.confidence,
                "status": status,
                "created_at": now,
                "submission_id": submission.id,
                "submitted_by_user_id": actor.user_id,
                "submitted_via": actor.via,
                "source_format": fmt.value,
            }
        )
    record_ids: list[int] = []
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        returned = (
            session.execute(
                insert(IntelObject).returning(IntelObject.id, sort_by_parameter_order=True), chunk
            )
            .scalars()
            .all()
        )
        record_ids.extend(returned)
    pending: list[tuple[int, int, str, str]] = []
    for cand, record_id in zip(candidates, record_ids, strict=True):
        assert cand.result is not None and cand.label is not None
        cand.result.record_id = record_id
        for obs_type, value in observable_service.observables_of(cand.parsed.content):
            pending.append((record_id, cand.label.id, obs_type, value))
    observable_service.record_occurrences(
        session=session,
        org_id=org.id,
        submission_id=submission.id,
        reported_at=now,
        occurrences=pending,
    )


def to_read(submission: Submission, *, replayed: bool) -> SubmissionRead:
    return SubmissionRead(
        id=submission.id,
        status=submission.status,
        source_format=submission.source_format,
        received_at=submission.received_at,
        content_sha256=submission.content_sha256,
        accepted=submission.accepted,
        duplicates=submission.duplicates,
        rejected=submission.rejected,
        replayed=replayed,
        results=[ObjectResult.model_validate(r) for r in submission.results.get("results", [])],
    )


def get_or_raise(*, session: Session, actor: Actor, submission_id: int) -> Submission:
    """Submissions are visible to their own organisation only."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.org_id != actor.org_id:
        raise NotFound(f"no submission {submission_id}")
    return submission
