"""The background worker: claims the feeds that are due and runs them, one transaction each, and
correlates the large submissions stored since its last pass (`correlation.jobs`).

Any number of workers may run against PostgreSQL: each claims feeds with `SELECT ... FOR UPDATE
SKIP LOCKED` (`feed.service.claim_due`), so no two take the same feed. On SQLite one worker is
enough; its claims are single `UPDATE`s that only one writer can win. A claim is released when
the run ends; a worker that dies leaves a claim that others take over after
`feed.service.CLAIM_TIMEOUT`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager

from sqlalchemy.orm import Session

from cyberfusion.core.db import transaction
from cyberfusion.core.time import utcnow
from cyberfusion.correlation import jobs as correlation_jobs
from cyberfusion.feed import service as feed_service
from cyberfusion.feed.models import Feed, FeedRun
from cyberfusion.product import jobs as product_jobs

log = logging.getLogger(__name__)

POLL_SECONDS = 30.0
# Feeds claimed per pass: the rest stay free for other workers.
CLAIM_BATCH = 5

UnitOfWork = Callable[[], AbstractContextManager[Session]]


def worker_name() -> str:
    """Unique per process and start, so a restarted worker does not inherit stale claims."""
    return f"{socket.gethostname()[:60]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def run_due(
    *,
    unit_of_work: UnitOfWork = transaction,
    worker: str,
    on_run: Callable[[Feed, FeedRun], None] | None = None,
) -> int:
    """One pass: claim due feeds and run each, until none is due. Each feed runs at most once
    a pass, so a feed due again before the pass ends waits for the next. Returns the runs."""
    attempted: set[int] = set()
    done = 0
    while True:
        with unit_of_work() as session:
            claimed = feed_service.claim_due(
                session=session, worker=worker, now=utcnow(), limit=CLAIM_BATCH, exclude=attempted
            )
        if not claimed:
            return done
        for feed_id in claimed:
            attempted.add(feed_id)
            try:
                with unit_of_work() as session:
                    feed = session.get(Feed, feed_id)
                    if feed is None:
                        continue
                    feed_run = feed_service.run(
                        session=session, feed=feed, trigger="schedule", worker=worker
                    )
                    _log_run(feed, feed_run)
                    if on_run is not None:
                        on_run(feed, feed_run)
            except Exception:
                # The run's own failures are recorded by the run; this is the recording failing
                # (the database). The claim stays this worker's; the next pass tries again.
                log.exception("worker %s: feed %d could not be run", worker, feed_id)
                continue
            done += 1


def _log_run(feed: Feed, feed_run: FeedRun) -> None:
    log.info(
        "feed %s: %s, %d accepted, %d duplicates, %d rejected%s",
        feed.name,
        feed_run.status,
        feed_run.accepted,
        feed_run.duplicates,
        feed_run.rejected,
        f" ({feed_run.error})" if feed_run.error else "",
    )


def run_worker(
    *,
    once: bool,
    poll_seconds: float = POLL_SECONDS,
    unit_of_work: UnitOfWork = transaction,
    stop: threading.Event | None = None,
    on_run: Callable[[Feed, FeedRun], None] | None = None,
) -> int:
    """Run due feeds; with `once`, a single pass, else poll every `poll_seconds` until `stop`
    is set. Returns the number of runs done."""
    worker = worker_name()
    stop = stop or threading.Event()
    # Scheduled Cyber Activity Reports, when CYBERFUSION_CAR_SCHEDULE asks for them.
    car_cadence = product_jobs.cadence_from_env()
    total = 0
    while True:
        try:
            total += run_due(unit_of_work=unit_of_work, worker=worker, on_run=on_run)
            # Large submissions stored at bulk speed wait here for their correlation.
            correlation_jobs.run_pending(unit_of_work=unit_of_work)
            if car_cadence is not None:
                product_jobs.run_scheduled(unit_of_work=unit_of_work, cadence=car_cadence)
        except Exception:
            if once:
                raise
            # The database may be briefly unreachable: try again at the next poll.
            log.exception("worker %s: pass failed", worker)
        if once or stop.wait(poll_seconds):
            return total
