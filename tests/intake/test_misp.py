"""MISP event JSON -> STIX 2.1: golden files, label hints, ids, and PyMISP's own output."""

from __future__ import annotations

import json
import os
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import stix2
from pymisp import MISPEvent, MISPObject

from cyberfusion.core.canonical import canonical_json
from cyberfusion.intake.csv_format import parse_csv
from cyberfusion.intake.misp import parse_misp_event
from cyberfusion.intake.parsed import ParseError, ParseResult, stable_id
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.stix.validate import validate_object

GOLDEN = Path(__file__).parent / "golden" / "misp"
CASES = sorted(path.name.removesuffix(".in.json") for path in GOLDEN.glob("*.in.json"))
# Set to rewrite the expected files from the parser's output (then review the diff).
UPDATE = os.environ.get("CYBERFUSION_UPDATE_GOLDEN") == "1"


def as_json(result: ParseResult) -> dict[str, Any]:
    return {
        "objects": [
            {
                "source": parsed.source,
                "tlp": parsed.tlp.value if parsed.tlp else None,
                "audience": parsed.audience.value if parsed.audience else None,
                "generated": parsed.generated,
                "content": parsed.content,
            }
            for parsed in result.objects
        ],
        "errors": [
            {"source": error.source, "field": error.field, "reason": error.reason}
            for error in result.errors
        ],
    }


def assert_valid_stix(result: ParseResult) -> None:
    problems = [
        problem
        for position, parsed in enumerate(result.objects)
        for problem in validate_object(parsed.content, index=position)
    ]
    assert problems == []


def by_id(result: ParseResult) -> dict[str, Any]:
    return {parsed.stix_id: parsed for parsed in result.objects}


@pytest.mark.parametrize("case", CASES)
def test_golden(case: str) -> None:
    result = parse_misp_event((GOLDEN / f"{case}.in.json").read_bytes())
    expected_path = GOLDEN / f"{case}.expected.json"
    if UPDATE:
        text = json.dumps(as_json(result), indent=2, ensure_ascii=False) + "\n"
        expected_path.write_text(text, encoding="utf-8")
    assert as_json(result) == json.loads(expected_path.read_text(encoding="utf-8"))


@pytest.mark.parametrize("case", CASES)
def test_golden_objects_are_valid_stix(case: str) -> None:
    assert_valid_stix(parse_misp_event((GOLDEN / f"{case}.in.json").read_bytes()))


@pytest.mark.parametrize("case", CASES)
def test_reparsing_gives_byte_identical_objects(case: str) -> None:
    data = (GOLDEN / f"{case}.in.json").read_bytes()
    first = [canonical_json(parsed.content) for parsed in parse_misp_event(data).objects]
    second = [canonical_json(parsed.content) for parsed in parse_misp_event(data).objects]
    assert first == second


@pytest.mark.parametrize("case", CASES)
def test_report_refers_to_everything_produced(case: str) -> None:
    result = parse_misp_event((GOLDEN / f"{case}.in.json").read_bytes())
    report, *others = result.objects
    assert report.content["type"] == "report"
    assert report.content["object_refs"] == [parsed.stix_id for parsed in others]


def test_wrapped_and_bare_event_give_the_same_objects() -> None:
    wrapped = json.loads((GOLDEN / "osint_sednit.in.json").read_text(encoding="utf-8"))
    assert as_json(parse_misp_event(wrapped["Event"])) == as_json(parse_misp_event(wrapped))


# -- labels ----------------------------------------------------------------------------------


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uuid": "11111111-2222-4333-8444-555555555555",
        "info": "test event",
        "date": "2024-01-02",
        "timestamp": "1704200000",
    }
    base.update(fields)
    return base


def attribute(number: int, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uuid": f"aaaaaaaa-0000-4000-8000-{number:012d}",
        "type": "domain",
        "value": f"host{number}.example.com",
        "to_ids": True,
        "timestamp": "1704100000",
    }
    base.update(fields)
    return base


def hints(result: ParseResult) -> dict[str, tuple[Tlp | None, Audience | None]]:
    return {parsed.stix_id: (parsed.tlp, parsed.audience) for parsed in result.objects}


