"""POST /api/v1/submissions and GET /api/v1/observables/lookup over HTTP."""

from __future__ import annotations

from sqlalchemy.orm import Session

from tests.factories import account as account_factory


def _key(session: Session, org: str = "ncb-fr") -> dict[str, str]:
    user = account_factory.user(session, org=org)
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


def test_csv_body_is_accepted_with_per_object_results(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    headers = {**_key(session), "Content-Type": "text/csv"}
    body = b"type,value\nipv4-addr,198.51.100.77\ndomain-name,evil.example.org\n"
    response = client.post(
        "/api/v1/submissions?tlp=green&audience=community", content=body, headers=headers
    )
    assert response.status_code == 201, response.text
    data = response.json()
    assert data["status"] == "accepted"
    assert data["source_format"] == "csv"
    assert [r["status"] for r in data["results"]] == ["accepted", "accepted"]
    again = client.post(
        "/api/v1/submissions?tlp=green&audience=community", content=body, headers=headers
    )
    assert again.status_code == 200
    assert again.json()["replayed"] is True
    assert again.json()["id"] == data["id"]


def test_envelope_and_lookup(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    headers = _key(session)
    response = client.post(
        "/api/v1/submissions",
        headers=headers,
        json={
            "format": "text",
            "content": "callback to hxxp://c2[.]example[.]net/gate.php",
            "labels": {"tlp": "amber", "audience": "members"},
        },
    )
    assert response.status_code == 201, response.text
    lookup = client.get(
        "/api/v1/observables/lookup",
        headers=_key(session, org="ncb-ng"),
        params={"value": "c2.example.net"},
    )
    assert lookup.status_code == 200
    data = lookup.json()
    assert (data["type"], data["value"], data["known"]) == ("domain-name", "c2.example.net", True)
    assert [(o["organisation"], o["tlp"], o["audience"]) for o in data["occurrences"]] == [
        ("ncb-fr", "amber", "members")
    ]


def test_refused_submission_answers_422_with_the_report(client, session: Session) -> None:  # type: ignore[no-untyped-def]
    headers = {**_key(session), "Content-Type": "text/csv"}
    response = client.post(
        "/api/v1/submissions",
        headers=headers,
        content=b"type,value\nipv4-addr,10.0.0.300\nipv4-addr,198.51.100.1\n",
    )
    assert response.status_code == 422
    data = response.json()
    assert data["status"] == "rejected"
    assert data["accepted"] == 0
    assert data["results"][0]["source"] == "row 2"
    assert data["results"][0]["property"] == "value"


def test_wrong_content_type_and_oversized_bodies(client, session: Session, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from cyberfusion.core import config

    headers = _key(session)
    response = client.post(
        "/api/v1/submissions",
        content=b"<xml/>",
        headers={**headers, "Content-Type": "application/xml"},
    )
    assert response.status_code == 415
    assert response.headers["content-type"] == "application/problem+json"
    settings = config.get_settings()
    monkeypatch.setattr(
        config,
        "get_settings",
        lambda: settings.__class__(**{**settings.__dict__, "max_submission_bytes": 100}),
    )
    import cyberfusion.intake.api as intake_api

    monkeypatch.setattr(intake_api, "get_settings", config.get_settings)
    big = client.post(
        "/api/v1/submissions", content=b"x" * 101, headers={**headers, "Content-Type": "text/plain"}
    )
    assert big.status_code == 413


def test_submitting_needs_a_key(client) -> None:  # type: ignore[no-untyped-def]
    response = client.post(
        "/api/v1/submissions", content=b"1.2.3.4", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 401
