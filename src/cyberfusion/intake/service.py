"""Intake: read a submission in any supported format, validate every object, store it
atomically with its labels, provenance and observables, and answer per object.

Two paths, one set of rules (atomic unless `partial`, idempotent re-send, provenance, labels):

- Objects (STIX bundles, MISP events, CSV with the documented header, free text): parsed into
  STIX objects, checked against what the organisation holds, stored as one record each. The
  per-object work uses plain tuples and caches (labels per distinct marking, timestamps per
  distinct string); records, observables and occurrences go in with one bulk write each
  (`intake.bulk.insert_records`, `observable.service.record_occurrences`); the answer (one
  result per object) is built once at the end.
- Value lists (CSV of one column, type detected): streamed in chunks into one grouping record
  and one occurrence per accepted value (`intake.bulk.store_list`); results are kept for
  rejected rows only, with counts for the rest (docs/api.md, "Submissions").

`submit` takes the bytes; `submit_file` takes a file (path or binary file object) and reads a
value list block by block, so memory stays bounded whatever the size of the list.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import orjson
from sqlalchemy import null, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core import collector
from cyberfusion.core.canonical import content_hash
from cyberfusion.core.config import get_settings
from cyberfusion.core.db import in_ids
from cyberfusion.core.errors import NotFound, ValidationFailed
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.intake import bulk
from cyberfusion.intake.models import Submission
from cyberfusion.intake.parsed import ParsedObject, ParseResult
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge.mentions import Mention
from cyberfusion.observable import service as observable_service
from cyberfusion.registry.models import Organisation, OrgKind
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import Audience, SharingLabel, Tlp, strictest_tlp
from cyberfusion.sharing.schemas import LabelsIn

# Records from these organisations wait for an analyst (or a rule) before entering products.
# Clocks drift: a version stamped up to a day ahead is accepted, later than that is refused.
FUTURE_TOLERANCE = timedelta(days=1)
UNVALIDATED_KINDS = frozenset(
    {OrgKind.CERT.value, OrgKind.PRIVATE_PARTNER.value, OrgKind.INTERNATIONAL_ORG.value}
)
# Timestamps a generated object takes from the moment it was built: two reports of the same
# content that differ only in these are the same object.
_VOLATILE = ("created", "modified", "valid_from")
# Ids per query when checking what the organisation already holds (bound as one value).
_CHUNK = 20_000
_HEAD = 65536
_HASH_BLOCK = 1 << 20
_NOT_STORED = (
    "not stored: the submission was refused as a whole (send partial=true to keep the valid "
    "objects)"
)


class _Candidate:
    """One parsed object on its way in; `result` is its ObjectResult as a plain dict."""

    __slots__ = ("_canonical", "index", "label", "modified", "parsed", "result")

    def __init__(self, index: int, parsed: ParsedObject, result: dict[str, Any]) -> None:
        self.index = index
        self.parsed = parsed
        self.result = result
        self.label: SharingLabel | None = None
        self.modified: datetime | None = None
        self._canonical: tuple[str, str] | None = None

    def canonical(self) -> tuple[str, str]:
        """(canonical JSON text, content hash), computed once."""
        if self._canonical is None:
            self._canonical = bulk.canonical_text(self.parsed.content)
        return self._canonical

    @property
    def accepted(self) -> bool:
        return bool(self.result["status"] == "accepted")

    def reject(self, prop: str | None, reason: str) -> None:
        self.result["status"] = "rejected"
        self.result["property"] = prop
        self.result["reason"] = reason


def _result(
    index: int,
    source: str,
    stix_id: Any,
    stix_type: Any,
    status: str,
    prop: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """An ObjectResult as the dict stored in `submission.results`."""
    return {
        "index": index,
        "source": source,
        "id": stix_id if isinstance(stix_id, str) else None,
        "type": stix_type if isinstance(stix_type, str) else None,
        "status": status,
        "property": prop,
        "reason": reason,
        "record_id": None,
    }


def _meaningful_lines(head: bytes) -> list[bytes]:
    """Up to 20 non-blank lines of `head` that are not `#` comments, inline comments cut."""
    lines: list[bytes] = []
    for raw_line in head.splitlines():
        line = raw_line.strip()
        if not line or line.startswith(b"#"):
            continue
        for mark in (b" #", b"\t#"):
            if mark in line:
                line = line.split(mark, 1)[0].rstrip()
        lines.append(line)
        if len(lines) == 20:
            break
    return lines


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
    # Lists such as Maltrail's open with `#` comments (licence, aliases, references) and may end
    # a value with one: neither makes the file prose.
    lines = _meaningful_lines(raw[:_HEAD].lstrip())
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


def parse(
    raw: bytes,
    source_format: SourceFormat,
    *,
    received_at: datetime,
    resolve_sdo: Callable[[str, str], str | None] | None = None,
    find_names: Callable[[str], list[Mention]] | None = None,
) -> ParseResult:
    """Bytes to STIX 2.1 objects and per-record errors; never raises for bad records, only for
    content that cannot be read at all (encoding, JSON syntax). `find_names` finds the families
    and actors free text names (knowledge.mentions)."""
    text = _decode(raw)
    if source_format == SourceFormat.STIX:
        from cyberfusion.intake.parsed import ParseError
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

        return parse_misp_event(_json(text), resolve_sdo=resolve_sdo)
    if source_format == SourceFormat.CSV:
        from cyberfusion.intake.csv_format import parse_csv

        return parse_csv(text, default_time=received_at, resolve_sdo=resolve_sdo)
    from cyberfusion.intake.text_format import parse_text

    return parse_text(
        text, default_time=received_at, find_names=find_names, resolve_sdo=resolve_sdo
    )


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
    """The organisation's defaults (`cyberfusion org defaults`; TLP:AMBER to itself unless set)."""
    return LabelsIn(tlp=Tlp(org.default_tlp), audience=Audience(org.default_audience))


