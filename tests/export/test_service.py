"""Exports: STIX bundles (custom content, markings, versions), CSV and MISP, and sharing."""

from __future__ import annotations

import csv
import gzip
import io
import json
import random
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from pymisp import MISPEvent
from sqlalchemy import select
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_string

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.core.errors import PermissionDenied, ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.export import service as export_service
from cyberfusion.export.service import ExportFilters, ExportFormat, with_tlp_marking
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.intel import service as intel_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.sharing.models import TLP_MARKING_IDS, Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.stix.upgrade import tlp2_marking_definition
from tests.factories import account, intel

# CI data sits in shared/ beside the repository (see shared/data/README.md); users lack it.
ATTACK_BUNDLE = (
    Path(__file__).resolve().parents[3] / "shared" / "data" / "enterprise-attack-stix20.json.gz"
)

TS = "2024-03-01T10:00:00.000Z"
LATER = "2024-03-05T10:00:00.000Z"
CLEAR, GREEN, AMBER, RED = (
    TLP_MARKING_IDS[Tlp.CLEAR],
    TLP_MARKING_IDS[Tlp.GREEN],
    TLP_MARKING_IDS[Tlp.AMBER],
    TLP_MARKING_IDS[Tlp.RED],
)
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
STATEMENT = "marking-definition--fa42a846-8d90-4e51-bc29-71d5b4802168"
IDENTITY = "identity--0c9d2b14-5d4c-4f3e-9a0b-1f2e3d4c5b6a"
SCORE_EXTENSION = "extension-definition--d83fce45-ef58-4c6c-a3f4-1fbc32e98c6e"
WIDGET_EXTENSION = "extension-definition--3a5b0d8c-4f0e-4f7a-9a43-0b6d1c2e8f71"
COMMUNITY_GREEN = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)

# -- helpers -----------------------------------------------------------------------------------


def _since() -> datetime:
    """A moment before this test's records, after the demo world's."""
    return utcnow() - timedelta(milliseconds=1)


