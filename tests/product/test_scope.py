"""Cyber Activity Reports of an autonomous system or a network (CIDR range): content, recipient,
versions per scope, formats, and bad input through the service, REST and the CLI."""

from __future__ import annotations

import csv
import io
import ipaddress
import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_string

from cyberfusion.account.permissions import Role
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.product import render
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product, ProductDelivery
from cyberfusion.product.schemas import CarIssue, ProductFormat
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn
from tests.factories import account as account_factory
from tests.factories import product as product_factory

# Public addresses (documentation ranges are flagged as noise and never enter a product).
ROWS = """ipv4-addr,90.12.34.56,c2,80
ipv4-addr,90.12.35.7,malware,70
ipv4-addr,90.12.34.0/28,c2,60
ipv4-addr,90.12.40.1,phishing,70
ipv4-addr,80.1.1.1,c2,70
ipv6-addr,2a01:cb00:1:2::5,c2,70
ipv6-addr,2a01:cb01::9,c2,70
domain-name,phish-bank.fr,phishing,70
"""


def _values(product: Product) -> list[str]:
    return sorted(item["value"] for group in product.document["groups"] for item in group["items"])


def _issue(session: Session, **scope: Any) -> product_service.IssueResult:
    # One period for every report of a test: versions count per start of period.
    today = utcnow().date()
    return product_service.issue_car(
        session=session,
        actor=product_factory.hub(session),
        car_in=CarIssue(since=today - timedelta(days=1), until=today + timedelta(days=1), **scope),
    )


def _indicator(pattern: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-11-02T10:00:00.000Z",
        "modified": "2026-11-02T10:00:00.000Z",
        "name": "C2 server",
        "indicator_types": ["malicious-activity"],
        "pattern": pattern,
        "pattern_type": "stix",
        "valid_from": "2026-11-02T10:00:00Z",
    }


def _submit_bundle(session: Session, org: str, objects: list[dict[str, Any]]) -> None:
    """`org` (a partner) reports STIX objects; the hub validates them."""
    actor = account_factory.actor(session, org=org, role=Role.PARTNER_ANALYST)
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    result = intake_service.submit(
        session=session,
        actor=actor,
        raw=json.dumps(bundle).encode(),
        options=SubmissionOptions(
            source_format=SourceFormat.STIX,
            labels=LabelsIn(tlp="green", audience="community"),
            evaluation=EvaluationIn(reliability="B", credibility=2, confidence=70),
        ),
    )
    assert result.rejected == 0, result.results
    intel_service.validate_submission(
        session=session,
        actor=product_factory.hub(session),
        submission_id=result.id,
        decision="validated",
    )


# --------------------------------------------------------------------------- the index ranges


@pytest.mark.parametrize(
    ("network", "prefixes"),
    [
        ("90.12.34.0/24", ["90.12.34."]),
        ("90.12.32.0/21", [f"90.12.{n}." for n in range(32, 40)]),
        ("90.12.34.16/28", [f"90.12.34.{n}" for n in range(16, 32)]),
        ("90.12.34.56/32", ["90.12.34.56"]),
        ("90.0.0.0/8", ["90."]),
        ("0.0.0.0/0", [""]),
        ("2a01:cb00::/32", ["2a01:cb00:"]),
        ("2a01:cb00:0:5::/64", ["2a01:cb00:"]),
        ("2a01:cb00:1:2::5/128", ["2a01:cb00:1:2:"]),
        ("2a01::/20", ["2a01:"]),
        ("::/0", [""]),
    ],
)
def test_text_prefixes_cover_the_range(network: str, prefixes: list[str]) -> None:
    assert product_service.text_prefixes(ipaddress.ip_network(network)) == prefixes


