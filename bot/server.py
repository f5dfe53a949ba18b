"""HTTP mode: an ASGI app for uvicorn with ``POST /slack/events`` and ``GET /healthz``.

Before Bolt sees a request, its Slack signature is checked and its signature is
recorded: a request whose signature was already seen (a replay, from any
replica) is refused with 401 like a forged or stale one.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from bot.runtime import Runtime
from bot.slack.app import build_app
from storage.db import run_sync
from storage.replay import first_sighting

log = logging.getLogger(__name__)

# Slack's payloads are a few kilobytes; anything far larger is not from Slack.
MAX_BODY_BYTES = 1_000_000


def create_asgi_app(runtime: Runtime) -> Starlette:
    bolt = build_app(runtime)
    verifier = SignatureVerifier(runtime.settings.slack_signing_secret.get_secret_value())

    async def slack_events(request: Request) -> Response:
        body = await _read_at_most(request, MAX_BODY_BYTES)
        if body is None:
            return PlainTextResponse("request too large", status_code=413)
        if not _is_utf8(body):
            return PlainTextResponse("body is not UTF-8", status_code=400)
        signature = request.headers.get("x-slack-signature", "")
        timestamp = request.headers.get("x-slack-request-timestamp", "")
        if not _signed_by_slack(verifier, body, timestamp, signature):
            log.warning("refused a request with a bad, missing or stale Slack signature")
            return PlainTextResponse("invalid signature", status_code=401)
        if not await run_sync(first_sighting, runtime.db, signature):
            log.warning("refused a replayed Slack request")
            return PlainTextResponse("replayed request", status_code=401)
        text = _slack_payload(body, request.headers.get("content-type", ""))
        if text is None:
            log.warning("refused a signed request whose body is not a Slack payload")
            return PlainTextResponse("malformed payload", status_code=400)
        try:
            answer = await bolt.async_dispatch(
                AsyncBoltRequest(
                    body=text,
                    query=request.url.query,
                    headers={key: [value] for key, value in request.headers.items()},
                )
            )
        except Exception:
            log.exception("could not handle a signed Slack request")
            return PlainTextResponse("malformed payload", status_code=400)
        headers = {key: ", ".join(values) for key, values in answer.headers.items()}
        headers.pop("content-length", None)
        return Response(answer.body, status_code=answer.status, headers=headers)

    async def healthz(_request: Request) -> Response:
        try:
            await run_sync(_ping, runtime)
        except Exception as error:
            return JSONResponse({"ok": False, "database": type(error).__name__}, status_code=503)
        return JSONResponse({"ok": True})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    return Starlette(
        routes=[
            Route("/slack/events", slack_events, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ],
        lifespan=lifespan,
    )


async def _read_at_most(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is known to be larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _signed_by_slack(
    verifier: SignatureVerifier, body: bytes, timestamp: str, signature: str
) -> bool:
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if not (signature.isascii() and signature.startswith("v0=")):
        return False
    return bool(verifier.is_valid(body=body, timestamp=timestamp, signature=signature))


def _slack_payload(body: bytes, content_type: str) -> str | None:
    """The body as text if it has a shape Slack sends, else None.

    Only a correct signature gets this far, so this guards against a client that
    signs garbage, not against forgery: such a body gets 400, never a server error.
    """
    text = body.decode("utf-8")
    if content_type.split(";")[0].strip() == "application/json":
        return text if isinstance(_json(text), dict) else None
    form = parse_qs(text, keep_blank_values=True)
    if "payload" in form:
        payload = _json(form["payload"][0])
        if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
            return None
    return text


def _is_utf8(body: bytes) -> bool:
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None


def _ping(runtime: Runtime) -> None:
    with runtime.db.read() as session:
        session.execute(text("SELECT 1"))
