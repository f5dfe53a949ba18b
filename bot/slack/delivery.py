"""Sends what the outbox says Slack is owed, until Slack has it.

The outcome of every step is in the database before a message about it is sent,
so a failed send loses nothing: it is tried again with backoff (Slack's
``Retry-After`` on HTTP 429), across restarts and from any replica.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from datetime import timedelta
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from sqlmodel import select

from bot.slack.surfaces import SlackMessage, approval_message, requester_notice, thread_reply
from commands.workflow import RevocationService
from storage import outbox
from storage import requests as queries
from storage.db import Database, run_sync
from storage.models import AuditEvent, OutboxKind, OutboxMessage, RevocationRequest, utcnow

log = logging.getLogger(__name__)

# The approval channel cannot take the message: the request must not stay pending.
UNPOSTABLE = {"not_in_channel", "channel_not_found", "is_archived", "restricted_action"}
# The bot's credentials are wrong: nothing is lost, an operator must act; keep trying slowly.
CREDENTIALS = {"invalid_auth", "token_revoked", "account_inactive", "not_authed"}
MAX_BACKOFF_SECONDS = 300.0


class _Retry(Exception):
    def __init__(self, reason: str, after: float) -> None:
        super().__init__(reason)
        self.after = after


class _GiveUp(Exception):
    pass


class Delivery:
    def __init__(
        self,
        db: Database,
        client: AsyncWebClient,
        service: RevocationService,
        lease: timedelta = timedelta(seconds=60),
        idle_poll_seconds: float = 1.0,
    ) -> None:
        self.db = db
        self.client = client
        self.service = service
        self.lease = lease
        self.idle_poll_seconds = idle_poll_seconds
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        # How soon to look again after the bot lost the approval channel.
        self.lost_channel_retry_seconds = 60.0

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                sent = await self.deliver_due()
            except Exception:
                log.exception("delivery pass failed; trying again shortly")
                sent = 0
            if sent == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.idle_poll_seconds)
                self._wake.clear()

    async def deliver_due(self) -> int:
        """One pass: send every message that is due and first in line. Returns how many."""

        def claim() -> list[OutboxMessage]:
            with self.db.write() as session:
                return outbox.claim_due(session, utcnow(), self.lease)

        claimed = await run_sync(claim)
        await asyncio.gather(*(self._deliver(message) for message in claimed))
        return len(claimed)

    def claimed(self) -> list[int]:
        """Messages this process is sending right now (their leases are its own)."""
        return sorted(self._in_flight)

    async def _deliver(self, message: OutboxMessage) -> None:
        assert message.id is not None
        self._in_flight.add(message.id)
        try:
            await self._attempt(message)
        finally:
            self._in_flight.discard(message.id)

    async def _attempt(self, message: OutboxMessage) -> None:
        assert message.id is not None
        try:
            await self._send(message)
        except _Retry as retry:
            delay = retry.after if retry.after > 0 else _backoff(message.attempts)
            log.warning(
                "request %s: Slack %s failed (%s); retrying in %.0fs",
                message.request_id, message.kind, retry, delay,
            )  # fmt: skip
            next_at = utcnow() + timedelta(seconds=delay)
            await run_sync(self._in_tx, outbox.mark_retry, message.id, str(retry), next_at)
            return
        except _GiveUp as error:
            log.error("request %s: Slack %s abandoned: %s", message.request_id, message.kind, error)
            await run_sync(self._in_tx, outbox.give_up, message.id, str(error))
            return
        await run_sync(self._in_tx, outbox.mark_delivered, message.id)
        log.info("request %s: Slack %s delivered", message.request_id, message.kind)
        self.wake()

    def _in_tx(self, func: Any, *args: Any) -> None:
        with self.db.write() as session:
            func(session, *args)

    async def _send(self, message: OutboxMessage) -> None:
        request, event = await run_sync(self._load, message)
        if request is None:
            raise _GiveUp("request not found")
        kind = OutboxKind(message.kind)
        if kind is OutboxKind.POST_REQUEST:
            await self._post_request(request)
        elif kind is OutboxKind.NOTIFY_REQUESTER:
            assert event is not None
            await self._notify_requester(request, requester_notice(request, event))
        elif request.message_ts is None:
            raise _GiveUp("the approval message was never posted")
        elif kind is OutboxKind.UPDATE_REQUEST:
            shown = approval_message(request, now=utcnow())
            await self._update_in_channel(request, shown)
        elif kind is OutboxKind.THREAD_REPLY:
            assert event is not None
            reply = thread_reply(request, event)
            try:
                await self._call(
                    "chat_postMessage",
                    channel=request.approval_channel_id,
                    thread_ts=request.message_ts,
                    text=reply.text,
                    blocks=reply.blocks,
                )
            except _GiveUp as error:
                # The thread is out of reach (bot removed, channel archived, message
                # deleted): the people it concerns hear it directly instead.
                await self._tell_privately(request, reply)
                raise _GiveUp(f"{error}; sent to the people concerned instead") from None

    async def _update_in_channel(self, request: RevocationRequest, shown: SlackMessage) -> None:
        """Redraw the approval message; losing the channel is not the end of it.

        Someone may have removed the bot or archived the channel after the request was
        posted. The message must still show the outcome once that is put right, so such
        errors are retried (slowly) rather than abandoned.
        """
        try:
            await self._call(
                "chat_update",
                channel=request.approval_channel_id,
                ts=request.message_ts,
                text=shown.text,
                blocks=shown.blocks,
            )
        except _GiveUp as error:
            if str(error) not in UNPOSTABLE:
                raise
            raise _Retry(
                f"{error}: the bot cannot post in the approval channel; invite it again",
                self.lost_channel_retry_seconds,
            ) from None

    async def _tell_privately(self, request: RevocationRequest, reply: SlackMessage) -> None:
        """Send a thread reply that cannot reach the thread to the people it concerns."""
        people = {request.requester_id, request.approver_id, request.decided_by} - {None}
        for person in sorted(p for p in people if p):
            try:
                await self._call(
                    "chat_postMessage", channel=person, text=reply.text, blocks=reply.blocks
                )
            except (_Retry, _GiveUp) as error:
                log.warning("request %s: could not tell %s: %s", request.id, person, error)

    def _load(self, message: OutboxMessage) -> tuple[RevocationRequest | None, AuditEvent | None]:
        with self.db.read() as session:
            request = queries.get(session, message.request_id)
            event = None
            if message.event_seq is not None:
                event = session.exec(
                    select(AuditEvent).where(AuditEvent.seq == message.event_seq)
                ).one_or_none()
            return request, event

    async def _post_request(self, request: RevocationRequest) -> None:
        if request.message_ts is not None:
            return  # posted before a crash lost the delivery mark
        shown = approval_message(request, now=utcnow())
        try:
            answer = await self._call(
                "chat_postMessage",
                channel=request.approval_channel_id,
                text=shown.text,
                blocks=shown.blocks,
                unfurl_links=False,
            )
        except _GiveUp as error:
            await self.service.mark_undeliverable(request.id, str(error))
            return
        ts = str(answer["ts"])
        permalink = None
        try:
            link = await self._call(
                "chat_getPermalink", channel=request.approval_channel_id, message_ts=ts
            )
            permalink = str(link.get("permalink"))
        except (_Retry, _GiveUp) as error:
            # The link is a convenience for history; the message itself is what matters.
            log.warning("request %s: no permalink (%s)", request.id, error)
        await self.service.record_posted(request.id, ts, permalink)

    async def _notify_requester(self, request: RevocationRequest, notice: SlackMessage) -> None:
        try:
            await self._call(
                "chat_postEphemeral",
                channel=request.origin_channel_id,
                user=request.requester_id,
                text=notice.text,
                blocks=notice.blocks,
            )
        except _GiveUp:
            # The bot may not be in that channel either; a direct message always reaches them.
            await self._call(
                "chat_postMessage",
                channel=request.requester_id,
                text=notice.text,
                blocks=notice.blocks,
            )

    async def _call(self, method: str, **kwargs: Any) -> Any:
        try:
            return await getattr(self.client, method)(**kwargs)
        except SlackApiError as error:
            raise _classify(error) from None
        except (aiohttp.ClientError, TimeoutError, OSError) as error:
            raise _Retry(f"network error: {type(error).__name__}", 0) from None


def _classify(error: SlackApiError) -> Exception:
    response = error.response
    code = str(response.get("error") or "") if response.data else ""
    status = response.status_code
    if status == 429 or code == "ratelimited":
        return _Retry("rate limited", _retry_after(response.headers.get("Retry-After")))
    if status >= 500 or not code:
        return _Retry(f"HTTP {status}", 0)
    if code in CREDENTIALS:
        return _Retry(f"{code}: check SLACK_BOT_TOKEN", MAX_BACKOFF_SECONDS)
    if code in ("internal_error", "fatal_error", "service_unavailable", "request_timeout"):
        return _Retry(code, 0)
    return _GiveUp(code)


def _retry_after(header: str | None) -> float:
    """Slack sends whole seconds; anything else (an HTTP date, garbage) means a short wait."""
    try:
        seconds = float(header or 1)
    except ValueError:
        return 1.0
    return min(max(seconds, 1.0), MAX_BACKOFF_SECONDS) if seconds == seconds else 1.0


def _backoff(attempts: int) -> float:
    base: float = min(MAX_BACKOFF_SECONDS, 2.0 ** max(attempts - 1, 0))
    return base * random.uniform(0.8, 1.2)
