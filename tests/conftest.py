"""Fixtures shared by the suite: a database per test, on SQLite and on PostgreSQL.

PostgreSQL tests use TEST_POSTGRES_URL (default: the local server's ``test``
database) with a fresh schema per test. Outside CI they skip, saying why, when
no server answers; in CI (CI=true) an unreachable server fails them instead.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from bot.slack.driver import SlackDriver
from bot.stack import LocalStack
from storage.db import Database, normalize_url
from tests.flow_support import running_stack

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _postgres_problem() -> str | None:
    try:
        engine = create_engine(normalize_url(POSTGRES_URL), connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as error:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable ({type(error).__name__})"
    return None


@pytest.fixture(scope="session")
def postgres_available() -> None:
    problem = _postgres_problem()
    if problem is None:
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{problem}; CI must run the PostgreSQL tests")
    pytest.skip(problem)


@pytest.fixture
def postgres_url(postgres_available: None) -> Iterator[str]:
    """A PostgreSQL URL whose tables live in a schema of this test's own."""
    schema = "t_" + secrets.token_hex(6)
    admin = create_engine(normalize_url(POSTGRES_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
        connection.execute(text("CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public"))
    separator = "&" if "?" in POSTGRES_URL else "?"
    options = quote(f"-csearch_path={schema},public")
    yield f"{normalize_url(POSTGRES_URL)}{separator}options={options}"
    with admin.connect() as connection:
        connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/bot.sqlite3"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    database.migrate()
    yield database
    database.dispose()


@pytest.fixture
def stack(database_url: str) -> Iterator[LocalStack]:
    """The bot, the Slack stand-in and the EnOS sandbox on loopback, on this database."""
    with running_stack(database_url) as running:
        yield running


@pytest.fixture
def driver(stack: LocalStack) -> Iterator[SlackDriver]:
    """Plays Slack toward the stack's bot."""
    with stack.driver() as slack:
        yield slack
