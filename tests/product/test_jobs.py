"""The scheduled CAR batch: periods, one batch per period, run by the worker when configured."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion import worker
from cyberfusion.core.time import utcnow
from cyberfusion.product import jobs
from cyberfusion.product.models import Product, ProductBatch
from tests.factories import product as product_factory


@pytest.fixture
def unit_of_work(session: Session):  # type: ignore[no-untyped-def]
    @contextmanager
    def _unit() -> Iterator[Session]:
        nested = session.begin_nested()
        try:
            yield session
        except BaseException:
            nested.rollback()
            raise
        nested.commit()

    return _unit


def test_periods_are_the_last_complete_utc_day_or_week() -> None:
    wednesday = datetime(2026, 11, 25, 15, 30, tzinfo=UTC)
    assert jobs.last_period("daily", wednesday) == (
        datetime(2026, 11, 24, tzinfo=UTC),
        datetime(2026, 11, 25, tzinfo=UTC),
    )
    assert jobs.last_period("weekly", wednesday) == (
        datetime(2026, 11, 16, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    with pytest.raises(ValueError, match="cadence must be one of daily, weekly"):
        jobs.last_period("hourly", wednesday)


def test_the_schedule_is_off_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(jobs.SCHEDULE_ENV, raising=False)
    assert jobs.cadence_from_env() is None
    monkeypatch.setenv(jobs.SCHEDULE_ENV, "Weekly")
    assert jobs.cadence_from_env() == "weekly"
    monkeypatch.setenv(jobs.SCHEDULE_ENV, "hourly")
    with pytest.raises(ValueError, match="CYBERFUSION_CAR_SCHEDULE must be off, daily or weekly"):
        jobs.cadence_from_env()


def test_a_period_is_issued_once(session: Session, unit_of_work) -> None:  # type: ignore[no-untyped-def]
    product_factory.submit(
        session, "partner-northwind", "domain-name,batch-c2.fr,c2,80\ndomain-name,x.de,scam,60\n"
    )
    tomorrow = utcnow() + timedelta(days=1)
    run = jobs.run_scheduled(unit_of_work=unit_of_work, cadence="daily", now=tomorrow)
    assert run is not None
    assert (run.issued, run.countries) == (2, 196)
    batch = session.scalars(
        select(ProductBatch).where(ProductBatch.period_start == run.period_start)
    ).one()
    assert batch.finished_at is not None
    products = session.scalars(
        select(Product.country_code).where(Product.period_start == run.period_start)
    ).all()
    assert sorted(products) == ["DE", "FR"]
    assert jobs.run_scheduled(unit_of_work=unit_of_work, cadence="daily", now=tomorrow) is None


def test_the_worker_runs_the_batch_when_configured(
    session: Session, unit_of_work, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(jobs.SCHEDULE_ENV, "weekly")
    worker.run_worker(once=True, unit_of_work=unit_of_work)
    start, _ = jobs.last_period("weekly", utcnow())
    batch = session.scalars(
        select(ProductBatch).where(
            ProductBatch.cadence == "weekly", ProductBatch.period_start == start
        )
    ).one()
    assert batch.countries == 196
