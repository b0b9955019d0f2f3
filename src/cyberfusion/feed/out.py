"""Feeds out: blocklists (plain text per type, CSV) and a MISP feed of what an actor may read,
scoped to an audience tier.

A tier stands for a circle of organisations (schemas.Tier). The feed for a tier holds every
value shared at least as widely as the tier: what any organisation of the tier may read,
leaving out what the caller holds for itself or was given by name. It is defined with the
sharing filter itself: `tier_reader(actor, tier)` is an actor standing for "an organisation of
the tier that holds nothing of its own", and a value enters the feed when the caller AND that
reader may read it (the reader's rights are always within the caller's, since the caller
belongs to the tier). The `org` tier is everything the caller may read. A tier the caller does
not belong to does not exist for it (404), as with TAXII collections.

Blocklists hold the values of the latest version of each readable record, revoked records
left out, validated records only unless asked otherwise (records from partners enter products
once validated), and never a value a warninglist flags unless an analyst cleared it
(`enrichment.service.noise_condition`). The MISP feed (`manifest.json`, `hashes.csv`,
`<uuid>.json`) has one event per day records were stored, each built by
`export.service.export_misp`; docs/feeds.md has the details.
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import ColumnElement, false, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, aliased

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import NotFound, Unauthenticated
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.export import service as export_service
from cyberfusion.export.service import ExportFilters, StatusFilter
from cyberfusion.feed.models import FeedOutEvent
from cyberfusion.feed.schemas import BlocklistKind, Tier
from cyberfusion.intake.csv_format import COLUMNS
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.types import ObservableType
from cyberfusion.registry.models import OrgKind
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import SharingLabel, Tlp

BATCH_SIZE = 5000
# An organisation id no organisation has (ids start at 1): a tier reader owns nothing and is
# named as recipient of nothing.
NO_ORGANISATION = -1
# Fixed for ever: the MISP event uuids derive from it, so a MISP instance pulling the feed
# updates its events instead of adding new ones.
FEED_OUT_NAMESPACE = uuid.UUID("9a4e2c71-3d5b-4f08-b6e1-7c2d8f5a0e93")
# The organisation MISP records as the creator of our feed's events.
ORGC = {
    "name": "cyberfusion",
    "uuid": str(uuid.uuid5(FEED_OUT_NAMESPACE, "orgc")),
}

BLOCKLIST_TYPES: dict[BlocklistKind, tuple[ObservableType, ...]] = {
    BlocklistKind.IP: (ObservableType.IPV4, ObservableType.IPV6),
    BlocklistKind.DOMAIN: (ObservableType.DOMAIN,),
    BlocklistKind.URL: (ObservableType.URL,),
}


# -- tiers -----------------------------------------------------------------------------------


def _member_of(actor: Actor, tier: Tier) -> bool:
    kind = actor.org_kind or ""
    law_enforcement = kind in sharing_service.LAW_ENFORCEMENT_KINDS
    if tier == Tier.PUBLIC:
        return True
    if actor.is_anonymous:
        return False
    if tier == Tier.COUNTRY:
        return law_enforcement and actor.country_code is not None
    if tier == Tier.REGION:
        return (law_enforcement or kind == OrgKind.DESK.value) and actor.region_code is not None
    if tier == Tier.MEMBERS:
        return kind in sharing_service.MEMBER_KINDS
    return True  # ORG and COMMUNITY: every organisation


def tier_reader(actor: Actor, tier: Tier) -> Actor:
    """The actor whose reading rights define the tier's feed (see the module docstring)."""
    if actor.is_anonymous and tier != Tier.PUBLIC:
        raise Unauthenticated(f"the {tier.value} feeds need credentials")
    if not actor.is_anonymous:
        actor.require(Permission.INTEL_OBJECT_READ)
    if not _member_of(actor, tier):
        raise NotFound(f"no {tier.value} feeds for your organisation")
    if tier == Tier.PUBLIC:
        return Actor.anonymous()
    if tier == Tier.ORG:
        return actor
    kind = actor.org_kind
    country = actor.country_code if tier == Tier.COUNTRY else None
    region = actor.region_code if tier in (Tier.COUNTRY, Tier.REGION) else None
    if tier == Tier.COMMUNITY:
        kind = None
    return Actor(
        user_id=None,
        email=None,
        org_id=NO_ORGANISATION,
        org_slug=None,
        org_kind=kind,
        country_code=country,
        region_code=region,
        permissions=frozenset({Permission.INTEL_OBJECT_READ}),
        via="feed-out",
    )