def test_tlp_white_is_clear_and_attribute_tags_override_the_event() -> None:
    result = parse_misp_event(
        event(
            Tag=[{"name": "tlp:white"}],
            Attribute=[
                attribute(1),
                attribute(2, Tag=[{"name": "TLP:RED"}]),
                attribute(3, Tag=[{"name": "tlp:green"}, {"name": "tlp:amber+strict"}]),
            ],
        )
    )
    found = hints(result)
    assert found["report--11111111-2222-4333-8444-555555555555"] == (Tlp.CLEAR, None)
    assert found["indicator--aaaaaaaa-0000-4000-8000-000000000001"] == (Tlp.CLEAR, None)
    assert found["indicator--aaaaaaaa-0000-4000-8000-000000000002"] == (Tlp.RED, None)
    assert found["indicator--aaaaaaaa-0000-4000-8000-000000000003"] == (Tlp.AMBER_STRICT, None)
    assert result.errors == []


def test_no_tlp_tag_leaves_the_submission_default() -> None:
    result = parse_misp_event(event(Attribute=[attribute(1)]))
    assert [(parsed.tlp, parsed.audience) for parsed in result.objects] == [(None, None)] * 2


@pytest.mark.parametrize(
    ("event_level", "attribute_level", "expected"),
    [
        ("0", None, Audience.ORGANISATION),
        ("1", None, Audience.COMMUNITY),
        ("2", None, Audience.COMMUNITY),
        ("3", "5", Audience.COMMUNITY),
        ("4", None, Audience.ORGANISATION),
        ("3", "0", Audience.ORGANISATION),
        ("0", "3", Audience.COMMUNITY),
        (None, "4", Audience.ORGANISATION),
        (None, "5", None),
        (3, 1, Audience.COMMUNITY),
    ],
)
def test_distribution_becomes_the_audience_hint(
    event_level: str | int | None, attribute_level: str | int | None, expected: Audience | None
) -> None:
    fields = {} if attribute_level is None else {"distribution": attribute_level}
    data = event(Attribute=[attribute(1, **fields)])
    if event_level is not None:
        data["distribution"] = event_level
    result = parse_misp_event(data)
    assert hints(result)["indicator--aaaaaaaa-0000-4000-8000-000000000001"][1] is expected
    assert result.errors == []


def test_all_communities_is_never_public() -> None:
    result = parse_misp_event(event(distribution="3", Tag=[{"name": "tlp:clear"}]))
    assert {parsed.audience for parsed in result.objects} <= {Audience.COMMUNITY}


def test_unknown_distribution_is_reported_and_narrowed() -> None:
    result = parse_misp_event(event(distribution="5", Attribute=[attribute(1)]))
    assert result.errors == [
        ParseError(
            "event (uuid 11111111-2222-4333-8444-555555555555)",
            "distribution",
            "unknown distribution '5' (expected 0-4); labelled for the owner's organisation only",
        )
    ]
    assert hints(result)["indicator--aaaaaaaa-0000-4000-8000-000000000001"] == (
        None,
        Audience.ORGANISATION,
    )


def test_an_sco_shared_by_two_attributes_keeps_the_stricter_labels() -> None:
    result = parse_misp_event(
        event(
            Attribute=[
                attribute(1, type="ip-dst", value="198.51.100.9", to_ids=False, distribution="3"),
                attribute(
                    2,
                    type="ip-src",
                    value="198.51.100.9",
                    to_ids=False,
                    distribution="0",
                    Tag=[{"name": "tlp:amber"}],
                ),
            ]
        )
    )
    sco_id = stix2.IPv4Address(value="198.51.100.9").id
    assert hints(result)[sco_id] == (Tlp.AMBER, Audience.ORGANISATION)
    assert [parsed.stix_id for parsed in result.objects].count(sco_id) == 1


# -- ids ---------------------------------------------------------------------------------------


def test_sco_ids_are_the_stix_deterministic_ids() -> None:
    result = parse_misp_event(
        event(
            Attribute=[
                attribute(1, type="domain|ip", value="Mail.Example.com|203.0.113.9", to_ids=False),
                attribute(2, type="filename|sha256", value=f"a.exe|{'ab' * 32}", to_ids=False),
                attribute(3, type="AS", value="AS64500", to_ids=False),
                attribute(4, type="email-src", value="x@example.com", to_ids=False),
            ]
        )
    )
    ids = set(by_id(result))
    expected = {
        stix2.DomainName(value="mail.example.com").id,
        stix2.IPv4Address(value="203.0.113.9").id,
        stix2.File(name="a.exe", hashes={"SHA-256": "ab" * 32}).id,
        stix2.AutonomousSystem(number=64500).id,
        stix2.EmailAddress(value="x@example.com").id,
    }
    assert expected - ids == set()


