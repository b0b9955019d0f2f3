"""Run the Alembic migrations shipped inside the package."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection


def alembic_config(url: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("cyberfusion").joinpath("migrations"))
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(url: str, revision: str = "heads") -> None:
    """Upgrade to `revision`; by default to every head, so that branches of the history (work
    done side by side, later joined by a merge revision) all apply."""
    command.upgrade(alembic_config(url), revision)


def current(url: str) -> str | None:
    """The applied revision(s), comma-separated when branches are applied side by side; None on
    an empty database."""
    from alembic.runtime.migration import MigrationContext

    from cyberfusion.core.db import make_engine

    engine = make_engine(url)
    with engine.connect() as conn:
        heads = MigrationContext.configure(conn).get_current_heads()
    engine.dispose()
    return ",".join(sorted(heads)) if heads else None
