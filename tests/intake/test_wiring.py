"""Intake uses the organisation's default labels, validation rules, reference knowledge, and
refuses versions stamped in the future."""

from __future__ import annotations

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.parsed import stable_id
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel import service as intel_service
from cyberfusion.intel.models import IntelObject
from cyberfusion.knowledge import service as knowledge_service
from cyberfusion.registry import service as registry_service
from cyberfusion.sharing.schemas import EvaluationIn
from tests.factories import account as account_factory
from tests.factories.knowledge import GALAXIES


def _csv(session: Session, actor: Actor, body: bytes, confidence: int = 50):  # type: ignore[no-untyped-def]
    return intake_service.submit(
        session=session,
        actor=actor,
        raw=body,
        options=SubmissionOptions(
            source_format=SourceFormat.CSV, evaluation=EvaluationIn(confidence=confidence)
        ),
    )


def test_submissions_without_labels_take_the_organisations_defaults(session: Session) -> None:
    registry_service.set_default_labels(
        session=session,
        actor=Actor.operator("test"),
        slug="cert-fr",
        tlp="green",
        audience="community",
    )
    partner = account_factory.actor(session, org="cert-fr", role=Role.PARTNER_ANALYST)
    result = _csv(session, partner, b"type,value\nipv4-addr,198.51.100.111\n")
    record = session.get(IntelObject, result.results[0].record_id)
    assert record is not None
    assert (record.label.tlp, record.label.audience) == ("green", "community")


def test_a_validation_rule_applies_at_intake(session: Session) -> None:
    analyst = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    intel_service.add_rule(
        session=session, actor=analyst, org_slug="partner-bluewave", min_confidence=80
    )
    partner = account_factory.actor(session, org="partner-bluewave", role=Role.PARTNER_ANALYST)
    sure = _csv(session, partner, b"type,value\nipv4-addr,198.51.100.112\n", confidence=90)
    unsure = _csv(session, partner, b"type,value\nipv4-addr,198.51.100.113\n", confidence=60)
    statuses = [
        session.get(IntelObject, r.results[0].record_id).status  # type: ignore[union-attr]
        for r in (sure, unsure)
    ]
    assert statuses == ["validated", "unvalidated"]


def test_a_version_stamped_in_the_future_is_refused(session: Session) -> None:
    actor = account_factory.actor(session, org="ncb-fr")
    bundle = {
        "type": "bundle",
        "id": "bundle--0b0e0b4e-4c1d-4c2f-9a55-0d4a2f6a9c11",
        "objects": [
            {
                "type": "malware",
                "spec_version": "2.1",
                "id": "malware--3e7a1b0c-9f5e-4d4b-8a47-7e0b3c1d2e4f",
                "created": "2099-01-01T00:00:00.000Z",
                "modified": "2099-01-01T00:00:00.000Z",
                "name": "Time traveller",
                "is_family": True,
            }
        ],
    }
    result = intake_service.submit(
        session=session,
        actor=actor,
        raw=orjson.dumps(bundle),
        options=SubmissionOptions(source_format=SourceFormat.STIX),
    )
    assert result.status == "rejected"
    (row,) = result.results
    assert row.property == "modified"
    assert "2099-01-01T00:00:00.000Z is in the future" in (row.reason or "")


def test_malware_names_meet_the_reference_knowledge(session: Session) -> None:
    hub = account_factory.actor(session, org="hub", role=Role.HUB_ANALYST)
    knowledge_service.load_galaxies(session=session, actor=hub, data=GALAXIES)
    actor = account_factory.actor(session, org="ncb-fr")
    _csv(session, actor, b"type,value,malware\nipv4-addr,198.51.100.114,Negasteal\n")
    malware_ids = set(
        session.scalars(
            select(IntelObject.stix_id).where(
                IntelObject.owner_org_id == actor.org_id, IntelObject.stix_type == "malware"
            )
        )
    )
    assert stable_id("malware", "agent tesla") in malware_ids
