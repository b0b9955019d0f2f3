"""The common output of every intake parser: STIX 2.1 objects, where each came from, label hints."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

from cyberfusion.observable.types import ObservableType
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.stix.patterns import pattern_for

# Fixed for ever: changing it changes every id the parsers generate, and re-sending the same
# file would then create new objects instead of being recognised as the same content.
ID_NAMESPACE = uuid.UUID("286e3421-029f-43ed-8682-be476e86bf78")

# STIX 2.1 section 2.9: the namespace for the deterministic ids of cyber-observable objects,
# so an SCO we build gets the same id as the one any other STIX producer builds.
SCO_NAMESPACE = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")

# STIX 2.1 section 2.9: of several hashes, the one that contributes to a file's id.
_SCO_HASH_PREFERENCE = ("MD5", "SHA-1", "SHA-256", "SHA-512")


@dataclass(frozen=True)
class ParsedObject:
    """One STIX 2.1 object produced by a parser.

    `tlp` and `audience` are hints read from the source; None means the source said nothing and
    the submission's default applies. `generated` is True for objects the parser inferred with
    no record of their own in the source (a malware named in a CSV column, the relationships
    that link indicators to it, a galaxy cluster turned into an SDO); False for the direct
    translation of one source record (an event, an attribute, a row).
    """

    content: dict[str, Any]
    source: str
    tlp: Tlp | None = None
    audience: Audience | None = None
    generated: bool = False

    @property
    def stix_id(self) -> str:
        return str(self.content["id"])


@dataclass(frozen=True)
class ParseError:
    """Why one record (or one field of it) was not imported."""

    source: str
    field: str
    reason: str


@dataclass
class ParseResult:
    objects: list[ParsedObject] = field(default_factory=list)
    errors: list[ParseError] = field(default_factory=list)


def stable_id(stix_type: str, *parts: str) -> str:
    """A deterministic STIX id: the same parts always give the same id."""
    name = "\x1f".join((stix_type, *parts))
    return f"{stix_type}--{uuid.uuid5(ID_NAMESPACE, name)}"


def sco_id(sco_type: str, contributing: dict[str, Any]) -> str:
    """The STIX 2.1 deterministic id of a cyber-observable from its id-contributing properties."""
    properties = dict(contributing)
    hashes = properties.get("hashes")
    if isinstance(hashes, dict) and len(hashes) > 1:
        chosen = next((name for name in _SCO_HASH_PREFERENCE if name in hashes), min(hashes))
        properties["hashes"] = {chosen: hashes[chosen]}
    # RFC 8785 canonical JSON; equal to this for the ASCII keys and plain values SCOs carry.
    canonical = json.dumps(properties, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{sco_type}--{uuid.uuid5(SCO_NAMESPACE, canonical)}"


def indicator_pattern(obs_type: ObservableType, value: str) -> str:
    """The pattern of one normalised observable, through `pattern_for`."""
    if obs_type is ObservableType.ASN:
        # normalise writes "AS64500"; the pattern compares the integer property.
        value = value.upper().removeprefix("AS")
    return pattern_for(obs_type, value)


def stix_timestamp(value: datetime) -> str:
    """STIX timestamp in UTC with millisecond precision, e.g. 2024-03-01T12:00:00.000Z."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def stricter_tlp(first: Tlp | None, second: Tlp | None) -> Tlp | None:
    """The stricter of two hints; a missing hint never loosens a present one."""
    if first is None:
        return second
    if second is None:
        return first
    return first if first.rank >= second.rank else second


def narrower_audience(first: Audience | None, second: Audience | None) -> Audience | None:
    """The narrower of two hints; a missing hint never widens a present one."""
    if first is None:
        return second
    if second is None:
        return first
    return first if first.rank <= second.rank else second


class ObjectCollector:
    """Gathers a parser's objects in production order, one per STIX id.

    The same object reached twice (an SCO shared by two attributes, a malware named on several
    rows) is kept once with the stricter TLP and narrower audience of both hints, so merging
    never exposes content more widely than one of its sources asked.
    """

    def __init__(self) -> None:
        self._objects: dict[str, ParsedObject] = {}

    def add(self, parsed: ParsedObject) -> ParsedObject | None:
        """Add an object; return the object already held under that id when it differs."""
        held = self._objects.get(parsed.stix_id)
        if held is None:
            self._objects[parsed.stix_id] = parsed
            return None
        if held.content != parsed.content:
            return held
        self._objects[parsed.stix_id] = replace(
            held,
            tlp=stricter_tlp(held.tlp, parsed.tlp),
            audience=narrower_audience(held.audience, parsed.audience),
        )
        return None

    def get(self, stix_id: str) -> ParsedObject | None:
        return self._objects.get(stix_id)

    def __contains__(self, stix_id: object) -> bool:
        return stix_id in self._objects

    def ids(self) -> list[str]:
        return list(self._objects)

    def objects(self) -> list[ParsedObject]:
        return list(self._objects.values())
