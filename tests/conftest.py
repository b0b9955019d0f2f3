"""Test harness: a real database built by the migrations, one transaction rolled back per test.

SQLite by default; set CYBERFUSION_TEST_DATABASE_URL=postgresql+psycopg://user@host:port/db to
run the same suite on PostgreSQL (a fresh database is created beside `db` and dropped after).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

TEST_ROOT = Path(__file__).parent
# Derived files the tests may keep between runs (the compiled warninglists).
TEST_CACHE_DIR = Path(
    os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "cyberfusion-tests"
)


def _clear_caches() -> None:
    from cyberfusion.core import config, db

    config.get_settings.cache_clear()
    db.get_engine.cache_clear()
    db.get_sessionmaker.cache_clear()


@contextmanager
def fresh_database(tmp_dir: Path) -> Iterator[str]:
    """A new, empty database on the configured server (or a new SQLite file); dropped after."""
    base = os.environ.get("CYBERFUSION_TEST_DATABASE_URL", "")
    if not base.startswith("postgresql"):
        yield f"sqlite:///{tmp_dir / f'cf-{uuid.uuid4().hex[:8]}.sqlite3'}"
        return
    url = make_url(base)
    name = f"cf_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        from cyberfusion.core import db

        db.get_engine.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("db")
    with fresh_database(tmp) as url:
        os.environ["CYBERFUSION_DATABASE_URL"] = url
        os.environ["CYBERFUSION_DATA_DIR"] = str(tmp / "data")
        # Intake flags values on the compiled warninglists (about 30 s to compile, once per list
        # package version): keep them across runs, and share them with live servers.
        os.environ.setdefault("CYBERFUSION_CACHE_DIR", str(TEST_CACHE_DIR))
        os.environ["CYBERFUSION_SECRET_KEY"] = "test-secret-key-not-for-production"
        _clear_caches()
        yield url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """Schema from the real migrations, then the demo world committed once for every test."""
    from cyberfusion.account.schemas import Actor
    from cyberfusion.core.db import get_engine, get_sessionmaker
    from cyberfusion.core.migrate import upgrade
    from cyberfusion.demo import service as demo_service

    upgrade(database_url)
    with get_sessionmaker()() as session:
        demo_service.load(session=session, actor=Actor.operator("test-setup"))
        session.commit()
    engine = get_engine()
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Production argon2 costs about 0.2 s a hash; tests check behaviour, not cost."""
    from argon2 import PasswordHasher

    from cyberfusion.account import service as account_service

    monkeypatch.setattr(
        account_service, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    )


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """Everything a test writes, commits included, is rolled back when it ends."""
    connection = engine.connect()
    outer = connection.begin()
    db_session = Session(
        bind=connection, join_transaction_mode="create_savepoint", expire_on_commit=False
    )
    try:
        yield db_session
    finally:
        db_session.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def app(session: Session):  # type: ignore[no-untyped-def]
    from cyberfusion.api.deps import get_session
    from cyberfusion.app import create_app

    application = create_app()

    def _session() -> Iterator[Session]:
        # Each request is its own savepoint inside the test's transaction: a failed request
        # rolls back its own work only, as a real request's transaction would.
        request_scope = session.begin_nested()
        try:
            yield session
            if request_scope.is_active:
                request_scope.commit()
        except BaseException:
            if request_scope.is_active:
                request_scope.rollback()
            raise

    application.dependency_overrides[get_session] = _session
    return application


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app) as test_client:
        yield test_client


@pytest.fixture
def cli(session: Session, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Run CLI commands inside the test's transaction."""
    from typer.testing import CliRunner

    import cyberfusion.cli as cli_module

    @contextmanager
    def _transaction() -> Iterator[Session]:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise

    monkeypatch.setattr(cli_module, "transaction", _transaction)
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
        return runner.invoke(cli_module.app, list(args), input=input)

    return invoke
