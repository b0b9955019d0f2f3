"""Builders for STIX 2.1 objects: a minimal valid object of every type, and changed copies."""

from __future__ import annotations

import copy
from typing import Any

TS = "2024-03-01T10:00:00.000Z"
LATER = "2024-03-02T10:00:00.000Z"
IDENTITY = "identity--0c9d2b14-5d4c-4f3e-9a0b-1f2e3d4c5b6a"
INDICATOR = "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f"
MALWARE = "malware--31b940d4-6f7f-459a-80ea-9c1f17b5891b"
FILE = "file--5e384ae7-672c-4250-9cda-3b4da964451a"
ARTIFACT = "artifact--6f437177-6e48-5cf8-9d9e-872a2bddd641"
SOFTWARE = "software--a1827f6d-ca53-5605-9e93-4316cd22a00a"
IPV4 = "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd"
DOMAIN = "domain-name--3c10e93f-798e-5a26-a0c1-08156efab7f5"
EMAIL = "email-addr--2d77a846-6264-5d51-b586-e43822ea1ea3"
USER = "user-account--0d5b424b-93b8-5cd8-ac36-306e1789d63c"
OBSERVED = "observed-data--b67d30ff-02ac-498a-92f9-32f845f448cf"
LOCATION = "location--a6e9345f-5a15-4c29-8bb3-7dcc5d168d64"
STATEMENT = "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
EXTENSION = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"


def _sdo(object_type: str, uuid: str, **props: Any) -> dict[str, Any]:
    return {
        "type": object_type,
        "spec_version": "2.1",
        "id": f"{object_type}--{uuid}",
        "created": TS,
        "modified": TS,
        **props,
    }


def _sco(object_type: str, uuid: str, **props: Any) -> dict[str, Any]:
    return {"type": object_type, "spec_version": "2.1", "id": f"{object_type}--{uuid}", **props}


