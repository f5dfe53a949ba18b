"""Fixtures and helpers for the EnOS client and sandbox tests.

A test module imports the fixtures it uses (``from tests.enos_support import
sandbox_fixture``); pytest finds them under their ``name``, so test parameters do not
shadow the imports. One sandbox serves each test module on a loopback port, and
each test gets it reset to its seed.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import httpx
import pytest

from bot.enos.client import EnosClient
from bot.enos.sandbox import Sandbox
from bot.enos.sandbox.calls import CallRecord
from bot.serving import ServerThread, free_port

# Short enough to keep the suite quick, long enough for a loaded CI machine.
TOTAL_TIMEOUT = 1.0
CONNECT_TIMEOUT = 0.5


@dataclass
class RunningSandbox:
    sandbox: Sandbox
    url: str


@pytest.fixture(name="sandbox_server", scope="module")
def sandbox_server_fixture() -> Iterator[RunningSandbox]:
    sandbox = Sandbox()
    server = ServerThread(sandbox.asgi_app).start()
    try:
        yield RunningSandbox(sandbox, server.url)
    finally:
        sandbox.close()
        server.stop()


@pytest.fixture(name="sandbox")
def sandbox_fixture(sandbox_server: RunningSandbox) -> Iterator[Sandbox]:
    sandbox_server.sandbox.reset()
    yield sandbox_server.sandbox
    # Nothing a test left held may outlive it.
    sandbox_server.sandbox.reset()


@pytest.fixture(name="sandbox_url")
def sandbox_url_fixture(sandbox_server: RunningSandbox, sandbox: Sandbox) -> str:
    return sandbox_server.url


def client_for(
    url: str,
    sandbox: Sandbox,
    *,
    app_secret: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    total_timeout: float = TOTAL_TIMEOUT,
) -> EnosClient:
    return EnosClient(
        url,
        sandbox.app_key,
        sandbox.app_secret if app_secret is None else app_secret,
        sandbox.org_id,
        connect_timeout=CONNECT_TIMEOUT,
        total_timeout=total_timeout,
        transport=transport,
    )


@pytest.fixture(name="enos")
async def enos_fixture(sandbox_url: str, sandbox: Sandbox) -> AsyncIterator[EnosClient]:
    async with client_for(sandbox_url, sandbox) as client:
        yield client


def unused_url() -> str:
    """A loopback URL nothing listens on: connecting is refused."""
    return f"http://127.0.0.1:{free_port()}"


def reached_service(sandbox: Sandbox, action: str = "revoke") -> list[CallRecord]:
    """Calls of ``action`` that got past the gateway, i.e. that could have had an effect."""
    return [call for call in sandbox.calls(action) if call.reached_service]


async def until_held(sandbox: Sandbox, count: int = 1, timeout: float = 5.0) -> None:
    """Wait, without blocking the event loop, until ``count`` calls are held open."""
    async with asyncio.timeout(timeout):
        while len(sandbox.held()) < count:
            await asyncio.sleep(0.01)


@dataclass
class SeenOnTheWire:
    """Secret values a client put into requests: signatures, tokens, encryptions."""

    signatures: list[str] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    encryptions: list[str] = field(default_factory=list)


class RecordingTransport(httpx.AsyncBaseTransport):
    """Passes requests to a real transport, noting the secret values they carry."""

    def __init__(self) -> None:
        self.seen = SeenOnTheWire()
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if "apim-signature" in request.headers:
            self.seen.signatures.append(request.headers["apim-signature"])
            self.seen.tokens.append(request.headers["apim-accesstoken"])
        elif request.url.path.endswith("/token/get"):
            self.seen.encryptions.append(json.loads(request.content)["encryption"])
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
