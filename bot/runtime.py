"""Everything one bot process runs, built from the settings and started together.

Besides answering Slack, a process sends owed Slack messages and sweeps now and
then: it expires requests nobody decided on, finishes requests whose process
died mid-call, and fetches certificate facts a crash left unfetched. Every
sweep step is a conditional update, so any number of replicas can sweep at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import aiohttp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.enos.client import EnosClient
from bot.settings import Settings
from bot.slack.delivery import Delivery
from bot.slack.groups import GroupDirectory
from commands.approval import MemberList
from commands.workflow import RevocationService, Timing
from storage import outbox
from storage.db import Database, describe_url, run_sync
from storage.replay import forget_old

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.enos = EnosClient(
            settings.enos_api_url,
            settings.enos_app_key,
            settings.enos_app_secret.get_secret_value(),
            settings.enos_org_id,
            connect_timeout=settings.enos_connect_timeout,
            total_timeout=settings.enos_total_timeout,
        )
        self.web = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(),
            base_url=settings.slack_api_url,
            # Long enough that a slow Slack answer is waited for, not posted twice.
            timeout=30,
            # One quick retry in place; waiting out a rate limit is the outbox's job.
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(max_retry_count=1),
                AsyncServerErrorRetryHandler(max_retry_count=1),
            ],
        )
        self.service = RevocationService(
            self.db,
            self.enos,
            Timing(settings.revoke_request_ttl, settings.revoke_execution_lease),
            on_outbox=self._wake_delivery,
        )
        self.delivery = Delivery(
            self.db, self.web, self.service, lease=settings.revoke_delivery_lease
        )
        self.groups = GroupDirectory(self.web)
        self.approvers = MemberList.of(settings.revoke_approvers)
        self.requesters = MemberList.of(settings.revoke_requesters)
        self._tasks: set[asyncio.Task[Any]] = set()

    def _wake_delivery(self) -> None:
        self.delivery.wake()

    def spawn(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        """Run work after Slack has been answered; log, never lose, its failure."""
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s failed", task.get_name(), exc_info=task.exception())

    async def start(self) -> None:
        # One connection pool for every Web API call; a session per call costs a new
        # TCP (and TLS) connection each time. It must be made inside the running loop.
        self.web.session = aiohttp.ClientSession()
        log.info("database %s", describe_url(self.settings.database_url))
        await run_sync(self.db.migrate)
        # A restart is usually someone fixing something: retry owed Slack messages now.
        await run_sync(self._retry_owed_now)
        if self.approvers.is_open:
            log.warning(
                "REVOKE_APPROVERS is empty: any member other than the requester can approve"
            )
        self.spawn(self.delivery.run(), "slack delivery")
        self.spawn(self._sweep_forever(), "sweeper")

    async def sweep(self) -> None:
        await self.service.recover_interrupted()
        await self.service.expire_due()
        await self.service.pending_lookups()
        await run_sync(forget_old, self.db)

    async def _sweep_forever(self) -> None:
        interval = self.settings.revoke_sweep_interval.total_seconds()
        while True:
            try:
                await self.sweep()
            except Exception:
                log.exception("sweep failed; trying again in %.0fs", interval)
            await asyncio.sleep(interval)

    def _release(self, message_ids: list[int]) -> None:
        with self.db.write() as session:
            outbox.retry_now(session, message_ids)

    def _retry_owed_now(self) -> None:
        with self.db.write() as session:
            outbox.retry_now(session)

    async def stop(self) -> None:
        # Give back what was claimed but not sent, so no process waits out our lease.
        in_flight = self.delivery.claimed()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if in_flight:
            await run_sync(self._release, in_flight)
        await self.enos.aclose()
        if self.web.session is not None:
            await self.web.session.close()
        # A cancelled task's database call goes on in its thread; let those finish, so no
        # connection is handed back to a pool that is already gone (and never closed).
        await asyncio.get_running_loop().shutdown_default_executor()
        self.db.dispose()
