"""STIX 2.0 -> 2.1 upgrade, TLP 1.0 -> TLP 2.0 marking mapping, and reading an object's TLP.

The upgrade changes only what STIX 2.1 requires or renamed, and invents nothing (no ids, no
objects). Mapping, object by object:

- Every object except SCOs gets `spec_version: "2.1"` (2.0 had no top-level SCOs; on an SCO,
  where it is optional, a "2.0" becomes "2.1"); the bundle loses its `spec_version` (2.1
  bundles have none). Objects at any other spec_version are left as they are.
- `created`/`modified` without millisecond precision (allowed in 2.0, not in 2.1) are padded
  with zeros: `2017-05-31T21:30:19Z` -> `2017-05-31T21:30:19.000Z`. Same instant.
- indicator: `pattern_type: "stix"` is added (2.0 patterns were always STIX patterns).
  `labels` held the indicator-label vocabulary in 2.0, which 2.1 renamed indicator-type and
  moved to `indicator_types`; 2.1 `labels` are free tags. So `labels` moves to
  `indicator_types` when that is absent. A pattern that is valid STIX 2.0 but not 2.1 gets
  `pattern_version: "2.0"` so it is read with the grammar it was written in.
- malware, tool, threat-actor, report: `labels` moves to `malware_types`, `tool_types`,
  `threat_actor_types`, `report_types` in the same way (the 2.0 *-label vocabularies are the
  2.1 *-type ones).
- malware: `is_family: true` is added when absent. It is required in 2.1; a 2.0 Malware object
  described "malicious code" by name and type without a sample or hash property, i.e. a
  family, not an instance.
- observed-data: `objects` is kept as it is. 2.1 deprecates it in favour of `object_refs` to
  top-level SCOs, but still accepts it, and converting would need ids the producer never made.
- TLP 1.0 marking-definition objects are replaced by the matching TLP 2.0 definitions (white ->
  clear), and TLP 1.0 ids are replaced by TLP 2.0 ids in `object_marking_refs` and
  `granular_markings`, in 2.0 and 2.1 content alike (`map_tlp1_markings`).
- Everything else, custom objects and custom properties included, is copied unchanged.
"""

from __future__ import annotations

import re
from typing import Any, Final

from cyberfusion.sharing.models import TLP_MARKING_IDS, Tlp
from cyberfusion.stix import patterns
from cyberfusion.stix.validate import SCO_TYPES, TLP2_EXTENSION_ID

TLP2_CREATED: Final = "2022-10-01T00:00:00.000Z"

TLP1_TO_TLP2: Final = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": TLP_MARKING_IDS[Tlp.CLEAR],
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": TLP_MARKING_IDS[Tlp.GREEN],
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": TLP_MARKING_IDS[Tlp.AMBER],
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": TLP_MARKING_IDS[Tlp.RED],
}
_LEVEL_BY_ID: Final = {marking_id: level for level, marking_id in TLP_MARKING_IDS.items()}
_LABELS_TO: Final = {
    "indicator": "indicator_types",
    "malware": "malware_types",
    "tool": "tool_types",
    "threat-actor": "threat_actor_types",
    "report": "report_types",
}
_NO_MILLIS: Final = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,2}))?Z"
)


def tlp2_marking_definition(level: Tlp) -> dict[str, Any]:
    """The OASIS TLP 2.0 marking-definition object for `level`."""
    return {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP_MARKING_IDS[level],
        "created": TLP2_CREATED,
        "name": f"TLP:{level.value.upper()}",
        "extensions": {
            TLP2_EXTENSION_ID: {"extension_type": "property-extension", "tlp_2_0": level.value}
        },
    }


def _map_refs(refs: Any) -> Any:
    if not isinstance(refs, list):
        return refs
    mapped: list[Any] = []
    for ref in refs:
        ref = TLP1_TO_TLP2.get(ref, ref) if isinstance(ref, str) else ref
        if ref not in mapped:  # TLP:WHITE next to TLP:CLEAR must not become a duplicate
            mapped.append(ref)
    return mapped