def test_every_address_inside_starts_with_a_prefix() -> None:
    for network in ("90.12.32.0/21", "2a01:cb00::/32", "2a01:cb00:1:2::/64", "90.12.34.16/28"):
        net = ipaddress.ip_network(network)
        prefixes = product_service.text_prefixes(net)
        step = max(1, net.num_addresses // 500)
        for index in range(0, net.num_addresses, step):
            text = str(net[index])
            assert any(text.startswith(p) for p in prefixes), (network, text)


# --------------------------------------------------------------------------- the service


def test_network_report_holds_the_addresses_and_blocks_inside_for_the_named_recipient(
    session: Session,
) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    result = _issue(session, network="90.12.32.0/21", to="cert-fr")
    product = result.product
    assert product is not None and result.issued is True
    assert _values(product) == ["90.12.34.0/28", "90.12.34.56", "90.12.35.7"]
    assert (product.scope, product.country_code, product.item_count) == (
        "network:90.12.32.0/21",
        None,
        3,
    )
    doc = product.document
    assert doc["title"] == "Cyber Activity Report: network 90.12.32.0/21"
    assert doc["scope"] == {
        "kind": "network",
        "value": "90.12.32.0/21",
        "name": "network 90.12.32.0/21",
    }
    assert "country" not in doc
    assert {item["reasons"][0] for g in doc["groups"] for item in g["items"]} == {
        "in 90.12.32.0/21"
    }
    cert_fr = product_service._recipient(session, "cert-fr")
    delivery = session.scalars(
        select(ProductDelivery).where(ProductDelivery.product_id == product.id)
    ).one()
    assert delivery.recipient_org_id == cert_fr.id == product.recipient_org_id


def test_ipv6_network_report(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    product = _issue(session, network="2a01:cb00::/32", to="ncb-fr").product
    assert product is not None
    assert _values(product) == ["2a01:cb00:1:2::5"]
    assert product.scope == "network:2a01:cb00::/32"


def test_asn_report_holds_the_addresses_records_state_with_the_as(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    _submit_bundle(
        session,
        "partner-northwind",
        [
            _indicator("[ipv4-addr:value = '90.12.34.56' AND autonomous-system:number = 3215]"),
            _indicator("[ipv6-addr:value = '2a01:cb01::9' AND autonomous-system:number = 3215]"),
            _indicator("[ipv4-addr:value = '80.1.1.1' AND autonomous-system:number = 5089]"),
            _indicator("[autonomous-system:number = 3215]"),
            # A name in the same record is not the AS's address.
            _indicator("[domain-name:value = 'c2.example.fr' AND autonomous-system:number = 3215]"),
        ],
    )
    product = _issue(session, asn=3215, to="ncb-fr").product
    assert product is not None
    # One item per (value, record): the AS as each of the four records reports it.
    assert _values(product) == ["2a01:cb01::9", "90.12.34.56", *["AS3215"] * 4]
    assert product.scope == "asn:AS3215"
    assert product.document["title"] == "Cyber Activity Report: AS3215"
    reasons = {
        item["value"]: item["reasons"]
        for group in product.document["groups"]
        for item in group["items"]
    }
    assert reasons["90.12.34.56"] == ["reported with AS3215"]
    assert reasons["AS3215"] == ["the AS"]
    assert _issue(session, asn=64999, to="ncb-fr").product is None


def test_the_recipient_bounds_the_content(session: Session) -> None:
    # Named for France's NCB and the hub: CERT-FR may not read it.
    product_factory.submit(
        session,
        "ncb-ng",
        "ipv4-addr,90.12.36.1,c2,70\n",
        LabelsIn(tlp="amber", audience="organisations", recipients=["ncb-fr", "hub"]),
    )
    # Shared with Nigeria's law enforcement only: CERT-FR may not read it.
    product_factory.submit(
        session,
        "ncb-ng",
        "ipv4-addr,90.12.37.1,c2,70\n",
        LabelsIn(tlp="amber", audience="country"),
    )
    product_factory.submit(
        session,
        "ncb-ng",
        "ipv4-addr,90.12.38.1,c2,70\n",
        LabelsIn(tlp="amber", audience="organisations", recipients=["cert-fr", "hub"]),
    )
    product = _issue(session, network="90.12.32.0/21", to="cert-fr").product
    assert product is not None
    assert _values(product) == ["90.12.38.1"]
    assert product.tlp == "amber"


def test_versions_and_nothing_new_count_per_scope(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    country = product_factory.issue(session, "FR").product
    first = _issue(session, network="90.12.34.0/24", to="ncb-fr")
    other = _issue(session, network="90.12.35.0/24", to="ncb-fr")
    assert country is not None and first.product is not None and other.product is not None
    # Same recipient and period, three scopes: three first versions.
    assert [country.version, first.product.version, other.product.version] == [1, 1, 1]
    again = _issue(session, network="90.12.34.0/24", to="ncb-fr")
    assert (again.issued, again.product) == (False, first.product)
    assert again.detail.startswith(f"nothing new since product {first.product.id}")
    product_factory.submit(session, "partner-northwind", "ipv4-addr,90.12.34.99,c2,70\n")
    second = _issue(session, network="90.12.34.0/24", to="ncb-fr")
    assert second.product is not None
    assert (second.issued, second.product.version) == (True, 2)
    assert _values(second.product) == ["90.12.34.0/28", "90.12.34.56", "90.12.34.99"]


def test_bad_requests_say_what_is_wrong(session: Session) -> None:
    since = utcnow().date()
    cases = [
        ({"network": "90.12.34.7/24", "to": "cert-fr"}, "has host bits set"),
        ({"network": "not-a-network", "to": "cert-fr"}, "is not a CIDR range"),
        ({"network": "90.12.34.0/24"}, "name the recipient organisation in `to`"),
        ({"asn": 3215}, "name the recipient organisation in `to`"),
        ({"country": "FR", "asn": 3215, "to": "cert-fr"}, "exactly one of country, asn"),
        ({}, "exactly one of country, asn and network"),
        ({"country": "FR", "to": "cert-fr"}, "goes to its NCB"),
        ({"asn": 0, "to": "cert-fr"}, "greater than or equal to 1"),
    ]
    for fields, message in cases:
        with pytest.raises(ValidationError, match=message):
            CarIssue(since=since, **fields)
    with pytest.raises(ValidationFailed, match="no active organisation with slug 'nobody'"):
        _issue(session, asn=3215, to="nobody")


def test_every_format_names_the_scope(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    product = _issue(session, network="90.12.32.0/21", to="cert-fr").product
    assert product is not None
    html = render.render_html(session=session, product=product)
    assert "<title>Cyber Activity Report: network 90.12.32.0/21 (TLP:GREEN)</title>" in html
    assert "<td>Network</td><td>90.12.32.0/21</td>" in html
    bundle = render.render_stix(session=session, product=product)
    report = bundle["objects"][0]
    assert report["name"] == "Cyber Activity Report: network 90.12.32.0/21"
    assert report["description"].startswith("Cyber Activity Report for network 90.12.32.0/21, ")
    results = validate_string(json.dumps(bundle), ValidationOptions(strict=False))
    assert results.is_valid, [str(e) for o in results.object_results for e in o.errors]
    rows = list(csv.DictReader(io.StringIO(render.render_csv(session=session, product=product))))
    assert {row["scope"] for row in rows} == {"network:90.12.32.0/21"}
    pdf = render.render(session=session, product=product, fmt=ProductFormat.PDF)
    assert pdf.content.startswith(b"%PDF-")
    assert pdf.filename.startswith("car-90.12.32.0-21-")
    asn_product = None
    _submit_bundle(
        session,
        "partner-northwind",
        [_indicator("[ipv4-addr:value = '90.12.34.56' AND autonomous-system:number = 3215]")],
    )
    asn_product = _issue(session, asn=3215, to="ncb-fr").product
    assert asn_product is not None
    assert render.filename(asn_product, ProductFormat.CSV).startswith("car-as3215-")
    assert "<td>Autonomous system</td><td>AS3215</td>" in render.render_html(
        session=session, product=asn_product
    )


# --------------------------------------------------------------------------- REST and CLI


def _key(session: Session, org: str, role: Role) -> dict[str, str]:
    user = account_factory.user(session, org=org, role=role)
    return {"Authorization": f"Bearer {account_factory.api_key(session, user)}"}


def test_rest_issues_network_and_asn_reports_and_refuses_bad_input(
    client: TestClient, session: Session
) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    hub = _key(session, "hub", Role.HUB_ANALYST)
    since = utcnow().date().isoformat()
    response = client.post(
        "/api/v1/products/car",
        headers=hub,
        json={"network": "90.12.32.0/21", "to": "cert-fr", "since": since},
    )
    assert response.status_code == 201, response.text
    product = response.json()["product"]
    assert (product["scope"], product["country"], product["recipient"], product["item_count"]) == (
        "network:90.12.32.0/21",
        None,
        "cert-fr",
        3,
    )
    cert = _key(session, "cert-fr", Role.PARTNER_ANALYST)
    inbox = client.get("/api/v1/products/inbox", headers=cert).json()
    assert [p["id"] for p in inbox] == [product["id"]]
    # Another organisation does not learn it exists.
    other = _key(session, "ncb-fr", Role.OFFICER)
    assert client.get(f"/api/v1/products/{product['id']}", headers=other).status_code == 404

    bad = client.post(
        "/api/v1/products/car",
        headers=hub,
        json={"network": "90.12.34.7/24", "to": "cert-fr", "since": since},
    )
    assert bad.status_code == 422
    assert "has host bits set" in bad.text
    missing = client.post("/api/v1/products/car", headers=hub, json={"asn": 3215, "since": since})
    assert missing.status_code == 422
    assert "name the recipient organisation in `to`" in missing.text
    unknown = client.post(
        "/api/v1/products/car", headers=hub, json={"asn": 3215, "to": "nobody", "since": since}
    )
    assert unknown.status_code == 422
    assert "no active organisation with slug 'nobody'" in unknown.text
    nothing = client.post(
        "/api/v1/products/car", headers=hub, json={"asn": 3215, "to": "cert-fr", "since": since}
    )
    assert nothing.status_code == 200
    assert nothing.json() == {
        "issued": False,
        "detail": nothing.json()["detail"],
        "product": None,
    }
    assert nothing.json()["detail"].startswith("nothing to report for AS3215")


def test_cli_writes_network_and_asn_reports(  # type: ignore[no-untyped-def]
    cli, session: Session, tmp_path: Path
) -> None:
    product_factory.submit(session, "partner-northwind", ROWS)
    since = utcnow().date().isoformat()
    target = tmp_path / "net.stix.json"
    result = cli(
        "report", "car", "--network", "90.12.32.0/21", "--to", "cert-fr",
        "--since", since, "--format", "stix", "--out", str(target),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = orjson.loads(target.read_bytes())
    assert bundle["objects"][0]["name"] == "Cyber Activity Report: network 90.12.32.0/21"
    assert "90.12.32.0/21: issued product" in result.output

    _submit_bundle(
        session,
        "partner-northwind",
        [_indicator("[ipv4-addr:value = '90.12.34.56' AND autonomous-system:number = 3215]")],
    )
    csv_target = tmp_path / "as.csv"
    result = cli(
        "report", "car", "--asn", "3215", "--to", "ncb-fr",
        "--since", since, "--format", "csv", "--out", str(csv_target),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(csv_target.read_text())))
    assert [(r["scope"], r["value"]) for r in rows] == [
        ("asn:AS3215", "AS3215"),
        ("asn:AS3215", "90.12.34.56"),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--network", "90.12.34.7/24", "--to", "cert-fr"], "has host bits set"),
        (["--network", "90.12.34.0/24"], "name the recipient organisation in `to`"),
        (["--asn", "3215", "--network", "90.12.34.0/24", "--to", "x"], "give a country code"),
        (["FR", "--asn", "3215"], "give a country code or --all"),
        (["--asn", "3215", "--to", "nobody"], "no active organisation with slug 'nobody'"),
    ],
)
def test_cli_bad_scope_exits_2_naming_the_problem(  # type: ignore[no-untyped-def]
    cli, tmp_path: Path, args: list[str], message: str
) -> None:
    target = tmp_path / "x.html"
    result = cli("report", "car", *args, "--since", "2026-01-01", "--out", str(target))
    assert result.exit_code == 2, result.output
    assert message in " ".join(result.output.split())
    assert not target.exists()
