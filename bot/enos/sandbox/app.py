"""The sandbox as an ASGI app: EnOS's routes, the control API, and the ``Sandbox`` handle.

EnOS routes (as documented, see shared/enos/):

    POST /apim-token-service/v2.0/token/get
    POST /connect-service/v2.0/certificates?action=revoke
    GET  /connect-service/v2.0/certificates?action=list

Control API, for tests and demos in another process (JSON in, JSON out):

    GET    /_sandbox/state           devices, certificates, pending faults, held calls
    GET    /_sandbox/calls           calls received (?action=revoke to filter)
    DELETE /_sandbox/calls           forget them
    GET    /_sandbox/faults          pending faults
    POST   /_sandbox/faults          add one: {"kind": "drop", "action": "revoke", ...}
    DELETE /_sandbox/faults          clear them
    POST   /_sandbox/release         let held calls go: {} or {"action": "revoke"}
    POST   /_sandbox/expire-tokens   every issued access token expires now
    POST   /_sandbox/reset           back to the seed: devices, calls, faults, tokens
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.enos.auth import TOKEN_PATH
from bot.enos.client import CERTIFICATES_PATH
from bot.enos.sandbox.calls import CallLog, CallRecord
from bot.enos.sandbox.faults import Fault, FaultKind, FaultPlan, Gates, HeldCall
from bot.enos.sandbox.gateway import Gateway, Verdict, refusal
from bot.enos.sandbox.store import Answer, DeviceStore, error, load_seed

log = logging.getLogger(__name__)

DEFAULT_APP_KEY = "sandbox-app-key"
DEFAULT_APP_SECRET = "sandbox-app-secret"  # noqa: S105 - accepted by the sandbox only
DEFAULT_ORG_ID = "sandbox-org"

_ERROR_PAGE = (
    "<html><head><title>500 Internal Server Error</title></head>"
    "<body><center><h1>500 Internal Server Error</h1></center></body></html>"
)

_DEVICE_PARAMS = ("assetId", "productKey", "deviceKey")

# The server's own ``send`` for the request being handled; see _server_transport.
_RAW_SEND: ContextVar[Send | None] = ContextVar("sandbox_raw_send", default=None)


class Sandbox:
    """An in-memory EnOS gateway. Serve ``asgi_app`` (e.g. with ServerThread) and drive it.

    The methods are safe to call from any thread while the app serves on another.
    """

    def __init__(
        self,
        seed: Path | None = None,
        *,
        app_key: str = DEFAULT_APP_KEY,
        app_secret: str = DEFAULT_APP_SECRET,
        org_id: str = DEFAULT_ORG_ID,
        token_ttl: float = 7200.0,
    ) -> None:
        self.app_key = app_key
        self.app_secret = app_secret
        self.org_id = org_id
        self._seed = seed
        self._gateway = Gateway(app_key, app_secret, token_ttl=token_ttl)
        self._store = DeviceStore(org_id, load_seed(seed))
        self._faults = FaultPlan()
        self._gates = Gates()
        self._calls = CallLog()
        self.asgi_app: ASGIApp = _KeepServerSend(self._routes())

    def __repr__(self) -> str:
        return f"Sandbox(app_key={self.app_key!r}, org_id={self.org_id!r})"

    # --- Driving the sandbox ---

    def calls(self, action: str | None = None) -> list[CallRecord]:
        return self._calls.records(action)

    def clear_calls(self) -> None:
        self._calls.clear()

    def add_fault(self, fault: Fault) -> Fault:
        self._faults.add(fault)
        return fault

    def inject(self, kind: FaultKind | str, **options: Any) -> Fault:
        """Shorthand for ``add_fault(Fault(FaultKind(kind), **options))``."""
        return self.add_fault(Fault(FaultKind(kind), **options))

    def clear_faults(self) -> None:
        self._faults.clear()

    def held(self, action: str | None = None) -> list[HeldCall]:
        return [call for call in self._gates.held() if action is None or call.action == action]

    def release(self, action: str | None = None) -> int:
        return self._gates.release(action)

    def expire_tokens(self) -> None:
        self._gateway.expire_tokens()

    def issued_tokens(self) -> list[str]:
        return self._gateway.issued_tokens()

    def certificate(self, cert_sn: int) -> dict[str, Any] | None:
        """A certificate as List Certificate shows it, wherever it is bound."""
        for device in self._store.snapshot():
            for cert in device["certificates"]:
                if cert["certSN"] == str(cert_sn):
                    return dict(cert)
        return None

    def state(self) -> dict[str, Any]:
        return {
            "appKey": self.app_key,
            "orgId": self.org_id,
            "devices": self._store.snapshot(),
            "faults": self._faults.pending(),
            "held": [{"seq": call.seq, "action": call.action} for call in self._gates.held()],
        }

    def reset(self) -> None:
        """Back to the seed; held calls are let go first."""
        self._gates.release()
        self._faults.clear()
        self._calls.clear()
        self._gateway.reset()
        self._store.replace(load_seed(self._seed))

    def close(self) -> None:
        """Let every held call go and hold no more; call before stopping the server."""
        self._gates.close()

    # --- EnOS routes ---

    def _routes(self) -> Starlette:
        control = [
            Route("/state", self._control_state, methods=["GET"]),
            Route("/calls", self._control_calls, methods=["GET", "DELETE"]),
            Route("/faults", self._control_faults, methods=["GET", "POST", "DELETE"]),
            Route("/release", self._control_release, methods=["POST"]),
            Route("/expire-tokens", self._control_expire_tokens, methods=["POST"]),
            Route("/reset", self._control_reset, methods=["POST"]),
        ]
        return Starlette(
            routes=[
                Route(TOKEN_PATH, self._token, methods=["POST"]),
                Route(CERTIFICATES_PATH, self._certificates, methods=["GET", "POST"]),
                Mount("/_sandbox", routes=control),
            ]
        )

    async def _token(self, request: Request) -> Response:
        body = await request.body()
        document = _json_or_none(body)
        if isinstance(document, dict):
            document = {k: v for k, v in document.items() if k != "encryption"}
        seq = self._calls.start(
            action="token",
            method="POST",
            params={},
            body=document,
            signature_ok=None,
            reached_service=True,
        )

        def issue() -> Answer:
            answer, encryption_ok = self._gateway.issue_token(body)
            self._calls.update(seq, signature_ok=encryption_ok)
            return answer

        return await self._respond(seq, "token", self._faults.take("token"), issue)

    async def _certificates(self, request: Request) -> Response:
        body = await request.body()
        params = dict(request.query_params)
        action = params.get("action", "")
        verdict = self._gateway.check(request.headers, request.query_params, body)
        fault = self._faults.take(action) if verdict.refused is None else None
        if fault is not None and fault.kind is FaultKind.TOKEN_EXPIRED:
            self._gateway.expire_tokens()
            verdict = Verdict(refusal(1203, "access token has expired"), verdict.signature_ok)
        seq = self._calls.start(
            action=action,
            method=request.method,
            params=params,
            body=_json_or_none(body),
            signature_ok=verdict.signature_ok,
            reached_service=verdict.refused is None,
            fault=None if fault is None else fault.kind.value,
        )
        if verdict.refused is not None:
            return self._answer(seq, verdict.refused)
        return await self._respond(
            seq, action, fault, lambda: self._serve(action, request.method, params, body)
        )

    def _serve(self, action: str, method: str, params: dict[str, str], body: bytes) -> Answer:
        if action == "revoke" and method == "POST":
            return self._store.revoke(params, body, revoker=self.app_key)
        if action == "list" and method == "GET":
            return self._store.list_certificates(params)
        return error(99400, f"invalid argument: action {action!r} is not served by {method}")

    async def _respond(
        self, seq: int, action: str, fault: Fault | None, process: Callable[[], Answer]
    ) -> Response:
        """The answer to a call that passed the gateway, bent by ``fault`` if there is one."""
        if fault is None:
            return self._answer(seq, process())
        kind = fault.kind
        if kind is FaultKind.LATENCY:
            await asyncio.sleep(fault.seconds)
            return self._answer(seq, process())
        if kind is FaultKind.HANG:
            await self._gates.wait(HeldCall(seq, action), fault.seconds or None)
            return self._answer(seq, process())
        if kind is FaultKind.ERROR:
            if action == "token":
                return self._answer(seq, refusal(fault.code, fault.msg, 200))
            return self._answer(seq, error(fault.code, fault.msg))

        done = process() if fault.takes_effect else None
        if kind is FaultKind.HOLD:
            await self._gates.wait(HeldCall(seq, action), None)
            if done is not None:
                return self._answer(seq, done)
            return self._failed(seq, None, "connection closed after hold", _DroppedConnection())
        if kind is FaultKind.HTTP_500:
            return self._failed(seq, 500, "HTML error page", HTMLResponse(_ERROR_PAGE, 500))
        if kind is FaultKind.EMPTY_502:
            return self._failed(seq, 502, "empty body", Response(b"", 502))
        if kind is FaultKind.NOT_JSON:
            return self._failed(seq, 200, "body not JSON", PlainTextResponse("OK", 200))
        if kind is FaultKind.DROP:
            return self._failed(seq, None, "connection closed", _DroppedConnection())
        if kind is FaultKind.TRUNCATE:
            # Only half of it arrives, so what the half belonged to hardly matters.
            whole = done or error(99500, "Internal error of certificate service.")
            cut = _TruncatedAnswer(json.dumps(whole.body).encode())
            return self._failed(seq, 200, "answer cut short", cut)
        raise AssertionError(f"fault {kind} reached _respond")

    def _answer(self, seq: int, answer: Answer) -> JSONResponse:
        recorded = answer.body
        data = recorded.get("data")
        if isinstance(data, dict) and "accessToken" in data:
            recorded = {**recorded, "data": {**data, "accessToken": "(not recorded)"}}
        self._calls.finish(seq, answer.http_status, recorded)
        self._log(seq)
        return JSONResponse(answer.body, status_code=answer.http_status)

    def _failed(self, seq: int, status: int | None, what: str, response: Response) -> Response:
        self._calls.finish(seq, status, what)
        self._log(seq)
        return response

    def _log(self, seq: int) -> None:
        record = self._calls.get(seq)
        if record is None:
            return
        shown = {k: v for k, v in record.params.items() if k in _DEVICE_PARAMS}
        if record.action != "token" and isinstance(record.body, dict):
            shown.update(record.body)
        answer = record.answer
        if isinstance(answer, dict):
            answer = f"code {answer.get('code', answer.get('status'))}"
        signature = {True: "signature verified", False: "signature WRONG", None: "unsigned"}
        log.info(
            "sandbox %s %s -> %s (%s%s)",
            record.action,
            " ".join(f"{k}={v}" for k, v in shown.items()),
            answer,
            signature[record.signature_ok],
            f", fault {record.fault}" if record.fault else "",
        )

    # --- Control API ---

    async def _control_state(self, request: Request) -> JSONResponse:
        return JSONResponse(self.state())

    async def _control_calls(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            self.clear_calls()
            return JSONResponse({"calls": []})
        action = request.query_params.get("action")
        return JSONResponse({"calls": [record.to_json() for record in self.calls(action)]})

    async def _control_faults(self, request: Request) -> JSONResponse:
        if request.method == "DELETE":
            self.clear_faults()
        elif request.method == "POST":
            try:
                document = json.loads(await request.body())
                fault = self.add_fault(Fault.from_json(document))
            except (ValueError, TypeError) as exc:
                return JSONResponse({"error": str(exc)}, status_code=400)
            return JSONResponse({"fault": fault.to_json()}, status_code=201)
        return JSONResponse({"faults": self._faults.pending()})

    async def _control_release(self, request: Request) -> JSONResponse:
        document = _json_or_none(await request.body())
        action = document.get("action") if isinstance(document, dict) else None
        return JSONResponse({"released": self.release(action)})

    async def _control_expire_tokens(self, request: Request) -> JSONResponse:
        self.expire_tokens()
        return JSONResponse({"expired": True})

    async def _control_reset(self, request: Request) -> JSONResponse:
        self.reset()
        return JSONResponse(self.state())


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


# --- Answers that are not answers ---


class _KeepServerSend:
    """Outermost ASGI layer: remembers the server's own ``send`` for this request."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = _RAW_SEND.set(send)
        try:
            await self._app(scope, receive, send)
        finally:
            _RAW_SEND.reset(token)


