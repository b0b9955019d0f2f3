"""Export what an actor may read, streamed: a STIX 2.1 bundle, a MISP event or CSV.

Every read goes through `sharing_service.readable_condition`. Rows come in batches ordered by
id (keyset pagination), so an export of any size holds one batch in memory, never the whole.
What each format contains is documented in docs/formats.md ("Export").
"""

from __future__ import annotations

import csv
import enum
import io
import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from sqlalchemy import ColumnElement, Row, Select, select
from sqlalchemy.orm import Session, aliased

from cyberfusion.account.permissions import Permission
from cyberfusion.account.schemas import Actor
from cyberfusion.core.canonical import canonical_json
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.export import value_list as value_list_service
from cyberfusion.intake.csv_format import COLUMNS, THREAT_TYPES
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.observable.types import ObservableType
from cyberfusion.sharing import service as sharing_service
from cyberfusion.sharing.models import (
    TLP_BY_MARKING_ID,
    TLP_MARKING_IDS,
    TLP_ORDER,
    Audience,
    SharingLabel,
    Tlp,
)
from cyberfusion.stix.upgrade import tlp2_marking_definition

BATCH_SIZE = 1000

# Fixed for ever: the MISP event and attribute uuids derive from it, so exporting the same view
# again gives the same uuids and a MISP instance updates its event instead of adding another.
EXPORT_NAMESPACE = uuid.UUID("5c3f0a0e-2b7d-4f57-8f0e-6a4f1d9b7c21")


class ExportFormat(enum.StrEnum):
    STIX = "stix"
    MISP = "misp"
    CSV = "csv"


class StatusFilter(enum.StrEnum):
    VALIDATED = "validated"
    UNVALIDATED = "unvalidated"
    ANY = "any"


MEDIA_TYPES: dict[ExportFormat, str] = {
    ExportFormat.STIX: "application/stix+json;version=2.1",
    ExportFormat.MISP: "application/json",
    ExportFormat.CSV: "text/csv",
}
FILE_SUFFIXES: dict[ExportFormat, str] = {
    ExportFormat.STIX: ".json",
    ExportFormat.MISP: ".json",
    ExportFormat.CSV: ".csv",
}

# STIX 2.1 section 3.1 type names, which also covers our observable type names ("md5", "cve").
_TYPE_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,248}[a-z0-9]")
_TLP_ID_LEVELS: dict[str, Tlp] = {marking: level for level, marking in TLP_MARKING_IDS.items()}
# Every TLP id an object may carry, 1.0 ones included: the export replaces them all.
_ALL_TLP_IDS = frozenset(TLP_BY_MARKING_ID)


