"""REST validation endpoints."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from tests.factories import account as account_factory


def test_validate_a_partner_submission_over_rest(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    partner = account_factory.user(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    analyst = account_factory.user(session, org="hub", role=Role.HUB_ANALYST)
    partner_headers = {"Authorization": f"Bearer {account_factory.api_key(session, partner)}"}
    analyst_headers = {"Authorization": f"Bearer {account_factory.api_key(session, analyst)}"}
    submitted = client.post(
        "/api/v1/submissions?tlp=green&audience=community",
        content=b"type,value\nipv4-addr,198.51.100.41\n",
        headers={**partner_headers, "Content-Type": "text/csv"},
    )
    assert submitted.status_code == 201, submitted.text
    record_id = submitted.json()["results"][0]["record_id"]
    assert (
        client.get(f"/api/v1/objects/{record_id}", headers=analyst_headers).json()["status"]
        == "unvalidated"
    )
    refused = client.post(
        f"/api/v1/objects/{record_id}/validation",
        json={"decision": "validated"},
        headers=partner_headers,
    )
    assert refused.status_code == 403
    done = client.post(
        f"/api/v1/submissions/{submitted.json()['id']}/validation",
        json={"decision": "validated", "reason": "known C2"},
        headers=analyst_headers,
    )
    assert done.status_code == 200
    assert done.json() == {
        "submission_id": submitted.json()["id"],
        "decision": "validated",
        "changed": 1,
    }
    assert (
        client.get(f"/api/v1/objects/{record_id}", headers=analyst_headers).json()["status"]
        == "validated"
    )