class _Labels:
    """Sharing labels per distinct (TLP hint, content marking, audience hint): a bundle of
    100,000 objects has a handful, each resolved once."""

    def __init__(self, session: Session, org: Organisation, base: LabelsIn) -> None:
        self.session = session
        self.org = org
        self.base = base
        self.known: dict[tuple[Any, ...], SharingLabel | ValidationFailed] = {}
        self.rows: dict[str, SharingLabel] = {}

    def get(self, parsed: ParsedObject) -> SharingLabel:
        refs = parsed.content.get("object_marking_refs")
        # Keyed by the markings as written (objects of one source repeat the same few lists),
        # which is cheaper than finding the strictest TLP of each object; by that TLP when
        # the list holds something that cannot be a key.
        markings: Any = tuple(refs) if isinstance(refs, list) else refs
        key: tuple[Any, ...] = (parsed.tlp, markings, parsed.audience)
        try:
            found = self.known.get(key)
        except TypeError:
            key = (parsed.tlp, strictest_tlp(refs), parsed.audience)
            found = self.known.get(key)
        if found is None:
            try:
                labels = _labels_for(parsed, self.base)
                fingerprint = labels.model_dump_json()
                if fingerprint not in self.rows:
                    self.rows[fingerprint] = sharing_service.resolve(
                        session=self.session, owner=self.org, labels_in=labels
                    )
                found = self.rows[fingerprint]
            except ValidationFailed as exc:
                found = exc
            self.known[key] = found
        if isinstance(found, ValidationFailed):
            raise found
        return found


def _organisation(session: Session, actor: Actor) -> Organisation:
    actor.require(Permission.INTEL_OBJECT_SUBMIT)
    if actor.org_id is None:
        raise ValidationFailed("submissions belong to an organisation", field="org")
    org = session.get(Organisation, actor.org_id)
    assert org is not None
    return org


def _replay(session: Session, key: str) -> SubmissionRead | None:
    existing = session.scalars(select(Submission).where(Submission.idempotency_key == key)).first()
    return None if existing is None else to_read(existing, replayed=True)


