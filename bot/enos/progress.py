"""How far one API call got, so that a failure can be told apart: not sent, or maybe done.

A ``CallProgress`` rides on the request as its httpcore ``trace`` extension, which
httpcore calls at each step of the exchange (connect, send headers, ...).
``ApimAuth`` reports its own steps to the same object: a signed attempt handed to
the transport, and an attempt the gateway refused before passing it on.

The rule is conservative: an attempt counts as possibly delivered from the moment it
is handed over, unless httpcore showed it still connecting when it failed.
"""

from __future__ import annotations

from typing import Any


class CallProgress:
    def __init__(self) -> None:
        self._attempt_open = False
        self._connecting = False
        self._bytes_started = False
        self.attempts = 0

    def attempt_started(self) -> None:
        """A signed request is about to go to the transport."""
        self.attempts += 1
        self._attempt_open = True
        self._connecting = False
        self._bytes_started = False

    def attempt_refused_by_gateway(self) -> None:
        """The gateway answered that it refused the attempt: the service never saw it."""
        self._attempt_open = False

    @property
    def may_have_reached_enos(self) -> bool:
        if not self._attempt_open:
            return False
        # Still opening the connection: not a byte of the request has been written.
        return not (self._connecting and not self._bytes_started)

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.started", "connection.start_tls.started"):
            self._connecting = True
        elif event.endswith("send_request_headers.started"):
            self._bytes_started = True
