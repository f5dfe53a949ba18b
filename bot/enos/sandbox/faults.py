"""Ways the sandbox can be told to misbehave, so tests reach every outcome of a call.

A ``Fault`` applies to the next ``times`` calls of one action (``revoke``, ``list``,
``token``; no action means revoke and list) that get past the gateway's checks.
Faults are used in the order they were added.

``takes_effect`` says whether EnOS acted on the call before the failure showed: a
dropped connection after the revocation happened is the case a caller must survive.

Kinds:

latency        answer normally after ``seconds``
hang           answer normally after ``seconds`` (0: until released)
hold           keep the call open until released; then answer, if it took effect,
               or drop the connection if it did not
http_500       HTTP 500 with an HTML error page, as a proxy in front of EnOS answers
empty_502      HTTP 502 with an empty body
not_json       HTTP 200 with a body that is not JSON
drop           close the connection without answering
truncate       send the headers and part of the body, then close the connection
token_expired  the gateway refuses the call's access token as expired (1203) and
               expires every token, so the next token request gets a new one
error          answer EnOS error ``code`` with ``msg``
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

ACTIONS = ("revoke", "list", "token")


class FaultKind(StrEnum):
    LATENCY = "latency"
    HANG = "hang"
    HOLD = "hold"
    HTTP_500 = "http_500"
    EMPTY_502 = "empty_502"
    NOT_JSON = "not_json"
    DROP = "drop"
    TRUNCATE = "truncate"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a fault's name
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    action: str | None = None
    # None: every matching call until the faults are cleared.
    times: int | None = 1
    seconds: float = 0.0
    takes_effect: bool = False
    code: int = 99500
    msg: str = "Internal error of certificate service."

    def __post_init__(self) -> None:
        if self.action is not None and self.action not in ACTIONS:
            raise ValueError(f"action must be one of {', '.join(ACTIONS)} or absent")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be at least 1, or absent for every call")
        if self.seconds < 0:
            raise ValueError("seconds must not be negative")
        if self.kind is FaultKind.TOKEN_EXPIRED and self.action == "token":
            raise ValueError("token_expired applies to API calls, not to the token service")

    @classmethod
    def from_json(cls, document: dict[str, Any]) -> Fault:
        """A fault from the control API's JSON, with the field names used here."""
        unknown = set(document) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown fault fields: {', '.join(sorted(unknown))}")
        fields = dict(document)
        fields["kind"] = FaultKind(str(fields.get("kind")))
        return cls(**fields)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, action: str) -> bool:
        if self.action is None:
            return action in ("revoke", "list")
        return self.action == action


@dataclass(slots=True)
class _Pending:
    fault: Fault
    left: int | None


class FaultPlan:
    """Faults waiting for their calls; safe to use from several threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[_Pending] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._pending.append(_Pending(fault, fault.times))

    def take(self, action: str) -> Fault | None:
        """The fault the next ``action`` call is to suffer, if any; uses up one of its times."""
        with self._lock:
            entry = next((p for p in self._pending if p.fault.matches(action)), None)
            if entry is None:
                return None
            if entry.left is not None:
                entry.left -= 1
                if entry.left == 0:
                    self._pending.remove(entry)
            return entry.fault

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [{**p.fault.to_json(), "left": p.left} for p in self._pending]

    def clear(self) -> None:
        with self._lock:
            self._pending.clear()


@dataclass(frozen=True, slots=True)
class HeldCall:
    seq: int
    action: str


class Gates:
    """Calls kept open by ``hold`` and ``hang`` until a test releases them.

    The waits happen on the server's event loop while releases come from test
    threads, so each waiting call polls a ``threading.Event``.
    """

    _POLL_S = 0.01

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: dict[HeldCall, threading.Event] = {}
        self._closed = False

    async def wait(self, call: HeldCall, seconds: float | None) -> None:
        """Until released, closed, or ``seconds`` passed (None: no limit)."""
        event = threading.Event()
        with self._lock:
            if self._closed:
                return
            self._waiting[call] = event
        deadline = None if seconds is None else time.monotonic() + seconds
        try:
            while not event.is_set():
                if deadline is not None and time.monotonic() >= deadline:
                    return
                await asyncio.sleep(self._POLL_S)
        finally:
            with self._lock:
                self._waiting.pop(call, None)

    def release(self, action: str | None = None) -> int:
        """Let waiting calls (of ``action``, or all) go on; how many were released."""
        with self._lock:
            chosen = [c for c in self._waiting if action is None or c.action == action]
            for call in chosen:
                self._waiting.pop(call).set()
        return len(chosen)

    def held(self) -> list[HeldCall]:
        with self._lock:
            return sorted(self._waiting, key=lambda call: call.seq)

    def close(self) -> None:
        """Release everything now and let nothing wait from here on (server shutdown)."""
        with self._lock:
            self._closed = True
        self.release()