GOOD: dict[str, dict[str, Any]] = {
    "attack-pattern": _sdo(
        "attack-pattern",
        "7e33a43e-e34b-40ec-89da-36c9bb2cacd5",
        name="Spear Phishing",
        kill_chain_phases=[{"kill_chain_name": "mitre-attack", "phase_name": "initial-access"}],
        external_references=[{"source_name": "capec", "external_id": "CAPEC-163"}],
    ),
    "campaign": _sdo(
        "campaign",
        "83422c77-904c-4dc1-aff5-5c38f3a2c55c",
        name="Green Group Attacks",
        first_seen=TS,
        last_seen=LATER,
    ),
    "course-of-action": _sdo(
        "course-of-action", "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f", name="Block traffic"
    ),
    "grouping": _sdo(
        "grouping",
        "84e4d88f-44ea-4bcd-bbf3-b2c1c320bcb3",
        context="suspicious-activity",
        object_refs=[INDICATOR, IPV4],
    ),
    "identity": _sdo(
        "identity",
        "0c9d2b14-5d4c-4f3e-9a0b-1f2e3d4c5b6a",
        name="CERT-XY",
        identity_class="organization",
        sectors=["government"],
    ),
    "incident": _sdo("incident", "f5f1e1ae-9a5c-4dc6-9bde-5b3a0d84c7f1", name="Ransomware at X"),
    "indicator": _sdo(
        "indicator",
        "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        indicator_types=["malicious-activity"],
        pattern="[ipv4-addr:value = '198.51.100.3']",
        pattern_type="stix",
        valid_from=TS,
        valid_until=LATER,
        object_marking_refs=[TLP_GREEN],
        confidence=80,
        lang="en",
    ),
    "infrastructure": _sdo(
        "infrastructure",
        "38c47d93-d984-4fd9-b87b-d69d0841628d",
        name="Poison Ivy C2",
        infrastructure_types=["command-and-control"],
    ),
    "intrusion-set": _sdo(
        "intrusion-set", "4e78f46f-a023-4e5f-bc24-71b3ca22ec29", name="Bobcat Breakin"
    ),
    "location": _sdo(
        "location",
        "a6e9345f-5a15-4c29-8bb3-7dcc5d168d64",
        latitude=48.8566,
        longitude=2.3522,
        precision=1000.0,
        country="FR",
    ),
    "malware": _sdo(
        "malware",
        "31b940d4-6f7f-459a-80ea-9c1f17b5891b",
        name="Cryptolocker",
        is_family=True,
        malware_types=["ransomware"],
        sample_refs=[FILE],
    ),
    "malware-analysis": _sdo(
        "malware-analysis",
        "d25167b7-fed0-4068-9ccd-a73dd2c5b07c",
        product="microsoft",
        result="malicious",
        sample_ref=FILE,
        host_vm_ref=SOFTWARE,
    ),
    "note": _sdo(
        "note",
        "0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        content="This is a note.",
        object_refs=[MALWARE],
    ),
    "observed-data": _sdo(
        "observed-data",
        "b67d30ff-02ac-498a-92f9-32f845f448cf",
        first_observed=TS,
        last_observed=LATER,
        number_observed=50,
        object_refs=[IPV4, DOMAIN],
    ),
    "opinion": _sdo(
        "opinion",
        "b01efc25-77b4-4003-b18b-f6e24b5cd9f7",
        opinion="strongly-agree",
        object_refs=[INDICATOR],
    ),
    "report": _sdo(
        "report",
        "84e4d88f-44ea-4bcd-bbf3-b2c1c320bcbd",
        name="The Black Vine Cyberespionage Group",
        published=TS,
        object_refs=[INDICATOR, MALWARE],
        created_by_ref=IDENTITY,
    ),
    "threat-actor": _sdo(
        "threat-actor",
        "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3e",
        name="Evil Org",
        threat_actor_types=["crime-syndicate"],
    ),
    "tool": _sdo("tool", "8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3d", name="VNC"),
    "vulnerability": _sdo(
        "vulnerability",
        "0c7b5b88-8ff7-4a4d-aa9d-feb398cd0061",
        name="CVE-2016-1234",
        external_references=[{"source_name": "cve", "external_id": "CVE-2016-1234"}],
    ),
    "relationship": _sdo(
        "relationship",
        "44298a74-ba52-4f0c-87a3-1824e67d7fad",
        relationship_type="indicates",
        source_ref=INDICATOR,
        target_ref=MALWARE,
        start_time=TS,
        stop_time=LATER,
    ),
    "sighting": _sdo(
        "sighting",
        "ee20065d-2555-424f-ad9e-0f8428623c75",
        sighting_of_ref=INDICATOR,
        observed_data_refs=[OBSERVED],
        where_sighted_refs=[IDENTITY, LOCATION],
        count=3,
        first_seen=TS,
        last_seen=LATER,
    ),
    "artifact": _sco(
        "artifact",
        "6f437177-6e48-5cf8-9d9e-872a2bddd641",
        mime_type="application/zip",
        payload_bin="ZXhhbXBsZSBmaWxl",
    ),
    "autonomous-system": _sco(
        "autonomous-system", "f720c34b-98ae-597f-ade5-27ef187498e0", number=15139, name="Slime"
    ),
    "directory": _sco(
        "directory",
        "93c0a9b0-520d-545d-9094-1a08ddf46b05",
        path="C:\\Windows\\System32",
        contains_refs=[FILE],
    ),
    "domain-name": _sco(
        "domain-name",
        "3c10e93f-798e-5a26-a0c1-08156efab7f5",
        value="example.com",
        resolves_to_refs=[IPV4],
    ),
    "email-addr": _sco(
        "email-addr",
        "2d77a846-6264-5d51-b586-e43822ea1ea3",
        value="john@example.com",
        display_name="John Doe",
        belongs_to_ref=USER,
    ),
    "email-message": _sco(
        "email-message",
        "72b7698f-10c2-565a-a2a6-b4996a2f2265",
        is_multipart=True,
        from_ref=EMAIL,
        to_refs=[EMAIL],
        subject="Check this",
        body_multipart=[
            {"content_type": "text/plain", "body": "Hello"},
            {"content_type": "application/zip", "body_raw_ref": ARTIFACT},
        ],
    ),
    "file": _sco(
        "file",
        "5e384ae7-672c-4250-9cda-3b4da964451a",
        name="invoice.exe",
        hashes={"SHA-256": "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c"},
        size=25536,
        extensions={"windows-pebinary-ext": {"pe_type": "exe", "number_of_sections": 4}},
    ),
    "ipv4-addr": _sco("ipv4-addr", "ff26c055-6336-5bc5-b98d-13d6226742dd", value="198.51.100.3"),
    "ipv6-addr": _sco("ipv6-addr", "1e61d36c-a16c-53b7-a80f-2a00161c96b1", value="2001:db8::/96"),
    "mac-addr": _sco("mac-addr", "65cfcf98-8a6e-5a1b-8f61-379ac4f92d00", value="d2:fb:49:24:37:18"),
    "mutex": _sco("mutex", "eba44954-d4e4-5d3b-814c-2b17dd8de300", name="__CLEANSWEEP__"),
    "network-traffic": _sco(
        "network-traffic",
        "2568d22a-8998-58eb-99ec-3c8ca74f527d",
        src_ref=IPV4,
        dst_ref=DOMAIN,
        dst_port=443,
        protocols=["ipv4", "tcp", "ssl"],
        start=TS,
        end=LATER,
        is_active=False,
        extensions={"http-request-ext": {"request_method": "get", "request_value": "/x"}},
    ),
    "process": _sco(
        "process",
        "f52a906a-0dfc-40bd-92f1-e7778ead38a9",
        pid=1221,
        command_line="./gedit-bin --new-window",
        image_ref=FILE,
    ),
    "software": _sco(
        "software",
        "a1827f6d-ca53-5605-9e93-4316cd22a00a",
        name="Word",
        cpe="cpe:2.3:a:microsoft:word:2000:*:*:*:*:*:*:*",
        languages=["en"],
        vendor="Microsoft",
    ),
    "url": _sco(
        "url",
        "c1477287-23ac-5971-a010-5c287877fa60",
        value="https://example.com/research/index.html",
    ),
    "user-account": _sco(
        "user-account",
        "0d5b424b-93b8-5cd8-ac36-306e1789d63c",
        user_id="1001",
        account_login="jdoe",
        account_type="unix",
        extensions={"unix-account-ext": {"gid": 1001, "home_dir": "/home/jdoe"}},
    ),
    "windows-registry-key": _sco(
        "windows-registry-key",
        "2ba37ae7-2745-5082-9dfd-9486dad41016",
        key="HKEY_LOCAL_MACHINE\\System\\Foo\\Bar",
        values=[{"name": "Foo", "data": "qwerty", "data_type": "REG_SZ"}],
    ),
    "x509-certificate": _sco(
        "x509-certificate",
        "463d7b2a-8516-5a50-a3d7-6f801465d5de",
        issuer="C=ZA, ST=Western Cape, L=Cape Town, O=Thawte Consulting cc",
        validity_not_before="2016-03-12T12:00:00Z",
        validity_not_after="2016-08-21T12:00:00Z",
        subject="C=US, ST=Maryland, L=Pasadena, O=Brent Baccala, OU=FreeSoft",
        serial_number="36:f7:d4:32:f4:ab:70:ea:d3:ce:98:6e:ea:99:93:49:32:0a:b7:06",
    ),
    "marking-definition": {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": STATEMENT,
        "created": "2017-06-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "Copyright 2017, Example Corp"},
    },
    "language-content": _sdo(
        "language-content",
        "b86b3322-4e8b-4a2b-9b0a-4b4b8f0a9d01",
        object_ref=INDICATOR,
        object_modified=TS,
        contents={"de": {"name": "Bösartige IP", "description": "Eine IP"}},
    ),
    "extension-definition": _sdo(
        "extension-definition",
        "d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e",
        created_by_ref=IDENTITY,
        name="Extension Foo",
        schema="https://www.example.com/schema-foo-1/v1/",
        version="1.2.1",
        extension_types=["property-extension"],
    ),
}