def _server_transport() -> asyncio.BaseTransport | None:
    # ASGI has no way to close a connection unanswered. Under uvicorn the server's
    # ``send`` is a method of the request cycle, which holds the connection's transport.
    owner = getattr(_RAW_SEND.get(), "__self__", None)
    transport = getattr(owner, "transport", None)
    return transport if isinstance(transport, asyncio.BaseTransport) else None


async def _until_disconnected(receive: Receive) -> None:
    try:
        async with asyncio.timeout(2):
            while (await receive())["type"] != "http.disconnect":
                pass
    except TimeoutError:
        return


class _DroppedConnection(Response):
    """Close the connection without a byte of answer."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        transport = _server_transport()
        if transport is None:
            # Elsewhere, an answer left unfinished makes the server close the connection.
            start = {"type": "http.response.start", "status": 200, "headers": []}
            await send({**start, "headers": [(b"content-length", b"1000")]})
            return
        transport.close()
        await _until_disconnected(receive)


class _TruncatedAnswer(Response):
    """Send the status, the headers and half the body, then close the connection."""

    def __init__(self, whole: bytes) -> None:
        super().__init__()
        self._whole = whole

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self._whole)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        half = self._whole[: len(self._whole) // 2]
        await send({"type": "http.response.body", "body": half, "more_body": True})
        transport = _server_transport()
        if transport is not None:
            transport.close()
            await _until_disconnected(receive)
