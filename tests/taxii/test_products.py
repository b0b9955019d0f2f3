"""The TAXII collection of the products delivered to an organisation: who sees it, that its
content is the products' STIX download, filters, paging, versions, and reading recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.time import utcnow
from cyberfusion.product import render
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product, ProductDelivery
from cyberfusion.product.schemas import CarIssue
from cyberfusion.taxii.service import CollectionKind, collection_id
from tests.factories import account as account_factory
from tests.factories import product as product_factory

TAXII = "application/taxii+json;version=2.1"
PRODUCTS_FR = collection_id(CollectionKind.PRODUCTS, "ncb-fr")
BASE = f"/taxii2/community/collections/{PRODUCTS_FR}"
ROWS = """ipv4-addr,90.12.34.56,c2,80
domain-name,phish-bank.fr,phishing,70
"""


def _headers(session: Session, org: str = "ncb-fr", role: Role = Role.OFFICER) -> dict[str, str]:
    user = account_factory.user(session, org=org, role=role)
    return {
        "Accept": TAXII,
        "Authorization": f"Bearer {account_factory.api_key(session, user)}",
    }


def _issue(session: Session) -> Product:
    # One start of period for both products, so that the second is version 2 of the first.
    today = utcnow().date()
    result = product_service.issue_car(
        session=session,
        actor=product_factory.hub(session),
        car_in=CarIssue(country="FR", since=today - timedelta(days=1), until=today + timedelta(1)),
    )
    assert result.product is not None and result.issued
    return result.product


def _bundle(session: Session, product: Product) -> list[dict[str, Any]]:
    """The objects of the product's STIX download."""
    rendered = render.render(session=session, product=product, fmt=render.ProductFormat.STIX)
    objects: list[dict[str, Any]] = orjson.loads(rendered.content)["objects"]
    return objects


@pytest.fixture
def two_products(session: Session) -> tuple[Product, Product]:
    product_factory.submit(session, "partner-northwind", ROWS)
    first = _issue(session)
    product_factory.submit(session, "partner-northwind", "domain-name,new-c2.fr,c2,80\n")
    second = _issue(session)
    return first, second


