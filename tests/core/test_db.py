"""`in_ids`: one array parameter for any number of ids, the same rows as `IN (...)`; JSON text."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cyberfusion.core.db import in_ids, json_text
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
