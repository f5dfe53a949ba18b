"""The append-only, hash-chained audit trail.

Each event's ``hash`` is SHA-256 over its previous event's hash and the canonical
JSON of its own content, so editing, deleting, reordering or inserting an event
breaks the chain at that point. Appends lock the single chain-head row, so
several replicas writing at once still build one chain, never a fork.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from storage.db import Database
from storage.models import AuditChainHead, AuditEvent, AuditKind, RevocationRequest, utcnow

GENESIS_HASH = "0" * 64

# The fields the hash covers, in the canonical document. Adding a field is a new
# chain version, not an edit of this list.
HASHED_FIELDS = (
    "seq",
    "at",
    "request_id",
    "kind",
    "actor_id",
    "asset_id",
    "product_key",
    "device_key",
    "cert_sn",
    "reason",
    "justification",
    "note",
    "enos_request_id",
    "enos_code",
    "enos_msg",
    "channel_id",
    "message_ts",
    "prev_hash",
)


def canonical_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_document(event: AuditEvent) -> bytes:
    document: dict[str, Any] = {name: getattr(event, name) for name in HASHED_FIELDS}
    document["at"] = canonical_time(event.at)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent) -> str:
    return hashlib.sha256(event.prev_hash.encode() + canonical_document(event)).hexdigest()


def append_event(
    session: Session,
    request: RevocationRequest,
    kind: AuditKind,
    actor_id: str,
    *,
    note: str | None = None,
) -> AuditEvent:
    """Add one event for ``request`` to the chain, inside the caller's transaction."""
    head = session.exec(
        select(AuditChainHead).where(AuditChainHead.id == 1).with_for_update()
    ).one()
    event = AuditEvent(
        seq=head.seq + 1,
        # Microseconds are what both databases keep; the hash must survive a round trip.
        at=utcnow(),
        request_id=request.id,
        kind=kind.value,
        actor_id=actor_id,
        asset_id=request.asset_id,
        product_key=request.product_key,
        device_key=request.device_key,
        cert_sn=request.cert_sn,
        reason=request.reason,
        justification=request.justification,
        note=note,
        enos_request_id=request.enos_request_id,
        enos_code=request.enos_code,
        enos_msg=request.enos_msg,
        channel_id=request.approval_channel_id,
        message_ts=request.message_ts,
        prev_hash=head.hash,
        hash="",
    )
    event.hash = event_hash(event)
    head.seq = event.seq
    head.hash = event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


def newest_events(db: Database, limit: int) -> list[AuditEvent]:
    with db.read() as session:
        return list(
            session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(limit))
        )


def describe_event(event: AuditEvent) -> str:
    """One readable line: when, what, who, which certificate, what EnOS said."""
    device = (
        f"asset {event.asset_id}"
        if event.asset_id
        else f"product {event.product_key} device {event.device_key}"
    )
    parts = [
        canonical_time(event.at),
        f"#{event.seq}",
        event.request_id,
        event.kind.ljust(13),
        f"by {event.actor_id}",
        f"certSn {event.cert_sn}",
        device,
        f"reason {event.reason}",
    ]
    if event.enos_request_id or event.enos_code is not None:
        parts.append(f"EnOS code {event.enos_code} requestId {event.enos_request_id or '-'}")
    if event.note:
        parts.append(f"note: {event.note}")
    return "  ".join(parts)


@dataclass(frozen=True, slots=True)
class ChainReport:
    """The result of walking the chain: how far it held, and the first break if any."""

    checked: int
    broken_at: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            return f"intact: {self.checked} events checked"
        return f"broken at event #{self.broken_at}: {self.problem}"


def verify_chain(db: Database, batch: int = 5000) -> ChainReport:
    """Walk every event in order, in constant memory, and report the first break."""
    expected_seq, expected_prev, checked = 1, GENESIS_HASH, 0
    with db.read() as session:
        while True:
            events = session.exec(
                select(AuditEvent)
                .where(col(AuditEvent.seq) >= expected_seq)
                .order_by(col(AuditEvent.seq))
                .limit(batch)
            ).all()
            for event in events:
                problem = _break(event, expected_seq, expected_prev)
                if problem:
                    return ChainReport(checked, event.seq if event.seq else expected_seq, problem)
                expected_seq, expected_prev, checked = event.seq + 1, event.hash, checked + 1
            session.expunge_all()
            if len(events) < batch:
                break
        head = session.get(AuditChainHead, 1)
    if head is not None and (head.seq, head.hash) != (expected_seq - 1, expected_prev):
        return ChainReport(
            checked, head.seq, f"the chain ends at #{expected_seq - 1} but was written up to "
            f"#{head.seq}: the events after #{expected_seq - 1} were deleted"
        )  # fmt: skip
    return ChainReport(checked)


def _break(event: AuditEvent, expected_seq: int, expected_prev: str) -> str | None:
    if event.seq != expected_seq:
        return f"event #{expected_seq} is missing (deleted), the next one is #{event.seq}"
    if event.prev_hash != expected_prev:
        return "it does not follow the event before it (events reordered or inserted)"
    if event.hash != event_hash(event):
        return "its content does not match its hash (the event was edited)"
    return None