def _get(client: TestClient, headers: dict[str, str], path: str, **params: str) -> Any:
    response = client.get(f"{BASE}/{path}", headers=headers, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_only_the_recipients_members_see_it_and_it_is_read_only(
    client: TestClient, session: Session, two_products: tuple[Product, Product]
) -> None:
    fr = _headers(session)
    listed = client.get("/taxii2/community/collections/", headers=fr).json()["collections"]
    products = [c for c in listed if c["alias"] == "products-ncb-fr"]
    assert products == [
        {
            "id": PRODUCTS_FR,
            "title": "Products for NCB France",
            "description": products[0]["description"],
            "alias": "products-ncb-fr",
            "can_read": True,
            "can_write": False,
            "media_types": ["application/stix+json;version=2.1"],
        }
    ]
    # Another organisation, the hub that issued them included: no such collection.
    for org, role in (("ncb-ng", Role.OFFICER), ("hub", Role.HUB_ANALYST)):
        other = _headers(session, org, role)
        aliases = [
            c["alias"]
            for c in client.get("/taxii2/community/collections/", headers=other).json()[
                "collections"
            ]
        ]
        assert "products-ncb-fr" not in aliases
        for path in ("", "objects/", "manifest/"):
            response = client.get(f"{BASE}/{path}", headers=other)
            assert response.status_code == 404, (org, path)
    add = client.post(
        f"{BASE}/objects/",
        headers={**fr, "Content-Type": TAXII},
        content=orjson.dumps({"objects": [_bundle(session, two_products[0])[0]]}),
    )
    assert add.status_code == 403
    assert "is read-only" in add.json()["description"]


def test_objects_are_the_stix_downloads_of_the_products(
    client: TestClient, session: Session, two_products: tuple[Product, Product]
) -> None:
    first, second = two_products
    fr = _headers(session)
    every = _get(client, fr, "objects/", **{"match[version]": "all"})["objects"]
    expected: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for product in (first, second):
        for obj in _bundle(session, product):
            key = (obj["id"], obj.get("modified", obj.get("created")))
            if key not in seen:
                seen.add(key)
                expected.append(obj)
    assert every == expected
    # The second product's own objects: its report, its identity version, its new record.
    assert [o["type"] for o in expected[len(_bundle(session, first)) :]] == [
        "report",
        "identity",
        "indicator",
    ]
    # By default the last version of each object: one identity, the issuer's latest.
    last = _get(client, fr, "objects/")["objects"]
    identities = [o for o in last if o["type"] == "identity"]
    assert [i["created"] for i in identities] == [
        o["created"] for o in _bundle(session, second) if o["type"] == "identity"
    ]
    assert len(last) == len(every) - 1


def test_filters_paging_manifest_versions_and_object_by_id(
    client: TestClient, session: Session, two_products: tuple[Product, Product]
) -> None:
    first, second = two_products
    fr = _headers(session)
    reports = _get(client, fr, "objects/", **{"match[type]": "report"})["objects"]
    assert [r["name"] for r in reports] == ["Cyber Activity Report: France"] * 2
    report_id = _bundle(session, second)[0]["id"]
    assert [r["id"] for r in reports] == [_bundle(session, first)[0]["id"], report_id]
    by_id = _get(client, fr, "objects/", **{"match[id]": report_id})["objects"]
    assert by_id == [_bundle(session, second)[0]]
    one = _get(client, fr, f"objects/{report_id}/")["objects"]
    assert one == [_bundle(session, second)[0]]
    missing = client.get(
        f"{BASE}/objects/report--00000000-0000-4000-8000-000000000000/", headers=fr
    )
    assert missing.status_code == 404

    every = _get(client, fr, "objects/", **{"match[version]": "all"})["objects"]
    pages: list[list[str]] = []
    params = {"match[version]": "all", "limit": "4"}
    while True:
        response = client.get(f"{BASE}/objects/", headers=fr, params=params)
        body = response.json()
        pages.append([o["id"] for o in body["objects"]])
        if not body["more"]:
            break
        params["next"] = body["next"]
    assert [i for page in pages for i in page] == [o["id"] for o in every]
    assert [len(page) for page in pages[:-1]] == [4] * (len(pages) - 1)

    manifest = _get(client, fr, "manifest/", **{"match[version]": "all"})["objects"]
    assert [m["id"] for m in manifest] == [o["id"] for o in every]
    assert {m["media_type"] for m in manifest} == {"application/stix+json;version=2.1"}
    delivered = {
        p.id: at for p, at in product_service.delivered(session=session, actor=_actor(session))
    }
    second_added = manifest[-1]["date_added"]
    assert second_added == delivered[second.id].strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    first_added = manifest[0]["date_added"]
    newer = _get(client, fr, "objects/", added_after=first_added)["objects"]
    assert [o["type"] for o in newer] == ["report", "identity", "indicator"]

    identity_id = _bundle(session, first)[1]["id"]
    versions = _get(client, fr, f"objects/{identity_id}/versions/")["versions"]
    assert versions == [
        _bundle(session, first)[1]["created"],
        _bundle(session, second)[1]["created"],
    ]


def _actor(session: Session) -> Any:
    return account_factory.actor(session, org="ncb-fr", role=Role.OFFICER)


def test_reading_objects_records_the_delivery_as_read(
    client: TestClient, session: Session, two_products: tuple[Product, Product]
) -> None:
    first, second = two_products
    fr = _headers(session)

    def read_at() -> list[object]:
        session.expire_all()
        return [
            session.scalars(
                select(ProductDelivery.read_at).where(ProductDelivery.product_id == p.id)
            ).one()
            for p in (first, second)
        ]

    _get(client, fr, "manifest/")
    assert read_at() == [None, None]
    _get(client, fr, "objects/", **{"match[type]": "report", "limit": "1"})
    first_read, second_read = read_at()
    assert first_read is not None and second_read is None
    _get(client, fr, "objects/")
    assert None not in read_at()
