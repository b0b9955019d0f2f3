"""The web shell: login (CSRF, password, TOTP), lock-out, logout, session cookie, idle timeout."""

from __future__ import annotations

import html
import re
import time
from types import SimpleNamespace

import pyotp
import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.models import User
from cyberfusion.account.permissions import Role
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.config import get_settings
from cyberfusion.demo.service import DEMO_PASSWORD, demo_totp_secret
from cyberfusion.web import auth
from tests.factories import account as account_factory

CSRF_RE = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
GENERIC = "wrong e-mail, password or code"
LOCKED = "this account is locked after repeated failures; try later"


def _csrf(client: TestClient, path: str = "/login") -> str:
    page = client.get(path)
    assert page.status_code == 200
    tokens = CSRF_RE.findall(page.text)
    assert len(set(tokens)) == 1
    return str(tokens[0])


def _login(client: TestClient, *, email: str, password: str, code: str = "") -> Response:
    return client.post(
        "/login",
        data={"email": email, "password": password, "code": code, "csrf_token": _csrf(client)},
        follow_redirects=False,
    )


def _code(user: User) -> str:
    assert user.totp_secret is not None
    return pyotp.TOTP(user.totp_secret).now()


def _is_signed_in(client: TestClient) -> bool:
    home = client.get("/", follow_redirects=False)
    if home.status_code == 303:
        assert home.headers["location"] == "/login"
        return False
    assert home.status_code == 200
    return True


def _error(page: str) -> str:
    match = re.search(r'<p class="error" role="alert">([^<]*)</p>', page)
    assert match is not None, page
    return html.unescape(match.group(1))


def test_login_form_carries_a_csrf_token(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    # One token, in the sign-in form and in the language menu.
    (token,) = set(CSRF_RE.findall(page.text))
    assert len(token) == 32
    # The token is bound to the browser session: the same on a reload.
    assert _csrf(client) == token


@pytest.mark.parametrize("token", [None, "", "forged-token"], ids=["missing", "empty", "wrong"])
def test_login_without_the_right_csrf_token_is_403_and_signs_nobody_in(
    session: Session, client: TestClient, token: str | None
) -> None:
    user = account_factory.user(session)
    _csrf(client)
    data = {"email": user.email, "password": account_factory.PASSWORD, "code": _code(user)}
    if token is not None:
        data["csrf_token"] = token
    response = client.post("/login", data=data, follow_redirects=False)
    assert response.status_code == 403
    assert response.json()["detail"] == (
        "the form expired or came from elsewhere; reload and try again"
    )
    assert response.json()["field"] == "csrf_token"
    assert _is_signed_in(client) is False
    # Refused before any check: the code was not spent and no failure was counted.
    assert user.totp_last_step is None
    assert user.failed_logins == 0


def test_demo_officer_signs_in_and_sees_the_home_page(session: Session, client: TestClient) -> None:
    email = "officer@ncb-fr.cyberfusion.example"
    response = _login(
        client,
        email=email,
        password=DEMO_PASSWORD,
        code=pyotp.TOTP(demo_totp_secret(email)).now(),
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    user = account_service.get_by_email_or_raise(session=session, email=email)
    assert f"<dd>{email}</dd>" in home.text
    assert f"<dd>{html.escape(user.organisation.name)} <code>ncb-fr</code> (ncb)</dd>" in home.text
    assert '<dd data-stat="countries">196</dd>' in home.text
    assert f'<dd data-stat="users">{account_service.count(session=session)}</dd>' in home.text
    assert user.last_login_at is not None
    login_entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "user.login", AuditEntry.target_id == str(user.id)
        )
    ).all()
    assert len(login_entries) == 1


