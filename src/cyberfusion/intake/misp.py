"""Parse a MISP event (as MISP exports it, or as PyMISP writes it) into STIX 2.1 objects.

The mapping is documented, table by table, in docs/formats.md ("MISP event JSON"). Everything
is derived from the event itself (uuids and timestamps), so parsing the same event twice gives
byte-identical objects, and re-sending it changes nothing.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson

from cyberfusion.intake.parsed import (
    ObjectCollector,
    ParsedObject,
    ParseError,
    ParseResult,
    indicator_pattern,
    narrower_audience,
    sco_id,
    stable_id,
    stix_timestamp,
    stricter_tlp,
)
from cyberfusion.observable.normalize import InvalidObservable, normalise, normalise_typed
from cyberfusion.observable.types import STIX_MAPPING, ObservableType
from cyberfusion.sharing.models import Audience, Tlp

TLP_TAGS: dict[str, Tlp] = {
    "tlp:white": Tlp.CLEAR,  # TLP 1.0 name of CLEAR
    "tlp:clear": Tlp.CLEAR,
    "tlp:green": Tlp.GREEN,
    "tlp:amber": Tlp.AMBER,
    "tlp:amber+strict": Tlp.AMBER_STRICT,
    "tlp:red": Tlp.RED,
}

# MISP distribution levels. Nothing becomes public automatically: even "all communities" (3)
# stays within our community until the owner widens it. A sharing group (4) lists recipients
# this event cannot name, so it falls back to the owner's organisation.
DISTRIBUTION_AUDIENCE: dict[int, Audience] = {
    0: Audience.ORGANISATION,  # your organisation only
    1: Audience.COMMUNITY,  # this community only
    2: Audience.COMMUNITY,  # connected communities
    3: Audience.COMMUNITY,  # all communities
    4: Audience.ORGANISATION,  # sharing group
}
DISTRIBUTION_INHERIT = 5

# MISP attribute type -> the meaning of each "|"-separated part of its value.
ATTRIBUTE_PARTS: dict[str, tuple[str, ...]] = {
    "ip-src": ("ip",),
    "ip-dst": ("ip",),
    "ip-src|port": ("ip", "src-port"),
    "ip-dst|port": ("ip", "dst-port"),
    "domain": ("domain-name",),
    "hostname": ("domain-name",),
    "domain|ip": ("domain-name", "ip"),
    "url": ("url",),
    "uri": ("uri",),
    "email": ("email-addr",),
    "email-src": ("email-addr",),
    "email-dst": ("email-addr",),
    "md5": ("md5",),
    "sha1": ("sha1",),
    "sha256": ("sha256",),
    "sha512": ("sha512",),
    "filename|md5": ("filename", "md5"),
    "filename|sha1": ("filename", "sha1"),
    "filename|sha256": ("filename", "sha256"),
    "filename|sha512": ("filename", "sha512"),
    "btc": ("btc-address",),
    "xmr": ("xmr-address",),
    "phone-number": ("phone-number",),
    "iban": ("iban",),
    "AS": ("autonomous-system",),
}
LINK_TYPES = frozenset({"link"})
NOTE_TYPES = frozenset({"comment", "text"})
VULNERABILITY_TYPES = frozenset({"vulnerability"})

# MISP galaxy -> the STIX SDO type its clusters become. Other galaxies stay labels.
GALAXY_SDO_TYPES: dict[str, str] = {
    "threat-actor": "threat-actor",
    "mitre-intrusion-set": "intrusion-set",
    "malpedia": "malware",
    "ransomware": "malware",
    "mitre-malware": "malware",
    "tool": "malware",  # MISP's "tool" galaxy lists the adversaries' own malware (X-Agent, ...)
    "banker": "malware",
    "botnet": "malware",
    "rat": "malware",
    "stealer": "malware",
    "backdoor": "malware",
    "android": "malware",
    "exploit-kit": "malware",
    "mitre-tool": "tool",
    "mitre-attack-pattern": "attack-pattern",
    "mitre-enterprise-attack-attack-pattern": "attack-pattern",
    "mitre-mobile-attack-attack-pattern": "attack-pattern",
    "mitre-pre-attack-attack-pattern": "attack-pattern",
}

# STIX 2.1 section 4 relationship tables: an indicator "indicates" every SDO type a galaxy
# becomes; other sources have no specific relationship to them, so they use "related-to".
INDICATES_TARGETS = frozenset(
    {"threat-actor", "intrusion-set", "malware", "tool", "attack-pattern"}
)

_GALAXY_TAG = re.compile(r'^misp-galaxy:(?P<galaxy>[^=]+)="(?P<value>.+)"$', re.DOTALL)
_ATTACK_ID = re.compile(r"\s-\s(?P<id>T\d{4}(?:\.\d{3})?)$")
_URI_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_NOT_KEBAB = re.compile(r"[^a-z0-9]+")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")

_HASH_KEYS: dict[ObservableType, str] = {
    ObservableType.MD5: "MD5",
    ObservableType.SHA1: "SHA-1",
    ObservableType.SHA256: "SHA-256",
    ObservableType.SHA512: "SHA-512",
}


class _Invalid(Exception):
    """One field of one record is unusable; becomes a ParseError for that record."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True)
