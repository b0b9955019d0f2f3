"""`in_ids`: one array parameter for any number of ids, the same rows as `IN (...)`; JSON text;
`write_behind`: inserts stored by the end of the block, errors raised there; `bulk_insert`:
time stamps stored as the same instant; `custom_plans`: for its block only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from cyberfusion.core.db import bulk_insert, custom_plans, in_ids, json_text, write_behind
from cyberfusion.core.time import utcnow
from cyberfusion.enrichment.models import Jurisdiction
from cyberfusion.registry.models import Organisation


def test_in_ids_selects_exactly_the_given_ids(session: Session) -> None:
    every = sorted(session.scalars(select(Organisation.id)).all())
    wanted = every[::2]
    found = session.scalars(
        select(Organisation.id)
        .where(in_ids(session, Organisation.id, wanted))
        .order_by(Organisation.id)
    ).all()
    assert found == wanted
    assert wanted == sorted(
        session.scalars(select(Organisation.id).where(Organisation.id.in_(wanted))).all()
    )


def test_in_ids_of_nothing_and_of_unknown_ids_selects_nothing(session: Session) -> None:
    top = max(session.scalars(select(Organisation.id)).all())
    for ids in ([], [top + 1, top + 2]):
        assert (
            session.scalars(
                select(Organisation.id).where(in_ids(session, Organisation.id, ids))
            ).all()
            == []
        )


def test_in_ids_takes_more_ids_than_a_statement_takes_parameters(session: Session) -> None:
    every = sorted(session.scalars(select(Organisation.id)).all())
    # SQLite allows 32,766 parameters per statement, PostgreSQL 65,535.
    ids = [*every, *range(every[-1] + 1, every[-1] + 70_001)]
    assert (
        sorted(
            session.scalars(select(Organisation.id).where(in_ids(session, Organisation.id, ids)))
        )
        == every
    )


def test_in_ids_takes_string_ids_too(session: Session) -> None:
    slugs = sorted(session.scalars(select(Organisation.slug)).all())
    wanted = [*slugs[:3], "no-such-organisation"]
    found = session.scalars(
        select(Organisation.slug)
        .where(in_ids(session, Organisation.slug, wanted))
        .order_by(Organisation.slug)
    ).all()
    assert found == slugs[:3]


def test_json_text_writes_what_json_dumps_would_read_back_the_same() -> None:
    value = {"country": "FR", "n": 3, "nested": [1.5, None, True], "é": "ü"}
    assert json.loads(json_text(value)) == value
    # What orjson refuses still goes through json.dumps, as before.
    assert json.loads(json_text({"big": 2**70})) == {"big": 2**70}
    assert json.loads(json_text({1: "a"})) == {"1": "a"}
    # Date-times were refused before and still are.
    with pytest.raises(TypeError):
        json_text({"at": datetime(2026, 11, 29, tzinfo=UTC)})


# The driver's own error on either database: PostgreSQL names the constraint, SQLite the columns.
_DUPLICATE = r"uq_jurisdiction_observable_id|UNIQUE constraint failed: jurisdiction"


def _places(first: int, count: int, country: str = "FR") -> list[dict[str, object]]:
    now = utcnow()
    return [
        {
            "observable_id": first + n,
            "country_code": country,
            "reason": "hosted-in",
            "source": "test",
            "created_at": now,
        }
        for n in range(count)
    ]


def _stored(session: Session, first: int) -> list[tuple[int, str]]:
    return [
        (row.observable_id, row.country_code)
        for row in session.execute(
            select(Jurisdiction.observable_id, Jurisdiction.country_code)
            .where(Jurisdiction.observable_id >= first)
            .order_by(Jurisdiction.observable_id, Jurisdiction.country_code)
        )
    ]


def test_write_behind_stores_every_insert_by_the_end_of_the_block(session: Session) -> None:
    first = 10_000_000
    with write_behind(session) as writer:
        writer.insert("jurisdiction", _places(first, 3000))
        writer.insert("jurisdiction", [])
        # The caller's own statements run between the inserts (the driver's lock orders them).
        assert session.scalar(select(func.count()).select_from(Organisation))
        writer.insert("jurisdiction", _places(first + 3000, 2000, country="DE"))
        writer.insert("jurisdiction", _places(first, 10, country="GB"))
    stored = _stored(session, first)
    assert len(stored) == 5010
    assert stored[:2] == [(first, "FR"), (first, "GB")]
    assert stored[-1] == (first + 4999, "DE")
    # The rows are in the session's transaction, which goes on.
    session.flush()
    assert len(_stored(session, first)) == 5010


def test_write_behind_raises_an_insert_error_when_the_block_ends(session: Session) -> None:
    first = 20_000_000
    with (
        pytest.raises(Exception, match=_DUPLICATE),
        write_behind(session) as writer,
    ):
        writer.insert("jurisdiction", _places(first, 5))
        writer.insert("jurisdiction", _places(first + 4, 2))


def test_write_behind_reports_the_callers_own_error_first(session: Session) -> None:
    first = 30_000_000

    class Stop(Exception):
        pass

    # Where the inserts are made at once (SQLite) the failing insert raises itself.
    deferred = session.get_bind().dialect.name == "postgresql"
    expected = pytest.raises(Stop) if deferred else pytest.raises(Exception, match=_DUPLICATE)
    with expected, write_behind(session) as writer:
        writer.insert("jurisdiction", _places(first, 5))
        writer.insert("jurisdiction", _places(first, 5))
        raise Stop


def test_bulk_insert_stores_each_time_stamp_as_the_same_instant_in_utc(session: Session) -> None:
    first = 40_000_000
    aware = datetime(2026, 3, 29, 1, 30, 15, 123456, tzinfo=timezone(timedelta(hours=-5)))
    naive = datetime(2026, 3, 29, 1, 30, 15, 654321)  # read as UTC, as the columns' type does
    rows = [
        {
            "observable_id": first + i,
            "country_code": "FR",
            "reason": "hosted-in",
            "source": "test",
            "created_at": stamp,
        }
        for i, stamp in enumerate([aware, naive, aware])
    ]
    bulk_insert(session, "jurisdiction", rows)
    stored = session.execute(
        select(Jurisdiction.observable_id, Jurisdiction.created_at)
        .where(Jurisdiction.observable_id >= first)
        .order_by(Jurisdiction.observable_id)
    ).all()
    assert [(row[0], row[1].astimezone(UTC)) for row in stored] == [
        (first, datetime(2026, 3, 29, 6, 30, 15, 123456, tzinfo=UTC)),
        (first + 1, datetime(2026, 3, 29, 1, 30, 15, 654321, tzinfo=UTC)),
        (first + 2, datetime(2026, 3, 29, 6, 30, 15, 123456, tzinfo=UTC)),
    ]


def test_custom_plans_holds_for_the_block_only(session: Session) -> None:
    postgres = session.get_bind().dialect.name == "postgresql"

    def mode() -> str | None:
        return session.execute(text("SHOW plan_cache_mode")).scalar() if postgres else None

    before = mode()
    with custom_plans(session):
        inside = mode()
        # The block's statements run in the session's transaction as usual.
        assert session.scalar(select(func.count()).select_from(Organisation))
    assert mode() == before
    if postgres:
        assert (before, inside) == ("auto", "force_custom_plan")
    else:
        assert inside is None


def test_custom_plans_lets_an_error_through_and_ends_with_it(session: Session) -> None:
    postgres = session.get_bind().dialect.name == "postgresql"

    class Stop(Exception):
        pass

    with pytest.raises(Stop), custom_plans(session):
        raise Stop
    # An error of the caller's own leaves the transaction usable, with the setting put back.
    if postgres:
        assert session.execute(text("SHOW plan_cache_mode")).scalar() == "auto"
    # A failed statement inside: the error is the statement's, and a rollback ends it.
    with pytest.raises(DBAPIError), custom_plans(session):
        session.execute(text("SELECT * FROM cf_no_such_table"))
    session.rollback()
    if postgres:
        assert session.execute(text("SHOW plan_cache_mode")).scalar() == "auto"
