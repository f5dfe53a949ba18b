"""A busy team's history, generated: requests and a hash-chained audit trail, bulk-loaded.

Deterministic for a seed. Requests spread over two years, newest last; each has
``events_per_request`` audit events whose chain is computed with the bot's own
hashing, so ``audit verify`` checks it like a real one. SQLite is loaded with
``executemany`` (the search triggers index every row as it goes in), PostgreSQL
with ``COPY``; both get the schema from the bot's migrations first.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import SQLModel

from storage.audit import GENESIS_HASH, EventRecord, event_hash
from storage.db import Database

START = datetime(2025, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=730)
CHANNEL = "C0ONCALL"

STATUSES = (
    ("revoked", 55),
    ("denied", 10),
    ("cancelled", 6),
    ("expired", 10),
    ("refused", 8),
    ("unknown", 2),
    ("failed", 2),
    ("undeliverable", 1),
    ("pending", 1),
)
DECIDED = {"revoked", "refused", "unknown", "failed"}
_OUTCOME_KIND = {
    "revoked": "revoked",
    "refused": "refused",
    "unknown": "unknown",
    "failed": "failed",
    "denied": "denied",
    "cancelled": "cancelled",
    "expired": "expired",
    "undeliverable": "undeliverable",
}

# Words for justifications: a few common ones, many rare ones, like real incident notes.
COMMON = [
    "key",
    "private",
    "leaked",
    "rotate",
    "certificate",
    "device",
    "gateway",
    "compromised",
    "incident",
    "replaced",
    "decommissioned",
    "meter",
    "inverter",
    "site",
    "firmware",
    "lost",
    "stolen",
    "audit",
    "routine",
    "expired",
    "superseded",
]
_ALPHABET = string.ascii_lowercase


@dataclass(frozen=True, slots=True)
class Population:
    """Who and what the generated requests are about; queries are drawn from it too."""

    users: list[str]
    approvers: list[str]
    assets: list[str]
    products: list[str]
    devices: list[str]
    rare_words: list[str]


def population(rng: random.Random, requests: int) -> Population:
    def ident(prefix: str, length: int) -> str:
        return prefix + "".join(rng.choices(string.ascii_letters + string.digits, k=length))

    return Population(
        users=[f"U0{ident('', 8).upper()}" for _ in range(300)],
        approvers=[f"U0{ident('', 8).upper()}" for _ in range(40)],
        assets=[ident("", 8) for _ in range(max(requests // 4, 10))],
        products=[ident("pk", 6) for _ in range(200)],
        devices=[f"dev-{ident('', 6).lower()}" for _ in range(max(requests // 5, 10))],
        rare_words=["".join(rng.choices(_ALPHABET, k=rng.randint(5, 9))) for _ in range(20000)],
    )


def request_id_of(number: int) -> str:
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    digits = []
    for _ in range(8):
        number, rest = divmod(number, 32)
        digits.append(alphabet[rest])
    return "RQ-" + "".join(reversed(digits))


def requests(rng: random.Random, people: Population, count: int) -> Iterator[dict[str, Any]]:
    """``count`` requests, oldest first, as column values."""
    statuses, weights = zip(*STATUSES, strict=True)
    step = SPAN / count
    for number in range(count):
        created = START + step * number + timedelta(microseconds=rng.randint(0, 999))
        status = rng.choices(statuses, weights)[0]
        by_asset = rng.random() < 0.6
        approver = rng.choice(people.approvers) if status in DECIDED else None
        decided_by = rng.choice(people.approvers) if status == "denied" else None
        if status == "cancelled":
            decided_by = "requester"
        words = rng.sample(COMMON, 2) + rng.sample(people.rare_words, 2)
        rng.shuffle(words)
        justification = f"INC-{rng.randint(1000, 99999)}: " + " ".join(words)
        row: dict[str, Any] = {
            "id": request_id_of(number),
            "status": status,
            "requester_id": rng.choice(people.users),
            "origin_channel_id": CHANNEL,
            "approval_channel_id": CHANNEL,
            "asset_id": rng.choice(people.assets) if by_asset else None,
            "product_key": None if by_asset else rng.choice(people.products),
            "device_key": None if by_asset else rng.choice(people.devices),
            "cert_sn": rng.randint(10_000, 999_999_999),
            "reason": rng.randint(0, 5),
            "justification": justification,
            "created_at": created,
            "expires_at": created + timedelta(minutes=30),
            "decided_at": created + timedelta(minutes=3) if approver or decided_by else None,
            "finished_at": None if status == "pending" else created + timedelta(minutes=4),
            "approver_id": approver,
            "decided_by": decided_by,
            "decision_note": "wrong device" if status == "denied" and rng.random() < 0.5 else None,
            "message_ts": f"{int(created.timestamp())}.{number % 1_000_000:06d}",
            "permalink": f"https://example.slack.com/archives/{CHANNEL}/p{number:016d}",
            "enos_request_id": f"enos-{number:08x}" if status in ("revoked", "refused") else None,
            "enos_code": 0 if status == "revoked" else (11404 if status == "refused" else None),
            "enos_msg": "Certificate not found" if status == "refused" else None,
            "outcome_detail": None,
            "cert_lookup": None,
            "lease_until": None,
            "retry_of": None,
        }
        if row["decided_by"] == "requester":
            row["decided_by"] = row["requester_id"]
        yield row


def events(
    request_rows: Iterator[dict[str, Any]], per_request: int
) -> Iterator[tuple[dict[str, Any], EventRecord]]:
    """Each request with its audit events, chained; ``per_request`` events each."""
    seq, previous = 0, GENESIS_HASH
    for request in request_rows:
        kinds = ["requested", "posted"]
        if request["approver_id"]:
            kinds.append("approved")
        if request["status"] != "pending":
            kinds.append(_OUTCOME_KIND[request["status"]])
        # Redraws and replies pad every request to the same count.
        kinds = (kinds + ["posted"] * per_request)[:per_request]
        at = request["created_at"]
        for index, kind in enumerate(kinds):
            seq += 1
            actor = {
                "requested": request["requester_id"],
                "approved": request["approver_id"],
                "denied": request["decided_by"],
                "cancelled": request["decided_by"],
            }.get(kind) or "system"
            record = EventRecord(
                seq=seq,
                at=at + timedelta(seconds=index * 30),
                request_id=request["id"],
                kind=kind,
                actor_id=actor,
                asset_id=request["asset_id"],
                product_key=request["product_key"],
                device_key=request["device_key"],
                cert_sn=request["cert_sn"],
                reason=request["reason"],
                justification=request["justification"],
                note=None,
                enos_request_id=request["enos_request_id"] if index >= 3 else None,
                enos_code=request["enos_code"] if index >= 3 else None,
                enos_msg=request["enos_msg"] if index >= 3 else None,
                channel_id=CHANNEL,
                message_ts=request["message_ts"] if index >= 1 else None,
                prev_hash=previous,
                hash="",
            )
            previous = event_hash(record)
            yield request, replace(record, hash=previous)


REQUEST_COLUMNS = [column.name for column in SQLModel.metadata.tables["revocation_request"].columns]
EVENT_COLUMNS = [field.name for field in fields(EventRecord)]


def load(
    db: Database,
    *,
    request_count: int,
    events_per_request: int,
    seed: int = 5,
    with_requests: bool = True,
    batch: int = 20_000,
) -> tuple[Population, float]:
    """Fill a migrated, empty database; returns the population and the seconds it took."""
    rng = random.Random(seed)
    people = population(rng, request_count)
    started = time.perf_counter()
    request_batch: list[dict[str, Any]] = []
    event_batch: list[EventRecord] = []
    last: EventRecord | None = None
    seen_request = ""
    writer = _SqliteWriter(db) if db.dialect == "sqlite" else _PostgresWriter(db)
    try:
        for request, event in events(requests(rng, people, request_count), events_per_request):
            if with_requests and request["id"] != seen_request:
                request_batch.append(request)
                seen_request = request["id"]
            event_batch.append(event)
            last = event
            if len(event_batch) >= batch:
                writer.write(request_batch, event_batch)
                request_batch, event_batch = [], []
        writer.write(request_batch, event_batch)
        if last is not None:
            writer.head(last.seq, last.hash)
        writer.finish()
    finally:
        writer.close()
    return people, time.perf_counter() - started


class _SqliteWriter:
    def __init__(self, db: Database) -> None:
        self.connection = db.engine.raw_connection()
        self.cursor = self.connection.cursor()
        self.cursor.execute("PRAGMA synchronous=OFF")
        self.cursor.execute("BEGIN")

    @staticmethod
    def _value(value: Any) -> Any:
        if isinstance(value, datetime):
            # SQLAlchemy's storage format for SQLite: naive UTC, always with microseconds.
            return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value

    def write(self, request_rows: list[dict[str, Any]], event_rows: list[EventRecord]) -> None:
        if request_rows:
            marks = ",".join("?" * len(REQUEST_COLUMNS))
            self.cursor.executemany(
                f"INSERT INTO revocation_request ({','.join(REQUEST_COLUMNS)}) VALUES ({marks})",  # noqa: S608
                [tuple(self._value(r[c]) for c in REQUEST_COLUMNS) for r in request_rows],
            )
        marks = ",".join("?" * len(EVENT_COLUMNS))
        self.cursor.executemany(
            f"INSERT INTO audit_event ({','.join(EVENT_COLUMNS)}) VALUES ({marks})",  # noqa: S608
            [tuple(self._value(getattr(e, c)) for c in EVENT_COLUMNS) for e in event_rows],
        )

    def head(self, seq: int, digest: str) -> None:
        self.cursor.execute(
            "UPDATE audit_chain_head SET seq = ?, hash = ? WHERE id = 1", (seq, digest)
        )

    def finish(self) -> None:
        self.cursor.execute("COMMIT")
        self.cursor.execute("PRAGMA synchronous=NORMAL")

    def close(self) -> None:
        self.cursor.close()
        self.connection.close()


class _PostgresWriter:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.connection = db.engine.raw_connection()
        self.cursor = self.connection.cursor()

    def write(self, request_rows: list[dict[str, Any]], event_rows: list[EventRecord]) -> None:
        if request_rows:
            columns = ",".join(REQUEST_COLUMNS)
            with self.cursor.copy(f"COPY revocation_request ({columns}) FROM STDIN") as copy:
                for row in request_rows:
                    copy.write_row([row[c] for c in REQUEST_COLUMNS])
        with self.cursor.copy(f"COPY audit_event ({','.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
            for event in event_rows:
                copy.write_row([getattr(event, c) for c in EVENT_COLUMNS])

    def head(self, seq: int, digest: str) -> None:
        self.cursor.execute(
            "UPDATE audit_chain_head SET seq = %s, hash = %s WHERE id = 1", (seq, digest)
        )

    def finish(self) -> None:
        self.connection.commit()
        self.cursor.execute("ANALYZE revocation_request")
        self.cursor.execute("ANALYZE audit_event")
        self.connection.commit()

    def close(self) -> None:
        self.cursor.close()
        self.connection.close()
