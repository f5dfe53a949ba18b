"""Socket Mode: the bot opens a WebSocket to Slack, so it needs no public URL."""

from __future__ import annotations

import logging

from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

from bot.runtime import Runtime
from bot.settings import Settings
from bot.slack.app import build_app

log = logging.getLogger(__name__)


async def run_socket_mode(settings: Settings) -> None:
    assert settings.slack_app_token is not None
    runtime = Runtime(settings)
    await runtime.start()
    handler = AsyncSocketModeHandler(
        build_app(runtime), settings.slack_app_token.get_secret_value()
    )
    log.info("connecting to Slack in Socket Mode")
    try:
        await handler.start_async()  # type: ignore[no-untyped-call]
    finally:
        await runtime.stop()
