"""Opening a results database: the error every store failure becomes, SQLite's connection
settings, the stored schema version and the current schema's tables. Migrations and `Store` both
build on it (so neither imports the other's module)."""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, insert, select
from sqlalchemy.pool import StaticPool

from mer_bench.core.errors import MerBenchError
from mer_bench.results.store import schema

#: Seconds a writer waits for another writer's lock before giving up (SQLite).
BUSY_TIMEOUT_S = 60


class StoreError(MerBenchError):
    """A results database that cannot be opened, reached or read as one."""


def stored_version(conn: Connection, where: str) -> int | None:
    """The schema version stored in the database `conn` reads; None when it has no tables."""
    tables = set(inspect(conn).get_table_names())
    if "runs" not in tables:
        if tables - {"meta"}:
            raise StoreError(
                f"{where}: not a mer-bench results database (tables {', '.join(sorted(tables))})"
            )
        return None
    if "meta" not in tables:
        return 1
    row = conn.execute(
        select(schema.meta.c.value).where(schema.meta.c.key == "schema_version")
    ).first()
    if not row:
        return 1
    try:
        return int(row[0])
    except (TypeError, ValueError):
        raise StoreError(
            f"{where}: its stored schema version {str(row[0])[:40]!r} (table meta) "
            "is not a number: a damaged or foreign database; mer-bench leaves it as "
            "it is"
        ) from None


def create_schema(conn: Connection) -> None:
    """The tables of the current schema and its version, in a new database."""
    schema.metadata.create_all(conn)
    conn.execute(insert(schema.meta).values(key="schema_version", value=str(schema.SCHEMA_VERSION)))


def sqlite_events(engine: Engine, wal: bool) -> None:
    """SQLite the way several writers need it: write-ahead log (`wal`: readers never wait for a
    writer), a busy timeout, foreign keys, and write transactions (`Store.transaction`) that take
    the write lock when they begin (BEGIN IMMEDIATE), so two writers queue instead of failing on
    a read-to-write lock upgrade; reads begin deferred and never take it."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # transactions begin where we say, below
        dbapi_conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        dbapi_conn.execute("PRAGMA foreign_keys = ON")
        if wal:
            dbapi_conn.execute("PRAGMA journal_mode = WAL")

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("mer_bench_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def memory_engine() -> Engine:
    """An in-memory SQLite database shared by every connection of the engine."""
    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    sqlite_events(engine, wal=False)
    return engine