class _Value:
    """An attribute value split and normalised."""

    observables: tuple[tuple[ObservableType, str], ...]
    display: str  # the normalised parts joined by "|", e.g. "invoice.exe|<sha256>"
    filename: str | None = None
    port: int | None = None
    port_side: str = "dst"


@dataclass
class _Galaxy:
    content: dict[str, Any]
    source: str
    tlp: Tlp | None
    audience: Audience | None
    from_cluster: bool


@dataclass
class _Sco:
    content: dict[str, Any]
    source: str
    tlp: Tlp | None
    audience: Audience | None


@dataclass(frozen=True)
class _Context:
    """What an attribute inherits from its event or MISP object."""

    tlp: Tlp | None
    audience: Audience | None
    time: datetime


@dataclass
class _ObjectRecord:
    """A MISP object: its grouping id, position and references, kept for the second pass."""

    label: str
    misp_uuid: str
    references: list[Any]
    time: datetime
    member_ids: list[str] = field(default_factory=list)


def parse_misp_event(
    data: dict[str, Any] | str | bytes,
    *,
    resolve_sdo: Callable[[str, str], str | None] | None = None,
) -> ParseResult:
    """Parse `{"Event": {...}}` or a bare event into STIX objects and per-record errors.

    `resolve_sdo(stix_type, name)` gives the id of a known family (the reference knowledge's
    `sdo_resolver`); a galaxy cluster it knows takes that id, and the id's type.
    """
    if isinstance(data, str | bytes):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            return ParseResult(errors=[ParseError("event", "json", f"not valid JSON: {exc}")])
    if isinstance(data, dict) and isinstance(data.get("Event"), dict):
        data = data["Event"]
    if not isinstance(data, dict):
        reason = 'expected a MISP event: {"Event": {...}} or the event object itself'
        return ParseResult(errors=[ParseError("event", "Event", reason)])
    return _EventParser(data, resolve_sdo).parse()


