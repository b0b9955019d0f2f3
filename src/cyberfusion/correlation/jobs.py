"""The correlation job: large submissions, stored at bulk speed, correlated after they land.

A submission with more accepted objects or values than `CYBERFUSION_INLINE_CORRELATION_MAX`
(20,000 by default) is committed with `correlation = "pending"`. A worker (or the server's jobs
thread on the embedded default) claims it, runs `service.after_intake` on it in one transaction
and marks it done; an error marks it failed with the reason, and the submission's data stays
stored. A claim older than `STALE_AFTER` (the process died) is taken over.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from cyberfusion.core import collector
from cyberfusion.core.time import utcnow
from cyberfusion.correlation import service as correlation_service
from cyberfusion.intake.models import Submission

log = logging.getLogger(__name__)

STALE_AFTER = timedelta(hours=2)

UnitOfWork = Callable[[], AbstractContextManager[Session]]


def claim(*, session: Session) -> int | None:
    """Take the oldest pending submission (or one whose claim went stale); its id, or None."""
    now = utcnow()
    due = or_(
        Submission.correlation == "pending",
        (Submission.correlation == "running")
        & (Submission.correlation_claimed_at < now - STALE_AFTER),
    )
    candidate = select(Submission.id).where(due).order_by(Submission.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        candidate = candidate.with_for_update(skip_locked=True)
    found = session.scalar(candidate)
    if found is None:
        return None
    # On SQLite the UPDATE is the claim: only one writer at a time, and the condition is
    # checked again.
    result = session.execute(
        update(Submission)
        .where(Submission.id == found, due)
        .values(correlation="running", correlation_claimed_at=now)
        .execution_options(synchronize_session=False)
    )
    return found if result.rowcount == 1 else None  # type: ignore[attr-defined]


def run_pending(*, unit_of_work: UnitOfWork, limit: int = 10) -> int:
    """Correlate up to `limit` pending submissions, one transaction each; returns how many
    were handled (done or failed)."""
    handled = 0
    for _ in range(limit):
        with unit_of_work() as session:
            submission_id = claim(session=session)
        if submission_id is None:
            break
        try:
            with unit_of_work() as session, collector.paused():
                correlation_service.after_intake(session=session, submission_id=submission_id)
                session.execute(
                    update(Submission)
                    .where(Submission.id == submission_id)
                    .values(correlation="done", correlated_at=utcnow(), correlation_error=None)
                    .execution_options(synchronize_session=False)
                )
        except Exception as exc:
            log.exception("correlating submission %s failed", submission_id)
            with unit_of_work() as session:
                session.execute(
                    update(Submission)
                    .where(Submission.id == submission_id)
                    .values(correlation="failed", correlation_error=f"{exc}"[:500])
                    .execution_options(synchronize_session=False)
                )
        handled += 1
    return handled
