"""Large submissions are stored at bulk speed and correlated by a job."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.core import config
from cyberfusion.correlation import jobs as correlation_jobs
from cyberfusion.correlation import service as correlation_service
from cyberfusion.correlation.models import ObservableLink
from cyberfusion.enrichment.models import ObservableFlag
from cyberfusion.intake.models import Submission
from cyberfusion.notification.models import Notification
from cyberfusion.observable.models import Observable
from tests.factories import correlation as factory
from tests.factories import registry as registry_factory

NAME = "cf-test-phish-kit.xyz"


@pytest.fixture
def small_inline_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = config.get_settings()
    monkeypatch.setattr(
        config,
        "get_settings",
        lambda: type(settings)(**{**vars(settings), "inline_correlation_max": 2}),
    )
    import cyberfusion.intake.service as intake_service

    monkeypatch.setattr(intake_service, "get_settings", config.get_settings)


def _unit_of_work(session: Session):  # type: ignore[no-untyped-def]
    @contextmanager
    def unit() -> Iterator[Session]:
        with session.begin_nested():
            yield session

    return unit


def _google_flags(session: Session) -> int:
    return len(
        session.scalars(
            select(ObservableFlag.id)
            .join(Observable, Observable.id == ObservableFlag.observable_id)
            .where(Observable.value == "google.com")
        ).all()
    )


def test_a_large_submission_waits_for_the_job_then_is_correlated(
    session: Session, small_inline_limit: None
) -> None:
    host = f"j{uuid.uuid4().hex[:8]}.{NAME}"
    factory.report(session, "cert-fr", [("url", f"http://{host}/0")])
    values = [("url", f"http://{host}/{n}") for n in range(3)] + [("domain-name", "google.com")]
    result = factory.report(session, "cert-ng", values)
    assert result.correlation == "pending"
    ng = registry_factory.by_slug(session, "cert-ng").id

    def notices() -> list[int]:
        return [
            n.payload["count"]
            for n in session.scalars(
                select(Notification).where(Notification.recipient_org_id == ng)
            )
            if n.payload.get("submission_id") == result.id
        ]

    # Stored, not yet correlated: no flag, no link, no notice.
    assert (_google_flags(session), notices()) == (0, [])
    url = session.scalars(select(Observable.id).where(Observable.value == f"http://{host}/1")).one()
    assert (
        session.scalar(select(ObservableLink.id).where(ObservableLink.observable_id == url)) is None
    )

    assert correlation_jobs.run_pending(unit_of_work=_unit_of_work(session)) == 1
    submission = session.get(Submission, result.id)
    assert submission is not None
    session.refresh(submission)
    assert (submission.correlation, submission.correlation_error) == ("done", None)
    assert submission.correlated_at is not None
    assert _google_flags(session) > 0
    assert notices() == [1]
    assert session.scalar(select(ObservableLink.id).where(ObservableLink.observable_id == url))
    # Nothing left to do.
    assert correlation_jobs.run_pending(unit_of_work=_unit_of_work(session)) == 0


def test_a_failing_correlation_is_marked_and_the_data_stays(
    session: Session, small_inline_limit: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = [("domain-name", f"f{n}{uuid.uuid4().hex[:6]}.{NAME}") for n in range(3)]
    result = factory.report(session, "cert-fr", values)

    def broken(**kwargs: object) -> None:
        raise RuntimeError("enrichment data unreadable")

    monkeypatch.setattr(correlation_service, "after_intake", broken)
    assert correlation_jobs.run_pending(unit_of_work=_unit_of_work(session)) == 1
    submission = session.get(Submission, result.id)
    assert submission is not None
    session.refresh(submission)
    assert (submission.correlation, submission.correlation_error) == (
        "failed",
        "enrichment data unreadable",
    )
    assert submission.accepted == 3


def test_the_cli_import_correlates_a_large_list_right_away(  # type: ignore[no-untyped-def]
    cli, session: Session, small_inline_limit: None, tmp_path
) -> None:
    names = [f"c{n}{uuid.uuid4().hex[:6]}.{NAME}" for n in range(3)]
    path = tmp_path / "list.txt"
    path.write_text("\n".join(names) + "\n")
    result = cli(
        "import", str(path), "--org", "cert-fr", "--tlp", "green", "--audience", "community"
    )
    assert result.exit_code == 0, result.output
    assert "correlation: done" in result.output
    submission = session.scalars(select(Submission).order_by(Submission.id.desc())).first()
    assert submission is not None
    assert (submission.correlation, submission.accepted) == ("done", 3)


def test_the_cli_import_can_leave_correlation_to_the_worker(  # type: ignore[no-untyped-def]
    cli, session: Session, small_inline_limit: None, tmp_path
) -> None:
    names = [f"w{n}{uuid.uuid4().hex[:6]}.{NAME}" for n in range(3)]
    path = tmp_path / "list.txt"
    path.write_text("\n".join(names) + "\n")
    result = cli("import", str(path), "--org", "cert-fr", "--no-correlate")
    assert result.exit_code == 0, result.output
    submission = session.scalars(select(Submission).order_by(Submission.id.desc())).first()
    assert submission is not None
    assert submission.correlation == "pending"
