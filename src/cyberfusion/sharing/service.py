"""The sharing choke point.

Every read of intelligence filters with `readable_condition(actor, Model)`. The rules, one tier
inside the next:

- the owner organisation always reads its records;
- `organisations`: the listed organisations (any TLP, the only audience TLP:RED may use);
- `organisation`: the owner alone;
- `country`: law enforcement (NCB, national units) of the audience country;
- `region`: law enforcement of the region's countries and the region's desk;
- `members`: all member-country law enforcement, the desks and the hub;
- `community`: every active organisation (members, CERTs, private partners, international
  organisations);
- `public`: anyone, signed in or not; TLP:CLEAR only.

TLP caps the audience: AMBER+STRICT and RED never go beyond explicitly named organisations,
and only CLEAR goes public. Labels are validated on the way in, and the filter re-applies the
caps, so a label row written by any other path still cannot leak.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.audit import service as audit_service
from cyberfusion.core.canonical import content_hash
from cyberfusion.core.errors import PermissionDenied, ValidationFailed
from cyberfusion.notification.models import Notification
from cyberfusion.registry import service as registry_service
from cyberfusion.registry.models import Organisation, OrgKind, Region
from cyberfusion.sharing.models import Audience, SharingLabel, SharingLabelRecipient, Tlp
from cyberfusion.sharing.schemas import LabelsIn

LAW_ENFORCEMENT_KINDS = frozenset({OrgKind.NCB.value, OrgKind.NATIONAL_UNIT.value})
MEMBER_KINDS = LAW_ENFORCEMENT_KINDS | {OrgKind.DESK.value, OrgKind.HUB.value}
# TLP levels that may travel beyond explicitly named organisations.
BROAD_TLPS = (Tlp.CLEAR.value, Tlp.GREEN.value, Tlp.AMBER.value)


def readable_label_ids(actor: Actor) -> Select[int]:
    """The label rows the actor may read, as a sub-select."""
    return _readable_label_ids(actor.org_id, actor.org_kind, actor.region_code, actor.country_code)


@functools.lru_cache(maxsize=4096)
def _readable_label_ids(
    org_id: int | None, kind: str | None, region: str | None, country: str | None
) -> Select[int]:
    # Built once per reader: the rules read only these four fields of the actor, and a
    # statement is immutable. Building it took about a third of a millisecond, on every read.
    reader = Actor(None, None, org_id, None, kind, country, region)
    return select(SharingLabel.id).where(_label_predicate(reader))


def readable_condition(actor: Actor, model: Any) -> ColumnElement[bool]:
    """The SQL condition to put on any labelled table: `.where(readable_condition(actor, M))`."""
    condition: ColumnElement[bool] = model.label_id.in_(readable_label_ids(actor))
    return condition


def _label_predicate(actor: Actor) -> ColumnElement[bool]:
    label = SharingLabel
    public = and_(label.tlp == Tlp.CLEAR.value, label.audience == Audience.PUBLIC.value)
    if actor.is_anonymous:
        return public
    kind = actor.org_kind or ""
    broad = label.tlp.in_(BROAD_TLPS)
    branches: list[ColumnElement[bool]] = [
        public,
        label.owner_org_id == actor.org_id,
        and_(
            label.audience == Audience.ORGANISATIONS.value,
            label.id.in_(
                select(SharingLabelRecipient.label_id).where(
                    SharingLabelRecipient.org_id == actor.org_id
                )
            ),
        ),
        and_(broad, label.audience == Audience.COMMUNITY.value),
    ]
    if kind in MEMBER_KINDS:
        branches.append(and_(broad, label.audience == Audience.MEMBERS.value))
    if (kind in LAW_ENFORCEMENT_KINDS or kind == OrgKind.DESK.value) and actor.region_code:
        branches.append(
            and_(
                broad,
                label.audience == Audience.REGION.value,
                label.audience_region == actor.region_code,
            )
        )
    if kind in LAW_ENFORCEMENT_KINDS and actor.country_code:
        branches.append(
            and_(
                broad,
                label.audience == Audience.COUNTRY.value,
                label.audience_country == actor.country_code,
            )
        )
    return or_(*branches)


def _fingerprint(owner_org_id: int, labels: LabelsIn, recipient_ids: Sequence[int]) -> str:
    return content_hash(
        {
            "owner": owner_org_id,
            "tlp": labels.tlp.value,
            "audience": labels.audience.value,
            "country": labels.audience_country,
            "region": labels.audience_region,
            "recipients": sorted(recipient_ids),
            "nfd": labels.no_further_dissemination,
            "njd": labels.no_judicial_use,
            "cob": labels.contact_owner_before_action,
        }
    )


def normalise(
    *, session: Session, owner: Organisation, labels_in: LabelsIn
) -> tuple[LabelsIn, list[int]]:
    """Check a label set against the rules and fill in defaults; raise naming the field."""
    tlp, audience = labels_in.tlp, labels_in.audience
    data = labels_in.model_dump()
    recipient_ids: list[int] = []
    if tlp == Tlp.RED and audience != Audience.ORGANISATIONS:
        raise ValidationFailed(
            "TLP:RED needs an explicit list of recipient organisations "
            "(audience=organisations with recipients)",
            field="recipients",
        )
    if tlp == Tlp.AMBER_STRICT and audience not in (Audience.ORGANISATION, Audience.ORGANISATIONS):
        raise ValidationFailed(
            "TLP:AMBER+STRICT stays inside named organisations: use audience organisation "
            "or organisations",
            field="audience",
        )
    if audience == Audience.PUBLIC and tlp != Tlp.CLEAR:
        raise ValidationFailed("only TLP:CLEAR may have the audience public", field="audience")
    if audience == Audience.ORGANISATIONS:
        if not labels_in.recipients:
            raise ValidationFailed(
                "audience organisations needs at least one recipient", field="recipients"
            )
        for slug in sorted(set(labels_in.recipients)):
            org = registry_service.get_by_slug(session=session, slug=slug)
            if org is None:
                raise ValidationFailed(
                    f"unknown recipient organisation {slug!r}", field="recipients"
                )
            if org.id != owner.id:
                recipient_ids.append(org.id)
        data["recipients"] = sorted(set(labels_in.recipients))
    elif labels_in.recipients:
        raise ValidationFailed(
            f"recipients are only for audience organisations, not {audience.value}",
            field="recipients",
        )
    else:
        data["recipients"] = []
    data["audience_country"] = None
    data["audience_region"] = None
    if audience == Audience.COUNTRY:
        code = labels_in.audience_country or owner.country_code
        if code is None:
            raise ValidationFailed(
                "audience country needs audience_country: the owner has no country",
                field="audience_country",
            )
        data["audience_country"] = registry_service.get_country_or_raise(
            session=session, code=code, field="audience_country"
        ).iso2
    elif labels_in.audience_country:
        raise ValidationFailed(
            "audience_country is only for audience country", field="audience_country"
        )
    if audience == Audience.REGION:
        code = labels_in.audience_region or owner.region_code
        if code is None or session.get(Region, code) is None:
            raise ValidationFailed(
                "audience region needs a known audience_region (the owner has no region)"
                if code is None
                else f"unknown region {code!r}",
                field="audience_region",
            )
        data["audience_region"] = code
    elif labels_in.audience_region:
        raise ValidationFailed(
            "audience_region is only for audience region", field="audience_region"
        )
    return LabelsIn.model_validate(data), sorted(recipient_ids)


def resolve(*, session: Session, owner: Organisation, labels_in: LabelsIn) -> SharingLabel:
    """The label row for these labels, created on first use."""
    labels, recipient_ids = normalise(session=session, owner=owner, labels_in=labels_in)
    fingerprint = _fingerprint(owner.id, labels, recipient_ids)
    row = session.scalars(
        select(SharingLabel).where(SharingLabel.fingerprint == fingerprint)
    ).one_or_none()
    if row is not None:
        return row
    row = SharingLabel(
        fingerprint=fingerprint,
        owner_org_id=owner.id,
        tlp=labels.tlp.value,
        audience=labels.audience.value,
        audience_country=labels.audience_country,
        audience_region=labels.audience_region,
        no_further_dissemination=labels.no_further_dissemination,
        no_judicial_use=labels.no_judicial_use,
        contact_owner_before_action=labels.contact_owner_before_action,
        recipient_rows=[SharingLabelRecipient(org_id=org_id) for org_id in recipient_ids],
    )
    session.add(row)
    session.flush()
    return row


def loosens(old: SharingLabel, new: SharingLabel) -> str | None:
    """Why `new` would let more organisations read, or with fewer restrictions; None if not."""
    if Tlp(new.tlp).rank < Tlp(old.tlp).rank:
        return f"lowers the marking from TLP:{old.tlp.upper()} to TLP:{new.tlp.upper()}"
    old_aud, new_aud = Audience(old.audience), Audience(new.audience)
    if new_aud.rank > old_aud.rank:
        return f"widens the audience from {old_aud.value} to {new_aud.value}"
    if new_aud == old_aud:
        if new_aud == Audience.ORGANISATIONS and not set(new.recipient_org_ids) <= set(
            old.recipient_org_ids
        ):
            return "adds recipient organisations"
        if (
            new.audience_country != old.audience_country
            or new.audience_region != old.audience_region
        ):
            return "moves the audience to another country or region"
    for flag in ("no_further_dissemination", "no_judicial_use", "contact_owner_before_action"):
        if getattr(old, flag) and not getattr(new, flag):
            return f"lifts the handling restriction {flag}"
    return None


def relabel(
    *, session: Session, actor: Actor, record: Any, labels_in: LabelsIn, target_type: str
) -> SharingLabel:
    """Point a record at new labels. Only the owner may loosen; others may only tighten."""
    actor.require(Permission.INTEL_OBJECT_RELABEL)
    old: SharingLabel = record.label
    owner = session.get(Organisation, old.owner_org_id)
    assert owner is not None
    new = resolve(session=session, owner=owner, labels_in=labels_in)
    if new.id == old.id:
        return old
    reason = loosens(old, new)
    if reason is not None and actor.org_id != old.owner_org_id:
        raise PermissionDenied(
            f"only the owner organisation ({owner.slug}) may do this: the change {reason}",
            field="labels",
        )
    record.label_id = new.id
    record.label = new
    session.flush()
    audit_service.record(
        session=session,
        actor=actor,
        action="record.relabel",
        target_type=target_type,
        target_id=record.id,
        details={"from_label": old.id, "to_label": new.id},
    )
    return new


@dataclass(frozen=True)
class HitResult:
    """Readable matches in full; for the rest, only whether any exist (and, when the caller
    asked for a key column, for which keys)."""

    readable: list[Any]
    hidden_match: bool
    hidden_keys: frozenset[Any] = frozenset()


def hit_check(
    *,
    session: Session,
    actor: Actor,
    model: Any,
    condition: ColumnElement[bool],
    query_summary: str,
    key: Any = None,
) -> HitResult:
    """Look a selector up across records. The actor gets the records it may read and a bare
    yes/no for the others (per value of the `key` column, when given: which of the values
    looked up have hidden matches); each owner of a hidden match is notified of who asked."""
    actor.require(Permission.INTEL_SELECTOR_LOOKUP)
    key_column = key if key is not None else model.id
    # One statement: every matching row with its owner and whether the actor may read it (a
    # lookup is answered in milliseconds: a second statement for the hidden rows counts). The
    # rows the actor may not read are used for their owner and key only.
    rows = session.execute(
        select(
            model,
            SharingLabel.owner_org_id,
            key_column,
            readable_condition(actor, model).label("readable"),
        )
        .join(SharingLabel, SharingLabel.id == model.label_id)
        .where(condition)
    ).all()
    readable = [row[0] for row in rows if row[3]]
    hidden = [(row[1], row[0].id, row[2]) for row in rows if not row[3]]
    by_owner: dict[int, list[int]] = {}
    for owner_id, record_id, _ in hidden:
        by_owner.setdefault(owner_id, []).append(record_id)
    for owner_id, record_ids in sorted(by_owner.items()):
        session.add(
            Notification(
                recipient_org_id=owner_id,
                kind="hit",
                summary=f"{actor.org_slug or actor.label} looked up {query_summary}, "
                f"which matches {len(record_ids)} of your records it may not read",
                payload={
                    "asked_by_org": actor.org_slug,
                    "asked_by_user": actor.email,
                    "query": query_summary,
                    "record_ids": sorted(record_ids),
                },
            )
        )
    audit_service.record(
        session=session,
        actor=actor,
        action="selector.lookup",
        target_type=model.__tablename__,
        target_id=query_summary[:200],
        details={
            "readable": len(readable),
            "hidden_match": bool(hidden),
            "owners_notified": sorted(by_owner),
        },
    )
    session.flush()
    return HitResult(
        readable=readable,
        hidden_match=bool(hidden),
        hidden_keys=frozenset(row[2] for row in hidden) if key is not None else frozenset(),
    )


def recipients_slugs(session: Session, label: SharingLabel) -> list[str]:
    ids = label.recipient_org_ids
    if not ids:
        return []
    return list(session.scalars(select(Organisation.slug).where(Organisation.id.in_(ids))).all())
