"""Every call the sandbox received and what it answered, for tests and the demo.

A record is written when a call arrives (so a held revoke already counts as having
reached the sandbox) and completed when it is answered. Records hold no secret:
signatures are reduced to whether they matched, token requests lose their
``encryption`` and token answers their ``accessToken``.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CallRecord:
    seq: int
    # "token", "revoke", "list", or whatever else the call's ``action`` said.
    action: str
    method: str
    params: dict[str, str]
    # The parsed JSON body; None when there was none or it was not JSON.
    body: Any
    # Whether apim-signature (for a token request: encryption) matched; None if absent.
    signature_ok: bool | None
    # Whether the call got past the gateway to the service, i.e. could have had an effect.
    reached_service: bool
    fault: str | None = None
    # None while the call is open, and for a connection closed without an answer.
    status_code: int | None = None
    answer: Any = None
    finished: bool = False

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class CallLog:
    # A staging sandbox runs for weeks; the oldest records go first.
    MAX_RECORDS = 10_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: dict[int, CallRecord] = {}
        self._last_seq = 0

    def start(self, **fields: Any) -> int:
        """Record an arriving call; returns its ``seq``."""
        with self._lock:
            self._last_seq += 1
            self._records[self._last_seq] = CallRecord(seq=self._last_seq, **fields)
            if len(self._records) > self.MAX_RECORDS:
                del self._records[next(iter(self._records))]
            return self._last_seq

    def get(self, seq: int) -> CallRecord | None:
        with self._lock:
            return self._records.get(seq)

    def update(self, seq: int, **fields: Any) -> None:
        # A call still open when the log was cleared is no longer recorded.
        with self._lock:
            if seq in self._records:
                self._records[seq] = dataclasses.replace(self._records[seq], **fields)

    def finish(self, seq: int, status_code: int | None, answer: Any) -> None:
        self.update(seq, status_code=status_code, answer=answer, finished=True)

    def records(self, action: str | None = None) -> list[CallRecord]:
        with self._lock:
            return [r for r in self._records.values() if action is None or r.action == action]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