def submit(
    *, session: Session, actor: Actor, raw: bytes, options: SubmissionOptions
) -> SubmissionRead:
    """Store a submission atomically (or, with `partial`, its valid objects) and answer per
    object. The same bytes with the same options from the same organisation get the stored
    answer again and change nothing."""
    org = _organisation(session, actor)
    if not raw.strip():
        raise ValidationFailed("the submission is empty", field="content")
    fmt = options.source_format
    if fmt == SourceFormat.AUTO:
        fmt = detect_format(raw)
    sha = hashlib.sha256(raw).hexdigest()
    key = _idempotency_key(org.id, fmt, sha, options)
    replayed = _replay(session, key)
    if replayed is not None:
        return replayed
    with collector.paused():
        if fmt == SourceFormat.CSV and bulk.is_value_list(raw[:_HEAD]):
            return _submit_list(
                session=session,
                actor=actor,
                org=org,
                stream=io.BytesIO(raw),
                sha=sha,
                key=key,
                options=options,
                name=None,
            )
        return _submit_objects(
            session=session,
            actor=actor,
            org=org,
            raw=raw,
            fmt=fmt,
            sha=sha,
            key=key,
            options=options,
        )


def submit_file(
    *,
    session: Session,
    actor: Actor,
    source: Path | BinaryIO,
    options: SubmissionOptions,
    name: str | None = None,
) -> SubmissionRead:
    """`submit` for a file: a value list is read block by block (memory does not grow with
    its size); other formats are read whole. `source` is a path or a seekable binary file;
    `name` (default: the file name) names the grouping a value list becomes."""
    if isinstance(source, Path):
        with source.open("rb") as handle:
            return submit_file(
                session=session,
                actor=actor,
                source=handle,
                options=options,
                name=name if name is not None else source.name,
            )
    org = _organisation(session, actor)
    start = source.tell()
    digest = hashlib.sha256()
    empty = True
    while block := source.read(_HASH_BLOCK):
        digest.update(block)
        empty = empty and not block.strip()
    if empty:
        raise ValidationFailed("the submission is empty", field="content")
    source.seek(start)
    head = source.read(_HEAD)
    source.seek(start)
    fmt = options.source_format
    if fmt == SourceFormat.AUTO:
        fmt = detect_format(head)
    sha = digest.hexdigest()
    key = _idempotency_key(org.id, fmt, sha, options)
    replayed = _replay(session, key)
    if replayed is not None:
        return replayed
    with collector.paused():
        if fmt == SourceFormat.CSV and bulk.is_value_list(head):
            return _submit_list(
                session=session,
                actor=actor,
                org=org,
                stream=source,
                sha=sha,
                key=key,
                options=options,
                name=name,
            )
        return _submit_objects(
            session=session,
            actor=actor,
            org=org,
            raw=source.read(),
            fmt=fmt,
            sha=sha,
            key=key,
            options=options,
        )


def _new_submission(
    session: Session,
    actor: Actor,
    org: Organisation,
    *,
    fmt: SourceFormat,
    sha: str,
    key: str,
    options: SubmissionOptions,
    received_at: datetime,
) -> Submission:
    submission = Submission(
        org_id=org.id,
        user_id=actor.user_id,
        via=actor.via,
        source_format=fmt.value,
        content_sha256=sha,
        idempotency_key=key,
        partial=options.partial,
        status="accepted",
        accepted=0,
        duplicates=0,
        rejected=0,
        results={},
        received_at=received_at,
    )
    session.add(submission)
    session.flush()
    return submission


