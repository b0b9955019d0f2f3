"""/api/v1/products over HTTP: issue, inbox, download, acknowledge, feedback, templates, stats."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.time import utcnow
from tests.factories import account as account_factory
from tests.factories import product as product_factory

ROWS = """ipv4-addr,90.12.34.56,c2,80
domain-name,phish-bank.fr,phishing,70
"""


def _key(session: Session, org: str, role: Role = Role.OFFICER) -> dict[str, str]:
    user = account_factory.user(session, org=org, role=role)
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


def _issue(client: TestClient, headers: dict[str, str], country: str = "FR") -> dict:  # type: ignore[type-arg]
    response = client.post(
        "/api/v1/products/car",
        headers=headers,
        json={"country": country, "since": utcnow().date().isoformat()},
    )
    assert response.status_code in (200, 201), response.text
    return response.json()  # type: ignore[no-any-return]


def test_hub_issues_recipient_downloads_acknowledges_and_answers(
    client: TestClient, session: Session
) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    hub = _key(session, "hub", Role.HUB_ANALYST)
    issued = _issue(client, hub)
    assert issued["issued"] is True
    product = issued["product"]
    assert (product["country"], product["recipient"], product["tlp"], product["item_count"]) == (
        "FR",
        "ncb-fr",
        "green",
        2,
    )
    assert product["delivery"] is None  # the hub is not the recipient
    again = client.post(
        "/api/v1/products/car",
        headers=hub,
        json={"country": "FR", "since": product["period_start"], "until": product["period_end"]},
    )
    assert again.status_code == 200
    assert (again.json()["issued"], again.json()["product"]["id"]) == (False, product["id"])

    officer = _key(session, "ncb-fr")
    inbox = client.get("/api/v1/products/inbox?unread=true", headers=officer).json()
    assert [p["id"] for p in inbox] == [product["id"]]
    assert inbox[0]["delivery"]["read_at"] is None

    pdf = client.get(f"/api/v1/products/{product['id']}/download?format=pdf", headers=officer)
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.headers["x-content-hash"] == product["content_hash"]
    assert "attachment" in pdf.headers["content-disposition"]
    html = client.get(f"/api/v1/products/{product['id']}/download", headers=officer)
    assert html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in html.headers["content-security-policy"]
    assert client.get("/api/v1/products/inbox?unread=true", headers=officer).json() == []

    acked = client.post(f"/api/v1/products/{product['id']}/acknowledge", headers=officer)
    assert acked.status_code == 200
    assert acked.json()["delivery"]["acknowledged_at"] is not None

    items = client.get(f"/api/v1/products/{product['id']}/items", headers=officer).json()
    assert [(i["group"], i["value"], i["outcome"]) for i in items] == [
        ("botnet-c2", "90.12.34.56", None),
        ("phishing", "phish-bank.fr", None),
    ]
    answer = client.post(
        f"/api/v1/products/{product['id']}/feedback",
        headers=officer,
        json={"item_id": items[0]["id"], "outcome": "taken-down", "comment": "host suspended"},
    )
    assert answer.status_code == 201, answer.text
    assert (answer.json()["outcome"], answer.json()["organisation"]) == ("taken-down", "ncb-fr")
    feedback = client.get(f"/api/v1/products/{product['id']}/feedback", headers=hub).json()
    assert [(f["item_id"], f["outcome"], f["comment"]) for f in feedback] == [
        (items[0]["id"], "taken-down", "host suspended")
    ]
    sightings = client.get(f"/api/v1/products/{product['id']}/feedback/stix", headers=hub)
    assert sightings.headers["content-type"].startswith("application/stix+json")
    assert [o["labels"] for o in sightings.json()["objects"] if o["type"] == "sighting"] == [
        ["taken-down"]
    ]
    stats = client.get("/api/v1/products/stats/countries", headers=hub).json()
    fr = next(s for s in stats if s["country"] == "FR")
    assert (fr["acknowledged"], fr["taken_down"], fr["items"]) == (1, 1, 2)
    providers = client.get("/api/v1/products/stats/providers", headers=hub).json()
    assert [(p["as_organisation"], p["taken_down"]) for p in providers] == [("Orange", 1)]


def test_other_organisations_get_404_and_missing_permissions_403(
    client: TestClient, session: Session
) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    product = _issue(client, _key(session, "hub", Role.HUB_ANALYST))["product"]
    stranger = _key(session, "ncb-de")
    for method, path in (
        ("get", f"/api/v1/products/{product['id']}"),
        ("get", f"/api/v1/products/{product['id']}/download?format=csv"),
        ("get", f"/api/v1/products/{product['id']}/items"),
        ("post", f"/api/v1/products/{product['id']}/acknowledge"),
    ):
        response = getattr(client, method)(path, headers=stranger)
        assert response.status_code == 404, (path, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/products", headers=stranger).json() == []
    officer = _key(session, "ncb-fr")
    assert (
        client.post(
            "/api/v1/products/car", headers=officer, json={"country": "FR", "since": "2026-01-01"}
        ).status_code
        == 403
    )
    assert client.get("/api/v1/products/templates", headers=officer).status_code == 403
    assert client.get("/api/v1/products/stats/countries", headers=officer).status_code == 403
    viewer = _key(session, "ncb-fr", Role.VIEWER)
    assert client.get(f"/api/v1/products/{product['id']}", headers=viewer).status_code == 200
    assert (
        client.post(f"/api/v1/products/{product['id']}/acknowledge", headers=viewer).status_code
        == 403
    )
    assert client.get("/api/v1/products").status_code == 401


def test_bad_input_is_named(client: TestClient, session: Session) -> None:
    hub = _key(session, "hub", Role.HUB_ANALYST)
    backwards = client.post(
        "/api/v1/products/car",
        headers=hub,
        json={"country": "FR", "since": "2026-02-01", "until": "2026-01-01"},
    )
    assert backwards.status_code == 422
    assert "until must be after since" in backwards.text
    unknown = client.post(
        "/api/v1/products/car", headers=hub, json={"country": "ZZ", "since": "2026-01-01"}
    )
    assert unknown.status_code == 422
    assert "'ZZ' is not the ISO 3166-1 alpha-2 code of a member country" in unknown.text
    nothing = client.post(
        "/api/v1/products/car", headers=hub, json={"country": "JP", "since": "2026-01-01"}
    )
    assert nothing.status_code == 200
    assert nothing.json()["issued"] is False and nothing.json()["product"] is None
    bad_format = client.get("/api/v1/products/1/download?format=docx", headers=hub)
    assert bad_format.status_code == 422


def test_hub_edits_templates(client: TestClient, session: Session) -> None:
    hub = _key(session, "hub", Role.HUB_ANALYST)
    templates = client.get("/api/v1/products/templates", headers=hub).json()
    assert templates[0]["threat_group"] == "botnet-c2"
    assert templates[-1]["threat_group"] == "other"
    response = client.put(
        "/api/v1/products/templates/phishing",
        headers=hub,
        json={"title": "Phishing", "why_it_matters": "Money.", "actions": ["Take down."]},
    )
    assert response.status_code == 200, response.text
    assert response.json()["actions"] == ["Take down."]
    blank = client.put(
        "/api/v1/products/templates/phishing",
        headers=hub,
        json={"title": "Phishing", "why_it_matters": "Money.", "actions": ["ok", " "]},
    )
    assert blank.status_code == 422
    assert "action 1 is empty" in blank.text
    missing = client.put(
        "/api/v1/products/templates/nope",
        headers=hub,
        json={"title": "x", "why_it_matters": "y", "actions": ["z"]},
    )
    assert missing.status_code == 404
