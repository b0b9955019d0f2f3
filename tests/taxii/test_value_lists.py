"""Value lists over TAXII: a list's grouping and one generated indicator per value, paged,
filtered and read one by one like stored objects, and valid STIX 2.1."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_string

from cyberfusion.account.schemas import Actor
from cyberfusion.export.value_list import indicator_id
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.parsed import indicator_pattern, stix_timestamp
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.observable.types import ObservableType
from cyberfusion.sharing.models import TLP_MARKING_IDS, Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.taxii.service import CollectionKind, collection_id, taxii_timestamp
from tests.taxii.test_api import _caller, _objects_url, _taxii_error

MEMBERS = collection_id(CollectionKind.MEMBERS)


def _values() -> list[tuple[ObservableType, str]]:
    tag = uuid.uuid4().hex[:10]
    return [
        (ObservableType.DOMAIN, f"login-{tag}.com"),
        (ObservableType.URL, f"http://pay-{tag}.net/gate.php"),
        (ObservableType.SHA256, uuid.uuid4().hex + uuid.uuid4().hex),
        (ObservableType.EMAIL, f"boss-{tag}@mail-{tag}.org"),
        (ObservableType.IPV4, f"198.51.100.{int(tag[:2], 16) % 250 + 1}"),
    ]


def submit_list(
    session: Session,
    actor: Actor,
    values: list[tuple[ObservableType, str]],
    *,
    audience: Audience = Audience.MEMBERS,
) -> tuple[SubmissionRead, str]:
    """A value list as intake stores it; the answer and the grouping's STIX id."""
    answer = intake_service.submit(
        session=session,
        actor=actor,
        raw="".join(f"{value}\n" for _, value in values).encode(),
        options=SubmissionOptions(
            source_format=SourceFormat.CSV, labels=LabelsIn(tlp=Tlp.GREEN, audience=audience)
        ),
    )
    grouping = answer.results[-1]
    assert (grouping.type, grouping.status, answer.accepted) == (
        "grouping",
        "accepted",
        len(values),
    )
    assert grouping.id is not None
    return answer, grouping.id


def _since(answer: SubmissionRead) -> str:
    return taxii_timestamp(answer.received_at - timedelta(microseconds=1))