def _finish(
    session: Session,
    actor: Actor,
    submission: Submission,
    results: list[dict[str, Any]],
) -> SubmissionRead:
    session.flush()
    if submission.status != "rejected":
        from cyberfusion.correlation import service as correlation_service

        # Flags, facts, jurisdiction, links, corroboration and match notices, in the same
        # transaction: a submission is correlated entirely or not stored at all. A large one
        # (a feed's million values) is stored at bulk speed and correlated by a job instead.
        if submission.accepted > get_settings().inline_correlation_max:
            submission.correlation = "pending"
        else:
            correlation_service.after_intake(session=session, submission_id=submission.id)
    # One orjson call instead of the ORM's json.dumps: a large bundle has 100,000 results.
    stored = {"results": results}
    statement = (
        "UPDATE submission SET results = %s::jsonb WHERE id = %s"
        if session.get_bind().dialect.name == "postgresql"
        else "UPDATE submission SET results = ? WHERE id = ?"
    )
    session.connection().exec_driver_sql(statement, (orjson.dumps(stored).decode(), submission.id))
    set_committed_value(submission, "results", stored)
    audit_service.record(
        session=session,
        actor=actor,
        action="submission.create",
        target_type="submission",
        target_id=submission.id,
        details={
            "format": submission.source_format,
            "sha256": submission.content_sha256,
            "status": submission.status,
            "accepted": submission.accepted,
            "duplicates": submission.duplicates,
            "rejected": submission.rejected,
        },
    )
    return to_read(submission, replayed=False)


def _record_status(org: Organisation, confidence: int, threshold: int | None) -> str:
    """Partners' records wait for an analyst, unless a validation rule covers them."""
    if org.kind not in UNVALIDATED_KINDS:
        return "validated"
    return "validated" if threshold is not None and confidence >= threshold else "unvalidated"


def _rule_threshold(session: Session, org: Organisation) -> int | None:
    from cyberfusion.intel.service import rule_threshold

    return rule_threshold(session=session, org_id=org.id)


# --------------------------------------------------------------------------- value lists


def _submit_list(
    *,
    session: Session,
    actor: Actor,
    org: Organisation,
    stream: BinaryIO,
    sha: str,
    key: str,
    options: SubmissionOptions,
    name: str | None,
) -> SubmissionRead:
    base = options.labels or default_labels(org)
    # A list carries no markings of its own: the submission's labels apply to all of it, and
    # labels the sharing rules refuse refuse the list.
    labels = _labels_for(ParsedObject(content={}, source="list"), base)
    label = sharing_service.resolve(session=session, owner=org, labels_in=labels)
    submission = _new_submission(
        session,
        actor,
        org,
        fmt=SourceFormat.CSV,
        sha=sha,
        key=key,
        options=options,
        received_at=utcnow(),
    )
    grouping = bulk.list_grouping(submission=submission, key=key, name=name)
    with bulk.tuned(session):
        outcome = bulk.store_list(
            session=session,
            stream=stream,
            submission=submission,
            org=org,
            label=label,
            evaluation=options.evaluation,
            status=_record_status(
                org, options.evaluation.confidence, _rule_threshold(session, org)
            ),
            partial=options.partial,
            grouping=grouping,
        )
    results = [
        _result(-1, f"row {number}", None, None, "rejected", "value", reason)
        for number, reason in outcome.rejections
    ]
    unlisted = outcome.rejected - len(outcome.rejections)
    if unlisted:
        results.append(
            _result(
                -1,
                f"rows after {outcome.rejections[-1][0]}",
                None,
                None,
                "rejected",
                "value",
                f"{unlisted:,} more rejected rows are not listed (the first "
                f"{len(outcome.rejections):,} are)",
            )
        )
    refused = bool(outcome.rejected) and not options.partial
    if outcome.rows > outcome.rejected:
        entry = _result(0, "list", outcome.stix_id, "grouping", "accepted")
        if refused:
            entry.update(status="not stored", reason=_NOT_STORED)
        elif not outcome.stored:
            entry.update(
                status="duplicate",
                reason=(
                    "every value repeats an earlier row or is already reported by your "
                    "organisation under the same labels"
                ),
            )
        else:
            entry["record_id"] = outcome.record_id
        results.append(entry)
    submission.status = "rejected" if refused else ("partial" if outcome.rejected else "accepted")
    submission.accepted = outcome.accepted
    submission.duplicates = outcome.duplicates
    submission.rejected = outcome.rejected
    return _finish(session, actor, submission, results)


# --------------------------------------------------------------------------- objects