TLP1_WHITE: dict[str, Any] = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9",
    "created": "2017-01-20T00:00:00.000Z",
    "definition_type": "tlp",
    "name": "TLP:WHITE",
    "definition": {"tlp": "white"},
}

TLP2_GREEN: dict[str, Any] = {
    "type": "marking-definition",
    "spec_version": "2.1",
    "id": TLP_GREEN,
    "created": "2022-10-01T00:00:00.000Z",
    "name": "TLP:GREEN",
    "extensions": {
        "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
            "extension_type": "property-extension",
            "tlp_2_0": "green",
        }
    },
}

SDO_TYPES = sorted(
    [
        "attack-pattern",
        "campaign",
        "course-of-action",
        "grouping",
        "identity",
        "incident",
        "indicator",
        "infrastructure",
        "intrusion-set",
        "location",
        "malware",
        "malware-analysis",
        "note",
        "observed-data",
        "opinion",
        "report",
        "threat-actor",
        "tool",
        "vulnerability",
    ]
)
SRO_TYPES = ["relationship", "sighting"]
SCO_TYPES = sorted(
    [
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
    ]
)


def good(object_type: str, **changes: Any) -> dict[str, Any]:
    """A deep copy of the valid object of `object_type`, with `changes` applied (None deletes)."""
    obj = copy.deepcopy(GOOD[object_type])
    for name, value in changes.items():
        if value is None:
            obj.pop(name, None)
        else:
            obj[name] = value
    return obj
