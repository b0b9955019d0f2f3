"""The STIX 2.1 validation gate: every object entering the platform passes through here once.

Plain-Python checks against the STIX 2.1 specification (OASIS Standard, 10 June 2021), written
to be fast enough for bulk submissions (tens of thousands of objects per second) and to name
the exact property and rule that failed. The checks stay close to the OASIS JSON schemas and
the MUST rules of `stix2-validator`; where they differ it is on purpose:

- Object types: an unknown type is accepted only when it is custom, i.e. starts with `x-` or is
  declared by an `extension-definition--` extension of type new-sdo, new-sco or new-sro.
  A custom object that carries `created` or `modified` (or is declared new-sdo/new-sro) is held
  to the SDO common rules; otherwise it is taken for a custom observable (as our own
  `x-phone-number` and `x-cryptocurrency-wallet` objects are) and needs only `type` and `id`.
- Identifiers: `<type>--<UUID>` with an RFC 4122 UUID (version 1-5, variant 10). The spec says
  SCO ids SHOULD be UUIDv5 derived from their ID contributing properties; we also accept v4,
  as many producers use it and a SHOULD is no ground for refusal. The MUST cases are enforced:
  `process` ids, and SCOs of the five types with optional contributing properties that carry
  none of them, must be UUIDv4.
- `created`/`modified` must have millisecond precision on SDOs, SROs, language-content,
  extension-definition and custom objects (spec 3.2); marking-definition `created` need only
  be RFC 3339, as in the OASIS schema.
- Unknown property names are accepted when they are valid property names (a-z, 0-9, `_`,
  3-250 characters): custom properties and top-level extension properties look alike, and the
  `x_` prefix is only a SHOULD. Their values are not interpreted, except that null, an empty
  list, and a `_hex`/`_bin` value that is not hex/base64 are refused.
- References: every reference property the spec defines must be an identifier, and of an
  allowed type where the spec restricts it (e.g. `created_by_ref` -> identity; `sighting_of_ref`
  -> an SDO or custom object; relationship ends -> SDO, SCO or custom object). Custom `*_ref`
  properties are left alone (ATT&CK, for one, leaves some empty). Whether a referenced object
  exists is not checked: references may point to objects sent earlier or later.
- A granular marking carries exactly one of `marking_ref` and `lang` (spec 7.2.3), and each
  selector must resolve to a property of the object.
- TLP markings: the TLP 1.0 ids must be the spec's four `tlp` definitions, and the TLP 2.0 ids
  must carry the OASIS TLP 2.0 extension with the matching level and name.
- Deprecated `observed-data.objects` is accepted: each entry needs a valid `type`, and its
  `*_ref(s)` must name keys of the same dictionary.
- Indicators with `pattern_type: "stix"` have their pattern checked by `patterns.check_pattern`
  with the grammar of their `pattern_version` (2.1 unless it says 2.0); other pattern types
  (sigma, yara, snort, ...) are carried as opaque strings.
- Objects still at `spec_version: "2.0"` are refused here; `validate_bundle` upgrades them first.
"""

from __future__ import annotations

import base64
import binascii
import functools
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from cyberfusion.sharing.models import TLP_MARKING_IDS
from cyberfusion.stix import patterns


@dataclass(frozen=True, slots=True)
class Problem:
    """Why one object (or the bundle, index -1) failed validation."""

    index: int  # position in the bundle's `objects`; -1 for the bundle itself
    stix_id: str | None
    property: str | None  # dotted path, e.g. "external_references[0].source_name"
    reason: str


class _Report:
    __slots__ = ("index", "problems", "stix_id")

    def __init__(self, index: int, stix_id: str | None) -> None:
        self.index = index
        self.stix_id = stix_id
        self.problems: list[Problem] = []

    def add(self, prop: str | None, reason: str) -> None:
        self.problems.append(Problem(self.index, self.stix_id, prop, reason))


Check = Callable[[Any, str, _Report], None]
Rule = Callable[[dict[str, Any], _Report], None]

# ---------------------------------------------------------------------------------------------
# Object types


def _names(text: str) -> tuple[str, ...]:
    """A tuple of the space-separated names in `text` (keeps the long tables short)."""
    return tuple(text.split())


SDO_TYPES: Final = frozenset(
    _names(
        "attack-pattern campaign course-of-action grouping identity incident indicator "
        "infrastructure intrusion-set location malware malware-analysis note observed-data "
        "opinion report threat-actor tool vulnerability"
    )
)
SRO_TYPES: Final = frozenset({"relationship", "sighting"})
SCO_TYPES: Final = frozenset(
    _names(
        "artifact autonomous-system directory domain-name email-addr email-message file ipv4-addr "
        "ipv6-addr mac-addr mutex network-traffic process software url user-account "
        "windows-registry-key x509-certificate"
    )
)
META_TYPES: Final = frozenset({"marking-definition", "language-content", "extension-definition"})
KNOWN_TYPES: Final = SDO_TYPES | SRO_TYPES | SCO_TYPES | META_TYPES

