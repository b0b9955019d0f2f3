"""Tests for the STIX 2.1 validation gate."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_instance

from cyberfusion.stix.validate import Problem, validate_bundle, validate_object
from tests.factories.stix import (
    FILE,
    GOOD,
    IDENTITY,
    INDICATOR,
    IPV4,
    MALWARE,
    SCO_TYPES,
    SDO_TYPES,
    SRO_TYPES,
    STATEMENT,
    TLP1_WHITE,
    TLP2_GREEN,
    TLP_GREEN,
    TS,
    good,
)

TLP2_EXT = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP2_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP1_GREEN = "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da"
V5_PROCESS = "process--f52a906a-0dfc-50bd-92f1-e7778ead38a9"


def problems_of(obj: dict[str, Any]) -> list[tuple[str | None, str]]:
    return [(problem.property, problem.reason) for problem in validate_object(obj, index=3)]


@pytest.mark.parametrize("object_type", sorted(GOOD))
def test_a_good_object_of_every_type_passes(object_type: str) -> None:
    assert validate_object(GOOD[object_type], index=0) == []


def test_the_good_objects_cover_every_sdo_sro_and_sco() -> None:
    assert set(SDO_TYPES) | set(SRO_TYPES) | set(SCO_TYPES) <= set(GOOD)


@pytest.mark.parametrize("marking", [TLP1_WHITE, TLP2_GREEN], ids=["tlp1-white", "tlp2-green"])
def test_tlp_marking_definitions_pass(marking: dict[str, Any]) -> None:
    assert validate_object(marking, index=0) == []


def test_a_problem_names_index_id_property_and_reason() -> None:
    obj = good("indicator", confidence=101)
    assert validate_object(obj, index=7) == [
        Problem(7, INDICATOR, "confidence", "must be between 0 and 100 (found 101)")
    ]


REQUIRED = [
    (object_type, name)
    for object_type, names in {
        "attack-pattern": ["name"],
        "campaign": ["name"],
        "course-of-action": ["name"],
        "grouping": ["context", "object_refs"],
        "identity": ["name"],
        "incident": ["name"],
        "indicator": ["pattern", "pattern_type", "valid_from"],
        "infrastructure": ["name"],
        "intrusion-set": ["name"],
        "malware": ["is_family"],
        "malware-analysis": ["product"],
        "note": ["content", "object_refs"],
        "observed-data": ["first_observed", "last_observed", "number_observed"],
        "opinion": ["opinion", "object_refs"],
        "report": ["name", "published", "object_refs"],
        "threat-actor": ["name"],
        "tool": ["name"],
        "vulnerability": ["name"],
        "relationship": ["relationship_type", "source_ref", "target_ref"],
        "sighting": ["sighting_of_ref"],
        "autonomous-system": ["number"],
        "directory": ["path"],
        "domain-name": ["value"],
        "email-addr": ["value"],
        "email-message": ["is_multipart"],
        "ipv4-addr": ["value"],
        "ipv6-addr": ["value"],
        "mac-addr": ["value"],
        "mutex": ["name"],
        "network-traffic": ["protocols"],
        "software": ["name"],
        "url": ["value"],
        "marking-definition": ["created"],
        "language-content": ["object_ref", "contents"],
        "extension-definition": ["created_by_ref", "name", "schema", "version", "extension_types"],
    }.items()
    for name in names
]
REQUIRED += [(t, "created") for t in SDO_TYPES + SRO_TYPES if t != "observed-data"]
REQUIRED += [(t, "modified") for t in SDO_TYPES + SRO_TYPES]


@pytest.mark.parametrize(("object_type", "name"), REQUIRED)
def test_each_required_property_is_enforced(object_type: str, name: str) -> None:
    obj = good(object_type, **{name: None})
    extra = {
        # Dropping these also breaks a rule that compares or depends on them.
        ("observed-data", "first_observed"),
        ("observed-data", "last_observed"),
        ("indicator", "valid_from"),
        ("observed-data", "modified"),
    }
    found = problems_of(obj)
    assert (name, f"is required for {object_type}") in found
    if (object_type, name) not in extra:
        assert found == [(name, f"is required for {object_type}")]


@pytest.mark.parametrize(
    ("obj", "expected"),
    [
        pytest.param(
            {k: v for k, v in GOOD["tool"].items() if k != "type"},
            [("type", "is required")],
            id="type-missing",
        ),
        pytest.param(
            good("tool", type="Tool"),
            [
                (
                    "type",
                    "'Tool' is not a valid type name (3-250 characters of a-z, 0-9 and single "
                    "hyphens, starting with a letter)",
                )
            ],
            id="type-syntax",
        ),
        pytest.param(
            good("tool", type="weapon", id="weapon--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3d"),
            [
                (
                    "type",
                    "unknown object type 'weapon': custom types must start with 'x-' or be "
                    "declared by an extension-definition extension of type new-sdo, new-sco or "
                    "new-sro",
                )
            ],
            id="type-unknown",
        ),
        pytest.param(
            {"type": "bundle", "id": "bundle--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3d"},
            [("type", "a bundle cannot be nested inside a bundle's objects")],
            id="type-bundle",
        ),
        pytest.param(
            good("tool", id=MALWARE),
            [("id", f"'{MALWARE}' must start with the object's type 'tool'")],
            id="id-type-prefix",
        ),
        pytest.param(
            good("tool", id="tool--1234"),
            [("id", "'tool--1234' is not of the form tool--<UUID>")],
            id="id-not-uuid",
        ),
        pytest.param(
            good("tool", id="tool--8e2e2d2b-17d4-0cbf-938f-98ee46b3cd3d"),
            [("id", "the UUID is not an RFC 4122 UUID (version 1-5, variant 10xx)")],
            id="id-uuid-version",
        ),
        pytest.param(
            good("tool", spec_version=None),
            [("spec_version", "is required and must be '2.1'")],
            id="spec-version-missing",
        ),
        pytest.param(
            good("tool", spec_version="2.0"),
            [("spec_version", "is '2.0': upgrade STIX 2.0 content to 2.1 first (upgrade_object)")],
            id="spec-version-2.0",
        ),
        pytest.param(
            good("url", spec_version="2.2"),
            [("spec_version", "'2.2' is not supported: must be '2.1'")],
            id="spec-version-sco",
        ),
        pytest.param(
            good("tool", created="2024-03-01T10:00:00Z"),
            [
                (
                    "created",
                    "'2024-03-01T10:00:00Z' must be precise to the millisecond "
                    "(e.g. 2024-03-01T10:00:00.000Z)",
                )
            ],
            id="timestamp-millis",
        ),
        pytest.param(
            good("tool", modified="2024-03-01 10:00:00.000"),
            [
                (
                    "modified",
                    "'2024-03-01 10:00:00.000' is not an RFC 3339 UTC timestamp of the form "
                    "YYYY-MM-DDTHH:MM:SS[.s]Z",
                )
            ],
            id="timestamp-format",
        ),
        pytest.param(
            good("indicator", valid_from="2024-02-30T00:00:00Z", valid_until=None),
            [
                (
                    "valid_from",
                    "'2024-02-30T00:00:00Z' is not a valid date and time "
                    "(day is out of range for month)",
                )
            ],
            id="timestamp-date",
        ),
        pytest.param(
            good("tool", modified="\u0662\u0660\u0662\u0664-03-01T10:00:00.000Z"),
            [
                (
                    "modified",
                    "'\u0662\u0660\u0662\u0664-03-01T10:00:00.000Z' is not an RFC 3339 UTC "
                    "timestamp of the form YYYY-MM-DDTHH:MM:SS[.s]Z",
                )
            ],
            id="timestamp-ascii-digits",
        ),
        pytest.param(
            good("tool", modified="2024-03-01T09:59:59.999Z"),
            [
                (
                    "modified",
                    "2024-03-01T09:59:59.999Z must be equal to or later than created "
                    "(2024-03-01T10:00:00.000Z)",
                )
            ],
            id="modified-before-created",
        ),
        pytest.param(
            good("indicator", valid_until="2024-03-01T10:00:00Z"),
            [
                (
                    "valid_until",
                    "2024-03-01T10:00:00Z must be later than valid_from (2024-03-01T10:00:00.000Z)",
                )
            ],
            id="valid-until-not-after-valid-from",
        ),
        pytest.param(
            good("campaign", last_seen="2023-01-01T00:00:00Z"),
            [
                (
                    "last_seen",
                    "2023-01-01T00:00:00Z must be equal to or later than first_seen "
                    "(2024-03-01T10:00:00.000Z)",
                )
            ],
            id="last-seen-before-first-seen",
        ),
        pytest.param(
            good("tool", confidence=True),
            [("confidence", "must be an integer, not a boolean")],
            id="confidence-type",
        ),
        pytest.param(
            good("tool", lang="english!"),
            [("lang", "'english!' is not an RFC 5646 language tag (e.g. 'en', 'pt-BR')")],
            id="lang",
        ),
        pytest.param(
            good("tool", labels=[]),
            [("labels", "must not be an empty list; omit the property instead")],
            id="empty-list",
        ),
        pytest.param(
            good("tool", labels=["ok", 3]),
            [("labels[1]", "must be a string, not an integer")],
            id="list-item-type",
        ),
        pytest.param(
            good("tool", description=None) | {"description": None},
            [("description", "must not be null; omit the property instead")],
            id="null",
        ),
        pytest.param(
            good("tool", external_references=[{"url": "https://example.com"}]),
            [("external_references[0].source_name", "is required")],
            id="external-reference-source-name",
        ),
        pytest.param(
            good("tool", external_references=[{"source_name": "vendor"}]),
            [
                (
                    "external_references[0]",
                    "needs at least one of description, url or external_id besides source_name",
                )
            ],
            id="external-reference-content",
        ),
        pytest.param(
            good(
                "vulnerability",
                external_references=[{"source_name": "cve", "external_id": "CVE-16-1"}],
            ),
            [
                (
                    "external_references[0].external_id",
                    "'CVE-16-1' is not a CVE id (CVE-YYYY-NNNN) as source 'cve' requires",
                )
            ],
            id="external-reference-cve",
        ),
        pytest.param(
            good("tool", created_by_ref=MALWARE),
            [("created_by_ref", f"'{MALWARE}' must refer to identity, not malware")],
            id="created-by-ref-type",
        ),
        pytest.param(
            good("tool", created_by_ref="identity-1"),
            [("created_by_ref", "'identity-1' is not an identifier of the form <type>--<UUID>")],
            id="ref-form",
        ),
        pytest.param(
            good("tool", object_marking_refs=[IDENTITY]),
            [
                (
                    "object_marking_refs[0]",
                    f"'{IDENTITY}' must refer to marking-definition, not identity",
                )
            ],
            id="object-marking-refs-type",
        ),
        pytest.param(
            good("tool", granular_markings=[{"marking_ref": TLP_GREEN}]),
            [("granular_markings[0].selectors", "is required")],
            id="granular-selectors-required",
        ),
        pytest.param(
            good(
                "tool",
                granular_markings=[{"marking_ref": TLP_GREEN, "lang": "en", "selectors": ["name"]}],
            ),
            [("granular_markings[0]", "must have exactly one of marking_ref and lang")],
            id="granular-ref-or-lang",
        ),
        pytest.param(
            good("tool", granular_markings=[{"marking_ref": TLP_GREEN, "selectors": ["Name"]}]),
            [("granular_markings[0].selectors[0]", "'Name' is not a valid selector")],
            id="granular-selector-syntax",
        ),
        pytest.param(
            good(
                "tool", granular_markings=[{"marking_ref": TLP_GREEN, "selectors": ["description"]}]
            ),
            [
                (
                    "granular_markings[0].selectors[0]",
                    "selector 'description' does not resolve: 'description' is not a property "
                    "present in the object",
                )
            ],
            id="granular-selector-resolves",
        ),
        pytest.param(
            good(
                "attack-pattern",
                granular_markings=[
                    {"marking_ref": TLP_GREEN, "selectors": ["kill_chain_phases.[1].phase_name"]}
                ],
            ),
            [
                (
                    "granular_markings[0].selectors[0]",
                    "selector 'kill_chain_phases.[1].phase_name' does not resolve: index 1 is past "
                    "the end of a list of 1",
                )
            ],
            id="granular-selector-index",
        ),
        pytest.param(
            good("tool", FooBar="x"),
            [("FooBar", "is not a valid property name (3-250 characters of a-z, 0-9 and _)")],
            id="custom-property-name",
        ),
        pytest.param(
            good("tool", severity="high"),
            [("severity", "'severity' is a reserved property name in STIX 2.1")],
            id="reserved-property",
        ),
        pytest.param(
            good("tool", x_acme_key_hex="abc"),
            [
                (
                    "x_acme_key_hex",
                    "must be a string of hexadecimal octets (an even number of 0-9a-f)",
                )
            ],
            id="custom-hex",
        ),
        pytest.param(
            good("tool", x_acme_tags=[]),
            [("x_acme_tags", "must not be an empty list; omit the property instead")],
            id="custom-empty-list",
        ),
        pytest.param(
            good("tool", extensions={}),
            [("extensions", "must not be an empty dictionary; omit the property instead")],
            id="extensions-empty",
        ),
        pytest.param(
            good("tool", extensions={"acme": {"rank": 5}}),
            [
                (
                    "extensions",
                    "extension key 'acme' must be an extension-definition id or a name ending in "
                    "'-ext'",
                )
            ],
            id="extensions-key",
        ),
        pytest.param(
            good(
                "tool",
                extensions={
                    "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {"rank": 5}
                },
            ),
            [
                (
                    "extensions.extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"
                    ".extension_type",
                    "is required in an extension-definition extension",
                )
            ],
            id="extensions-extension-type",
        ),
        pytest.param(
            good("url", extensions={"ntfs-ext": {"sid": "1"}}),
            [("extensions.ntfs-ext", "the ntfs-ext extension is not defined for url")],
            id="extensions-predefined-wrong-type",
        ),
        pytest.param(
            good("file", extensions={"windows-pebinary-ext": {"imphash": "abc"}}),
            [("extensions.windows-pebinary-ext.pe_type", "is required")],
            id="extensions-predefined-required",
        ),
        pytest.param(
            good("indicator", pattern="[ipv4-addr:value = '1.2.3.4'"),
            [("pattern", "invalid STIX pattern: Error found at line 1:28. missing ']' at '<EOF>'")],
            id="indicator-pattern",
        ),
        pytest.param(
            good("indicator", pattern_version="3.0"),
            [("pattern_version", "'3.0' is not a STIX pattern version (2.0 or 2.1)")],
            id="indicator-pattern-version",
        ),
        pytest.param(
            good("malware", name=None),
            [("name", "is required when is_family is true")],
            id="malware-family-name",
        ),
        pytest.param(
            good("malware", sample_refs=[IPV4]),
            [("sample_refs[0]", f"'{IPV4}' must refer to file or artifact, not ipv4-addr")],
            id="malware-sample-refs",
        ),
        pytest.param(
            good("malware-analysis", result=None),
            [(None, "must have at least one of result and analysis_sco_refs")],
            id="malware-analysis-result",
        ),
        pytest.param(
            good("location", latitude=None, precision=None, country=None),
            [
                ("latitude", "is required when longitude is present"),
                (None, "must have at least one of region, country, or latitude and longitude"),
            ],
            id="location-coordinates",
        ),
        pytest.param(
            good("location", latitude=91),
            [("latitude", "must be between -90 and 90 (found 91)")],
            id="location-latitude-range",
        ),
        pytest.param(
            good("location", latitude=None, longitude=None),
            [("precision", "requires both latitude and longitude")],
            id="location-precision",
        ),
        pytest.param(
            good("observed-data", objects={"0": {"type": "ipv4-addr", "value": "1.2.3.4"}}),
            [
                (
                    None,
                    "must have exactly one of object_refs and objects (found object_refs, objects)",
                )
            ],
            id="observed-data-one-of",
        ),
        pytest.param(
            good("observed-data", number_observed=0),
            [("number_observed", "must be between 1 and 999999999 (found 0)")],
            id="observed-data-count",
        ),
        pytest.param(
            good("observed-data", object_refs=[MALWARE]),
            [
                (
                    "object_refs[0]",
                    f"'{MALWARE}' must refer to an SCO, SRO or custom object, not malware",
                )
            ],
            id="observed-data-refs",
        ),
        pytest.param(
            good("opinion", opinion="maybe"),
            [
                (
                    "opinion",
                    "'maybe' is not one of: strongly-disagree, disagree, neutral, agree, "
                    "strongly-agree",
                )
            ],
            id="opinion-enum",
        ),
        pytest.param(
            good("relationship", relationship_type="Indicates"),
            [("relationship_type", "'Indicates' must be lowercase a-z, 0-9 and single hyphens")],
            id="relationship-type",
        ),
        pytest.param(
            good("relationship", target_ref=TLP_GREEN),
            [
                (
                    "target_ref",
                    f"'{TLP_GREEN}' must refer to an SDO, SCO or custom object, "
                    "not marking-definition",
                )
            ],
            id="relationship-target",
        ),
        pytest.param(
            good("relationship", stop_time=TS),
            [
                (
                    "stop_time",
                    "2024-03-01T10:00:00.000Z must be later than start_time "
                    "(2024-03-01T10:00:00.000Z)",
                )
            ],
            id="relationship-stop-time",
        ),
        pytest.param(
            good("sighting", sighting_of_ref=IPV4),
            [
                (
                    "sighting_of_ref",
                    f"'{IPV4}' must refer to an SDO or custom object, not ipv4-addr",
                )
            ],
            id="sighting-of-sco",
        ),
        pytest.param(
            good("sighting", where_sighted_refs=[MALWARE]),
            [
                (
                    "where_sighted_refs[0]",
                    f"'{MALWARE}' must refer to identity or location, not malware",
                )
            ],
            id="sighting-where",
        ),
        pytest.param(
            good("sighting", count=-1),
            [("count", "must be between 0 and 999999999 (found -1)")],
            id="sighting-count",
        ),
        pytest.param(
            good("ipv4-addr", value="10.0.0.256"),
            [("value", "'10.0.0.256' is not an IPv4 address or CIDR block")],
            id="ipv4-value",
        ),
        pytest.param(
            good("ipv6-addr", value="2001:db8::g"),
            [("value", "'2001:db8::g' is not an IPv6 address or CIDR block")],
            id="ipv6-value",
        ),
        pytest.param(
            good("mac-addr", value="D2:FB:49:24:37:18"),
            [("value", "'D2:FB:49:24:37:18' is not a lowercase colon-separated MAC-48 address")],
            id="mac-value",
        ),
        pytest.param(
            good("autonomous-system", number="AS15139"),
            [("number", "must be an integer, not a string")],
            id="asn-type",
        ),
        pytest.param(
            good("file", name=None, hashes=None),
            [(None, "file must have at least one of: hashes, name")],
            id="file-hashes-or-name",
        ),
        pytest.param(
            good("file", hashes={"SHA-256": ""}),
            [("hashes.SHA-256", "a hash value must be a non-empty string")],
            id="file-hash-value",
        ),
        pytest.param(
            good("file", parent_directory_ref=FILE),
            [("parent_directory_ref", f"'{FILE}' must refer to directory, not file")],
            id="file-parent-directory",
        ),
        pytest.param(
            good("artifact", url="https://example.com/a.zip"),
            [
                (None, "must have exactly one of payload_bin and url (found payload_bin, url)"),
                ("hashes", "is required when url is present"),
            ],
            id="artifact-payload-or-url",
        ),
        pytest.param(
            good("artifact", payload_bin="not base64!"),
            [("payload_bin", "must be base64-encoded binary data (RFC 4648)")],
            id="artifact-base64",
        ),
        pytest.param(
            good("email-message", body="text"),
            [("body", "must not be present when is_multipart is true (use body_multipart)")],
            id="email-multipart-body",
        ),
        pytest.param(
            good("email-message", body_multipart=[{"content_type": "text/plain"}]),
            [
                (
                    "body_multipart[0]",
                    "must have exactly one of body and body_raw_ref (found neither)",
                )
            ],
            id="email-mime-part",
        ),
        pytest.param(
            good("network-traffic", src_ref=None, dst_ref=None),
            [(None, "must have at least one of src_ref and dst_ref")],
            id="network-traffic-ends",
        ),
        pytest.param(
            good("network-traffic", dst_port=70000),
            [("dst_port", "must be between 0 and 65535 (found 70000)")],
            id="network-traffic-port",
        ),
        pytest.param(
            good("network-traffic", is_active=True),
            [("end", "must not be present when is_active is true")],
            id="network-traffic-active-end",
        ),
        pytest.param(
            good("network-traffic", src_ref=FILE),
            [
                (
                    "src_ref",
                    f"'{FILE}' must refer to ipv4-addr or ipv6-addr or mac-addr or domain-name, "
                    "not file",
                )
            ],
            id="network-traffic-src-ref",
        ),
        pytest.param(
            good("process", id=V5_PROCESS),
            [
                (
                    "id",
                    "a process has no ID contributing properties, so its id must be a UUIDv4 "
                    "(found v5)",
                )
            ],
            id="process-uuid4",
        ),
        pytest.param(
            good("process", pid=None, command_line=None, image_ref=None),
            [
                (
                    None,
                    "process must have at least one of: extensions, is_hidden, pid, created_time, "
                    "cwd, command_line, environment_variables, opened_connection_refs, "
                    "creator_user_ref, image_ref, parent_ref, child_refs",
                )
            ],
            id="process-empty",
        ),
        pytest.param(
            good("windows-registry-key", key="HKLM\\Software\\Foo"),
            [("key", "the hive must be written in full (e.g. HKEY_LOCAL_MACHINE), not HKLM")],
            id="registry-hive",
        ),
        pytest.param(
            good(
                "windows-registry-key",
                id="windows-registry-key--2ba37ae7-2745-5082-9dfd-9486dad41016",
                key=None,
                values=None,
                number_of_subkeys=2,
            ),
            [
                (
                    "id",
                    "without any of its ID contributing properties (key, values) the id must be a "
                    "UUIDv4 (found v5)",
                )
            ],
            id="sco-uuid4-without-contributing-properties",
        ),
        pytest.param(
            good("software", cpe="cpe:/a:microsoft:word:2000"),
            [
                (
                    "cpe",
                    "'cpe:/a:microsoft:word:2000' is not a CPE 2.3 formatted string "
                    "(cpe:2.3:part:vendor:...)",
                )
            ],
            id="software-cpe",
        ),
        pytest.param(
            good("marking-definition", definition={"text": "x"}),
            [("definition", "a statement marking needs definition.statement (a string)")],
            id="marking-statement",
        ),
        pytest.param(
            good("marking-definition", definition=None, definition_type=None),
            [
                ("definition_type", "is required on a marking-definition without extensions"),
                ("definition", "is required on a marking-definition without extensions"),
            ],
            id="marking-definition-required",
        ),
        pytest.param(
            good("marking-definition", object_marking_refs=[STATEMENT]),
            [("object_marking_refs", "a marking-definition must not mark itself")],
            id="marking-circular",
        ),
        pytest.param(
            {**TLP1_WHITE, "id": TLP1_GREEN},
            [
                (
                    "id",
                    "TLP:WHITE must use the spec's id "
                    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
                )
            ],
            id="marking-tlp1-id",
        ),
        pytest.param(
            {**TLP2_GREEN, "id": TLP2_CLEAR},
            [
                (
                    "id",
                    "TLP:GREEN (TLP 2.0) must use the id "
                    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
                )
            ],
            id="marking-tlp2-id",
        ),
        pytest.param(
            {**TLP2_GREEN, "name": "TLP:Green"},
            [("name", "must be TLP:GREEN for the TLP 2.0 green marking")],
            id="marking-tlp2-name",
        ),
        pytest.param(
            {
                **TLP2_GREEN,
                "extensions": {"x-acme-ext": {"level": 1}},
                "definition_type": "acme",
                "definition": {"level": 1},
            },
            [
                (
                    "extensions",
                    f"{TLP_GREEN} is a TLP 2.0 marking and must carry the {TLP2_EXT} extension",
                )
            ],
            id="marking-tlp2-extension",
        ),
        pytest.param(
            good("language-content", contents={"english!": {"name": "x"}}),
            [("contents", "key 'english!' is not an RFC 5646 language tag")],
            id="language-content-key",
        ),
        pytest.param(
            good("extension-definition", extension_properties=["rank"]),
            [
                (
                    "extension_properties",
                    "is allowed only when extension_types includes toplevel-property-extension",
                )
            ],
            id="extension-definition-properties",
        ),
        pytest.param(
            good("extension-definition", extension_types=["new-thing"]),
            [
                (
                    "extension_types[0]",
                    "'new-thing' is not one of: new-sdo, new-sco, new-sro, property-extension, "
                    "toplevel-property-extension",
                )
            ],
            id="extension-definition-types",
        ),
        pytest.param(
            {
                "type": "x-acme-case",
                "spec_version": "2.1",
                "id": "x-acme-case--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3d",
                "created": TS,
            },
            [("modified", "is required for x-acme-case")],
            id="custom-sdo-common-properties",
        ),
    ],
)
def test_each_rule_reports_property_and_reason(
    obj: dict[str, Any], expected: list[tuple[str | None, str]]
) -> None:
    assert problems_of(obj) == expected


def test_a_non_object_is_refused() -> None:
    assert validate_object(["indicator"], index=2) == [  # type: ignore[arg-type]
        Problem(2, None, None, "a STIX object must be a JSON object, not a list")
    ]


def test_custom_content_is_accepted_and_left_intact() -> None:
    wallet = {
        "type": "x-cryptocurrency-wallet",
        "id": "x-cryptocurrency-wallet--5e384ae7-672c-5250-9cda-3b4da964451a",
        "value": "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq",
    }
    declared = {
        "type": "cryptocurrency-transaction",
        "spec_version": "2.1",
        "id": "cryptocurrency-transaction--5e384ae7-672c-5250-9cda-3b4da964451a",
        "hash": "abc",
        "extensions": {
            "extension-definition--be78509e-6958-51b1-8b26-d17ee0eba2d7": {
                "extension_type": "new-sco"
            }
        },
    }
    tool = good(
        "tool",
        x_acme_score={"nested": [1, {"deep": None}]},
        toplevel_rank=5,
        extensions={
            "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {
                "extension_type": "toplevel-property-extension"
            },
            "x-acme-ext": {"anything": True},
        },
    )
    for obj in (wallet, declared, tool):
        before = copy.deepcopy(obj)
        assert validate_object(obj, index=0) == []
        assert obj == before


# ---------------------------------------------------------------------------------------------
# Bundles

BUNDLE_ID = "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d"


def bundle_of(*objects: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "bundle", "id": BUNDLE_ID, "objects": list(objects), **extra}


def test_a_valid_bundle_returns_its_objects_unchanged() -> None:
    objects, problems = validate_bundle(bundle_of(GOOD["indicator"], GOOD["malware"]))
    assert problems == []
    assert objects == [GOOD["indicator"], GOOD["malware"]]


def test_problems_point_at_the_object_by_index() -> None:
    objects, problems = validate_bundle(
        bundle_of(GOOD["tool"], good("tool", name=None), GOOD["url"])
    )
    assert len(objects) == 3
    assert problems == [Problem(1, GOOD["tool"]["id"], "name", "is required for tool")]


@pytest.mark.parametrize(
    ("bundle", "expected"),
    [
        (
            {"type": "collection", "id": BUNDLE_ID},
            [Problem(-1, BUNDLE_ID, "type", "must be 'bundle', not 'collection'")],
        ),
        (
            {"type": "bundle", "id": "bundle-1"},
            [Problem(-1, "bundle-1", "id", "'bundle-1' is not of the form bundle--<UUID>")],
        ),
        (
            {"type": "bundle", "id": BUNDLE_ID, "objects": {"a": 1}},
            [Problem(-1, BUNDLE_ID, "objects", "must be a list, not an object")],
        ),
        (
            {"type": "bundle", "id": BUNDLE_ID, "objects": []},
            [
                Problem(
                    -1,
                    BUNDLE_ID,
                    "objects",
                    "must not be an empty list; omit it for a bundle without objects",
                )
            ],
        ),
        (
            {"type": "bundle", "id": BUNDLE_ID, "spec_version": "2.2"},
            [
                Problem(
                    -1,
                    BUNDLE_ID,
                    "spec_version",
                    "'2.2' is not supported: a 2.1 bundle has none, a 2.0 bundle has '2.0'",
                )
            ],
        ),
        ("bundle", [Problem(-1, None, None, "a bundle must be a JSON object, not a string")]),
    ],
)
def test_bundle_level_problems_have_index_minus_one(bundle: Any, expected: list[Problem]) -> None:
    assert validate_bundle(bundle)[1] == expected


def test_a_bundle_without_objects_is_valid() -> None:
    assert validate_bundle({"type": "bundle", "id": BUNDLE_ID}) == ([], [])


def test_a_stix_20_bundle_is_upgraded_first() -> None:
    indicator_20 = {
        "type": "indicator",
        "id": INDICATOR,
        "created": "2016-04-06T20:03:48Z",
        "modified": "2016-04-06T20:03:48.123Z",
        "labels": ["malicious-activity"],
        "pattern": "[file:name = 'x.exe']",
        "valid_from": "2016-01-01T00:00:00Z",
        "object_marking_refs": [TLP1_GREEN],
    }
    for bundle in (
        bundle_of(indicator_20, spec_version="2.0"),
        bundle_of(indicator_20),  # no version anywhere: ATT&CK style
    ):
        objects, problems = validate_bundle(bundle)
        assert problems == []
        assert objects == [
            {
                "type": "indicator",
                "spec_version": "2.1",
                "id": INDICATOR,
                "created": "2016-04-06T20:03:48.000Z",
                "modified": "2016-04-06T20:03:48.123Z",
                "pattern": "[file:name = 'x.exe']",
                "valid_from": "2016-01-01T00:00:00Z",
                "object_marking_refs": [TLP_GREEN],
                "indicator_types": ["malicious-activity"],
                "pattern_type": "stix",
            }
        ]


def test_a_20_object_inside_a_21_bundle_is_upgraded() -> None:
    tool_20 = {**good("tool", labels=["remote-access"]), "spec_version": "2.0"}
    objects, problems = validate_bundle(bundle_of(GOOD["malware"], tool_20))
    assert problems == []
    assert objects[1]["spec_version"] == "2.1"
    assert objects[1]["tool_types"] == ["remote-access"]


def test_tlp1_markings_in_a_21_bundle_become_tlp2() -> None:
    marked = good("url", object_marking_refs=[TLP1_GREEN])
    objects, problems = validate_bundle(bundle_of(TLP1_WHITE, marked))
    assert problems == []
    assert objects[0]["id"] == TLP2_CLEAR
    assert objects[0]["extensions"] == {
        TLP2_EXT: {"extension_type": "property-extension", "tlp_2_0": "clear"}
    }
    assert objects[1]["object_marking_refs"] == [TLP_GREEN]


def test_an_object_that_is_not_a_json_object_is_reported_in_place() -> None:
    objects, problems = validate_bundle(bundle_of(GOOD["url"], "url"))  # type: ignore[arg-type]
    assert objects == [GOOD["url"], "url"]
    assert problems == [Problem(1, None, None, "a STIX object must be a JSON object, not a string")]


def test_conflicting_versions_are_reported_and_exact_repeats_pass() -> None:
    changed = good("tool", description="another text")
    objects, problems = validate_bundle(bundle_of(GOOD["tool"], GOOD["tool"], changed))
    assert len(objects) == 3
    assert problems == [
        Problem(
            2,
            GOOD["tool"]["id"],
            "modified",
            "conflicts with the object at index 0: same id and modified, different content",
        )
    ]


def test_references_to_objects_outside_the_bundle_are_allowed() -> None:
    relationship = good("relationship", target_ref="malware--0b2d1b49-5b2f-4e8f-a6f2-1c2f3a4b5c6d")
    assert validate_bundle(bundle_of(relationship)) == ([relationship], [])


# ---------------------------------------------------------------------------------------------
# Cross-check with the OASIS stix2-validator

BAD_FOR_BOTH = {
    "missing-name": good("tool", name=None),
    "missing-created": good("campaign", created=None),
    "bad-id": good("tool", id="tool--1234"),
    "id-of-other-type": good("tool", id=MALWARE),
    "bad-timestamp": good("tool", modified="2024-13-01T10:00:00.000Z"),
    "no-millis": good("tool", created="2024-03-01T10:00:00Z"),
    "modified-before-created": good("tool", modified="2024-02-01T10:00:00.000Z"),
    "valid-until-early": good("indicator", valid_until="2024-02-01T10:00:00Z"),
    "confidence": good("tool", confidence=101),
    "empty-list": good("tool", labels=[]),
    "null": good("tool") | {"description": None},
    "bad-property-name": good("tool", FooBar=1),
    "reserved-property": good("tool", severity="high"),
    "external-reference": good("tool", external_references=[{"source_name": "vendor"}]),
    "cve-reference": good(
        "vulnerability", external_references=[{"source_name": "cve", "external_id": "CVE-1"}]
    ),
    "selector": good(
        "tool", granular_markings=[{"marking_ref": TLP_GREEN, "selectors": ["x_y_z"]}]
    ),
    "bad-pattern": good("indicator", pattern="[ipv4-addr:value = '1.2.3.4'"),
    "ipv4": good("ipv4-addr", value="10.0.0.256"),
    "mac": good("mac-addr", value="D2:FB:49:24:37:18"),
    "artifact": good("artifact", url="https://example.com/a.zip"),
    "port": good("network-traffic", dst_port=70000),
    "network-traffic-ends": good("network-traffic", src_ref=None, dst_ref=None),
    "process-uuid": good("process", id=V5_PROCESS),
    "opinion": good("opinion", opinion="maybe"),
    "latitude": good("location", latitude=91),
    "number-observed": good("observed-data", number_observed=0),
    "malware-is-family": good("malware", is_family="yes"),
    "relationship-target": good("relationship", target_ref=TLP_GREEN),
    "marking-circular": good("marking-definition", object_marking_refs=[STATEMENT]),
    "tlp1-wrong-id": {**TLP1_WHITE, "id": TLP1_GREEN},
    "where-sighted": good("sighting", where_sighted_refs=[MALWARE]),
    "email-multipart": good("email-message", body="x"),
    "extension-type": good(
        "tool",
        extensions={"extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e": {"rank": 5}},
    ),
}


def official_verdict(obj: dict[str, Any]) -> bool:
    return bool(validate_instance(obj, ValidationOptions(version="2.1")).is_valid)


CORPUS = [pytest.param(obj, True, id=f"good-{name}") for name, obj in GOOD.items()]
CORPUS += [
    pytest.param(TLP1_WHITE, True, id="good-tlp1"),
    pytest.param(TLP2_GREEN, True, id="good-tlp2"),
]
CORPUS += [pytest.param(obj, False, id=f"bad-{name}") for name, obj in BAD_FOR_BOTH.items()]


@pytest.mark.parametrize(("obj", "valid"), CORPUS)
def test_agrees_with_the_oasis_validator(obj: dict[str, Any], valid: bool) -> None:
    assert (validate_object(obj, index=0) == []) is valid
    assert official_verdict(obj) is valid


@pytest.mark.parametrize(
    ("obj", "ours", "official"),
    [
        pytest.param(
            good("tool", type="weapon", id="weapon--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3d"),
            False,
            True,
            id="undeclared-non-x-type",
        ),
        pytest.param(good("sighting", sighting_of_ref=IPV4), False, True, id="sighting-of-an-sco"),
        pytest.param(
            good("tool", created_by_ref=MALWARE), False, True, id="created-by-non-identity"
        ),
        pytest.param(
            good("tool", granular_markings=[{"lang": "en", "selectors": ["name"]}]),
            True,
            False,
            id="granular-marking-by-lang",
        ),
    ],
)
def test_deliberate_differences_from_the_oasis_validator(
    obj: dict[str, Any], ours: bool, official: bool
) -> None:
    """Where the spec text is stricter or looser than the OASIS schemas, we follow the spec."""
    assert (validate_object(obj, index=0) == []) is ours
    assert official_verdict(obj) is official


@pytest.mark.parametrize(
    ("created", "reason"),
    [
        ("2024-02-30T10:00:00.000Z", "day is out of range for month"),
        ("2024-03-01T10:00:00Z", "must be precise to the millisecond"),
        ("2024-03-01 10:00:00.000Z", "is not an RFC 3339 UTC timestamp"),
        ("2024-03-01T10:00:00." + "0" * 40 + "1Z", None),  # longer than the cached texts
        ("2024-03-01T10:00:00." + "0" * 40 + "Q", "is not an RFC 3339 UTC timestamp"),
    ],
)
def test_every_object_gets_the_timestamp_verdict_again(created: str, reason: str | None) -> None:
    # Verdicts per distinct text are kept: the second and third objects with the same text must
    # get the same answer as the first.
    objects = [good("indicator", created=created, modified=created) for _ in range(3)]
    verdicts = [
        [(p.property, p.reason) for p in validate_object(obj, index=i) if p.property == "created"]
        for i, obj in enumerate(objects)
    ]
    assert verdicts[0] == verdicts[1] == verdicts[2]
    if reason is None:
        assert verdicts[0] == []
    else:
        assert len(verdicts[0]) == 1
        assert reason in verdicts[0][0][1]


def test_every_object_gets_the_reference_verdict_again() -> None:
    bad = "marking-definition--613f2e26-407d-08c7-9eca-b8e91df99dc9"  # UUID version 0
    wrong_type = IDENTITY
    bundle = {
        "type": "bundle",
        "id": "bundle--5d0092c5-5f74-4287-9642-33f4c354e56d",
        "objects": [
            good("indicator", id=f"indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3{n}",
                 object_marking_refs=[bad, wrong_type])
            for n in range(3)
        ],
    }  # fmt: skip
    _, problems = validate_bundle(bundle)
    assert [(p.index, p.property, p.reason) for p in problems] == [
        (
            n,
            prop,
            reason,
        )
        for n in range(3)
        for prop, reason in (
            (
                "object_marking_refs[0]",
                f"{bad!r}: the UUID is not an RFC 4122 UUID (version 1-5, variant 10xx)",
            ),
            (
                "object_marking_refs[1]",
                f"{wrong_type!r} must refer to marking-definition, not identity",
            ),
        )
    ]