def _get(client: TestClient, headers: dict[str, str], url: str, **params: str) -> dict[str, Any]:
    response = client.get(url, headers=headers, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _validator_errors(objects: list[dict[str, Any]]) -> list[str]:
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    result = validate_string(json.dumps(bundle), ValidationOptions(version="2.1"))
    return [str(error) for error in result.errors]


def test_a_list_reads_as_its_grouping_then_one_indicator_per_value(
    client: TestClient, session: Session
) -> None:
    actor, headers = _caller(session)
    values = _values()
    answer, grouping_id = submit_list(session, actor, values)
    body = _get(client, headers, _objects_url("members", MEMBERS), added_after=_since(answer))
    grouping, *indicators = body["objects"]
    assert body["more"] is False
    assert grouping["id"] == grouping_id
    stamp = stix_timestamp(answer.received_at)
    expected = {
        indicator_id(grouping_id, kind.value, value): {
            "type": "indicator",
            "spec_version": "2.1",
            "id": indicator_id(grouping_id, kind.value, value),
            "created": grouping["modified"],
            "modified": grouping["modified"],
            "name": value,
            "description": f"Listed in {grouping['name']}",
            "pattern": indicator_pattern(kind, value),
            "pattern_type": "stix",
            "valid_from": stamp,
            "object_marking_refs": [TLP_MARKING_IDS[Tlp.GREEN]],
        }
        for kind, value in values
    }
    served = {obj["id"]: obj for obj in indicators}
    assert sorted(served) == sorted(expected)
    for stix_id, obj in served.items():
        assert obj == expected[stix_id]
    # The grouping names the list's artifact, then each indicator, in the order they are served.
    assert grouping["object_refs"][1:] == [obj["id"] for obj in indicators]
    assert grouping["object_refs"][0].startswith("artifact--")
    assert grouping["object_marking_refs"] == [TLP_MARKING_IDS[Tlp.GREEN]]
    assert _validator_errors(body["objects"]) == []


def test_ids_are_the_same_on_every_read(client: TestClient, session: Session) -> None:
    actor, headers = _caller(session)
    answer, _ = submit_list(session, actor, _values())
    url = _objects_url("members", MEMBERS)
    first = _get(client, headers, url, added_after=_since(answer))
    again = _get(client, headers, url, added_after=_since(answer))
    assert first == again


def test_pages_cut_inside_a_list_and_go_on_where_they_stopped(
    client: TestClient, session: Session
) -> None:
    actor, headers = _caller(session)
    answer, _ = submit_list(session, actor, _values())
    url = _objects_url("members", MEMBERS)
    whole = [obj["id"] for obj in _get(client, headers, url, added_after=_since(answer))["objects"]]
    seen: list[str] = []
    shapes: list[tuple[int, bool]] = []
    params = {"added_after": _since(answer), "limit": "2"}
    while True:
        response = client.get(url, headers=headers, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        seen += [obj["id"] for obj in body["objects"]]
        shapes.append((len(body["objects"]), body["more"]))
        # Every generated indicator was added with its list.
        assert response.headers["x-taxii-date-added-first"] == taxii_timestamp(answer.received_at)
        assert response.headers["x-taxii-date-added-last"] == taxii_timestamp(answer.received_at)
        if not body["more"]:
            break
        params["next"] = body["next"]
    assert shapes == [(2, True), (2, True), (2, False)]
    assert seen == whole


def test_type_and_id_filters_reach_generated_indicators(
    client: TestClient, session: Session
) -> None:
    actor, headers = _caller(session)
    values = _values()
    answer, grouping_id = submit_list(session, actor, values)
    url = _objects_url("members", MEMBERS)
    since = _since(answer)
    only_indicators = _get(client, headers, url, added_after=since, **{"match[type]": "indicator"})
    assert {obj["type"] for obj in only_indicators["objects"]} == {"indicator"}
    assert len(only_indicators["objects"]) == len(values)
    only_grouping = _get(client, headers, url, added_after=since, **{"match[type]": "grouping"})
    assert [obj["id"] for obj in only_grouping["objects"]] == [grouping_id]
    assert len(only_grouping["objects"][0]["object_refs"]) == len(values) + 1
    kind, value = values[2]
    wanted = indicator_id(grouping_id, kind.value, value)
    by_id = _get(client, headers, url, **{"match[id]": wanted})
    assert [obj["id"] for obj in by_id["objects"]] == [wanted]
    assert by_id["objects"][0]["pattern"] == indicator_pattern(kind, value)


def test_get_an_object_its_versions_and_the_manifest(client: TestClient, session: Session) -> None:
    actor, headers = _caller(session)
    values = _values()
    answer, grouping_id = submit_list(session, actor, values)
    kind, value = values[0]
    wanted = indicator_id(grouping_id, kind.value, value)
    one = _get(client, headers, f"{_objects_url('members', MEMBERS)}{wanted}/")
    assert [(obj["id"], obj["name"]) for obj in one["objects"]] == [(wanted, value)]
    version = one["objects"][0]["modified"]
    versions = _get(client, headers, f"{_objects_url('members', MEMBERS)}{wanted}/versions/")
    assert versions["versions"] == [version]
    manifest = _get(
        client,
        headers,
        f"/taxii2/members/collections/{MEMBERS}/manifest/",
        added_after=_since(answer),
    )
    records = {record["id"]: record for record in manifest["objects"]}
    assert set(records) == {grouping_id} | {
        indicator_id(grouping_id, k.value, v) for k, v in values
    }
    assert records[wanted] == {
        "id": wanted,
        "date_added": taxii_timestamp(answer.received_at),
        "version": version,
        "media_type": "application/stix+json;version=2.1",
    }


def test_a_list_the_caller_may_not_read_gives_no_indicator(
    client: TestClient, session: Session
) -> None:
    owner, _ = _caller(session)
    values = _values()
    answer, grouping_id = submit_list(session, owner, values, audience=Audience.ORGANISATION)
    kind, value = values[0]
    wanted = indicator_id(grouping_id, kind.value, value)
    _, other = _caller(session, org="ncb-ng")
    mine = collection_id(CollectionKind.ORG, "ncb-ng")
    url = _objects_url("community", mine)
    assert "objects" not in _get(client, other, url, added_after=_since(answer))
    _taxii_error(client.get(f"{url}{wanted}/", headers=other), 404)
    assert _get(client, other, url, **{"match[id]": wanted}) == {"more": False}


def test_a_generated_indicator_goes_with_its_grouping(client: TestClient, session: Session) -> None:
    actor, headers = _caller(session)
    values = _values()
    answer, grouping_id = submit_list(session, actor, values)
    kind, value = values[1]
    wanted = indicator_id(grouping_id, kind.value, value)
    url = _objects_url("members", MEMBERS)
    # Not stored on its own: it cannot be deleted on its own.
    _taxii_error(client.delete(f"{url}{wanted}/", headers=headers), 404)
    assert client.delete(f"{url}{grouping_id}/", headers=headers).status_code == 200
    assert "objects" not in _get(client, headers, url, added_after=_since(answer))
    _taxii_error(client.get(f"{url}{wanted}/", headers=headers), 404)