def map_tlp1_markings(obj: dict[str, Any]) -> dict[str, Any]:
    """`obj` with TLP 1.0 marking ids replaced by their TLP 2.0 equivalents (a new dict).

    A TLP 1.0 marking-definition object itself becomes the TLP 2.0 definition of the same
    level. Objects without TLP 1.0 markings are returned unchanged (the same dict).
    """
    if not isinstance(obj, dict):
        return obj
    object_id = obj.get("id")
    if obj.get("type") == "marking-definition" and object_id in TLP1_TO_TLP2:
        return tlp2_marking_definition(_LEVEL_BY_ID[TLP1_TO_TLP2[object_id]])
    refs = obj.get("object_marking_refs")
    markings = obj.get("granular_markings")
    touches_refs = isinstance(refs, list) and any(
        isinstance(ref, str) and ref in TLP1_TO_TLP2 for ref in refs
    )
    touches_markings = isinstance(markings, list) and any(
        isinstance(marking, dict) and marking.get("marking_ref") in TLP1_TO_TLP2
        for marking in markings
    )
    if not (touches_refs or touches_markings):
        return obj
    result = dict(obj)
    if touches_refs:
        result["object_marking_refs"] = _map_refs(refs)
    if touches_markings and isinstance(markings, list):
        result["granular_markings"] = [
            {**marking, "marking_ref": TLP1_TO_TLP2[marking["marking_ref"]]}
            if isinstance(marking, dict) and marking.get("marking_ref") in TLP1_TO_TLP2
            else marking
            for marking in markings
        ]
    return result


def tlp_of(obj: dict[str, Any]) -> str | None:
    """The strictest TLP 2.0 level in `obj`'s object_marking_refs ("clear" ... "red"), or None.

    TLP 1.0 ids count as their TLP 2.0 equivalents (white as clear).
    """
    refs = obj.get("object_marking_refs") if isinstance(obj, dict) else None
    if not isinstance(refs, list):
        return None
    strictest: Tlp | None = None
    for ref in refs:
        if not isinstance(ref, str):
            continue
        level = _LEVEL_BY_ID.get(TLP1_TO_TLP2.get(ref, ref))
        if level is not None and (strictest is None or level.rank > strictest.rank):
            strictest = level
    return None if strictest is None else strictest.value


def _pad_millis(timestamp: Any) -> Any:
    if not isinstance(timestamp, str):
        return timestamp
    match = _NO_MILLIS.fullmatch(timestamp)
    if match is None:
        return timestamp
    return f"{match.group(1)}.{(match.group(2) or '').ljust(3, '0')}Z"


def upgrade_object(obj: dict[str, Any]) -> dict[str, Any]:
    """The STIX 2.1 form of a STIX 2.0 object: a new dict; the input is not changed, but nested
    values the upgrade does not touch are shared with it, not copied.

    Objects already at spec_version 2.1 only get their TLP 1.0 markings mapped, so calling this
    twice is harmless. See the module docstring for every mapping.
    """
    if not isinstance(obj, dict):
        return obj
    if obj.get("spec_version") not in (None, "2.0"):
        # 2.1 already, or a version we do not know: validation reports the latter.
        return map_tlp1_markings(obj)
    object_type = obj.get("type")
    if object_type == "marking-definition" and obj.get("id") in TLP1_TO_TLP2:
        return map_tlp1_markings(obj)
    if object_type in SCO_TYPES:
        result = dict(obj)
        if "spec_version" in result:
            result["spec_version"] = "2.1"
    else:
        # Rebuilt so that spec_version sits next to type, where readers expect it.
        result = {"type": object_type, "spec_version": "2.1"}
        result.update((key, value) for key, value in obj.items() if key != "spec_version")
    for name in ("created", "modified"):
        if name in result:
            result[name] = _pad_millis(result[name])
    target = _LABELS_TO.get(str(object_type))
    if target is not None and "labels" in result and target not in result:
        result[target] = result.pop("labels")
    if object_type == "indicator":
        _upgrade_indicator(result)
    elif object_type == "malware":
        result.setdefault("is_family", True)
    return map_tlp1_markings(result)


def _upgrade_indicator(indicator: dict[str, Any]) -> None:
    if "pattern_type" in indicator:
        return
    indicator["pattern_type"] = "stix"
    pattern = indicator.get("pattern")
    if (
        isinstance(pattern, str)
        and "pattern_version" not in indicator
        and patterns.check_pattern(pattern) is not None
        and patterns.check_pattern(pattern, stix_version="2.0") is None
    ):
        indicator["pattern_version"] = "2.0"


def upgrade_bundle(bundle: dict[str, Any]) -> dict[str, Any]:
    """The STIX 2.1 form of a STIX 2.0 bundle (a new dict; the input is not changed).

    Objects keep their positions, so problems reported by index still point at the object the
    producer sent; a TLP 1.0 definition is replaced in place by its TLP 2.0 counterpart.
    """
    result = {key: value for key, value in bundle.items() if key != "spec_version"}
    objects = bundle.get("objects")
    if isinstance(objects, list):
        result["objects"] = [upgrade_object(obj) for obj in objects]
    return result
