"""Storage: migrations, conditional status changes and the audit chain, on both databases."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlmodel import col, select

from storage import outbox
from storage import requests as queries
from storage.audit import GENESIS_HASH, append_event, event_hash
from storage.db import Database
from storage.models import (
    AuditEvent,
    AuditKind,
    OutboxKind,
    RequestStatus,
    RevocationRequest,
    utcnow,
)


def _request(db: Database, request_id: str = "RQ-TEST0001") -> RevocationRequest:
    now = utcnow()
    request = RevocationRequest(
        id=request_id,
        requester_id="U0REQ",
        origin_channel_id="C0ONCALL",
        approval_channel_id="C0ONCALL",
        asset_id="Xy12AbCd",
        cert_sn=2**63 - 1,
        reason=1,
        justification="leaked",
        created_at=now,
        expires_at=now + timedelta(minutes=30),
    )
    with db.write() as session:
        session.add(request)
    return request


def test_migrations_run_twice_and_times_come_back_aware(db: Database) -> None:
    db.migrate()
    db.migrate()
    made = _request(db)
    with db.read() as session:
        stored = queries.get(session, made.id)
    assert stored is not None
    assert stored.created_at == made.created_at
    assert stored.created_at.tzinfo is not None
    assert stored.cert_sn == 2**63 - 1


def test_only_one_of_many_concurrent_approvals_wins(db: Database) -> None:
    request = _request(db)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def approve(actor: str) -> None:
        barrier.wait()
        with db.write() as session:
            done = queries.transition(
                session,
                request.id,
                from_statuses=[RequestStatus.PENDING],
                values={"status": RequestStatus.EXECUTING.value, "approver_id": actor},
            )
            if done is not None:
                append_event(session, done, AuditKind.APPROVED, actor)
                winners.append(actor)

    threads = [threading.Thread(target=approve, args=(f"U{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(winners) == 1
    with db.read() as session:
        stored = queries.get(session, request.id)
        events = session.exec(select(AuditEvent)).all()
    assert stored is not None and stored.approver_id == winners[0]
    assert [e.kind for e in events] == ["approved"]


def test_audit_events_chain_without_forks_under_concurrent_writers(db: Database) -> None:
    request = _request(db)
    barrier = threading.Barrier(6)

    def write(i: int) -> None:
        barrier.wait()
        for _ in range(5):
            with db.write() as session:
                append_event(session, request, AuditKind.POSTED, f"U{i}")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    with db.read() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    assert [e.seq for e in events] == list(range(1, 31))
    previous = GENESIS_HASH
    for event in events:
        assert event.prev_hash == previous
        assert event.hash == event_hash(event)
        previous = event.hash


def test_outbox_holds_later_messages_until_the_first_of_a_request_is_sent(db: Database) -> None:
    with db.write() as session:
        first = outbox.enqueue(session, "RQ-A", OutboxKind.POST_REQUEST)
        outbox.enqueue(session, "RQ-A", OutboxKind.UPDATE_REQUEST)
        other = outbox.enqueue(session, "RQ-B", OutboxKind.POST_REQUEST)
    lease = timedelta(seconds=30)
    with db.write() as session:
        claimed = outbox.claim_due(session, utcnow(), lease)
    assert sorted(m.id for m in claimed) == sorted([first.id, other.id])
    with db.write() as session:
        assert outbox.claim_due(session, utcnow(), lease) == []
        assert first.id is not None
        outbox.mark_delivered(session, first.id)
    with db.write() as session:
        claimed = outbox.claim_due(session, utcnow(), lease)
    assert [m.kind for m in claimed] == [OutboxKind.UPDATE_REQUEST.value]
