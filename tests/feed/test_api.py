"""REST: feeds set-up, run now and status; blocklists and the MISP feed over HTTP."""

from __future__ import annotations

from datetime import timedelta

import orjson
import pytest
from fastapi.testclient import TestClient
from pymisp import MISPEvent
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.time import utcnow
from cyberfusion.feed import service as feed_service
from cyberfusion.feed.models import Feed
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account
from tests.feed.conftest import FixtureServer, make_feed, submit


def _headers(session: Session, org: str = "ncb-fr", role: Role = Role.OFFICER) -> dict[str, str]:
    user = account.user(session, org=org, role=role)
    return {"Authorization": f"Bearer {account.api_key(session, user)}"}


NEW_FEED = {
    "name": "partner-list",
    "kind": "csv",
    "source": "https://feeds.cf-test.xyz/list.txt",
    "labels": {"tlp": "green", "audience": "community"},
    "csv": {"columns": {"value": 1}, "delimiter": ","},
    "auth": {"token": "s3cret-token"},
    "interval_seconds": 900,
}


def test_create_read_update_delete(client: TestClient, session: Session) -> None:
    headers = _headers(session)
    created = client.post("/api/v1/feeds", json=NEW_FEED, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["name"], body["owner"], body["auth"], body["trusted"], body["enabled"]) == (
        "partner-list",
        "ncb-fr",
        "token",
        False,
        True,
    )
    assert body["csv"] == {
        "columns": {"value": 1},
        "delimiter": ",",
        "header": False,
        "constants": {},
    }
    assert "s3cret-token" not in created.text
    feed_id = body["id"]
    listed = client.get("/api/v1/feeds", headers=headers)
    assert [f["name"] for f in listed.json()] == ["partner-list"]
    patched = client.patch(
        f"/api/v1/feeds/{feed_id}",
        json={"enabled": False, "auth": None, "interval_seconds": 7200},
        headers=headers,
    )
    assert patched.status_code == 200, patched.text
    assert (
        patched.json()["enabled"],
        patched.json()["auth"],
        patched.json()["interval_seconds"],
    ) == (
        False,
        None,
        7200,
    )
    assert client.delete(f"/api/v1/feeds/{feed_id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/feeds/{feed_id}", headers=headers).status_code == 404


