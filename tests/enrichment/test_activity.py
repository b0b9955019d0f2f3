"""Activity by country (the world map): jurisdiction counts through the sharing rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from cyberfusion.account import service as account_service
from cyberfusion.account.permissions import Role
from cyberfusion.enrichment.activity import ActivityView, country_activity
from cyberfusion.enrichment.models import ObservableFlag
from cyberfusion.intake import service as intake_service
from cyberfusion.intake.schemas import SourceFormat, SubmissionOptions
from cyberfusion.observable.models import Observable, Occurrence
from cyberfusion.sharing.models import Audience, Tlp
from cyberfusion.sharing.schemas import LabelsIn
from tests.factories import account as account_factory

MEMBERS = LabelsIn(tlp=Tlp.GREEN, audience=Audience.MEMBERS)
OWN = LabelsIn(tlp=Tlp.AMBER, audience=Audience.ORGANISATION)


def _submit(session: Session, org: str, values: list[str], labels: LabelsIn) -> None:
    user = account_factory.user(session, org=org, role=Role.OFFICER)
    rows = "".join(f"domain-name,{value},activity test\n" for value in values)
    intake_service.submit(
        session=session,
        actor=account_service.actor_for(user, via="test"),
        raw=f"type,value,comment\n{rows}".encode(),
        options=SubmissionOptions(source_format=SourceFormat.CSV, labels=labels),
    )


def _actor(session: Session, org: str):  # type: ignore[no-untyped-def]
    return account_service.actor_for(
        account_factory.user(session, org=org, role=Role.OFFICER), via="test"
    )


def test_each_country_counts_the_distinct_values_concerning_it(session: Session) -> None:
    reader = _actor(session, "ncb-br")
    before = country_activity(session=session, actor=reader)
    _submit(session, "ncb-fr", ["shop-a.fr", "shop-b.fr", "login.gov-ng.com.ng"], MEMBERS)
    # Reported twice, by two organisations: still one value for France.
    _submit(session, "ncb-ng", ["shop-a.fr"], MEMBERS)
    after = country_activity(session=session, actor=reader)
    assert after.get("FR", 0) - before.get("FR", 0) == 2
    assert after.get("NG", 0) - before.get("NG", 0) == 1
    assert list(after) == sorted(after, key=lambda code: (-after[code], code))


def test_what_the_reader_may_not_read_does_not_count(session: Session) -> None:
    outsider = _actor(session, "ncb-br")
    owner = _actor(session, "ncb-fr")
    outsider_before = country_activity(session=session, actor=outsider).get("DE", 0)
    owner_before = country_activity(session=session, actor=owner).get("DE", 0)
    _submit(session, "ncb-fr", ["secret-a.de", "secret-b.de"], OWN)
    assert country_activity(session=session, actor=outsider).get("DE", 0) == outsider_before
    assert country_activity(session=session, actor=owner).get("DE", 0) == owner_before + 2


def test_noise_is_left_out_until_an_analyst_overrides_it(session: Session) -> None:
    reader = _actor(session, "ncb-br")
    _submit(session, "ncb-fr", ["noisy.it", "quiet.it"], MEMBERS)
    counted = country_activity(session=session, actor=reader)["IT"]
    noisy = session.scalars(select(Observable.id).where(Observable.value == "noisy.it")).one()
    session.add(ObservableFlag(observable_id=noisy, source="test", name="a list", data_version="1"))
    session.flush()
    assert country_activity(session=session, actor=reader)["IT"] == counted - 1
    session.execute(
        update(ObservableFlag)
        .where(ObservableFlag.observable_id == noisy)
        .values(overridden_at=datetime.now(UTC), overridden_by="analyst")
    )
    assert country_activity(session=session, actor=reader)["IT"] == counted


def test_the_period_is_the_time_of_the_reports(session: Session) -> None:
    reader = _actor(session, "ncb-br")
    _submit(session, "ncb-fr", ["old-report.es"], MEMBERS)
    value = session.scalars(select(Observable.id).where(Observable.value == "old-report.es")).one()
    long_ago = datetime.now(UTC) - timedelta(days=400)
    session.execute(
        update(Occurrence).where(Occurrence.observable_id == value).values(reported_at=long_ago)
    )
    recent = country_activity(
        session=session, actor=reader, since=datetime.now(UTC) - timedelta(days=30)
    )
    everything = country_activity(session=session, actor=reader)
    assert everything["ES"] - recent.get("ES", 0) >= 1
    old_only = country_activity(
        session=session,
        actor=reader,
        since=long_ago - timedelta(days=1),
        until=long_ago + timedelta(days=1),
    )
    assert old_only == {"ES": 1}


def test_reported_by_counts_where_the_reports_come_from(session: Session) -> None:
    reader = _actor(session, "ncb-br")
    before = country_activity(session=session, actor=reader, view=ActivityView.REPORTED_BY)
    _submit(session, "ncb-ng", ["reported-from-nigeria.pt"], MEMBERS)
    after = country_activity(session=session, actor=reader, view=ActivityView.REPORTED_BY)
    assert after.get("NG", 0) - before.get("NG", 0) == 1
    assert after.get("PT", 0) == before.get("PT", 0)
    concerned = country_activity(session=session, actor=reader)
    assert concerned["PT"] >= 1


def test_reported_by_counts_only_the_reports_the_reader_may_read(session: Session) -> None:
    # One value, reported by Nigeria for members and by France for France alone: a reader who
    # may read only the Nigerian report learns nothing of the French one, not even its country.
    reader = _actor(session, "ncb-br")
    owner = _actor(session, "ncb-fr")
    before = country_activity(session=session, actor=reader, view=ActivityView.REPORTED_BY)
    owner_before = country_activity(session=session, actor=owner, view=ActivityView.REPORTED_BY)
    _submit(session, "ncb-ng", ["both-report-it.pt"], MEMBERS)
    _submit(session, "ncb-fr", ["both-report-it.pt"], OWN)
    after = country_activity(session=session, actor=reader, view=ActivityView.REPORTED_BY)
    assert after.get("NG", 0) - before.get("NG", 0) == 1
    assert after.get("FR", 0) == before.get("FR", 0)
    owner_after = country_activity(session=session, actor=owner, view=ActivityView.REPORTED_BY)
    assert owner_after.get("FR", 0) - owner_before.get("FR", 0) == 1
    assert owner_after.get("NG", 0) - owner_before.get("NG", 0) == 1
