"""Validation of records and submissions by fusion-centre analysts."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.audit.models import AuditEntry
from cyberfusion.core.errors import NotFound, PermissionDenied, ValidationFailed
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.registry.models import Organisation
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory

LIST = b"type,value\nipv4-addr,198.51.100.31\ndomain-name,partner-feed.example.org\n"


def _partner_submission(session: Session, labels: LabelsIn | None = None) -> int:
    partner = account_factory.actor(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    result = intake_service.submit(
        session=session,
        actor=partner,
        raw=LIST,
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=labels or LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
        ),
    )
    return result.id


def test_partner_data_enters_unvalidated_and_an_analyst_validates_it(session: Session) -> None:
    submission_id = _partner_submission(session)
    records = session.scalars(
        select(IntelObject).where(IntelObject.submission_id == submission_id)
    ).all()
    assert {r.status for r in records} == {"unvalidated"}
    analyst = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    record = intel_service.validate(
        session=session,
        actor=analyst,
        record_id=records[0].id,
        decision="validated",
        reason="checked against telemetry",
    )
    assert record.status == "validated"
    entry = session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "record.validated", AuditEntry.target_id == str(record.id)
        )
    ).one()
    assert entry.details == {"from": "unvalidated", "reason": "checked against telemetry"}
    assert (
        intel_service.validate_submission(
            session=session, actor=analyst, submission_id=submission_id, decision="rejected"
        )
        == 2
    )
    assert {r.status for r in records} == {"rejected"}


def test_only_analysts_validate_and_only_what_they_may_read(session: Session) -> None:
    submission_id = _partner_submission(
        session, LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION)
    )
    record_id = session.scalars(
        select(IntelObject.id).where(IntelObject.submission_id == submission_id)
    ).first()
    assert record_id is not None
    officer = account_factory.actor(session, org="ncb-fr")
    with pytest.raises(PermissionDenied):
        intel_service.validate(
            session=session, actor=officer, record_id=record_id, decision="validated"
        )
    analyst = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    with pytest.raises(NotFound):
        intel_service.validate(
            session=session, actor=analyst, record_id=record_id, decision="validated"
        )
    with pytest.raises(NotFound):
        intel_service.validate_submission(
            session=session, actor=analyst, submission_id=submission_id, decision="validated"
        )


def test_unknown_decision_is_refused(session: Session) -> None:
    analyst = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    with pytest.raises(ValidationFailed, match="decision must be one of") as excinfo:
        intel_service.validate(session=session, actor=analyst, record_id=1, decision="maybe")
    assert excinfo.value.field == "decision"


def test_cli_validates_a_submission(session: Session, cli) -> None:  # type: ignore[no-untyped-def]
    submission_id = _partner_submission(session)
    result = cli("validate", "--submission", str(submission_id), "--as", "hub")
    assert result.exit_code == 0, result.output
    assert f"submission {submission_id}: 2 records validated" in result.output
    both = cli("validate", "1", "--submission", "2")
    assert both.exit_code == 2


def test_a_rule_validates_a_partners_confident_records(session: Session, cli) -> None:  # type: ignore[no-untyped-def]
    partner = account_factory.actor(session, org="partner-northwind", role=Role.PARTNER_ANALYST)
    for confidence, value in ((85, b"198.51.100.81"), (40, b"198.51.100.82")):
        intake_service.submit(
            session=session,
            actor=partner,
            raw=b"type,value\nipv4-addr," + value + b"\n",
            options=SubmissionOptions(
                source_format=SourceFormat.CSV,
                evaluation={"confidence": confidence},
                labels=LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
            ),
        )
    added = cli("rule", "add", "--org", "partner-northwind", "--min-confidence", "80")
    assert added.exit_code == 0, added.output
    applied = cli("rule", "apply")
    assert applied.exit_code == 0, applied.output
    assert "1 records validated by rules" in applied.output
    org_id = partner.org_id
    statuses = dict(
        session.execute(
            select(IntelObject.confidence, IntelObject.status).where(
                IntelObject.owner_org_id == org_id, IntelObject.confidence.in_([85, 40])
            )
        ).all()
    )
    assert statuses == {85: "validated", 40: "unvalidated"}
    assert intel_service.rule_threshold(session=session, org_id=org_id) == 80


def test_rules_need_an_analyst_and_a_sane_threshold(session: Session) -> None:
    officer = account_factory.actor(session, org="ncb-fr")
    with pytest.raises(PermissionDenied):
        intel_service.add_rule(
            session=session, actor=officer, org_slug="cert-fr", min_confidence=80
        )
    analyst = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    with pytest.raises(ValidationFailed) as excinfo:
        intel_service.add_rule(
            session=session, actor=analyst, org_slug="cert-fr", min_confidence=101
        )
    assert excinfo.value.field == "min_confidence"


def test_relabelling_moves_the_occurrences_with_the_record(session: Session) -> None:
    from cyberfusion.observable import service as observable_service

    owner = account_factory.actor(session, org="ncb-fr")
    result = intake_service.submit(
        session=session,
        actor=owner,
        raw=b"type,value\nipv4-addr,198.51.100.91\n",
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
        ),
    )
    record_id = result.results[0].record_id
    assert record_id is not None
    reader = account_factory.actor(session, org="cert-ng", role=Role.PARTNER_ANALYST)
    seen = observable_service.lookup(session=session, actor=reader, raw="198.51.100.91")
    assert len(seen.occurrences) == 1
    intel_service.relabel(
        session=session,
        actor=owner,
        record_id=record_id,
        labels_in=LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION),
    )
    hidden = observable_service.lookup(session=session, actor=reader, raw="198.51.100.91")
    assert hidden.occurrences == []
    assert hidden.hidden_match is True


def test_a_stricter_marking_in_the_content_wins_over_the_labels(session: Session) -> None:
    from tests.factories import intel as intel_factory

    owner = account_factory.actor(session, org="ncb-fr")
    content = intel_factory.indicator_content("198.51.100.92")
    content["object_marking_refs"] = ["marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"]
    record = intel_factory.record(
        session, owner, LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY), content=content
    )
    assert record.label.tlp == "amber"


def test_search_by_country_takes_the_reporters_the_reader_may_read(session: Session) -> None:
    from tests.factories import correlation as correlation_factory

    value = [("domain-name", "reported-twice-example.com")]
    # ncb-fr reports it for everyone, cert-ng for itself alone.
    correlation_factory.report(session, "ncb-fr", value)
    correlation_factory.report(
        session, "cert-ng", value, LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION)
    )

    def found(org: str, country: str) -> set[str]:
        actor = correlation_factory.reporter(session, org)
        records, _ = intel_service.search(
            session=session, actor=actor, country=country, text="reported-twice-example.com"
        )
        return {session.get(Organisation, record.owner_org_id).slug for record in records}

    # France reported it: ncb-fr's record concerns France for any reader of it.
    assert found("ncb-br", "FR") == {"ncb-fr"}
    # That Nigeria reported it too is cert-ng's to know.
    assert found("ncb-br", "NG") == set()
    assert found("cert-ng", "NG") == {"ncb-fr", "cert-ng"}
