"""Free text (e-mails, reports, chat exports) to STIX: an indicator per observable found, and
the malware families and threat actors the text names, as the reference knowledge knows them."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cyberfusion.intake.parsed import ParsedObject, ParseResult, stable_id, stix_timestamp
from cyberfusion.knowledge.mentions import Mention
from cyberfusion.observable.extract import extract
from cyberfusion.stix.patterns import pattern_for

# SDO types a family or an actor of the knowledge is stored as, and what an indicator says of it.
_NAMED_TYPES = ("malware", "intrusion-set", "threat-actor")


def parse_text(
    text: str,
    *,
    default_time: datetime,
    find_names: Callable[[str], list[Mention]] | None = None,
    resolve_sdo: Callable[[str, str], str | None] | None = None,
) -> ParseResult:
    """Each distinct observable becomes an indicator with a deterministic id, so the same value
    sent again is recognised; the text itself is not stored.

    With `find_names` (knowledge.mentions) and `resolve_sdo` (the knowledge's `sdo_resolver`),
    each family or actor the text names becomes that family's SDO, under the knowledge's id, and
    every indicator of the text `indicates` it: a report that says "Emotet" meets every other
    report of Emotet, whatever name its author used."""
    result = ParseResult()
    stamp = stix_timestamp(default_time)
    indicator_ids: list[str] = []
    for found in extract(text):
        indicator_id = stable_id("indicator", found.obs_type.value, found.value)
        indicator_ids.append(indicator_id)
        result.objects.append(
            ParsedObject(
                content={
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": indicator_id,
                    "created": stamp,
                    "modified": stamp,
                    "name": f"{found.obs_type.value} {found.value}"[:250],
                    "pattern": pattern_for(found.obs_type, found.value),
                    "pattern_type": "stix",
                    "valid_from": stamp,
                    "description": "Extracted from a free-text submission.",
                },
                source=f"text offset {found.start}",
                generated=True,
            )
        )
    if find_names is None or resolve_sdo is None:
        return result
    named: dict[str, Mention] = {}
    for mention in find_names(text):
        sdo_id = resolve_sdo(mention.kind, mention.name)
        if sdo_id is not None and sdo_id.split("--", 1)[0] in _NAMED_TYPES:
            named.setdefault(sdo_id, mention)
    for sdo_id, mention in named.items():
        sdo_type = sdo_id.split("--", 1)[0]
        content: dict[str, object] = {
            "type": sdo_type,
            "spec_version": "2.1",
            "id": sdo_id,
            "created": stamp,
            "modified": stamp,
            "name": mention.name,
        }
        if sdo_type == "malware":
            content["is_family"] = True
        source = f"text offset {mention.start}"
        result.objects.append(ParsedObject(content=content, source=source, generated=True))
        for indicator_id in indicator_ids:
            result.objects.append(
                ParsedObject(
                    content={
                        "type": "relationship",
                        "spec_version": "2.1",
                        "id": stable_id("relationship", "indicates", indicator_id, sdo_id),
                        "created": stamp,
                        "modified": stamp,
                        "relationship_type": "indicates",
                        "source_ref": indicator_id,
                        "target_ref": sdo_id,
                    },
                    source=source,
                    generated=True,
                )
            )
    return result
