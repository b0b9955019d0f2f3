"""Families and actors named in free text: which names count where, and free-text submissions
meeting the reference knowledge through them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.correlation.models import RecordKnowledge
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge import mentions
from cyberfusion.knowledge import service as knowledge_service
from cyberfusion.knowledge.models import KnowledgeEntry
from tests.factories import account
from tests.factories.knowledge import GALAXIES

INDEX = mentions.NameIndex(
    [
        ("Emotet", "malware"),
        ("Agent Tesla", "malware"),
        ("AgentTesla", "malware"),
        ("QakBot", "malware"),
        ("APT28", "threat-actor"),
        ("Fancy Bear", "threat-actor"),
        ("Flame", "malware"),
        ("Nitro", "malware"),
        ("Nitro", "threat-actor"),
        ("rat", "malware"),  # lower case: never looked for
        ("Agent", "malware"),  # a word of a longer name: the longer name wins where it stands
    ]
)


def _found(text: str) -> list[tuple[str, str]]:
    return [(m.name, m.kind) for m in INDEX.find(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Distinctive names count anywhere.
        ("Seen: Agent Tesla and APT28.", [("Agent Tesla", "malware"), ("APT28", "threat-actor")]),
        ("AgentTesla, QakBot", [("AgentTesla", "malware"), ("QakBot", "malware")]),
        ("Fancy Bear again", [("Fancy Bear", "threat-actor")]),
        # One capitalised word needs a cue in its sentence.
        ("The Emotet loader is back.", [("Emotet", "malware")]),
        ("Emotet is back. The loader moved.", []),
        ("Flame broke out in the building.", []),
        ("Flame malware resurfaced.", [("Flame", "malware")]),
        ("The Nitro group phished us.", [("Nitro", "malware"), ("Nitro", "threat-actor")]),
        # Case, word boundaries and spacing as the knowledge writes the name.
        ("the emotet loader", []),
        ("Emotet2 loader", []),
        ("Agent  Tesla stealer", [("Agent", "malware")]),
        ("a rat was found", []),
    ],
)
def test_which_names_count(text: str, expected: list[tuple[str, str]]) -> None:
    assert _found(text) == expected


def test_offsets_point_at_the_names() -> None:
    text = "Report: APT28 used Agent Tesla."
    assert [(m.name, text[m.start : m.start + len(m.name)]) for m in INDEX.find(text)] == [
        ("APT28", "APT28"),
        ("Agent Tesla", "Agent Tesla"),
    ]


REPORT = (
    "Incident summary. The Emotet loader reached 203.0.113.9 and then "
    "http://invoice-mentions.example.com/pay. Fancy Bear is not involved. Grizzly Steppe was "
    "named by one source. We met the victim in Milan.\n"
)


def test_a_free_text_report_meets_the_families_it_names(session: Session) -> None:
    hub = account.actor(session, org="hub", role=Role.HUB_ANALYST)
    knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)
    officer = account.actor(session, org="ncb-fr", role=Role.OFFICER)
    result = intake_service.submit(
        session=session,
        actor=officer,
        raw=REPORT.encode(),
        options=SubmissionOptions(source_format=SourceFormat.TEXT),
    )
    assert result.rejected == 0
    records = session.scalars(
        select(IntelObject).where(IntelObject.submission_id == result.id)
    ).all()
    by_type: dict[str, list[IntelObject]] = {}
    for record in records:
        by_type.setdefault(record.stix_type, []).append(record)
    emotet = knowledge_service.resolve(session=session, name="Emotet", kind="malware")
    apt28 = knowledge_service.resolve(session=session, name="Fancy Bear", kind="threat-actor")
    assert emotet is not None and apt28 is not None
    # The families take the knowledge's ids; the ambiguous name (APT28 and APT29 are both
    # "Grizzly Steppe") and the city name no object at all.
    named = {r.stix_id: r.content["name"] for t in _NAMED for r in by_type.get(t, [])}
    assert named == {emotet.stix_id: "Emotet", apt28.stix_id: "Fancy Bear"}
    indicators = {r.stix_id for r in by_type["indicator"]}
    assert len(indicators) >= 2
    indicates = {
        (r.content["source_ref"], r.content["target_ref"]) for r in by_type["relationship"]
    }
    assert indicates == {(i, s) for i in indicators for s in named}
    # The correlation links the report's malware record to the family in the knowledge.
    malware_record = by_type["malware"][0]
    linked = session.scalars(
        select(KnowledgeEntry)
        .join(RecordKnowledge, RecordKnowledge.entry_id == KnowledgeEntry.id)
        .where(RecordKnowledge.intel_object_id == malware_record.id)
    ).all()
    assert [entry.id for entry in linked] == [emotet.id]


_NAMED = ("malware", "intrusion-set", "threat-actor")


def test_without_the_knowledge_a_text_gives_indicators_only(session: Session) -> None:
    officer = account.actor(session, org="ncb-fr", role=Role.OFFICER)
    result = intake_service.submit(
        session=session,
        actor=officer,
        raw=REPORT.replace("203.0.113.9", "203.0.113.10").encode(),
        options=SubmissionOptions(source_format=SourceFormat.TEXT),
    )
    types = set(
        session.scalars(select(IntelObject.stix_type).where(IntelObject.submission_id == result.id))
    )
    assert types == {"indicator"}
