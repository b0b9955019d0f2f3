"""Intake end to end on the database: atomicity, idempotency, provenance, observables."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.errors import ValidationFailed
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.intel.models import IntelObject
from cyberfusion.observable import service as observable_service
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory

CSV = b"""type,value,first_seen,last_seen,threat_type,malware,confidence,comment
ipv4-addr,198.51.100.23,2026-10-01T00:00:00Z,,c2,Emotet,80,seen beaconing
domain-name,Bad-Domain.EXAMPLE.com.,,,phishing,,60,
url,hxxp://phish[.]example[.]net/login,,,phishing,,70,defanged
"""


def _count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_csv_submission_stores_objects_observables_and_provenance(session: Session) -> None:
    actor = account_factory.actor(session, org="cert-fr", role=Role.PARTNER_ANALYST)
    result = intake_service.submit(
        session=session,
        actor=actor,
        raw=CSV,
        options=SubmissionOptions(
            source_format=SourceFormat.CSV,
            labels=LabelsIn(tlp=Tlp.GREEN, audience=Audience.COMMUNITY),
        ),
    )
    assert result.status == "accepted"
    assert result.rejected == 0
    indicators = [r for r in result.results if r.type == "indicator"]
    assert len(indicators) == 3
    record = session.get(IntelObject, indicators[0].record_id)
    assert record is not None
    assert record.submission_id == result.id
    assert record.source_format == "csv"
    assert record.submitted_via == "test"
    assert record.status == "unvalidated"  # a CERT's data waits for validation
    assert record.label.tlp == "green"
    values = set(
        session.scalars(
            select(Observable.value)
            .join(Occurrence, Occurrence.observable_id == Observable.id)
            .where(Occurrence.submission_id == result.id)
        )
    )
    assert values == {"198.51.100.23", "bad-domain.example.com", "http://phish.example.net/login"}


def test_resending_the_same_content_changes_nothing(session: Session) -> None:
    actor = account_factory.actor(session, org="ncb-fr")
    options = SubmissionOptions(source_format=SourceFormat.CSV)
    first = intake_service.submit(session=session, actor=actor, raw=CSV, options=options)
    counts = (
        _count(session, IntelObject),
        _count(session, Observable),
        _count(session, Occurrence),
    )
    again = intake_service.submit(session=session, actor=actor, raw=CSV, options=options)
    assert again.replayed is True
    assert again.id == first.id
    assert again.results == first.results
    assert (
        _count(session, IntelObject),
        _count(session, Observable),
        _count(session, Occurrence),
    ) == counts


def test_the_same_values_in_another_file_are_duplicates(session: Session) -> None:
    actor = account_factory.actor(session, org="ncb-fr")
    text_options = SubmissionOptions(source_format=SourceFormat.TEXT)
    intake_service.submit(
        session=session, actor=actor, raw=b"C2 at 198.51.100.99 today", options=text_options
    )
    before = _count(session, IntelObject)
    again = intake_service.submit(
        session=session,
        actor=actor,
        raw=b"Still seeing 198.51.100.99 beaconing.",
        options=text_options,
    )
    assert [r.status for r in again.results] == ["duplicate"]
    assert _count(session, IntelObject) == before


def test_one_bad_row_refuses_the_whole_submission_unless_partial(session: Session) -> None:
    actor = account_factory.actor(session, org="ncb-fr")
    raw = CSV + b"ipv4-addr,999.1.1.1,,,c2,,50,bad\n"
    before = _count(session, IntelObject)
    refused = intake_service.submit(
        session=session,
        actor=actor,
        raw=raw,
        options=SubmissionOptions(source_format=SourceFormat.CSV),
    )
    assert refused.status == "rejected"
    assert refused.rejected == 1
    bad = next(r for r in refused.results if r.status == "rejected")
    assert bad.source == "row 5"
    assert "999" in (bad.reason or "")
    assert _count(session, IntelObject) == before
    kept = intake_service.submit(
        session=session,
        actor=actor,
        raw=raw,
        options=SubmissionOptions(source_format=SourceFormat.CSV, partial=True),
    )
    assert kept.status == "partial"
    assert kept.accepted >= 3
    assert _count(session, IntelObject) == before + kept.accepted


def test_text_submission_extracts_and_lookup_finds_it(session: Session) -> None:
    reporter = account_factory.actor(session, org="ncb-fr")
    intake_service.submit(
        session=session,
        actor=reporter,
        raw=b"Victims paid to bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq via hxxps://pay[.]example[.]org",
        options=SubmissionOptions(
            source_format=SourceFormat.TEXT,
            labels=LabelsIn(tlp=Tlp.AMBER, audience=Audience.COUNTRY),
        ),
    )
    same_country = account_factory.actor(session, org="fr-cyber-unit")
    found = observable_service.lookup(
        session=session, actor=same_country, raw="https://PAY.example.org"
    )
    assert (found.obs_type, found.value) == ("url", "https://pay.example.org/")
    assert len(found.occurrences) == 1
    assert found.hidden_match is False
    elsewhere = account_factory.actor(session, org="ncb-ng")
    hidden = observable_service.lookup(
        session=session, actor=elsewhere, raw="bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"
    )
    assert hidden.occurrences == []
    assert hidden.hidden_match is True


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"\xff\xfe\x00bad", "not valid UTF-8"),
        (b'{"type": "bundle", ', "malformed JSON"),
    ],
)
def test_unreadable_content_is_refused_with_a_reason(
    session: Session, raw: bytes, message: str
) -> None:
    actor = account_factory.actor(session, org="ncb-fr")
    fmt = SourceFormat.STIX if raw.startswith(b"{") else SourceFormat.TEXT
    with pytest.raises(ValidationFailed, match=message):
        intake_service.submit(
            session=session, actor=actor, raw=raw, options=SubmissionOptions(source_format=fmt)
        )


def test_ipv4_mapped_ipv6_is_stored_as_ipv4(session: Session) -> None:
    actor = account_factory.actor(session, org="ncb-fr")
    intake_service.submit(
        session=session,
        actor=actor,
        raw=b"type,value\nipv6-addr,::ffff:198.51.100.200\n",
        options=SubmissionOptions(source_format=SourceFormat.CSV),
    )
    found = observable_service.lookup(session=session, actor=actor, raw="198.51.100.200")
    assert (found.obs_type, found.value, len(found.occurrences)) == (
        "ipv4-addr",
        "198.51.100.200",
        1,
    )
