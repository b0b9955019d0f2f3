"""Cyber Activity Reports on the database: content, routing, sharing, versions, inbox, feedback."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.errors import NotFound, PermissionDenied, ValidationFailed
from cyberfusion.core.time import utcnow
from cyberfusion.intel.models import IntelObject
from cyberfusion.notification.models import Notification
from cyberfusion.product import service as product_service
from cyberfusion.product.models import Product, ProductDelivery, ProductItem
from cyberfusion.product.schemas import ActionTemplateUpdate, CarIssue, FeedbackIn
from cyberfusion.sharing.models import SharingLabel
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory
from tests.factories import product as product_factory

FR_ROWS = """ipv4-addr,90.12.34.56,c2,80
domain-name,phish-bank.fr,phishing,70
url,http://shop-compromised.fr/wp/x.php,compromised,60
domain-name,scam-invest.de,scam,60
"""


def _values(product: Product) -> dict[str, list[str]]:
    return {
        group["key"]: [item["value"] for item in group["items"]]
        for group in product.document["groups"]
    }


def _audit(session: Session, action: str) -> list[AuditEntry]:
    return list(
        session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
        )
    )


def test_car_groups_the_countrys_records_with_actions_figures_and_sources(
    session: Session,
) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    result = product_factory.issue(session, "FR")
    assert result.issued is True
    product = result.product
    assert product is not None
    assert _values(product) == {
        "botnet-c2": ["90.12.34.56"],
        "phishing": ["phish-bank.fr"],
        "compromised-websites": ["http://shop-compromised.fr/wp/x.php"],
    }
    doc = product.document
    c2 = doc["groups"][0]
    assert c2["title"] == "Botnet command-and-control servers"
    assert c2["why_it_matters"].startswith("Command-and-control servers")
    assert len(c2["actions"]) == 4
    assert c2["items"][0]["reasons"] == ["hosted-in"]
    assert c2["items"][0]["network"] == "Orange"
    assert doc["summary"]["items"] == 3
    assert doc["summary"]["groups"] == {"botnet-c2": 1, "phishing": 1, "compromised-websites": 1}
    assert doc["summary"]["top_networks"] == [{"as_organisation": "Orange", "items": 1}]
    assert doc["sources"] == [
        {
            "org": "partner-northwind",
            "name": "Northwind Threat Research (demo partner)",
            "kind": "private_partner",
            "records": 3,
            "items": 3,
            "reliability": {"B": 3},
            "credibility": {"2": 3},
            "mean_confidence": 70.0,
        }
    ]
    assert (product.kind, product.version, product.country_code, product.tlp) == (
        "car",
        1,
        "FR",
        "green",
    )
    assert product.item_count == 3
    assert len(product.content_hash) == 64


def test_the_product_is_labelled_for_its_recipient_registered_delivered_notified_audited(
    session: Session,
) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    product = product_factory.issue(session, "FR").product
    assert product is not None
    label = session.get(SharingLabel, product.label_id)
    assert label is not None
    ncb_fr = product_service.national_bureau(session=session, country_code="FR")
    assert (label.tlp, label.audience, label.recipient_org_ids) == (
        "green",
        "organisations",
        [ncb_fr.id],
    )
    delivery = session.scalars(
        select(ProductDelivery).where(ProductDelivery.product_id == product.id)
    ).one()
    assert (delivery.recipient_org_id, delivery.read_at, delivery.acknowledged_at) == (
        ncb_fr.id,
        None,
        None,
    )
    notice = session.scalars(
        select(Notification).where(
            Notification.recipient_org_id == ncb_fr.id, Notification.kind == "product"
        )
    ).one()
    assert notice.payload == {"product_id": product.id, "kind": "car", "version": 1}
    entry = _audit(session, "product.issue")[-1]
    assert entry.target_id == str(product.id)
    assert entry.details["content_hash"] == product.content_hash
    assert entry.details["recipient"] == "ncb-fr"
    items = session.scalar(
        select(func.count()).select_from(ProductItem).where(ProductItem.product_id == product.id)
    )
    assert items == 3


def test_nothing_to_report_issues_nothing(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    before = session.scalar(select(func.count()).select_from(Product))
    result = product_factory.issue(session, "JP")
    assert (result.issued, result.product) == (False, None)
    assert result.detail.startswith("nothing to report for JP")
    assert session.scalar(select(func.count()).select_from(Product)) == before


def test_unvalidated_records_stay_out_until_validated(session: Session) -> None:
    submission = product_factory.submit(session, "partner-northwind", FR_ROWS, validate=False)
    assert product_factory.issue(session, "FR").product is None
    from cyberfusion.intel import service as intel_service

    intel_service.validate_submission(
        session=session,
        actor=product_factory.hub(session),
        submission_id=submission.id,
        decision="validated",
    )
    product = product_factory.issue(session, "FR").product
    assert product is not None
    assert product.item_count == 3


def test_noise_and_old_reports_stay_out(session: Session) -> None:
    # 62.210.16.6 is on a warninglist (VPN and datacentre addresses).
    product_factory.submit(session, "partner-northwind", "ipv4-addr,62.210.16.6,c2,80\n")
    assert product_factory.issue(session, "FR").product is None
    product_factory.submit(session, "partner-northwind", "domain-name,old-c2.fr,c2,80\n")
    now = utcnow()
    old = product_service.issue_car(
        session=session,
        actor=product_factory.hub(session),
        car_in=CarIssue(country="FR", since=now - timedelta(days=30), until=now - timedelta(1)),
    )
    assert old.product is None


def test_only_records_the_recipient_and_the_hub_may_read_enter(session: Session) -> None:
    # Readable by both: members, AMBER.
    product_factory.submit(
        session,
        "ncb-ng",
        "domain-name,members-c2.fr,c2,80\n",
        LabelsIn(tlp="amber", audience="members"),
    )
    # Nigeria's alone: FR's NCB may not read it.
    product_factory.submit(session, "ncb-ng", "domain-name,own-c2.fr,c2,80\n", LabelsIn())
    # RED to FR's NCB only: the hub may not read it, so it cannot keep it in its register.
    product_factory.submit(
        session,
        "ncb-ng",
        "domain-name,red-c2.fr,c2,80\n",
        LabelsIn(tlp="red", audience="organisations", recipients=["ncb-fr"]),
    )
    # French law enforcement only (country audience): not the hub's to pass on.
    product_factory.submit(
        session,
        "fr-cyber-unit",
        "domain-name,national-c2.fr,c2,80\n",
        LabelsIn(tlp="amber", audience="country"),
    )
    product = product_factory.issue(session, "FR").product
    assert product is not None
    assert _values(product) == {"botnet-c2": ["members-c2.fr"]}
    assert product.tlp == "amber"


def test_the_strictest_marking_and_handling_of_the_content_carry_over(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", "domain-name,green-c2.fr,c2,80\n")
    product_factory.submit(
        session,
        "ncb-ng",
        "domain-name,strict-c2.fr,c2,80\n",
        LabelsIn(
            tlp="amber+strict",
            audience="organisations",
            recipients=["ncb-fr", "hub"],
            no_judicial_use=True,
        ),
    )
    product = product_factory.issue(session, "FR").product
    assert product is not None
    assert product.tlp == "amber+strict"
    assert product.document["handling"] == {
        "no_further_dissemination": False,
        "no_judicial_use": True,
        "contact_owner_before_action": False,
    }
    label = session.get(SharingLabel, product.label_id)
    assert label is not None
    assert (label.tlp, label.no_judicial_use) == ("amber+strict", True)


def test_a_countrys_own_report_elsewhere_goes_to_the_other_country(session: Session) -> None:
    # Reported by France, about a German domain: Germany's business, not France's.
    product_factory.submit(
        session, "ncb-fr", "domain-name,bad-shop.de,scam,70\n", LabelsIn(audience="members")
    )
    assert product_factory.issue(session, "FR").product is None
    german = product_factory.issue(session, "DE").product
    assert german is not None
    assert _values(german) == {"scam-infrastructure": ["bad-shop.de"]}
    assert german.document["groups"][0]["items"][0]["reasons"] == ["cctld-of"]


def test_same_content_is_issued_once_and_new_content_is_a_new_version(session: Session) -> None:
    hub = product_factory.hub(session)
    now = utcnow()
    car_in = CarIssue(country="FR", since=now - timedelta(days=1), until=now + timedelta(hours=1))
    product_factory.submit(session, "partner-northwind", "domain-name,first-c2.fr,c2,80\n")
    first = product_service.issue_car(session=session, actor=hub, car_in=car_in)
    again = product_service.issue_car(session=session, actor=hub, car_in=car_in)
    assert (first.issued, again.issued) == (True, False)
    assert first.product is not None and again.product is not None
    assert again.product.id == first.product.id
    product_factory.submit(session, "partner-northwind", "domain-name,second-c2.fr,c2,80\n")
    second = product_service.issue_car(session=session, actor=hub, car_in=car_in)
    assert second.issued is True
    assert second.product is not None
    assert (second.product.version, second.product.item_count) == (2, 2)
    assert second.product.content_hash != first.product.content_hash


def test_issuing_needs_the_hub_permission_and_a_member_country(session: Session) -> None:
    officer = account_factory.actor(session, org="ncb-fr")
    now = utcnow()
    with pytest.raises(PermissionDenied):
        product_service.issue_car(
            session=session, actor=officer, car_in=CarIssue(country="FR", since=now.date())
        )
    with pytest.raises(ValidationFailed) as caught:
        product_service.issue_car(
            session=session,
            actor=product_factory.hub(session),
            car_in=CarIssue(country="ZZ", since=now.date()),
        )
    assert caught.value.field == "country"


def test_issue_all_covers_every_country_with_news(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    now = utcnow()
    results = dict(
        product_service.issue_all_cars(
            session=session,
            actor=product_factory.hub(session),
            since=now - timedelta(days=1),
            until=now + timedelta(minutes=1),
        )
    )
    issued = sorted(code for code, result in results.items() if result.issued)
    assert issued == ["DE", "FR"]
    assert len(results) > 150


def test_recipient_reads_acknowledges_others_get_not_found(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    product = product_factory.issue(session, "FR").product
    assert product is not None
    officer = account_factory.actor(session, org="ncb-fr")
    assert [p.id for p in product_service.inbox(session=session, actor=officer)] == [product.id]
    product_service.mark_read(session=session, actor=officer, product=product)
    product_service.acknowledge(session=session, actor=officer, product_id=product.id)
    read = product_service.to_read(session=session, actor=officer, product=product)
    assert read.delivery is not None
    assert read.delivery.read_at is not None
    assert read.delivery.acknowledged_by == officer.label
    assert [e.target_id for e in _audit(session, "product.acknowledge")][-1] == str(product.id)
    for other in ("ncb-de", "partner-northwind"):
        stranger = account_factory.actor(session, org=other)
        with pytest.raises(NotFound):
            product_service.get_or_raise(session=session, actor=stranger, product_id=product.id)
        assert product_service.inbox(session=session, actor=stranger) == []
    # The hub reads its register, but it is not the recipient: nothing to acknowledge.
    hub = product_factory.hub(session)
    assert product_service.get_or_raise(session=session, actor=hub, product_id=product.id)
    with pytest.raises(NotFound):
        product_service.acknowledge(session=session, actor=hub, product_id=product.id)
    viewer = account_factory.actor(session, org="ncb-fr", role=Role.VIEWER)
    with pytest.raises(PermissionDenied):
        product_service.acknowledge(session=session, actor=viewer, product_id=product.id)


def test_false_positive_lowers_confidence_and_requeues_the_record(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    product = product_factory.issue(session, "FR").product
    assert product is not None
    officer = account_factory.actor(session, org="ncb-fr")
    items = product_service.items(session=session, actor=officer, product_id=product.id)
    phishing = next(i for i in items if i.group == "phishing")
    product_service.give_feedback(
        session=session,
        actor=officer,
        product_id=product.id,
        feedback_in=FeedbackIn(item_id=phishing.id, outcome="false-positive", comment="parked"),
    )
    record = session.get(IntelObject, phishing.record_id)
    assert record is not None
    assert (record.status, record.confidence) == ("unvalidated", 40)
    entry = _audit(session, "record.false_positive")[-1]
    assert entry.details["from"] == {"status": "validated", "confidence": 70}
    assert entry.details["to"] == {"status": "unvalidated", "confidence": 40}
    outcomes = {
        i.id: i.outcome
        for i in product_service.items(session=session, actor=officer, product_id=product.id)
    }
    assert outcomes[phishing.id] == "false-positive"
    # Back in the queue, the record leaves the next report.
    again = product_factory.issue(session, "FR").product
    assert again is not None
    assert "phishing" not in _values(again)


def test_feedback_is_for_the_products_own_items_and_its_recipient(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    product_factory.submit(session, "partner-northwind", "domain-name,bad-shop.de,scam,70\n")
    fr = product_factory.issue(session, "FR").product
    de = product_factory.issue(session, "DE").product
    assert fr is not None and de is not None
    officer = account_factory.actor(session, org="ncb-fr")
    german_item = session.scalars(
        select(ProductItem.id).where(ProductItem.product_id == de.id)
    ).first()
    assert german_item is not None
    with pytest.raises(NotFound) as caught:
        product_service.give_feedback(
            session=session,
            actor=officer,
            product_id=fr.id,
            feedback_in=FeedbackIn(item_id=german_item, outcome="taken-down"),
        )
    assert caught.value.field == "item_id"
    with pytest.raises(NotFound):
        product_service.give_feedback(
            session=session,
            actor=officer,
            product_id=de.id,
            feedback_in=FeedbackIn(item_id=german_item, outcome="taken-down"),
        )


def test_stats_per_country_and_hosting_network(session: Session) -> None:
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    product = product_factory.issue(session, "FR").product
    assert product is not None
    officer = account_factory.actor(session, org="ncb-fr")
    product_service.acknowledge(session=session, actor=officer, product_id=product.id)
    items = product_service.items(session=session, actor=officer, product_id=product.id)
    c2 = next(i for i in items if i.group == "botnet-c2")
    for outcome in ("investigating", "taken-down"):
        product_service.give_feedback(
            session=session,
            actor=officer,
            product_id=product.id,
            feedback_in=FeedbackIn(item_id=c2.id, outcome=outcome),
        )
    hub = product_factory.hub(session)
    by_country = {s.country: s for s in product_service.country_stats(session=session, actor=hub)}
    fr = by_country["FR"]
    assert (fr.products, fr.acknowledged, fr.items, fr.with_feedback, fr.taken_down) == (
        1,
        1,
        3,
        1,
        1,
    )
    assert fr.takedown_rate == round(1 / 3, 4)
    assert fr.median_ack_hours is not None and fr.median_ack_hours >= 0
    providers = {
        s.as_organisation: s for s in product_service.provider_stats(session=session, actor=hub)
    }
    assert (providers["Orange"].items, providers["Orange"].taken_down) == (1, 1)
    assert providers["Orange"].median_takedown_hours is not None
    with pytest.raises(PermissionDenied):
        product_service.country_stats(session=session, actor=officer)
    # A period: the products about it (their period overlaps it), not the others.
    start, end = product.period_start, product.period_end
    about = product_service.country_stats(session=session, actor=hub, since=start, until=end)
    assert [s.country for s in about if s.country == "FR"] == ["FR"]
    before = product_service.country_stats(
        session=session, actor=hub, since=start - timedelta(days=30), until=start
    )
    assert "FR" not in {s.country for s in before}
    assert (
        product_service.provider_stats(
            session=session, actor=hub, since=end, until=end + timedelta(days=30)
        )
        == []
    )


def test_the_hub_edits_templates_and_the_next_report_says_so(session: Session) -> None:
    hub = product_factory.hub(session)
    templates = product_service.list_templates(session=session, actor=hub)
    assert [t.threat_group for t in templates] == [
        "botnet-c2",
        "phishing",
        "malware-distribution",
        "compromised-websites",
        "victim-ips",
        "scam-infrastructure",
        "other",
    ]
    updated = product_service.update_template(
        session=session,
        actor=hub,
        threat_group="phishing",
        template_in=ActionTemplateUpdate(
            title="Phishing", why_it_matters="Victims lose money.", actions=["Take it down."]
        ),
    )
    assert updated.actions == ["Take it down."]
    assert _audit(session, "product.template.update")[-1].target_id == "phishing"
    product_factory.submit(session, "partner-northwind", FR_ROWS)
    product = product_factory.issue(session, "FR").product
    assert product is not None
    phishing = next(g for g in product.document["groups"] if g["key"] == "phishing")
    assert (phishing["title"], phishing["actions"]) == ("Phishing", ["Take it down."])
    with pytest.raises(NotFound):
        product_service.update_template(
            session=session,
            actor=hub,
            threat_group="nope",
            template_in=ActionTemplateUpdate(title="x", why_it_matters="y", actions=["z"]),
        )
    with pytest.raises(PermissionDenied):
        product_service.list_templates(
            session=session, actor=account_factory.actor(session, org="ncb-fr")
        )