class _EventParser:
    def __init__(
        self, event: dict[str, Any], resolve_sdo: Callable[[str, str], str | None] | None
    ) -> None:
        self.event = event
        self.resolve_sdo = resolve_sdo
        self.errors: list[ParseError] = []
        self.collector = ObjectCollector()
        self.scos: dict[str, _Sco] = {}
        self.galaxies: dict[str, _Galaxy] = {}
        self.relationships = ObjectCollector()
        self.stix_by_misp_uuid: dict[str, str] = {}
        self.links: list[dict[str, str]] = []
        self.event_uuid = ""
        self.event_time = datetime.fromtimestamp(0, UTC)
        self.report_id = ""

    # -- the event ---------------------------------------------------------------------------

    def parse(self) -> ParseResult:
        event = self.event
        try:
            event_uuid = _uuid_field(event, "uuid")
            if event_uuid is None:
                raise _Invalid("uuid", "the event has no uuid")
            info = event.get("info")
            if not isinstance(info, str) or not info.strip():
                raise _Invalid("info", "the event has no info (its title)")
            event_time = _event_time(event)
            published = _published(event) or event_time
        except _Invalid as exc:
            return ParseResult(errors=[ParseError("event", exc.field, exc.reason)])

        self.event_uuid, self.event_time = event_uuid, event_time
        source = f"event (uuid {event_uuid})"
        self.report_id = f"report--{event_uuid}"
        tags = _tag_names(event)
        event_audience = self._distribution(
            event, source=source, inherited=None, allow_inherit=False
        )
        context = _Context(tlp=_strictest_tlp(tags), audience=event_audience, time=event_time)
        labels, _ = self._galaxies_and_labels(
            tags=tags, clusters=_clusters(event), source=source, context=context
        )

        for index, attribute in enumerate(_list_field(event, "Attribute"), start=1):
            self._attribute(attribute, label=f"attribute {index}", context=context)

        records = [
            record
            for index, misp_object in enumerate(_list_field(event, "Object"), start=1)
            if (record := self._misp_object(misp_object, label=f"object {index}", context=context))
        ]
        for record in records:
            self._references(record)

        for sco in self.scos.values():
            self.collector.add(
                ParsedObject(sco.content, sco.source, tlp=sco.tlp, audience=sco.audience)
            )
        for galaxy in self.galaxies.values():
            self.collector.add(
                ParsedObject(
                    galaxy.content,
                    galaxy.source,
                    tlp=galaxy.tlp,
                    audience=galaxy.audience,
                    generated=True,
                )
            )
        for relationship in self.relationships.objects():
            self.collector.add(relationship)

        produced = self.collector.ids()
        if not produced:
            self.errors.append(
                ParseError(
                    source, "Attribute", "the event has no attribute or object that was imported"
                )
            )
            return ParseResult(errors=self.errors)
        report: dict[str, Any] = {
            "type": "report",
            "spec_version": "2.1",
            "id": self.report_id,
            "created": stix_timestamp(event_time),
            "modified": stix_timestamp(event_time),
            "name": info.strip(),
            "published": stix_timestamp(published),
            "object_refs": produced,
        }
        if labels:
            report["labels"] = labels
        if self.links:
            report["external_references"] = self.links
        report_object = ParsedObject(report, source, tlp=context.tlp, audience=context.audience)
        return ParseResult(objects=[report_object, *self.collector.objects()], errors=self.errors)

    def _distribution(
        self,
        record: dict[str, Any],
        *,
        source: str,
        inherited: Audience | None,
        allow_inherit: bool = True,
    ) -> Audience | None:
        """The audience hint of a record; an invalid level is reported and narrowed."""
        raw = record.get("distribution")
        if raw is None or raw == "":
            return inherited
        level = _int_or_none(raw)
        if level == DISTRIBUTION_INHERIT and allow_inherit:
            return inherited
        if level is None or level not in DISTRIBUTION_AUDIENCE:
            allowed = "0-5" if allow_inherit else "0-4"
            self.errors.append(
                ParseError(
                    source,
                    "distribution",
                    f"unknown distribution {raw!r} (expected {allowed}); "
                    "labelled for the owner's organisation only",
                )
            )
            return Audience.ORGANISATION
        return DISTRIBUTION_AUDIENCE[level]

    # -- galaxies and tags -------------------------------------------------------------------

    def _galaxies_and_labels(
        self,
        *,
        tags: list[str],
        clusters: list[dict[str, Any]],
        source: str,
        context: _Context,
    ) -> tuple[list[str], list[str]]:
        """Turn galaxy clusters and galaxy tags into SDOs; return (labels, SDO ids).

        The labels are every tag that is neither a TLP marking nor a galaxy that became an
        SDO, plus the tag names of clusters of other galaxies, so no tag is lost.
        """
        labels: list[str] = []
        sdo_ids: list[str] = []
        for cluster in clusters:
            galaxy_type = str(cluster.get("type") or "")
            value = cluster.get("value")
            tag_name = cluster.get("tag_name")
            if not isinstance(value, str) or not value.strip():
                self.errors.append(
                    ParseError(source, "GalaxyCluster", "a galaxy cluster has no value")
                )
                continue
            sdo_id = self._galaxy_sdo(
                galaxy_type=galaxy_type,
                value=value.strip(),
                cluster=cluster,
                source=source,
                context=context,
            )
            if sdo_id is not None:
                sdo_ids.append(sdo_id)
            else:
                labels.append(
                    tag_name
                    if isinstance(tag_name, str) and tag_name
                    else f'misp-galaxy:{galaxy_type}="{value.strip()}"'
                )
        for tag in tags:
            if tag.lower() in TLP_TAGS:
                continue
            match = _GALAXY_TAG.match(tag)
            sdo_id = None
            if match:
                sdo_id = self._galaxy_sdo(
                    galaxy_type=match["galaxy"],
                    value=match["value"].strip(),
                    cluster=None,
                    source=source,
                    context=context,
                )
            if sdo_id is not None:
                sdo_ids.append(sdo_id)
            else:
                labels.append(tag)
        return list(dict.fromkeys(labels)), list(dict.fromkeys(sdo_ids))

    def _galaxy_sdo(
        self,
        *,
        galaxy_type: str,
        value: str,
        cluster: dict[str, Any] | None,
        source: str,
        context: _Context,
    ) -> str | None:
        sdo_type = GALAXY_SDO_TYPES.get(galaxy_type)
        if sdo_type is None:
            return None
        # The id comes from the name, not the cluster uuid: the same malware named by a tag,
        # a cluster or a CSV row is then one object.
        sdo_id = stable_id(sdo_type, value.lower())
        known = self.resolve_sdo(sdo_type, value) if self.resolve_sdo is not None else None
        if known is not None:
            # An alias of a known family ("Negasteal", "APT28 - G0007") takes the family's id,
            # so reports that name it differently meet on one object.
            sdo_id, sdo_type = known, known.split("--", 1)[0]
        content: dict[str, Any] = {
            "type": sdo_type,
            "spec_version": "2.1",
            "id": sdo_id,
            # The event's time, whichever attribute names it: one content per event.
            "created": stix_timestamp(self.event_time),
            "modified": stix_timestamp(self.event_time),
            "name": value,
        }
        if sdo_type == "malware":
            content["is_family"] = True
        meta = cluster.get("meta") if cluster else None
        description = cluster.get("description") if cluster else None
        if isinstance(description, str) and description.strip():
            content["description"] = description.strip()
        synonyms = meta.get("synonyms") if isinstance(meta, dict) else None
        if isinstance(synonyms, list):
            aliases = [
                alias.strip()
                for alias in dict.fromkeys(s for s in synonyms if isinstance(s, str))
                if alias.strip() and alias.strip() != value
            ]
            if aliases:
                content["aliases"] = aliases
        if sdo_type == "attack-pattern":
            external_id = _attack_id(value, meta)
            if external_id is not None:
                content["external_references"] = [
                    {"source_name": "mitre-attack", "external_id": external_id}
                ]
        held = self.galaxies.get(sdo_id)
        if held is None:
            self.galaxies[sdo_id] = _Galaxy(
                content, source, context.tlp, context.audience, cluster is not None
            )
        else:
            if cluster is not None and not held.from_cluster:
                # A full cluster says more than a bare tag: keep its description and aliases.
                held.content, held.source, held.from_cluster = content, source, True
            held.tlp = stricter_tlp(held.tlp, context.tlp)
            held.audience = narrower_audience(held.audience, context.audience)
        return sdo_id

    def _relate_to_galaxy(
        self, source_id: str, sdo_id: str, *, source: str, context: _Context
    ) -> None:
        source_type = source_id.split("--", 1)[0]
        target_type = sdo_id.split("--", 1)[0]
        relationship_type = (
            "indicates"
            if source_type == "indicator" and target_type in INDICATES_TARGETS
            else "related-to"
        )
        self._add_relationship(
            relationship_id=stable_id("relationship", relationship_type, source_id, sdo_id),
            relationship_type=relationship_type,
            source_id=source_id,
            target_id=sdo_id,
            when=context.time,
            description=None,
            source=source,
            tlp=context.tlp,
            audience=context.audience,
            generated=True,
        )

    def _add_relationship(
        self,
        *,
        relationship_id: str,
        relationship_type: str,
        source_id: str,
        target_id: str,
        when: datetime,
        description: str | None,
        source: str,
        tlp: Tlp | None,
        audience: Audience | None,
        generated: bool,
    ) -> None:
        content: dict[str, Any] = {
            "type": "relationship",
            "spec_version": "2.1",
            "id": relationship_id,
            "created": stix_timestamp(when),
            "modified": stix_timestamp(when),
            "relationship_type": relationship_type,
            "source_ref": source_id,
            "target_ref": target_id,
        }
        if description:
            content["description"] = description
        self.relationships.add(
            ParsedObject(content, source, tlp=tlp, audience=audience, generated=generated)
        )

    # -- attributes --------------------------------------------------------------------------

    def _attribute(self, attribute: Any, *, label: str, context: _Context) -> str | None:
        """Translate one attribute; return the id of the STIX object that stands for it."""
        if not isinstance(attribute, dict):
            self.errors.append(ParseError(label, "Attribute", "not a JSON object"))
            return None
        try:
            attribute_uuid = _uuid_field(attribute, "uuid")
        except _Invalid as exc:
            self.errors.append(ParseError(label, exc.field, exc.reason))
            return None
        if attribute_uuid is None:
            # PyMISP fills in uuids; a hand-written event may not. Derive one from the
            # position so the ids stay stable for the same file.
            attribute_uuid = str(uuid.uuid5(uuid.UUID(self.event_uuid), label))
            source = label
        else:
            source = f"{label} (uuid {attribute_uuid})"
        try:
            main_id = self._attribute_objects(
                attribute, attribute_uuid=attribute_uuid, source=source, context=context
            )
        except _Invalid as exc:
            self.errors.append(ParseError(source, exc.field, exc.reason))
            return None
        if main_id is not None:
            self.stix_by_misp_uuid[attribute_uuid] = main_id
        return main_id

    def _attribute_objects(
        self,
        attribute: dict[str, Any],
        *,
        attribute_uuid: str,
        source: str,
        context: _Context,
    ) -> str | None:
        if _truthy(attribute.get("deleted")):
            raise _Invalid("deleted", "the attribute is marked deleted in MISP; not imported")
        misp_type = attribute.get("type")
        if not isinstance(misp_type, str) or not misp_type:
            raise _Invalid("type", "the attribute has no type")
        raw_value = attribute.get("value")
        if isinstance(raw_value, int) and not isinstance(raw_value, bool):
            raw_value = str(raw_value)  # hand-written events give AS numbers as integers
        if not isinstance(raw_value, str) or not raw_value.strip():
            raise _Invalid("value", "the attribute has no value")
        raw_value = raw_value.strip()
        known = (
            misp_type in ATTRIBUTE_PARTS
            or misp_type in LINK_TYPES
            or misp_type in NOTE_TYPES
            or misp_type in VULNERABILITY_TYPES
        )
        if not known:
            raise _Invalid("type", f"MISP attribute type {misp_type!r} is not supported yet")

        tags = _tag_names(attribute)
        attribute_tlp = _strictest_tlp(tags)
        own = _Context(
            tlp=attribute_tlp if attribute_tlp is not None else context.tlp,
            audience=self._distribution(attribute, source=source, inherited=context.audience),
            time=_optional_time(attribute, "timestamp") or context.time,
        )
        first_seen = _optional_time(attribute, "first_seen")
        last_seen = _optional_time(attribute, "last_seen")
        if first_seen is not None and last_seen is not None and last_seen < first_seen:
            raise _Invalid("last_seen", "last_seen is before first_seen")
        comment = attribute.get("comment")
        comment = comment.strip() if isinstance(comment, str) and comment.strip() else None

        if misp_type in LINK_TYPES:
            self._link(raw_value, comment=comment)
            return None

        if misp_type in NOTE_TYPES:
            main = self._note(attribute_uuid, raw_value, comment=comment, when=own.time)
        elif misp_type in VULNERABILITY_TYPES:
            main = self._vulnerability(attribute_uuid, raw_value, comment=comment, when=own.time)
        else:
            value = _split_value(misp_type, raw_value)
            if _truthy(attribute.get("to_ids")):
                main = self._indicator(
                    attribute_uuid,
                    value,
                    comment=comment,
                    when=own.time,
                    first_seen=first_seen,
                    last_seen=last_seen,
                )
            else:
                main = self._observed_data(
                    attribute_uuid,
                    value,
                    when=own.time,
                    first_seen=first_seen,
                    last_seen=last_seen,
                    source=source,
                    context=own,
                )
                if comment is not None:
                    self._comment_note(main["id"], comment, source=source, context=own)
        # Galaxies only once the attribute is known good: a rejected one adds nothing.
        labels, galaxy_ids = self._galaxies_and_labels(
            tags=tags, clusters=_clusters(attribute), source=source, context=own
        )
        if labels:
            main["labels"] = labels
        main_id = str(main["id"])
        self.collector.add(ParsedObject(main, source, tlp=own.tlp, audience=own.audience))
        for galaxy_id in galaxy_ids:
            self._relate_to_galaxy(main_id, galaxy_id, source=source, context=own)
        return main_id

    def _link(self, raw_value: str, *, comment: str | None) -> None:
        try:
            url = normalise(ObservableType.URL, raw_value)
        except InvalidObservable as exc:
            raise _Invalid("value", exc.reason) from exc
        if any(link["url"] == url for link in self.links):
            return
        reference = {"source_name": "link", "url": url}
        if comment is not None:
            reference["description"] = comment
        self.links.append(reference)

    def _note(
        self,
        attribute_uuid: str,
        text: str,
        *,
        comment: str | None,
        when: datetime,
    ) -> dict[str, Any]:
        note: dict[str, Any] = {
            "type": "note",
            "spec_version": "2.1",
            "id": f"note--{attribute_uuid}",
            "created": stix_timestamp(when),
            "modified": stix_timestamp(when),
            "content": text,
            "object_refs": [self.report_id],
        }
        if comment is not None:
            note["abstract"] = comment
        return note

    def _comment_note(
        self, object_id: str, comment: str, *, source: str, context: _Context
    ) -> None:
        # observed-data has no description: the attribute's comment becomes a note on it.
        note = {
            "type": "note",
            "spec_version": "2.1",
            "id": stable_id("note", object_id, "comment"),
            "created": stix_timestamp(context.time),
            "modified": stix_timestamp(context.time),
            "content": comment,
            "object_refs": [object_id],
        }
        self.collector.add(
            ParsedObject(note, source, tlp=context.tlp, audience=context.audience, generated=True)
        )

    def _vulnerability(
        self,
        attribute_uuid: str,
        raw_value: str,
        *,
        comment: str | None,
        when: datetime,
    ) -> dict[str, Any]:
        # A vulnerability is an SDO, not an observable: STIX has no SCO or pattern object for
        # it, so it is the same object whatever to_ids says.
        try:
            name = normalise(ObservableType.CVE, raw_value)
        except InvalidObservable as exc:
            raise _Invalid("value", exc.reason) from exc
        vulnerability: dict[str, Any] = {
            "type": "vulnerability",
            "spec_version": "2.1",
            "id": f"vulnerability--{attribute_uuid}",
            "created": stix_timestamp(when),
            "modified": stix_timestamp(when),
            "name": name,
            "external_references": [{"source_name": "cve", "external_id": name}],
        }
        if comment is not None:
            vulnerability["description"] = comment
        return vulnerability

    def _indicator(
        self,
        attribute_uuid: str,
        value: _Value,
        *,
        comment: str | None,
        when: datetime,
        first_seen: datetime | None,
        last_seen: datetime | None,
    ) -> dict[str, Any]:
        # domain|ip matches either of its parts: one observation expression each, OR-ed.
        try:
            pattern = " OR ".join(
                indicator_pattern(obs_type, normalised)
                for obs_type, normalised in value.observables
            )
        except ValueError as exc:
            raise _Invalid("value", str(exc)) from exc
        valid_from = first_seen or when
        indicator: dict[str, Any] = {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{attribute_uuid}",
            "created": stix_timestamp(when),
            "modified": stix_timestamp(when),
            "name": value.display,
            "pattern": pattern,
            "pattern_type": "stix",
            "valid_from": stix_timestamp(valid_from),
        }
        if last_seen is not None and last_seen > valid_from:
            indicator["valid_until"] = stix_timestamp(last_seen)
        if comment is not None:
            indicator["description"] = comment
        return indicator

    def _observed_data(
        self,
        attribute_uuid: str,
        value: _Value,
        *,
        when: datetime,
        first_seen: datetime | None,
        last_seen: datetime | None,
        source: str,
        context: _Context,
    ) -> dict[str, Any]:
        refs = self._scos_for(value, source=source, context=context)
        first = first_seen or when
        observed: dict[str, Any] = {
            "type": "observed-data",
            "spec_version": "2.1",
            "id": f"observed-data--{attribute_uuid}",
            "created": stix_timestamp(when),
            "modified": stix_timestamp(when),
            "first_observed": stix_timestamp(first),
            "last_observed": stix_timestamp(last_seen if last_seen is not None else first),
            "number_observed": 1,
            "object_refs": refs,
        }
        return observed

    def _scos_for(self, value: _Value, *, source: str, context: _Context) -> list[str]:
        """Build (or reuse) the SCOs of a value; return their ids, the main one first."""
        refs: list[str] = []
        for obs_type, normalised in value.observables:
            refs.append(
                self._sco(
                    _sco_properties(obs_type, normalised, filename=value.filename),
                    source=source,
                    context=context,
                )
            )
        if len(refs) == 2 and refs[0].startswith("domain-name--"):
            # domain|ip: the domain resolved to the address.
            held = self.scos[refs[0]].content
            held["resolves_to_refs"] = sorted({*held.get("resolves_to_refs", []), refs[1]})
        if value.port is not None:
            ip_type = value.observables[0][0]
            traffic = {
                "type": "network-traffic",
                f"{value.port_side}_ref": refs[0],
                f"{value.port_side}_port": value.port,
                # protocols is required; all a MISP ip|port says is the IP version.
                "protocols": ["ipv6" if ip_type is ObservableType.IPV6 else "ipv4"],
            }
            refs.append(self._sco(traffic, source=source, context=context))
        return refs

    def _sco(self, properties: dict[str, Any], *, source: str, context: _Context) -> str:
        sco_type = str(properties["type"])
        contributing = {key: val for key, val in properties.items() if key != "type"}
        identifier = sco_id(sco_type, contributing)
        held = self.scos.get(identifier)
        if held is None:
            content = {"type": sco_type, "spec_version": "2.1", "id": identifier, **contributing}
            self.scos[identifier] = _Sco(content, source, context.tlp, context.audience)
        else:
            held.tlp = stricter_tlp(held.tlp, context.tlp)
            held.audience = narrower_audience(held.audience, context.audience)
        return identifier

    # -- MISP objects ------------------------------------------------------------------------

    def _misp_object(
        self, misp_object: Any, *, label: str, context: _Context
    ) -> _ObjectRecord | None:
        if not isinstance(misp_object, dict):
            self.errors.append(ParseError(label, "Object", "not a JSON object"))
            return None
        try:
            object_uuid = _uuid_field(misp_object, "uuid")
            if object_uuid is None:
                raise _Invalid("uuid", "the object has no uuid")
            if _truthy(misp_object.get("deleted")):
                raise _Invalid("deleted", "the object is marked deleted in MISP; not imported")
            name = misp_object.get("name")
            if not isinstance(name, str) or not name.strip():
                raise _Invalid("name", "the object has no name")
            when = _optional_time(misp_object, "timestamp") or context.time
        except _Invalid as exc:
            self.errors.append(ParseError(label, exc.field, exc.reason))
            return None
        label = f"{label} (uuid {object_uuid})"
        own = _Context(
            tlp=context.tlp,
            audience=self._distribution(misp_object, source=label, inherited=context.audience),
            time=when,
        )
        record = _ObjectRecord(
            label=label,
            misp_uuid=object_uuid,
            references=_list_field(misp_object, "ObjectReference"),
            time=when,
        )
        for index, attribute in enumerate(_list_field(misp_object, "Attribute"), start=1):
            main_id = self._attribute(attribute, label=f"{label} attribute {index}", context=own)
            if main_id is not None and main_id not in record.member_ids:
                record.member_ids.append(main_id)
        if not record.member_ids:
            self.errors.append(
                ParseError(label, "Attribute", "no attribute of this object was imported")
            )
            return record
        # A grouping keeps the attributes of one MISP object together, and gives
        # ObjectReference something to point at.
        grouping: dict[str, Any] = {
            "type": "grouping",
            "spec_version": "2.1",
            "id": f"grouping--{object_uuid}",
            "created": stix_timestamp(when),
            "modified": stix_timestamp(when),
            "name": name.strip(),
            "context": "unspecified",
            "object_refs": record.member_ids,
        }
        comment = misp_object.get("comment")
        if isinstance(comment, str) and comment.strip():
            grouping["description"] = comment.strip()
        tlp, audience = own.tlp, own.audience
        for member_id in record.member_ids:
            member = self.collector.get(member_id)
            if member is not None:
                tlp = stricter_tlp(tlp, member.tlp)
                audience = narrower_audience(audience, member.audience)
        self.collector.add(ParsedObject(grouping, label, tlp=tlp, audience=audience))
        self.stix_by_misp_uuid[object_uuid] = grouping["id"]
        return record

    def _references(self, record: _ObjectRecord) -> None:
        for index, reference in enumerate(record.references, start=1):
            label = f"{record.label} reference {index}"
            if not isinstance(reference, dict):
                self.errors.append(ParseError(label, "ObjectReference", "not a JSON object"))
                continue
            try:
                reference_uuid = _uuid_field(reference, "uuid")
                if reference_uuid is not None:
                    label = f"{label} (uuid {reference_uuid})"
                self._reference(
                    reference, reference_uuid=reference_uuid, record=record, label=label
                )
            except _Invalid as exc:
                self.errors.append(ParseError(label, exc.field, exc.reason))

    def _reference(
        self,
        reference: dict[str, Any],
        *,
        reference_uuid: str | None,
        record: _ObjectRecord,
        label: str,
    ) -> None:
        source_uuid = _uuid_field(reference, "object_uuid") or record.misp_uuid
        target_uuid = _uuid_field(reference, "referenced_uuid")
        if target_uuid is None:
            raise _Invalid("referenced_uuid", "the reference has no referenced_uuid")
        raw_type = reference.get("relationship_type")
        relationship_type = _kebab(raw_type) if isinstance(raw_type, str) else ""
        if not relationship_type:
            raise _Invalid("relationship_type", "the reference has no relationship_type")
        source_id = self.stix_by_misp_uuid.get(source_uuid)
        if source_id is None:
            raise _Invalid(
                "object_uuid", f"{source_uuid} is not an object or attribute imported from here"
            )
        target_id = self.stix_by_misp_uuid.get(target_uuid)
        if target_id is None:
            raise _Invalid(
                "referenced_uuid",
                f"{target_uuid} is not an object or attribute imported from this event",
            )
        ends = [self.collector.get(source_id), self.collector.get(target_id)]
        tlp: Tlp | None = None
        audience: Audience | None = None
        for end in ends:
            if end is not None:
                tlp = stricter_tlp(tlp, end.tlp)
                audience = narrower_audience(audience, end.audience)
        comment = reference.get("comment")
        self._add_relationship(
            relationship_id=(
                f"relationship--{reference_uuid}"
                if reference_uuid is not None
                else stable_id("relationship", relationship_type, source_id, target_id)
            ),
            relationship_type=relationship_type,
            source_id=source_id,
            target_id=target_id,
            when=_optional_time(reference, "timestamp") or record.time,
            description=comment.strip() if isinstance(comment, str) and comment.strip() else None,
            source=label,
            tlp=tlp,
            audience=audience,
            generated=False,
        )


