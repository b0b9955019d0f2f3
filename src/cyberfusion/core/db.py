"""Database engine, sessions and the declarative base shared by every domain."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import lru_cache
from typing import Any, cast

import orjson
import psycopg
from psycopg import postgres
from psycopg.adapt import Dumper
from sqlalchemy import (
    JSON,
    ColumnElement,
    DateTime,
    Engine,
    MetaData,
    String,
    any_,
    create_engine,
    event,
    func,
    literal,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator, UserDefinedType

from cyberfusion.core.config import get_settings
from cyberfusion.core.time import as_utc

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware on the way out on both databases (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: UTCDateTime, dict[str, Any]: JSONType}


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so that
    # SAVEPOINTs (nested transactions) work.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


class _IntIds:
    """Integer ids bound as one PostgreSQL bigint[] parameter (see `in_ids`). Not a tuple or a
    list: the driver's own adapters for those would be found first."""

    __slots__ = ("ids",)

    def __init__(self, ids: Sequence[int]) -> None:
        self.ids = ids


class _BigIntArray(UserDefinedType[Any]):
    """bigint[] for a bound `_IntIds`: no bind processing in SQLAlchemy, no cast rendered;
    psycopg sends the parameter with the type its dumper names."""

    cache_ok = True

    def get_col_spec(self, **kw: Any) -> str:
        return "BIGINT[]"

    def bind_processor(self, dialect: Dialect) -> None:
        return None


_BIGINT_ARRAY = _BigIntArray()


class _IntIdsDumper(Dumper):
    oid = postgres.types["int8"].array_oid

    def dump(self, obj: Any) -> bytes:
        return ("{" + ",".join(map(str, obj.ids)) + "}").encode()


# Globally, at import: SQLAlchemy's psycopg dialect copies the global adapters when an engine
# is created, so a later registration would not reach it.
psycopg.adapters.register_dumper(_IntIds, _IntIdsDumper)


def json_text(value: Any) -> str:
    """JSON column values as text: orjson (several times faster than `json.dumps`, which the
    writes of a large correlation job felt), and `json.dumps` for what orjson refuses (integers
    beyond 64 bits, keys that are not strings) so that nothing accepted before is refused now.
    Date-times are refused as before, not turned into strings."""
    try:
        return orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATETIME).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            from pathlib import Path

            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False}, json_serializer=json_text
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
        return engine
    return create_engine(
        url, pool_pre_ping=True, pool_size=10, max_overflow=20, json_serializer=json_text
    )


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    return make_engine(get_settings().database_url)


@lru_cache(maxsize=1)
def get_sessionmaker() -> sessionmaker[Session]:
    # Foreign keys name tables by string; every domain's tables must be on the metadata
    # before the first flush, whichever adapter (CLI, app, job) starts first.
    from cyberfusion.core.tables import import_all

    import_all()
    return sessionmaker(bind=get_engine(), expire_on_commit=False)


@contextmanager
def transaction() -> Iterator[Session]:
    """One unit of work for adapters (CLI, jobs): commit on success, roll back on error."""
    session = get_sessionmaker()()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def bulk_insert(session: Session, table: str, rows: list[dict[str, Any]]) -> None:
    """Insert many rows (dicts with the same keys) in the session's transaction: COPY on
    PostgreSQL, a Core executemany elsewhere (the ORM's bulk path costs as much again). Dict
    values are JSON columns."""
    if not rows:
        return
    connection = session.connection()
    columns = list(rows[0])
    if connection.dialect.name != "postgresql":
        # The driver's executemany with the columns' own bind processing, applied once per
        # distinct value of a column where the values repeat (the time stamp of a batch):
        # SQLAlchemy's executemany would process each cell again, which costs more than the
        # insert itself.
        dialect = connection.dialect
        sql_table = Base.metadata.tables[table]
        processors = [
            sql_table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns
        ]
        # Only the columns with a bind processor are touched; a processed value that repeats
        # (the batch's time stamp) is processed once.
        processed = [(i, process) for i, process in enumerate(processors) if process is not None]
        memo: dict[tuple[int, Any], Any] = {}
        values = [list(row.values()) for row in rows]
        for cells in values:
            for i, process in processed:
                value = cells[i]
                if value is None:
                    continue
                if isinstance(value, datetime):
                    key = (i, value)
                    cached = memo.get(key)
                    if cached is None:
                        cached = memo[key] = process(value)
                    cells[i] = cached
                else:
                    cells[i] = process(value)

        # Names checked against the metadata above (sql_table.c[name] raises otherwise).
        names = ", ".join(columns)
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {sql_table.name} ({names}) VALUES ({marks})"  # noqa: S608
        cursor: Any = connection.connection.cursor()
        try:
            cursor.executemany(statement, values)
        finally:
            cursor.close()
        return
    _copy_rows(connection.connection.dbapi_connection, table, rows)


def _copy_rows(dbapi_connection: Any, table: str, rows: list[dict[str, Any]]) -> None:
    """PostgreSQL's COPY of `rows` into `table` on a driver connection."""
    # Table and column names come from the callers' models; the values go through COPY. The
    # JSON and time stamp columns are known from the metadata, not found by testing every cell.
    columns = list(rows[0])
    sql_table = Base.metadata.tables[table]
    json_at = [i for i, name in enumerate(columns) if isinstance(sql_table.c[name].type, JSON)]
    # Time stamps go out as text, each distinct one formatted once: a batch's rows share one,
    # and the driver's dumper for a datetime costs as much as the rest of the row (177,000
    # enrichment rows: 0.40 s of CPU to send with it, 0.19 s with the text).
    time_at = [
        i for i, name in enumerate(columns) if isinstance(sql_table.c[name].type, UTCDateTime)
    ]
    stamps: dict[datetime, str] = {}
    copy_statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
    with dbapi_connection.cursor() as pg_cursor, pg_cursor.copy(copy_statement) as copy:
        if not json_at and not time_at:
            for row in rows:
                copy.write_row(tuple(row.values()))
            return
        for row in rows:
            cells = list(row.values())
            for i in json_at:
                if cells[i] is not None:
                    cells[i] = json_text(cells[i])
            for i in time_at:
                value = cells[i]
                if isinstance(value, datetime):
                    stamp = stamps.get(value)
                    if stamp is None:
                        stamp = stamps[value] = as_utc(value).isoformat()
                    cells[i] = stamp
            copy.write_row(cells)


