"""Alembic environment: runs on the engine the application hands over.

From the command line (``alembic upgrade head`` with alembic.ini at the top level)
it connects to DATABASE_URL instead.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import Engine
from sqlmodel import SQLModel

import storage.models  # noqa: F401 - registers the tables on SQLModel.metadata
from storage.db import create_db_engine

config = context.config
engine: Engine | None = config.attributes.get("engine")
if engine is None:
    engine = create_db_engine(os.environ.get("DATABASE_URL", "sqlite:///revoke-cert-bot.sqlite3"))

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
