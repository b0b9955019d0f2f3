"""Intelligence record logic. Every read filters through `sharing.readable_condition`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.canonical import content_hash
from cyberfusion.core.errors import Conflict, NotFound, ValidationFailed
from cyberfusion.enrichment.models import Jurisdiction
from cyberfusion.intel.models import IntelObject, ValidationRule
from cyberfusion.intel.schemas import IntelObjectCreate, IntelObjectRead
from cyberfusion.observable.models import Occurrence
from cyberfusion.registry.models import Country, Organisation
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import SharingLabel, strictest_tlp
from cyberfusion.sharing.schemas import LabelsIn, LabelsRead


def object_version(content: dict[str, Any]) -> datetime:
    """The version timestamp: `modified`, else `created`, else (SCOs) the epoch."""
    raw = content.get("modified") or content.get("created")
    if not isinstance(raw, str):
        # SCOs carry no timestamps: every report of one is the same version.
        return _EPOCH
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValidationFailed(
            f"modified {raw!r} is not an RFC 3339 timestamp", field="modified"
        ) from exc


_EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


def create(*, session: Session, actor: Actor, object_in: IntelObjectCreate) -> IntelObject:
    """Store one object version owned by the actor's organisation."""
    actor.require(Permission.INTEL_OBJECT_SUBMIT)
    if actor.org_id is None:
        raise ValidationFailed(
            "records belong to an organisation; act as a user of one", field="org"
        )
    owner = session.get(Organisation, actor.org_id)
    assert owner is not None
    content = object_in.content
    stix_id, stix_type = content.get("id"), content.get("type")
    if (
        not isinstance(stix_id, str)
        or not isinstance(stix_type, str)
        or not stix_id.startswith(f"{stix_type}--")
    ):
        raise ValidationFailed(
            "content needs a type and an id of the form <type>--<uuid>", field="id"
        )
    labels_in = object_in.labels
    marked = strictest_tlp(content.get("object_marking_refs"))
    if marked is not None and marked.rank > labels_in.tlp.rank:
        # The content's own marking is stricter than the labels asked for: it wins.
        labels_in = labels_in.model_copy(update={"tlp": marked})
    label = sharing_service.resolve(session=session, owner=owner, labels_in=labels_in)
    modified = object_version(content)
    existing = session.scalars(
        select(IntelObject).where(
            IntelObject.owner_org_id == owner.id,
            IntelObject.stix_id == stix_id,
            IntelObject.modified == modified,
        )
    ).one_or_none()
    digest = content_hash(content)
    if existing is not None:
        if existing.content_hash == digest:
            return existing
        raise Conflict(
            f"{stix_id} version {modified.isoformat()} exists with other content; "
            "a new version needs a new modified timestamp",
            field="modified",
        )
    record = IntelObject(
        stix_id=stix_id,
        stix_type=stix_type,
        spec_version=str(content.get("spec_version", "2.1")),
        modified=modified,
        content=content,
        content_hash=digest,
        owner_org_id=owner.id,
        label_id=label.id,
        label=label,
        reliability=object_in.evaluation.reliability.value,
        credibility=object_in.evaluation.credibility,
        confidence=object_in.evaluation.confidence,
    )
    session.add(record)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="record.create",
        target_type="intel_object",
        target_id=record.id,
        details={"stix_id": stix_id, "hash": digest, "label": label.id},
    )
    return record


def get_or_raise(*, session: Session, actor: Actor, record_id: int) -> IntelObject:
    """A record the actor may read; anything else is 'not found', never 'forbidden'."""
    record = session.scalars(
        select(IntelObject).where(
            IntelObject.id == record_id, sharing_service.readable_condition(actor, IntelObject)
        )
    ).one_or_none()
    if record is None:
        raise NotFound(f"no record {record_id}")
    return record


def list_(
    *, session: Session, actor: Actor, limit: int = 100, offset: int = 0
) -> Sequence[IntelObject]:
    return session.scalars(
        select(IntelObject)
        .where(sharing_service.readable_condition(actor, IntelObject))
        .order_by(IntelObject.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()


def count(*, session: Session, actor: Actor) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(IntelObject)
            .where(sharing_service.readable_condition(actor, IntelObject))
        )
        or 0
    )


