"""Engines, sessions and migrations for SQLite (embedded) and PostgreSQL (shared).

Writes on SQLite start with ``BEGIN IMMEDIATE`` so that two processes sharing a
file queue for the write lock instead of failing halfway through a transaction.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

MIGRATIONS = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every replica.
_MIGRATION_LOCK_KEY = 0x5EC0C0DE

P = ParamSpec("P")
T = TypeVar("T")


def normalize_url(url: str) -> str:
    """Let ``postgresql://`` and ``postgres://`` mean the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url.removeprefix(prefix)
    return url


def describe_url(url: str) -> str:
    """The URL with any password hidden, for logs and messages."""
    return make_url(normalize_url(url)).render_as_string(hide_password=True)


def create_db_engine(url: str) -> Engine:
    url = normalize_url(url)
    if url.startswith("sqlite"):
        # A file needs no liveness check before each use, unlike a server connection.
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _make_sqlite_transactional(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


def _make_sqlite_transactional(engine: Engine) -> None:
    # pysqlite's own transaction handling cannot issue BEGIN IMMEDIATE; take it over.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """One engine; ``write()`` and ``read()`` give sessions that commit or roll back."""

    def __init__(self, url: str) -> None:
        self.url = normalize_url(url)
        self.engine = create_db_engine(self.url)
        self._write_engine = self.engine.execution_options(sqlite_immediate=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def write(self) -> Iterator[Session]:
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        with Session(self.engine, expire_on_commit=False) as session:
            yield session

    def migrate(self) -> None:
        migrate(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({describe_url(self.url)!r})"


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest version; safe when several replicas start at once."""
    config = alembic_config(engine)
    if engine.dialect.name != "postgresql":
        command.upgrade(config, "head")
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        try:
            command.upgrade(config, "head")
        finally:
            connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": _MIGRATION_LOCK_KEY}
            )
            connection.commit()


async def run_sync(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run blocking database work off the event loop."""
    return await asyncio.to_thread(functools.partial(func, *args, **kwargs))