def _submit_objects(
    *,
    session: Session,
    actor: Actor,
    org: Organisation,
    raw: bytes,
    fmt: SourceFormat,
    sha: str,
    key: str,
    options: SubmissionOptions,
) -> SubmissionRead:
    received_at = utcnow()
    from cyberfusion.knowledge import mentions as knowledge_mentions
    from cyberfusion.knowledge import service as knowledge_service

    parsed = parse(
        raw,
        fmt,
        received_at=received_at,
        resolve_sdo=knowledge_service.sdo_resolver(session=session),
        # Only free text needs the names; loading them costs a query of every alias.
        find_names=(
            knowledge_mentions.name_index(session=session).find
            if fmt == SourceFormat.TEXT
            else None
        ),
    )
    results = [
        _result(-1, error.source, None, None, "rejected", error.field or None, error.reason)
        for error in parsed.errors
    ]
    labels = _Labels(session, org, options.labels or default_labels(org))
    versions: dict[str, datetime] = {}
    candidates: list[_Candidate] = []
    seen_ids: dict[tuple[str, datetime], _Candidate] = {}
    for index, item in enumerate(parsed.objects):
        content = item.content
        cand = _Candidate(
            index,
            item,
            _result(index, item.source, content.get("id"), content.get("type"), "accepted"),
        )
        candidates.append(cand)
        try:
            stamp = content.get("modified") or content.get("created")
            modified = versions.get(stamp) if isinstance(stamp, str) else None
            if modified is None:
                modified = as_utc(_modified(content))
                if isinstance(stamp, str):
                    versions[stamp] = modified
            if modified > received_at + FUTURE_TOLERANCE:
                raise ValidationFailed(
                    f"{stamp} is in the future (received at {received_at:%Y-%m-%dT%H:%M:%SZ})",
                    field="modified" if content.get("modified") else "created",
                )
            cand.modified = modified
            cand.label = labels.get(item)
        except ValidationFailed as exc:
            cand.reject(exc.field, exc.detail)
            continue
        version_key = (str(content.get("id")), modified)
        twin = seen_ids.get(version_key)
        if twin is None:
            seen_ids[version_key] = cand
        elif twin.canonical()[1] == cand.canonical()[1]:
            cand.result["status"] = "duplicate"
        else:
            cand.reject(
                "id",
                f"{content.get('id')} appears twice in this submission "
                "with different content and the same modified time",
            )

    _mark_existing(session, org.id, [c for c in candidates if c.accepted])
    results.extend(c.result for c in candidates)
    rejected = sum(1 for r in results if r["status"] == "rejected")
    status = "accepted" if rejected == 0 else ("partial" if options.partial else "rejected")
    to_store = [c for c in candidates if c.accepted]
    if status == "rejected":
        to_store = []
        for r in results:
            if r["status"] == "accepted":
                r["status"], r["reason"] = "not stored", _NOT_STORED
    submission = _new_submission(
        session,
        actor,
        org,
        fmt=fmt,
        sha=sha,
        key=key,
        options=options,
        received_at=received_at,
    )
    submission.status = status
    submission.accepted = len(to_store)
    submission.duplicates = sum(1 for r in results if r["status"] == "duplicate")
    submission.rejected = rejected
    if to_store:
        with bulk.tuned(session):
            _store(session, actor, org, submission, to_store, fmt, options)
    return _finish(session, actor, submission, results)


def _mark_existing(session: Session, org_id: int, candidates: Sequence[_Candidate]) -> None:
    """Objects this organisation already holds: the same version with the same content is a
    duplicate; the same version with other content is refused; a generated object whose
    content differs only in its build timestamps is a duplicate of any earlier version."""
    by_id: dict[str, list[_Candidate]] = {}
    for cand in candidates:
        by_id.setdefault(str(cand.parsed.content["id"]), []).append(cand)
    ids = list(by_id)
    # Stored content is read (and decoded) only where a generated object may need comparing:
    # re-sending a large bundle must not load back every object it already stored.
    generated = any(cand.parsed.generated for cand in candidates)
    columns = (
        IntelObject.stix_id,
        IntelObject.modified,
        IntelObject.content_hash,
        IntelObject.content if generated else null().label("content"),
    )
    for start in range(0, len(ids), _CHUNK):
        # The ids of a chunk go in as ONE bound array (`in_ids`), not 20,000 parameters.
        chunk = ids[start : start + _CHUNK]
        rows = session.execute(
            select(*columns).where(
                IntelObject.owner_org_id == org_id, in_ids(session, IntelObject.stix_id, chunk)
            )
        ).all()
        for stix_id, modified, digest, content in rows:
            for cand in by_id.get(stix_id, []):
                if not cand.accepted:
                    continue
                if modified == cand.modified:
                    if digest == cand.canonical()[1]:
                        cand.result["status"] = "duplicate"
                    else:
                        version = cand.modified.isoformat() if cand.modified else ""
                        cand.reject(
                            "modified",
                            f"{stix_id} version {version} is already stored with other "
                            "content; a new version needs a new modified time",
                        )
                elif cand.parsed.generated and _semantic_hash(content) == _semantic_hash(
                    cand.parsed.content
                ):
                    cand.result["status"] = "duplicate"