TLP2_EXTENSION_ID: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_IDS: Final = {str(level): marking_id for level, marking_id in TLP_MARKING_IDS.items()}
# The spec's TLP 1.0 marking definitions (STIX 2.1 section 7.2.1.4).
TLP1_IDS: Final = {
    "white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
TLP1_CREATED: Final = "2017-01-20T00:00:00.000Z"

_TYPE_NAME: Final = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")
_UUID: Final = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_IDENTIFIER: Final = re.compile(rf"([a-z][a-z0-9]*(?:-[a-z0-9]+)*)--({_UUID})")
_PROPERTY_NAME: Final = re.compile(r"[a-z0-9_]{3,250}")
_DICT_KEY: Final = re.compile(r"[a-zA-Z0-9_-]{1,250}")
# ASCII digits only, here and below: the regex digit class also takes other Unicode digits.
_TIMESTAMP: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?Z"
)
_HEX: Final = re.compile(r"(?:[0-9a-fA-F]{2})*")
_BASE64: Final = re.compile(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
# RFC 5646 language tags (a syntax check, not a registry lookup).
_LANG_TAG: Final = re.compile(
    r"(?:[a-zA-Z]{2,3}(?:-[a-zA-Z]{3}){0,3}|[a-zA-Z]{4,8})(?:-[a-zA-Z]{4})?"
    r"(?:-(?:[a-zA-Z]{2}|[0-9]{3}))?(?:-(?:[a-zA-Z0-9]{5,8}|[0-9][a-zA-Z0-9]{3}))*"
    r"(?:-[0-9a-wyzA-WYZ](?:-[a-zA-Z0-9]{2,8})+)*(?:-[xX](?:-[a-zA-Z0-9]{1,8})+)?"
    r"|[xX](?:-[a-zA-Z0-9]{1,8})+"
)
_SELECTOR: Final = re.compile(r"[a-z0-9_-]{3,249}(?:\.(?:\[[0-9]+\]|[a-z0-9_-]{1,250}))*|id")
_EXT_NAME: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*-ext")
_IPV4: Final = re.compile(
    r"(?:(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])\.){3}"
    r"(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])(?:/(?:3[0-2]|[12]?[0-9]))?"
)
_MAC: Final = re.compile(r"(?:[0-9a-f]{2}:){5}[0-9a-f]{2}")
_CVE_ID: Final = re.compile(r"CVE-[0-9]{4}-(?:0[0-9]{3}|[1-9][0-9]{3,})")
_CAPEC_ID: Final = re.compile(r"CAPEC-[0-9]+")
_RELATIONSHIP_TYPE: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_CPE_SPLIT: Final = re.compile(r"(?<!\\):")
_RESERVED_PROPERTIES: Final = frozenset({"severity", "action", "username", "phone_numbers"})
_REGISTRY_ABBREVIATIONS: Final = ("hklm", "hkcc", "hkcr", "hkcu", "hku")
_MAX_COUNT: Final = 999_999_999


def _is_custom_type(object_type: str) -> bool:
    return object_type not in KNOWN_TYPES


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return "null" if value is None else type(value).__name__


# ---------------------------------------------------------------------------------------------
# Value checks


def _string(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str):
        report.add(path, f"must be a string, not {_describe(value)}")


def _nonempty_string(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str):
        report.add(path, f"must be a string, not {_describe(value)}")
    elif not value.strip():
        report.add(path, "must not be empty")


def _boolean(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, bool):
        report.add(path, f"must be a boolean, not {_describe(value)}")


def _integer(low: int | None = None, high: int | None = None) -> Check:
    def check(value: Any, path: str, report: _Report) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            report.add(path, f"must be an integer, not {_describe(value)}")
        elif (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            report.add(path, f"must be {bounds} (found {value})")

    return check


def _number(low: float | None = None, high: float | None = None) -> Check:
    def check(value: Any, path: str, report: _Report) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            report.add(path, f"must be a number, not {_describe(value)}")
        elif (low is not None and value < low) or (high is not None and value > high):
            bounds = f"at least {low}" if high is None else f"between {low} and {high}"
            report.add(path, f"must be {bounds} (found {value})")

    return check


def _timestamp_error(value: Any, *, millis: bool) -> str | None:
    if not isinstance(value, str):
        return f"must be a timestamp string, not {_describe(value)}"
    if len(value) > _CACHED_TIMESTAMP_LENGTH:
        return _timestamp_verdict(value, millis)
    return _cached_timestamp_verdict(value, millis)


def _timestamp_verdict(value: str, millis: bool) -> str | None:
    match = _TIMESTAMP.fullmatch(value)
    if match is None:
        return f"{value!r} is not an RFC 3339 UTC timestamp of the form YYYY-MM-DDTHH:MM:SS[.s]Z"
    year, month, day, hour, minute, second, fraction = match.groups()
    leap_second = second == "60" and hour == "23" and minute == "59"
    try:
        datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            59 if leap_second else int(second),
        )
    except ValueError as exc:
        return f"{value!r} is not a valid date and time ({exc})"
    if millis and (fraction is None or len(fraction) < 3):
        return f"{value!r} must be precise to the millisecond (e.g. {value[:19]}.000Z)"
    return None


# Each object checks its timestamps several times (the property itself, then the order rules)
# and the objects of one bundle share many of them: the verdict per distinct text is kept, for
# texts no longer than a timestamp with nanoseconds (so junk cannot fill the memory).
_CACHED_TIMESTAMP_LENGTH: Final = 40
_cached_timestamp_verdict: Final = functools.lru_cache(maxsize=1 << 16)(_timestamp_verdict)


def _timestamp(value: Any, path: str, report: _Report) -> None:
    error = _timestamp_error(value, millis=False)
    if error:
        report.add(path, error)


def _timestamp_ms(value: Any, path: str, report: _Report) -> None:
    error = _timestamp_error(value, millis=True)
    if error:
        report.add(path, error)


def _timestamp_key(value: str) -> tuple[str, str]:
    return value[:19], value[20:-1] if value[19:20] == "." else ""


def _timestamp_cmp(first: str, second: str) -> int:
    """-1, 0 or 1 as `first` is before, equal to or after `second` (both valid timestamps)."""
    base_a, frac_a = _timestamp_key(first)
    base_b, frac_b = _timestamp_key(second)
    width = max(len(frac_a), len(frac_b))
    key_a, key_b = (base_a, frac_a.ljust(width, "0")), (base_b, frac_b.ljust(width, "0"))
    return (key_a > key_b) - (key_a < key_b)


def _strings(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, list):
        report.add(path, f"must be a list of strings, not {_describe(value)}")
    elif not value:
        report.add(path, "must not be an empty list; omit the property instead")
    else:
        for position, item in enumerate(value):
            if not isinstance(item, str):
                report.add(f"{path}[{position}]", f"must be a string, not {_describe(item)}")


def _enum(allowed: Iterable[str]) -> Check:
    values = tuple(allowed)

    def check(value: Any, path: str, report: _Report) -> None:
        if value not in values:
            report.add(path, f"{value!r} is not one of: {', '.join(values)}")

    return check


def _lang(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str) or not _LANG_TAG.fullmatch(value):
        report.add(path, f"{value!r} is not an RFC 5646 language tag (e.g. 'en', 'pt-BR')")


def _hex(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str) or not _HEX.fullmatch(value):
        report.add(path, "must be a string of hexadecimal octets (an even number of 0-9a-f)")


def _binary(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str) or not _BASE64.fullmatch(value):
        report.add(path, "must be base64-encoded binary data (RFC 4648)")
        return
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error as exc:
        report.add(path, f"must be base64-encoded binary data (RFC 4648): {exc}")


def _dictionary(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, dict):
        report.add(path, f"must be a dictionary, not {_describe(value)}")
        return
    if not value:
        report.add(path, "must not be an empty dictionary; omit the property instead")
    for key, item in value.items():
        if not _DICT_KEY.fullmatch(key):
            report.add(path, f"dictionary key {key!r} must be 1-250 characters of a-z A-Z 0-9 _ -")
        if item is None:
            report.add(f"{path}.{key}", "must not be null")
        elif item == []:
            report.add(f"{path}.{key}", "must not be an empty list")


def _hashes(value: Any, path: str, report: _Report) -> None:
    _dictionary(value, path, report)
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(item, str) or not item:
                report.add(f"{path}.{key}", "a hash value must be a non-empty string")


# References: a predicate on the referenced type and the words used in reasons.
RefRule = tuple[Callable[[str], bool], str]


def _types(*names: str) -> RefRule:
    allowed = frozenset(names)
    return allowed.__contains__, " or ".join(names)


ANY_OBJECT: Final[RefRule] = (lambda t: t != "bundle", "a STIX object")
SDO_OR_CUSTOM: Final[RefRule] = (
    lambda t: t in SDO_TYPES or _is_custom_type(t),
    "an SDO or custom object",
)
SCO_OR_CUSTOM: Final[RefRule] = (
    lambda t: t in SCO_TYPES or _is_custom_type(t),
    "an SCO or custom object",
)
SCO_OR_SRO: Final[RefRule] = (
    lambda t: t in SCO_TYPES or t in SRO_TYPES or _is_custom_type(t),
    "an SCO, SRO or custom object",
)
RELATIONSHIP_END: Final[RefRule] = (
    lambda t: t in SDO_TYPES or t in SCO_TYPES or _is_custom_type(t),
    "an SDO, SCO or custom object",
)


def _ref_error(value: Any, rule: RefRule | None) -> str | None:
    if not isinstance(value, str):
        return f"must be an identifier string, not {_describe(value)}"
    if len(value) > _CACHED_REF_LENGTH:
        return _ref_verdict(value, rule)
    return _cached_ref_verdict(value, rule)


def _ref_verdict(value: str, rule: RefRule | None) -> str | None:
    match = _IDENTIFIER.fullmatch(value)
    if match is None:
        return f"{value!r} is not an identifier of the form <type>--<UUID>"
    uuid_error = _uuid_error(match.group(2))
    if uuid_error:
        return f"{value!r}: {uuid_error}"
    if rule is not None and not rule[0](match.group(1)):
        return f"{value!r} must refer to {rule[1]}, not {match.group(1)}"
    return None


# Most references of a bundle name the same few objects (its markings, its author): the
# verdict per distinct (identifier, rule) is kept, for texts no longer than the longest type
# name (250) with its UUID, so junk cannot fill the memory.
_CACHED_REF_LENGTH: Final = 288
_cached_ref_verdict: Final = functools.lru_cache(maxsize=1 << 16)(_ref_verdict)


def _uuid_error(text: str) -> str | None:
    version, variant = text[14], text[19].lower()
    if version not in "12345" or variant not in "89ab":
        return "the UUID is not an RFC 4122 UUID (version 1-5, variant 10xx)"
    return None


def _ref(rule: RefRule | None = None) -> Check:
    def check(value: Any, path: str, report: _Report) -> None:
        error = _ref_error(value, rule)
        if error:
            report.add(path, error)

    return check


def _refs(rule: RefRule | None = None) -> Check:
    def check(value: Any, path: str, report: _Report) -> None:
        if not isinstance(value, list):
            report.add(path, f"must be a list of identifiers, not {_describe(value)}")
            return
        if not value:
            report.add(path, "must not be an empty list; omit the property instead")
        for position, item in enumerate(value):
            error = _ref_error(item, rule)
            if error:
                report.add(f"{path}[{position}]", error)

    return check


def _list_of(item_spec: _Spec) -> Check:
    def check(value: Any, path: str, report: _Report) -> None:
        if not isinstance(value, list):
            report.add(path, f"must be a list, not {_describe(value)}")
            return
        if not value:
            report.add(path, "must not be an empty list; omit the property instead")
        for position, item in enumerate(value):
            _check_mapping(item, item_spec, f"{path}[{position}]", report)

    return check


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a JSON object of one kind may and must hold."""

    properties: Mapping[str, Check]
    required: tuple[str, ...] = ()
    at_least_one: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()


def _check_mapping(value: Any, spec: _Spec, path: str, report: _Report) -> None:
    if not isinstance(value, dict):
        report.add(path, f"must be an object, not {_describe(value)}")
        return
    for name, item in value.items():
        check = spec.properties.get(name)
        if item is None:
            report.add(f"{path}.{name}", "must not be null; omit the property instead")
        elif check is not None:
            check(item, f"{path}.{name}", report)
        elif item == []:
            report.add(f"{path}.{name}", "must not be an empty list; omit the property instead")
    for name in spec.required:
        if name not in value:
            report.add(f"{path}.{name}", "is required")
    if spec.at_least_one and not any(name in value for name in spec.at_least_one):
        report.add(path, f"must contain at least one of: {', '.join(spec.at_least_one)}")
    for rule in spec.rules:
        rule(value, _PrefixedReport(report, path))


class _PrefixedReport(_Report):
    """Lets object-level rules run on nested structures with their paths prefixed."""

    __slots__ = ("_inner", "_prefix")

    def __init__(self, inner: _Report, prefix: str) -> None:
        super().__init__(inner.index, inner.stix_id)
        self._inner = inner
        self._prefix = prefix

    def add(self, prop: str | None, reason: str) -> None:
        self._inner.add(self._prefix if prop is None else f"{self._prefix}.{prop}", reason)


# ---------------------------------------------------------------------------------------------
# Common structures


def _external_reference_rule(ref: dict[str, Any], report: _Report) -> None:
    if not any(name in ref for name in ("description", "url", "external_id")):
        report.add(
            None, "needs at least one of description, url or external_id besides source_name"
        )
    source, external_id = ref.get("source_name"), ref.get("external_id")
    if source == "cve" and not (isinstance(external_id, str) and _CVE_ID.fullmatch(external_id)):
        report.add(
            "external_id",
            f"{external_id!r} is not a CVE id (CVE-YYYY-NNNN) as source 'cve' requires",
        )
    if source == "capec" and not (
        isinstance(external_id, str) and _CAPEC_ID.fullmatch(external_id)
    ):
        report.add(
            "external_id", f"{external_id!r} is not a CAPEC id (CAPEC-N) as source 'capec' requires"
        )


_EXTERNAL_REFERENCE: Final = _Spec(
    properties={
        "source_name": _string,
        "description": _string,
        "url": _string,
        "hashes": _hashes,
        "external_id": _string,
    },
    required=("source_name",),
    rules=(_external_reference_rule,),
)

_KILL_CHAIN_PHASE: Final = _Spec(
    properties={"kill_chain_name": _nonempty_string, "phase_name": _nonempty_string},
    required=("kill_chain_name", "phase_name"),
)


def _granular_marking_rule(marking: dict[str, Any], report: _Report) -> None:
    has_ref, has_lang = "marking_ref" in marking, "lang" in marking
    if has_ref == has_lang:
        report.add(None, "must have exactly one of marking_ref and lang")


def _selectors(value: Any, path: str, report: _Report) -> None:
    _strings(value, path, report)
    if isinstance(value, list):
        for position, selector in enumerate(value):
            if isinstance(selector, str) and not _SELECTOR.fullmatch(selector):
                report.add(f"{path}[{position}]", f"{selector!r} is not a valid selector")


_GRANULAR_MARKING: Final = _Spec(
    properties={
        "selectors": _selectors,
        "marking_ref": _ref(_types("marking-definition")),
        "lang": _lang,
    },
    required=("selectors",),
    rules=(_granular_marking_rule,),
)


def _resolve_selector(obj: dict[str, Any], selector: str) -> str | None:
    """None if `selector` names content present in `obj`, else why not."""
    node: Any = obj
    for segment in selector.split("."):
        if segment.startswith("["):
            position = int(segment[1:-1])
            if not isinstance(node, list):
                return f"{segment} indexes something that is not a list"
            if position >= len(node):
                return f"index {position} is past the end of a list of {len(node)}"
            node = node[position]
        else:
            if not isinstance(node, dict) or segment not in node:
                return f"{segment!r} is not a property present in the object"
            node = node[segment]
    return None


def _selectors_resolve(obj: dict[str, Any], report: _Report) -> None:
    markings = obj.get("granular_markings")
    if not isinstance(markings, list):
        return
    for position, marking in enumerate(markings):
        if not isinstance(marking, dict) or not isinstance(marking.get("selectors"), list):
            continue
        for number, selector in enumerate(marking["selectors"]):
            if isinstance(selector, str) and _SELECTOR.fullmatch(selector):
                error = _resolve_selector(obj, selector)
                if error:
                    report.add(
                        f"granular_markings[{position}].selectors[{number}]",
                        f"selector {selector!r} does not resolve: {error}",
                    )


def _extension_entry(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, dict):
        report.add(path, f"must be an object, not {_describe(value)}")
        return
    extension_type = value.get("extension_type")
    if extension_type is None:
        report.add(f"{path}.extension_type", "is required in an extension-definition extension")
    elif extension_type not in _EXTENSION_TYPES:
        report.add(
            f"{path}.extension_type",
            f"{extension_type!r} is not one of: {', '.join(_EXTENSION_TYPES)}",
        )


_EXTENSION_TYPES: Final = _names(
    "new-sdo new-sco new-sro property-extension toplevel-property-extension"
)


def _extensions(predefined: Mapping[str, _Spec], object_type: str) -> Check:
    def check(value: Any, path: str, report: _Report) -> None:
        if not isinstance(value, dict):
            report.add(path, f"must be a dictionary, not {_describe(value)}")
            return
        if not value:
            report.add(path, "must not be an empty dictionary; omit the property instead")
        for key, entry in value.items():
            entry_path = f"{path}.{key}"
            if key.startswith("extension-definition--"):
                error = _ref_error(key, _types("extension-definition"))
                if error:
                    report.add(path, f"extension key {error}")
                else:
                    _extension_entry(entry, entry_path, report)
            elif _EXT_NAME.fullmatch(key):
                spec = predefined.get(key)
                if spec is not None:
                    _check_mapping(entry, spec, entry_path, report)
                elif key in _ALL_PREDEFINED_EXTENSIONS:
                    report.add(entry_path, f"the {key} extension is not defined for {object_type}")
                elif not isinstance(entry, dict) or not entry:
                    report.add(entry_path, "must be a non-empty object")
            else:
                report.add(
                    path,
                    f"extension key {key!r} must be an extension-definition id or a name "
                    "ending in '-ext'",
                )

    return check


# ---------------------------------------------------------------------------------------------
# Predefined SCO extensions (STIX 2.1 section 6)

_ALTERNATE_DATA_STREAM: Final = _Spec(
    properties={"name": _string, "hashes": _hashes, "size": _integer(0)}, required=("name",)
)
_PE_SECTION: Final = _Spec(
    properties={"name": _string, "size": _integer(0), "entropy": _number(), "hashes": _hashes},
    required=("name",),
)
_FILE_EXTENSIONS: Final = {
    "archive-ext": _Spec(
        properties={"contains_refs": _refs(_types("file", "directory")), "comment": _string},
        required=("contains_refs",),
    ),
    "ntfs-ext": _Spec(
        properties={"sid": _string, "alternate_data_streams": _list_of(_ALTERNATE_DATA_STREAM)},
        at_least_one=("sid", "alternate_data_streams"),
    ),
    "pdf-ext": _Spec(
        properties={
            "version": _string,
            "is_optimized": _boolean,
            "document_info_dict": _dictionary,
            "pdfid0": _string,
            "pdfid1": _string,
        },
        at_least_one=("version", "is_optimized", "document_info_dict", "pdfid0", "pdfid1"),
    ),
    "raster-image-ext": _Spec(
        properties={
            "image_height": _integer(0),
            "image_width": _integer(0),
            "bits_per_pixel": _integer(0),
            "exif_tags": _dictionary,
        },
        at_least_one=("image_height", "image_width", "bits_per_pixel", "exif_tags"),
    ),
    "windows-pebinary-ext": _Spec(
        properties={
            "pe_type": _string,
            "imphash": _string,
            "machine_hex": _hex,
            "number_of_sections": _integer(0),
            "time_date_stamp": _timestamp,
            "pointer_to_symbol_table_hex": _hex,
            "number_of_symbols": _integer(0),
            "size_of_optional_header": _integer(0),
            "characteristics_hex": _hex,
            "file_header_hashes": _hashes,
            "optional_header": _dictionary,
            "sections": _list_of(_PE_SECTION),
        },
        required=("pe_type",),
    ),
}
_NETWORK_TRAFFIC_EXTENSIONS: Final = {
    "http-request-ext": _Spec(
        properties={
            "request_method": _string,
            "request_value": _string,
            "request_version": _string,
            "request_header": _dictionary,
            "message_body_length": _integer(0),
            "message_body_data_ref": _ref(_types("artifact")),
        },
        required=("request_method", "request_value"),
    ),
    "icmp-ext": _Spec(
        properties={"icmp_type_hex": _hex, "icmp_code_hex": _hex},
        required=("icmp_type_hex", "icmp_code_hex"),
    ),
    "socket-ext": _Spec(
        properties={
            "address_family": _enum(
                _names("AF_UNSPEC AF_INET AF_IPX AF_APPLETALK AF_NETBIOS AF_INET6 AF_IRDA AF_BTH")
            ),
            "is_blocking": _boolean,
            "is_listening": _boolean,
            "options": _dictionary,
            "socket_type": _enum(
                ("SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOCK_RDM", "SOCK_SEQPACKET")
            ),
            "socket_descriptor": _integer(0),
            "socket_handle": _integer(),
        },
        required=("address_family",),
    ),
    "tcp-ext": _Spec(
        properties={"src_flags_hex": _hex, "dst_flags_hex": _hex},
        at_least_one=("src_flags_hex", "dst_flags_hex"),
    ),
}
_PROCESS_EXTENSIONS: Final = {
    "windows-process-ext": _Spec(
        properties={
            "aslr_enabled": _boolean,
            "dep_enabled": _boolean,
            "priority": _string,
            "owner_sid": _string,
            "window_title": _string,
            "startup_info": _dictionary,
            "integrity_level": _enum(("low", "medium", "high", "system")),
        },
        at_least_one=_names(
            "aslr_enabled dep_enabled priority owner_sid window_title startup_info integrity_level"
        ),
    ),
    "windows-service-ext": _Spec(
        properties={
            "service_name": _string,
            "descriptions": _strings,
            "display_name": _string,
            "group_name": _string,
            "start_type": _enum(
                _names(
                    "SERVICE_AUTO_START SERVICE_BOOT_START SERVICE_DEMAND_START SERVICE_DISABLED "
                    "SERVICE_SYSTEM_ALERT"
                )
            ),
            "service_dll_refs": _refs(_types("file")),
            "service_type": _enum(
                _names(
                    "SERVICE_KERNEL_DRIVER SERVICE_FILE_SYSTEM_DRIVER SERVICE_WIN32_OWN_PROCESS "
                    "SERVICE_WIN32_SHARE_PROCESS"
                )
            ),
            "service_status": _enum(
                _names(
                    "SERVICE_CONTINUE_PENDING SERVICE_PAUSE_PENDING SERVICE_PAUSED "
                    "SERVICE_RUNNING SERVICE_START_PENDING SERVICE_STOP_PENDING SERVICE_STOPPED"
                )
            ),
        },
        at_least_one=_names(
            "service_name descriptions display_name group_name start_type service_dll_refs "
            "service_type service_status"
        ),
    ),
}
_USER_ACCOUNT_EXTENSIONS: Final = {
    "unix-account-ext": _Spec(
        properties={"gid": _integer(), "groups": _strings, "home_dir": _string, "shell": _string},
        at_least_one=("gid", "groups", "home_dir", "shell"),
    ),
}
_PREDEFINED_EXTENSIONS: Final[dict[str, dict[str, _Spec]]] = {
    "file": _FILE_EXTENSIONS,
    "network-traffic": _NETWORK_TRAFFIC_EXTENSIONS,
    "process": _PROCESS_EXTENSIONS,
    "user-account": _USER_ACCOUNT_EXTENSIONS,
}
_ALL_PREDEFINED_EXTENSIONS: Final = frozenset(
    name for table in _PREDEFINED_EXTENSIONS.values() for name in table
)

# ---------------------------------------------------------------------------------------------
# Object-level rules


def _no_op(value: Any, path: str, report: _Report) -> None:
    """For `type`, `id` and `spec_version`, which validate_object checks before anything else."""


def _order(first: str, second: str, *, strict: bool) -> Rule:
    """`first` must be after (strict) or not before `second` when both are present."""

    def rule(obj: dict[str, Any], report: _Report) -> None:
        a, b = obj.get(first), obj.get(second)
        if not (isinstance(a, str) and isinstance(b, str)):
            return
        if _timestamp_error(a, millis=False) is None and _timestamp_error(b, millis=False) is None:
            comparison = 0 if a == b else _timestamp_cmp(a, b)
            if comparison < 0 or (strict and comparison == 0):
                relation = "later than" if strict else "equal to or later than"
                report.add(first, f"{a} must be {relation} {second} ({b})")

    return rule


def _none_or_both(*names: str) -> Rule:
    def rule(obj: dict[str, Any], report: _Report) -> None:
        present = [name for name in names if name in obj]
        if present and len(present) != len(names):
            missing = [name for name in names if name not in obj]
            report.add(missing[0], f"is required when {', '.join(present)} is present")

    return rule


def _exactly_one(*names: str) -> Rule:
    def rule(obj: dict[str, Any], report: _Report) -> None:
        present = [name for name in names if name in obj]
        if len(present) != 1:
            found = ", ".join(present) if present else "neither"
            report.add(None, f"must have exactly one of {' and '.join(names)} (found {found})")

    return rule


def _requires(name: str, *, needs: str) -> Rule:
    def rule(obj: dict[str, Any], report: _Report) -> None:
        if name in obj and needs not in obj:
            report.add(needs, f"is required when {name} is present")

    return rule


def _location_rule(obj: dict[str, Any], report: _Report) -> None:
    has_point = "latitude" in obj and "longitude" in obj
    if not (has_point or "region" in obj or "country" in obj):
        report.add(None, "must have at least one of region, country, or latitude and longitude")
    if "precision" in obj and not has_point:
        report.add("precision", "requires both latitude and longitude")


def _malware_rule(obj: dict[str, Any], report: _Report) -> None:
    if obj.get("is_family") is True and "name" not in obj:
        report.add("name", "is required when is_family is true")


def _malware_analysis_rule(obj: dict[str, Any], report: _Report) -> None:
    if "result" not in obj and "analysis_sco_refs" not in obj:
        report.add(None, "must have at least one of result and analysis_sco_refs")


def _indicator_rule(obj: dict[str, Any], report: _Report) -> None:
    pattern = obj.get("pattern")
    if obj.get("pattern_type") != "stix" or not isinstance(pattern, str) or not pattern.strip():
        return
    version = obj.get("pattern_version", "2.1")
    if version not in ("2.0", "2.1"):
        report.add("pattern_version", f"{version!r} is not a STIX pattern version (2.0 or 2.1)")
        return
    error = patterns.check_pattern(pattern, stix_version=version)
    if error:
        report.add("pattern", f"invalid STIX pattern: {error}")


def _email_message_rule(obj: dict[str, Any], report: _Report) -> None:
    if obj.get("is_multipart") is True and "body" in obj:
        report.add("body", "must not be present when is_multipart is true (use body_multipart)")
    if obj.get("is_multipart") is False and "body_multipart" in obj:
        report.add("body_multipart", "must not be present when is_multipart is false")


def _network_traffic_rule(obj: dict[str, Any], report: _Report) -> None:
    if "src_ref" not in obj and "dst_ref" not in obj:
        report.add(None, "must have at least one of src_ref and dst_ref")
    if obj.get("is_active") is True and "end" in obj:
        report.add("end", "must not be present when is_active is true")


def _registry_key(value: Any, path: str, report: _Report) -> None:
    _string(value, path, report)
    if isinstance(value, str):
        hive = value.split("\\", 1)[0].lower()
        if hive in _REGISTRY_ABBREVIATIONS:
            report.add(
                path,
                f"the hive must be written in full (e.g. HKEY_LOCAL_MACHINE), not {hive.upper()}",
            )


def _cpe(value: Any, path: str, report: _Report) -> None:
    _string(value, path, report)
    if isinstance(value, str):
        parts = _CPE_SPLIT.split(value)
        if (
            len(parts) != 13
            or parts[:2] != ["cpe", "2.3"]
            or parts[2] not in ("a", "h", "o", "*", "-")
        ):
            report.add(
                path, f"{value!r} is not a CPE 2.3 formatted string (cpe:2.3:part:vendor:...)"
            )


def _ipv4_value(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str) or not _IPV4.fullmatch(value):
        report.add(path, f"{value!r} is not an IPv4 address or CIDR block")


def _ipv6_value(value: Any, path: str, report: _Report) -> None:
    try:
        if not isinstance(value, str):
            raise ValueError
        ipaddress.IPv6Network(value, strict=False)
    except ValueError:
        report.add(path, f"{value!r} is not an IPv6 address or CIDR block")


def _mac_value(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str) or not _MAC.fullmatch(value):
        report.add(path, f"{value!r} is not a lowercase colon-separated MAC-48 address")


def _languages(value: Any, path: str, report: _Report) -> None:
    _strings(value, path, report)
    if isinstance(value, list):
        for position, item in enumerate(value):
            if isinstance(item, str):
                _lang(item, f"{path}[{position}]", report)


def _observed_objects(value: Any, path: str, report: _Report) -> None:
    """The deprecated `objects` dictionary: SCOs keyed by local names, referring to each other."""
    if not isinstance(value, dict) or not value:
        report.add(path, "must be a non-empty dictionary of observable objects")
        return
    for key, entry in value.items():
        entry_path = f"{path}.{key}"
        if not isinstance(entry, dict):
            report.add(entry_path, f"must be an object, not {_describe(entry)}")
            continue
        entry_type = entry.get("type")
        if not isinstance(entry_type, str) or not _TYPE_NAME.fullmatch(entry_type):
            report.add(f"{entry_path}.type", f"{entry_type!r} is not a valid object type name")
        for name, item in entry.items():
            targets = [item] if name.endswith("_ref") else item if name.endswith("_refs") else []
            if not isinstance(targets, list):
                report.add(f"{entry_path}.{name}", "must be a list of object keys")
                continue
            for target in targets:
                if target not in value:
                    report.add(f"{entry_path}.{name}", f"{target!r} is not a key of objects")


def _language_contents(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, dict) or not value:
        report.add(path, "must be a non-empty dictionary keyed by language tag")
        return
    for tag, translations in value.items():
        if not _LANG_TAG.fullmatch(tag):
            report.add(path, f"key {tag!r} is not an RFC 5646 language tag")
        if not isinstance(translations, dict) or not translations:
            report.add(f"{path}.{tag}", "must be a non-empty object of translated properties")
            continue
        for name in translations:
            if not (name == "id" or _PROPERTY_NAME.fullmatch(name)):
                report.add(f"{path}.{tag}", f"{name!r} is not a valid property name")


def _extension_definition_rule(obj: dict[str, Any], report: _Report) -> None:
    types = obj.get("extension_types")
    if "extension_properties" in obj and not (
        isinstance(types, list) and "toplevel-property-extension" in types
    ):
        report.add(
            "extension_properties",
            "is allowed only when extension_types includes toplevel-property-extension",
        )


def _extension_types(value: Any, path: str, report: _Report) -> None:
    _strings(value, path, report)
    if isinstance(value, list):
        for position, item in enumerate(value):
            if isinstance(item, str) and item not in _EXTENSION_TYPES:
                report.add(
                    f"{path}[{position}]", f"{item!r} is not one of: {', '.join(_EXTENSION_TYPES)}"
                )


def _marking_definition_rule(obj: dict[str, Any], report: _Report) -> None:
    marking_id = obj.get("id")
    extensions = obj.get("extensions")
    tlp2 = extensions.get(TLP2_EXTENSION_ID) if isinstance(extensions, dict) else None
    if not isinstance(extensions, dict) or not extensions:
        for name in ("definition_type", "definition"):
            if name not in obj:
                report.add(name, "is required on a marking-definition without extensions")
    definition_type, definition = obj.get("definition_type"), obj.get("definition")
    if definition_type == "statement":
        if not isinstance(definition, dict) or not isinstance(definition.get("statement"), str):
            report.add("definition", "a statement marking needs definition.statement (a string)")
    elif definition_type == "tlp":
        colour = definition.get("tlp") if isinstance(definition, dict) else None
        if colour not in TLP1_IDS:
            report.add(
                "definition", "a tlp marking needs definition.tlp: white, green, amber or red"
            )
        elif marking_id != TLP1_IDS[colour]:
            report.add("id", f"TLP:{colour.upper()} must use the spec's id {TLP1_IDS[colour]}")
        else:
            if obj.get("created") != TLP1_CREATED:
                report.add("created", f"the TLP 1.0 marking definitions are created {TLP1_CREATED}")
            if obj.get("name", f"TLP:{colour.upper()}") != f"TLP:{colour.upper()}":
                report.add("name", f"must be TLP:{colour.upper()}")
    elif definition is not None and not isinstance(definition, dict):
        report.add("definition", f"must be an object, not {_describe(definition)}")
    if marking_id in TLP1_IDS.values() and definition_type != "tlp":
        report.add(
            "definition_type", f"{marking_id} is a TLP 1.0 marking: definition_type must be tlp"
        )
    if tlp2 is not None:
        _tlp2_rule(obj, tlp2, report)
    elif marking_id in TLP2_IDS.values():
        report.add(
            "extensions",
            f"{marking_id} is a TLP 2.0 marking and must carry the {TLP2_EXTENSION_ID} extension",
        )
    refs = obj.get("object_marking_refs")
    if isinstance(refs, list) and marking_id in refs:
        report.add("object_marking_refs", "a marking-definition must not mark itself")
    markings = obj.get("granular_markings")
    if isinstance(markings, list):
        for position, marking in enumerate(markings):
            if isinstance(marking, dict) and marking.get("marking_ref") == marking_id:
                report.add(
                    f"granular_markings[{position}].marking_ref",
                    "a marking-definition must not mark itself",
                )


def _tlp2_rule(obj: dict[str, Any], tlp2: Any, report: _Report) -> None:
    path = f"extensions.{TLP2_EXTENSION_ID}"
    if not isinstance(tlp2, dict):
        return
    level = tlp2.get("tlp_2_0")
    if tlp2.get("extension_type") != "property-extension":
        report.add(f"{path}.extension_type", "must be property-extension for the TLP 2.0 extension")
    if level not in TLP2_IDS:
        report.add(f"{path}.tlp_2_0", f"{level!r} is not one of: {', '.join(TLP2_IDS)}")
        return
    if obj.get("id") != TLP2_IDS[level]:
        report.add("id", f"TLP:{level.upper()} (TLP 2.0) must use the id {TLP2_IDS[level]}")
    if obj.get("name") != f"TLP:{level.upper()}":
        report.add("name", f"must be TLP:{level.upper()} for the TLP 2.0 {level} marking")


# Contributing properties of the five SCO types whose contributing properties are all optional:
# without any of them, the id must be a UUIDv4 (spec 2.9).
_OPTIONAL_CONTRIBUTING: Final = {
    "artifact": ("hashes", "payload_bin"),
    "email-message": ("from_ref", "subject", "body"),
    "user-account": ("account_type", "user_id", "account_login"),
    "windows-registry-key": ("key", "values"),
    "x509-certificate": ("hashes", "serial_number"),
}


def _sco_uuid_rule(obj: dict[str, Any], report: _Report) -> None:
    object_type, object_id = obj.get("type"), obj.get("id")
    if not isinstance(object_id, str) or not _IDENTIFIER.fullmatch(object_id):
        return
    version = object_id[-22]
    if object_type == "process" and version != "4":
        report.add(
            "id",
            "a process has no ID contributing properties, so its id must be a UUIDv4 "
            f"(found v{version})",
        )
    contributing = _OPTIONAL_CONTRIBUTING.get(str(object_type))
    if contributing and version != "4" and not any(name in obj for name in contributing):
        report.add(
            "id",
            f"without any of its ID contributing properties ({', '.join(contributing)}) "
            f"the id must be a UUIDv4 (found v{version})",
        )


# ---------------------------------------------------------------------------------------------
# Per-type specifications

_COMMON_SDO: Final[dict[str, Check]] = {
    "type": _no_op,
    "spec_version": _no_op,
    "id": _no_op,
    "created": _timestamp_ms,
    "modified": _timestamp_ms,
    "created_by_ref": _ref(_types("identity")),
    "revoked": _boolean,
    "labels": _strings,
    "confidence": _integer(0, 100),
    "lang": _lang,
    "external_references": _list_of(_EXTERNAL_REFERENCE),
    "object_marking_refs": _refs(_types("marking-definition")),
    "granular_markings": _list_of(_GRANULAR_MARKING),
}
_COMMON_SCO: Final[dict[str, Check]] = {
    "type": _no_op,
    "spec_version": _no_op,
    "id": _no_op,
    "object_marking_refs": _refs(_types("marking-definition")),
    "granular_markings": _list_of(_GRANULAR_MARKING),
    "defanged": _boolean,
}
_KILL_CHAIN_PHASES: Final = _list_of(_KILL_CHAIN_PHASE)
_SOFTWARE: Final = _types("software")
_NOT_BEFORE_CREATED: Final = _order("modified", "created", strict=False)


def _sdo(
    object_type: str,
    properties: dict[str, Check],
    required: tuple[str, ...] = (),
    rules: tuple[Rule, ...] = (),
) -> _Spec:
    table = {**_COMMON_SDO, "extensions": _extensions({}, object_type), **properties}
    return _Spec(
        properties=table,
        required=("created", "modified", *required),
        rules=(_NOT_BEFORE_CREATED, _selectors_resolve, *rules),
    )


def _sco(
    object_type: str,
    properties: dict[str, Check],
    required: tuple[str, ...] = (),
    at_least_one: tuple[str, ...] = (),
    rules: tuple[Rule, ...] = (),
) -> _Spec:
    extensions = _extensions(_PREDEFINED_EXTENSIONS.get(object_type, {}), object_type)
    table = {**_COMMON_SCO, "extensions": extensions, **properties}
    return _Spec(
        properties=table,
        required=required,
        at_least_one=at_least_one,
        rules=(_sco_uuid_rule, _selectors_resolve, *rules),
    )


def _relationship_type(value: Any, path: str, report: _Report) -> None:
    if not isinstance(value, str) or not _RELATIONSHIP_TYPE.fullmatch(value):
        report.add(path, f"{value!r} must be lowercase a-z, 0-9 and single hyphens")


_SEEN: Final = {"first_seen": _timestamp, "last_seen": _timestamp}
_LAST_SEEN: Final = _order("last_seen", "first_seen", strict=False)
_REGISTRY_VALUE: Final = _Spec(
    properties={
        "name": _string,
        "data": _string,
        "data_type": _enum(
            _names(
                "REG_NONE REG_SZ REG_EXPAND_SZ REG_BINARY REG_DWORD REG_DWORD_BIG_ENDIAN "
                "REG_DWORD_LITTLE_ENDIAN REG_LINK REG_MULTI_SZ REG_RESOURCE_LIST "
                "REG_FULL_RESOURCE_DESCRIPTION REG_RESOURCE_REQUIREMENTS_LIST REG_QWORD "
                "REG_INVALID_TYPE"
            )
        ),
    },
    at_least_one=("name", "data", "data_type"),
)
_MIME_PART: Final = _Spec(
    properties={
        "body": _string,
        "body_raw_ref": _ref(_types("artifact", "file")),
        "content_type": _string,
        "content_disposition": _string,
    },
    rules=(_exactly_one("body", "body_raw_ref"),),
)

_SPECS: Final[dict[str, _Spec]] = {
    # STIX Domain Objects (section 4)
    "attack-pattern": _sdo(
        "attack-pattern",
        {
            "name": _string,
            "description": _string,
            "aliases": _strings,
            "kill_chain_phases": _KILL_CHAIN_PHASES,
        },
        ("name",),
    ),
    "campaign": _sdo(
        "campaign",
        {
            "name": _string,
            "description": _string,
            "aliases": _strings,
            **_SEEN,
            "objective": _string,
        },
        ("name",),
        (_LAST_SEEN,),
    ),
    "course-of-action": _sdo(
        "course-of-action", {"name": _string, "description": _string}, ("name",)
    ),
    "grouping": _sdo(
        "grouping",
        {
            "name": _string,
            "description": _string,
            "context": _string,
            "object_refs": _refs(ANY_OBJECT),
        },
        ("context", "object_refs"),
    ),
    "identity": _sdo(
        "identity",
        {
            "name": _string,
            "description": _string,
            "roles": _strings,
            "identity_class": _string,
            "sectors": _strings,
            "contact_information": _string,
        },
        ("name",),
    ),
    "incident": _sdo(
        "incident",
        {"name": _string, "description": _string, "kill_chain_phases": _KILL_CHAIN_PHASES},
        ("name",),
    ),
    "indicator": _sdo(
        "indicator",
        {
            "name": _string,
            "description": _string,
            "indicator_types": _strings,
            "pattern": _nonempty_string,
            "pattern_type": _nonempty_string,
            "pattern_version": _string,
            "valid_from": _timestamp,
            "valid_until": _timestamp,
            "kill_chain_phases": _KILL_CHAIN_PHASES,
        },
        ("pattern", "pattern_type", "valid_from"),
        (_order("valid_until", "valid_from", strict=True), _indicator_rule),
    ),
    "infrastructure": _sdo(
        "infrastructure",
        {
            "name": _string,
            "description": _string,
            "infrastructure_types": _strings,
            "aliases": _strings,
            "kill_chain_phases": _KILL_CHAIN_PHASES,
            **_SEEN,
        },
        ("name",),
        (_LAST_SEEN,),
    ),
    "intrusion-set": _sdo(
        "intrusion-set",
        {
            "name": _string,
            "description": _string,
            "aliases": _strings,
            **_SEEN,
            "goals": _strings,
            "resource_level": _string,
            "primary_motivation": _string,
            "secondary_motivations": _strings,
        },
        ("name",),
        (_LAST_SEEN,),
    ),
    "location": _sdo(
        "location",
        {
            "name": _string,
            "description": _string,
            "latitude": _number(-90, 90),
            "longitude": _number(-180, 180),
            "precision": _number(0),
            "region": _string,
            "country": _string,
            "administrative_area": _string,
            "city": _string,
            "street_address": _string,
            "postal_code": _string,
        },
        (),
        (_none_or_both("latitude", "longitude"), _location_rule),
    ),
    "malware": _sdo(
        "malware",
        {
            "name": _string,
            "description": _string,
            "malware_types": _strings,
            "is_family": _boolean,
            "aliases": _strings,
            "kill_chain_phases": _KILL_CHAIN_PHASES,
            **_SEEN,
            "operating_system_refs": _refs(_SOFTWARE),
            "architecture_execution_envs": _strings,
            "implementation_languages": _strings,
            "capabilities": _strings,
            "sample_refs": _refs(_types("file", "artifact")),
        },
        ("is_family",),
        (_LAST_SEEN, _malware_rule),
    ),
    "malware-analysis": _sdo(
        "malware-analysis",
        {
            "product": _string,
            "version": _string,
            "host_vm_ref": _ref(_SOFTWARE),
            "operating_system_ref": _ref(_SOFTWARE),
            "installed_software_refs": _refs(_SOFTWARE),
            "configuration_version": _string,
            "modules": _strings,
            "analysis_engine_version": _string,
            "analysis_definition_version": _string,
            "submitted": _timestamp,
            "analysis_started": _timestamp,
            "analysis_ended": _timestamp,
            "result_name": _string,
            "result": _string,
            "analysis_sco_refs": _refs(SCO_OR_CUSTOM),
            "sample_ref": _ref(_types("file", "artifact", "network-traffic")),
        },
        ("product",),
        (_malware_analysis_rule,),
    ),
    "note": _sdo(
        "note",
        {
            "abstract": _string,
            "content": _string,
            "authors": _strings,
            "object_refs": _refs(ANY_OBJECT),
        },
        ("content", "object_refs"),
    ),
    "observed-data": _sdo(
        "observed-data",
        {
            "first_observed": _timestamp,
            "last_observed": _timestamp,
            "number_observed": _integer(1, _MAX_COUNT),
            "objects": _observed_objects,
            "object_refs": _refs(SCO_OR_SRO),
        },
        ("first_observed", "last_observed", "number_observed"),
        (
            _order("last_observed", "first_observed", strict=False),
            _exactly_one("object_refs", "objects"),
        ),
    ),
    "opinion": _sdo(
        "opinion",
        {
            "explanation": _string,
            "authors": _strings,
            "opinion": _enum(
                ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
            ),
            "object_refs": _refs(ANY_OBJECT),
        },
        ("opinion", "object_refs"),
    ),
    "report": _sdo(
        "report",
        {
            "name": _string,
            "description": _string,
            "report_types": _strings,
            "published": _timestamp,
            "object_refs": _refs(ANY_OBJECT),
        },
        ("name", "published", "object_refs"),
    ),
    "threat-actor": _sdo(
        "threat-actor",
        {
            "name": _string,
            "description": _string,
            "threat_actor_types": _strings,
            "aliases": _strings,
            **_SEEN,
            "roles": _strings,
            "goals": _strings,
            "sophistication": _string,
            "resource_level": _string,
            "primary_motivation": _string,
            "secondary_motivations": _strings,
            "personal_motivations": _strings,
        },
        ("name",),
        (_LAST_SEEN,),
    ),
    "tool": _sdo(
        "tool",
        {
            "name": _string,
            "description": _string,
            "tool_types": _strings,
            "aliases": _strings,
            "kill_chain_phases": _KILL_CHAIN_PHASES,
            "tool_version": _string,
        },
        ("name",),
    ),
    "vulnerability": _sdo("vulnerability", {"name": _string, "description": _string}, ("name",)),
    # STIX Relationship Objects (section 5)
    "relationship": _sdo(
        "relationship",
        {
            "relationship_type": _relationship_type,
            "description": _string,
            "source_ref": _ref(RELATIONSHIP_END),
            "target_ref": _ref(RELATIONSHIP_END),
            "start_time": _timestamp,
            "stop_time": _timestamp,
        },
        ("relationship_type", "source_ref", "target_ref"),
        (_order("stop_time", "start_time", strict=True),),
    ),
    "sighting": _sdo(
        "sighting",
        {
            "description": _string,
            **_SEEN,
            "count": _integer(0, _MAX_COUNT),
            "sighting_of_ref": _ref(SDO_OR_CUSTOM),
            "observed_data_refs": _refs(_types("observed-data")),
            "where_sighted_refs": _refs(_types("identity", "location")),
            "summary": _boolean,
        },
        ("sighting_of_ref",),
        (_LAST_SEEN,),
    ),
    # STIX Cyber-observable Objects (section 6)
    "artifact": _sco(
        "artifact",
        {
            "mime_type": _string,
            "payload_bin": _binary,
            "url": _string,
            "hashes": _hashes,
            "encryption_algorithm": _enum(
                ("AES-256-GCM", "ChaCha20-Poly1305", "mime-type-indicated")
            ),
            "decryption_key": _string,
        },
        rules=(
            _exactly_one("payload_bin", "url"),
            _requires("url", needs="hashes"),
            _requires("decryption_key", needs="encryption_algorithm"),
        ),
    ),
    "autonomous-system": _sco(
        "autonomous-system",
        {"number": _integer(0, 4_294_967_295), "name": _string, "rir": _string},
        ("number",),
    ),
    "directory": _sco(
        "directory",
        {
            "path": _string,
            "path_enc": _string,
            "ctime": _timestamp,
            "mtime": _timestamp,
            "atime": _timestamp,
            "contains_refs": _refs(_types("file", "directory")),
        },
        ("path",),
    ),
    "domain-name": _sco(
        "domain-name",
        {
            "value": _nonempty_string,
            "resolves_to_refs": _refs(_types("ipv4-addr", "ipv6-addr", "domain-name")),
        },
        ("value",),
    ),
    "email-addr": _sco(
        "email-addr",
        {
            "value": _nonempty_string,
            "display_name": _string,
            "belongs_to_ref": _ref(_types("user-account")),
        },
        ("value",),
    ),
    "email-message": _sco(
        "email-message",
        {
            "is_multipart": _boolean,
            "date": _timestamp,
            "content_type": _string,
            "from_ref": _ref(_types("email-addr")),
            "sender_ref": _ref(_types("email-addr")),
            "to_refs": _refs(_types("email-addr")),
            "cc_refs": _refs(_types("email-addr")),
            "bcc_refs": _refs(_types("email-addr")),
            "message_id": _string,
            "subject": _string,
            "received_lines": _strings,
            "additional_header_fields": _dictionary,
            "body": _string,
            "body_multipart": _list_of(_MIME_PART),
            "raw_email_ref": _ref(_types("artifact")),
        },
        ("is_multipart",),
        rules=(_email_message_rule,),
    ),
    "file": _sco(
        "file",
        {
            "hashes": _hashes,
            "size": _integer(0),
            "name": _string,
            "name_enc": _string,
            "magic_number_hex": _hex,
            "mime_type": _string,
            "ctime": _timestamp,
            "mtime": _timestamp,
            "atime": _timestamp,
            "parent_directory_ref": _ref(_types("directory")),
            "contains_refs": _refs(SCO_OR_CUSTOM),
            "content_ref": _ref(_types("artifact")),
        },
        at_least_one=("hashes", "name"),
    ),
    "ipv4-addr": _sco(
        "ipv4-addr",
        {
            "value": _ipv4_value,
            "resolves_to_refs": _refs(_types("mac-addr")),
            "belongs_to_refs": _refs(_types("autonomous-system")),
        },
        ("value",),
    ),
    "ipv6-addr": _sco(
        "ipv6-addr",
        {
            "value": _ipv6_value,
            "resolves_to_refs": _refs(_types("mac-addr")),
            "belongs_to_refs": _refs(_types("autonomous-system")),
        },
        ("value",),
    ),
    "mac-addr": _sco("mac-addr", {"value": _mac_value}, ("value",)),
    "mutex": _sco("mutex", {"name": _string}, ("name",)),
    "network-traffic": _sco(
        "network-traffic",
        {
            "start": _timestamp,
            "end": _timestamp,
            "is_active": _boolean,
            "src_ref": _ref(_types("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")),
            "dst_ref": _ref(_types("ipv4-addr", "ipv6-addr", "mac-addr", "domain-name")),
            "src_port": _integer(0, 65535),
            "dst_port": _integer(0, 65535),
            "protocols": _strings,
            "src_byte_count": _integer(0),
            "dst_byte_count": _integer(0),
            "src_packets": _integer(0),
            "dst_packets": _integer(0),
            "ipfix": _dictionary,
            "src_payload_ref": _ref(_types("artifact")),
            "dst_payload_ref": _ref(_types("artifact")),
            "encapsulates_refs": _refs(_types("network-traffic")),
            "encapsulated_by_ref": _ref(_types("network-traffic")),
        },
        ("protocols",),
        rules=(_network_traffic_rule, _order("end", "start", strict=False)),
    ),
    "process": _sco(
        "process",
        {
            "is_hidden": _boolean,
            "pid": _integer(),
            "created_time": _timestamp,
            "cwd": _string,
            "command_line": _string,
            "environment_variables": _dictionary,
            "opened_connection_refs": _refs(_types("network-traffic")),
            "creator_user_ref": _ref(_types("user-account")),
            "image_ref": _ref(_types("file")),
            "parent_ref": _ref(_types("process")),
            "child_refs": _refs(_types("process")),
        },
        at_least_one=_names(
            "extensions is_hidden pid created_time cwd command_line environment_variables "
            "opened_connection_refs creator_user_ref image_ref parent_ref child_refs"
        ),
    ),
    "software": _sco(
        "software",
        {
            "name": _string,
            "cpe": _cpe,
            "swid": _string,
            "languages": _languages,
            "vendor": _string,
            "version": _string,
        },
        ("name",),
    ),
    "url": _sco("url", {"value": _nonempty_string}, ("value",)),
    "user-account": _sco(
        "user-account",
        {
            "user_id": _string,
            "credential": _string,
            "account_login": _string,
            "account_type": _string,
            "display_name": _string,
            "is_service_account": _boolean,
            "is_privileged": _boolean,
            "can_escalate_privs": _boolean,
            "is_disabled": _boolean,
            "account_created": _timestamp,
            "account_expires": _timestamp,
            "credential_last_changed": _timestamp,
            "account_first_login": _timestamp,
            "account_last_login": _timestamp,
        },
        at_least_one=_names(
            "extensions user_id credential account_login account_type display_name "
            "is_service_account is_privileged can_escalate_privs is_disabled account_created "
            "account_expires credential_last_changed account_first_login account_last_login"
        ),
    ),
    "windows-registry-key": _sco(
        "windows-registry-key",
        {
            "key": _registry_key,
            "values": _list_of(_REGISTRY_VALUE),
            "modified_time": _timestamp,
            "creator_user_ref": _ref(_types("user-account")),
            "number_of_subkeys": _integer(0),
        },
        at_least_one=("key", "values", "modified_time", "creator_user_ref", "number_of_subkeys"),
    ),
    "x509-certificate": _sco(
        "x509-certificate",
        {
            "is_self_signed": _boolean,
            "hashes": _hashes,
            "version": _string,
            "serial_number": _string,
            "signature_algorithm": _string,
            "issuer": _string,
            "validity_not_before": _timestamp,
            "validity_not_after": _timestamp,
            "subject": _string,
            "subject_public_key_algorithm": _string,
            "subject_public_key_modulus": _string,
            "subject_public_key_exponent": _integer(0),
            "x509_v3_extensions": _dictionary,
        },
        at_least_one=_names(
            "is_self_signed hashes version serial_number signature_algorithm issuer "
            "validity_not_before validity_not_after subject subject_public_key_algorithm "
            "subject_public_key_modulus subject_public_key_exponent x509_v3_extensions"
        ),
        rules=(_order("validity_not_after", "validity_not_before", strict=False),),
    ),
    # Meta objects (section 7)
    "marking-definition": _Spec(
        properties={
            "type": _no_op,
            "spec_version": _no_op,
            "id": _no_op,
            "created": _timestamp,
            "created_by_ref": _ref(_types("identity")),
            "external_references": _list_of(_EXTERNAL_REFERENCE),
            "object_marking_refs": _refs(_types("marking-definition")),
            "granular_markings": _list_of(_GRANULAR_MARKING),
            "extensions": _extensions({}, "marking-definition"),
            "name": _string,
            "definition_type": _nonempty_string,
        },
        required=("created",),
        rules=(_marking_definition_rule, _selectors_resolve),
    ),
    "language-content": _sdo(
        "language-content",
        {
            "object_ref": _ref(
                (
                    lambda t: t not in ("bundle", "language-content"),
                    "an object other than a bundle or language-content",
                )
            ),
            "object_modified": _timestamp,
            "contents": _language_contents,
        },
        ("object_ref", "contents"),
    ),
    "extension-definition": _sdo(
        "extension-definition",
        {
            "name": _string,
            "description": _string,
            "schema": _nonempty_string,
            "version": _nonempty_string,
            "extension_types": _extension_types,
            "extension_properties": _strings,
        },
        ("created_by_ref", "name", "schema", "version", "extension_types"),
        (_extension_definition_rule,),
    ),
}


_CUSTOM_SDO: Final = _sdo("custom objects", {})
_CUSTOM_SCO: Final = _sco("custom objects", {})


def _declared_kind(obj: dict[str, Any]) -> str | None:
    """new-sdo, new-sco or new-sro when an extension-definition extension declares the type."""
    extensions = obj.get("extensions")
    if not isinstance(extensions, dict):
        return None
    for key, entry in extensions.items():
        if key.startswith("extension-definition--") and isinstance(entry, dict):
            kind = entry.get("extension_type")
            if kind in ("new-sdo", "new-sco", "new-sro"):
                return str(kind)
    return None


def _spec_for(object_type: str, obj: dict[str, Any]) -> tuple[_Spec | None, bool]:
    """The spec for the object and whether spec_version is required; (None, _) if unknown."""
    spec = _SPECS.get(object_type)
    if spec is not None:
        return spec, object_type not in SCO_TYPES
    declared = _declared_kind(obj)
    if declared is None and not object_type.startswith("x-"):
        return None, False
    if declared == "new-sco" or (
        declared is None and "created" not in obj and "modified" not in obj
    ):
        return _CUSTOM_SCO, False
    return _CUSTOM_SDO, True


# ---------------------------------------------------------------------------------------------
# Entry points


def validate_object(obj: dict[str, Any], *, index: int) -> list[Problem]:
    """Every problem found in one STIX 2.1 object; an empty list means it is valid.

    `index` is its position in the submitted bundle (reported back in each Problem). Custom
    objects, custom properties and extensions are accepted and never altered.
    """
    if not isinstance(obj, dict):
        return [
            Problem(index, None, None, f"a STIX object must be a JSON object, not {_describe(obj)}")
        ]
    raw_id = obj.get("id")
    report = _Report(index, raw_id if isinstance(raw_id, str) else None)
    object_type = obj.get("type")
    if object_type is None:
        report.add("type", "is required")
        return report.problems
    if (
        not isinstance(object_type, str)
        or not _TYPE_NAME.fullmatch(object_type)
        or not 3 <= len(object_type) <= 250
    ):
        report.add(
            "type",
            f"{object_type!r} is not a valid type name (3-250 characters of a-z, 0-9 and single "
            "hyphens, starting with a letter)",
        )
        return report.problems
    if object_type == "bundle":
        report.add("type", "a bundle cannot be nested inside a bundle's objects")
        return report.problems
    if object_type == "action":
        report.add("type", "'action' is a reserved type name in STIX 2.1")
        return report.problems
    spec, needs_version = _spec_for(object_type, obj)
    if spec is None:
        report.add(
            "type",
            f"unknown object type {object_type!r}: custom types must start with 'x-' or be "
            "declared by an extension-definition extension of type new-sdo, new-sco or new-sro",
        )
        return report.problems
    _check_id(raw_id, object_type, report)
    _check_spec_version(obj, needs_version=needs_version, report=report)

    properties = spec.properties
    for name, value in obj.items():
        check = properties.get(name)
        if value is None:
            report.add(name, "must not be null; omit the property instead")
        elif check is _no_op:
            continue
        elif check is not None:
            check(value, name, report)
        else:
            _check_unknown_property(name, value, report)
    for name in spec.required:
        if name not in obj:
            report.add(name, f"is required for {object_type}")
    if spec.at_least_one and not any(name in obj for name in spec.at_least_one):
        report.add(None, f"{object_type} must have at least one of: {', '.join(spec.at_least_one)}")
    for rule in spec.rules:
        rule(obj, report)
    return report.problems


def _check_id(raw_id: Any, object_type: str, report: _Report) -> None:
    if raw_id is None:
        report.add("id", "is required")
        return
    if not isinstance(raw_id, str):
        report.add("id", f"must be a string, not {_describe(raw_id)}")
        return
    match = _IDENTIFIER.fullmatch(raw_id)
    if match is None:
        report.add("id", f"{raw_id!r} is not of the form {object_type}--<UUID>")
        return
    if match.group(1) != object_type:
        report.add("id", f"{raw_id!r} must start with the object's type {object_type!r}")
    uuid_error = _uuid_error(match.group(2))
    if uuid_error:
        report.add("id", uuid_error)


def _check_spec_version(obj: dict[str, Any], *, needs_version: bool, report: _Report) -> None:
    version = obj.get("spec_version")
    if version is None:
        if needs_version:
            report.add("spec_version", "is required and must be '2.1'")
    elif version == "2.0":
        report.add(
            "spec_version", "is '2.0': upgrade STIX 2.0 content to 2.1 first (upgrade_object)"
        )
    elif version != "2.1":
        report.add("spec_version", f"{version!r} is not supported: must be '2.1'")


def _check_unknown_property(name: str, value: Any, report: _Report) -> None:
    if name in _RESERVED_PROPERTIES:
        report.add(name, f"{name!r} is a reserved property name in STIX 2.1")
    elif not _PROPERTY_NAME.fullmatch(name):
        report.add(name, "is not a valid property name (3-250 characters of a-z, 0-9 and _)")
    elif value == []:
        report.add(name, "must not be an empty list; omit the property instead")
    elif name.endswith("_hex"):
        _hex(value, name, report)
    elif name.endswith("_bin"):
        _binary(value, name, report)


def _looks_like_stix20(objects: Any) -> bool:
    """A bundle without spec_version whose objects carry none either is STIX 2.0 content.

    STIX 2.0 producers that assemble bundles from per-object files (MITRE ATT&CK among them)
    drop the bundle's spec_version; in 2.1 every SDO and SRO must carry one. A 2.1 bundle of
    SCOs only also matches, which is harmless: the upgrade leaves SCOs as they are.
    """
    return (
        isinstance(objects, list)
        and bool(objects)
        and all(isinstance(obj, dict) and "spec_version" not in obj for obj in objects)
    )


def validate_bundle(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Validate a bundle; return its objects as they are to be stored, and all problems found.

    A STIX 2.0 bundle (spec_version "2.0", or none on the bundle and on all its objects), and any
    object with spec_version "2.0" inside a 2.1
    bundle, is upgraded first, and TLP 1.0 markings are mapped to TLP 2.0 (see upgrade.py).
    The returned list has the same length and order as the bundle's objects, so a Problem's
    index points into both; the caller decides whether one problem rejects the whole bundle.
    Problems of the bundle itself have index -1. References are checked for form only: they may
    name objects outside the bundle. The same id and `modified` twice with different content is
    a problem (which version would be meant?); an exact repeat is harmless and passes.
    """
    from cyberfusion.stix import upgrade

    if not isinstance(bundle, dict):
        return [], [
            Problem(-1, None, None, f"a bundle must be a JSON object, not {_describe(bundle)}")
        ]
    raw_id = bundle.get("id")
    report = _Report(-1, raw_id if isinstance(raw_id, str) else None)
    if bundle.get("type") != "bundle":
        report.add("type", f"must be 'bundle', not {bundle.get('type')!r}")
    _check_id(raw_id, "bundle", report)
    version = bundle.get("spec_version")
    if version == "2.0" or (version is None and _looks_like_stix20(bundle.get("objects"))):
        bundle = upgrade.upgrade_bundle(bundle)
    elif version not in (None, "2.1"):
        report.add(
            "spec_version",
            f"{version!r} is not supported: a 2.1 bundle has none, a 2.0 bundle has '2.0'",
        )
    raw_objects = bundle.get("objects", [])
    if not isinstance(raw_objects, list):
        report.add("objects", f"must be a list, not {_describe(raw_objects)}")
        return [], report.problems
    if "objects" in bundle and not raw_objects:
        report.add("objects", "must not be an empty list; omit it for a bundle without objects")
    problems = report.problems
    objects: list[dict[str, Any]] = []
    seen: dict[tuple[str, Any], int] = {}
    for position, raw in enumerate(raw_objects):
        obj = raw
        if isinstance(raw, dict):
            obj = (
                upgrade.upgrade_object(raw)
                if raw.get("spec_version") == "2.0"
                else upgrade.map_tlp1_markings(raw)
            )
        objects.append(obj)
        found = validate_object(obj, index=position)
        problems.extend(found)
        if not found and isinstance(obj, dict):
            key = (obj["id"], obj.get("modified"))
            first = seen.setdefault(key, position)
            if first != position and objects[first] != obj:
                problems.append(
                    Problem(
                        position,
                        obj["id"],
                        "modified" if "modified" in obj else "id",
                        f"conflicts with the object at index {first}: same id and modified, "
                        "different content",
                    )
                )
    return objects, problems
