"""TAXII 2.1 over HTTP, one test per requirement of the specification (OASIS Standard,
10 June 2021) and per rule of the sharing model, error cases included."""

from __future__ import annotations

import base64
import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.audit.models import AuditEntry
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable.models import Occurrence
from cyberfusion.sharing.models import TLP_MARKING_IDS, Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from cyberfusion.taxii.service import CollectionKind, collection_id
from tests.factories import account as account_factory
from tests.factories import intel as intel_factory

TAXII = "application/taxii+json;version=2.1"
STIX = "application/stix+json;version=2.1"
MEMBERS = collection_id(CollectionKind.MEMBERS)
COMMUNITY = collection_id(CollectionKind.COMMUNITY)
PUBLIC = collection_id(CollectionKind.PUBLIC)


def _caller(
    session: Session, *, org: str = "ncb-fr", role: Role = Role.OFFICER
) -> tuple[Actor, dict[str, str]]:
    """An actor of the organisation, and the headers of its API key."""
    user = account_factory.user(session, org=org, role=role)
    key = account_factory.api_key(session, user)
    from cyberfusion.account import service as account_service

    return account_service.actor_for(user, via="test"), {
        "Accept": TAXII,
        "Authorization": f"Bearer {key}",
    }


def _indicator(*, modified: str = "2026-11-02T10:00:00.000Z", **extra: Any) -> dict[str, Any]:
    content = intel_factory.indicator_content()
    content.update(modified=modified, **extra)
    return content


def _record(
    session: Session,
    actor: Actor,
    *,
    audience: Audience,
    tlp: Tlp = Tlp.GREEN,
    content: dict[str, Any] | None = None,
    **labels: Any,
) -> IntelObject:
    return intel_factory.record(
        session,
        actor,
        labels=LabelsIn(tlp=tlp, audience=audience, **labels),
        content=content or _indicator(),
    )


def _objects_url(root: str, collection: str) -> str:
    return f"/taxii2/{root}/collections/{collection}/objects/"


def _ids(response: Any) -> list[str]:
    return [obj["id"] for obj in response.json().get("objects", [])]


