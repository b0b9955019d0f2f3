"""The scheduled batch of Cyber Activity Reports: every member country's CAR for the last
complete day or week, issued once per period by whichever worker claims it first.

`cyberfusion worker` runs it when CYBERFUSION_CAR_SCHEDULE is `daily` or `weekly` (default
`off`). Days and weeks are UTC; a week starts on Monday. The batch is one transaction: its
`product_batch` row is the claim (unique per cadence and period start), so with several workers
on PostgreSQL the second one's insert waits for the first and then fails, and it moves on.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cyberfusion.account.permissions import Role
from cyberfusion.core.time import as_utc, utcnow
from cyberfusion.product import service as product_service
from cyberfusion.product.models import ProductBatch
from cyberfusion.registry import service as registry_service

log = logging.getLogger(__name__)

SCHEDULE_ENV = "CYBERFUSION_CAR_SCHEDULE"
CADENCES = ("daily", "weekly")
ISSUER_SLUG = "hub"

UnitOfWork = Callable[[], AbstractContextManager[Session]]


def cadence_from_env() -> str | None:
    """The configured cadence, or None when the batch is off."""
    value = os.environ.get(SCHEDULE_ENV, "off").strip().lower()
    if value in ("", "off"):
        return None
    if value not in CADENCES:
        raise ValueError(f"{SCHEDULE_ENV} must be off, daily or weekly, not {value!r}")
    return value


def last_period(cadence: str, now: datetime) -> tuple[datetime, datetime]:
    """The last complete day or week (UTC, weeks from Monday) before `now`."""
    now = as_utc(now)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    if cadence == "daily":
        return midnight - timedelta(days=1), midnight
    if cadence == "weekly":
        monday = midnight - timedelta(days=midnight.weekday())
        return monday - timedelta(days=7), monday
    raise ValueError(f"cadence must be one of {', '.join(CADENCES)}, not {cadence!r}")


@dataclass(frozen=True)
class BatchRun:
    period_start: datetime
    period_end: datetime
    countries: int
    issued: int


def run_scheduled(
    *, unit_of_work: UnitOfWork, cadence: str, now: datetime | None = None
) -> BatchRun | None:
    """Issue the last complete period's CARs unless a worker already did; None if so."""
    start, end = last_period(cadence, now or utcnow())
    try:
        with unit_of_work() as session:
            done = session.scalar(
                select(ProductBatch.id).where(
                    ProductBatch.cadence == cadence, ProductBatch.period_start == start
                )
            )
            if done is not None:
                return None
            batch = ProductBatch(
                cadence=cadence, period_start=start, period_end=end, started_at=utcnow()
            )
            session.add(batch)
            session.flush()
            issuer = registry_service.get_by_slug_or_raise(session=session, slug=ISSUER_SLUG)
            actor = product_service.org_actor(issuer, Role.HUB_ANALYST)
            results = product_service.issue_all_cars(
                session=session, actor=actor, since=start, until=end
            )
            batch.countries = len(results)
            batch.issued = sum(1 for _, result in results if result.issued)
            batch.finished_at = utcnow()
            session.flush()
            run = BatchRun(start, end, batch.countries, batch.issued)
    except IntegrityError:
        # Another worker claimed this period between our check and our insert.
        return None
    log.info(
        "CAR batch (%s) %s to %s: %d of %d countries issued",
        cadence,
        start.date(),
        end.date(),
        run.issued,
        run.countries,
    )
    return run
