"""Tests for the STIX 2.0 -> 2.1 upgrade and the TLP 1.0 -> 2.0 marking mapping."""

from __future__ import annotations

import copy
import gzip
import json
import random
from pathlib import Path
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_instance

from cyberfusion.sharing.models import TLP_MARKING_IDS, Tlp
from cyberfusion.stix.upgrade import (
    map_tlp1_markings,
    tlp2_marking_definition,
    tlp_of,
    upgrade_bundle,
    upgrade_object,
)
from cyberfusion.stix.validate import validate_bundle, validate_object
from tests.factories.stix import GOOD, IDENTITY, INDICATOR, MALWARE

# CI data sits in shared/ beside the repository (see shared/data/README.md); users lack it.
ATTACK_BUNDLE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "enterprise-attack-stix20.json.gz"
)

TLP1 = {
    "white": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "green": "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da",
    "amber": "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82",
    "red": "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed",
}
TLP2 = {str(level): marking_id for level, marking_id in TLP_MARKING_IDS.items()}
TLP2_EXT = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


def stix20(object_type: str, uuid: str, **props: Any) -> dict[str, Any]:
    return {
        "type": object_type,
        "id": f"{object_type}--{uuid}",
        "created": "2017-05-31T21:30:19Z",
        "modified": "2017-06-01T08:00:00.5Z",
        **props,
    }


INDICATOR_20 = stix20(
    "indicator",
    "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
    labels=["malicious-activity"],
    pattern="[ipv4-addr:value = '198.51.100.1']",
    valid_from="2017-01-01T00:00:00Z",
    object_marking_refs=[TLP1["amber"]],
)


def test_an_indicator_gets_the_21_properties() -> None:
    before = copy.deepcopy(INDICATOR_20)
    upgraded = upgrade_object(INDICATOR_20)
    assert upgraded == {
        "type": "indicator",
        "spec_version": "2.1",
        "id": INDICATOR,
        "created": "2017-05-31T21:30:19.000Z",
        "modified": "2017-06-01T08:00:00.500Z",
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "valid_from": "2017-01-01T00:00:00Z",
        "object_marking_refs": [TLP2["amber"]],
        "indicator_types": ["malicious-activity"],
        "pattern_type": "stix",
    }
    assert list(upgraded)[:2] == ["type", "spec_version"]
    assert before == INDICATOR_20
    assert validate_object(upgraded, index=0) == []


def test_labels_stay_when_the_type_property_is_already_there() -> None:
    indicator = {**INDICATOR_20, "indicator_types": ["anomalous-activity"]}
    upgraded = upgrade_object(indicator)
    assert upgraded["labels"] == ["malicious-activity"]
    assert upgraded["indicator_types"] == ["anomalous-activity"]


def test_a_pattern_valid_only_in_20_keeps_its_grammar() -> None:
    upgraded = upgrade_object({**INDICATOR_20, "pattern": "[x-acme:EXISTS = 'a']"})
    assert upgraded["pattern_version"] == "2.0"
    assert validate_object(upgraded, index=0) == []


@pytest.mark.parametrize(
    ("object_type", "target"),
    [
        ("malware", "malware_types"),
        ("tool", "tool_types"),
        ("threat-actor", "threat_actor_types"),
        ("report", "report_types"),
    ],
)
def test_labels_move_to_the_21_type_vocabulary(object_type: str, target: str) -> None:
    obj = stix20(object_type, "31b940d4-6f7f-459a-80ea-9c1f17b5891b", name="X", labels=["a-b"])
    upgraded = upgrade_object(obj)
    assert upgraded[target] == ["a-b"]
    assert "labels" not in upgraded


def test_malware_becomes_a_family_unless_it_says_otherwise() -> None:
    malware = stix20("malware", "31b940d4-6f7f-459a-80ea-9c1f17b5891b", name="X", labels=["worm"])
    assert upgrade_object(malware)["is_family"] is True
    assert upgrade_object({**malware, "is_family": False})["is_family"] is False
    assert validate_object(upgrade_object(malware), index=0) == []


def test_observed_data_keeps_its_objects_dictionary() -> None:
    observed = stix20(
        "observed-data",
        "b67d30ff-02ac-498a-92f9-32f845f448cf",
        first_observed="2017-01-01T00:00:00Z",
        last_observed="2017-01-01T00:00:00Z",
        number_observed=1,
        objects={
            "0": {"type": "ipv4-addr", "value": "198.51.100.1"},
            "1": {"type": "network-traffic", "src_ref": "0", "protocols": ["tcp"]},
        },
    )
    upgraded = upgrade_object(observed)
    assert upgraded["objects"] == observed["objects"]
    assert "object_refs" not in upgraded
    assert validate_object(upgraded, index=0) == []


def test_custom_objects_and_properties_are_carried_over() -> None:
    tactic = stix20(
        "x-mitre-tactic",
        "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        name="Execution",
        x_mitre_shortname="execution",
        created_by_ref=IDENTITY,
    )
    upgraded = upgrade_object(tactic)
    assert upgraded == {
        **tactic,
        "spec_version": "2.1",
        "created": "2017-05-31T21:30:19.000Z",
        "modified": "2017-06-01T08:00:00.500Z",
    }
    assert validate_object(upgraded, index=0) == []


def test_a_tlp1_marking_definition_becomes_the_tlp2_one() -> None:
    white = {
        "type": "marking-definition",
        "id": TLP1["white"],
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "definition": {"tlp": "white"},
    }
    assert upgrade_object(white) == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP2["clear"],
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:CLEAR",
        "extensions": {TLP2_EXT: {"extension_type": "property-extension", "tlp_2_0": "clear"}},
    }