def _taxii_error(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == TAXII
    body: dict[str, Any] = response.json()
    assert body["http_status"] == str(status)
    return body


# -- §4.1 Server Discovery ---------------------------------------------------------------------


def test_discovery_lists_the_trust_groups_of_a_member_country(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    response = client.get("/taxii2/", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    body = response.json()
    assert body["api_roots"] == ["/taxii2/members/", "/taxii2/community/", "/taxii2/public/"]
    assert body["default"] == "/taxii2/members/"
    assert body["title"] == "cyberfusion TAXII 2.1"


def test_discovery_answers_http_basic_with_the_key_as_password(
    client: TestClient, session: Session
) -> None:
    user = account_factory.user(session, org="cert-fr", role=Role.PARTNER_ANALYST)
    key = account_factory.api_key(session, user)
    basic = base64.b64encode(f"any-name:{key}".encode()).decode()
    response = client.get("/taxii2/", headers={"Accept": TAXII, "Authorization": f"Basic {basic}"})
    assert response.status_code == 200
    # A CERT is in the community, not among member law enforcement.
    assert response.json()["api_roots"] == ["/taxii2/community/", "/taxii2/public/"]


def test_discovery_without_credentials_offers_the_public_root(client: TestClient) -> None:
    response = client.get("/taxii2/", headers={"Accept": TAXII})
    assert response.status_code == 200
    assert response.json()["api_roots"] == ["/taxii2/public/"]
    assert response.json()["default"] == "/taxii2/public/"


@pytest.mark.parametrize(
    "accept",
    [
        "",
        "text/html",
        "application/json",
        "*/*",
        "application/taxii+json;version=2.0",
        "application/taxii+json;version=2.1;q=0",
    ],
)
def test_an_accept_header_without_taxii_2_1_is_406(
    client: TestClient, session: Session, accept: str
) -> None:
    _, headers = _caller(session)
    response = client.get("/taxii2/", headers={**headers, "Accept": accept})
    body = _taxii_error(response, 406)
    assert body["title"] == "Not acceptable"
    assert body["description"] == (
        "this server speaks TAXII 2.1: the Accept header must include "
        f"application/taxii+json;version=2.1 (got {accept!r})"
    )


@pytest.mark.parametrize(
    "accept",
    ["application/taxii+json", "application/json, application/taxii+json; version=2.1"],
)
def test_the_taxii_media_type_is_accepted_without_version_and_among_others(
    client: TestClient, accept: str
) -> None:
    response = client.get("/taxii2/", headers={"Accept": accept})
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII


def test_a_wrong_key_is_401_with_a_challenge(client: TestClient) -> None:
    response = client.get("/taxii2/", headers={"Accept": TAXII, "Authorization": "Bearer nope"})
    _taxii_error(response, 401)
    assert response.headers["www-authenticate"] == (
        'Basic realm="cyberfusion TAXII", Bearer realm="cyberfusion"'
    )


# -- §4.2 Get API Root Information --------------------------------------------------------------


def test_api_root_information(client: TestClient, session: Session) -> None:
    from cyberfusion.core.config import get_settings

    _, headers = _caller(session)
    response = client.get("/taxii2/members/", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    body = response.json()
    assert body["title"] == "Member law enforcement"
    assert body["versions"] == [TAXII]
    assert body["max_content_length"] == get_settings().max_submission_bytes


def test_an_unknown_api_root_is_404(client: TestClient, session: Session) -> None:
    _, headers = _caller(session)
    body = _taxii_error(client.get("/taxii2/nowhere/", headers=headers), 404)
    assert body["description"] == "no API root 'nowhere'"


def test_an_api_root_of_another_trust_group_is_404(client: TestClient, session: Session) -> None:
    _, headers = _caller(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    body = _taxii_error(client.get("/taxii2/members/", headers=headers), 404)
    assert body["description"] == "no API root 'members'"


def test_a_closed_api_root_without_credentials_is_401(client: TestClient) -> None:
    response = client.get("/taxii2/community/", headers={"Accept": TAXII})
    body = _taxii_error(response, 401)
    assert body["description"] == "the API root 'community' needs credentials"
    assert response.headers["www-authenticate"].startswith("Basic ")


# -- §5.1, §5.2 Collections ---------------------------------------------------------------------


def _aliases(client: TestClient, headers: dict[str, str], root: str) -> list[str]:
    response = client.get(f"/taxii2/{root}/collections/", headers=headers)
    assert response.status_code == 200, response.text
    return [c["alias"] for c in response.json()["collections"]]


def test_an_ncb_sees_its_country_region_all_members_org_community_and_public(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    assert _aliases(client, headers, "members") == ["country-fr", "region-europe", "members"]
    assert _aliases(client, headers, "community") == [
        "org-ncb-fr",
        "products-ncb-fr",
        "community",
    ]
    assert _aliases(client, headers, "public") == ["public"]


def test_collections_of_a_desk_the_hub_and_a_partner(client: TestClient, session: Session) -> None:
    _, desk = _caller(session, org="desk-africa", role=Role.DESK_OFFICER)
    assert _aliases(client, desk, "members") == ["region-africa", "members"]
    _, hub = _caller(session, org="hub", role=Role.HUB_ANALYST)
    assert _aliases(client, hub, "members") == ["members"]
    _, partner = _caller(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    assert _aliases(client, partner, "community") == [
        "org-partner-northwind",
        "products-partner-northwind",
        "community",
    ]


def test_the_collection_resource(client: TestClient, session: Session) -> None:
    _, headers = _caller(session)
    response = client.get(f"/taxii2/members/collections/{MEMBERS}/", headers=headers)
    assert response.status_code == 200
    assert response.json() == {
        "id": MEMBERS,
        "title": "All members",
        "description": "Shared with all member-country law enforcement, the regional desks and "
        "the fusion centre (audience members).",
        "alias": "members",
        "can_read": True,
        "can_write": True,
        "media_types": [STIX],
    }
    # Ids are name-based: the same on every server and after restarts.
    assert str(uuid.uuid5(uuid.UUID("5b1f8c2e-6a8d-4d8e-9f3b-2c7e1a4d9b60"), "members")) == MEMBERS
    by_alias = client.get("/taxii2/members/collections/members/", headers=headers)
    assert by_alias.json()["id"] == MEMBERS


def test_a_viewer_may_read_but_not_write(client: TestClient, session: Session) -> None:
    _, headers = _caller(session, org="ncb-br", role=Role.VIEWER)
    response = client.get("/taxii2/members/collections/", headers=headers)
    assert [
        (c["alias"], c["can_read"], c["can_write"]) for c in response.json()["collections"]
    ] == [
        ("country-br", True, False),
        ("region-americas", True, False),
        ("members", True, False),
    ]


def test_the_public_collection_without_credentials_is_read_only(client: TestClient) -> None:
    response = client.get(f"/taxii2/public/collections/{PUBLIC}/", headers={"Accept": TAXII})
    assert (response.json()["can_read"], response.json()["can_write"]) == (True, False)


def test_a_collection_the_caller_does_not_belong_to_is_404(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    other_org = collection_id(CollectionKind.ORG, "ncb-ng")
    body = _taxii_error(
        client.get(f"/taxii2/community/collections/{other_org}/", headers=headers), 404
    )
    assert body["description"] == f"no collection {other_org!r} in the API root 'community'"
    # A collection exists in one API root only.
    _taxii_error(client.get(f"/taxii2/community/collections/{MEMBERS}/", headers=headers), 404)
    _taxii_error(client.get(f"/taxii2/members/collections/{uuid.uuid4()}/", headers=headers), 404)


# -- §5.4 Get Objects and the sharing model ----------------------------------------------------


def test_members_collection_holds_what_is_shared_with_all_members(
    client: TestClient, session: Session
) -> None:
    owner, _ = _caller(session, org="ncb-de")
    shared = _record(session, owner, audience=Audience.MEMBERS)
    community = _record(session, owner, audience=Audience.COMMUNITY)
    _, headers = _caller(session, org="ncb-fr")
    response = client.get(
        _objects_url("members", MEMBERS),
        headers=headers,
        params={"match[id]": f"{shared.stix_id},{community.stix_id}"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    assert _ids(response) == [shared.stix_id]
    assert response.json()["objects"][0] == shared.content
    assert response.json()["more"] is False


def test_a_collection_holds_only_the_objects_the_caller_may_read(
    client: TestClient, session: Session
) -> None:
    """The organisation collection is the same audience for every organisation, but each
    object in it is filtered by the sharing rules: named recipients read, others do not."""
    fr, fr_headers = _caller(session, org="ncb-fr")
    to_ng = _record(
        session, fr, audience=Audience.ORGANISATIONS, tlp=Tlp.RED, recipients=["ncb-ng"]
    )
    to_de = _record(
        session, fr, audience=Audience.ORGANISATIONS, tlp=Tlp.RED, recipients=["ncb-de"]
    )
    own = _record(session, fr, audience=Audience.ORGANISATION, tlp=Tlp.AMBER)
    wanted = {"match[id]": ",".join(r.stix_id for r in (to_ng, to_de, own))}
    _, ng_headers = _caller(session, org="ncb-ng")
    ng = client.get(
        _objects_url("community", collection_id(CollectionKind.ORG, "ncb-ng")),
        headers=ng_headers,
        params=wanted,
    )
    assert _ids(ng) == [to_ng.stix_id]
    fr_view = client.get(
        _objects_url("community", collection_id(CollectionKind.ORG, "ncb-fr")),
        headers=fr_headers,
        params=wanted,
    )
    assert _ids(fr_view) == [to_ng.stix_id, to_de.stix_id, own.stix_id]


def test_country_collection_reaches_the_countrys_law_enforcement_only(
    client: TestClient, session: Session
) -> None:
    unit, _ = _caller(session, org="fr-cyber-unit")
    french = _record(session, unit, audience=Audience.COUNTRY, tlp=Tlp.AMBER)
    _, fr_headers = _caller(session, org="ncb-fr")
    france = collection_id(CollectionKind.COUNTRY, "FR")
    response = client.get(
        _objects_url("members", france), headers=fr_headers, params={"match[id]": french.stix_id}
    )
    assert _ids(response) == [french.stix_id]
    _, de_headers = _caller(session, org="ncb-de")
    _taxii_error(client.get(_objects_url("members", france), headers=de_headers), 404)


def test_anonymous_callers_read_public_objects(client: TestClient, session: Session) -> None:
    hub, _ = _caller(session, org="hub", role=Role.HUB_ANALYST)
    advisory = _record(session, hub, audience=Audience.PUBLIC, tlp=Tlp.CLEAR)
    response = client.get(
        _objects_url("public", PUBLIC),
        headers={"Accept": TAXII},
        params={"match[id]": advisory.stix_id},
    )
    assert _ids(response) == [advisory.stix_id]


def test_the_stix_media_type_is_accepted_on_object_endpoints(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    response = client.get(_objects_url("members", MEMBERS), headers={**headers, "Accept": STIX})
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    # Not on the others: they have no STIX content to give.
    _taxii_error(client.get("/taxii2/members/", headers={**headers, "Accept": STIX}), 406)


def _five(session: Session, actor: Actor) -> list[IntelObject]:
    return [_record(session, actor, audience=Audience.MEMBERS) for _ in range(5)]


def test_pages_follow_limit_more_and_next_in_date_added_order(
    client: TestClient, session: Session
) -> None:
    owner, headers = _caller(session)
    records = _five(session, owner)
    params = {"match[id]": ",".join(r.stix_id for r in records), "limit": "2"}
    seen: list[str] = []
    pages: list[tuple[int, bool]] = []
    response = client.get(_objects_url("members", MEMBERS), headers=headers, params=params)
    while True:
        assert response.status_code == 200, response.text
        body = response.json()
        seen.extend(_ids(response))
        pages.append((len(body["objects"]), body["more"]))
        stored = {r.stix_id: r for r in records}
        first, last = stored[body["objects"][0]["id"]], stored[body["objects"][-1]["id"]]
        assert response.headers["x-taxii-date-added-first"] == first.created_at.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        assert response.headers["x-taxii-date-added-last"] == last.created_at.strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"
        )
        if not body["more"]:
            assert "next" not in body
            break
        response = client.get(
            _objects_url("members", MEMBERS),
            headers=headers,
            params={**params, "next": body["next"]},
        )
    assert pages == [(2, True), (2, True), (1, False)]
    assert seen == [r.stix_id for r in records]


def test_an_object_added_while_paging_comes_last_and_shifts_nothing(
    client: TestClient, session: Session
) -> None:
    owner, headers = _caller(session)
    records = _five(session, owner)
    url = _objects_url("members", MEMBERS)
    page = client.get(url, headers=headers, params={"limit": "2"}).json()
    late = _record(session, owner, audience=Audience.MEMBERS)
    seen: list[str] = [obj["id"] for obj in page["objects"]]
    while page.get("more"):
        page = client.get(url, headers=headers, params={"limit": "2", "next": page["next"]}).json()
        seen.extend(obj["id"] for obj in page.get("objects", []))
    assert seen[-6:] == [*(r.stix_id for r in records), late.stix_id]
    assert len(seen) == len(set(seen))


def test_filters_by_type_id_and_added_after(client: TestClient, session: Session) -> None:
    owner, headers = _caller(session)
    indicator = _record(session, owner, audience=Audience.MEMBERS)
    malware = _record(
        session,
        owner,
        audience=Audience.MEMBERS,
        content={
            "type": "malware",
            "spec_version": "2.1",
            "id": f"malware--{uuid.uuid4()}",
            "created": "2026-11-02T10:00:00.000Z",
            "modified": "2026-11-02T10:00:00.000Z",
            "name": "Gozi",
            "is_family": True,
        },
    )
    later = _record(session, owner, audience=Audience.MEMBERS)
    url = _objects_url("members", MEMBERS)
    ours = ",".join(r.stix_id for r in (indicator, malware, later))
    by_type = client.get(url, headers=headers, params={"match[id]": ours, "match[type]": "malware"})
    assert _ids(by_type) == [malware.stix_id]
    both = client.get(
        url, headers=headers, params={"match[id]": ours, "match[type]": "malware,indicator"}
    )
    assert _ids(both) == [indicator.stix_id, malware.stix_id, later.stix_id]
    after = client.get(
        url,
        headers=headers,
        params={
            "match[id]": ours,
            "added_after": malware.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        },
    )
    assert _ids(after) == [later.stix_id]
    none = client.get(
        url, headers=headers, params={"match[id]": ours, "match[spec_version]": "2.0"}
    )
    assert none.json() == {"more": False}
    assert "x-taxii-date-added-first" not in none.headers


def _three_versions(session: Session, actor: Actor) -> tuple[str, list[IntelObject]]:
    stix_id = f"indicator--{uuid.uuid4()}"
    versions = []
    for modified in (
        "2026-11-02T10:00:00.000Z",
        "2026-11-03T10:00:00.000Z",
        "2026-11-04T10:00:00.000Z",
    ):
        versions.append(
            _record(
                session,
                actor,
                audience=Audience.MEMBERS,
                content=_indicator(modified=modified, id=stix_id),
            )
        )
    return stix_id, versions


@pytest.mark.parametrize(
    ("match", "expected"),
    [
        (None, ["2026-11-04T10:00:00.000Z"]),
        ("last", ["2026-11-04T10:00:00.000Z"]),
        ("first", ["2026-11-02T10:00:00.000Z"]),
        (
            "all",
            ["2026-11-02T10:00:00.000Z", "2026-11-03T10:00:00.000Z", "2026-11-04T10:00:00.000Z"],
        ),
        ("first,last", ["2026-11-02T10:00:00.000Z", "2026-11-04T10:00:00.000Z"]),
        ("2026-11-03T10:00:00.000Z", ["2026-11-03T10:00:00.000Z"]),
        (
            "first,2026-11-03T10:00:00.000Z",
            ["2026-11-02T10:00:00.000Z", "2026-11-03T10:00:00.000Z"],
        ),
        ("2026-11-05T10:00:00.000Z", []),
    ],
)
def test_match_version(
    client: TestClient, session: Session, match: str | None, expected: list[str]
) -> None:
    owner, headers = _caller(session)
    stix_id, _ = _three_versions(session, owner)
    params = {"match[id]": stix_id} | ({"match[version]": match} if match else {})
    response = client.get(_objects_url("members", MEMBERS), headers=headers, params=params)
    assert response.status_code == 200, response.text
    assert [o["modified"] for o in response.json().get("objects", [])] == expected


def test_last_version_is_the_last_one_the_caller_may_read(
    client: TestClient, session: Session
) -> None:
    fr, _ = _caller(session, org="ncb-fr")
    stix_id = f"indicator--{uuid.uuid4()}"
    early = _record(
        session,
        fr,
        audience=Audience.ORGANISATIONS,
        tlp=Tlp.RED,
        recipients=["ncb-ng"],
        content=_indicator(id=stix_id, modified="2026-11-02T10:00:00.000Z"),
    )
    _record(
        session,
        fr,
        audience=Audience.ORGANISATIONS,
        tlp=Tlp.RED,
        recipients=["ncb-de"],
        content=_indicator(id=stix_id, modified="2026-11-03T10:00:00.000Z"),
    )
    _, ng = _caller(session, org="ncb-ng")
    response = client.get(
        _objects_url("community", collection_id(CollectionKind.ORG, "ncb-ng")),
        headers=ng,
        params={"match[id]": stix_id},
    )
    assert response.json()["objects"] == [early.content]


def test_one_version_held_by_two_organisations_is_listed_once(
    client: TestClient, session: Session
) -> None:
    fr, headers = _caller(session, org="ncb-fr")
    de, _ = _caller(session, org="ncb-de")
    content = _indicator()
    first = _record(session, fr, audience=Audience.MEMBERS, content=content)
    _record(session, de, audience=Audience.MEMBERS, content=dict(content))
    response = client.get(
        _objects_url("members", MEMBERS),
        headers=headers,
        params={"match[id]": content["id"], "match[version]": "all"},
    )
    assert _ids(response) == [first.stix_id]
    manifest = client.get(
        f"/taxii2/members/collections/{MEMBERS}/manifest/",
        headers=headers,
        params={"match[id]": content["id"]},
    )
    assert [m["date_added"] for m in manifest.json()["objects"]] == [
        first.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    ]


@pytest.mark.parametrize(
    ("query", "description"),
    [
        (
            "added_after=yesterday",
            "added_after: 'yesterday' is not a timestamp of the form YYYY-MM-DDTHH:MM:SS[.ssssss]Z",
        ),
        (
            "added_after=2026-11-02T10:00:00",
            "added_after: '2026-11-02T10:00:00' is not a "
            "timestamp of the form YYYY-MM-DDTHH:MM:SS[.ssssss]Z",
        ),
        ("limit=0", "limit: '0' is not a positive integer"),
        ("limit=ten", "limit: 'ten' is not a positive integer"),
        (
            "match[version]=all,last",
            "match[version]: 'all' may not be combined with other versions",
        ),
        ("match[version]=last,last", "match[version]: 'last,last' repeats a value (§3.4.1)"),
        (
            "match[version]=2026-13-40T10:00:00Z",
            "match[version]: '2026-13-40T10:00:00Z' is not a "
            "valid date and time (month must be in 1..12)",
        ),
        ("match[id]=indicator-1", "match[id]: 'indicator-1' is not a STIX id (<type>--<uuid>)"),
        ("match[type]=Bad_Type", "match[type]: 'Bad_Type' is not a STIX type name"),
        (
            "match[type]=indicator,,malware",
            "match[type]: 'indicator,,malware' has an empty "
            "value; separate values with single commas",
        ),
        ("match[spec_version]=two", "match[spec_version]: 'two' is not a version such as 2.1"),
        (
            "match[type]=indicator&match[type]=malware",
            "match[type] may appear only once in a request (§3.4)",
        ),
        ("match[type=indicator", "'match[type' is not a filter: write match[<field>]=<value>"),
        (
            "next=%21%21",
            "next: '!!' is not a paging token from this server; send the `next` "
            "value of the previous response unchanged",
        ),
    ],
)
def test_malformed_filters_are_400_naming_the_parameter(
    client: TestClient, session: Session, query: str, description: str
) -> None:
    _, headers = _caller(session)
    response = client.get(f"{_objects_url('members', MEMBERS)}?{query}", headers=headers)
    body = _taxii_error(response, 400)
    assert body == {"title": "Bad request", "description": description, "http_status": "400"}


def test_unknown_match_fields_are_ignored(client: TestClient, session: Session) -> None:
    owner, headers = _caller(session)
    record = _record(session, owner, audience=Audience.MEMBERS)
    response = client.get(
        _objects_url("members", MEMBERS),
        headers=headers,
        params={"match[id]": record.stix_id, "match[colour]": "blue"},
    )
    assert _ids(response) == [record.stix_id]


# -- §5.3 Get Object Manifests ------------------------------------------------------------------


def test_manifest_records_one_per_version(client: TestClient, session: Session) -> None:
    owner, headers = _caller(session)
    stix_id, versions = _three_versions(session, owner)
    response = client.get(
        f"/taxii2/members/collections/{MEMBERS}/manifest/",
        headers=headers,
        params={"match[id]": stix_id, "match[version]": "all", "limit": "2"},
    )
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    body = response.json()
    assert body["more"] is True
    assert body["objects"] == [
        {
            "id": stix_id,
            "date_added": v.created_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "version": v.content["modified"],
            "media_type": STIX,
        }
        for v in versions[:2]
    ]
    assert response.headers["x-taxii-date-added-last"] == body["objects"][1]["date_added"]
    rest = client.get(
        f"/taxii2/members/collections/{MEMBERS}/manifest/",
        headers=headers,
        params={"match[id]": stix_id, "match[version]": "all", "limit": "2", "next": body["next"]},
    )
    assert [m["version"] for m in rest.json()["objects"]] == ["2026-11-04T10:00:00.000Z"]


def test_manifest_filters_on_the_objects_type(client: TestClient, session: Session) -> None:
    owner, headers = _caller(session)
    record = _record(session, owner, audience=Audience.MEMBERS)
    url = f"/taxii2/members/collections/{MEMBERS}/manifest/"
    hit = client.get(
        url, headers=headers, params={"match[id]": record.stix_id, "match[type]": "indicator"}
    )
    miss = client.get(
        url, headers=headers, params={"match[id]": record.stix_id, "match[type]": "malware"}
    )
    assert [m["id"] for m in hit.json()["objects"]] == [record.stix_id]
    assert miss.json() == {"more": False}


# -- §5.6 Get an Object, §5.8 Get Object Versions ----------------------------------------------


def test_get_an_object_gives_its_last_version_or_those_asked(
    client: TestClient, session: Session
) -> None:
    owner, headers = _caller(session)
    stix_id, versions = _three_versions(session, owner)
    url = f"{_objects_url('members', MEMBERS)}{stix_id}/"
    last = client.get(url, headers=headers)
    assert last.status_code == 200
    assert last.json() == {"more": False, "objects": [versions[-1].content]}
    assert last.headers["x-taxii-date-added-first"] == versions[-1].created_at.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    every = client.get(url, headers=headers, params={"match[version]": "all", "limit": "2"})
    assert every.json()["objects"] == [v.content for v in versions[:2]]
    assert every.json()["more"] is True
    # A version that does not exist: the object does, so an empty envelope.
    missing = client.get(url, headers=headers, params={"match[version]": "2020-01-01T00:00:00Z"})
    assert (missing.status_code, missing.json()) == (200, {"more": False})


def test_an_object_the_caller_cannot_read_is_404_like_a_missing_one(
    client: TestClient, session: Session
) -> None:
    fr, _ = _caller(session, org="ncb-fr")
    secret = _record(session, fr, audience=Audience.ORGANISATION, tlp=Tlp.AMBER)
    _, de = _caller(session, org="ncb-de")
    org_de = collection_id(CollectionKind.ORG, "ncb-de")
    hidden = client.get(f"{_objects_url('community', org_de)}{secret.stix_id}/", headers=de)
    absent_id = f"indicator--{uuid.uuid4()}"
    absent = client.get(f"{_objects_url('community', org_de)}{absent_id}/", headers=de)
    assert _taxii_error(hidden, 404)["description"] == (
        f"no object {secret.stix_id} in the collection org-ncb-de"
    )
    assert _taxii_error(absent, 404)["description"] == (
        f"no object {absent_id} in the collection org-ncb-de"
    )


def test_object_versions(client: TestClient, session: Session) -> None:
    owner, headers = _caller(session)
    stix_id, versions = _three_versions(session, owner)
    url = f"{_objects_url('members', MEMBERS)}{stix_id}/versions/"
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    assert response.json() == {
        "more": False,
        "versions": [
            "2026-11-02T10:00:00.000Z",
            "2026-11-03T10:00:00.000Z",
            "2026-11-04T10:00:00.000Z",
        ],
    }
    assert response.headers["x-taxii-date-added-last"] == versions[-1].created_at.strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )
    paged = client.get(url, headers=headers, params={"limit": "1"})
    assert (paged.json()["versions"], paged.json()["more"]) == (["2026-11-02T10:00:00.000Z"], True)
    unknown = client.get(
        f"{_objects_url('members', MEMBERS)}indicator--{uuid.uuid4()}/versions/", headers=headers
    )
    _taxii_error(unknown, 404)


# -- §5.5 Add Objects, §4.3 Get Status ----------------------------------------------------------


def _post(
    client: TestClient,
    headers: dict[str, str],
    collection: str,
    objects: list[dict[str, Any]],
    *,
    root: str = "members",
    content_type: str = TAXII,
) -> Any:
    return client.post(
        _objects_url(root, collection),
        headers={**headers, "Content-Type": content_type},
        json={"objects": objects},
    )


def test_add_objects_stores_the_valid_ones_and_reports_each(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    good = _indicator()
    amber = _indicator(object_marking_refs=[TLP_MARKING_IDS[Tlp.AMBER]])
    bad = _indicator(pattern="[ipv4-addr:value = ")
    response = _post(client, headers, MEMBERS, [good, bad, amber])
    assert response.status_code == 202, response.text
    assert response.headers["content-type"] == TAXII
    status = response.json()
    assert (status["status"], status["total_count"]) == ("complete", 3)
    assert (status["success_count"], status["failure_count"], status["pending_count"]) == (2, 1, 0)
    assert status["successes"] == [
        {"id": good["id"], "version": good["modified"]},
        {"id": amber["id"], "version": amber["modified"]},
    ]
    assert [(f["id"], f["version"]) for f in status["failures"]] == [(bad["id"], bad["modified"])]
    assert status["failures"][0]["message"].startswith("pattern: ")
    stored = {
        r.stix_id: (r.label.audience, r.label.tlp)
        for r in session.scalars(
            select(IntelObject).where(IntelObject.stix_id.in_([good["id"], amber["id"], bad["id"]]))
        )
    }
    # The collection's audience; the content's own marking, else the tier's default.
    assert stored == {good["id"]: ("members", "green"), amber["id"]: ("members", "amber")}
    listed = client.get(
        _objects_url("members", MEMBERS),
        headers=headers,
        params={"match[id]": f"{good['id']},{amber['id']}"},
    )
    assert _ids(listed) == [good["id"], amber["id"]]
    polled = client.get(f"/taxii2/members/status/{status['id']}/", headers=headers)
    assert polled.status_code == 200
    assert polled.json() == status


def test_a_status_belongs_to_the_organisation_that_posted(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    status_id = _post(client, headers, MEMBERS, [_indicator()]).json()["id"]
    _, de = _caller(session, org="ncb-de")
    _taxii_error(client.get(f"/taxii2/members/status/{status_id}/", headers=de), 404)
    _taxii_error(client.get(f"/taxii2/community/status/{status_id}/", headers=headers), 404)
    _taxii_error(client.get(f"/taxii2/members/status/{uuid.uuid4()}/", headers=headers), 404)


def test_posting_the_same_objects_again_succeeds_and_stores_nothing_new(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    objects = [_indicator(), _indicator()]
    _post(client, headers, MEMBERS, objects)
    again = _post(client, headers, MEMBERS, objects).json()
    assert (again["success_count"], again["failure_count"]) == (2, 0)
    assert [s["message"] for s in again["successes"]] == [
        "already stored: the same version, the same content"
    ] * 2
    count = session.scalar(
        select(func.count())
        .select_from(IntelObject)
        .where(IntelObject.stix_id.in_([o["id"] for o in objects]))
    )
    assert count == 2


def test_a_stix_bundle_is_accepted_too(client: TestClient, session: Session) -> None:
    _, headers = _caller(session)
    indicator = _indicator()
    response = client.post(
        _objects_url("members", MEMBERS),
        headers={**headers, "Content-Type": STIX},
        json={"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": [indicator]},
    )
    assert response.status_code == 202
    assert response.json()["success_count"] == 1


@pytest.mark.parametrize(
    ("collection", "root", "marking", "message"),
    [
        (
            MEMBERS,
            "members",
            Tlp.RED,
            "object_marking_refs: TLP:RED goes only to organisations the owner names; a "
            "collection is an audience, so share it through the REST API with audience "
            "organisations",
        ),
        (
            MEMBERS,
            "members",
            Tlp.AMBER_STRICT,
            "object_marking_refs: TLP:AMBER+STRICT stays inside your organisation: add it to "
            "your organisation's collection",
        ),
        (
            PUBLIC,
            "public",
            Tlp.GREEN,
            "object_marking_refs: only TLP:CLEAR objects may be public; this one is TLP:GREEN: "
            "add it to the community or a narrower collection",
        ),
    ],
)
def test_an_object_whose_marking_does_not_fit_the_collection_fails(
    client: TestClient,
    session: Session,
    collection: str,
    root: str,
    marking: Tlp,
    message: str,
) -> None:
    _, headers = _caller(session)
    marked = _indicator(object_marking_refs=[TLP_MARKING_IDS[marking]])
    status = _post(client, headers, collection, [marked], root=root).json()
    assert (status["success_count"], status["failure_count"]) == (0, 1)
    assert status["failures"] == [
        {"id": marked["id"], "version": marked["modified"], "message": message}
    ]
    assert session.scalar(select(IntelObject.id).where(IntelObject.stix_id == marked["id"])) is None


def test_amber_strict_fits_the_organisation_collection(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    marked = _indicator(object_marking_refs=[TLP_MARKING_IDS[Tlp.AMBER_STRICT]])
    org = collection_id(CollectionKind.ORG, "ncb-fr")
    status = _post(client, headers, org, [marked], root="community").json()
    assert status["success_count"] == 1
    record = session.scalars(select(IntelObject).where(IntelObject.stix_id == marked["id"])).one()
    assert (record.label.audience, record.label.tlp) == ("organisation", "amber+strict")


def test_country_collection_post_reaches_the_countrys_other_units(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session, org="ncb-fr")
    france = collection_id(CollectionKind.COUNTRY, "FR")
    indicator = _indicator()
    assert _post(client, headers, france, [indicator]).json()["success_count"] == 1
    record = session.scalars(
        select(IntelObject).where(IntelObject.stix_id == indicator["id"])
    ).one()
    assert (record.label.audience, record.label.audience_country, record.label.tlp) == (
        "country",
        "FR",
        "amber",
    )
    _, unit = _caller(session, org="fr-cyber-unit")
    seen = client.get(
        _objects_url("members", france), headers=unit, params={"match[id]": indicator["id"]}
    )
    assert _ids(seen) == [indicator["id"]]


@pytest.mark.parametrize(
    "content_type", ["application/json", "text/plain", "application/taxii+json;version=2.0", ""]
)
def test_add_objects_with_another_content_type_is_415(
    client: TestClient, session: Session, content_type: str
) -> None:
    _, headers = _caller(session)
    response = client.post(
        _objects_url("members", MEMBERS),
        headers={**headers, "Content-Type": content_type},
        content=b'{"objects": []}',
    )
    body = _taxii_error(response, 415)
    assert body["description"] == (
        f"send the envelope as Content-Type {TAXII} (got {content_type!r})"
    )


def test_add_objects_with_a_wrong_accept_is_406(client: TestClient, session: Session) -> None:
    _, headers = _caller(session)
    response = _post(client, {**headers, "Accept": "application/json"}, MEMBERS, [_indicator()])
    _taxii_error(response, 406)


def test_add_objects_to_a_read_only_collection_is_403_if_visible_else_404(
    client: TestClient, session: Session
) -> None:
    _, viewer = _caller(session, org="ncb-br", role=Role.VIEWER)
    body = _taxii_error(_post(client, viewer, MEMBERS, [_indicator()]), 403)
    assert body["description"] == (
        "the collection members is read-only for you: your role may not submit intelligence"
    )
    _, fr = _caller(session, org="ncb-fr")
    other = collection_id(CollectionKind.ORG, "ncb-ng")
    _taxii_error(_post(client, fr, other, [_indicator()], root="community"), 404)
    anonymous = _post(client, {"Accept": TAXII}, PUBLIC, [_indicator()], root="public")
    _taxii_error(anonymous, 401)


def test_add_objects_over_the_size_limit_is_413(
    client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cyberfusion.core import config

    settings = config.get_settings()
    monkeypatch.setattr(
        config,
        "get_settings",
        lambda: settings.__class__(**{**settings.__dict__, "max_submission_bytes": 100}),
    )
    _, headers = _caller(session)
    assert client.get("/taxii2/members/", headers=headers).json()["max_content_length"] == 100
    body = _taxii_error(_post(client, headers, MEMBERS, [_indicator()]), 413)
    assert body["description"] == "the body is over this API root's max_content_length of 100 bytes"


@pytest.mark.parametrize(
    ("body", "description"),
    [
        (
            b'{"objects": [',
            "the body is not JSON: unexpected end of data: line 1 column 14 (char 13)",
        ),
        (b"[]", "the body must be a TAXII envelope (a JSON object), not a JSON list"),
        (
            b'{"more": false}',
            "the envelope needs an `objects` list with at least one STIX object (§3.7)",
        ),
        (
            b'{"objects": []}',
            "the envelope needs an `objects` list with at least one STIX object (§3.7)",
        ),
    ],
)
def test_add_objects_with_a_body_that_is_no_envelope_is_422(
    client: TestClient, session: Session, body: bytes, description: str
) -> None:
    _, headers = _caller(session)
    response = client.post(
        _objects_url("members", MEMBERS),
        headers={**headers, "Content-Type": TAXII},
        content=body,
    )
    assert _taxii_error(response, 422)["description"] == description


# -- §5.7 Delete an Object ----------------------------------------------------------------------


def test_the_owner_deletes_an_object_its_occurrences_go_and_it_is_audited(
    client: TestClient, session: Session
) -> None:
    _, headers = _caller(session)
    indicator = _indicator()
    _post(client, headers, MEMBERS, [indicator])
    record_id = session.scalar(select(IntelObject.id).where(IntelObject.stix_id == indicator["id"]))
    assert (
        session.scalar(
            select(func.count())
            .select_from(Occurrence)
            .where(Occurrence.intel_object_id == record_id)
        )
        == 1
    )
    url = f"{_objects_url('members', MEMBERS)}{indicator['id']}/"
    response = client.delete(url, headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == TAXII
    assert response.content == b""
    _taxii_error(client.get(url, headers=headers), 404)
    manifest = client.get(
        f"/taxii2/members/collections/{MEMBERS}/manifest/",
        headers=headers,
        params={"match[id]": indicator["id"]},
    )
    assert manifest.json() == {"more": False}
    assert (
        session.scalar(
            select(func.count())
            .select_from(Occurrence)
            .where(Occurrence.intel_object_id == record_id)
        )
        == 0
    )
    entry = session.scalars(select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1)).one()
    assert (entry.action, entry.target_type, entry.target_id) == (
        "record.delete",
        "intel_object",
        indicator["id"],
    )
    assert entry.details == {
        "via": "taxii",
        "collection": "members",
        "record_ids": [record_id],
        "versions": [indicator["modified"]],
    }


def test_delete_with_match_version_removes_that_version_only(
    client: TestClient, session: Session
) -> None:
    owner, headers = _caller(session)
    stix_id, _ = _three_versions(session, owner)
    url = f"{_objects_url('members', MEMBERS)}{stix_id}/"
    assert (
        client.delete(url, headers=headers, params={"match[version]": "first"}).status_code == 200
    )
    versions = client.get(f"{url}versions/", headers=headers).json()["versions"]
    assert versions == ["2026-11-03T10:00:00.000Z", "2026-11-04T10:00:00.000Z"]
    missing = client.delete(url, headers=headers, params={"match[version]": "2020-01-01T00:00:00Z"})
    assert _taxii_error(missing, 404)["description"] == (
        f"no version of {stix_id} in the collection matches match[version]"
    )


def test_only_the_owner_deletes_403_if_readable_404_if_not(
    client: TestClient, session: Session
) -> None:
    fr, _ = _caller(session, org="ncb-fr")
    shared = _record(session, fr, audience=Audience.MEMBERS)
    private = _record(session, fr, audience=Audience.ORGANISATION, tlp=Tlp.AMBER)
    _, de = _caller(session, org="ncb-de")
    refused = client.delete(f"{_objects_url('members', MEMBERS)}{shared.stix_id}/", headers=de)
    assert _taxii_error(refused, 403)["description"] == (
        f"only the owner organisation (ncb-fr) may delete {shared.stix_id}"
    )
    org_de = collection_id(CollectionKind.ORG, "ncb-de")
    unseen = client.delete(f"{_objects_url('community', org_de)}{private.stix_id}/", headers=de)
    _taxii_error(unseen, 404)
    _, viewer = _caller(session, org="ncb-fr", role=Role.VIEWER)
    read_only = client.delete(
        f"{_objects_url('members', MEMBERS)}{shared.stix_id}/", headers=viewer
    )
    _taxii_error(read_only, 403)
    assert session.get(IntelObject, shared.id) is not None


# -- everything else under /taxii2/ -------------------------------------------------------------


def test_other_paths_and_methods_answer_as_taxii(client: TestClient, session: Session) -> None:
    _, headers = _caller(session)
    missing_slash = client.get("/taxii2/members/collections", headers=headers)
    assert _taxii_error(missing_slash, 404)["description"] == (
        "TAXII paths end with a slash (§3.1): try /taxii2/members/collections/"
    )
    nowhere = client.get("/taxii2/members/collections/a/b/c/d/e/", headers=headers)
    assert _taxii_error(nowhere, 404)["description"] == (
        "no TAXII endpoint at /taxii2/members/collections/a/b/c/d/e/"
    )
    put = client.put(_objects_url("members", MEMBERS), headers=headers)
    assert _taxii_error(put, 405)["description"] == (
        f"PUT is not defined for {_objects_url('members', MEMBERS)}; use GET, POST"
    )
    assert put.headers["allow"] == "GET, POST"


def test_rest_errors_stay_rfc_9457(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