# -- values --------------------------------------------------------------------------------


def _split_value(misp_type: str, raw_value: str) -> _Value:
    kinds = ATTRIBUTE_PARTS[misp_type]
    parts = raw_value.split("|") if len(kinds) > 1 else [raw_value]
    if len(parts) != len(kinds):
        expected = "|".join(kinds)
        raise _Invalid("value", f"{misp_type} expects a value of the form {expected}")
    observables: list[tuple[ObservableType, str]] = []
    display: list[str] = []
    filename: str | None = None
    port: int | None = None
    port_side = "dst"
    for kind, part in zip(kinds, parts, strict=True):
        part = part.strip()
        if kind == "filename":
            if not part:
                raise _Invalid("value", "the filename part is empty")
            filename = part
            display.append(part)
        elif kind in ("src-port", "dst-port"):
            port = _port(part)
            port_side = kind.split("-", 1)[0]
            display.append(str(port))
        else:
            try:
                # normalise_typed: an IPv4-mapped IPv6 address comes back as ipv4-addr.
                obs_type, normalised = normalise_typed(_observable_type(kind, part), part)
            except InvalidObservable as exc:
                raise _Invalid("value", exc.reason) from exc
            observables.append((obs_type, normalised))
            display.append(normalised)
    return _Value(
        observables=tuple(observables),
        display="|".join(display),
        filename=filename,
        port=port,
        port_side=port_side,
    )


