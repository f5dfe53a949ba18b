"""What happens to a revocation request, step by step.

Each step is one database transaction that changes the status (conditionally),
appends its audit event and records which Slack messages are owed; Slack is
told afterwards by the delivery worker. The EnOS call happens only after the
request is *executing* in the database, so a crash mid-call is always visible.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from bot.enos.models import (
    AssetId,
    Certificates,
    CertStatus,
    DeviceIdentifier,
    ListOutcome,
    NotSent,
    OutcomeUnknown,
    Refused,
    Revoked,
    RevokeOutcome,
    RevokeReason,
)
from commands.lookup import CertLookup
from commands.request import RevocationDraft
from storage import outbox
from storage import requests as queries
from storage.audit import append_event
from storage.db import Database, run_sync
from storage.models import (
    AuditKind,
    OutboxKind,
    RequestStatus,
    RevocationRequest,
    utcnow,
)

log = logging.getLogger(__name__)

SYSTEM_ACTOR = "system"
# How long the process that created a request has to look its certificate up before a
# sweep does it (a lookup takes at most ENOS_TOTAL_TIMEOUT, 20 s by default).
LOOKUP_GRACE = timedelta(seconds=60)


class Enos(Protocol):
    async def revoke(
        self, device: DeviceIdentifier, cert_sn: int, reason: RevokeReason
    ) -> RevokeOutcome: ...

    async def list_certificates(self, device: DeviceIdentifier) -> ListOutcome: ...


@dataclass(frozen=True, slots=True)
class Timing:
    request_ttl: timedelta
    execution_lease: timedelta


class RevocationService:
    def __init__(
        self,
        db: Database,
        enos: Enos,
        timing: Timing,
        on_outbox: Callable[[], None] = lambda: None,
    ) -> None:
        self.db = db
        self.enos = enos
        self.timing = timing
        self._on_outbox = on_outbox

    # --- asking ---

    async def create(
        self,
        draft: RevocationDraft,
        requester_id: str,
        origin_channel_id: str,
        approval_channel_id: str,
        retry_of: str | None = None,
    ) -> RevocationRequest:
        def write() -> RevocationRequest:
            now = utcnow()
            request = RevocationRequest(
                id=queries.new_request_id(),
                requester_id=requester_id,
                origin_channel_id=origin_channel_id,
                approval_channel_id=approval_channel_id,
                cert_sn=draft.cert_sn,
                reason=int(draft.reason),
                justification=draft.justification,
                created_at=now,
                expires_at=now + self.timing.request_ttl,
                retry_of=retry_of,
                **_device_columns(draft.device),
            )
            with self.db.write() as session:
                session.add(request)
                session.flush()
                append_event(session, request, AuditKind.REQUESTED, requester_id)
                outbox.enqueue(session, request.id, OutboxKind.POST_REQUEST)
            return request

        request = await run_sync(write)
        log.info(
            "request %s created by %s: certSn %s, %s",
            request.id, requester_id, request.cert_sn, request.device.describe(),
        )  # fmt: skip
        self._on_outbox()
        return request

    async def look_up_certificate(self, request_id: str) -> None:
        """Fetch the certificate's facts for the approver; slow, so after Slack's ack."""
        request = await run_sync(self._get, request_id)
        if request is None or request.cert_lookup is not None:
            return
        lookup = CertLookup.from_outcome(
            await self.enos.list_certificates(request.device), request.cert_sn
        )

        def write() -> None:
            with self.db.write() as session:
                updated = queries.transition(
                    session,
                    request_id,
                    from_statuses=[RequestStatus.PENDING],
                    values={"cert_lookup": lookup.to_json()},
                )
                if updated is not None:
                    outbox.enqueue(session, request_id, OutboxKind.UPDATE_REQUEST)

        await run_sync(write)
        log.info("request %s: certificate lookup %s", request_id, lookup.state.value)
        self._on_outbox()

    async def record_posted(self, request_id: str, message_ts: str, permalink: str | None) -> None:
        def write() -> None:
            with self.db.write() as session:
                request = queries.get(session, request_id)
                if request is None:
                    return
                request.message_ts = message_ts
                request.permalink = permalink
                session.add(request)
                session.flush()
                append_event(session, request, AuditKind.POSTED, SYSTEM_ACTOR)

        await run_sync(write)
        log.info("request %s posted as message %s", request_id, message_ts)

    async def mark_undeliverable(self, request_id: str, error: str) -> None:
        """The approval message cannot be posted: end the request, tell the requester."""
        request = await self._finish(
            request_id,
            from_statuses=[RequestStatus.PENDING],
            status=RequestStatus.UNDELIVERABLE,
            kind=AuditKind.UNDELIVERABLE,
            actor_id=SYSTEM_ACTOR,
            note=error,
            values={"outcome_detail": error},
            reply=False,
            notify_requester=True,
        )
        if request is not None:
            log.warning("request %s could not be posted: %s", request_id, error)

    # --- deciding ---

    async def approve(self, request_id: str, approver_id: str) -> RevocationRequest | None:
        """Move pending → executing for exactly one caller; None for everyone else."""

        def write() -> RevocationRequest | None:
            now = utcnow()
            with self.db.write() as session:
                request = queries.transition(
                    session,
                    request_id,
                    from_statuses=[RequestStatus.PENDING],
                    values={
                        "status": RequestStatus.EXECUTING.value,
                        "approver_id": approver_id,
                        "decided_at": now,
                        "lease_until": now + self.timing.execution_lease,
                    },
                    where=[col(RevocationRequest.expires_at) > now],
                )
                if request is None:
                    return None
                event = append_event(session, request, AuditKind.APPROVED, approver_id)
                outbox.enqueue(session, request_id, OutboxKind.UPDATE_REQUEST)
                outbox.enqueue(session, request_id, OutboxKind.THREAD_REPLY, event.seq)
                return request

        request = await run_sync(write)
        if request is not None:
            log.info("request %s approved by %s", request_id, approver_id)
            self._on_outbox()
        return request

    async def deny(
        self, request_id: str, actor_id: str, note: str | None
    ) -> RevocationRequest | None:
        request = await self._finish(
            request_id,
            from_statuses=[RequestStatus.PENDING],
            status=RequestStatus.DENIED,
            kind=AuditKind.DENIED,
            actor_id=actor_id,
            note=note or None,
            values={"decided_by": actor_id, "decided_at": utcnow(), "decision_note": note},
        )
        if request is not None:
            log.info("request %s denied by %s", request_id, actor_id)
        return request

    async def cancel(self, request_id: str, actor_id: str) -> RevocationRequest | None:
        request = await self._finish(
            request_id,
            from_statuses=[RequestStatus.PENDING],
            status=RequestStatus.CANCELLED,
            kind=AuditKind.CANCELLED,
            actor_id=actor_id,
            values={"decided_by": actor_id, "decided_at": utcnow()},
        )
        if request is not None:
            log.info("request %s cancelled by %s", request_id, actor_id)
        return request

    async def request_again(
        self, request_id: str, actor_id: str
    ) -> tuple[RevocationRequest, bool] | None:
        """A fresh request with the same facts; it needs its own approval.

        Each request is asked again at most once: a second click, or two at once, get
        the request the first one made (and False: not made now).
        """
        old = await run_sync(self._get, request_id)
        if old is None:
            return None
        draft = RevocationDraft(
            device=old.device,
            cert_sn=old.cert_sn,
            reason=old.revoke_reason,
            justification=old.justification,
        )
        try:
            new = await self.create(
                draft, actor_id, old.origin_channel_id, old.approval_channel_id, retry_of=old.id
            )
        except IntegrityError:
            earlier = await run_sync(self._read, lambda s: queries.retry_of(s, request_id))
            return (earlier, False) if earlier is not None else None
        return new, True

    # --- revoking ---

    async def execute(self, request: RevocationRequest) -> RevocationRequest | None:
        """Call EnOS for an approved request and record what came of it.

        The lease is renewed while the call runs, so that only a dead process's
        request is ever taken over by another.
        """
        heartbeat = asyncio.create_task(self._keep_lease(request.id))
        try:
            log.info("request %s: calling EnOS Revoke Certificate", request.id)
            outcome = await self.enos.revoke(request.device, request.cert_sn, request.revoke_reason)
        finally:
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
        log.info("request %s: EnOS answered %s", request.id, type(outcome).__name__)
        return await self.record_outcome(request.id, outcome)

    async def record_outcome(
        self, request_id: str, outcome: RevokeOutcome, note: str | None = None
    ) -> RevocationRequest | None:
        status, kind, values = _outcome_columns(outcome)
        return await self._finish(
            request_id,
            from_statuses=[RequestStatus.EXECUTING],
            status=status,
            kind=kind,
            actor_id=SYSTEM_ACTOR,
            note=note,
            values={**values, "lease_until": None},
        )

    async def _keep_lease(self, request_id: str) -> None:
        interval = self.timing.execution_lease.total_seconds() / 3
        while True:
            await asyncio.sleep(interval)
            await run_sync(self._renew_lease, request_id)

    def _renew_lease(self, request_id: str) -> None:
        with self.db.write() as session:
            queries.transition(
                session,
                request_id,
                from_statuses=[RequestStatus.EXECUTING],
                values={"lease_until": utcnow() + self.timing.execution_lease},
            )

    # --- sweeping: expiry and recovery after a crash ---

    async def expire_due(self) -> int:
        ids = await run_sync(self._read, lambda s: queries.pending_past_expiry(s, utcnow()))
        expired = 0
        for request_id in ids:
            request = await self._finish(
                request_id,
                from_statuses=[RequestStatus.PENDING],
                status=RequestStatus.EXPIRED,
                kind=AuditKind.EXPIRED,
                actor_id=SYSTEM_ACTOR,
                values={},
                where=[col(RevocationRequest.expires_at) <= utcnow()],
            )
            if request is not None:
                expired += 1
                log.info("request %s expired without approval", request_id)
        return expired

    async def recover_interrupted(self) -> int:
        """Finish requests whose executing process died, without a second revoke call."""
        stale = await run_sync(
            self._read, lambda s: queries.executing_with_lapsed_lease(s, utcnow())
        )
        recovered = 0
        for request in stale:
            if not await run_sync(self._take_over, request):
                continue
            recovered += 1
            log.warning("request %s was interrupted mid-call; asking EnOS", request.id)
            listing = await self.enos.list_certificates(request.device)
            outcome, note = _after_interruption(listing, request.cert_sn)
            await self.record_outcome(request.id, outcome, note)
        return recovered

    def _take_over(self, request: RevocationRequest) -> bool:
        with self.db.write() as session:
            taken = queries.transition(
                session,
                request.id,
                from_statuses=[RequestStatus.EXECUTING],
                values={"lease_until": utcnow() + self.timing.execution_lease},
                where=[col(RevocationRequest.lease_until) == request.lease_until],
            )
            return taken is not None

    async def pending_lookups(self) -> None:
        """Fetch certificate facts a crash or a failed lookup left missing."""
        cutoff = utcnow() - LOOKUP_GRACE
        ids = await run_sync(self._read, lambda s: queries.needing_lookup(s, cutoff))
        for request_id in ids:
            await self.look_up_certificate(request_id)

    # --- helpers ---

    def _get(self, request_id: str) -> RevocationRequest | None:
        with self.db.read() as session:
            return queries.get(session, request_id)

    def _read(self, query: Callable[[Any], Any]) -> Any:
        with self.db.read() as session:
            return query(session)

    async def get(self, request_id: str) -> RevocationRequest | None:
        return await run_sync(self._get, request_id)

    async def _finish(
        self,
        request_id: str,
        *,
        from_statuses: list[RequestStatus],
        status: RequestStatus,
        kind: AuditKind,
        actor_id: str,
        values: dict[str, Any],
        note: str | None = None,
        where: list[Any] | None = None,
        reply: bool = True,
        notify_requester: bool = False,
    ) -> RevocationRequest | None:
        def write() -> RevocationRequest | None:
            with self.db.write() as session:
                request = queries.transition(
                    session,
                    request_id,
                    from_statuses=from_statuses,
                    values={"status": status.value, "finished_at": utcnow(), **values},
                    where=where or [],
                )
                if request is None:
                    return None
                event = append_event(session, request, kind, actor_id, note=note)
                if notify_requester:
                    outbox.give_up_request(session, request_id, f"request {status.value}")
                    outbox.enqueue(session, request_id, OutboxKind.NOTIFY_REQUESTER, event.seq)
                else:
                    outbox.enqueue(session, request_id, OutboxKind.UPDATE_REQUEST)
                if reply:
                    outbox.enqueue(session, request_id, OutboxKind.THREAD_REPLY, event.seq)
                return request

        request = await run_sync(write)
        if request is not None:
            self._on_outbox()
        return request


def _device_columns(device: DeviceIdentifier) -> dict[str, Any]:
    match device:
        case AssetId():
            return {"asset_id": device.asset_id, "product_key": None, "device_key": None}
        case _:
            return {
                "asset_id": None,
                "product_key": device.product_key,
                "device_key": device.device_key,
            }


def _outcome_columns(outcome: RevokeOutcome) -> tuple[RequestStatus, AuditKind, dict[str, Any]]:
    match outcome:
        case Revoked():
            return (
                RequestStatus.REVOKED,
                AuditKind.REVOKED,
                {
                    "enos_request_id": outcome.request_id or None,
                    "enos_code": 0,
                },
            )
        case Refused():
            return (
                RequestStatus.REFUSED,
                AuditKind.REFUSED,
                {
                    "enos_request_id": outcome.request_id,
                    "enos_code": outcome.code,
                    "enos_msg": outcome.msg,
                    "outcome_detail": outcome.remedy,
                },
            )
        case NotSent():
            return RequestStatus.FAILED, AuditKind.FAILED, {"outcome_detail": outcome.reason}
        case OutcomeUnknown():
            return RequestStatus.UNKNOWN, AuditKind.UNKNOWN, {"outcome_detail": outcome.reason}


def _after_interruption(listing: ListOutcome, cert_sn: int) -> tuple[RevokeOutcome, str]:
    """What List Certificate tells about a revoke call whose answer was lost."""
    if isinstance(listing, Certificates):
        cert = listing.find(cert_sn)
        if cert is not None and cert.status is CertStatus.REVOKED:
            return (
                Revoked(request_id=""),
                "The bot stopped during the EnOS call; List Certificate shows it revoked.",
            )
        return (
            OutcomeUnknown(
                "The bot stopped during the EnOS call and List Certificate does not show "
                "the certificate revoked. It was not revoked by this request as far as EnOS "
                "shows now; request again to try once more."
            ),
            "interrupted; List Certificate does not show it revoked",
        )
    return (
        OutcomeUnknown(
            "The bot stopped during the EnOS call and EnOS could not be asked afterwards. "
            "Check the certificate in EnOS before requesting again."
        ),
        "interrupted; List Certificate unavailable",
    )
