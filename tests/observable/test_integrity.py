"""References the derived tables keep without foreign keys (migration 0018)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cyberfusion.core.db import bulk_insert
from cyberfusion.core.time import utcnow
from cyberfusion.correlation.models import ObservableLink
from cyberfusion.enrichment.models import Enrichment, Jurisdiction
from cyberfusion.observable import integrity
from cyberfusion.observable.models import Observable
from tests.factories import correlation as factory


def _report_a_few(session: Session) -> None:
    # Two organisations, so that every derived table gets rows: flags (a resolver), enrichment,
    # jurisdiction (the .fr name, the reporters' countries), links, assessments.
    values = [
        ("url", "http://login.cf-integrity-test.fr/verify"),
        ("ipv4-addr", "91.243.44.77"),
        ("ipv4-addr", "8.8.8.8"),
    ]
    factory.report(session, "cert-fr", values)
    factory.report(session, "cert-ng", values)


def test_intake_and_correlation_leave_no_broken_reference(session: Session) -> None:
    _report_a_few(session)
    for model in (Enrichment, Jurisdiction, ObservableLink):
        assert session.scalar(select(func.count()).select_from(model)), model
    assert integrity.broken_references(session=session) == []


def test_rows_that_refer_to_nothing_are_found_with_their_table_column_and_values(
    session: Session,
) -> None:
    _report_a_few(session)
    missing = (session.scalar(select(func.max(Observable.id))) or 0) + 1000
    real = session.scalar(select(func.min(Observable.id)))
    now = utcnow()
    # Without foreign keys the database takes these; the check must not.
    bulk_insert(
        session,
        "enrichment",
        [
            {
                "observable_id": missing + n,
                "kind": "location",
                "data": {"country": "FR"},
                "source": "test",
                "source_version": "1",
                "created_at": now,
            }
            for n in range(12)
        ],
    )
    bulk_insert(
        session,
        "jurisdiction",
        [
            {
                "observable_id": real,
                "country_code": "QQ",
                "reason": "hosted-in",
                "source": "test",
                "created_at": now,
            }
        ],
    )
    broken = integrity.broken_references(session=session)
    assert [(b.table, b.column, b.refers_to, b.rows) for b in broken] == [
        ("enrichment", "observable_id", "observable.id", 12),
        ("jurisdiction", "country_code", "country.iso2", 1),
    ]
    assert broken[0].sample == [str(missing + n) for n in range(10)]
    assert (
        broken[0]
        .describe()
        .startswith(f"enrichment.observable_id: 12 row(s) refer to no observable.id ({missing}, ")
    )
    assert broken[0].describe().endswith(", ...)")
    assert broken[1].describe() == (
        "jurisdiction.country_code: 1 row(s) refer to no country.iso2 (QQ)"
    )
