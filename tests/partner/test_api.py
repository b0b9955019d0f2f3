"""REST routes of agreements: /api/v1/agreements for administrators only."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from tests.factories import account as account_factory

BODY = {
    "organisation": "partner-bluewave",
    "title": "Abuse reports exchange",
    "reference": "DSA-API-0001",
    "signed_on": "2026-04-01",
    "valid_from": "2026-04-01",
    "valid_until": None,
    "scope": "Abuse reports on hosted phishing.",
    "max_tlp": "green",
}


def _headers(session: Session, role: Role = Role.ADMIN, org: str = "hub") -> dict[str, str]:
    user = account_factory.user(session, org=org, role=role)
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


def test_an_admin_creates_reads_lists_amends_suspends_and_resumes(
    session: Session, client: TestClient
) -> None:
    headers = _headers(session)
    created = client.post("/api/v1/agreements", json=BODY, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    number = body["id"]
    assert {k: body[k] for k in ("organisation", "organisation_name", "status", "max_tlp")} == {
        "organisation": "partner-bluewave",
        "organisation_name": "Bluewave Hosting abuse desk (demo partner)",
        "status": "active",
        "max_tlp": "green",
    }
    assert client.get(f"/api/v1/agreements/{number}", headers=headers).json() == body

    listed = client.get(
        "/api/v1/agreements", params={"organisation": "partner-bluewave"}, headers=headers
    ).json()
    assert [a["reference"] for a in listed] == ["DSA-2026-PARTNER-BLUEWAVE", "DSA-API-0001"]

    amended = client.patch(
        f"/api/v1/agreements/{number}", json={"valid_until": "2026-12-31"}, headers=headers
    )
    assert (amended.status_code, amended.json()["valid_until"]) == (200, "2026-12-31")

    suspended = client.post(
        f"/api/v1/agreements/{number}/suspend", json={"reason": "audit pending"}, headers=headers
    )
    assert suspended.status_code == 200
    assert (suspended.json()["status"], suspended.json()["suspension_reason"]) == (
        "suspended",
        "audit pending",
    )
    only_suspended = client.get(
        "/api/v1/agreements", params={"status": "suspended"}, headers=headers
    ).json()
    assert [a["id"] for a in only_suspended] == [number]
    again = client.post(
        f"/api/v1/agreements/{number}/suspend", json={"reason": "again"}, headers=headers
    )
    assert again.status_code == 409
    resumed = client.post(f"/api/v1/agreements/{number}/resume", headers=headers)
    assert (resumed.status_code, resumed.json()["status"]) == (200, "active")


def test_invalid_input_is_a_problem_naming_the_field(session: Session, client: TestClient) -> None:
    headers = _headers(session)
    backwards = client.post(
        "/api/v1/agreements",
        json=BODY | {"valid_from": "2026-05-01", "valid_until": "2026-04-30"},
        headers=headers,
    )
    assert backwards.status_code == 422
    assert "valid_until must not be before valid_from" in backwards.text
    member = client.post(
        "/api/v1/agreements", json=BODY | {"organisation": "ncb-fr"}, headers=headers
    )
    assert member.status_code == 422
    assert member.json()["detail"].startswith("ncb-fr is a ncb, not a partner")
    bad_tlp = client.post("/api/v1/agreements", json=BODY | {"max_tlp": "blue"}, headers=headers)
    assert bad_tlp.status_code == 422
    assert client.get("/api/v1/agreements/999999", headers=headers).status_code == 404


def test_other_roles_get_403_and_strangers_401(session: Session, client: TestClient) -> None:
    analyst = _headers(session, Role.HUB_ANALYST)
    assert client.get("/api/v1/agreements", headers=analyst).status_code == 403
    assert client.post("/api/v1/agreements", json=BODY, headers=analyst).status_code == 403
    partner = _headers(session, Role.PARTNER_ANALYST, org="partner-bluewave")
    assert client.get("/api/v1/agreements", headers=partner).status_code == 403
    assert client.get("/api/v1/agreements").status_code == 401
