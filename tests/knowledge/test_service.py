"""Reference knowledge: loading galaxies as hub-owned STIX objects, alias keys, resolution, and
the parsers meeting on the knowledge base's ids."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import PermissionDenied, ValidationFailed
from cyberfusion.intake.csv_format import parse_csv
from cyberfusion.intake.misp import parse_misp_event
from cyberfusion.intake.models import Submission
from cyberfusion.intake.parsed import stable_id
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge import service as knowledge_service
from cyberfusion.knowledge.models import KnowledgeAlias, KnowledgeEntry
from cyberfusion.registry import service as registry_service
from tests.factories import account
from tests.factories.knowledge import GALAXIES

AGENT_TESLA_ID = stable_id("malware", "agent tesla")
APT28_ID = stable_id("threat-actor", "apt28")
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"

CLUSTERS = sum(len(galaxy["values"]) for galaxy in GALAXIES.values())
# Agent Tesla in three galaxies is one object; so is Mimikatz in the tool galaxy (malware)
# apart from mitre-tool's (tool); APT28 is a threat-actor and an intrusion-set.
STIX_OBJECTS = CLUSTERS - 2


@pytest.fixture
def hub(session: Session) -> Actor:
    return account.actor(session, org="hub", role=Role.HUB_ANALYST)


@pytest.fixture
def loaded(session: Session, hub: Actor) -> knowledge_service.LoadReport:
    return knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)


def hub_objects(session: Session) -> int:
    hub_org = registry_service.get_by_slug_or_raise(session=session, slug="hub")
    return (
        session.scalar(
            select(func.count())
            .select_from(IntelObject)
            .where(IntelObject.owner_org_id == hub_org.id)
        )
        or 0
    )


def table_counts(session: Session) -> tuple[int, int, int, int]:
    entries, aliases = knowledge_service.counts(session=session)
    submissions = session.scalar(select(func.count()).select_from(Submission)) or 0
    return entries, aliases, hub_objects(session), submissions


# -- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["AgentTesla", "agent tesla", "Agent-Tesla", "agent_tesla", "Agent.Tesla", "ÁGENT  TÉSLA"],
)
def test_alias_key_folds_case_spaces_hyphens_underscores_dots_and_diacritics(name: str) -> None:
    assert knowledge_service.alias_key(name) == "agenttesla"


def test_alias_key_keeps_other_characters() -> None:
    assert knowledge_service.alias_key("APT-C-20 (Pawn Storm)") == "aptc20(pawnstorm)"
    assert knowledge_service.alias_key("Straße") == "strasse"


@pytest.mark.parametrize(
    ("galaxy", "value", "expected"),
    [
        ("mitre-malware", "Agent Tesla - S0331", "Agent Tesla"),
        ("mitre-intrusion-set", "APT28 - G0007", "APT28"),
        ("mitre-tool", " Mimikatz - S0002 ", "Mimikatz"),
        ("mitre-attack-pattern", "Phishing - T1566", "Phishing - T1566"),
        ("malpedia", "Agent Tesla - S0331", "Agent Tesla - S0331"),
    ],
)
def test_canonical_name_drops_mitre_software_and_group_ids_only(
    galaxy: str, value: str, expected: str
) -> None:
    assert knowledge_service.canonical_name(galaxy=galaxy, value=value) == expected


def test_kind_of_accepts_kinds_and_stix_types() -> None:
    assert knowledge_service.kind_of("intrusion-set") == "threat-actor"
    assert knowledge_service.kind_of("tool") == "tool"
    with pytest.raises(ValidationFailed, match="unknown kind 'campaign'"):
        knowledge_service.kind_of("campaign")


# -- loading ---------------------------------------------------------------------------------


def test_load_reports_what_it_stored(loaded: knowledge_service.LoadReport) -> None:
    assert loaded.galaxies == list(GALAXIES)
    assert loaded.clusters == CLUSTERS
    assert (loaded.entries_created, loaded.entries_updated, loaded.entries_removed) == (
        CLUSTERS,
        0,
        0,
    )
    assert (loaded.objects_new, loaded.objects_changed, loaded.objects_unchanged) == (
        STIX_OBJECTS,
        0,
        0,
    )
    # "Grizzly Steppe" (APT28, APT29); "Nitro" (malware, actor); "Mimikatz" (malware, tool).
    assert loaded.ambiguous_keys == 3
    assert loaded.problems == []
    assert loaded.submission_id is not None


def test_each_family_is_one_hub_owned_tlp_clear_public_sdo(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    records = session.scalars(
        select(IntelObject).where(IntelObject.submission_id == loaded.submission_id)
    ).all()
    assert len(records) == STIX_OBJECTS
    assert {(r.label.tlp, r.label.audience, r.status) for r in records} == {
        ("clear", "public", "validated")
    }
    agent_tesla = next(r for r in records if r.stix_id == AGENT_TESLA_ID)
    content = {k: v for k, v in agent_tesla.content.items() if k not in ("created", "modified")}
    assert content == {
        "type": "malware",
        "spec_version": "2.1",
        "id": AGENT_TESLA_ID,
        "name": "Agent Tesla",
        "description": "A .NET based information stealer.",
        "is_family": True,
        "aliases": ["AgenTesla", "AgentTesla", "Negasteal", "Agent Tesla - S0331"],
        "external_references": [
            {"source_name": "mitre-attack", "external_id": "S0331"},
            {
                "source_name": "misp-galaxy",
                "external_id": "b88e29cf-79d9-42bc-b369-0383b5e04380",
                "description": 'misp-galaxy:malpedia="Agent Tesla"',
            },
            {
                "source_name": "misp-galaxy",
                "external_id": "f8cd62cb-b9d3-4352-8f46-0961cfde104c",
                "description": 'misp-galaxy:tool="Agent Tesla"',
            },
            {
                "source_name": "misp-galaxy",
                "external_id": "e7a5229f-05eb-440e-b982-9a6d2b2b87c8",
                "description": 'misp-galaxy:mitre-malware="Agent Tesla - S0331"',
            },
        ],
        "object_marking_refs": [TLP_CLEAR],
    }
    assert agent_tesla.content["created"] == agent_tesla.content["modified"]
    types = sorted(r.stix_type for r in records)
    assert types == [
        "attack-pattern",
        "intrusion-set",
        "malware",
        "malware",
        "malware",
        "malware",
        "threat-actor",
        "threat-actor",
        "threat-actor",
        "tool",
    ]


def test_attack_pattern_keeps_its_attack_id_in_name_and_reference(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    record = session.scalars(
        select(IntelObject).where(
            IntelObject.stix_id == stable_id("attack-pattern", "phishing - t1566")
        )
    ).one()
    assert record.content["name"] == "Phishing - T1566"
    assert record.content["external_references"][0] == {
        "source_name": "mitre-attack",
        "external_id": "T1566",
    }


def test_loading_twice_changes_nothing(
    session: Session, hub: Actor, loaded: knowledge_service.LoadReport
) -> None:
    before = table_counts(session)
    again = knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)
    assert table_counts(session) == before
    assert before[:2] == (CLUSTERS, 29)
    assert (again.entries_created, again.entries_updated, again.entries_removed) == (0, 0, 0)
    assert (again.objects_new, again.objects_changed, again.objects_unchanged) == (
        0,
        0,
        STIX_OBJECTS,
    )
    assert again.submission_id is None


def test_a_changed_cluster_becomes_a_new_version_and_a_removed_one_leaves_resolution(
    session: Session, hub: Actor, loaded: knowledge_service.LoadReport
) -> None:
    changed = copy.deepcopy(GALAXIES)
    changed["malpedia"]["values"][0]["description"] = "A .NET stealer sold as a keylogger."
    del changed["malpedia"]["values"][1]  # Emotet
    time.sleep(0.002)  # a new version needs a later millisecond
    report = knowledge_service.load_galaxies(session=session, actor=hub, data=changed)

    assert (report.entries_created, report.entries_updated, report.entries_removed) == (0, 1, 1)
    assert (report.objects_new, report.objects_changed) == (0, 1)
    versions = session.scalars(
        select(IntelObject)
        .where(IntelObject.stix_id == AGENT_TESLA_ID)
        .order_by(IntelObject.modified)
    ).all()
    assert [v.content.get("description") for v in versions] == [
        "A .NET based information stealer.",
        "A .NET stealer sold as a keylogger.",
    ]
    assert versions[1].content["created"] == versions[0].content["created"]
    assert versions[1].content["modified"] > versions[0].content["modified"]
    assert knowledge_service.resolve(session=session, name="Geodo") is None
    # The stored STIX object stays: versions are never deleted.
    assert (
        session.scalar(
            select(func.count())
            .select_from(IntelObject)
            .where(IntelObject.stix_id == stable_id("malware", "emotet"))
        )
        == 1
    )


def test_loading_one_galaxy_leaves_the_others(
    session: Session, hub: Actor, loaded: knowledge_service.LoadReport
) -> None:
    only = {"malpedia": GALAXIES["malpedia"]}
    report = knowledge_service.load_galaxies(session=session, actor=hub, data=only)
    assert (report.entries_removed, report.objects_unchanged) == (0, 3)
    assert knowledge_service.counts(session=session)[0] == CLUSTERS


def test_alias_rows_keep_every_spelling_under_its_key(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    rows = session.execute(
        select(KnowledgeAlias.alias, KnowledgeAlias.key, KnowledgeAlias.is_canonical)
        .join(KnowledgeEntry, KnowledgeEntry.id == KnowledgeAlias.entry_id)
        .where(KnowledgeEntry.galaxy == "malpedia", KnowledgeEntry.name == "Agent Tesla")
        .order_by(KnowledgeAlias.id)
    ).all()
    assert [tuple(row) for row in rows] == [
        ("Agent Tesla", "agenttesla", True),
        ("AgenTesla", "agentesla", False),
        ("AgentTesla", "agenttesla", True),
        ("Negasteal", "negasteal", False),
    ]


def test_only_the_hub_loads_reference_knowledge(session: Session) -> None:
    officer = account.actor(session, org="ncb-fr")
    with pytest.raises(PermissionDenied, match="acting for 'hub' \\(this actor acts for"):
        knowledge_service.load_galaxies(session=session, actor=officer, data=GALAXIES)


def test_a_hub_viewer_cannot_load(session: Session) -> None:
    viewer = account.actor(session, org="hub", role=Role.VIEWER)
    with pytest.raises(PermissionDenied, match="intel:object:submit"):
        knowledge_service.load_galaxies(session=session, actor=viewer, data=GALAXIES)


def test_bad_clusters_are_reported_and_skipped(session: Session, hub: Actor) -> None:
    data = {
        "malpedia": {
            "values": [
                {"uuid": "0b1c4a57-0000-4000-8000-000000000001", "value": " "},
                {"uuid": "not-a-uuid", "value": "Broken"},
                "a string",
                {"uuid": "0b1c4a57-0000-4000-8000-000000000002", "value": "..."},
                {"uuid": "0b1c4a57-0000-4000-8000-000000000003", "value": "Fine"},
            ]
        }
    }
    report = knowledge_service.load_galaxies(session=session, actor=hub, data=data)
    assert [(p.galaxy, p.cluster, p.field, p.reason) for p in report.problems] == [
        ("malpedia", "cluster 1", "value", "the cluster has no value"),
        ("malpedia", "cluster 2 (Broken)", "uuid", "'not-a-uuid' is not a UUID"),
        ("malpedia", "cluster 3", "values", "not a JSON object"),
        ("malpedia", "cluster 4 (...)", "value", "the name has no letter or digit"),
    ]
    assert report.clusters == 1
    assert knowledge_service.resolve(session=session, name="fine") is not None


def test_unknown_galaxies_are_refused(session: Session, hub: Actor) -> None:
    with pytest.raises(ValidationFailed, match="galaxy 'sector' does not become STIX objects"):
        knowledge_service.load_galaxies(session=session, actor=hub, data={"sector": {"values": []}})
    with pytest.raises(ValidationFailed, match="galaxy 'country' does not become STIX objects"):
        knowledge_service.load_galaxies(session=session, actor=hub, galaxies=["country"])
    with pytest.raises(ValidationFailed, match="the cluster file has no `values` list"):
        knowledge_service.load_galaxies(session=session, actor=hub, data={"rat": {}})


# -- resolution ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["AgentTesla", "agent tesla", "Negasteal", "Agent Tesla - S0331"])
def test_agent_tesla_names_resolve_to_one_entry(
    session: Session, loaded: knowledge_service.LoadReport, name: str
) -> None:
    entry = knowledge_service.resolve(session=session, name=name)
    assert entry is not None
    assert (entry.kind, entry.name, entry.galaxy, entry.stix_id) == (
        "malware",
        "Agent Tesla",
        "malpedia",
        AGENT_TESLA_ID,
    )


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("Fancy Bear", None),
        ("fancy-bear", "threat-actor"),
        ("Sednit", None),
        ("APT28 - G0007", "intrusion-set"),
    ],
)
def test_threat_actor_aliases_resolve_to_apt28(
    session: Session, loaded: knowledge_service.LoadReport, name: str, kind: str | None
) -> None:
    entry = knowledge_service.resolve(session=session, name=name, kind=kind)
    assert entry is not None
    assert (entry.name, entry.galaxy, entry.stix_id) == ("APT28", "threat-actor", APT28_ID)


def test_a_name_of_several_families_is_ambiguous_unless_a_kind_decides(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    grizzly = knowledge_service.lookup(session=session, name="Grizzly Steppe")
    assert grizzly.entry is None
    assert [(c.name, c.galaxy) for c in grizzly.candidates] == [
        ("APT28", "threat-actor"),
        ("APT29", "threat-actor"),
    ]
    nitro = knowledge_service.lookup(session=session, name="nitro")
    assert [(c.kind, c.galaxy) for c in nitro.candidates] == [
        ("malware", "malpedia"),
        ("threat-actor", "threat-actor"),
    ]
    malware = knowledge_service.resolve(session=session, name="nitro", kind="malware")
    actor = knowledge_service.resolve(session=session, name="nitro", kind="threat-actor")
    assert malware is not None and actor is not None
    assert (malware.stix_id, actor.stix_id) == (
        stable_id("malware", "nitro"),
        stable_id("threat-actor", "nitro"),
    )


def test_a_name_that_is_a_tool_and_a_malware_prefers_the_kind_asked_for(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    tool = knowledge_service.resolve(session=session, name="mimikatz", kind="tool")
    malware = knowledge_service.resolve(session=session, name="mimikatz", kind="malware")
    assert tool is not None and malware is not None
    assert (tool.galaxy, tool.stix_id) == ("mitre-tool", stable_id("tool", "mimikatz"))
    assert (malware.galaxy, malware.stix_id) == ("tool", stable_id("malware", "mimikatz"))
    # Without a kind, the galaxy preferred for its kind wins: mitre-tool (first for tools)
    # over the tool galaxy (ninth for malware).
    either = knowledge_service.resolve(session=session, name="mimikatz")
    assert either is not None
    assert either.galaxy == "mitre-tool"


def test_a_kind_is_a_filter_and_unknown_names_resolve_to_nothing(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    assert knowledge_service.resolve(session=session, name="Negasteal", kind="tool") is None
    assert knowledge_service.resolve(session=session, name="Not A Family") is None
    assert knowledge_service.resolve(session=session, name=" - ") is None


def test_resolve_many_answers_each_name(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    found = knowledge_service.resolve_many(
        session=session, names=["Negasteal", "Heodo", "Grizzly Steppe", "nothing"]
    )
    assert {name: entry.name if entry else None for name, entry in found.items()} == {
        "Negasteal": "Agent Tesla",
        "Heodo": "Emotet",
        "Grizzly Steppe": None,
        "nothing": None,
    }


def test_canonical_sdo_id_and_the_parser_resolver(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    assert (
        knowledge_service.canonical_sdo_id(session=session, kind="malware", name="agenttesla")
        == AGENT_TESLA_ID
    )
    assert knowledge_service.canonical_sdo_id(session=session, kind="tool", name="x") is None
    resolve_sdo = knowledge_service.sdo_resolver(session=session)
    assert resolve_sdo("intrusion-set", "Sofacy") == APT28_ID
    assert resolve_sdo("malware", "Agent-Tesla") == AGENT_TESLA_ID
    assert resolve_sdo("malware", "Sofacy") is None


def test_the_family_lists_every_cluster_and_alias(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    entry = knowledge_service.resolve(session=session, name="Fancy Bear")
    assert entry is not None
    read = knowledge_service.to_read(session=session, entry=entry)
    assert read.aliases == [
        "Fancy Bear",
        "Sofacy",
        "Grizzly Steppe",
        "Tsar Team",
        "APT28 - G0007",
        "Sednit",
    ]
    assert [(s.galaxy, s.stix_id, s.external_id) for s in read.sources] == [
        ("threat-actor", APT28_ID, None),
        ("mitre-intrusion-set", stable_id("intrusion-set", "apt28"), "G0007"),
    ]


# -- the parsers meet on the knowledge base's ids --------------------------------------------


def misp_event(tag: str) -> dict[str, Any]:
    return {
        "Event": {
            "uuid": "5f0c2b3e-1d2a-4c57-9a1e-0a9b8c7d6e5f",
            "info": "Phishing wave",
            "timestamp": "1709294400",
            "Tag": [{"name": tag}],
            "Attribute": [
                {
                    "uuid": "7a1c2b3e-1d2a-4c57-9a1e-0a9b8c7d6e50",
                    "type": "domain",
                    "value": "tesla-drop.example.com",
                }
            ],
        }
    }


def sdo_ids(result: Any, stix_type: str) -> list[str]:
    return [o.stix_id for o in result.objects if o.content["type"] == stix_type]


@pytest.mark.parametrize(
    "tag",
    [
        'misp-galaxy:malpedia="Agent Tesla"',
        'misp-galaxy:malpedia="Negasteal"',
        'misp-galaxy:mitre-malware="Agent Tesla - S0331"',
        'misp-galaxy:tool="AgentTesla"',
    ],
)
def test_misp_galaxy_tags_take_the_knowledge_base_id(
    session: Session, loaded: knowledge_service.LoadReport, tag: str
) -> None:
    resolve_sdo = knowledge_service.sdo_resolver(session=session)
    result = parse_misp_event(misp_event(tag), resolve_sdo=resolve_sdo)
    assert result.errors == []
    assert sdo_ids(result, "malware") == [AGENT_TESLA_ID]


def test_misp_intrusion_set_tag_takes_the_threat_actor_family(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    resolve_sdo = knowledge_service.sdo_resolver(session=session)
    tag = 'misp-galaxy:mitre-intrusion-set="APT28 - G0007"'
    result = parse_misp_event(misp_event(tag), resolve_sdo=resolve_sdo)
    assert sdo_ids(result, "threat-actor") == [APT28_ID]
    assert sdo_ids(result, "intrusion-set") == []


def test_misp_without_a_resolver_keeps_its_own_ids() -> None:
    result = parse_misp_event(misp_event('misp-galaxy:malpedia="Negasteal"'))
    assert sdo_ids(result, "malware") == [stable_id("malware", "negasteal")]


def test_csv_malware_column_takes_the_knowledge_base_id(
    session: Session, loaded: knowledge_service.LoadReport
) -> None:
    text = "type,value,malware\ndomain-name,tesla-drop.example.com,agenttesla\n"
    when = datetime(2024, 3, 1, tzinfo=UTC)
    resolved = parse_csv(
        text, default_time=when, resolve_sdo=knowledge_service.sdo_resolver(session=session)
    )
    plain = parse_csv(text, default_time=when)
    assert (resolved.errors, plain.errors) == ([], [])
    assert sdo_ids(resolved, "malware") == [AGENT_TESLA_ID]
    assert sdo_ids(plain, "malware") == [stable_id("malware", "agenttesla")]
    relationship = next(o for o in resolved.objects if o.content["type"] == "relationship")
    assert relationship.content["target_ref"] == AGENT_TESLA_ID


# -- the galaxies pymispgalaxies ships -------------------------------------------------------


def test_the_shipped_galaxies_are_there() -> None:
    shipped = knowledge_service.shipped_galaxies()
    assert set(knowledge_service.DEFAULT_GALAXIES) <= set(shipped)
    malpedia = knowledge_service.read_shipped_galaxy("malpedia")
    agent_tesla = next(v for v in malpedia["values"] if v["value"] == "Agent Tesla")
    assert "Negasteal" in agent_tesla["meta"]["synonyms"]


def test_loading_the_shipped_galaxies(session: Session, hub: Actor) -> None:
    """The real data (about 9,600 clusters; 4-6 s on either database on the reference machine)."""
    report = knowledge_service.load_galaxies(session=session, actor=hub)
    expected = sum(
        len(knowledge_service.read_shipped_galaxy(galaxy)["values"])
        for galaxy in knowledge_service.DEFAULT_GALAXIES
    )
    assert report.clusters == expected
    assert report.problems == []
    assert report.entries_created == expected
    found = knowledge_service.resolve_many(
        session=session, names=["AgentTesla", "agent tesla", "Negasteal"], kind="malware"
    )
    assert {entry.stix_id if entry else None for entry in found.values()} == {AGENT_TESLA_ID}
    apt28 = knowledge_service.resolve(session=session, name="Fancy Bear", kind="threat-actor")
    assert apt28 is not None
    assert (apt28.name, apt28.stix_id) == ("APT28", APT28_ID)