def test_the_session_cookie_is_httponly_and_samesite_strict(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    response = _login(client, email=user.email, password=account_factory.PASSWORD, code=_code(user))
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    name, _, _ = cookie.partition("=")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert name == "cyberfusion_session"
    assert "httponly" in attributes
    assert "samesite=strict" in attributes
    assert "path=/" in attributes


def test_a_viewer_signs_in_without_a_code(session: Session, client: TestClient) -> None:
    viewer = account_factory.user(session, role=Role.VIEWER)
    response = _login(client, email=viewer.email, password=account_factory.PASSWORD)
    assert response.status_code == 303
    assert _is_signed_in(client) is True


def test_an_officer_without_a_code_is_refused(session: Session, client: TestClient) -> None:
    user = account_factory.user(session)
    response = _login(client, email=user.email, password=account_factory.PASSWORD)
    assert response.status_code == 401
    assert _error(response.text) == GENERIC
    assert _is_signed_in(client) is False


def test_a_code_is_good_for_one_login(session: Session, client: TestClient) -> None:
    user = account_factory.user(session)
    code = _code(user)
    assert (
        _login(client, email=user.email, password=account_factory.PASSWORD, code=code).status_code
        == 303
    )
    client.post("/logout", data={"csrf_token": _csrf(client, "/")}, follow_redirects=False)
    assert _is_signed_in(client) is False
    replay = _login(client, email=user.email, password=account_factory.PASSWORD, code=code)
    assert replay.status_code == 401
    assert _error(replay.text) == GENERIC
    assert _is_signed_in(client) is False


def test_a_failed_login_count_is_committed_although_the_login_failed(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    session.commit()
    response = _login(client, email=user.email, password="Wrong-Password-99", code=_code(user))
    assert response.status_code == 401
    assert _error(response.text) == GENERIC
    # Undo whatever was not committed: the counter must survive.
    session.rollback()
    session.refresh(user)
    assert user.failed_logins == 1


def test_five_failures_lock_the_account_on_the_web_form(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    for attempt in range(1, 5):
        response = _login(client, email=user.email, password="Wrong-Password-99", code="000000")
        assert response.status_code == 401
        assert _error(response.text) == GENERIC
        assert user.failed_logins == attempt
    fifth = _login(client, email=user.email, password="Wrong-Password-99", code="000000")
    assert fifth.status_code == 429
    assert fifth.headers["retry-after"] == str(get_settings().lockout_seconds)
    assert _error(fifth.text) == LOCKED
    session.rollback()
    session.refresh(user)
    assert user.locked_until is not None
    lock_entries = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "user.lock", AuditEntry.target_id == str(user.id)
        )
    ).all()
    assert len(lock_entries) == 1
    right = _login(client, email=user.email, password=account_factory.PASSWORD, code=_code(user))
    assert right.status_code == 429
    assert 0 < int(right.headers["retry-after"]) <= get_settings().lockout_seconds
    assert _error(right.text) == LOCKED
    assert _is_signed_in(client) is False


def test_logout_needs_the_csrf_token(session: Session, client: TestClient) -> None:
    user = account_factory.user(session)
    assert (
        _login(
            client, email=user.email, password=account_factory.PASSWORD, code=_code(user)
        ).status_code
        == 303
    )
    refused = client.post("/logout", data={"csrf_token": "forged"}, follow_redirects=False)
    assert refused.status_code == 403
    assert _is_signed_in(client) is True
    token = _csrf(client, "/")
    done = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"] == "/login"
    assert _is_signed_in(client) is False


def test_the_session_ends_after_the_idle_timeout(
    session: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = account_factory.user(session)
    assert (
        _login(
            client, email=user.email, password=account_factory.PASSWORD, code=_code(user)
        ).status_code
        == 303
    )
    idle = get_settings().session_idle_seconds
    assert idle == 30 * 60
    start = time.time()
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: start + idle - 60))
    # A request inside the window keeps the session alive and restarts the clock.
    assert _is_signed_in(client) is True
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: start + 2 * idle - 120))
    assert _is_signed_in(client) is True
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: start + 3 * idle))
    assert _is_signed_in(client) is False
    # The expired session is cleared, not merely refused once.
    monkeypatch.setattr(auth, "time", SimpleNamespace(time=lambda: start + 3 * idle + 1))
    assert _is_signed_in(client) is False


def test_the_rest_api_accepts_the_web_session(session: Session, client: TestClient) -> None:
    user = account_factory.user(session, org="hub", role=Role.HUB_ANALYST)
    response = _login(client, email=user.email, password=account_factory.PASSWORD, code=_code(user))
    assert response.status_code == 303
    me = client.get("/api/v1/me")
    assert me.status_code == 200
    assert (me.json()["email"], me.json()["organisation"], me.json()["authenticated_by"]) == (
        user.email,
        "hub",
        "session",
    )


def test_disabling_a_user_ends_their_session(session: Session, client: TestClient) -> None:
    user = account_factory.user(session)
    response = _login(client, email=user.email, password=account_factory.PASSWORD, code=_code(user))
    assert response.status_code == 303
    assert _is_signed_in(client) is True
    user.is_active = False
    session.flush()
    assert _is_signed_in(client) is False
    user.is_active = True
    session.flush()
    # The session was cleared, so re-enabling the account does not revive it.
    assert _is_signed_in(client) is False


def test_api_state_changes_with_the_cookie_need_the_csrf_header(
    session: Session, client: TestClient
) -> None:
    user = account_factory.user(session)
    assert (
        _login(
            client, email=user.email, password=account_factory.PASSWORD, code=_code(user)
        ).status_code
        == 303
    )
    # Reading with the cookie works; changing state needs the session's CSRF token as a header.
    assert client.get("/api/v1/me").status_code == 200
    refused = client.post("/api/v1/me/apikeys", json={"name": "from-browser"})
    assert refused.status_code == 403
    assert refused.json()["field"] == "csrf_token"
    token = _csrf(client, "/")
    accepted = client.post(
        "/api/v1/me/apikeys", json={"name": "from-browser"}, headers={"X-CSRF-Token": token}
    )
    assert accepted.status_code == 201


def test_upload_a_file_and_see_the_per_object_result(session: Session, client: TestClient) -> None:
    user = account_factory.user(session)
    assert (
        _login(
            client, email=user.email, password=account_factory.PASSWORD, code=_code(user)
        ).status_code
        == 303
    )
    token = _csrf(client, "/submissions/new")
    response = client.post(
        "/submissions",
        data={"csrf_token": token, "format": "csv", "tlp": "green", "audience": "community"},
        files={
            "file": (
                "iocs.csv",
                b"type,value\nipv4-addr,198.51.100.61\nipv4-addr,300.1.1.1\n",
                "text/csv",
            )
        },
        follow_redirects=False,
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"])
    assert page.status_code == 200
    assert '<dd data-stat="status">rejected</dd>' in page.text
    assert '<dd data-stat="rejected">1</dd>' in page.text
    assert "row 3" in page.text
    refused = client.post(
        "/submissions",
        data={"csrf_token": "nope"},
        files={"file": ("x.txt", b"1.2.3.4", "text/plain")},
    )
    assert refused.status_code == 403
