"""Tables: revocation requests, the audit trail and the Slack outbox.

A revocation *request* has a *status*; an *audit event* records one step of it.
Times are stored and returned as aware UTC datetimes on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Index, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlmodel import Field, SQLModel

from bot.enos.models import AssetId, DeviceIdentifier, ProductDevice, RevokeReason


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that goes in and comes out as aware UTC, whatever the database."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _time(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


class RequestStatus(StrEnum):
    PENDING = "pending"
    # Approved and handed to EnOS; set before the call starts, so a crash here is visible.
    EXECUTING = "executing"
    REVOKED = "revoked"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    # EnOS was certainly not reached (connection refused, token refused): nothing happened.
    FAILED = "failed"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    # The approval message could not be posted (bot not in channel, channel gone).
    UNDELIVERABLE = "undeliverable"

    @property
    def is_final(self) -> bool:
        return self not in (RequestStatus.PENDING, RequestStatus.EXECUTING)


class RevocationRequest(SQLModel, table=True):
    __tablename__ = "revocation_request"
    __table_args__ = (
        Index("ix_request_status_expires", "status", "expires_at"),
        Index("ix_request_status_lease", "status", "lease_until"),
    )

    id: str = Field(primary_key=True, max_length=16)
    status: str = Field(default=RequestStatus.PENDING.value, max_length=16)
    requester_id: str = Field(max_length=32, index=True)
    origin_channel_id: str = Field(max_length=32)
    approval_channel_id: str = Field(max_length=32)

    asset_id: str | None = Field(default=None, max_length=64, index=True)
    product_key: str | None = Field(default=None, max_length=64)
    device_key: str | None = Field(default=None, max_length=128, index=True)
    cert_sn: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))
    reason: int
    justification: str = Field(default="", sa_column=Column(Text, nullable=False))

    created_at: datetime = _time(index=True)
    expires_at: datetime = _time()
    decided_at: datetime | None = _time(nullable=True)
    finished_at: datetime | None = _time(nullable=True)

    approver_id: str | None = Field(default=None, max_length=32, index=True)
    decided_by: str | None = Field(default=None, max_length=32)
    decision_note: str | None = Field(default=None, sa_column=Column(Text))

    message_ts: str | None = Field(default=None, max_length=32)
    permalink: str | None = Field(default=None, sa_column=Column(Text))

    enos_request_id: str | None = Field(default=None, max_length=128)
    enos_code: int | None = None
    enos_msg: str | None = Field(default=None, sa_column=Column(Text))
    outcome_detail: str | None = Field(default=None, sa_column=Column(Text))

    # What List Certificate said about the certificate when the request was made,
    # as JSON; shown to approvers. None until the lookup has run.
    cert_lookup: str | None = Field(default=None, sa_column=Column(Text))

    lease_until: datetime | None = _time(nullable=True)
    # The request this one asks again for; unique, so a request is asked again only once.
    retry_of: str | None = Field(default=None, max_length=16, unique=True)

    @property
    def device(self) -> DeviceIdentifier:
        if self.asset_id:
            return AssetId(self.asset_id)
        assert self.product_key and self.device_key
        return ProductDevice(self.product_key, self.device_key)

    @property
    def revoke_reason(self) -> RevokeReason:
        return RevokeReason(self.reason)

    @property
    def current_status(self) -> RequestStatus:
        return RequestStatus(self.status)


class AuditKind(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    DENIED = "denied"
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    REVOKED = "revoked"
    REFUSED = "refused"
    UNKNOWN = "unknown"
    FAILED = "failed"
    UNDELIVERABLE = "undeliverable"
    POSTED = "posted"


class AuditEvent(SQLModel, table=True):
    """One step of one request. Append-only; each row's ``hash`` chains to the previous."""

    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, unique=True))
    at: datetime = _time(index=True)
    request_id: str = Field(max_length=16, index=True)
    kind: str = Field(max_length=16)
    actor_id: str = Field(max_length=32, index=True)

    asset_id: str | None = Field(default=None, max_length=64)
    product_key: str | None = Field(default=None, max_length=64)
    device_key: str | None = Field(default=None, max_length=128)
    cert_sn: int = Field(sa_column=Column(BigInteger, nullable=False))
    reason: int
    justification: str = Field(default="", sa_column=Column(Text, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))

    enos_request_id: str | None = Field(default=None, max_length=128)
    enos_code: int | None = None
    enos_msg: str | None = Field(default=None, sa_column=Column(Text))
    channel_id: str | None = Field(default=None, max_length=32)
    message_ts: str | None = Field(default=None, max_length=32)

    prev_hash: str = Field(max_length=64, unique=True)
    hash: str = Field(max_length=64, unique=True)


class AuditChainHead(SQLModel, table=True):
    """The single row every audit append locks, so concurrent writers cannot fork the chain."""

    __tablename__ = "audit_chain_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(max_length=64)


class OutboxKind(StrEnum):
    # Post the approval message; its ts and permalink are stored on the request.
    POST_REQUEST = "post_request"
    # Redraw the approval message from the request's current state.
    UPDATE_REQUEST = "update_request"
    # Reply in the approval message's thread about one audit event.
    THREAD_REPLY = "thread_reply"
    # Tell the requester privately about one audit event (e.g. the post failed).
    NOTIFY_REQUESTER = "notify_requester"


class OutboxMessage(SQLModel, table=True):
    """A Slack message owed, written in the transaction of the change it reports.

    It names what to say (a request, and for replies an audit event), not the text:
    the text is drawn when it is sent, so a retry after a restart says the same thing.
    """

    __tablename__ = "slack_outbox"
    __table_args__ = (Index("ix_outbox_due", "delivered_at", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    request_id: str = Field(max_length=16, index=True)
    kind: str = Field(max_length=24)
    event_seq: int | None = Field(default=None, sa_column=Column(BigInteger))

    created_at: datetime = _time()
    next_attempt_at: datetime = _time()
    lease_until: datetime | None = _time(nullable=True)
    attempts: int = 0
    delivered_at: datetime | None = _time(nullable=True)
    gave_up_at: datetime | None = _time(nullable=True)
    last_error: str | None = Field(default=None, sa_column=Column(Text))


class SeenSlackRequest(SQLModel, table=True):
    """Signatures of Slack requests already handled, to refuse a replay of one."""

    __tablename__ = "slack_request_seen"

    signature_hash: str = Field(primary_key=True, max_length=64)
    seen_at: datetime = _time(index=True)
