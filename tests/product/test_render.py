"""The formats of a Cyber Activity Report: HTML, PDF, STIX 2.1 (validated) and CSV."""

from __future__ import annotations

import csv
import io

import orjson
import pytest
from sqlalchemy.orm import Session
from stix2validator import ValidationOptions, validate_instance

from cyberfusion.product import render
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product
from cyberfusion.product.schemas import ActionTemplateUpdate, FeedbackIn, ProductFormat
from cyberfusion.sharing.models import TLP_MARKING_IDS
from tests.factories import account as account_factory
from tests.factories import product as product_factory

ROWS = """ipv4-addr,90.12.34.56,c2,80
domain-name,phish-bank.fr,phishing,70
url,http://shop-compromised.fr/wp/x.php,compromised,60
domain-name,x.fr,scam,60
"""


@pytest.fixture
def product(session: Session) -> Product:
    product_factory.submit(session, "partner-northwind", ROWS)
    issued = product_factory.issue(session, "FR").product
    assert issued is not None
    return issued


def test_html_has_groups_actions_defanged_values_and_sources(
    session: Session, product: Product
) -> None:
    html = render.render_html(session=session, product=product)
    assert "Cyber Activity Report: France" in html
    assert "TLP:GREEN" in html
    for text in (
        "Botnet command-and-control servers (1)",
        "Phishing sites (1)",
        "Compromised websites (1)",
        "Scam infrastructure (1)",
        "Recommended national action",
        "Why it matters",
        "Northwind Threat Research (demo partner) (partner-northwind)",
        "90[.]12[.]34[.]56",
        "phish-bank[.]fr",
        "hxxp://shop-compromised[.]fr/wp/x[.]php",
        product.content_hash,
    ):
        assert text in html, text
    assert "phish-bank.fr" not in html
    assert "http://" not in html.replace("hxxp://", "")


def test_html_escapes_what_the_data_says(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", "domain-name,evil-c2.fr,c2,80\n")
    hub = product_factory.hub(session)
    product_service.update_template(
        session=session,
        actor=hub,
        threat_group="botnet-c2",
        template_in=ActionTemplateUpdate(
            title="C2 <b>servers</b>", why_it_matters="<img src=x>", actions=["<script>x</script>"]
        ),
    )
    issued = product_factory.issue(session, "FR").product
    assert issued is not None
    html = render.render_html(session=session, product=issued)
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<img src=x>" not in html


def test_pdf_is_a_pdf_of_the_report(session: Session, product: Product) -> None:
    rendered = render.render(session=session, product=product, fmt=ProductFormat.PDF)
    assert rendered.content.startswith(b"%PDF-")
    assert rendered.media_type == "application/pdf"
    assert rendered.filename.startswith("car-fr-") and rendered.filename.endswith("-v1.pdf")
    assert len(rendered.content) > 5000


def test_stix_bundle_has_a_valid_report_with_references_and_tlp(
    session: Session, product: Product
) -> None:
    rendered = render.render(session=session, product=product, fmt=ProductFormat.STIX)
    bundle = orjson.loads(rendered.content)
    result = validate_instance(bundle, ValidationOptions(version="2.1"))
    assert result.is_valid is True, [str(e) for e in result.errors]
    report = bundle["objects"][0]
    assert report["type"] == "report"
    assert report["object_marking_refs"] == [TLP_MARKING_IDS["green"]]
    indicators = [o for o in bundle["objects"] if o["type"] == "indicator"]
    assert len(indicators) == 4
    assert report["object_refs"] == sorted(o["id"] for o in indicators)
    assert all(o["object_marking_refs"] == [TLP_MARKING_IDS["green"]] for o in indicators)
    markings = [o for o in bundle["objects"] if o["type"] == "marking-definition"]
    assert [m["name"] for m in markings] == ["TLP:GREEN"]
    again = render.render(session=session, product=product, fmt=ProductFormat.STIX)
    assert again.content == rendered.content


def test_csv_has_one_row_per_item_with_its_item_id(session: Session, product: Product) -> None:
    text = render.render_csv(session=session, product=product)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == list(render.CSV_COLUMNS)
    assert [(r["group"], r["value"]) for r in rows] == [
        ("botnet-c2", "90.12.34.56"),
        ("phishing", "phish-bank.fr"),
        ("compromised-websites", "http://shop-compromised.fr/wp/x.php"),
        ("scam-infrastructure", "x.fr"),
    ]
    assert all(r["item_id"].isdigit() and r["product_id"] == str(product.id) for r in rows)
    assert rows[0]["network"] == "Orange"
    assert rows[0]["reasons"] == "hosted-in"
    assert (rows[0]["reliability"], rows[0]["credibility"], rows[0]["tlp"]) == ("B", "2", "green")


def test_defang() -> None:
    assert render.defang("url", "https://a.b/c") == "hxxps://a[.]b/c"
    assert render.defang("sha256", "ab.cd") == "ab.cd"
    assert render.defang("phone-number", "+33.1") == "+33.1"


def test_html_lists_a_bounded_number_per_group_and_says_where_the_rest_is(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    product_factory.submit(
        session, "partner-northwind", "domain-name,c2-a.fr,c2,80\ndomain-name,c2-b.fr,c2,80\n"
    )
    issued = product_factory.issue(session, "FR").product
    assert issued is not None
    monkeypatch.setattr(render, "LISTED_PER_GROUP", 1)
    html = render.render_html(session=session, product=issued)
    assert "c2-a[.]fr" in html
    assert "c2-b[.]fr" not in html
    assert "The first 1 of 2 indicators of this group are listed here" in html
    assert "c2-b.fr" in render.render_csv(session=session, product=issued)


def test_feedback_of_activity_seen_is_a_valid_bundle_of_sightings(
    session: Session, product: Product
) -> None:
    officer = account_factory.actor(session, org="ncb-fr")
    items = product_service.items(session=session, actor=officer, product_id=product.id)
    for item, outcome in zip(items, ("taken-down", "acknowledged", "investigating"), strict=False):
        product_service.give_feedback(
            session=session,
            actor=officer,
            product_id=product.id,
            feedback_in=FeedbackIn(item_id=item.id, outcome=outcome, comment="by the unit"),
        )
    bundle = render.render_feedback_stix(session=session, product=product)
    result = validate_instance(bundle, ValidationOptions(version="2.1"))
    assert result.is_valid is True, [str(e) for e in result.errors]
    sightings = [o for o in bundle["objects"] if o["type"] == "sighting"]
    assert [(s["sighting_of_ref"], s["labels"]) for s in sightings] == [
        (items[0].stix_id, ["taken-down"]),
        (items[2].stix_id, ["investigating"]),
    ]
    (identity,) = [o for o in bundle["objects"] if o["type"] == "identity"]
    assert identity["name"] == "NCB France"
    assert all(s["where_sighted_refs"] == [identity["id"]] for s in sightings)
    assert sightings[0]["description"] == "by the unit"
