"""Remember Slack request signatures for as long as Slack's timestamps stay valid."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from storage.db import Database
from storage.models import SeenSlackRequest, utcnow

# Slack's timestamps are accepted for five minutes; keep a margin on both sides.
REMEMBER_FOR = timedelta(minutes=11)


def first_sighting(db: Database, signature: str) -> bool:
    """True the first time a signature is seen, False for a replay (in any replica)."""
    digest = hashlib.sha256(signature.encode()).hexdigest()
    try:
        with db.write() as session:
            session.add(SeenSlackRequest(signature_hash=digest, seen_at=utcnow()))
    except IntegrityError:
        return False
    return True


def forget_old(db: Database, now: datetime | None = None) -> None:
    cutoff = (now or utcnow()) - REMEMBER_FOR
    with db.write() as session:
        session.execute(delete(SeenSlackRequest).where(col(SeenSlackRequest.seen_at) < cutoff))