def _observable_type(kind: str, part: str) -> ObservableType:
    if kind == "ip":
        return ObservableType.IPV6 if ":" in part else ObservableType.IPV4
    if kind == "uri":
        if not _URI_SCHEME.match(part):
            raise _Invalid(
                "value",
                f"{part!r} is a relative URI: without scheme and host it matches nothing "
                "on its own; send it as a url with its host",
            )
        return ObservableType.URL
    return ObservableType(kind)


def _port(part: str) -> int:
    if not part.isdigit() or not 0 <= int(part) <= 65535:
        raise _Invalid("value", f"{part!r} is not a port number (0-65535)")
    return int(part)


def _sco_properties(
    obs_type: ObservableType, normalised: str, *, filename: str | None
) -> dict[str, Any]:
    """The SCO of one observable, with STIX_MAPPING's type and property."""
    mapping = STIX_MAPPING[obs_type]
    if obs_type in _HASH_KEYS:
        properties: dict[str, Any] = {
            "type": mapping.sco_type,
            "hashes": {_HASH_KEYS[obs_type]: normalised},
        }
        if filename is not None:
            properties["name"] = filename
        return properties
    property_name = mapping.object_path.split(":", 1)[1]
    if obs_type is ObservableType.ASN:
        return {"type": mapping.sco_type, property_name: int(normalised.upper().removeprefix("AS"))}
    return {"type": mapping.sco_type, property_name: normalised}


