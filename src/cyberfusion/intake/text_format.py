"""Free text (e-mails, reports, chat exports) to STIX indicators, one per observable found."""

from __future__ import annotations

from datetime import datetime

from cyberfusion.intake.parsed import ParsedObject, ParseResult, stable_id, stix_timestamp
from cyberfusion.observable.extract import extract
from cyberfusion.stix.patterns import pattern_for


def parse_text(text: str, *, default_time: datetime) -> ParseResult:
    """Each distinct observable becomes an indicator with a deterministic id, so the same value
    sent again is recognised; the text itself is not stored."""
    result = ParseResult()
    stamp = stix_timestamp(default_time)
    for found in extract(text):
        result.objects.append(
            ParsedObject(
                content={
                    "type": "indicator",
                    "spec_version": "2.1",
                    "id": stable_id("indicator", found.obs_type.value, found.value),
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
    return result