def test_create_refuses_private_addresses_and_bad_mappings(
    client: TestClient, session: Session
) -> None:
    headers = _headers(session)
    private = client.post(
        "/api/v1/feeds",
        json={**NEW_FEED, "source": "http://169.254.169.254/latest/meta-data/"},
        headers=headers,
    )
    assert private.status_code == 422
    assert private.json()["field"] == "source"
    assert private.json()["detail"].startswith(
        "169.254.169.254: 169.254.169.254 is not a public address"
    )
    bad = client.post(
        "/api/v1/feeds",
        json={**NEW_FEED, "csv": {"columns": {"colour": 1, "value": 0}, "delimiter": ","}},
        headers=headers,
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "csv.columns"
    taken = client.post("/api/v1/feeds", json=NEW_FEED, headers=headers)
    assert taken.status_code == 201
    again = client.post("/api/v1/feeds", json=NEW_FEED, headers=headers)
    assert (again.status_code, again.json()["detail"]) == (
        409,
        "a feed named 'partner-list' exists already",
    )


def test_feeds_are_private_to_their_organisation(client: TestClient, session: Session) -> None:
    feed = make_feed(session, name="fr-only", kind="csv", source="https://x.cf-test.xyz/a")
    other = _headers(session, org="ncb-ng")
    assert client.get(f"/api/v1/feeds/{feed.id}", headers=other).status_code == 404
    assert client.post(f"/api/v1/feeds/{feed.id}/run", headers=other).status_code == 404
    assert client.delete(f"/api/v1/feeds/{feed.id}", headers=other).status_code == 404
    assert client.get("/api/v1/feeds", headers=other).json() == []
    assert client.get("/api/v1/feeds").status_code == 401
    viewer = _headers(session, org="ncb-br", role=Role.VIEWER)
    assert client.post("/api/v1/feeds", json=NEW_FEED, headers=viewer).status_code == 403


def test_run_now_and_status(
    client: TestClient, session: Session, fixture_server: FixtureServer
) -> None:
    fixture_server.write("list.txt", "api-run.cf-test.xyz\n91.243.44.141\n")
    feed = make_feed(session, name="api-run", kind="csv", source=fixture_server.url("list.txt"))
    headers = _headers(session)
    ran = client.post(f"/api/v1/feeds/{feed.id}/run", headers=headers)
    assert ran.status_code == 200, ran.text
    body = ran.json()
    assert (body["feed"], body["trigger"], body["status"], body["accepted"], body["error"]) == (
        "api-run",
        "api",
        "succeeded",
        2,
        None,
    )
    runs = client.get(f"/api/v1/feeds/{feed.id}/runs", headers=headers).json()
    assert [r["id"] for r in runs] == [body["id"]]
    status = client.get(f"/api/v1/feeds/{feed.id}", headers=headers).json()
    assert (status["last_run"]["id"], status["consecutive_failures"], status["running"]) == (
        body["id"],
        0,
        False,
    )
    feed_row = session.get(Feed, feed.id)
    assert feed_row is not None
    feed_row.claimed_at, feed_row.claimed_by = utcnow(), "another-worker"
    session.flush()
    busy = client.post(f"/api/v1/feeds/{feed.id}/run", headers=headers)
    assert busy.status_code == 409
    assert busy.json()["detail"].startswith("feed 'api-run' is running (claimed by another-worker")


# -- feeds out ---------------------------------------------------------------------------------


@pytest.fixture
def shared(session: Session) -> str:
    """ncb-fr shares two values with the community and one publicly; returns `since`."""
    since = (utcnow() - timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fr = account.actor(session, org="ncb-fr")
    submit(
        session,
        fr,
        "api-community.cf-test.xyz\n91.243.44.142\n",
        LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
    )
    submit(
        session, fr, "api-public.cf-test.xyz\n", LabelsIn(tlp=Tlp.CLEAR, audience=Audience.PUBLIC)
    )
    return since


def test_blocklists_over_http(client: TestClient, session: Session, shared: str) -> None:
    headers = _headers(session)
    domains = client.get(
        "/api/v1/feeds-out/community/domain.txt", params={"since": shared}, headers=headers
    )
    assert (domains.status_code, domains.headers["content-type"]) == (
        200,
        "text/plain; charset=utf-8",
    )
    assert domains.text == "api-community.cf-test.xyz\napi-public.cf-test.xyz\n"
    ips = client.get(
        "/api/v1/feeds-out/community/ip.txt", params={"since": shared}, headers=headers
    )
    assert ips.text == "91.243.44.142\n"
    public = client.get("/api/v1/feeds-out/public/domain.txt", params={"since": shared})
    assert (public.status_code, public.text) == (200, "api-public.cf-test.xyz\n")
    csv_list = client.get(
        "/api/v1/feeds-out/community/blocklist.csv",
        params={"since": shared, "type": ["ip"]},
        headers=headers,
    )
    assert csv_list.headers["content-type"] == "text/csv; charset=utf-8"
    assert csv_list.text.splitlines()[0] == (
        "type,value,first_seen,last_seen,threat_type,malware,confidence,comment"
    )
    assert [line.split(",")[1] for line in csv_list.text.splitlines()[1:]] == ["91.243.44.142"]


def test_feeds_out_access(client: TestClient, session: Session) -> None:
    anonymous = client.get("/api/v1/feeds-out/community/domain.txt")
    assert anonymous.status_code == 401
    partner = _headers(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    members = client.get("/api/v1/feeds-out/members/ip.txt", headers=partner)
    assert (members.status_code, members.json()["detail"]) == (
        404,
        "no members feeds for your organisation",
    )
    assert client.get("/api/v1/feeds-out/everyone/ip.txt").status_code == 422
    assert client.get("/api/v1/feeds-out/public/hashes.txt").status_code == 422
    assert client.get("/api/v1/feeds-out/public/misp/not-a-uuid.json").status_code == 422


def test_misp_feed_over_http_read_back_by_feed_in(
    client: TestClient, session: Session, shared: str, fixture_server: FixtureServer
) -> None:
    headers = _headers(session)
    manifest = client.get("/api/v1/feeds-out/community/misp/manifest.json", headers=headers)
    assert (manifest.status_code, manifest.headers["content-type"]) == (200, "application/json")
    fixture_server.write("misp/manifest.json", manifest.content)
    for event_uuid in manifest.json():
        event_file = client.get(
            f"/api/v1/feeds-out/community/misp/{event_uuid}.json", headers=headers
        )
        assert event_file.status_code == 200
        event = MISPEvent()
        event.load(event_file.content)
        assert event.uuid == event_uuid
        fixture_server.write(f"misp/{event_uuid}.json", event_file.content)
    hashes = client.get("/api/v1/feeds-out/community/misp/hashes.csv", headers=headers)
    assert hashes.status_code == 200
    assert {line.split(",")[1] for line in hashes.text.splitlines()} == set(manifest.json())
    missing = client.get(
        "/api/v1/feeds-out/community/misp/00000000-0000-4000-8000-000000000000.json",
        headers=headers,
    )
    assert missing.status_code == 404
    # Another organisation's MISP-feed input reads our output over HTTP.
    feed = make_feed(
        session,
        org="cert-sg",
        name="cyberfusion-community",
        kind="misp",
        source=fixture_server.url("misp"),
    )
    result = feed_service.run(session=session, feed=feed, trigger="cli", worker="test")
    assert (result.status, result.error, result.rejected) == ("succeeded", None, 0)
    cert_sg = session.scalars(select(Organisation.id).where(Organisation.slug == "cert-sg")).one()
    values = set(
        session.scalars(
            select(Observable.value)
            .join(Occurrence, Occurrence.observable_id == Observable.id)
            .where(Occurrence.owner_org_id == cert_sg)
        )
    )
    assert {"api-community.cf-test.xyz", "api-public.cf-test.xyz", "91.243.44.142"} <= values
    assert (
        orjson.loads(manifest.content)
        == client.get("/api/v1/feeds-out/community/misp/manifest.json", headers=headers).json()
    )
