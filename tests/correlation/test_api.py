"""GET /api/v1/correlation, /observables/{id}/correlation, /graph; flag overrides and
notifications over HTTP."""

from __future__ import annotations

import uuid

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.enrichment.models import ObservableFlag
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import correlation as factory

NAME = "cf-test-phish-kit.xyz"


def _key(session: Session, org: str, role: Role = Role.OFFICER) -> dict[str, str]:
    user = account_factory.user(session, org=org, role=role)
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


def _id(session: Session, obs_type: str, value: str) -> int:
    return session.scalars(
        select(Observable.id).where(Observable.digest == observable_service.digest(obs_type, value))
    ).one()


def test_correlation_by_value(client: TestClient, session: Session) -> None:
    host = f"h{uuid.uuid4().hex[:8]}.{NAME}"
    url = f"http://{host}/a"
    factory.report(session, "cert-fr", [("domain-name", host)])
    factory.report(session, "cert-ng", [("url", url)])
    response = client.get(
        "/api/v1/correlation", params={"value": url}, headers=_key(session, "ncb-ng")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["type"], body["value"], body["known"]) == ("url", url, True)
    assert [r["organisation"] for r in body["reports"]] == ["cert-ng"]
    assert body["assessment"]["assessment"] == "single-source"
    assert body["enrichment"]["enrichment"]["url"]["data"]["host"] == host
    assert [
        (r["relation"], r["value"], [x["organisation"] for x in r["reports"]])
        for r in body["related"]
    ] == [("host", host, ["cert-fr"])]


def test_correlation_of_an_unknown_value(client: TestClient, session: Session) -> None:
    response = client.get(
        "/api/v1/correlation",
        params={"value": f"never-{uuid.uuid4().hex[:8]}.{NAME}"},
        headers=_key(session, "ncb-ng"),
    )
    assert response.status_code == 200
    assert (response.json()["known"], response.json()["observable_id"]) == (False, None)


def test_correlation_of_garbage_is_422(client: TestClient, session: Session) -> None:
    response = client.get(
        "/api/v1/correlation", params={"value": "not a thing"}, headers=_key(session, "ncb-ng")
    )
    assert response.status_code == 422
    assert "not a recognisable observable" in response.json()["detail"]


def test_correlation_needs_a_login(client: TestClient) -> None:
    assert client.get("/api/v1/correlation", params={"value": NAME}).status_code == 401


def test_correlation_by_id_is_404_for_an_unreadable_observable(
    client: TestClient, session: Session
) -> None:
    value = f"s{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(
        session, "cert-fr", [("domain-name", value)], LabelsIn(tlp="amber", audience="organisation")
    )
    observable_id = _id(session, "domain-name", value)
    path = f"/api/v1/observables/{observable_id}/correlation"
    assert client.get(path, headers=_key(session, "ncb-br", Role.VIEWER)).status_code == 404
    own = client.get(path, headers=_key(session, "cert-fr", Role.PARTNER_ANALYST))
    assert own.status_code == 200
    assert own.json()["value"] == value


