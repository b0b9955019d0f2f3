"""Builders for products: submissions attributed to countries, validated, enriched; the hub."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.core.time import utcnow
from cyberfusion.enrichment import service as enrichment_service
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.intel import service as intel_service
from cyberfusion.product import service as product_service
from cyberfusion.product.schemas import CarIssue
from cyberfusion.registry import service as registry_service
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn
from tests.factories import account as account_factory

HEADER = "type,value,threat_type,confidence\n"


def hub(session: Session) -> Actor:
    return account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)


def submit(
    session: Session,
    org: str,
    rows: str,
    labels: LabelsIn | None = None,
    *,
    validate: bool = True,
    evaluation: EvaluationIn | None = None,
) -> SubmissionRead:
    """Submit CSV rows (type,value,threat_type,confidence) as `org`, enrich them (what intake
    does once wired), and validate them as the hub when `validate` and the org needs it."""
    kind = registry_service.get_by_slug_or_raise(session=session, slug=org).kind
    role = Role.PARTNER_ANALYST if kind in ("cert", "private_partner") else Role.OFFICER
    actor = account_factory.actor(session, org=org, role=role)
    result = intake_service.submit(
        session=session,
        actor=actor,
        raw=(HEADER + rows).encode(),
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=labels or LabelsIn(tlp="green", audience="community"),
            evaluation=evaluation or EvaluationIn(reliability="B", credibility=2, confidence=70),
        ),
    )
    assert result.rejected == 0, result.results
    enrichment_service.enrich_submission(session=session, submission_id=result.id)
    if validate and kind in ("cert", "private_partner", "international_org"):
        intel_service.validate_submission(
            session=session, actor=hub(session), submission_id=result.id, decision="validated"
        )
    return result


def issue(
    session: Session, country: str, actor: Actor | None = None, days: int = 1
) -> product_service.IssueResult:
    now = utcnow()
    return product_service.issue_car(
        session=session,
        actor=actor or hub(session),
        car_in=CarIssue(
            country=country, since=now - timedelta(days=days), until=now + timedelta(minutes=1)
        ),
    )
