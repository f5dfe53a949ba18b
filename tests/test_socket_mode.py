"""Socket Mode: with SLACK_APP_TOKEN set, `serve` opens a WebSocket instead of listening.

A small WebSocket endpoint on loopback plays Slack's Socket Mode side: it hands the
bot envelopes as Slack does and reads the bot's acknowledgements.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, web

from bot.serving import free_port
from bot.stack import ONCALL_CHANNEL, LocalStack
from tests.flow_support import REQUESTER

APP_TOKEN = "xapp-1-A0APP-local-socket"


class SocketModeEndpoint:
    """Slack's end of a Socket Mode connection, for one client."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/link"
        self.received: queue.Queue[dict[str, Any]] = queue.Queue()
        self.connected = threading.Event()
        self._socket: web.WebSocketResponse | None = None
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._serve(), self._loop).result(timeout=10)

    async def _serve(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        self._socket = socket
        await socket.send_json({"type": "hello", "num_connections": 1})
        self.connected.set()
        async for message in socket:
            if message.type == WSMsgType.TEXT:
                self.received.put(json.loads(message.data))
        return socket

    def send(self, envelope: dict[str, Any]) -> None:
        assert self._socket is not None
        future = asyncio.run_coroutine_threadsafe(self._socket.send_json(envelope), self._loop)
        future.result(timeout=10)

    def ack_for(self, envelope_id: str, timeout: float = 10) -> dict[str, Any]:
        while True:
            message = self.received.get(timeout=timeout)
            if message.get("envelope_id") == envelope_id:
                return message

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()


@pytest.fixture
def socket_bot(tmp_path: Path) -> Iterator[tuple[LocalStack, SocketModeEndpoint]]:
    stack = LocalStack(f"sqlite:///{tmp_path}/bot.sqlite3").start(with_bot=False)
    endpoint = SocketModeEndpoint()
    endpoint.start()
    stack.standin.app_token = APP_TOKEN
    stack.standin.socket_mode_url = endpoint.url
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "serve"],
        env={**os.environ, **stack.env(), "SLACK_APP_TOKEN": APP_TOKEN},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        assert endpoint.connected.wait(timeout=30), (tmp_path / "serve.log").read_text()
        yield stack, endpoint
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()
        endpoint.stop()
        stack.stop()


def _slash_command(stack: LocalStack, text: str) -> dict[str, Any]:
    envelope_id = str(uuid.uuid4())
    return {
        "envelope_id": envelope_id,
        "type": "slash_commands",
        "accepts_response_payload": True,
        "payload": {
            "token": "unused",
            "team_id": "T0TEAM",
            "team_domain": "standin",
            "channel_id": ONCALL_CHANNEL,
            "channel_name": "oncall",
            "user_id": REQUESTER,
            "user_name": "alice",
            "command": "/revoke-cert",
            "text": text,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": stack.standin.new_response_url(REQUESTER, ONCALL_CHANNEL),
            "trigger_id": stack.standin.new_trigger(REQUESTER),
        },
    }


def test_socket_mode_acknowledges_commands_over_the_socket(
    socket_bot: tuple[LocalStack, SocketModeEndpoint],
) -> None:
    stack, endpoint = socket_bot
    envelope = _slash_command(stack, "help")

    endpoint.send(envelope)

    ack = endpoint.ack_for(envelope["envelope_id"])
    assert "/revoke-cert" in ack["payload"]["text"]


def test_socket_mode_opens_the_request_form(
    socket_bot: tuple[LocalStack, SocketModeEndpoint],
) -> None:
    stack, endpoint = socket_bot
    envelope = _slash_command(stack, "asset=Xy12AbCd cert=52739")

    endpoint.send(envelope)

    endpoint.ack_for(envelope["envelope_id"])
    view = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER), timeout=10)
    assert view["callback_id"] == "revoke_request_modal"
