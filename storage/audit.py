"""The append-only, hash-chained audit trail.

Each event's ``hash`` is SHA-256 over its previous event's hash and the canonical
JSON of its own content, so editing, deleting, reordering or inserting an event
breaks the chain at that point. Appends lock the single chain-head row, so
several replicas writing at once still build one chain, never a fork.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func
from sqlalchemy import select as sa_select
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


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An audit event as plain values: what verification walks and export writes."""

    seq: int
    at: datetime
    request_id: str
    kind: str
    actor_id: str
    asset_id: str | None
    product_key: str | None
    device_key: str | None
    cert_sn: int
    reason: int
    justification: str
    note: str | None
    enos_request_id: str | None
    enos_code: int | None
    enos_msg: str | None
    channel_id: str | None
    message_ts: str | None
    prev_hash: str
    hash: str


RECORD_FIELDS = (*HASHED_FIELDS, "hash")


def canonical_document(event: AuditEvent | EventRecord) -> bytes:
    document: dict[str, Any] = {name: getattr(event, name) for name in HASHED_FIELDS}
    document["at"] = canonical_time(event.at)
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: AuditEvent | EventRecord) -> str:
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
    # populate_existing: a head this session loaded earlier may be stale; the locked row is not.
    head = session.exec(
        select(AuditChainHead)
        .where(AuditChainHead.id == 1)
        .with_for_update()
        .execution_options(populate_existing=True)
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
    """The result of walking the chain: how far it held, and the first break if any.

    ``last_seq`` and ``last_hash`` name the newest event checked; writing them down
    somewhere else lets a later ``--anchor`` check prove nothing before it changed.
    """

    checked: int
    broken_at: int | None = None
    problem: str | None = None
    last_seq: int = 0
    last_hash: str = GENESIS_HASH

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __str__(self) -> str:
        if self.ok:
            return f"intact: {self.checked} events checked"
        return f"broken at event #{self.broken_at}: {self.problem}"


FindByHash = Callable[[str], int | None]


def walk_chain(
    events: Iterable[EventRecord],
    *,
    find_by_hash: FindByHash | None = None,
    anchors: Mapping[int, str] | None = None,
    from_genesis: bool = True,
) -> ChainReport:
    """Check events given in ``seq`` order; report the first that breaks the chain.

    ``find_by_hash`` (the seq of the event with a hash, if any) lets a broken link be
    told apart: an inserted event, a reordered one, or one edited and rehashed.
    ``anchors`` are ``seq -> hash`` pairs recorded earlier that must still hold.
    Without ``from_genesis`` the first event's link is taken as given (an export that
    starts later than the first event).
    """
    anchors = anchors or {}
    checked, expected_seq, expected_prev = 0, 1, GENESIS_HASH
    # The hash before expected_prev: an event that links to it skipped the one between.
    before_prev: str | None = None
    for event in events:
        if checked == 0 and not from_genesis:
            expected_seq, expected_prev = event.seq, event.prev_hash
        problem = _break(event, expected_seq, expected_prev, before_prev, find_by_hash)
        if problem is None and anchors.get(event.seq, event.hash) != event.hash:
            problem = (
                event.seq,
                (
                    f"its hash is not {anchors[event.seq]}, recorded for it earlier: the chain "
                    "up to here was rewritten"
                ),
            )
        if problem is not None:
            broken_at, why = problem
            # When the event before this one is to blame, it is not counted as checked.
            good = checked - max(expected_seq - broken_at, 0)
            return ChainReport(good, broken_at, why)
        checked += 1
        expected_seq, before_prev, expected_prev = event.seq + 1, expected_prev, event.hash
    missing = sorted(seq for seq in anchors if seq >= expected_seq)
    if missing:
        return ChainReport(
            checked, missing[0], f"event #{missing[0]} was recorded earlier but is gone"
        )
    return ChainReport(checked, last_seq=expected_seq - 1, last_hash=expected_prev)


def _break(
    event: EventRecord,
    expected_seq: int,
    expected_prev: str,
    before_prev: str | None,
    find_by_hash: FindByHash | None,
) -> tuple[int, str] | None:
    """Where the chain breaks at ``event`` and why, or None if it holds."""
    if event.seq < expected_seq:
        return event.seq, f"event #{event.seq} comes again after #{expected_seq - 1} (reordered)"
    if event.seq > expected_seq:
        return expected_seq, (
            f"event #{expected_seq} is missing (deleted), the next one is #{event.seq}"
        )
    content_holds = event.hash == event_hash(event)
    if content_holds and event.prev_hash == expected_prev:
        return None
    if not content_holds and before_prev is not None and _moved_up(event, before_prev):
        return event.seq - 1, (
            f"it was inserted: event #{event.seq} was moved up from #{event.seq - 1} "
            "to make room for it"
        )
    if event.prev_hash != expected_prev:
        return _broken_link(event, content_holds, before_prev, find_by_hash)
    return event.seq, "its content does not match its hash (the event was edited)"


def _moved_up(event: EventRecord, before_prev: str) -> bool:
    """Whether the event hashes as it was written one place earlier, before an insertion."""
    earlier = replace(event, seq=event.seq - 1, prev_hash=before_prev)
    return event.hash == event_hash(earlier)


def _broken_link(
    event: EventRecord,
    content_holds: bool,
    before_prev: str | None,
    find_by_hash: FindByHash | None,
) -> tuple[int, str]:
    seq = event.seq
    if event.prev_hash == before_prev:
        target = f"#{seq - 2}" if seq > 2 else "the start of the chain"
        return seq - 1, f"it was inserted: event #{seq} chains past it to {target}"
    points_to = find_by_hash(event.prev_hash) if find_by_hash else None
    if points_to is not None:
        return seq, (
            f"it is out of order (reordered): it chains to event #{points_to}, not #{seq - 1}"
        )
    if find_by_hash is not None and content_holds and seq > 1:
        return seq - 1, (
            f"it was edited and its hash recomputed: event #{seq} chains to a hash "
            "no event has any more"
        )
    if not content_holds:
        return seq, "its content does not match its hash (the event was edited)"
    return seq, "it does not follow the event before it (events reordered or inserted)"


def verify_chain(
    db: Database, batch: int = 5000, anchors: Mapping[int, str] | None = None
) -> ChainReport:
    """Walk every event in order, in constant memory, and report the first break.

    The walk reads one snapshot, so events appended meanwhile neither count nor alarm.
    """
    with db.read() as session:
        one_snapshot(session)
        head = session.get(AuditChainHead, 1)
        lowest = session.execute(sa_select(func.min(AuditEvent.seq))).scalar()
        if lowest is not None and lowest < 1:
            # The chain starts at #1; list and search would show such a row, so it counts.
            return ChainReport(
                checked=0,
                broken_at=int(lowest),
                problem="it is numbered before the first event: it was inserted",
            )

        def find_by_hash(value: str) -> int | None:
            found = session.execute(
                select(AuditEvent.seq).where(AuditEvent.hash == value)
            ).scalar_one_or_none()
            return None if found is None else int(found)

        report = walk_chain(
            event_records(session, batch=batch), find_by_hash=find_by_hash, anchors=anchors
        )
    if not report.ok:
        return report
    return _against_head(report, head)


def _against_head(report: ChainReport, head: AuditChainHead | None) -> ChainReport:
    """The head row records the newest event each append wrote; the chain must end there."""
    last = report.last_seq
    if head is None:
        return replace(report, broken_at=last + 1, problem="the chain head row is missing")
    if head.seq > last:
        return replace(
            report,
            broken_at=last + 1,
            problem=f"the chain ends at #{last} but was written up to #{head.seq}: "
            f"the events after #{last} were deleted",
        )
    if head.seq < last:
        return replace(
            report,
            checked=head.seq,
            broken_at=head.seq + 1,
            problem=f"the bot wrote the chain up to #{head.seq}, yet it goes on to #{last}: "
            f"the events after #{head.seq} were inserted",
        )
    if head.hash != report.last_hash:
        return replace(
            report,
            checked=max(last - 1, 0),
            broken_at=last,
            problem="it is not the event the bot wrote last (its hash differs from the "
            "chain head's): it was replaced",
        )
    return report


def event_records(
    session: Session,
    *,
    batch: int = 5000,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Iterator[EventRecord]:
    """Every event (``since <= at < until``) in ``seq`` order, read a batch at a time."""
    columns = [getattr(AuditEvent, name) for name in RECORD_FIELDS]
    conditions = []
    if since is not None:
        conditions.append(col(AuditEvent.at) >= since)
    if until is not None:
        conditions.append(col(AuditEvent.at) < until)
    after = 0
    while True:
        rows = session.execute(
            sa_select(*columns)
            .where(col(AuditEvent.seq) > after, *conditions)
            .order_by(col(AuditEvent.seq))
            .limit(batch)
        ).all()
        for row in rows:
            yield EventRecord(*row)
        if len(rows) < batch:
            return
        after = rows[-1].seq


def one_snapshot(session: Session) -> None:
    """Read everything that follows from one snapshot of the database.

    SQLite's read transaction already is one; PostgreSQL's default isolation would
    let each page see appends the previous page did not.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
