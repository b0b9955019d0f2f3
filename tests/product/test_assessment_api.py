"""/api/v1/assessments over HTTP and `cyberfusion report assessment`: issue, read, download,
trace a figure; who may do which."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.time import utcnow
from cyberfusion.product.models import Product, ProductFigure
from tests.factories import account as account_factory
from tests.factories import product as product_factory

ROWS = "".join(f"domain-name,phish{n}.fr,phishing,80\n" for n in range(6)) + (
    "domain-name,scam0.fr,scam,80\ndomain-name,scam1.fr,scam,80\n"
)


def _key(session: Session, org: str, role: Role = Role.OFFICER) -> dict[str, str]:
    user = account_factory.user(session, org=org, role=role)
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


def test_hub_issues_reads_downloads_and_traces(client: TestClient, session: Session) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    hub = _key(session, "hub", Role.HUB_ANALYST)
    today = utcnow().date().isoformat()
    response = client.post(
        "/api/v1/assessments",
        headers=hub,
        json={"scope": "country", "country": "fr", "since": today, "audience": "members"},
    )
    assert response.status_code == 201, response.text
    issued = response.json()
    assert (issued["kind"], issued["country"], issued["tlp"], issued["item_count"]) == (
        "assessment",
        "FR",
        "amber",
        8,
    )
    assert issued["summary"] == {
        "scope": "country",
        "scope_code": "FR",
        "records": "8",
        "suppressed": True,
    }
    product_id = issued["id"]
    assert client.get(f"/api/v1/assessments/{product_id}", headers=hub).json()["id"] == product_id

    html = client.get(f"/api/v1/assessments/{product_id}/download", headers=hub)
    assert html.status_code == 200
    assert html.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in html.headers["content-security-policy"]
    assert f'href="/api/v1/assessments/{product_id}/figures/type-scam-infrastructure"' in html.text
    assert 'data-figure="type-scam-infrastructure">&lt; 5</span>' in html.text
    # The product download serves an assessment as an assessment.
    same = client.get(f"/api/v1/products/{product_id}/download?format=html", headers=hub)
    assert same.text == html.text
    stix = client.get(f"/api/v1/products/{product_id}/download?format=stix", headers=hub)
    assert stix.status_code == 422

    trace = client.get(
        f"/api/v1/assessments/{product_id}/figures/type-scam-infrastructure?limit=1", headers=hub
    )
    assert trace.status_code == 200
    body = trace.json()
    figure = session.scalars(
        select(ProductFigure).where(
            ProductFigure.product_id == product_id,
            ProductFigure.figure_id == "type-scam-infrastructure",
        )
    ).one()
    assert (body["value"], body["record_count"], body["limit"], len(body["record_ids"])) == (
        2,
        2,
        1,
        1,
    )
    assert body["query"] == figure.query
    assert body["parameters"]["threat_group"] == "scam-infrastructure"
    second = client.get(
        f"/api/v1/assessments/{product_id}/figures/type-scam-infrastructure?limit=1&offset=1",
        headers=hub,
    ).json()
    assert body["record_ids"][0] < second["record_ids"][0]

    # A member reads the published assessment, without traces; the trace is not for it.
    officer = _key(session, "ncb-br")
    assert client.get(f"/api/v1/assessments/{product_id}", headers=officer).status_code == 200
    copy = client.get(f"/api/v1/assessments/{product_id}/download?format=html", headers=officer)
    assert copy.status_code == 200
    assert "/figures/" not in copy.text
    denied = client.get(f"/api/v1/assessments/{product_id}/figures/records", headers=officer)
    assert denied.status_code == 403
    pdf = client.get(f"/api/v1/assessments/{product_id}/download?format=pdf", headers=officer)
    assert pdf.content.startswith(b"%PDF-")


def test_hub_only_assessment_and_cars_are_not_found(client: TestClient, session: Session) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    hub = _key(session, "hub", Role.HUB_ANALYST)
    today = utcnow().date().isoformat()
    own = client.post("/api/v1/assessments", headers=hub, json={"since": today}).json()
    officer = _key(session, "ncb-fr")
    assert client.get(f"/api/v1/assessments/{own['id']}", headers=officer).status_code == 404
    refused = client.post("/api/v1/assessments", headers=officer, json={"since": today})
    assert refused.status_code == 403
    car = product_factory.issue(session, "FR").product
    assert car is not None
    assert client.get(f"/api/v1/assessments/{car.id}", headers=hub).status_code == 404
    bad = client.post("/api/v1/assessments", headers=hub, json={"scope": "region", "since": today})
    assert bad.status_code == 422


def test_report_assessment_writes_html_and_pdf(cli, session: Session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    product_factory.submit(session, "partner-northwind", ROWS)
    since = utcnow().date().isoformat()
    html = tmp_path / "fr.html"
    result = cli("report", "assessment", "--country", "FR", "--since", since, "--out", str(html))
    assert result.exit_code == 0, result.output
    text = html.read_text()
    assert text.startswith("<!DOCTYPE html>")
    assert "Threat assessment: France" in text
    product = session.scalars(select(Product).where(Product.kind == "assessment")).one()
    assert product.content_hash in result.output
    assert "8 records" in result.output
    pdf = tmp_path / "europe.pdf"
    result = cli(
        "report", "assessment", "--region", "europe", "--since", since,
        "--format", "pdf", "--audience", "members", "--out", str(pdf),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert pdf.read_bytes().startswith(b"%PDF-")
    both = cli(
        "report", "assessment", "--country", "FR", "--global", "--since", since,
        "--out", str(tmp_path / "x.html"),
    )  # fmt: skip
    assert both.exit_code == 2
    assert not (tmp_path / "x.html").exists()