def weekly_counts(
    *, session: Session, actor: Actor, weeks: int, until: datetime
) -> list[tuple[datetime, int]]:
    """Readable records received in each of the `weeks` weeks before `until`, oldest first: one
    query over the period (a sum per week), whatever the number of records."""
    starts = [until - timedelta(weeks=weeks - n) for n in range(weeks)]
    ends = [*starts[1:], until]
    sums = [
        func.sum(
            case((and_(IntelObject.created_at >= start, IntelObject.created_at < end), 1), else_=0)
        )
        for start, end in zip(starts, ends, strict=True)
    ]
    row = session.execute(
        select(*sums).where(
            IntelObject.created_at >= starts[0],
            IntelObject.created_at < until,
            sharing_service.readable_condition(actor, IntelObject),
        )
    ).one()
    return [(start, int(n or 0)) for start, n in zip(starts, row, strict=True)]


SEARCHED_PROPERTIES = ("name", "description", "pattern", "value")


def _searchable_text() -> ColumnElement[str]:
    """The properties a text search reads, as one string. Reading four properties is about a
    third of the cost of serialising the whole content to text on PostgreSQL."""
    parts = [func.coalesce(IntelObject.content[key].as_string(), "") for key in SEARCHED_PROPERTIES]
    joined: ColumnElement[str] = parts[0]
    for part in parts[1:]:
        joined = joined.concat(" ").concat(part)
    return joined


def _search_conditions(
    actor: Actor,
    *,
    text: str | None,
    stix_type: str | None,
    tlp: str | None,
    status: str | None,
    since: datetime | None,
    until: datetime | None,
    country: str | None = None,
    source_org_id: int | None = None,
) -> list[ColumnElement[bool]]:
    conditions = [sharing_service.readable_condition(actor, IntelObject)]
    if country:
        # A record concerns a country when one of the values it reports does: a jurisdiction
        # of the value, or a report of it by an organisation of that member country that the
        # actor may read (who reported what is not stored apart from the reports).
        code = country.upper()
        reporter = aliased(Occurrence)
        organisations = (
            select(Organisation.id)
            .join(Country, Country.iso2 == Organisation.country_code)
            .where(Organisation.country_code == code, Country.is_member.is_(True))
        )
        conditions.append(
            exists().where(
                Occurrence.intel_object_id == IntelObject.id,
                or_(
                    exists().where(
                        Jurisdiction.observable_id == Occurrence.observable_id,
                        Jurisdiction.country_code == code,
                    ),
                    exists().where(
                        reporter.observable_id == Occurrence.observable_id,
                        reporter.owner_org_id.in_(organisations),
                        sharing_service.readable_condition(actor, reporter),
                    ),
                ),
            )
        )
    if source_org_id is not None:
        conditions.append(IntelObject.owner_org_id == source_org_id)
    if text:
        escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        conditions.append(
            _searchable_text().ilike(f"%{escaped}%", escape="\\") | (IntelObject.stix_id == text)
        )
    if stix_type:
        conditions.append(IntelObject.stix_type == stix_type)
    if tlp:
        conditions.append(
            IntelObject.label_id.in_(select(SharingLabel.id).where(SharingLabel.tlp == tlp))
        )
    if status:
        conditions.append(IntelObject.status == status)
    if since is not None:
        conditions.append(IntelObject.created_at >= since)
    if until is not None:
        conditions.append(IntelObject.created_at < until)
    return conditions


