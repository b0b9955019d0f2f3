"""The products pages through TestClient: list, read, download, acknowledge, feedback."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.time import utcnow
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product, ProductDelivery, ProductFeedback
from cyberfusion.product.schemas import CarIssue, FeedbackIn
from tests.factories import account as account_factory
from tests.factories import product as product_factory
from tests.web.test_pages import _as, _token

ROWS = """ipv4-addr,90.12.34.56,c2,80
domain-name,phish-bank.fr,phishing,70
"""


@pytest.fixture
def car(session: Session) -> Product:
    """A Cyber Activity Report for France, delivered to ncb-fr."""
    product_factory.submit(session, "partner-northwind", ROWS)
    result = product_factory.issue(session, "FR")
    assert result.issued and result.product is not None, result.detail
    return result.product


def _delivery(session: Session, product: Product) -> ProductDelivery:
    session.expire_all()
    return session.scalars(
        select(ProductDelivery).where(ProductDelivery.product_id == product.id)
    ).one()


def _item_ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr id="item-(\d+)" data-item=', page)]


def test_products_pages_send_a_signed_out_visitor_to_the_login_page(client: TestClient) -> None:
    for path in ("/products", "/products/1"):
        response = client.get(path, follow_redirects=False)
        assert (response.status_code, response.headers["location"]) == (303, "/login")


def test_the_list_says_when_there_is_no_product(session: Session, client: TestClient) -> None:
    _as(client, session, org="ncb-fr")
    page = client.get("/products")
    assert page.status_code == 200
    assert "No products for you yet." in page.text
    assert '<a href="/products">Products</a>' in page.text


def test_the_recipient_lists_its_product_unread_then_read(
    session: Session, client: TestClient, car: Product
) -> None:
    _as(client, session, org="ncb-fr")
    listing = client.get("/products").text
    assert f'<a href="/products/{car.id}">Cyber Activity Report</a>' in listing
    assert 'data-state="unread"' in listing
    assert "TLP:GREEN" in listing
    assert _delivery(session, car).read_at is None

    page = client.get(f"/products/{car.id}")
    assert page.status_code == 200
    assert "Cyber Activity Report: France" in page.text
    assert "phish-bank.fr" in page.text and "90.12.34.56" in page.text
    assert len(_item_ids(page.text)) == 2
    for fmt in ("html", "pdf", "stix", "csv"):
        assert f'href="/api/v1/products/{car.id}/download?format={fmt}"' in page.text
    # Opening the page is reading it.
    assert _delivery(session, car).read_at is not None
    assert 'data-state="read"' in client.get("/products").text


def test_each_download_link_answers_with_the_session_cookie(
    session: Session, client: TestClient, car: Product
) -> None:
    _as(client, session, org="ncb-fr")
    expected = {
        "html": "text/html",
        "pdf": "application/pdf",
        "stix": "application/stix+json",
        "csv": "text/csv",
    }
    for fmt, media in expected.items():
        response = client.get(f"/api/v1/products/{car.id}/download", params={"format": fmt})
        assert response.status_code == 200, (fmt, response.text[:200])
        assert response.headers["content-type"].startswith(media)
        assert "attachment" in response.headers["content-disposition"]
    assert (
        b"phish-bank"
        in client.get(f"/api/v1/products/{car.id}/download", params={"format": "csv"}).content
    )


def test_acknowledge_needs_the_csrf_token(
    session: Session, client: TestClient, car: Product
) -> None:
    _as(client, session, org="ncb-fr")
    refused = client.post(
        f"/products/{car.id}/acknowledge", data={"csrf_token": "forged"}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert _delivery(session, car).acknowledged_at is None

    token = _token(client, f"/products/{car.id}")
    done = client.post(
        f"/products/{car.id}/acknowledge", data={"csrf_token": token}, follow_redirects=False
    )
    assert (done.status_code, done.headers["location"]) == (
        303,
        f"/products/{car.id}?acknowledged=1",
    )
    assert _delivery(session, car).acknowledged_at is not None
    page = client.get(done.headers["location"]).text
    assert "Receipt acknowledged." in page
    assert "Acknowledge receipt</button>" not in page
    assert 'data-state="acknowledged"' in client.get("/products").text


def test_feedback_per_indicator(session: Session, client: TestClient, car: Product) -> None:
    _as(client, session, org="ncb-fr")
    page = client.get(f"/products/{car.id}").text
    first = _item_ids(page)[0]
    token = _token(client, f"/products/{car.id}")
    refused = client.post(
        f"/products/{car.id}/feedback",
        data={"item_id": first, "outcome": "taken-down", "csrf_token": "forged"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    bad = client.post(
        f"/products/{car.id}/feedback",
        data={"item_id": first, "outcome": "deleted", "csrf_token": token},
    )
    assert bad.status_code == 422
    assert "unknown outcome &#39;deleted&#39;" in bad.text
    no_item = client.post(
        f"/products/{car.id}/feedback", data={"outcome": "investigating", "csrf_token": token}
    )
    assert no_item.status_code == 422
    assert f"is not an item of product {car.id}" in no_item.text

    done = client.post(
        f"/products/{car.id}/feedback",
        data={
            "item_id": first,
            "outcome": "taken-down",
            "comment": "host removed it",
            "csrf_token": token,
        },
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/products/{car.id}?answered={first}#item-{first}"
    row = session.scalars(
        select(ProductFeedback).where(ProductFeedback.product_item_id == first)
    ).one()
    assert (row.outcome, row.comment) == ("taken-down", "host removed it")
    page = client.get(f"/products/{car.id}?answered={first}").text
    assert f"Outcome recorded for indicator {first}." in page
    assert 'data-outcome="taken-down">taken down</td>' in page

    missing = client.post(
        f"/products/{car.id}/feedback",
        data={"item_id": 999999999, "outcome": "investigating", "csrf_token": token},
    )
    assert missing.status_code == 404


def test_another_countrys_officer_gets_the_not_found_page(
    session: Session, client: TestClient, car: Product
) -> None:
    _as(client, session, org="ncb-br")
    assert f'href="/products/{car.id}"' not in client.get("/products").text
    page = client.get(f"/products/{car.id}")
    assert page.status_code == 404
    assert "Not found" in page.text and "phish-bank.fr" not in page.text
    token = _token(client, "/products")
    response = client.post(f"/products/{car.id}/acknowledge", data={"csrf_token": token})
    assert response.status_code == 404
    assert _delivery(session, car).acknowledged_at is None


def test_the_hub_reads_its_register_without_answering(
    session: Session, client: TestClient, car: Product
) -> None:
    _as(client, session, org="hub", role=Role.HUB_ANALYST)
    assert 'data-state="register"' in client.get("/products").text
    page = client.get(f"/products/{car.id}").text
    assert "only its recipient acknowledges it" in page
    assert "Acknowledge receipt</button>" not in page and 'name="outcome"' not in page
    assert _delivery(session, car).read_at is None


def test_the_product_page_speaks_the_readers_language(
    session: Session, client: TestClient, car: Product
) -> None:
    _as(client, session, org="ncb-fr")
    token = _token(client, "/products")
    client.post("/language", data={"lang": "ar", "next": "/products", "csrf_token": token})
    page = client.get(f"/products/{car.id}").text
    assert '<html lang="ar" dir="rtl">' in page
    assert "تأكيد الاستلام</button>" in page
    assert '<option value="taken-down">أُزيل</option>' in page
    token = _token(client, "/products")
    client.post("/language", data={"lang": "fr", "next": "/products", "csrf_token": token})
    listing = client.get("/products").text
    assert f'<a href="/products/{car.id}">Rapport d&#39;activité cyber</a>' in listing
    assert "2 indicateurs" in listing


def test_a_network_report_shows_its_scope_and_no_country(
    session: Session, client: TestClient
) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    today = utcnow().date()
    result = product_service.issue_car(
        session=session,
        actor=product_factory.hub(session),
        car_in=CarIssue(
            since=today - timedelta(days=1),
            until=today + timedelta(days=1),
            network="90.12.34.0/24",
            to="ncb-fr",
        ),
    )
    assert result.product is not None, result.detail
    _as(client, session, org="ncb-fr")
    page = client.get(f"/products/{result.product.id}").text
    assert '<dd data-fact="scope"><code>network:90.12.34.0/24</code></dd>' in page
    assert "<dt>Country</dt>" not in page
    assert "90.12.34.56" in page


def test_the_hub_sees_how_recipients_react_per_country_and_network(
    session: Session, client: TestClient, car: Product
) -> None:
    officer = account_factory.actor(session, org="ncb-fr")
    product_service.acknowledge(session=session, actor=officer, product_id=car.id)
    items = product_service.items(session=session, actor=officer, product_id=car.id)
    product_service.give_feedback(
        session=session,
        actor=officer,
        product_id=car.id,
        feedback_in=FeedbackIn(item_id=items[0].id, outcome="taken-down"),
    )
    _as(client, session, org="hub", role=Role.HUB_ANALYST)
    assert 'href="/products/reaction"' in client.get("/products").text
    page = client.get("/products/reaction").text
    row = re.search(r'<tr data-country="FR">(.*?)</tr>', page, re.S)
    assert row is not None
    cells = re.findall(r'<td class="num"[^>]*>([^<]*)</td>', row.group(1))
    # products, acknowledged, median hours, indicators, with feedback, taken down, rate
    assert cells[0:2] == ["1", "1"]
    assert cells[3:6] == [str(len(items)), "1", "1"]
    assert cells[6] == f"{round(100 / len(items))}%"
    # A period before the report's: nothing delivered about it.
    before = car.period_start.date() - timedelta(days=60)
    earlier = client.get(
        "/products/reaction",
        params={"since": before.isoformat(), "until": (before + timedelta(days=7)).isoformat()},
    ).text
    assert "No product about this period has been delivered yet." in earlier
    assert client.get("/products/reaction", params={"since": "soon"}).status_code == 422


def test_a_recipient_may_not_open_the_reaction_page(session: Session, client: TestClient) -> None:
    _as(client, session, org="ncb-fr")
    assert 'href="/products/reaction"' not in client.get("/products").text
    assert client.get("/products/reaction").status_code == 403


def test_the_hub_issues_a_car_and_an_assessment_from_the_products_page(
    session: Session, client: TestClient
) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    _as(client, session, org="hub", role=Role.HUB_ANALYST)
    token = _token(client, "/products")
    since = (utcnow().date() - timedelta(days=2)).isoformat()
    issued = client.post(
        "/products/cars",
        data={"csrf_token": token, "country": "FR", "since": since},
        follow_redirects=False,
    )
    assert issued.status_code == 303
    product_id = int(issued.headers["location"].rsplit("/", 1)[1])
    car = session.get(Product, product_id)
    assert car is not None and (car.kind, car.country_code) == ("car", "FR")
    again = client.post(
        "/products/cars",
        data={"csrf_token": token, "country": "FR", "since": since},
        follow_redirects=False,
    )
    assert again.headers["location"] == "/products?notice=nothing-new"
    notice = client.get(again.headers["location"]).text
    assert "Nothing new to report for that country and period." in notice
    assessed = client.post(
        "/products/assessments",
        data={"csrf_token": token, "scope": "country", "country": "FR", "since": since},
        follow_redirects=False,
    )
    assert assessed.status_code == 303
    assessment = session.get(Product, int(assessed.headers["location"].rsplit("/", 1)[1]))
    assert assessment is not None
    assert (assessment.kind, assessment.scope) == ("assessment", "country:FR")
    bad = client.post(
        "/products/assessments",
        data={"csrf_token": token, "scope": "country", "country": "FR", "since": "yesterday"},
    )
    assert bad.status_code == 422
    assert (
        '<p class="error card" role="alert">since: Input should be a valid datetime or date'
        in bad.text
    )
    forged = client.post(
        "/products/cars", data={"csrf_token": "forged", "country": "FR", "since": since}
    )
    assert forged.status_code == 403


def test_a_recipient_neither_sees_nor_uses_the_issuing_forms(
    session: Session, client: TestClient
) -> None:
    _as(client, session, org="ncb-fr")
    page = client.get("/products").text
    assert 'action="/products/cars"' not in page
    token = _token(client, "/products")
    refused = client.post(
        "/products/cars", data={"csrf_token": token, "country": "FR", "since": "2026-11-01"}
    )
    assert refused.status_code == 403
