"""Remember Slack request signatures for as long as Slack's timestamps stay valid."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col

from storage.db import Database
from storage.models import SeenSlackRequest, utcnow

# Slack's timestamps are accepted for five minutes; keep a margin on both sides.
REMEMBER_FOR = timedelta(minutes=11)


def first_sighting(db: Database, signature: str) -> bool:
    """True the first time a signature is seen, False for a replay (in any replica).

    This runs before every acknowledgement, so it is one plain statement: no ORM unit
    of work, no exception for the replay case.
    """
    digest = hashlib.sha256(signature.encode()).hexdigest()
    insert = sqlite_insert if db.dialect == "sqlite" else postgresql_insert
    statement = (
        insert(SeenSlackRequest)
        .values(signature_hash=digest, seen_at=utcnow())
        .on_conflict_do_nothing(index_elements=["signature_hash"])
        .returning(col(SeenSlackRequest.signature_hash))
    )
    with db.engine.begin() as connection:
        return connection.execute(statement).first() is not None


def forget_old(db: Database, now: datetime | None = None) -> None:
    cutoff = (now or utcnow()) - REMEMBER_FOR
    with db.write() as session:
        session.execute(delete(SeenSlackRequest).where(col(SeenSlackRequest.seen_at) < cutoff))
