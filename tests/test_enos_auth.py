"""ApimAuth in isolation, against an in-memory gateway: caching, refresh, signing."""

from __future__ import annotations

import json

import httpx
import pytest

from bot.enos.auth import ApimAuth
from bot.enos.signing import sign_request

TOKEN_URL = "http://enos.test/apim-token-service/v2.0/token/get"
SECRET = "unit-secret"


class FakeGateway:
    """Issues numbered tokens and checks each call's signature."""

    def __init__(self, expire: int = 7200, status_key: str = "status") -> None:
        self.expire = expire
        self.status_key = status_key
        self.token_requests: list[httpx.Request] = []
        self.calls: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token/get"):
            self.token_requests.append(request)
            data = {"accessToken": f"token-{len(self.token_requests)}", "expire": self.expire}
            return httpx.Response(200, json={self.status_key: 0, "msg": "SUCCESS", "data": data})
        self.calls.append(request)
        expected = sign_request(
            request.headers["apim-accesstoken"],
            request.url.params,
            request.content,
            int(request.headers["apim-timestamp"]),
            SECRET,
        )
        ok = request.headers["apim-signature"] == expected
        return httpx.Response(200, json={"code": 0 if ok else -1})


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make_client(gateway: FakeGateway, clock: Clock) -> httpx.AsyncClient:
    auth = ApimAuth(TOKEN_URL, "unit-key", SECRET, clock=clock)
    return httpx.AsyncClient(
        base_url="http://enos.test",
        auth=auth,
        transport=httpx.MockTransport(gateway),
        timeout=httpx.Timeout(7.0, connect=3.0),
    )


async def test_token_is_cached_and_refreshed_five_minutes_before_expiry() -> None:
    gateway, clock = FakeGateway(expire=7200), Clock()
    async with make_client(gateway, clock) as client:
        await client.get("/x")
        clock.now += 7200 - 301
        await client.get("/x")
        clock.now += 2
        await client.get("/x")

    assert len(gateway.token_requests) == 2
    assert [c.headers["apim-accesstoken"] for c in gateway.calls] == [
        "token-1",
        "token-1",
        "token-2",
    ]


async def test_short_lived_token_is_used_for_half_its_life() -> None:
    gateway, clock = FakeGateway(expire=10), Clock()
    async with make_client(gateway, clock) as client:
        await client.get("/x")
        clock.now += 4.9
        await client.get("/x")
        clock.now += 0.2
        await client.get("/x")

    assert len(gateway.token_requests) == 2


async def test_signature_covers_sorted_params_and_exact_body() -> None:
    gateway, clock = FakeGateway(), Clock()
    body = b'{"certSn": 52739,\n "reason": 0}'
    async with make_client(gateway, clock) as client:
        response = await client.post("/c?z=1&action=revoke&orgId=o&assetId=A", content=body)

    assert response.json() == {"code": 0}
    assert gateway.calls[0].content == body


async def test_token_request_carries_the_encryption_and_the_clients_timeouts() -> None:
    gateway, clock = FakeGateway(), Clock()
    async with make_client(gateway, clock) as client:
        await client.get("/x")

    (token_request,) = gateway.token_requests
    document = json.loads(token_request.content)
    assert set(document) == {"appKey", "encryption", "timestamp"}
    assert len(document["encryption"]) == 64
    assert token_request.extensions["timeout"] == {
        "connect": 3.0,
        "read": 7.0,
        "write": 7.0,
        "pool": 7.0,
    }


async def test_misspelt_status_key_of_the_published_sample_is_accepted() -> None:
    gateway, clock = FakeGateway(status_key="stauts"), Clock()
    async with make_client(gateway, clock) as client:
        response = await client.get("/x")

    assert response.json() == {"code": 0}


def test_sync_client_is_refused_rather_than_sending_unsigned_calls() -> None:
    gateway = FakeGateway()
    auth = ApimAuth(TOKEN_URL, "unit-key", SECRET)
    with (
        httpx.Client(auth=auth, transport=httpx.MockTransport(gateway)) as client,
        pytest.raises(RuntimeError, match="AsyncClient"),
    ):
        client.get("http://enos.test/x")

    assert gateway.calls == []