class WriteBehind:
    """Inserts that the database works through while the caller goes on (`write_behind`)."""

    def __init__(self, session: Session) -> None:
        self._session = session
        connection = session.connection()
        self._driver: Any = None
        self._worker: ThreadPoolExecutor | None = None
        self._pending: list[Future[None]] = []
        if connection.dialect.name == "postgresql":
            self._driver = connection.connection.dbapi_connection
            self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="write-behind")

    def insert(self, table: str, rows: list[dict[str, Any]]) -> None:
        """`bulk_insert(session, table, rows)`, on PostgreSQL sent by the helper thread: the
        rows are not visible to the caller's statements until `wait()` (or the block's end)."""
        if not rows:
            return
        if self._worker is None:
            bulk_insert(self._session, table, rows)
            return
        self._pending.append(self._worker.submit(_copy_rows, self._driver, table, rows))

    def wait(self) -> None:
        """Wait until every insert handed over is stored; the first error, if any, is raised."""
        pending, self._pending = self._pending, []
        error: BaseException | None = None
        for future in pending:
            failure = future.exception()
            if failure is not None and error is None:
                error = failure
        if error is not None:
            raise error

    def close(self) -> None:
        if self._worker is not None:
            self._worker.shutdown(wait=True)


@contextmanager
def write_behind(session: Session) -> Iterator[WriteBehind]:
    """Bulk inserts that overlap the caller's own work, in the session's transaction.

    On PostgreSQL a helper thread sends each `insert` as a COPY on the session's connection
    while the caller computes the next rows: the server's part of a COPY (index entries, WAL)
    runs on another core instead of being waited for. The driver's connection lock orders the
    COPYs with the caller's statements, one at a time, in no promised order: the caller must
    not read, in the block, rows it handed over in the block. Every insert is stored (or its
    error raised) when the block ends. On SQLite the inserts are made at once.
    """
    writer = WriteBehind(session)
    try:
        yield writer
    except BaseException:
        # The connection is free again only when the helper is done; the caller's error is
        # the one reported (an insert failing after it changes nothing: the transaction is
        # rolled back).
        with suppress(Exception):
            writer.wait()
        raise
    else:
        writer.wait()
    finally:
        writer.close()


@contextmanager
def custom_plans(session: Session) -> Iterator[None]:
    """PostgreSQL: plan each statement of the block for its own parameters, in the session's
    transaction; elsewhere nothing.

    The driver prepares a statement it has run five times, and PostgreSQL may then keep one
    generic plan for every parameter: for a walk that asks "links of these 400 observables,
    first by id" one time and "of this one" the next, the generic plan of such a query can scan
    where a probe would do. A custom plan costs its planning on every execution, which only a
    few callers win back; the setting is the transaction's own (`SET LOCAL`) and is put back
    when the block ends."""
    connection = session.connection()
    if connection.dialect.name != "postgresql":
        yield
        return
    previous = connection.exec_driver_sql("SHOW plan_cache_mode").scalar()
    connection.execute(text("SELECT set_config('plan_cache_mode', 'force_custom_plan', true)"))
    try:
        yield
    finally:
        # After a failed statement the transaction takes nothing but a rollback, which ends
        # the setting with it; after any other error the caller's transaction goes on.
        driver: Any = connection.connection.dbapi_connection
        if driver.info.transaction_status != psycopg.pq.TransactionStatus.INERROR:
            connection.execute(
                text("SELECT set_config('plan_cache_mode', :previous, true)"),
                {"previous": previous},
            )


def plain(session: Session) -> Connection:
    """The session's connection, flushed, for selects of plain columns over many rows: the rows
    come back without the ORM's per-row loading, which for 100,000 rows costs about as much as
    the query. Flushing first sees what the session holds, as `session.execute` would."""
    session.flush()
    return session.connection()


def in_ids(
    session: Session, column: Any, ids: Sequence[int] | Sequence[str]
) -> ColumnElement[bool]:
    """`column IN ids` with the ids (integers, or strings such as STIX ids) as one bound
    array, however many there are: `= ANY` of a typed array on PostgreSQL,
    `IN (SELECT value FROM json_each(?))` on SQLite. Both plan an index probe per id; neither
    renders, sends and parses a parameter per id, which for thousands of ids costs more than
    the query itself."""
    if session.get_bind().dialect.name == "postgresql":
        # A typed array parameter, not a cast of text: the planner then knows the values (its
        # estimate, and a hashed lookup if it scans), where a cast is opaque until run time.
        if ids and isinstance(ids[0], str):
            condition: ColumnElement[bool] = column == any_(literal(list(ids), ARRAY(String)))
        else:
            # Integers go out as one bigint[] literal written in C (`_IntIdsDumper`), not
            # through the driver's element-by-element list adapter.
            numbers = cast(Sequence[int], ids)
            condition = column == any_(literal(_IntIds(numbers), _BIGINT_ARRAY))
        return condition
    values = func.json_each(json.dumps(list(ids))).table_valued("value")
    in_values: ColumnElement[bool] = column.in_(select(values.c.value))
    return in_values