def _store(
    session: Session,
    actor: Actor,
    org: Organisation,
    submission: Submission,
    candidates: Sequence[_Candidate],
    fmt: SourceFormat,
    options: SubmissionOptions,
) -> None:
    threshold = _rule_threshold(session, org)
    evaluation = options.evaluation
    now = submission.received_at
    # Values that are the same for every record, read once: the ORM attributes cost a call
    # each, and this loop runs once per object of the bundle.
    org_id, submission_id, user_id, via = org.id, submission.id, actor.user_id, actor.via
    reliability, credibility = evaluation.reliability.value, evaluation.credibility
    source_format = fmt.value
    label_ids: dict[int, int] = {}
    statuses: dict[int, str] = {}
    rows: list[tuple[Any, ...]] = []
    record_labels: list[int] = []
    for cand in candidates:
        content = cand.parsed.content
        label = cand.label
        assert label is not None and cand.modified is not None
        label_id = label_ids.get(id(label))
        if label_id is None:
            label_id = label_ids[id(label)] = label.id
        record_labels.append(label_id)
        text, digest = cand.canonical()
        confidence = content.get("confidence")
        if not isinstance(confidence, int) or isinstance(confidence, bool):
            confidence = evaluation.confidence
        status = statuses.get(confidence)
        if status is None:
            status = statuses[confidence] = _record_status(org, confidence, threshold)
        rows.append(
            (
                content["id"],
                content["type"],
                str(content.get("spec_version", "2.1")),
                cand.modified,
                text,
                digest,
                org_id,
                label_id,
                reliability,
                credibility,
                confidence,
                status,
                now,
                submission_id,
                user_id,
                via,
                source_format,
            )
        )
    record_ids = bulk.insert_records(session=session, submission_id=submission_id, rows=rows)
    pending: list[tuple[int, int, str, str]] = []
    observables_of = observable_service.observables_of
    for cand, record_id, label_id in zip(candidates, record_ids, record_labels, strict=True):
        cand.result["record_id"] = record_id
        for obs_type, value in observables_of(cand.parsed.content):
            pending.append((record_id, label_id, obs_type, value))
    observable_service.record_occurrences(
        session=session,
        org_id=org_id,
        submission_id=submission_id,
        reported_at=now,
        occurrences=pending,
    )


def to_read(submission: Submission, *, replayed: bool) -> SubmissionRead:
    # One validation call for the whole answer: pydantic-core checks the 100,000 results of a
    # large bundle in one pass instead of one Python call each.
    return SubmissionRead.model_validate(
        {
            "id": submission.id,
            "status": submission.status,
            "source_format": submission.source_format,
            "received_at": submission.received_at,
            "content_sha256": submission.content_sha256,
            "accepted": submission.accepted,
            "duplicates": submission.duplicates,
            "rejected": submission.rejected,
            "replayed": replayed,
            "correlation": submission.correlation,
            "results": submission.results.get("results", []),
        }
    )


def get_or_raise(*, session: Session, actor: Actor, submission_id: int) -> Submission:
    """Submissions are visible to their own organisation only."""
    submission = session.get(Submission, submission_id)
    if submission is None or submission.org_id != actor.org_id:
        raise NotFound(f"no submission {submission_id}")
    return submission
