"""The ASGI application: health check, OpenAPI document, problem details, security headers."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from cyberfusion import __version__
from cyberfusion.account.permissions import Role
from tests.factories import account as account_factory

PROBLEM = "application/problem+json"


def test_healthz(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_openapi_document_lists_the_account_routes(client: TestClient) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    document = response.json()
    assert document["info"]["title"] == "cyberfusion"
    assert document["info"]["version"] == __version__
    assert sorted(document["paths"]["/api/v1/me"]) == ["get"]
    assert sorted(document["paths"]["/api/v1/me/apikeys"]) == ["post"]
    # Web pages and the health check are not part of the REST contract.
    assert [path for path in document["paths"] if not path.startswith("/api/v1/")] == []


@pytest.mark.parametrize("path", ["/healthz", "/login", "/api/v1/me", "/no/such/page"])
def test_security_headers_on_every_response(client: TestClient, path: str) -> None:
    response = client.get(path)
    csp = response.headers["content-security-policy"]
    directives = {
        name: value
        for name, _, value in (part.strip().partition(" ") for part in csp.split(";"))
        if name
    }
    assert directives["default-src"] == "'self'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert "unsafe-inline" not in csp
    assert "unsafe-eval" not in csp
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["referrer-policy"] == "no-referrer"


def test_pages_load_assets_only_from_this_server(client: TestClient) -> None:
    page = client.get("/login").text
    links = re.findall(r'(?:href|src|action)="([^"]*)"', page)
    assert sorted(set(links)) == [
        "#main",
        "/",
        "/api/v1/openapi.json",
        "/language",
        "/login",
        "/static/app.css",
        "/static/favicon.svg",
        "/static/htmx.min.js",
    ]
    for link in (
        "/static/app.css",
        "/static/favicon.svg",
        "/static/htmx.min.js",
        "/api/v1/openapi.json",
    ):
        assert client.get(link).status_code == 200


def test_unknown_route_is_a_404_problem(client: TestClient) -> None:
    response = client.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Not Found",
        "status": 404,
        "detail": "Not Found",
    }


def test_wrong_method_is_a_405_problem(client: TestClient) -> None:
    response = client.delete("/api/v1/me")
    assert response.status_code == 405
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == 405
    assert response.json()["title"] == "Method Not Allowed"


def test_domain_errors_name_their_field(session: Session, client: TestClient) -> None:
    admin = account_factory.user(session, org="hub", role=Role.ADMIN)
    key = account_factory.api_key(session, admin)
    response = client.post(
        "/api/v1/organisations",
        headers={"Authorization": f"Bearer {key}"},
        json={"slug": "ncb-fr", "name": "Duplicate", "kind": "cert", "country": "FR"},
    )
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json() == {
        "type": "about:blank",
        "title": "Conflict",
        "status": 409,
        "detail": "an organisation with slug 'ncb-fr' exists",
        "field": "slug",
    }
