"""The migrations build exactly the schema the models describe, on both databases."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, inspect

from cyberfusion.core.db import Base
from cyberfusion.core.tables import import_all
from tests.conftest import fresh_database


def test_models_and_migrations_agree(engine: Engine) -> None:
    import_all()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_the_derived_tables_lose_and_regain_their_foreign_keys(tmp_path: Path) -> None:
    # Migration 0018 drops the foreign keys of the tables derived from observables; its
    # downgrade puts them back, and upgrading again gives the models' schema.
    from alembic import command

    from cyberfusion.core.db import make_engine
    from cyberfusion.core.migrate import alembic_config, current, upgrade

    def referred(url: str) -> dict[str, set[str]]:
        engine = make_engine(url)
        try:
            found = inspect(engine)
            return {
                table: {fk["referred_table"] for fk in found.get_foreign_keys(table)}
                for table in ("enrichment", "jurisdiction", "observable_link")
            }
        finally:
            engine.dispose()

    with fresh_database(tmp_path) as url:
        upgrade(url)
        assert referred(url) == {
            "enrichment": set(),
            "jurisdiction": set(),
            "observable_link": {"intel_object"},
        }
        command.downgrade(alembic_config(url), "0017")
        assert current(url) == "0017"
        assert referred(url) == {
            "enrichment": {"observable"},
            "jurisdiction": {"observable", "country"},
            "observable_link": {"observable", "intel_object"},
        }
        upgrade(url)
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                assert compare_metadata(context, Base.metadata) == []
        finally:
            engine.dispose()


def test_reported_by_rows_are_dropped_and_written_back_on_downgrade(tmp_path: Path) -> None:
    # Migration 0019 stops storing "reported-by" jurisdictions (readers take them from the
    # reports they may read); its downgrade writes them again from the occurrences.
    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from cyberfusion.account.schemas import Actor
    from cyberfusion.core.db import make_engine
    from cyberfusion.core.migrate import alembic_config, upgrade
    from cyberfusion.demo import activity as demo_activity
    from cyberfusion.demo import service as demo_service

    expected_sql = (
        "SELECT COUNT(*) FROM (SELECT DISTINCT o.observable_id, g.country_code"
        " FROM occurrence o JOIN organisation g ON g.id = o.owner_org_id"
        " JOIN country c ON c.iso2 = g.country_code WHERE c.is_member) AS reporters"
    )
    stored_sql = "SELECT COUNT(*) FROM jurisdiction WHERE reason = 'reported-by'"
    with fresh_database(tmp_path) as url:
        upgrade(url)
        engine = make_engine(url)
        try:
            with Session(engine) as session:
                demo_service.load(session=session, actor=Actor.operator("test"))
                demo_activity.load_activity(session=session)
                session.commit()
            with engine.connect() as connection:
                expected = connection.execute(text(expected_sql)).scalar_one()
                assert expected > 0
                assert connection.execute(text(stored_sql)).scalar_one() == 0
            engine.dispose()
            command.downgrade(alembic_config(url), "0018")
            with engine.connect() as connection:
                assert connection.execute(text(stored_sql)).scalar_one() == expected
            engine.dispose()
            upgrade(url)
            with engine.connect() as connection:
                assert connection.execute(text(stored_sql)).scalar_one() == 0
        finally:
            engine.dispose()