def _kebab(raw: str) -> str:
    spaced = _CAMEL_BOUNDARY.sub("-", raw.strip())
    return _NOT_KEBAB.sub("-", spaced.lower()).strip("-")


def _attack_id(value: str, meta: Any) -> str | None:
    if isinstance(meta, dict):
        external_id = meta.get("external_id")
        if isinstance(external_id, list) and external_id and isinstance(external_id[0], str):
            return external_id[0]
        if isinstance(external_id, str) and external_id:
            return external_id
    match = _ATTACK_ID.search(value)
    return match["id"] if match else None


# -- fields --------------------------------------------------------------------------------


def _list_field(record: dict[str, Any], name: str) -> list[Any]:
    value = record.get(name)
    return value if isinstance(value, list) else []


def _tag_names(record: dict[str, Any]) -> list[str]:
    """Tag names from `Tag: [{name}]` (PyMISP, MISP export) or `EventTag: [{Tag: {name}}]`."""
    names: list[str] = []
    for tag in _list_field(record, "Tag"):
        if isinstance(tag, dict) and isinstance(tag.get("name"), str):
            names.append(tag["name"].strip())
    for event_tag in _list_field(record, "EventTag"):
        tag = event_tag.get("Tag") if isinstance(event_tag, dict) else None
        if isinstance(tag, dict) and isinstance(tag.get("name"), str):
            names.append(tag["name"].strip())
    return [name for name in dict.fromkeys(names) if name]