def search(
    *,
    session: Session,
    actor: Actor,
    text: str | None = None,
    stix_type: str | None = None,
    tlp: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    country: str | None = None,
    source_org_id: int | None = None,
    limit: int = 50,
    offset: int = 0,
) -> tuple[Sequence[IntelObject], int]:
    """Readable records matching every given filter, newest first, and how many match in all.

    `country` keeps records reporting a value that concerns that country (its jurisdiction, or
    a report of the value by an organisation of that country that the actor may read);
    `source_org_id` keeps records of that organisation."""
    conditions = _search_conditions(
        actor,
        text=text,
        stix_type=stix_type,
        tlp=tlp,
        status=status,
        since=since,
        until=until,
        country=country,
        source_org_id=source_org_id,
    )
    rows = (
        session.execute(
            # The total rides along as a window count: one scan of the matches, not two.
            select(IntelObject, func.count().over())
            .where(*conditions)
            .order_by(IntelObject.id.desc())
            .limit(limit)
            .offset(offset)
        ).all()
        if limit > 0
        else []
    )
    if rows:
        return [row[0] for row in rows], int(rows[0][1])
    # No row on this page (or none asked for): the total needs its own count.
    total = session.scalar(select(func.count()).select_from(IntelObject).where(*conditions)) or 0
    return [], total


def count_by(*, session: Session, actor: Actor, column: str) -> dict[str, int]:
    """How many readable records per STIX type or per status (`column`: stix_type, status)."""
    grouped = {"stix_type": IntelObject.stix_type, "status": IntelObject.status}.get(column)
    if grouped is None:
        raise ValidationFailed(
            f"records are counted by stix_type or status, not {column!r}", field="column"
        )
    rows = session.execute(
        select(grouped, func.count())
        .where(sharing_service.readable_condition(actor, IntelObject))
        .group_by(grouped)
        .order_by(func.count().desc(), grouped)
    ).all()
    return {str(key): int(n) for key, n in rows}


def versions(*, session: Session, actor: Actor, stix_id: str) -> Sequence[IntelObject]:
    """Every readable version of one STIX object, newest first."""
    return session.scalars(
        select(IntelObject)
        .where(
            IntelObject.stix_id == stix_id, sharing_service.readable_condition(actor, IntelObject)
        )
        .order_by(IntelObject.modified.desc(), IntelObject.id.desc())
    ).all()


def relabel(*, session: Session, actor: Actor, record_id: int, labels_in: LabelsIn) -> IntelObject:
    record = get_or_raise(session=session, actor=actor, record_id=record_id)
    label = sharing_service.relabel(
        session=session, actor=actor, record=record, labels_in=labels_in, target_type="intel_object"
    )
    # Occurrences carry their record's label so lookups filter without a join; they follow it.
    session.execute(
        update(Occurrence).where(Occurrence.intel_object_id == record.id).values(label_id=label.id)
    )
    return record


def to_read(session: Session, record: IntelObject) -> IntelObjectRead:
    label = record.label
    owner = session.get(Organisation, record.owner_org_id)
    assert owner is not None
    return IntelObjectRead(
        id=record.id,
        stix_id=record.stix_id,
        stix_type=record.stix_type,
        modified=record.modified,
        content=record.content,
        content_hash=record.content_hash,
        owner=owner.slug,
        labels=LabelsRead(
            owner=owner.slug,
            tlp=label.tlp,
            audience=label.audience,
            audience_country=label.audience_country,
            audience_region=label.audience_region,
            recipients=sharing_service.recipients_slugs(session, label),
            no_further_dissemination=label.no_further_dissemination,
            no_judicial_use=label.no_judicial_use,
            contact_owner_before_action=label.contact_owner_before_action,
        ),
        reliability=record.reliability,
        credibility=record.credibility,
        confidence=record.confidence,
        status=record.status,
        created_at=record.created_at,
    )


VALIDATION_DECISIONS = ("validated", "rejected")


def validate(
    *, session: Session, actor: Actor, record_id: int, decision: str, reason: str = ""
) -> IntelObject:
    """An analyst's decision on a record: only validated records may enter products."""
    actor.require(Permission.INTEL_OBJECT_VALIDATE)
    if decision not in VALIDATION_DECISIONS:
        raise ValidationFailed(
            f"decision must be one of {', '.join(VALIDATION_DECISIONS)}, not {decision!r}",
            field="decision",
        )
    record = get_or_raise(session=session, actor=actor, record_id=record_id)
    if record.status != decision:
        previous, record.status = record.status, decision
        session.flush()
        if "rejected" in (previous, decision):
            _reassess(session, [record.id])
        audit_service.record(
            session=session,
            actor=actor,
            action=f"record.{decision}",
            target_type="intel_object",
            target_id=record.id,
            details={"from": previous, "reason": reason},
        )
    return record


