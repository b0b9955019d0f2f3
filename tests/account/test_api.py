"""REST routes of the signed-in user: /api/v1/me, API key authentication and key creation."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.models import ApiKey
from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from tests.factories import account as account_factory

PROBLEM = "application/problem+json"


def _bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _basic(username: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def _key_row(session: Session, key: str) -> ApiKey:
    digest = hashlib.sha256(key.encode()).hexdigest()
    return session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).one()


def _assert_401(response_status: int, headers: dict[str, str], body: dict[str, object]) -> None:
    assert response_status == 401
    assert headers["content-type"] == PROBLEM
    assert headers["www-authenticate"] == 'Bearer realm="cyberfusion"'
    assert body["type"] == "about:blank"
    assert body["title"] == "Authentication required"
    assert body["status"] == 401


def test_me_with_a_bearer_key(session: Session, client: TestClient) -> None:
    user = account_factory.user(session, org="ncb-fr", role=Role.OFFICER)
    key = account_factory.api_key(session, user)
    response = client.get("/api/v1/me", headers=_bearer(key))
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "id": user.id,
        "email": user.email,
        "display_name": user.email.split("@")[0],
        "organisation": "ncb-fr",
        "organisation_kind": "ncb",
        "country": "FR",
        "region": "europe",
        "roles": ["officer"],
        "permissions": [
            "account:apikey:manage",
            "intel:object:read",
            "intel:object:relabel",
            "intel:object:submit",
            "intel:selector:lookup",
            "notification:notification:read",
            "product:report:feedback",
            "product:report:read",
            "registry:organisation:read",
        ],
        "authenticated_by": "apikey",
    }
    assert _key_row(session, key).last_used_at is not None


@pytest.mark.parametrize("username", ["anything", "", "taxii-client"])
def test_me_with_http_basic_takes_the_key_as_password(
    session: Session, client: TestClient, username: str
) -> None:
    user = account_factory.user(session, org="desk-africa", role=Role.DESK_OFFICER)
    key = account_factory.api_key(session, user)
    response = client.get("/api/v1/me", headers=_basic(username, key))
    assert response.status_code == 200
    body = response.json()
    assert (body["email"], body["organisation"], body["roles"]) == (
        user.email,
        "desk-africa",
        ["desk_officer"],
    )
    assert (body["country"], body["region"]) == (None, "africa")


def test_me_without_credentials_is_401_problem_json(client: TestClient) -> None:
    response = client.get("/api/v1/me")
    _assert_401(response.status_code, dict(response.headers), response.json())
    assert response.json() == {
        "type": "about:blank",
        "title": "Authentication required",
        "status": 401,
        "detail": "authentication required: send 'Authorization: Bearer <key>'",
    }


def test_wrong_expired_and_revoked_keys_get_their_precise_reason(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    wrong = client.get("/api/v1/me", headers=_bearer("cf_" + "x" * 43))
    _assert_401(wrong.status_code, dict(wrong.headers), wrong.json())
    assert wrong.json()["detail"] == "invalid API key"

    expired = account_factory.api_key(session, user)
    _key_row(session, expired).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    session.flush()
    response = client.get("/api/v1/me", headers=_bearer(expired))
    _assert_401(response.status_code, dict(response.headers), response.json())
    assert response.json()["detail"] == "this API key has expired"

    revoked = account_factory.api_key(session, user)
    account_service.revoke_api_key(session=session, actor=Actor.operator("test"), key=revoked)
    response = client.get("/api/v1/me", headers=_basic("x", revoked))
    _assert_401(response.status_code, dict(response.headers), response.json())
    assert response.json()["detail"] == "this API key was revoked"


@pytest.mark.parametrize(
    ("header", "detail"),
    [
        ("Token cf_abc", "send the API key as 'Authorization: Bearer <key>'"),
        ("Bearer", "send the API key as 'Authorization: Bearer <key>'"),
        ("cf_abc", "send the API key as 'Authorization: Bearer <key>'"),
        ("Basic %%%not-base64%%%", "malformed HTTP Basic credentials"),
        ("Basic //79", "malformed HTTP Basic credentials"),
        (
            "Basic " + base64.b64encode(b"no-colon-here").decode(),
            "HTTP Basic credentials need the API key as password",
        ),
        (
            "Basic " + base64.b64encode(b"user:").decode(),
            "HTTP Basic credentials need the API key as password",
        ),
    ],
    ids=[
        "unknown-scheme",
        "bearer-without-key",
        "no-scheme",
        "basic-not-base64",
        "basic-not-utf8",
        "basic-no-colon",
        "basic-empty-password",
    ],
)
def test_malformed_authorization_is_401(client: TestClient, header: str, detail: str) -> None:
    response = client.get("/api/v1/me", headers={"Authorization": header})
    _assert_401(response.status_code, dict(response.headers), response.json())
    assert response.json()["detail"] == detail


def test_a_user_creates_a_key_for_themself(session: Session, client: TestClient) -> None:
    user = account_factory.user(session)
    key = account_factory.api_key(session, user)
    expires = datetime.now(UTC) + timedelta(days=30)
    response = client.post(
        "/api/v1/me/apikeys",
        headers=_bearer(key),
        json={"name": "misp sync", "expires_at": expires.isoformat()},
    )
    assert response.status_code == 201
    body = response.json()
    assert sorted(body) == ["expires_at", "id", "key", "prefix"]
    new_key = body["key"]
    assert new_key.startswith("cf_")
    assert body["prefix"] == new_key[:10]
    row = _key_row(session, new_key)
    assert (row.id, row.user_id, row.name, row.prefix) == (
        body["id"],
        user.id,
        "misp sync",
        new_key[:10],
    )
    assert row.expires_at == expires
    me = client.get("/api/v1/me", headers=_bearer(new_key))
    assert me.status_code == 200
    assert me.json()["email"] == user.email


def test_a_viewer_may_not_create_keys(session: Session, client: TestClient) -> None:
    viewer = account_factory.user(session, role=Role.VIEWER)
    key = account_factory.api_key(session, viewer)
    response = client.post("/api/v1/me/apikeys", headers=_bearer(key), json={"name": "mine"})
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
        "detail": "this action needs the permission account:apikey:manage",
    }
    rows = session.scalars(select(ApiKey).where(ApiKey.user_id == viewer.id)).all()
    assert len(rows) == 1


def test_creating_a_key_needs_authentication(client: TestClient) -> None:
    response = client.post("/api/v1/me/apikeys", json={"name": "mine"})
    assert response.status_code == 401
    assert response.json()["detail"] == (
        "authentication required: send 'Authorization: Bearer <key>'"
    )


def test_a_key_expiring_in_the_past_is_refused_naming_expires_at(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    key = account_factory.api_key(session, user)
    response = client.post(
        "/api/v1/me/apikeys",
        headers=_bearer(key),
        json={"name": "old", "expires_at": "2020-01-01T00:00:00Z"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Invalid input",
        "status": 422,
        "detail": "expiry must be in the future",
        "field": "expires_at",
    }
    rows = session.scalars(select(ApiKey).where(ApiKey.user_id == user.id)).all()
    assert len(rows) == 1


def test_request_validation_errors_list_each_field(session: Session, client: TestClient) -> None:
    user = account_factory.user(session)
    key = account_factory.api_key(session, user)
    response = client.post(
        "/api/v1/me/apikeys",
        headers=_bearer(key),
        json={"name": "n" * 101, "expires_at": "next tuesday"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert (body["type"], body["title"], body["status"]) == ("about:blank", "Invalid input", 422)
    assert [error["field"] for error in body["errors"]] == ["name", "expires_at"]
    assert body["errors"][0]["message"] == "String should have at most 100 characters"
    assert body["detail"] == "; ".join(f"{e['field']}: {e['message']}" for e in body["errors"])
    rows = session.scalars(select(ApiKey).where(ApiKey.user_id == user.id)).all()
    assert len(rows) == 1
