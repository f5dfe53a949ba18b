"""Helpers for tests that play Slack: a served stand-in, a fake clock, a request recorder."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.web.async_client import AsyncWebClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.serving import ServerThread
from bot.slack.standin import SlackStandIn

BOT_TOKEN = "xoxb-test-token"
SIGNING_SECRET = "test-signing-secret"


class FakeClock:
    """A monotonic clock a test moves by hand, to age trigger ids and response URLs."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@contextmanager
def served_standin(**options: Any) -> Iterator[SlackStandIn]:
    """A stand-in for BOT_TOKEN served on loopback for the block's duration."""
    standin = SlackStandIn(BOT_TOKEN, **options)
    server = standin.serve()
    try:
        yield standin
    finally:
        server.stop()


def web_client(
    standin: SlackStandIn,
    *handlers: AsyncRetryHandler,
    token: str | None = BOT_TOKEN,
) -> AsyncWebClient:
    """slack_sdk's client pointed at the stand-in, with exactly the given retry handlers."""
    return AsyncWebClient(token=token, base_url=standin.api_url, retry_handlers=list(handlers))


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    """A stand-in for the bot's request URL: records each request, answers as told."""

    requests: list[Received] = field(default_factory=list)
    answers: list[Response] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/slack/events", self._receive, methods=["POST"])])

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        with self.lock:
            self.requests.append(Received(dict(request.headers), body))
            answer = self.answers.pop(0) if self.answers else Response(b"", status_code=200)
        await asyncio.sleep(0)
        return answer

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.answers.clear()

    @property
    def last(self) -> Received:
        with self.lock:
            return self.requests[-1]


@contextmanager
def served(app: Any) -> Iterator[ServerThread]:
    server = ServerThread(app).start()
    try:
        yield server
    finally:
        server.stop()