def _reassess(session: Session, record_ids: Sequence[int]) -> None:
    """A rejected record stops corroborating its values (and one no longer rejected counts
    again): recompute their assessment in the same transaction."""
    from cyberfusion.correlation import service as correlation_service

    observable_ids = session.scalars(
        select(Occurrence.observable_id)
        .where(Occurrence.intel_object_id.in_(record_ids))
        .distinct()
    ).all()
    correlation_service.assess(session=session, observable_ids=observable_ids)


def validate_submission(
    *, session: Session, actor: Actor, submission_id: int, decision: str, reason: str = ""
) -> int:
    """Decide on every record of a submission the analyst may read; returns how many changed."""
    actor.require(Permission.INTEL_OBJECT_VALIDATE)
    if decision not in VALIDATION_DECISIONS:
        raise ValidationFailed(
            f"decision must be one of {', '.join(VALIDATION_DECISIONS)}, not {decision!r}",
            field="decision",
        )
    readable = sharing_service.readable_condition(actor, IntelObject)
    records = session.scalars(
        select(IntelObject).where(IntelObject.submission_id == submission_id, readable)
    ).all()
    if not records:
        raise NotFound(f"no submission {submission_id} with records you may read")
    changed = [r for r in records if r.status != decision]
    touches_rejected = decision == "rejected" or any(r.status == "rejected" for r in changed)
    for record in changed:
        record.status = decision
    session.flush()
    if changed and touches_rejected:
        _reassess(session, [r.id for r in changed])
    audit_service.record(
        session=session,
        actor=actor,
        action=f"submission.{decision}",
        target_type="submission",
        target_id=submission_id,
        details={"records": len(records), "changed": len(changed), "reason": reason},
    )
    return len(changed)


def add_rule(
    *, session: Session, actor: Actor, org_slug: str, min_confidence: int
) -> ValidationRule:
    """Let an organisation's records from `min_confidence` up enter validated."""
    actor.require(Permission.INTEL_OBJECT_VALIDATE)
    if not 0 <= min_confidence <= 100:
        raise ValidationFailed("min_confidence is 0 to 100", field="min_confidence")
    from cyberfusion.registry import service as registry_service

    org = registry_service.get_by_slug_or_raise(session=session, slug=org_slug, field="org")
    rule = ValidationRule(org_id=org.id, min_confidence=min_confidence, created_by=actor.label)
    session.add(rule)
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="validation_rule.create",
        target_type="validation_rule",
        target_id=rule.id,
        details={"org": org.slug, "min_confidence": min_confidence},
    )
    return rule


def list_rules(*, session: Session, actor: Actor) -> Sequence[ValidationRule]:
    actor.require(Permission.INTEL_OBJECT_VALIDATE)
    return session.scalars(
        select(ValidationRule).where(ValidationRule.active.is_(True)).order_by(ValidationRule.id)
    ).all()


def rule_threshold(*, session: Session, org_id: int) -> int | None:
    """The lowest confidence from which this organisation's records enter validated, if any."""
    return session.scalar(
        select(func.min(ValidationRule.min_confidence)).where(
            ValidationRule.org_id == org_id, ValidationRule.active.is_(True)
        )
    )


def apply_rules(*, session: Session, actor: Actor) -> int:
    """Validate the waiting records that a rule now covers; returns how many."""
    actor.require(Permission.INTEL_OBJECT_VALIDATE)
    changed = 0
    for rule in list_rules(session=session, actor=actor):
        records = session.scalars(
            select(IntelObject).where(
                IntelObject.owner_org_id == rule.org_id,
                IntelObject.status == "unvalidated",
                IntelObject.confidence >= rule.min_confidence,
            )
        ).all()
        for record in records:
            record.status = "validated"
        changed += len(records)
        if records:
            audit_service.record(
                session=session,
                actor=actor,
                action="validation_rule.apply",
                target_type="validation_rule",
                target_id=rule.id,
                details={"records": len(records)},
            )
    session.flush()
    return changed
