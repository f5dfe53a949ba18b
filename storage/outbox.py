"""Queries on the Slack outbox: what is owed, who is sending it, what went out.

Messages of one request go out in the order they were written, kind by kind: a
reply waits for older replies, an update for older updates, and everything waits
for the approval message itself (a reply cannot go into a thread whose parent has
not been posted yet). Updates draw the request as it is when sent, so an update
held up does not hold up the replies, nor the other way round.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from storage.models import OutboxKind, OutboxMessage, utcnow


def enqueue(
    session: Session, request_id: str, kind: OutboxKind, event_seq: int | None = None
) -> OutboxMessage:
    now = utcnow()
    message = OutboxMessage(
        request_id=request_id,
        kind=kind.value,
        event_seq=event_seq,
        created_at=now,
        next_attempt_at=now,
    )
    session.add(message)
    return message


def _owed() -> list[ColumnElement[bool]]:
    return [col(OutboxMessage.delivered_at).is_(None), col(OutboxMessage.gave_up_at).is_(None)]


def claim_due(
    session: Session, now: datetime, lease: timedelta, limit: int = 20
) -> list[OutboxMessage]:
    """Lease the messages that are due and first in line for their request."""
    older = aliased(OutboxMessage)
    free = or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now)
    blocked = exists().where(
        col(older.request_id) == col(OutboxMessage.request_id),
        col(older.id) < col(OutboxMessage.id),
        or_(
            col(older.kind) == col(OutboxMessage.kind),
            col(older.kind) == OutboxKind.POST_REQUEST.value,
        ),
        col(older.delivered_at).is_(None),
        col(older.gave_up_at).is_(None),
    )
    candidates = session.exec(
        select(OutboxMessage)
        .where(*_owed(), col(OutboxMessage.next_attempt_at) <= now, free, ~blocked)
        .order_by(col(OutboxMessage.id))
        .limit(limit)
    ).all()
    claimed = []
    for message in candidates:
        result = session.execute(
            update(OutboxMessage)
            .where(and_(col(OutboxMessage.id) == message.id, free, *_owed()))
            .values(lease_until=now + lease, attempts=OutboxMessage.attempts + 1)
        )
        if result.rowcount == 1:  # type: ignore[attr-defined]
            session.refresh(message)
            claimed.append(message)
    return claimed


def mark_delivered(session: Session, message_id: int) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(delivered_at=utcnow(), lease_until=None, last_error=None)
    )


def mark_retry(session: Session, message_id: int, error: str, next_attempt_at: datetime) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(next_attempt_at=next_attempt_at, lease_until=None, last_error=error)
    )


def give_up(session: Session, message_id: int, error: str) -> None:
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.id) == message_id)
        .values(gave_up_at=utcnow(), lease_until=None, last_error=error)
    )


def give_up_request(session: Session, request_id: str, error: str) -> None:
    """Abandon everything still owed for a request whose message cannot exist."""
    session.execute(
        update(OutboxMessage)
        .where(col(OutboxMessage.request_id) == request_id, *_owed())
        .values(gave_up_at=utcnow(), lease_until=None, last_error=error)
    )


def retry_now(session: Session, message_ids: list[int] | None = None) -> None:
    """Make owed messages due at once and free their leases (after a restart, or ours
    when this process stops mid-send)."""
    now = utcnow()
    query = update(OutboxMessage).where(*_owed())
    if message_ids is None:
        free = or_(col(OutboxMessage.lease_until).is_(None), col(OutboxMessage.lease_until) < now)
        query = query.where(free)
    else:
        query = query.where(col(OutboxMessage.id).in_(message_ids))
    session.execute(query.values(next_attempt_at=now, lease_until=None))