def test_granular_markings_are_mapped_and_duplicates_merged() -> None:
    obj = {
        **GOOD["tool"],
        "object_marking_refs": [TLP1["white"], TLP2["clear"], TLP1["red"]],
        "granular_markings": [
            {"marking_ref": TLP1["green"], "selectors": ["name"]},
            {"lang": "en", "selectors": ["name"]},
        ],
    }
    mapped = map_tlp1_markings(obj)
    assert mapped["object_marking_refs"] == [TLP2["clear"], TLP2["red"]]
    assert mapped["granular_markings"] == [
        {"marking_ref": TLP2["green"], "selectors": ["name"]},
        {"lang": "en", "selectors": ["name"]},
    ]
    assert obj["object_marking_refs"][0] == TLP1["white"]
    assert validate_object(mapped, index=0) == []


def test_objects_without_tlp1_markings_are_returned_as_they_are() -> None:
    assert map_tlp1_markings(GOOD["indicator"]) is GOOD["indicator"]
    assert upgrade_object(GOOD["indicator"]) is GOOD["indicator"]


def test_an_sco_marked_20_becomes_21_and_unknown_versions_are_left_alone() -> None:
    url = {
        "type": "url",
        "spec_version": "2.0",
        "id": GOOD["url"]["id"],
        "value": "http://x.example",
    }
    assert upgrade_object(url) == {**url, "spec_version": "2.1"}
    future = {**GOOD["tool"], "spec_version": "2.2"}
    assert upgrade_object(future) is future


def test_upgrading_twice_changes_nothing_more() -> None:
    once = upgrade_object(INDICATOR_20)
    assert upgrade_object(once) == once


def test_a_bundle_loses_its_spec_version_and_keeps_object_order() -> None:
    bundle = {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "spec_version": "2.0",
        "objects": [
            {
                "type": "marking-definition",
                "id": TLP1["green"],
                "created": "2017-01-20T00:00:00.000Z",
                "definition_type": "tlp",
                "definition": {"tlp": "green"},
            },
            INDICATOR_20,
        ],
    }
    before = copy.deepcopy(bundle)
    upgraded = upgrade_bundle(bundle)
    assert bundle == before
    assert set(upgraded) == {"type", "id", "objects"}
    assert [obj["id"] for obj in upgraded["objects"]] == [TLP2["green"], INDICATOR]
    assert validate_bundle(upgraded)[1] == []


@pytest.mark.parametrize(
    ("refs", "expected"),
    [
        ([], None),
        ([IDENTITY], None),
        ([TLP2["green"]], "green"),
        ([TLP2["amber+strict"], TLP2["amber"]], "amber+strict"),
        ([TLP2["clear"], TLP2["red"], TLP2["green"]], "red"),
        ([TLP1["white"]], "clear"),
        ([TLP1["amber"], TLP2["green"]], "amber"),
    ],
)
def test_tlp_of_returns_the_strictest_level(refs: list[str], expected: str | None) -> None:
    assert tlp_of({**GOOD["tool"], "object_marking_refs": refs}) == expected


def test_tlp_of_an_unmarked_object_is_none() -> None:
    assert tlp_of(GOOD["malware"]) is None


@pytest.mark.parametrize("level", list(Tlp))
def test_the_tlp2_definitions_pass_both_validators(level: Tlp) -> None:
    definition = tlp2_marking_definition(level)
    assert definition["id"] == TLP_MARKING_IDS[level]
    assert validate_object(definition, index=0) == []
    assert validate_instance(definition, ValidationOptions(version="2.1")).is_valid is True


def test_a_relationship_to_a_malware_survives_the_upgrade() -> None:
    relationship = stix20(
        "relationship",
        "44298a74-ba52-4f0c-87a3-1824e67d7fad",
        relationship_type="uses",
        source_ref="intrusion-set--4e78f46f-a023-4e5f-bc24-71b3ca22ec29",
        target_ref=MALWARE,
    )
    assert validate_object(upgrade_object(relationship), index=0) == []


@pytest.mark.skipif(
    not ATTACK_BUNDLE.exists(),
    reason=f"{ATTACK_BUNDLE} is absent: the ATT&CK bundle is CI test data, not shipped to users",
)
def test_the_attack_enterprise_bundle_upgrades_to_valid_21() -> None:
    with gzip.open(ATTACK_BUNDLE) as handle:
        bundle = json.load(handle)
    assert len(bundle["objects"]) == 24_771

    upgraded = upgrade_bundle(bundle)["objects"]
    problems = [
        problem
        for position, obj in enumerate(upgraded)
        for problem in validate_object(obj, index=position)
    ]
    assert problems == []
    assert validate_bundle(bundle) == (upgraded, [])

    # The OASIS validator runs at ~150 objects/s: a sample covering every type keeps this fast.
    rng = random.Random(20251113)
    by_type: dict[str, list[dict[str, Any]]] = {}
    for obj in upgraded:
        by_type.setdefault(obj["type"], []).append(obj)
    sample = [
        obj for objects in by_type.values() for obj in rng.sample(objects, min(20, len(objects)))
    ]
    sample += rng.sample(upgraded, 500 - len(sample))
    options = ValidationOptions(version="2.1")
    failures = {
        obj["id"]: [str(error) for error in result.errors]
        for obj in sample
        if not (result := validate_instance(obj, options)).is_valid
    }
    assert failures == {}