def test_graph_around_an_observable(client: TestClient, session: Session) -> None:
    host = f"g{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(session, "cert-fr", [("url", f"http://{host}/1"), ("url", f"http://{host}/2")])
    observable_id = _id(session, "url", f"http://{host}/1")
    response = client.get(
        "/api/v1/graph",
        params={"around": f"observable:{observable_id}", "depth": 3},
        headers=_key(session, "cert-fr", Role.PARTNER_ANALYST),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    labels = {n["label"] for n in body["nodes"]}
    assert {f"http://{host}/1", f"http://{host}/2", host, NAME} <= labels
    assert body["truncated"] is False
    assert body["clusters"][0]["size"] >= 3


def test_graph_rejects_bad_parameters(client: TestClient, session: Session) -> None:
    headers = _key(session, "ncb-fr")
    assert client.get("/api/v1/graph", params={"around": "x:1"}, headers=headers).status_code == 422
    too_deep = {"around": "observable:1", "depth": 9}
    assert client.get("/api/v1/graph", params=too_deep, headers=headers).status_code == 422
    missing = {"around": "observable:999999999"}
    assert client.get("/api/v1/graph", params=missing, headers=headers).status_code == 404


def test_an_analyst_overrides_a_flag(client: TestClient, session: Session) -> None:
    factory.report(session, "ncb-fr", [("domain-name", "google.com")])
    observable_id = _id(session, "domain-name", "google.com")
    flag = session.scalars(
        select(ObservableFlag).where(ObservableFlag.observable_id == observable_id)
    ).first()
    assert flag is not None
    path = f"/api/v1/observable-flags/{flag.id}/override"
    assert client.post(path, headers=_key(session, "ncb-fr", Role.VIEWER)).status_code == 403
    response = client.post(path, headers=_key(session, "hub", Role.HUB_ANALYST))
    assert response.status_code == 200, response.text
    assert response.json()["overridden_by"].endswith("@test.example")
    again = client.post(path, headers=_key(session, "hub", Role.HUB_ANALYST))
    assert again.status_code == 409


def test_notifications_list_filter_and_mark_read(client: TestClient, session: Session) -> None:
    value = f"m{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(session, "cert-fr", [("domain-name", value)])
    factory.report(session, "cert-ng", [("domain-name", value)])
    headers = _key(session, "cert-ng", Role.PARTNER_ANALYST)
    listed = client.get(
        "/api/v1/notifications", params={"kind": "match", "unread": True}, headers=headers
    )
    assert listed.status_code == 200
    mine = [n for n in listed.json() if n["payload"]["values"] == [value]]
    assert [n["payload"]["counterpart"] for n in mine] == ["cert-fr"]
    marked = client.post(f"/api/v1/notifications/{mine[0]['id']}/read", headers=headers)
    assert marked.status_code == 200
    assert marked.json()["read_at"] is not None
    unread = client.get("/api/v1/notifications", params={"unread": True}, headers=headers).json()
    assert mine[0]["id"] not in {n["id"] for n in unread}
    # Another organisation's notification is not there for you.
    other = _key(session, "cert-fr", Role.PARTNER_ANALYST)
    assert (
        client.post(f"/api/v1/notifications/{mine[0]['id']}/read", headers=other).status_code == 404
    )
    bad = client.get("/api/v1/notifications", params={"kind": "x"}, headers=headers)
    assert bad.status_code == 422


def test_an_analyst_places_victims_in_a_member_country(
    client: TestClient, session: Session
) -> None:
    value = f"v{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(session, "cert-fr", [("domain-name", value)])
    path = f"/api/v1/observables/{_id(session, 'domain-name', value)}/victims"
    hub = _key(session, "hub", Role.HUB_ANALYST)
    assert client.post(path, json={"country": "KE"}, headers=hub).status_code == 201
    again = client.post(path, json={"country": "ke"}, headers=hub)
    assert (again.status_code, again.json()["reason"]) == (201, "victim-in")
    assert client.post(path, json={"country": "ZZ"}, headers=hub).status_code == 422
    viewer = _key(session, "ncb-br", Role.VIEWER)
    assert client.post(path, json={"country": "KE"}, headers=viewer).status_code == 403
    missing = "/api/v1/observables/999999999/victims"
    assert client.post(missing, json={"country": "KE"}, headers=hub).status_code == 404
    body = client.get("/api/v1/correlation", params={"value": value}, headers=hub).json()
    places = {(j["country"], j["reason"]) for j in body["enrichment"]["jurisdictions"]}
    assert ("KE", "victim-in") in places


def test_lookup_answers_who_else_has_it_with_enrichment_and_correlations(
    client: TestClient, session: Session
) -> None:
    factory.report(session, "cert-fr", [("ipv4-addr", "45.148.10.0/24")])
    factory.report(
        session,
        "cert-ng",
        [("ipv4-addr", "45.148.10.9")],
        LabelsIn(tlp="amber", audience="organisation"),
    )
    factory.report(session, "ncb-fr", [("ipv4-addr", "45.148.10.9")])
    response = client.get(
        "/api/v1/observables/lookup",
        params={"value": "45.148.10.9"},
        headers=_key(session, "ncb-fr"),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["known"], body["country"], body["as_organisation"]) == (
        True,
        "NL",
        "Pptechnology Limited",
    )
    assert [o["organisation"] for o in body["occurrences"]] == ["ncb-fr"]
    # cert-ng's report is not readable by ncb-fr: a match elsewhere, without content.
    assert (body["hidden_match"], body["match_elsewhere"]) == (True, True)
    assert ("NL", "hosted-in") in {(c["country"], c["reason"]) for c in body["countries"]}
    assert (body["noise"], body["warninglists"]) == (False, [])
    assert [(c["relation"], c["value"]) for c in body["correlations"]] == [
        ("contained-in", "45.148.10.0/24")
    ]


def test_lookup_names_only_the_reporting_countries_of_readable_reports(
    client: TestClient, session: Session
) -> None:
    # cert-ng's report is for cert-ng alone: ncb-fr learns that a match exists, not that a
    # Nigerian organisation holds the value.
    factory.report(
        session,
        "cert-ng",
        [("domain-name", "who-reported-it.com")],
        LabelsIn(tlp="amber", audience="organisation"),
    )
    factory.report(session, "ncb-fr", [("domain-name", "who-reported-it.com")])

    def countries(org: str) -> set[tuple[str, str]]:
        body = client.get(
            "/api/v1/observables/lookup",
            params={"value": "who-reported-it.com"},
            headers=_key(session, org),
        ).json()
        return {(c["country"], c["reason"]) for c in body["countries"]}

    assert countries("ncb-fr") == {("FR", "reported-by")}
    assert countries("cert-ng") == {("FR", "reported-by"), ("NG", "reported-by")}


def test_lookup_names_the_warninglists(client: TestClient, session: Session) -> None:
    factory.report(session, "ncb-fr", [("domain-name", "google.com")])
    body = client.get(
        "/api/v1/observables/lookup",
        params={"value": "google.com"},
        headers=_key(session, "ncb-fr"),
    ).json()
    assert body["noise"] is True
    assert "Top 1000 website from Alexa" in body["warninglists"]