def scope_key(actor: Actor, tier: Tier) -> str:
    """What the tier's content depends on: `org:<slug>`, `country:<CC>`, `region:<code>`,
    `members`, `community` or `public`."""
    if tier == Tier.ORG:
        return f"org:{actor.org_slug}"
    if tier == Tier.COUNTRY:
        return f"country:{actor.country_code}"
    if tier == Tier.REGION:
        return f"region:{actor.region_code}"
    return tier.value


# -- what is in a tier -----------------------------------------------------------------------


def _latest(reader: Actor) -> ColumnElement[bool]:
    """No later version of the same object from the same owner that the reader may read."""
    newer = aliased(IntelObject)
    return ~(
        select(newer.id)
        .where(
            newer.owner_org_id == IntelObject.owner_org_id,
            newer.stix_id == IntelObject.stix_id,
            newer.modified > IntelObject.modified,
            sharing_service.readable_condition(reader, newer),
        )
        .exists()
    )


def _readable(actor: Actor, reader: Actor) -> list[ColumnElement[bool]]:
    """Occurrence and record both readable by the caller and the tier's reader."""
    conditions = [
        sharing_service.readable_condition(actor, Occurrence),
        # The record's own label too: the current one, if it was relabelled.
        sharing_service.readable_condition(actor, IntelObject),
    ]
    if reader is not actor:
        conditions += [
            sharing_service.readable_condition(reader, Occurrence),
            sharing_service.readable_condition(reader, IntelObject),
        ]
    return conditions


def _not_revoked() -> ColumnElement[bool]:
    return func.coalesce(IntelObject.content["revoked"].as_boolean(), false()).is_(false())


@dataclass(frozen=True)
class ListedValue:
    obs_type: str
    value: str
    first_reported: datetime
    last_reported: datetime
    confidence: int


def listed_values(
    *,
    session: Session,
    actor: Actor,
    tier: Tier,
    types: Sequence[ObservableType] = (),
    status: StatusFilter = StatusFilter.VALIDATED,
    since: datetime | None = None,
) -> Iterator[ListedValue]:
    """Each value of the tier's blocklist once, in the order values were first stored; with
    when it was first and last reported and the highest confidence of the records."""
    reader = tier_reader(actor, tier)
    conditions = [
        *_readable(actor, reader),
        _latest(reader),
        _not_revoked(),
        ~enrichment_service.noise_condition(Observable.id),
    ]
    if types:
        conditions.append(Observable.obs_type.in_([t.value for t in types]))
    if status != StatusFilter.ANY:
        conditions.append(IntelObject.status == status.value)
    if since is not None:
        conditions.append(IntelObject.created_at > as_utc(since))
    statement = (
        select(
            Observable.id,
            Observable.obs_type,
            Observable.value,
            func.min(Occurrence.reported_at),
            func.max(Occurrence.reported_at),
            func.max(IntelObject.confidence),
        )
        .join(Occurrence, Occurrence.observable_id == Observable.id)
        .join(IntelObject, IntelObject.id == Occurrence.intel_object_id)
        .where(*conditions)
        .group_by(Observable.id, Observable.obs_type, Observable.value)
        .order_by(Observable.id)
    )
    return _listed(session, statement)


def _listed(session: Session, statement: Any) -> Iterator[ListedValue]:
    last = 0
    while True:
        rows: Sequence[Any] = session.execute(
            statement.where(Observable.id > last).limit(BATCH_SIZE)
        ).all()
        for row in rows:
            yield ListedValue(
                obs_type=row[1],
                value=row[2],
                first_reported=as_utc(row[3]),
                last_reported=as_utc(row[4]),
                confidence=int(row[5]),
            )
        if len(rows) < BATCH_SIZE:
            return
        last = rows[-1][0]


def blocklist_text(
    *,
    session: Session,
    actor: Actor,
    tier: Tier,
    kind: BlocklistKind,
    status: StatusFilter = StatusFilter.VALIDATED,
    since: datetime | None = None,
) -> Iterator[bytes]:
    """One value a line (IP addresses and CIDR blocks, domains or URLs), as chunks."""
    values = listed_values(
        session=session,
        actor=actor,
        tier=tier,
        types=BLOCKLIST_TYPES[kind],
        status=status,
        since=since,
    )
    return _text_chunks(values)


def _text_chunks(values: Iterator[ListedValue]) -> Iterator[bytes]:
    batch: list[str] = []
    for item in values:
        # A value with a line break would split into two entries on the other side.
        if "\n" in item.value or "\r" in item.value:
            continue
        batch.append(item.value)
        if len(batch) == BATCH_SIZE:
            yield ("\n".join(batch) + "\n").encode()
            batch = []
    if batch:
        yield ("\n".join(batch) + "\n").encode()