class ExportFilters(BaseModel):
    """Which readable records an export holds. Every filter narrows; none widens."""

    model_config = ConfigDict(extra="forbid")

    types: list[str] = Field(
        default_factory=list,
        description="STIX types (indicator, malware, x-mitre-tactic, ...); for CSV and MISP "
        "also observable types (ipv4-addr, md5, ...); empty: all",
    )
    added_after: datetime | None = Field(
        default=None, description="only records stored after this time"
    )
    added_before: datetime | None = Field(
        default=None, description="only records stored before this time"
    )
    modified_after: datetime | None = Field(
        default=None, description="only versions whose STIX modified time is after this time"
    )
    tlp: list[Tlp] = Field(
        default_factory=list, description="only records whose current TLP is one of these"
    )
    status: StatusFilter = StatusFilter.ANY
    limit: int | None = Field(
        default=None,
        ge=1,
        description="at most this many STIX objects (not counting the TLP marking "
        "definitions), CSV rows or MISP attributes",
    )
    all_versions: bool = Field(
        default=False, description="every stored version, not only the latest of each object"
    )

    @field_validator("types")
    @classmethod
    def _check_types(cls, value: list[str]) -> list[str]:
        for name in value:
            if not _TYPE_NAME.fullmatch(name):
                raise ValueError(
                    f"{name!r} is not a STIX or observable type name "
                    "(3-250 lower-case letters, digits and hyphens)"
                )
        return list(dict.fromkeys(value))

    @field_validator("added_after", "added_before", "modified_after")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else as_utc(value)

    @field_validator("added_before")
    @classmethod
    def _after_start(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        start = info.data.get("added_after")
        if value is not None and start is not None and value <= start:
            raise ValueError(
                f"added_before ({value.isoformat()}) must be later than added_after "
                f"({start.isoformat()})"
            )
        return value


def parse_filters(data: dict[str, Any]) -> ExportFilters:
    """Build filters from adapter input; a bad value raises ValidationFailed naming the field."""
    try:
        return ExportFilters.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "filters"
        message = str(first["msg"]).removeprefix("Value error, ")
        if first["type"] != "value_error":
            message += f" (got {first['input']!r})"
        raise ValidationFailed(message, field=field) from exc


def export(
    *, session: Session, actor: Actor, export_format: ExportFormat, filters: ExportFilters
) -> Iterator[bytes]:
    """The export in `export_format`, as chunks of bytes."""
    exporters: dict[ExportFormat, Callable[..., Iterator[bytes]]] = {
        ExportFormat.STIX: export_stix,
        ExportFormat.MISP: export_misp,
        ExportFormat.CSV: export_csv,
    }
    return exporters[export_format](session=session, actor=actor, filters=filters)


def _require_read(actor: Actor) -> None:
    # The public reads public TLP:CLEAR without an account; the filter does the rest.
    if not actor.is_anonymous:
        actor.require(Permission.INTEL_OBJECT_READ)


# -- what a record looks like in the export ----------------------------------------------------


def with_tlp_marking(content: dict[str, Any], tlp: Tlp) -> dict[str, Any]:
    """`content` whose object_marking_refs carry `tlp`, the record's current label.

    TLP refs (2.0 or 1.0) in the content are replaced by the label's, which is the marking in
    force now: intake takes the strictest marking of the content and labels only tighten after,
    unless the owner itself lowered them. Other refs keep their places. A TLP marking-definition
    is returned unchanged (a definition is not marked with itself), and so is content that
    already carries exactly this TLP; otherwise a new dict is returned.
    """
    if content.get("type") == "marking-definition" and content.get("id") in _ALL_TLP_IDS:
        return content
    marking = TLP_MARKING_IDS[tlp]
    refs = content.get("object_marking_refs")
    refs = refs if isinstance(refs, list) else []
    tlp_refs = [ref for ref in refs if isinstance(ref, str) and ref in _ALL_TLP_IDS]
    if tlp_refs == [marking]:
        return content
    updated: list[Any] = []
    for ref in refs:
        if isinstance(ref, str) and ref in _ALL_TLP_IDS:
            if marking not in updated:
                updated.append(marking)  # where the content had its TLP
        elif ref not in updated:
            updated.append(ref)
    if marking not in updated:
        updated.append(marking)
    return {**content, "object_marking_refs": updated}


def _tlps_referenced(obj: dict[str, Any]) -> set[Tlp]:
    """The TLP 2.0 levels an object refers to, in object or granular markings."""
    refs: list[Any] = list(obj.get("object_marking_refs") or [])
    granular = obj.get("granular_markings")
    if isinstance(granular, list):
        refs.extend(m.get("marking_ref") for m in granular if isinstance(m, dict))
    return {_TLP_ID_LEVELS[ref] for ref in refs if isinstance(ref, str) and ref in _TLP_ID_LEVELS}


@dataclass(frozen=True)
class _Label:
    tlp: Tlp
    audience: Audience


class _Labels:
    """Label rows by id, read once each: an export touches a handful of them."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.rows: dict[int, _Label] = {}

    def load(self, label_ids: set[int]) -> None:
        missing = label_ids - self.rows.keys()
        if not missing:
            return
        for label_id, tlp, audience in self.session.execute(
            select(SharingLabel.id, SharingLabel.tlp, SharingLabel.audience).where(
                SharingLabel.id.in_(missing)
            )
        ):
            self.rows[label_id] = _Label(Tlp(tlp), Audience(audience))

    def __getitem__(self, label_id: int) -> _Label:
        return self.rows[label_id]


# -- queries -----------------------------------------------------------------------------------


def _latest(actor: Actor, model: Any) -> ColumnElement[bool]:
    """No later version of the same object from the same owner that the actor may read.

    Versions the actor may not read do not hide the ones it may: it gets the latest it can
    read, as it would reading records one by one.
    """
    newer = aliased(IntelObject)
    return ~(
        select(newer.id)
        .where(
            newer.owner_org_id == model.owner_org_id,
            newer.stix_id == model.stix_id,
            newer.modified > model.modified,
            sharing_service.readable_condition(actor, newer),
        )
        .exists()
    )


def _version_conditions(
    actor: Actor, filters: ExportFilters, model: Any
) -> list[ColumnElement[bool]]:
    """Readable, matching the filters (but `types`), and the latest version unless asked."""
    conditions: list[ColumnElement[bool]] = [sharing_service.readable_condition(actor, model)]
    if filters.added_after is not None:
        conditions.append(model.created_at > filters.added_after)
    if filters.added_before is not None:
        conditions.append(model.created_at < filters.added_before)
    if filters.modified_after is not None:
        conditions.append(model.modified > filters.modified_after)
    if filters.tlp:
        # A sub-select, not a join: the sharing filter's own sub-select on the label table
        # must not be correlated to an outer one.
        conditions.append(
            model.label_id.in_(
                select(SharingLabel.id).where(SharingLabel.tlp.in_([t.value for t in filters.tlp]))
            )
        )
    if filters.status != StatusFilter.ANY:
        conditions.append(model.status == filters.status.value)
    if not filters.all_versions:
        conditions.append(_latest(actor, model))
    return conditions


def _keyset(
    session: Session, statement: Select[Any], key: Any, limit: int | None
) -> Iterator[Sequence[Row[Any]]]:
    """`statement`'s rows in batches ordered by `key` (its first column), `limit` in all."""
    last = 0
    remaining = limit
    while remaining is None or remaining > 0:
        size = BATCH_SIZE if remaining is None else min(BATCH_SIZE, remaining)
        rows = session.execute(statement.where(key > last).order_by(key).limit(size)).all()
        if not rows:
            return
        yield rows
        last = rows[-1][0]
        if remaining is not None:
            remaining -= len(rows)
        if len(rows) < size:
            return


# -- STIX --------------------------------------------------------------------------------------


def export_stix(*, session: Session, actor: Actor, filters: ExportFilters) -> Iterator[bytes]:
    """A STIX 2.1 bundle of the readable objects, as chunks of bytes.

    Latest version per (owner, id) unless `filters.all_versions`; one copy of an object two
    owners hold in the same version; each object's object_marking_refs carry its current TLP
    (`with_tlp_marking`), and the TLP 2.0 marking definitions of the levels used close the
    bundle. Everything else, custom objects and properties included, is exported as stored.
    """
    _require_read(actor)
    return _stix_chunks(session, actor, filters)


def _stix_conditions(actor: Actor, filters: ExportFilters, model: Any) -> list[ColumnElement[bool]]:
    conditions = _version_conditions(actor, filters, model)
    if filters.types:
        by_type = model.stix_type.in_(filters.types)
        if "indicator" in filters.types:
            # A value list's grouping stands for its indicators (export/value_list.py): it is
            # read for them even when groupings themselves are not asked for.
            by_type = by_type | value_list_service.value_list_condition(model)
        conditions.append(by_type)
    return conditions


class _Members:
    """The members of the bundle's `objects` array as bytes, comma-separated across chunks."""

    def __init__(self) -> None:
        self.started = False

    def join(self, parts: Sequence[bytes]) -> bytes:
        if not parts:
            return b""
        data = b",".join(parts)
        if self.started:
            return b"," + data
        self.started = True
        return data

    def stream(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """One member written in several chunks."""
        first = True
        for chunk in chunks:
            if first and self.started:
                chunk = b"," + chunk
            first = False
            yield chunk
        self.started = True


def _stix_chunks(session: Session, actor: Actor, filters: ExportFilters) -> Iterator[bytes]:
    twin = aliased(IntelObject)
    # Two owners may hold the very same version (both imported ATT&CK); a bundle holds one
    # object per (id, modified), so the first stored copy that passes the filters stands.
    first_copy = ~(
        select(twin.id)
        .where(
            twin.stix_id == IntelObject.stix_id,
            twin.modified == IntelObject.modified,
            twin.id < IntelObject.id,
            *_stix_conditions(actor, filters, twin),
        )
        .exists()
    )
    statement = select(
        IntelObject.id,
        IntelObject.label_id,
        IntelObject.content,
        value_list_service.value_list_condition(IntelObject).label("value_list"),
    ).where(*_stix_conditions(actor, filters, IntelObject), first_copy)
    lists_wanted = not filters.types or "indicator" in filters.types
    labels = _Labels(session)
    used: set[Tlp] = set()
    definitions_sent: set[str] = set()
    members = _Members()
    remaining = filters.limit
    yield b'{"type":"bundle","id":"bundle--' + str(uuid.uuid4()).encode() + b'","objects":['
    for rows in _keyset(session, statement, IntelObject.id, None):
        labels.load({row.label_id for row in rows})
        parts: list[bytes] = []
        for row in rows:
            if remaining is not None and remaining <= 0:
                break
            obj = with_tlp_marking(row.content, labels[row.label_id].tlp)
            used |= _tlps_referenced(obj)
            if not row.value_list:
                if obj.get("type") == "marking-definition":
                    definitions_sent.add(str(obj.get("id")))
                parts.append(orjson.dumps(obj))
                remaining = None if remaining is None else remaining - 1
                continue
            # A value list: its grouping (object_refs naming the indicators), then one
            # indicator per readable value, streamed, never the whole list in memory.
            yield members.join(parts)
            parts = []
            if not filters.types or "grouping" in filters.types:
                ids = value_list_service.generated_ids(
                    session=session, actor=actor, grouping=obj, record_id=row.id
                )
                yield from members.stream(value_list_service.grouping_chunks(obj, ids))
                remaining = None if remaining is None else remaining - 1
            if not lists_wanted or (remaining is not None and remaining <= 0):
                continue
            made = value_list_service.indicators(
                obj,
                value_list_service.listed(
                    session=session, actor=actor, record_id=row.id, limit=remaining
                ),
            )
            batch: list[bytes] = []
            count = 0
            for indicator in made:
                batch.append(orjson.dumps(indicator))
                count += 1
                if len(batch) >= BATCH_SIZE:
                    yield members.join(batch)
                    batch = []
            yield members.join(batch)
            if remaining is not None:
                remaining -= count
        yield members.join(parts)
        if remaining is not None and remaining <= 0:
            break
    definitions = [
        orjson.dumps(tlp2_marking_definition(level))
        for level in TLP_ORDER
        if level in used and TLP_MARKING_IDS[level] not in definitions_sent
    ]
    yield members.join(definitions) + b"]}"


# -- observables (CSV and MISP) ----------------------------------------------------------------


@dataclass(frozen=True)
class _Reported:
    """One observable as one record reported it."""

    obs_type: ObservableType
    value: str
    record_id: int
    stix_id: str
    stix_type: str
    owner_org_id: int
    content: dict[str, Any]
    confidence: int
    modified: datetime
    created_at: datetime
    label: _Label


def _occurrence_batches(
    session: Session, actor: Actor, filters: ExportFilters
) -> Iterator[list[_Reported]]:
    """The readable (observable, record) pairs, in batches. A row is kept when its record's
    STIX type or its observable type is in `filters.types`."""
    conditions = [
        sharing_service.readable_condition(actor, Occurrence),
        # The record's own label too: it is the current one if the record was relabelled.
        *_version_conditions(actor, filters, IntelObject),
    ]
    if filters.types:
        conditions.append(
            IntelObject.stix_type.in_(filters.types) | Observable.obs_type.in_(filters.types)
        )
    statement = (
        select(
            Occurrence.id,
            Observable.obs_type,
            Observable.value,
            IntelObject.id.label("record_id"),
            IntelObject.stix_id,
            IntelObject.stix_type,
            IntelObject.owner_org_id,
            IntelObject.content,
            IntelObject.confidence,
            IntelObject.modified,
            IntelObject.created_at,
            IntelObject.label_id,
        )
        .join(Observable, Observable.id == Occurrence.observable_id)
        .join(IntelObject, IntelObject.id == Occurrence.intel_object_id)
        .where(*conditions)
    )
    labels = _Labels(session)
    for rows in _keyset(session, statement, Occurrence.id, filters.limit):
        labels.load({row.label_id for row in rows})
        yield [
            _Reported(
                obs_type=ObservableType(row.obs_type),
                value=row.value,
                record_id=row.record_id,
                stix_id=row.stix_id,
                stix_type=row.stix_type,
                owner_org_id=row.owner_org_id,
                content=row.content,
                confidence=row.confidence,
                modified=as_utc(row.modified),
                created_at=as_utc(row.created_at),
                label=labels[row.label_id],
            )
            for row in rows
        ]


def _text(content: dict[str, Any], name: str) -> str:
    value = content.get(name)
    return value if isinstance(value, str) else ""


def _seen(item: _Reported) -> tuple[str, str]:
    """(first seen, last seen) as the record states them; empty where it says nothing."""
    if item.stix_type == "indicator":
        return _text(item.content, "valid_from"), _text(item.content, "valid_until")
    if item.stix_type == "observed-data":
        return _text(item.content, "first_observed"), _text(item.content, "last_observed")
    return "", ""


# -- CSV ---------------------------------------------------------------------------------------

_WORD_SEPARATORS = re.compile(r"[\s_]+")
# A spreadsheet runs a cell starting with one of these as a formula (CSV injection).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def export_csv(*, session: Session, actor: Actor, filters: ExportFilters) -> Iterator[bytes]:
    """CSV with the documented intake header, one row per (observable, record), as chunks."""
    _require_read(actor)
    return _csv_chunks(session, actor, filters)


def _threat_type(content: dict[str, Any]) -> str:
    """The word CSV intake kept in `labels` when it maps to the indicator type, else the type."""
    labels = content.get("labels")
    types = content.get("indicator_types")
    if not isinstance(types, list) or not types or not isinstance(types[0], str):
        return ""
    if (
        isinstance(labels, list)
        and len(labels) == 1
        and isinstance(labels[0], str)
        and types == [THREAT_TYPES.get(_WORD_SEPARATORS.sub("-", labels[0].lower()), "unknown")]
    ):
        return labels[0]
    return types[0]


def _cell(text: str) -> str:
    """Free text as a cell a spreadsheet will not execute."""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _malware_names(session: Session, actor: Actor, indicator_ids: set[str]) -> dict[str, list[str]]:
    """Names of the malware each indicator `indicates`, relationship and malware readable."""
    if not indicator_ids:
        return {}
    rel = IntelObject
    targets: dict[str, set[str]] = {}
    for (content,) in session.execute(
        select(rel.content).where(
            rel.stix_type == "relationship",
            sharing_service.readable_condition(actor, rel),
            _latest(actor, rel),
            rel.content["relationship_type"].as_string() == "indicates",
            rel.content["source_ref"].as_string().in_(sorted(indicator_ids)),
        )
    ):
        target = content.get("target_ref")
        if isinstance(target, str) and target.startswith("malware--"):
            targets.setdefault(str(content["source_ref"]), set()).add(target)
    malware_ids = set().union(*targets.values()) if targets else set()
    names: dict[str, set[str]] = {}
    if malware_ids:
        for stix_id, content in session.execute(
            select(rel.stix_id, rel.content).where(
                rel.stix_id.in_(sorted(malware_ids)),
                sharing_service.readable_condition(actor, rel),
                _latest(actor, rel),
            )
        ):
            name = content.get("name")
            if isinstance(name, str) and name.strip():
                names.setdefault(stix_id, set()).add(name.strip())
    return {
        indicator: sorted(set().union(*(names.get(t, set()) for t in malware)))
        for indicator, malware in targets.items()
    }


def _csv_chunks(session: Session, actor: Actor, filters: ExportFilters) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield buffer.getvalue().encode()
    for batch in _occurrence_batches(session, actor, filters):
        malware = _malware_names(
            session, actor, {item.stix_id for item in batch if item.stix_type == "indicator"}
        )
        buffer.seek(0)
        buffer.truncate()
        for item in batch:
            first_seen, last_seen = _seen(item)
            names = malware.get(item.stix_id, []) if item.stix_type == "indicator" else []
            writer.writerow(
                (
                    item.obs_type.value,
                    item.value,
                    first_seen,
                    last_seen,
                    _cell(_threat_type(item.content) if item.stix_type == "indicator" else ""),
                    # One column, one name: the first by name when an indicator has several.
                    _cell(names[0] if names else ""),
                    item.confidence,
                    _cell(_text(item.content, "description")),
                )
            )
        yield buffer.getvalue().encode()


# -- MISP --------------------------------------------------------------------------------------

# The inverse of intake's MISP mapping. MISP has no Ethereum attribute type: those are left out.
MISP_TYPES: dict[ObservableType, str] = {
    ObservableType.IPV4: "ip-dst",
    ObservableType.IPV6: "ip-dst",
    ObservableType.DOMAIN: "domain",
    ObservableType.URL: "url",
    ObservableType.EMAIL: "email-src",
    ObservableType.MD5: "md5",
    ObservableType.SHA1: "sha1",
    ObservableType.SHA256: "sha256",
    ObservableType.SHA512: "sha512",
    ObservableType.CVE: "vulnerability",
    ObservableType.BTC: "btc",
    ObservableType.XMR: "xmr",
    ObservableType.PHONE: "phone-number",
    ObservableType.IBAN: "iban",
    ObservableType.ASN: "AS",
}
# MISP's default category of each type (its describeTypes.json "sane_defaults").
MISP_CATEGORIES: dict[str, str] = {
    "ip-dst": "Network activity",
    "domain": "Network activity",
    "url": "Network activity",
    "AS": "Network activity",
    "email-src": "Payload delivery",
    "md5": "Payload delivery",
    "sha1": "Payload delivery",
    "sha256": "Payload delivery",
    "sha512": "Payload delivery",
    "vulnerability": "External analysis",
    "btc": "Financial fraud",
    "xmr": "Financial fraud",
    "iban": "Financial fraud",
    "phone-number": "Person",
}
# MISP distribution: 0 your organisation only, 1 this community only, 3 all communities.
# An explicit list of organisations has no MISP equivalent short of a sharing group the event
# cannot define, so it stays with the receiving organisation.
MISP_DISTRIBUTION: dict[Audience, int] = {
    Audience.ORGANISATION: 0,
    Audience.ORGANISATIONS: 0,
    Audience.COUNTRY: 1,
    Audience.REGION: 1,
    Audience.MEMBERS: 1,
    Audience.COMMUNITY: 1,
    Audience.PUBLIC: 3,
}


def export_misp(*, session: Session, actor: Actor, filters: ExportFilters) -> Iterator[bytes]:
    """One MISP event (`{"Event": {...}}`) whose attributes are the readable observables, one
    per (observable, record), as chunks of bytes.

    The event uuid derives from the actor's organisation and the filters, so exporting the same
    view again gives the same event (a MISP instance updates it); `timestamp` is the export time.
    """
    _require_read(actor)
    return _misp_chunks(session, actor, filters)


def event_uuid(actor: Actor, filters: ExportFilters) -> str:
    view = {"org": actor.org_slug, "filters": filters.model_dump(mode="json")}
    return str(uuid.uuid5(EXPORT_NAMESPACE, "event\x1f" + canonical_json(view).decode()))


def _epoch(value: datetime) -> str:
    return str(int(value.timestamp()))


def _attribute(item: _Reported, misp_type: str) -> dict[str, Any]:
    key = "\x1f".join(
        ("attribute", str(item.owner_org_id), item.stix_id, item.obs_type.value, item.value)
    )
    # SCOs have no timestamps (their version time is the epoch): when they were stored, then.
    changed = item.modified if item.modified.timestamp() > 0 else item.created_at
    tags = [f"tlp:{item.label.tlp.value}"]
    labels = item.content.get("labels")
    if isinstance(labels, list):
        tags.extend(
            label
            for label in labels
            if isinstance(label, str) and label.strip() and not label.lower().startswith("tlp:")
        )
    attribute: dict[str, Any] = {
        "uuid": str(uuid.uuid5(EXPORT_NAMESPACE, key)),
        "type": misp_type,
        "category": MISP_CATEGORIES[misp_type],
        "value": item.value,
        "to_ids": item.stix_type == "indicator",
        "distribution": str(MISP_DISTRIBUTION[item.label.audience]),
        "timestamp": _epoch(changed),
        "comment": _text(item.content, "description"),
        "Tag": [{"name": name} for name in dict.fromkeys(tags)],
    }
    first_seen, last_seen = _seen(item)
    if first_seen:
        attribute["first_seen"] = first_seen
        if last_seen and _stix_time(last_seen) >= _stix_time(first_seen):
            attribute["last_seen"] = last_seen
    return attribute


def _stix_time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _misp_chunks(session: Session, actor: Actor, filters: ExportFilters) -> Iterator[bytes]:
    now = utcnow()
    header = {
        "uuid": event_uuid(actor, filters),
        "info": f"cyberfusion export for {actor.org_slug or 'the public'}",
        "date": now.astimezone(UTC).date().isoformat(),
        "timestamp": _epoch(now),
        "published": False,
        "analysis": "2",  # complete
        "threat_level_id": "4",  # undefined
    }
    # The attributes are streamed inside the event; the event's own distribution and TLP tag,
    # known only at the end, follow them (JSON objects have no key order).
    yield b'{"Event":' + orjson.dumps(header)[:-1] + b',"Attribute":['
    widest = -1
    strictest: Tlp | None = None
    separator = b""
    for batch in _occurrence_batches(session, actor, filters):
        parts: list[bytes] = []
        for item in batch:
            misp_type = MISP_TYPES.get(item.obs_type)
            if misp_type is None:
                continue
            widest = max(widest, MISP_DISTRIBUTION[item.label.audience])
            if strictest is None or item.label.tlp.rank > strictest.rank:
                strictest = item.label.tlp
            parts.append(orjson.dumps(_attribute(item, misp_type)))
        if parts:
            yield separator + b",".join(parts)
            separator = b","
    # The event is seen by as many as its widest attribute (MISP shows an attribute only to
    # those who see its event); its TLP tag is the strictest, each attribute carrying its own.
    tail: dict[str, Any] = {"distribution": str(max(widest, 0))}
    if strictest is not None:
        tail["Tag"] = [{"name": f"tlp:{strictest.value}"}]
    yield b"]," + orjson.dumps(tail)[1:] + b"}"
