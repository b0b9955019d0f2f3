"""STIX export of value lists: the grouping and one generated indicator per readable value."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import orjson
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_string

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.export import service as export_service
from cyberfusion.export.service import ExportFilters, ExportFormat
from cyberfusion.export.value_list import indicator_id
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.parsed import indicator_pattern, stix_timestamp
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.observable.types import ObservableType
from cyberfusion.sharing.models import TLP_MARKING_IDS, Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account


def _actor(session: Session, org: str, role: Role = Role.OFFICER) -> Actor:
    from cyberfusion.account import service as account_service

    return account_service.actor_for(account.user(session, org=org, role=role), via="test")


def _values() -> list[tuple[ObservableType, str]]:
    tag = uuid.uuid4().hex[:10]
    return [
        (ObservableType.DOMAIN, f"update-{tag}.com"),
        (ObservableType.URL, f"https://drop-{tag}.net/a.exe"),
        (ObservableType.MD5, uuid.uuid4().hex),
        (ObservableType.CVE, "CVE-2021-44228"),
    ]


def _submit_list(
    session: Session, actor: Actor, values: list[tuple[ObservableType, str]], labels: LabelsIn
) -> tuple[SubmissionRead, str]:
    answer = intake_service.submit(
        session=session,
        actor=actor,
        raw="".join(f"{value}\n" for _, value in values).encode(),
        options=SubmissionOptions(source_format=SourceFormat.CSV, labels=labels),
    )
    grouping = answer.results[-1]
    assert (grouping.type, grouping.status, answer.accepted) == (
        "grouping",
        "accepted",
        len(values),
    )
    assert grouping.id is not None
    return answer, grouping.id


def _bundle(session: Session, actor: Actor, since: SubmissionRead, **filters: Any) -> Any:
    chunks = export_service.export(
        session=session,
        actor=actor,
        export_format=ExportFormat.STIX,
        filters=ExportFilters(added_after=since.received_at - timedelta(microseconds=1), **filters),
    )
    return orjson.loads(b"".join(chunks))


def _records(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    definitions = set(TLP_MARKING_IDS.values())
    return [obj for obj in bundle["objects"] if obj["id"] not in definitions]


def test_a_list_exports_as_its_grouping_and_one_valid_indicator_per_value(
    session: Session,
) -> None:
    owner = _actor(session, "ncb-fr")
    values = _values()
    labels = LabelsIn(tlp=Tlp.AMBER, audience=Audience.MEMBERS)
    answer, grouping_id = _submit_list(session, owner, values, labels)
    bundle = _bundle(session, owner, answer)
    grouping, *indicators = _records(bundle)
    assert grouping["id"] == grouping_id
    amber = TLP_MARKING_IDS[Tlp.AMBER]
    assert grouping["object_marking_refs"] == [amber]
    ids = {indicator_id(grouping_id, kind.value, value): (kind, value) for kind, value in values}
    assert sorted(obj["id"] for obj in indicators) == sorted(ids)
    assert grouping["object_refs"][1:] == [obj["id"] for obj in indicators]
    for obj in indicators:
        kind, value = ids[obj["id"]]
        assert obj == {
            "type": "indicator",
            "spec_version": "2.1",
            "id": obj["id"],
            "created": grouping["modified"],
            "modified": grouping["modified"],
            "name": value,
            "description": f"Listed in {grouping['name']}",
            "pattern": indicator_pattern(kind, value),
            "pattern_type": "stix",
            "valid_from": stix_timestamp(answer.received_at),
            "object_marking_refs": [amber],
        }
    # The TLP:AMBER definition closes the bundle, as for any exported record.
    assert [obj["id"] for obj in bundle["objects"]][-1] == amber
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    assert [str(error) for error in result.errors] == []
    assert _bundle(session, owner, answer)["objects"] == bundle["objects"]


def test_the_type_filter_and_the_limit_count_generated_indicators(session: Session) -> None:
    owner = _actor(session, "ncb-fr")
    values = _values()
    labels = LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY)
    answer, grouping_id = _submit_list(session, owner, values, labels)
    indicators = _records(_bundle(session, owner, answer, types=["indicator"]))
    assert [obj["type"] for obj in indicators] == ["indicator"] * len(values)
    groupings = _records(_bundle(session, owner, answer, types=["grouping"]))
    assert [obj["id"] for obj in groupings] == [grouping_id]
    assert groupings[0]["object_refs"][1:] == [obj["id"] for obj in indicators]
    limited = _records(_bundle(session, owner, answer, limit=3))
    assert [obj["id"] for obj in limited] == [grouping_id, *[o["id"] for o in indicators[:2]]]


def test_a_reader_outside_the_audience_gets_neither_grouping_nor_indicators(
    session: Session,
) -> None:
    owner = _actor(session, "ncb-fr")
    labels = LabelsIn(tlp=Tlp.AMBER, audience=Audience.MEMBERS)
    answer, _ = _submit_list(session, owner, _values(), labels)
    partner = _actor(session, "cert-fr", Role.PARTNER_ANALYST)
    assert _records(_bundle(session, partner, answer)) == []
    member = _actor(session, "ncb-ng")
    assert len(_records(_bundle(session, member, answer))) == 5


def test_indicator_ids_are_rfc_4122_version_5_uuids() -> None:
    from cyberfusion.export.value_list import VALUE_LIST_NAMESPACE

    for grouping, kind, value in (
        ("grouping--8e2b1c3d-4f5a-5b6c-9d7e-0f1a2b3c4d5e", "url", "http://a.example/x"),
        ("grouping--8e2b1c3d-4f5a-5b6c-9d7e-0f1a2b3c4d5e", "domain-name", "bücher.example"),
    ):
        expected = uuid.uuid5(VALUE_LIST_NAMESPACE, f"{grouping}\x1f{kind}\x1f{value}")
        assert indicator_id(grouping, kind, value) == f"indicator--{expected}"
