"""The worker: concurrent claims never overlap (SKIP LOCKED on PostgreSQL), passes end."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from cyberfusion.core.time import utcnow
from cyberfusion.feed import service as feed_service
from cyberfusion.feed.models import Feed, FeedRun
from cyberfusion.registry.models import Organisation
from cyberfusion.worker import run_due, run_worker, worker_name
from tests.feed.conftest import in_session, make_feed


@pytest.fixture
def committed_feeds(engine: Engine) -> Iterator[list[int]]:
    """Three due feeds committed for real, so that two connections see them; removed after."""
    with Session(engine) as setup:
        org_id = setup.scalars(select(Organisation.id).where(Organisation.slug == "ncb-fr")).one()
        now = utcnow()
        feeds = [
            Feed(
                name=f"claim-{number}",
                kind="csv",
                source="https://x.example.org/list.txt",
                owner_org_id=org_id,
                labels=None,
                settings={},
                auth=None,
                interval_seconds=3600,
                timeout_seconds=5,
                max_bytes=1000,
                enabled=True,
                trusted=False,
                checkpoint={},
                next_run_at=now - timedelta(minutes=number),
                consecutive_failures=0,
                created_by="test",
            )
            for number in range(3)
        ]
        setup.add_all(feeds)
        setup.commit()
        ids = [feed.id for feed in feeds]
    try:
        yield ids
    finally:
        with Session(engine) as cleanup:
            cleanup.execute(delete(Feed).where(Feed.id.in_(ids)))
            cleanup.commit()


def test_two_workers_never_claim_the_same_feed(engine: Engine, committed_feeds: list[int]) -> None:
    now = utcnow()
    # Oldest due first: claim-2, then claim-1, then claim-0.
    oldest_first = list(reversed(committed_feeds))
    with Session(engine) as first, Session(engine) as second:
        claimed_first = feed_service.claim_due(session=first, worker="w1", now=now, limit=2)
        assert claimed_first == oldest_first[:2]
        if engine.dialect.name == "postgresql":
            # w1 has not committed: its rows are locked, and w2 skips them without waiting.
            claimed_second = feed_service.claim_due(session=second, worker="w2", now=now, limit=5)
            first.commit()
        else:
            # SQLite has one writer at a time: w1 commits its claims before w2 writes.
            first.commit()
            claimed_second = feed_service.claim_due(session=second, worker="w2", now=now, limit=5)
        second.commit()
        assert claimed_second == oldest_first[2:]
        assert feed_service.claim_due(session=second, worker="w3", now=now, limit=5) == []
        owners = dict(
            second.execute(
                select(Feed.id, Feed.claimed_by).where(Feed.id.in_(committed_feeds))
            ).all()
        )
        assert owners == {
            oldest_first[0]: "w1",
            oldest_first[1]: "w1",
            oldest_first[2]: "w2",
        }


def test_run_due_runs_each_feed_once_a_pass(session: Session, tmp_path: Path) -> None:
    listing = tmp_path / "l.txt"
    listing.write_text("worker-pass.example.org\n")
    fast = make_feed(session, name="fast", kind="csv", source=str(listing), interval_seconds=60)
    broken = make_feed(session, name="broken", kind="csv", source=str(tmp_path / "missing.txt"))
    seen: list[tuple[str, str]] = []
    done = run_due(
        unit_of_work=lambda: in_session(session),
        worker="test-worker",
        on_run=lambda feed, feed_run: seen.append((feed.name, feed_run.status)),
    )
    assert (done, sorted(seen)) == (2, [("broken", "failed"), ("fast", "succeeded")])
    # The failed feed waits for its back-off, the other for its interval.
    assert broken.next_run_at > utcnow() and fast.next_run_at > utcnow()
    assert (broken.claimed_by, fast.claimed_by) == (None, None)
    runs = session.scalars(
        select(FeedRun.status).where(FeedRun.feed_id.in_([fast.id, broken.id]))
    ).all()
    assert sorted(runs) == ["failed", "succeeded"]


def test_run_worker_once_returns_after_one_pass(session: Session) -> None:
    assert run_worker(once=True, unit_of_work=lambda: in_session(session)) == 0


def test_worker_names_are_unique() -> None:
    assert worker_name() != worker_name()
