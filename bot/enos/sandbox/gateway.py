"""The sandbox's API gateway: the token service and the checks in front of every API call.

EnOS's public pages document the token service's codes but not the exact answer the
gateway gives a service call it refuses. The sandbox answers those with the token
service's own shape, ``{"status": <code>, "msg": ...}``: 1202 for a missing header,
1203 for an access token that is unknown or expired, 1004 for a timestamp more than
5 minutes off or a signature that does not match.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from bot.enos.sandbox.store import Answer
from bot.enos.signing import sign_request, token_encryption

# How far apim-timestamp (and a token request's timestamp) may be from the clock.
TIMESTAMP_WINDOW_MS = 5 * 60 * 1000


def refusal(code: int, msg: str, http_status: int = 401) -> Answer:
    return Answer(http_status, {"status": code, "msg": msg})


def _token_answer(status: int, msg: str, data: object = None) -> Answer:
    body = {"status": status, "msg": msg, "business": "apim-token-service", "data": data}
    return Answer(200, body)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The gateway's decision on an API call."""

    refused: Answer | None
    # None when the call carried no signature to check.
    signature_ok: bool | None


class Gateway:
    def __init__(
        self,
        app_key: str,
        app_secret: str,
        *,
        token_ttl: float = 7200.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._app_key = app_key
        self._app_secret = app_secret
        self._token_ttl = token_ttl
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: dict[str, float] = {}
        self._current: str | None = None
        # Encryptions seen within the timestamp window, to refuse replays (1001).
        self._seen_encryptions: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"Gateway(app_key={self._app_key!r})"

    def issue_token(self, body: bytes) -> tuple[Answer, bool | None]:
        """Answer a token request; also whether its ``encryption`` was right."""
        try:
            request = json.loads(body)
        except ValueError:
            return _token_answer(1004, "invalid parameter: body is not JSON"), None
        if not isinstance(request, dict):
            return _token_answer(1004, "invalid parameter: body is not a JSON object"), None
        app_key, encryption, timestamp = (
            request.get("appKey"),
            request.get("encryption"),
            request.get("timestamp"),
        )
        if not app_key or not encryption or timestamp in (None, ""):
            return _token_answer(1202, "parameter is empty: appKey, encryption, timestamp"), None
        if app_key != self._app_key:
            return _token_answer(1002, "appKey does not exist"), None
        try:
            stamp = int(timestamp)
        except (TypeError, ValueError):
            return _token_answer(1004, "invalid parameter: timestamp"), None
        if not secrets.compare_digest(
            str(encryption), token_encryption(app_key, stamp, self._app_secret)
        ):
            return _token_answer(1003, "encryption is not valid"), False
        if abs(stamp - self._now_ms()) > TIMESTAMP_WINDOW_MS:
            return _token_answer(1004, "invalid parameter: timestamp out of range"), True
        with self._lock:
            if encryption in self._seen_encryptions:
                return _token_answer(1001, "repeated request with a duplicated encryption"), True
            self._remember_encryption(str(encryption), stamp)
            token, expires_at = self._current_token()
        remaining = max(1, round(expires_at - self._clock()))
        return _token_answer(0, "SUCCESS", {"accessToken": token, "expire": remaining}), True

    def check(self, headers: Mapping[str, str], params: Mapping[str, str], body: bytes) -> Verdict:
        """Decide whether an API call passes: headers present, token valid, signed, on time."""
        token = headers.get("apim-accesstoken", "")
        timestamp = headers.get("apim-timestamp", "")
        signature = headers.get("apim-signature", "")
        if not (token and timestamp and signature):
            missing = "apim-accesstoken, apim-timestamp and apim-signature are required"
            return Verdict(refusal(1202, f"parameter is empty: {missing}"), None)
        try:
            stamp = int(timestamp)
        except ValueError:
            return Verdict(refusal(1004, "invalid parameter: apim-timestamp", 400), None)

        expected = sign_request(token, params, body, stamp, self._app_secret)
        signature_ok = secrets.compare_digest(signature, expected)
        with self._lock:
            expires_at = self._tokens.get(token)
        if expires_at is None or expires_at <= self._clock():
            return Verdict(refusal(1203, "access token is invalid or has expired"), signature_ok)
        if abs(stamp - self._now_ms()) > TIMESTAMP_WINDOW_MS:
            msg = "invalid parameter: apim-timestamp is more than 5 minutes off"
            return Verdict(refusal(1004, msg, 400), signature_ok)
        if not signature_ok:
            msg = "invalid parameter: apim-signature does not match the request"
            return Verdict(refusal(1004, msg, 400), False)
        return Verdict(None, True)

    def expire_tokens(self) -> None:
        """Every token issued so far is expired from now on; the next request gets a new one."""
        with self._lock:
            self._tokens = {token: 0.0 for token in self._tokens}
            self._current = None

    def issued_tokens(self) -> list[str]:
        """Every access token handed out, so a test can look for it where it must not be."""
        with self._lock:
            return list(self._tokens)

    def reset(self) -> None:
        with self._lock:
            self._tokens.clear()
            self._current = None
            self._seen_encryptions.clear()

    def _current_token(self) -> tuple[str, float]:
        # While the current token is valid, asking again returns the same one.
        now = self._clock()
        if self._current is not None and self._tokens[self._current] > now:
            return self._current, self._tokens[self._current]
        token = secrets.token_urlsafe(24)
        self._tokens[token] = now + self._token_ttl
        self._current = token
        return token, self._tokens[token]

    def _remember_encryption(self, encryption: str, stamp: int) -> None:
        # Older ones fall outside the timestamp window and are refused for that anyway.
        oldest = self._now_ms() - TIMESTAMP_WINDOW_MS
        seen = self._seen_encryptions
        self._seen_encryptions = {e: s for e, s in seen.items() if s >= oldest}
        self._seen_encryptions[encryption] = stamp

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)
