"""No secret leaves the client: not in logs at DEBUG, not in reprs, not in outcomes."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator

import pytest

from bot.enos.auth import ApimAuth, TokenUnavailable
from bot.enos.models import AssetId, RevokeReason
from bot.enos.sandbox import Sandbox
from bot.serving import ServerThread
from tests.enos_support import RecordingTransport, client_for

GATEWAY = AssetId("Xy12AbCd")


@pytest.fixture
def own_sandbox() -> Iterator[tuple[Sandbox, str]]:
    # A secret of its own, so finding it anywhere can only mean a leak.
    sandbox = Sandbox(app_secret="app-secret-" + secrets.token_hex(16))
    server = ServerThread(sandbox.asgi_app).start()
    try:
        yield sandbox, server.url
    finally:
        sandbox.close()
        server.stop()


async def test_no_secret_in_logs_reprs_or_outcomes(
    own_sandbox: tuple[Sandbox, str], caplog: pytest.LogCaptureFixture
) -> None:
    sandbox, url = own_sandbox
    for name in (None, "httpx", "httpcore", "bot"):
        caplog.set_level(logging.DEBUG, logger=name)
    wrong_secret = "wrong-secret-" + secrets.token_hex(16)
    recording = RecordingTransport()
    refused_recording = RecordingTransport()

    outcomes: list[object] = []
    async with client_for(url, sandbox, transport=recording) as client:
        outcomes.append(await client.list_certificates(GATEWAY))
        outcomes.append(await client.revoke(GATEWAY, 52739, RevokeReason.KEY_COMPROMISE))
        outcomes.append(await client.revoke(GATEWAY, 52739, RevokeReason.KEY_COMPROMISE))
        sandbox.inject("token_expired", action="list")
        outcomes.append(await client.list_certificates(GATEWAY))
        sandbox.inject("drop", action="revoke")
        outcomes.append(await client.revoke(GATEWAY, 52740, RevokeReason.UNSPECIFIED))
        sandbox.inject("token_expired", action="revoke", times=2)
        outcomes.append(await client.revoke(GATEWAY, 52740, RevokeReason.UNSPECIFIED))
        reprs = [repr(client), str(client)]
    async with client_for(
        url, sandbox, app_secret=wrong_secret, transport=refused_recording
    ) as refused:
        outcomes.append(await refused.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED))
        reprs += [repr(refused), str(refused)]

    auth = ApimAuth(url + "/apim-token-service/v2.0/token/get", sandbox.app_key, wrong_secret)
    reprs += [repr(auth), str(auth)]
    error = TokenUnavailable(outcomes[-1].reason)  # type: ignore[attr-defined]
    reprs += [repr(error), str(error)]
    reprs += [repr(outcome) for outcome in outcomes] + [str(outcome) for outcome in outcomes]

    seen = recording.seen
    forbidden = {
        "appSecret": [sandbox.app_secret, wrong_secret],
        "access token": sandbox.issued_tokens(),
        "signature": seen.signatures,
        "encryption": seen.encryptions + refused_recording.seen.encryptions,
    }
    # The flow really produced what is looked for, and DEBUG logging really was on.
    assert len(forbidden["access token"]) == 3
    assert len(seen.signatures) == 8
    assert len(forbidden["encryption"]) == 4
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("send_request_headers") for m in messages)
    assert any(m.startswith("HTTP Request: POST") for m in messages)
    assert any(m.startswith("EnOS revoke:") for m in messages)

    logged = "\n".join([caplog.text, *messages])
    shown = "\n".join(reprs)
    for what, values in forbidden.items():
        for value in values:
            assert value not in logged, f"{what} in the logs"
            assert value not in shown, f"{what} in a repr or an outcome"