def _bundle(*objects: dict[str, Any]) -> bytes:
    return orjson.dumps({"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects})


def _indicator(value: str, *, modified: str = TS, **extra: Any) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": TS,
        "modified": modified,
        "name": value,
        "pattern": f"[ipv4-addr:value = '{value}']",
        "pattern_type": "stix",
        "valid_from": TS,
        **extra,
    }


def _submit(
    session: Session,
    actor: Actor,
    raw: bytes | str,
    source_format: SourceFormat,
    labels: LabelsIn | None = COMMUNITY_GREEN,
) -> SubmissionRead:
    result = intake_service.submit(
        session=session,
        actor=actor,
        raw=raw.encode() if isinstance(raw, str) else raw,
        options=SubmissionOptions(source_format=source_format, labels=labels),
    )
    assert [(r.source, r.reason) for r in result.results if r.status == "rejected"] == []
    return result


def _export(session: Session, actor: Actor, export_format: ExportFormat, **filters: Any) -> bytes:
    return b"".join(
        export_service.export(
            session=session,
            actor=actor,
            export_format=export_format,
            filters=ExportFilters(**filters),
        )
    )


def _stix(session: Session, actor: Actor, **filters: Any) -> dict[str, Any]:
    bundle: dict[str, Any] = orjson.loads(_export(session, actor, ExportFormat.STIX, **filters))
    return bundle


def _split(bundle: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the exported records, the TLP marking definitions)."""
    tlp_ids = set(TLP_MARKING_IDS.values())
    records = [obj for obj in bundle["objects"] if obj["id"] not in tlp_ids]
    definitions = [obj for obj in bundle["objects"] if obj["id"] in tlp_ids]
    return records, definitions


def _csv_rows(session: Session, actor: Actor, **filters: Any) -> list[dict[str, str]]:
    text = _export(session, actor, ExportFormat.CSV, **filters).decode()
    return list(csv.DictReader(io.StringIO(text)))


def _validator_errors(bundle: dict[str, Any]) -> list[str]:
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    assert result.is_valid is (not result.errors)
    return [str(error) for error in result.errors]


def _observables_of(session: Session, submission_id: int) -> set[tuple[str, str]]:
    rows = session.execute(
        select(Observable.obs_type, Observable.value)
        .join(Occurrence, Occurrence.observable_id == Observable.id)
        .where(Occurrence.submission_id == submission_id)
    ).all()
    return {(obs_type, value) for obs_type, value in rows}


# -- STIX: custom content and markings ---------------------------------------------------------

CUSTOM_OBJECTS: list[dict[str, Any]] = [
    {
        "type": "identity",
        "spec_version": "2.1",
        "id": IDENTITY,
        "created": TS,
        "modified": TS,
        "name": "ACME Threat Research",
        "identity_class": "organization",
        "object_marking_refs": [GREEN],
    },
    {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": SCORE_EXTENSION,
        "created_by_ref": IDENTITY,
        "created": TS,
        "modified": TS,
        "name": "ACME scoring",
        "schema": "https://acme.example/schema/score/v1",
        "version": "1.0.0",
        "extension_types": ["property-extension"],
        "object_marking_refs": [GREEN],
    },
    {
        "type": "extension-definition",
        "spec_version": "2.1",
        "id": WIDGET_EXTENSION,
        "created_by_ref": IDENTITY,
        "created": TS,
        "modified": TS,
        "name": "ACME widget",
        "schema": "https://acme.example/schema/widget/v1",
        "version": "2.0.0",
        "extension_types": ["new-sdo"],
        "object_marking_refs": [GREEN],
    },
    {
        "type": "acme-widget",
        "spec_version": "2.1",
        "id": "acme-widget--6a1f1e52-54f2-4c2b-a8a3-6b2c8d2f9e10",
        "created": TS,
        "modified": TS,
        "name": "Widget 7",
        "gears": [3, 5, 8],
        "extensions": {WIDGET_EXTENSION: {"extension_type": "new-sdo"}},
        "object_marking_refs": [GREEN],
    },
    {
        "type": "x-acme-case-note",
        "spec_version": "2.1",
        "id": "x-acme-case-note--7b1f1e52-54f2-4c2b-a8a3-6b2c8d2f9e10",
        "created": TS,
        "modified": TS,
        "x_acme_body": "Seen during the spring campaign; ünïcödé kept.",
        "x_acme_refs": {"case": 42, "tags": ["alpha", None, True, 1.5]},
        "object_marking_refs": [GREEN],
    },
    _indicator(
        "198.51.100.23",
        description="C2 with an ACME score",
        x_acme_score=97,
        x_acme_history=[{"seen": TS, "by": "sensor-4"}],
        extensions={SCORE_EXTENSION: {"extension_type": "property-extension", "rank": 5}},
        object_marking_refs=[GREEN],
    ),
]


def test_custom_objects_properties_and_extensions_are_exported_as_received(
    session: Session,
) -> None:
    since = _since()
    _submit(
        session, account.actor(session, org="ncb-fr"), _bundle(*CUSTOM_OBJECTS), SourceFormat.STIX
    )

    bundle = _stix(session, account.actor(session, org="ncb-ng"), added_after=since)

    records, definitions = _split(bundle)
    assert sorted(records, key=lambda o: o["id"]) == sorted(CUSTOM_OBJECTS, key=lambda o: o["id"])
    assert definitions == [tlp2_marking_definition(Tlp.GREEN)]
    assert bundle["type"] == "bundle"
    assert bundle["id"].startswith("bundle--")
    assert _validator_errors(bundle) == []


def test_a_tlp_definition_received_in_the_bundle_is_not_repeated(session: Session) -> None:
    since = _since()
    definition = tlp2_marking_definition(Tlp.GREEN)
    indicator = _indicator("198.51.100.24", object_marking_refs=[GREEN])
    _submit(
        session,
        account.actor(session, org="ncb-fr"),
        _bundle(definition, indicator),
        SourceFormat.STIX,
    )

    bundle = _stix(session, account.actor(session, org="ncb-fr"), added_after=since)

    assert sorted(obj["id"] for obj in bundle["objects"]) == sorted([GREEN, indicator["id"]])
    assert _validator_errors(bundle) == []


def test_an_object_without_marking_gets_its_label_tlp(session: Session) -> None:
    since = _since()
    indicator = _indicator("198.51.100.25")
    _submit(
        session,
        account.actor(session, org="ncb-fr"),
        _bundle(indicator),
        SourceFormat.STIX,
        labels=LabelsIn(tlp=Tlp.AMBER, audience=Audience.COMMUNITY),
    )

    bundle = _stix(session, account.actor(session, org="ncb-ng"), added_after=since)

    assert bundle["objects"] == [
        {**indicator, "object_marking_refs": [AMBER]},
        tlp2_marking_definition(Tlp.AMBER),
    ]
    assert _validator_errors(bundle) == []


def test_a_tightened_label_replaces_the_weaker_tlp_and_keeps_other_markings(
    session: Session,
) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    indicator = _indicator("198.51.100.26", object_marking_refs=[STATEMENT, GREEN])
    result = _submit(session, owner, _bundle(indicator), SourceFormat.STIX)
    record_id = result.results[0].record_id
    assert record_id is not None
    # Another organisation may tighten, never loosen: here the hub raises it to AMBER.
    intel_service.relabel(
        session=session,
        actor=account.actor(session, org="hub"),
        record_id=record_id,
        labels_in=LabelsIn(tlp=Tlp.AMBER, audience=Audience.COMMUNITY),
    )

    bundle = _stix(session, account.actor(session, org="ncb-ng"), added_after=since)

    assert bundle["objects"] == [
        {**indicator, "object_marking_refs": [STATEMENT, AMBER]},
        tlp2_marking_definition(Tlp.AMBER),
    ]


@pytest.mark.parametrize(
    ("refs", "tlp", "expected"),
    [
        (None, Tlp.GREEN, [GREEN]),
        ([], Tlp.RED, [RED]),
        ([STATEMENT], Tlp.AMBER, [STATEMENT, AMBER]),
        ([GREEN, STATEMENT], Tlp.AMBER, [AMBER, STATEMENT]),
        ([STATEMENT, TLP1_WHITE], Tlp.CLEAR, [STATEMENT, CLEAR]),
        ([CLEAR, GREEN], Tlp.AMBER, [AMBER]),
        # Lowered by the owner: the label in force now is what the export says.
        ([RED], Tlp.AMBER, [AMBER]),
    ],
)
def test_with_tlp_marking_puts_the_label_tlp_in_place_of_any_other(
    refs: list[str] | None, tlp: Tlp, expected: list[str]
) -> None:
    content = _indicator("198.51.100.27")
    if refs is not None:
        content["object_marking_refs"] = refs

    marked = with_tlp_marking(content, tlp)

    assert marked == {**content, "object_marking_refs": expected}
    assert content.get("object_marking_refs") == refs  # the stored content is not changed


def test_with_tlp_marking_leaves_content_already_marked_and_tlp_definitions_alone() -> None:
    content = _indicator("198.51.100.28", object_marking_refs=[STATEMENT, AMBER])
    definition = tlp2_marking_definition(Tlp.RED)

    assert with_tlp_marking(content, Tlp.AMBER) is content
    assert with_tlp_marking(definition, Tlp.CLEAR) is definition


# -- STIX: versions ----------------------------------------------------------------------------


def test_only_the_latest_version_unless_all_versions(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    first = _indicator("198.51.100.29", object_marking_refs=[GREEN])
    second = {**first, "modified": LATER, "description": "now confirmed"}
    _submit(session, owner, _bundle(first), SourceFormat.STIX)
    _submit(session, owner, _bundle(second), SourceFormat.STIX)
    reader = account.actor(session, org="ncb-ng")

    latest, _ = _split(_stix(session, reader, added_after=since))
    every, _ = _split(_stix(session, reader, added_after=since, all_versions=True))

    assert latest == [second]
    assert every == [first, second]


def test_the_latest_version_the_reader_may_read_stands_for_the_object(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    first = _indicator("198.51.100.30", object_marking_refs=[GREEN])
    # Unmarked content: the submission's labels (AMBER, the owner only) apply.
    second = {
        **{key: value for key, value in first.items() if key != "object_marking_refs"},
        "modified": LATER,
        "description": "operational detail",
    }
    _submit(session, owner, _bundle(first), SourceFormat.STIX)
    _submit(
        session,
        owner,
        _bundle(second),
        SourceFormat.STIX,
        labels=LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
    )

    other, _ = _split(_stix(session, account.actor(session, org="ncb-ng"), added_after=since))
    own, _ = _split(_stix(session, owner, added_after=since))

    assert other == [first]
    assert own == [{**second, "object_marking_refs": [AMBER]}]


def test_a_version_two_owners_hold_is_exported_once(session: Session) -> None:
    since = _since()
    indicator = _indicator("198.51.100.31", object_marking_refs=[GREEN])
    for org in ("ncb-fr", "ncb-ng"):
        _submit(session, account.actor(session, org=org), _bundle(indicator), SourceFormat.STIX)

    records, _ = _split(_stix(session, account.actor(session, org="hub"), added_after=since))

    assert records == [indicator]


# -- sharing -----------------------------------------------------------------------------------

LABELS: dict[str, LabelsIn] = {
    "public": LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC),
    "community": LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
    "members": LabelsIn(tlp=Tlp.GREEN, audience=Audience.MEMBERS),
    "country": LabelsIn(tlp=Tlp.AMBER, audience=Audience.COUNTRY),
    "region": LabelsIn(tlp=Tlp.AMBER, audience=Audience.REGION),
    "own": LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
    "strict": LabelsIn(tlp=Tlp.AMBER_STRICT, audience=Audience.ORGANISATION),
    "red-to-ng": LabelsIn(tlp=Tlp.RED, audience=Audience.ORGANISATIONS, recipients=["ncb-ng"]),
}


@pytest.mark.parametrize(
    ("reader", "readable"),
    [
        ("ncb-fr", set(LABELS)),
        ("ncb-ng", {"public", "community", "members", "red-to-ng"}),
        ("fr-cyber-unit", {"public", "community", "members", "country", "region"}),
        ("ncb-de", {"public", "community", "members", "region"}),
        ("cert-fr", {"public", "community"}),
        ("partner-northwind", {"public", "community"}),
        (None, {"public"}),
    ],
)
@pytest.mark.parametrize("export_format", [ExportFormat.STIX, ExportFormat.CSV, ExportFormat.MISP])
def test_an_export_holds_exactly_what_the_reader_may_read(
    session: Session, reader: str | None, readable: set[str], export_format: ExportFormat
) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    addresses = {name: f"198.51.100.{100 + i}" for i, name in enumerate(LABELS)}
    for name, labels in LABELS.items():
        # Through intake, so that CSV and MISP have observables to export.
        _submit(session, owner, _bundle(_indicator(addresses[name])), SourceFormat.STIX, labels)
    actor = Actor.anonymous() if reader is None else account.actor(session, org=reader)

    raw = _export(session, actor, export_format, added_after=since)

    if export_format == ExportFormat.STIX:
        records, _ = _split(orjson.loads(raw))
        exported = {obj["name"] for obj in records}
    elif export_format == ExportFormat.CSV:
        exported = {row["value"] for row in csv.DictReader(io.StringIO(raw.decode()))}
    else:
        exported = {attribute["value"] for attribute in orjson.loads(raw)["Event"]["Attribute"]}
    assert exported == {addresses[name] for name in readable}


def test_factory_records_follow_the_same_rules(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    names = {}
    for name, labels in LABELS.items():
        names[intel.record(session, owner, labels=labels).stix_id] = name

    def exported(actor: Actor) -> set[str]:
        records, _ = _split(_stix(session, actor, added_after=since))
        return {names[obj["id"]] for obj in records}

    assert exported(account.actor(session, org="ncb-ng")) == {
        "public",
        "community",
        "members",
        "red-to-ng",
    }
    assert exported(Actor.anonymous()) == {"public"}


def test_an_actor_without_read_permission_is_refused_before_any_byte(session: Session) -> None:
    member = account.actor(session, org="ncb-fr")
    no_rights = Actor(
        user_id=member.user_id,
        email=member.email,
        org_id=member.org_id,
        org_slug=member.org_slug,
        org_kind=member.org_kind,
        country_code=member.country_code,
        region_code=member.region_code,
    )

    for export_format in ExportFormat:
        with pytest.raises(PermissionDenied, match="intel:object:read"):
            export_service.export(
                session=session,
                actor=no_rights,
                export_format=export_format,
                filters=ExportFilters(),
            )


# -- filters -----------------------------------------------------------------------------------


def test_filters_narrow_by_type_tlp_status_time_and_count(session: Session) -> None:
    since = _since()
    ncb = account.actor(session, org="ncb-fr")
    cert = account.actor(session, org="cert-fr")  # a partner: its records stay unvalidated
    green = _indicator("198.51.100.40", object_marking_refs=[GREEN])
    amber = _indicator("198.51.100.41", object_marking_refs=[AMBER])
    malware = {
        "type": "malware",
        "spec_version": "2.1",
        "id": f"malware--{uuid.uuid4()}",
        "created": TS,
        "modified": LATER,
        "name": "Emotet",
        "is_family": True,
    }
    _submit(session, ncb, _bundle(green, amber), SourceFormat.STIX)
    middle = utcnow()
    from_cert = _indicator("198.51.100.42", object_marking_refs=[GREEN])
    _submit(session, cert, _bundle(from_cert, malware), SourceFormat.STIX)
    hub = account.actor(session, org="hub")

    def ids(**filters: Any) -> list[str]:
        records, _ = _split(_stix(session, hub, added_after=since, **filters))
        return [obj["id"] for obj in records]

    assert ids() == [green["id"], amber["id"], from_cert["id"], malware["id"]]
    assert ids(types=["malware"]) == [malware["id"]]
    assert ids(types=["malware", "indicator"]) == ids()
    assert ids(tlp=[Tlp.AMBER]) == [amber["id"]]
    assert ids(status="validated") == [green["id"], amber["id"]]
    assert ids(status="unvalidated") == [from_cert["id"], malware["id"]]
    assert ids(added_before=middle) == [green["id"], amber["id"]]
    assert ids(modified_after=datetime.fromisoformat(TS)) == [malware["id"]]
    assert ids(limit=3) == [green["id"], amber["id"], from_cert["id"]]


def test_the_limit_counts_records_not_the_marking_definitions(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    _submit(
        session,
        owner,
        _bundle(*(_indicator(f"198.51.100.{50 + i}") for i in range(3))),
        SourceFormat.STIX,
    )

    bundle = _stix(session, owner, added_after=since, limit=2)

    records, definitions = _split(bundle)
    assert len(records) == 2
    assert definitions == [tlp2_marking_definition(Tlp.GREEN)]


def test_exports_are_read_in_batches(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    indicators = [_indicator(f"198.51.100.{60 + i}") for i in range(7)]
    _submit(session, owner, _bundle(*indicators), SourceFormat.STIX)
    monkeypatch.setattr(export_service, "BATCH_SIZE", 2)

    chunks = list(
        export_service.export_stix(
            session=session, actor=owner, filters=ExportFilters(added_after=since)
        )
    )

    # The opening, four batches of at most two objects, the closing with the definition.
    assert len(chunks) == 6
    records, _ = _split(orjson.loads(b"".join(chunks)))
    assert [obj["id"] for obj in records] == [obj["id"] for obj in indicators]
    rows = _csv_rows(session, owner, added_after=since)
    assert [row["value"] for row in rows] == [f"198.51.100.{60 + i}" for i in range(7)]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"types": ["Indicator"]},
            "types",
            "'Indicator' is not a STIX or observable type name (3-250 lower-case letters, "
            "digits and hyphens)",
        ),
        (
            {"tlp": ["purple"]},
            "tlp",
            "Input should be 'clear', 'green', 'amber', 'amber+strict' or 'red' (got 'purple')",
        ),
        (
            {"added_after": "2026-01-02", "added_before": "2026-01-01"},
            "added_before",
            "added_before (2026-01-01T00:00:00+00:00) must be later than added_after "
            "(2026-01-02T00:00:00+00:00)",
        ),
        ({"limit": 0}, "limit", "Input should be greater than or equal to 1 (got 0)"),
        (
            {"status": "approved"},
            "status",
            "Input should be 'validated', 'unvalidated' or 'any' (got 'approved')",
        ),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted (got 'red')"),
    ],
)
def test_bad_filters_are_refused_naming_the_field(
    data: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        export_service.parse_filters(data)

    assert (caught.value.field, caught.value.detail) == (field, message)


# -- CSV ---------------------------------------------------------------------------------------

SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
CSV_IN = f"""type,value,first_seen,last_seen,threat_type,malware,confidence,comment
ipv4-addr,185.220.101.34,2024-03-01,2024-03-04,c2,Emotet,85,"Epoch 5 C2, port 8080"
,hxxps://invoice-docs-secure[.]com/download.php?id=7731,2024-03-01T08:31:00+01:00,,malware_download,emotet,,
domain-name,invoice-docs-secure.com,2024-03-02,,phishing,,70,
sha256,{SHA256},2024-03-03,,,,,dropper
md5,d41d8cd98f00b204e9800998ecf8427e,2024-03-03,,,,,
email-addr,billing@invoice-docs-secure.com,2024-03-03,,scam,,,
ipv6-addr,2a02:26f0:fe::5c,2024-03-03,,scanner,,,
cve,CVE-2024-3400,2024-03-03,,,,,
btc-address,bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq,2024-03-03,,fraud,,,
eth-address,0x52908400098527886e0f7030069857d2e4169ee7,2024-03-03,,fraud,,,
phone-number,+33612345678,2024-03-03,,scam,,,
iban,DE89370400440532013000,2024-03-03,,money-mule,,,
autonomous-system,AS64500,2024-03-03,,,,,
"""


def test_csv_has_the_documented_header_and_one_row_per_observable(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    _submit(session, owner, CSV_IN, SourceFormat.CSV)

    raw = _export(
        session, account.actor(session, org="ncb-ng"), ExportFormat.CSV, added_after=since
    )
    rows = list(csv.DictReader(io.StringIO(raw.decode())))

    assert raw.decode().split("\r\n", 1)[0] == (
        "type,value,first_seen,last_seen,threat_type,malware,confidence,comment"
    )
    assert rows[0] == {
        "type": "ipv4-addr",
        "value": "185.220.101.34",
        "first_seen": "2024-03-01T00:00:00.000Z",
        "last_seen": "2024-03-04T00:00:00.000Z",
        "threat_type": "c2",
        "malware": "Emotet",
        "confidence": "85",
        "comment": "Epoch 5 C2, port 8080",
    }
    assert rows[1] == {
        "type": "url",
        "value": "https://invoice-docs-secure.com/download.php?id=7731",
        "first_seen": "2024-03-01T07:31:00.000Z",
        "last_seen": "",
        "threat_type": "malware_download",
        "malware": "Emotet",
        "confidence": "50",
        "comment": "",
    }
    assert [row["type"] for row in rows] == [
        "ipv4-addr",
        "url",
        "domain-name",
        "sha256",
        "md5",
        "email-addr",
        "ipv6-addr",
        "cve",
        "btc-address",
        "eth-address",
        "phone-number",
        "iban",
        "autonomous-system",
    ]


def test_csv_export_imported_by_another_organisation_gives_the_same_observables(
    session: Session,
) -> None:
    since = _since()
    sent = _submit(session, account.actor(session, org="ncb-fr"), CSV_IN, SourceFormat.CSV)
    exported = _export(
        session, account.actor(session, org="ncb-ng"), ExportFormat.CSV, added_after=since
    )

    received = _submit(session, account.actor(session, org="ncb-ng"), exported, SourceFormat.CSV)

    assert received.accepted == sent.accepted
    assert len(_observables_of(session, sent.id)) == 13
    assert _observables_of(session, received.id) == _observables_of(session, sent.id)


def test_csv_type_filter_matches_observable_or_record_types(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    _submit(session, owner, CSV_IN, SourceFormat.CSV)

    domains = _csv_rows(session, owner, added_after=since, types=["domain-name", "iban"])
    indicators = _csv_rows(session, owner, added_after=since, types=["indicator"])

    assert [row["value"] for row in domains] == [
        "invoice-docs-secure.com",
        "DE89370400440532013000",
    ]
    assert len(indicators) == 13


def test_csv_free_text_cannot_run_as_a_spreadsheet_formula(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    indicator = _indicator("198.51.100.70", description='=HYPERLINK("http://evil.example")')
    _submit(session, owner, _bundle(indicator), SourceFormat.STIX)

    rows = _csv_rows(session, owner, added_after=since)

    assert rows[0]["comment"] == '\'=HYPERLINK("http://evil.example")'


def test_csv_rows_of_an_sco_and_of_observed_data(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    address = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
        "value": "198.51.100.3",
    }
    observed = {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": f"observed-data--{uuid.uuid4()}",
        "created": TS,
        "modified": TS,
        "first_observed": TS,
        "last_observed": LATER,
        "number_observed": 2,
        "object_refs": [address["id"]],
    }
    _submit(session, owner, _bundle(address, observed), SourceFormat.STIX)

    rows = _csv_rows(session, owner, added_after=since)

    assert [tuple(row.values()) for row in rows] == [
        ("ipv4-addr", "198.51.100.3", "", "", "", "", "50", ""),
    ]


def test_csv_and_misp_follow_the_current_label_of_the_record(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    shared = _submit(session, owner, _bundle(_indicator("198.51.100.90")), SourceFormat.STIX)
    kept = _submit(session, owner, _bundle(_indicator("198.51.100.91")), SourceFormat.STIX)
    # The owner takes one back; the hub tightens the other's TLP, audience unchanged.
    intel_service.relabel(
        session=session,
        actor=owner,
        record_id=shared.results[0].record_id or 0,
        labels_in=LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
    )
    intel_service.relabel(
        session=session,
        actor=account.actor(session, org="hub"),
        record_id=kept.results[0].record_id or 0,
        labels_in=LabelsIn(tlp=Tlp.AMBER, audience=Audience.COMMUNITY),
    )
    reader = account.actor(session, org="ncb-ng")

    rows = _csv_rows(session, reader, added_after=since)
    attributes = _misp(session, reader, added_after=since)["Event"]["Attribute"]

    assert [row["value"] for row in rows] == ["198.51.100.91"]
    assert [(a["value"], a["Tag"]) for a in attributes] == [
        ("198.51.100.91", [{"name": "tlp:amber"}])
    ]


# -- MISP --------------------------------------------------------------------------------------


def _misp(session: Session, actor: Actor, **filters: Any) -> dict[str, Any]:
    event: dict[str, Any] = orjson.loads(_export(session, actor, ExportFormat.MISP, **filters))
    return event


def test_misp_event_loads_in_pymisp_with_the_expected_attributes_and_tags(
    session: Session,
) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    _submit(session, owner, CSV_IN, SourceFormat.CSV)
    address = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--ff26c055-6336-5bc5-b98d-13d6226742dd",
        "value": "198.51.100.3",
    }
    _submit(
        session,
        owner,
        _bundle(address),
        SourceFormat.STIX,
        labels=LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
    )

    raw = _export(session, owner, ExportFormat.MISP, added_after=since)
    event = MISPEvent()
    event.load(raw.decode())

    attributes = {(a.type, a.value): a for a in event.attributes}
    # Ethereum has no MISP attribute type: the other twelve CSV rows and the SCO.
    assert sorted(attributes) == sorted(
        [
            ("ip-dst", "185.220.101.34"),
            ("url", "https://invoice-docs-secure.com/download.php?id=7731"),
            ("domain", "invoice-docs-secure.com"),
            ("sha256", SHA256),
            ("md5", "d41d8cd98f00b204e9800998ecf8427e"),
            ("email-src", "billing@invoice-docs-secure.com"),
            ("ip-dst", "2a02:26f0:fe::5c"),
            ("vulnerability", "CVE-2024-3400"),
            ("btc", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
            ("phone-number", "+33612345678"),
            ("iban", "DE89370400440532013000"),
            ("AS", "AS64500"),
            ("ip-dst", "198.51.100.3"),
        ]
    )
    c2 = attributes[("ip-dst", "185.220.101.34")]
    assert (c2.category, c2.to_ids, c2.distribution, c2.comment) == (
        "Network activity",
        True,
        1,
        "Epoch 5 C2, port 8080",
    )
    assert [tag.name for tag in c2.tags] == ["tlp:green", "c2"]
    assert (c2.first_seen.isoformat(), c2.last_seen.isoformat()) == (
        "2024-03-01T00:00:00+00:00",
        "2024-03-04T00:00:00+00:00",
    )
    sco = attributes[("ip-dst", "198.51.100.3")]
    assert (sco.to_ids, sco.distribution, [tag.name for tag in sco.tags]) == (
        False,
        0,
        ["tlp:amber"],
    )
    assert [tag.name for tag in event.tags] == ["tlp:amber"]
    assert event.distribution == 1
    assert event.info == "cyberfusion export for ncb-fr"
    assert event.uuid == export_service.event_uuid(owner, ExportFilters(added_after=since))


@pytest.mark.parametrize(
    ("labels", "distribution"),
    [
        (LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION), "0"),
        (LabelsIn(tlp=Tlp.RED, audience=Audience.ORGANISATIONS, recipients=["ncb-ng"]), "0"),
        (LabelsIn(tlp=Tlp.AMBER, audience=Audience.COUNTRY), "1"),
        (LabelsIn(tlp=Tlp.AMBER, audience=Audience.REGION), "1"),
        (LabelsIn(tlp=Tlp.GREEN, audience=Audience.MEMBERS), "1"),
        (LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY), "1"),
        (LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC), "3"),
    ],
)
def test_misp_distribution_follows_the_audience(
    session: Session, labels: LabelsIn, distribution: str
) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    _submit(session, owner, _bundle(_indicator("198.51.100.80")), SourceFormat.STIX, labels)

    event = _misp(session, owner, added_after=since)["Event"]

    assert [(a["distribution"], a["Tag"]) for a in event["Attribute"]] == [
        (distribution, [{"name": f"tlp:{labels.tlp.value}"}])
    ]
    assert (event["distribution"], event["Tag"]) == (
        distribution,
        [{"name": f"tlp:{labels.tlp.value}"}],
    )


def test_misp_export_imports_back_through_intake_as_another_organisation(
    session: Session,
) -> None:
    since = _since()
    sent = _submit(session, account.actor(session, org="ncb-fr"), CSV_IN, SourceFormat.CSV)
    reader = account.actor(session, org="ncb-ng")
    exported = _export(session, reader, ExportFormat.MISP, added_after=since)

    received = _submit(session, reader, exported, SourceFormat.MISP, labels=None)

    assert received.status == "accepted"
    without_eth = {pair for pair in _observables_of(session, sent.id) if pair[0] != "eth-address"}
    assert _observables_of(session, received.id) == without_eth


def test_misp_uuids_are_stable_for_the_same_view(session: Session) -> None:
    since = _since()
    owner = account.actor(session, org="ncb-fr")
    _submit(session, owner, _bundle(_indicator("198.51.100.81")), SourceFormat.STIX)

    first = _misp(session, owner, added_after=since)["Event"]
    again = _misp(session, owner, added_after=since)["Event"]
    other_view = _misp(session, owner, added_after=since, types=["indicator"])["Event"]

    assert again["uuid"] == first["uuid"]
    assert [a["uuid"] for a in again["Attribute"]] == [a["uuid"] for a in first["Attribute"]]
    assert other_view["uuid"] != first["uuid"]
    assert [a["uuid"] for a in other_view["Attribute"]] == [a["uuid"] for a in first["Attribute"]]


def test_an_empty_misp_export_is_a_valid_event(session: Session) -> None:
    event = MISPEvent()
    event.load(_export(session, Actor.anonymous(), ExportFormat.MISP, types=["x-nothing"]))

    assert (event.attributes, event.distribution, event.tags) == ([], 0, [])


# -- the real ATT&CK bundle --------------------------------------------------------------------


@pytest.mark.skipif(
    not ATTACK_BUNDLE.exists(),
    reason=f"{ATTACK_BUNDLE} is absent: the ATT&CK bundle is CI test data, not shipped to users",
)
def test_the_attack_bundle_exports_as_valid_stix_21(session: Session) -> None:
    since = _since()
    with gzip.open(ATTACK_BUNDLE) as handle:
        raw = handle.read()
    hub = account.actor(session, org="hub", role=Role.HUB_ANALYST)
    result = intake_service.submit(
        session=session,
        actor=hub,
        raw=raw,
        options=SubmissionOptions(
            source_format=SourceFormat.STIX,
            labels=LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC),
        ),
    )
    assert (result.status, result.accepted, result.rejected) == ("accepted", 24_771, 0)

    bundle = _stix(session, Actor.anonymous(), added_after=since)

    records, definitions = _split(bundle)
    assert len(records) == 24_771
    assert definitions == [tlp2_marking_definition(Tlp.CLEAR)]
    assert all(CLEAR in obj["object_marking_refs"] for obj in records)
    # The OASIS validator runs at ~150 objects/s: a fixed sample of 1,000 keeps this fast.
    sample = random.Random(20251113).sample(bundle["objects"], 1000)
    assert _validator_errors({**bundle, "objects": sample}) == []