def _strictest_tlp(tags: list[str]) -> Tlp | None:
    found: Tlp | None = None
    for tag in tags:
        found = stricter_tlp(found, TLP_TAGS.get(tag.lower()))
    return found


def _clusters(record: dict[str, Any]) -> list[dict[str, Any]]:
    clusters: list[dict[str, Any]] = []
    for galaxy in _list_field(record, "Galaxy"):
        if not isinstance(galaxy, dict):
            continue
        galaxy_type = galaxy.get("type")
        for cluster in _list_field(galaxy, "GalaxyCluster"):
            if isinstance(cluster, dict):
                # A cluster's own type is its galaxy's; older exports leave it out.
                clusters.append({"type": galaxy_type, **cluster})
    return clusters


def _uuid_field(record: dict[str, Any], name: str) -> str | None:
    raw = record.get(name)
    if raw is None or raw == "":
        return None
    try:
        return str(uuid.UUID(str(raw)))
    except ValueError:
        raise _Invalid(name, f"{raw!r} is not a UUID") from None


def _int_or_none(raw: Any) -> int | None:
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw.strip())
    return None


def _truthy(raw: Any) -> bool:
    if isinstance(raw, str):
        return raw.strip().lower() in ("1", "true", "yes")
    return bool(raw)


def _time(raw: Any, field_name: str) -> datetime:
    """A MISP time: epoch seconds (int or digits), an ISO 8601 datetime, or a date."""
    if isinstance(raw, bool):
        raise _Invalid(field_name, f"{raw!r} is not a time")
    if isinstance(raw, int | float) or (isinstance(raw, str) and raw.strip().isdigit()):
        try:
            return datetime.fromtimestamp(int(raw), UTC)
        except (OverflowError, OSError, ValueError):
            raise _Invalid(field_name, f"{raw!r} is out of range for a timestamp") from None
    if isinstance(raw, str):
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            raise _Invalid(field_name, f"{raw!r} is not an ISO 8601 time") from None
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    raise _Invalid(field_name, f"{raw!r} is not a time")


def _optional_time(record: dict[str, Any], field_name: str) -> datetime | None:
    raw = record.get(field_name)
    if raw is None or raw == "":
        return None
    return _time(raw, field_name)


def _event_date(event: dict[str, Any]) -> datetime | None:
    raw = event.get("date")
    if raw is None or raw == "":
        return None
    try:
        day = date.fromisoformat(str(raw).strip())
    except ValueError:
        raise _Invalid("date", f"{raw!r} is not a date (YYYY-MM-DD)") from None
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _event_time(event: dict[str, Any]) -> datetime:
    """When the event was last changed: timestamp, else publish_timestamp, else date."""
    for field_name in ("timestamp", "publish_timestamp"):
        value = _optional_time(event, field_name)
        if value is not None and value.timestamp() > 0:
            return value
    day = _event_date(event)
    if day is None:
        raise _Invalid(
            "timestamp",
            "the event has no timestamp, publish_timestamp or date; "
            "the STIX times must come from the event to be reproducible",
        )
    return day


def _published(event: dict[str, Any]) -> datetime | None:
    """When the event was published, else its date."""
    if _truthy(event.get("published")):
        value = _optional_time(event, "publish_timestamp")
        if value is not None and value.timestamp() > 0:
            return value
    return _event_date(event)