def test_galaxy_malware_has_the_same_id_as_the_csv_malware_column() -> None:
    misp = parse_misp_event(
        event(Attribute=[attribute(1, Tag=[{"name": 'misp-galaxy:malpedia="Emotet"'}])])
    )
    csv = parse_csv("value,malware\nhost1.example.com,EMOTET\n", default_time=datetime(2024, 1, 1))
    malware_id = stable_id("malware", "emotet")
    assert malware_id in by_id(misp)
    assert malware_id in by_id(csv)


def test_galaxy_relationships_follow_the_stix_relationship_table() -> None:
    result = parse_misp_event(
        event(
            Attribute=[
                attribute(
                    1,
                    Tag=[
                        {"name": 'misp-galaxy:threat-actor="Sofacy"'},
                        {"name": 'misp-galaxy:mitre-attack-pattern="Phishing - T1566"'},
                    ],
                ),
                attribute(2, to_ids=False, Tag=[{"name": 'misp-galaxy:ransomware="Ryuk"'}]),
            ]
        )
    )
    relationships = sorted(
        (
            parsed.content["source_ref"].split("--")[0],
            parsed.content["relationship_type"],
            parsed.content["target_ref"].split("--")[0],
        )
        for parsed in result.objects
        if parsed.content["type"] == "relationship"
    )
    assert relationships == [
        ("indicator", "indicates", "attack-pattern"),
        ("indicator", "indicates", "threat-actor"),
        ("observed-data", "related-to", "malware"),
    ]
    attack_pattern = by_id(result)[stable_id("attack-pattern", "phishing - t1566")]
    assert attack_pattern.content["external_references"] == [
        {"source_name": "mitre-attack", "external_id": "T1566"}
    ]
    assert attack_pattern.generated is True


def test_a_cluster_says_more_than_a_tag_of_the_same_name() -> None:
    cluster = {
        "type": "threat-actor",
        "value": "Sofacy",
        "tag_name": 'misp-galaxy:threat-actor="Sofacy"',
        "description": "Russian espionage group",
        "meta": {"synonyms": ["APT28", "Sofacy", "Fancy Bear", "APT28"]},
    }
    result = parse_misp_event(
        event(
            Tag=[{"name": 'misp-galaxy:threat-actor="Sofacy"'}],
            Galaxy=[{"type": "threat-actor", "GalaxyCluster": [cluster]}],
            Attribute=[attribute(1)],
        )
    )
    actor = by_id(result)[stable_id("threat-actor", "sofacy")].content
    assert actor["description"] == "Russian espionage group"
    assert actor["aliases"] == ["APT28", "Fancy Bear"]


def test_attribute_without_uuid_gets_a_stable_id() -> None:
    data = event(Attribute=[{"type": "url", "value": "http://example.com/a", "to_ids": True}])
    first = parse_misp_event(data)
    second = parse_misp_event(json.dumps(data))
    assert [parsed.stix_id for parsed in first.objects] == [
        parsed.stix_id for parsed in second.objects
    ]
    assert first.objects[1].source == "attribute 1"
    assert first.objects[1].content["id"].startswith("indicator--")


# -- envelope errors ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", ParseError("event", "json", "")),
        ("[1, 2]", ParseError("event", "Event", "")),
        ({"Event": {"info": "x", "date": "2024-01-01"}}, ParseError("event", "uuid", "")),
        ({"uuid": "nope", "info": "x"}, ParseError("event", "uuid", "")),
        (
            {"uuid": "11111111-2222-4333-8444-555555555555", "date": "2024-01-01"},
            ParseError("event", "info", ""),
        ),
        (
            {"uuid": "11111111-2222-4333-8444-555555555555", "info": "x"},
            ParseError("event", "timestamp", ""),
        ),
        (
            {"uuid": "11111111-2222-4333-8444-555555555555", "info": "x", "date": "01/02/2024"},
            ParseError("event", "date", ""),
        ),
    ],
)
def test_unusable_event_is_one_error(data: Any, expected: ParseError) -> None:
    result = parse_misp_event(data)
    assert result.objects == []
    assert [(error.source, error.field) for error in result.errors] == [
        (expected.source, expected.field)
    ]


