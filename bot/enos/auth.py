"""EnOS API gateway authentication as an ``httpx.Auth``: access token, signature, one resend.

For each call the flow

1. makes sure an access token is cached, fetching one from the token service when
   there is none or it is close to expiring. The fetch happens under a lock, so any
   number of concurrent calls on a cold client cause a single token request;
2. signs the call over its sorted query parameters and the exact body bytes;
3. if the gateway answers that the token expired, drops that token, fetches a new
   one and resends the call once. The gateway refused the first attempt before it
   reached the certificate service, which is the only reason a resend of a revoke
   is safe; any other answer, or a second refusal, ends the flow.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.enos.progress import CallProgress
from bot.enos.remedies import GATEWAY_INTERNAL_ERROR, GATEWAY_REFUSALS, TOKEN_EXPIRED
from bot.enos.signing import sign_request, token_encryption

log = logging.getLogger(__name__)

TOKEN_PATH = "/apim-token-service/v2.0/token/get"  # noqa: S105 - a path, not a secret

# Fetch a new token this long before the old one expires, so that a call signed just
# before expiry does not arrive just after it. Short-lived tokens keep half their life.
REFRESH_MARGIN_S = 300.0

JSON_CONTENT_TYPE = "application/json;charset=UTF-8"


class TokenUnavailable(Exception):
    """No access token could be had, so the API call was never sent."""


@dataclass(frozen=True, slots=True)
class _Token:
    value: str = field(repr=False)
    refresh_at: float


def now_ms() -> int:
    return int(time.time() * 1000)


def read_json(response: httpx.Response) -> dict[str, Any] | None:
    """The response body as a JSON object, or None when it is anything else."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def gateway_code(body: dict[str, Any] | None) -> int | None:
    """The gateway's own error code in an answer, if the answer is a gateway refusal.

    The token service spells the key ``status`` (one published sample ``stauts``);
    other answers use ``code``. Service codes (99400, 11404, ...) never collide with
    the gateway's, so the number alone says who answered.
    """
    if body is None:
        return None
    for key in ("status", "stauts", "code"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            known = value in GATEWAY_REFUSALS or value == GATEWAY_INTERNAL_ERROR
            return value if known else None
    return None


class ApimAuth(httpx.Auth):
    """Signs calls for EnOS's API gateway; works with ``httpx.AsyncClient`` only.

    The flow reads request and response bodies itself: the signature needs the one,
    telling an expired token from other answers needs the other.
    """

    def __init__(
        self,
        token_url: str,
        app_key: str,
        app_secret: str,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._token_url = token_url
        self._app_key = app_key
        self._app_secret = app_secret
        self._clock = clock
        self._token: _Token | None = None
        self._lock = asyncio.Lock()
        self._last_token_timestamp = 0

    def __repr__(self) -> str:
        return f"ApimAuth(token_url={self._token_url!r}, app_key={self._app_key!r})"

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        raise RuntimeError("ApimAuth needs httpx.AsyncClient: its token cache uses an asyncio.Lock")

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        progress = request.extensions.get("trace")
        if not isinstance(progress, CallProgress):
            progress = CallProgress()

        for attempt in (1, 2):
            async with self._lock:
                if self._token is None or self._clock() >= self._token.refresh_at:
                    token_response = yield self._token_request(request)
                    await token_response.aread()
                    self._token = self._read_token(token_response)
                token = self._token.value

            self._sign(request, token)
            progress.attempt_started()
            response = yield request
            await response.aread()

            if attempt == 2 or gateway_code(read_json(response)) != TOKEN_EXPIRED:
                return

            progress.attempt_refused_by_gateway()
            log.info("EnOS's gateway refused the access token as expired; resending once")
            if self._token is not None and self._token.value == token:
                self._token = None

    def _token_request(self, call: httpx.Request) -> httpx.Request:
        # Two token requests in one millisecond would carry the same encryption,
        # which the token service refuses as a replay (1001).
        timestamp = max(now_ms(), self._last_token_timestamp + 1)
        self._last_token_timestamp = timestamp
        body = {
            "appKey": self._app_key,
            "encryption": token_encryption(self._app_key, timestamp, self._app_secret),
            "timestamp": timestamp,
        }
        # The client's timeouts travel as a request extension; without it httpcore waits forever.
        timeout = call.extensions.get("timeout")
        return httpx.Request(
            "POST",
            self._token_url,
            content=json.dumps(body).encode(),
            headers={"Content-Type": JSON_CONTENT_TYPE},
            extensions={} if timeout is None else {"timeout": timeout},
        )

    def _read_token(self, response: httpx.Response) -> _Token:
        body = read_json(response)
        if body is None:
            raise TokenUnavailable(
                f"EnOS's token service answered HTTP {response.status_code} without JSON;"
                " the call was not sent. Try again later."
            )
        status = body.get("status", body.get("stauts", body.get("code")))
        if status != 0:
            msg = str(body.get("msg", ""))[:200]
            advice = GATEWAY_REFUSALS.get(status, "") if isinstance(status, int) else ""
            raise TokenUnavailable(
                f"EnOS's token service refused to issue an access token ({status}: {msg});"
                f" the call was not sent. {advice}".rstrip()
            )
        data = body.get("data")
        value = data.get("accessToken") if isinstance(data, dict) else None
        expire = data.get("expire") if isinstance(data, dict) else None
        if not isinstance(value, str) or not value or not isinstance(expire, int | float):
            raise TokenUnavailable(
                "EnOS's token service answered without an access token; the call was not sent."
            )
        margin = min(REFRESH_MARGIN_S, expire / 2)
        log.debug("fetched an EnOS access token valid for %s s", expire)
        return _Token(value=value, refresh_at=self._clock() + expire - margin)

    def _sign(self, request: httpx.Request, token: str) -> None:
        timestamp = now_ms()
        signature = sign_request(
            token, request.url.params, request.content, timestamp, self._app_secret
        )
        request.headers["apim-accesstoken"] = token
        request.headers["apim-timestamp"] = str(timestamp)
        request.headers["apim-signature"] = signature