def blocklist_csv(
    *,
    session: Session,
    actor: Actor,
    tier: Tier,
    kinds: Sequence[BlocklistKind] = (),
    status: StatusFilter = StatusFilter.VALIDATED,
    since: datetime | None = None,
) -> Iterator[bytes]:
    """CSV with our intake header (docs/formats.md, "CSV"), one row per value: first_seen and
    last_seen are when the value was first and last reported here, confidence the highest."""
    types = [t for kind in kinds for t in BLOCKLIST_TYPES[kind]]
    values = listed_values(
        session=session, actor=actor, tier=tier, types=types, status=status, since=since
    )
    return _csv_chunks(values)


def _stamp(value: datetime) -> str:
    return as_utc(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _csv_chunks(values: Iterator[ListedValue]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for count, item in enumerate(values, start=1):
        writer.writerow(
            (
                item.obs_type,
                item.value,
                _stamp(item.first_reported),
                _stamp(item.last_reported),
                "",
                "",
                item.confidence,
                "",
            )
        )
        if count % BATCH_SIZE == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


# -- MISP feed -------------------------------------------------------------------------------


def _day_of(session: Session, column: Any) -> Any:
    """The UTC date of a stored time, as YYYY-MM-DD text, on either database."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite keeps UTC times as text: the date is its first ten characters.
    return func.substr(column, 1, 10)


def _event_conditions(reader: Actor) -> list[ColumnElement[bool]]:
    """What `export_misp` puts in an event for the reader (its filters bar the day)."""
    return [
        sharing_service.readable_condition(reader, Occurrence),
        sharing_service.readable_condition(reader, IntelObject),
        _latest(reader),
        IntelObject.status == StatusFilter.VALIDATED.value,
        Observable.obs_type.in_([t.value for t in export_service.MISP_TYPES]),
        ~enrichment_service.noise_condition(Observable.id),
    ]


@dataclass(frozen=True)
class _Day:
    # A digest of what the day's event holds: it changes when a row enters or leaves the
    # event or a record changes labels.
    fingerprint: str
    # The strictest TLP among the day's records: the event's tag.
    tlp: Tlp


def _days(session: Session, reader: Actor) -> dict[str, _Day]:
    """Each day with records in the reader's feed."""
    day = _day_of(session, IntelObject.created_at)
    rows = session.execute(
        select(
            day,
            SharingLabel.tlp,
            func.count(Occurrence.id),
            func.sum(Occurrence.id),
            func.sum(IntelObject.label_id),
            func.max(IntelObject.id),
        )
        .select_from(Occurrence)
        .join(Observable, Observable.id == Occurrence.observable_id)
        .join(IntelObject, IntelObject.id == Occurrence.intel_object_id)
        .join(SharingLabel, SharingLabel.id == IntelObject.label_id)
        .where(*_event_conditions(reader))
        .group_by(day, SharingLabel.tlp)
        .order_by(day, SharingLabel.tlp)
    ).all()
    parts: dict[str, list[str]] = {}
    levels: dict[str, list[Tlp]] = {}
    for row in rows:
        day_text = str(row[0])
        parts.setdefault(day_text, []).append(":".join(str(v) for v in row[1:]))
        levels.setdefault(day_text, []).append(Tlp(row[1]))
    return {
        day_text: _Day(
            fingerprint=hashlib.sha256("|".join(items).encode()).hexdigest(),
            tlp=max(levels[day_text], key=lambda level: level.rank),
        )
        for day_text, items in parts.items()
    }


def event_uuid_for(scope: str, day_text: str) -> str:
    return str(uuid.uuid5(FEED_OUT_NAMESPACE, f"{scope}/{day_text}"))


def _refresh(session: Session, scope: str, current: dict[str, _Day]) -> dict[str, FeedOutEvent]:
    """The published timestamp of each day's event, moved to now where the content changed
    (and always forward, as MISP compares them)."""
    stored = {
        row.day: row
        for row in session.scalars(select(FeedOutEvent).where(FeedOutEvent.scope == scope))
    }
    now = int(utcnow().timestamp())
    for day_text, day in sorted(current.items()):
        row = stored.get(day_text)
        if row is None:
            _insert_new(session, scope, day_text, day.fingerprint, now)
        elif row.fingerprint != day.fingerprint:
            row.fingerprint = day.fingerprint
            row.timestamp = max(now, row.timestamp + 1)
    session.flush()
    return {
        row.day: row
        for row in session.scalars(select(FeedOutEvent).where(FeedOutEvent.scope == scope))
        if row.day in current
    }


def _insert_new(session: Session, scope: str, day_text: str, fingerprint: str, now: int) -> None:
    # Two requests may publish the same new day at once: the first insert stands.
    values = {
        "scope": scope,
        "day": day_text,
        "event_uuid": event_uuid_for(scope, day_text),
        "fingerprint": fingerprint,
        "timestamp": now,
    }
    if session.get_bind().dialect.name == "postgresql":
        session.execute(pg_insert(FeedOutEvent).values(values).on_conflict_do_nothing())
    else:
        session.execute(sqlite_insert(FeedOutEvent).values(values).on_conflict_do_nothing())


def _info(scope: str, day_text: str) -> str:
    return f"cyberfusion feed ({scope}): indicators stored on {day_text}"


def misp_manifest(*, session: Session, actor: Actor, tier: Tier) -> dict[str, Any]:
    """`manifest.json`: one entry per day with records, by event uuid."""
    reader = tier_reader(actor, tier)
    scope = scope_key(actor, tier)
    days = _days(session, reader)
    events = _refresh(session, scope, days)
    manifest: dict[str, Any] = {}
    for day_text, row in sorted(events.items()):
        manifest[row.event_uuid] = {
            "Orgc": dict(ORGC),
            "Tag": [{"name": f"tlp:{days[day_text].tlp.value}"}],
            "info": _info(scope, day_text),
            "date": day_text,
            "analysis": 2,
            "threat_level_id": 4,
            "timestamp": row.timestamp,
        }
    return manifest


def misp_event(*, session: Session, actor: Actor, tier: Tier, event_uuid: str) -> bytes:
    """`<uuid>.json`: the day's event, as `export_misp` builds it for the tier's reader, with
    the feed's uuid, title, creator and timestamp."""
    reader = tier_reader(actor, tier)
    scope = scope_key(actor, tier)
    events = _refresh(session, scope, _days(session, reader))
    row = next((r for r in events.values() if r.event_uuid == event_uuid), None)
    if row is None:
        raise NotFound(f"no event {event_uuid} in this feed")
    return orjson.dumps({"Event": _build_event(session, reader, scope, row)})


def _build_event(session: Session, reader: Actor, scope: str, row: FeedOutEvent) -> dict[str, Any]:
    start = datetime.combine(date.fromisoformat(row.day), datetime.min.time(), tzinfo=UTC)
    filters = ExportFilters(
        # `added_after` is exclusive: start one microsecond before midnight.
        added_after=start - timedelta(microseconds=1),
        added_before=start + timedelta(days=1),
        status=StatusFilter.VALIDATED,
    )
    raw = b"".join(export_service.export_misp(session=session, actor=reader, filters=filters))
    event: dict[str, Any] = orjson.loads(raw)["Event"]
    attributes = event.get("Attribute", [])
    noise = _noise(session, {str(a["value"]) for a in attributes})
    if noise:
        event["Attribute"] = [a for a in attributes if str(a["value"]) not in noise]
    event.update(
        uuid=row.event_uuid,
        info=_info(scope, row.day),
        date=row.day,
        timestamp=str(row.timestamp),
        published=True,
        Orgc=dict(ORGC),
    )
    return event


def _noise(session: Session, values: set[str]) -> set[str]:
    """The values among `values` that a warninglist (or another noise source) flags and no
    analyst cleared: products leave them out."""
    ordered = sorted(values)
    found: set[str] = set()
    for start in range(0, len(ordered), BATCH_SIZE):
        found.update(
            session.scalars(
                select(Observable.value).where(
                    Observable.value.in_(ordered[start : start + BATCH_SIZE]),
                    enrichment_service.noise_condition(Observable.id),
                )
            )
        )
    return found


def misp_hashes(*, session: Session, actor: Actor, tier: Tier) -> Iterator[bytes]:
    """`hashes.csv`: `<md5 of an attribute value>,<event uuid>`, one line per attribute."""
    reader = tier_reader(actor, tier)
    scope = scope_key(actor, tier)
    events = _refresh(session, scope, _days(session, reader))
    return _hash_lines(session, reader, scope, [events[d] for d in sorted(events)])


def _hash_lines(
    session: Session, reader: Actor, scope: str, rows: list[FeedOutEvent]
) -> Iterator[bytes]:
    for row in rows:
        event = _build_event(session, reader, scope, row)
        lines = [
            f"{hashlib.md5(str(a['value']).encode(), usedforsecurity=False).hexdigest()},"
            f"{row.event_uuid}\n"
            for a in event.get("Attribute", [])
        ]
        yield "".join(lines).encode()