def test_missing_timestamp_reason_says_why_it_matters() -> None:
    result = parse_misp_event({"uuid": "11111111-2222-4333-8444-555555555555", "info": "x"})
    assert result.errors[0].reason == (
        "the event has no timestamp, publish_timestamp or date; "
        "the STIX times must come from the event to be reproducible"
    )


def test_event_with_nothing_importable_has_no_report() -> None:
    result = parse_misp_event(event(Attribute=[attribute(1, type="regkey", value="HKLM\\x")]))
    assert result.objects == []
    assert [error.field for error in result.errors] == ["type", "Attribute"]


# -- PyMISP ------------------------------------------------------------------------------------


def test_event_written_by_pymisp() -> None:
    misp_event = MISPEvent()
    misp_event.info = "Credential phishing against a ministry"
    misp_event.date = date(2024, 4, 2)
    misp_event.distribution = 1
    misp_event.add_tag("tlp:amber")
    misp_event.add_tag('misp-galaxy:threat-actor="Sofacy"')
    c2 = misp_event.add_attribute("ip-dst", "203.0.113.80", to_ids=True, comment="C2")
    c2.add_tag("tlp:red")
    c2.add_tag('misp-galaxy:malpedia="X-Agent"')
    misp_event.add_attribute("domain", "login-mfa-gov.com", to_ids=False, distribution=0)
    misp_event.add_attribute("vulnerability", "CVE-2023-23397")
    misp_event.add_attribute("link", "https://example.com/advisory")
    file_object = MISPObject("file")
    file_object.add_attribute("filename", value="invoice.pdf.exe")
    sha256 = file_object.add_attribute("sha256", value="9" * 64)
    misp_event.add_object(file_object)
    network_object = MISPObject("domain-ip")
    network_object.add_attribute("domain", value="cdn.login-mfa-gov.com")
    network_object.add_attribute("ip", value="203.0.113.81")
    misp_event.add_object(network_object)
    reference = file_object.add_reference(network_object.uuid, "connects-to")

    result = parse_misp_event(misp_event.to_json())
    objects = by_id(result)
    assert_valid_stix(result)

    assert result.errors == [
        ParseError(
            f"object 1 (uuid {file_object.uuid}) attribute 1 "
            f"(uuid {file_object.attributes[0].uuid})",
            "type",
            "MISP attribute type 'filename' is not supported yet",
        )
    ]
    report = objects[f"report--{misp_event.uuid}"]
    assert (report.tlp, report.audience) == (Tlp.AMBER, Audience.COMMUNITY)
    assert report.content["published"] == "2024-04-02T00:00:00.000Z"
    assert report.content["external_references"] == [
        {"source_name": "link", "url": "https://example.com/advisory"}
    ]
    indicator = objects[f"indicator--{c2.uuid}"]
    assert indicator.content["pattern"] == "[ipv4-addr:value = '203.0.113.80']"
    assert (indicator.tlp, indicator.audience) == (Tlp.RED, Audience.COMMUNITY)
    domain = objects[f"observed-data--{misp_event.attributes[1].uuid}"]
    assert (domain.tlp, domain.audience) == (Tlp.AMBER, Audience.ORGANISATION)
    assert objects[f"vulnerability--{misp_event.attributes[2].uuid}"].content["name"] == (
        "CVE-2023-23397"
    )
    assert stable_id("threat-actor", "sofacy") in objects
    relationship = objects[f"relationship--{reference.uuid}"].content
    assert relationship["relationship_type"] == "connects-to"
    assert relationship["source_ref"] == f"grouping--{file_object.uuid}"
    assert relationship["target_ref"] == f"grouping--{network_object.uuid}"
    assert objects[f"grouping--{file_object.uuid}"].content["object_refs"] == [
        f"indicator--{sha256.uuid}"
    ]
    indicates = objects[
        stable_id(
            "relationship", "indicates", f"indicator--{c2.uuid}", stable_id("malware", "x-agent")
        )
    ]
    assert indicates.generated is True
