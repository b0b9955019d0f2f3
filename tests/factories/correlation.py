"""Builders for correlation tests: organisations reporting values under given labels."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.account.schemas import Actor
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions, SubmissionRead
from cyberfusion.registry import service as registry_service
from cyberfusion.sharing.schemas import EvaluationIn, LabelsIn
from tests.factories import account as account_factory

COMMUNITY = LabelsIn(tlp="green", audience="community")
MEMBERS = LabelsIn(tlp="amber", audience="members")


def reporter(session: Session, org: str) -> Actor:
    kind = registry_service.get_by_slug_or_raise(session=session, slug=org).kind
    role = Role.PARTNER_ANALYST if kind in ("cert", "private_partner") else Role.OFFICER
    return account_factory.actor(session, org=org, role=role)


def report(
    session: Session,
    org: str,
    values: list[tuple[str, str]],
    labels: LabelsIn = COMMUNITY,
    *,
    confidence: int = 60,
) -> SubmissionRead:
    """`org` reports (type, value) rows as CSV, one record per row."""
    rows = "".join(f"{kind},{value},{confidence}\n" for kind, value in values)
    result = intake_service.submit(
        session=session,
        actor=reporter(session, org),
        raw=("type,value,confidence\n" + rows).encode(),
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=labels,
            evaluation=EvaluationIn(reliability="B", credibility=2, confidence=confidence),
        ),
    )
    assert result.rejected == 0, result.results
    return result


def report_bundle(
    session: Session, org: str, objects: list[dict[str, Any]], labels: LabelsIn = COMMUNITY
) -> SubmissionRead:
    bundle = {"type": "bundle", "id": "bundle--6b3b8b6a-3f0a-4b59-9a57-0d1c3c7a8f11"}
    bundle["objects"] = objects  # type: ignore[assignment]
    result = intake_service.submit(
        session=session,
        actor=reporter(session, org),
        raw=json.dumps(bundle).encode(),
        options=SubmissionOptions(source_format=SourceFormat.STIX, labels=labels),
    )
    assert result.rejected == 0, result.results
    return result
