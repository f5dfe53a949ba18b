"""EnosClient against the sandbox over real loopback HTTP: answers, refusals, failures."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import httpx
import pytest

from bot.enos.client import EnosClient
from bot.enos.models import (
    AssetId,
    Certificates,
    CertStatus,
    NotSent,
    OutcomeUnknown,
    ProductDevice,
    Refused,
    Revoked,
    RevokeReason,
)
from bot.enos.sandbox import Sandbox
from tests.enos_support import (  # noqa: F401 - fixtures are found by name
    client_for,
    enos_fixture,
    reached_service,
    sandbox_fixture,
    sandbox_server_fixture,
    sandbox_url_fixture,
    until_held,
    unused_url,
)

GATEWAY = AssetId("Xy12AbCd")
GATEWAY_BY_KEYS = ProductDevice("SbxGateway", "site-a-gateway")
METER = AssetId("Qr34EfGh")
INVERTER = AssetId("Lm56IjKl")


# --- Revoke and List over loopback ---


async def test_revoke_then_list_shows_the_certificate_revoked(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.KEY_COMPROMISE)

    assert isinstance(outcome, Revoked)
    assert outcome.request_id
    listing = await enos.list_certificates(GATEWAY)
    assert isinstance(listing, Certificates)
    cert = listing.find(52739)
    assert cert is not None
    assert cert.status is CertStatus.REVOKED
    assert cert.revoker == sandbox.app_key
    assert cert.revoker_reason == "KEY_COMPROMISE"
    assert len(sandbox.calls("revoke")) == 1


async def test_revoke_by_product_and_device_key_sends_both_and_signs_them(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    outcome = await enos.revoke(GATEWAY_BY_KEYS, 52739, RevokeReason.SUPERSEDED)

    assert isinstance(outcome, Revoked)
    (call,) = sandbox.calls("revoke")
    assert call.params == {
        "action": "revoke",
        "orgId": sandbox.org_id,
        "productKey": "SbxGateway",
        "deviceKey": "site-a-gateway",
    }
    assert call.body == {"certSn": 52739, "reason": 4}
    assert call.signature_ok is True


async def test_list_parses_certificates_into_typed_values(enos: EnosClient) -> None:
    listing = await enos.list_certificates(METER)

    assert isinstance(listing, Certificates)
    valid, expired = listing.certificates
    assert (valid.cert_sn, valid.status) == ("52740", CertStatus.VALID)
    assert (expired.cert_sn, expired.status) == ("38001", CertStatus.EXPIRED)
    assert valid.expire_date == datetime(2035, 4, 10, 12, 0, tzinfo=UTC)
    assert valid.sign_date is not None and valid.sign_date.tzinfo is UTC
    assert valid.issuer.startswith("CN=EnOS Sandbox Device CA")
    assert valid.revoker is None


async def test_list_shows_revoker_fields_of_a_revoked_certificate(enos: EnosClient) -> None:
    listing = await enos.list_certificates(GATEWAY)

    assert isinstance(listing, Certificates)
    revoked = listing.find("41877")
    assert revoked is not None
    assert revoked.status is CertStatus.REVOKED
    assert (revoked.revoker, revoked.revoker_reason) == ("sandbox-operator", "SUPERSEDED")


async def test_list_of_unknown_device_is_refused_with_11404(enos: EnosClient) -> None:
    outcome = await enos.list_certificates(AssetId("NoSuchAsset"))

    assert isinstance(outcome, Refused)
    assert outcome.code == 11404


# --- Each documented error row comes back as Refused with its remedy ---


@pytest.mark.parametrize(
    ("device", "cert_sn", "code", "msg_start", "remedy_words"),
    [
        (AssetId(""), 52739, 99400, "invalid argument: The device identifier", "asset ID"),
        (GATEWAY, -5, 99400, "The serial number of the new certificate is invalid", "negative"),
        (GATEWAY, 52740, 99400, "The certificate list bound to the device", "not bound"),
        (AssetId("NoSuchAsset"), 52739, 11404, "Device cannot be found", "cannot find"),
        (GATEWAY, 41877, 99400, "Invalid cert request!", "already revoked cannot"),
        (METER, 38001, 99400, "Call ca error!", "certificate authority refused"),
    ],
    ids=["no-device-identifier", "negative-certSn", "not-bound", "no-device", "revoked", "expired"],
)
async def test_documented_errors_the_sandbox_reaches_by_itself(
    enos: EnosClient,
    sandbox: Sandbox,
    device: AssetId,
    cert_sn: int,
    code: int,
    msg_start: str,
    remedy_words: str,
) -> None:
    outcome = await enos.revoke(device, cert_sn, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, Refused)
    assert outcome.code == code
    assert outcome.msg.startswith(msg_start)
    assert remedy_words in outcome.remedy
    assert outcome.request_id == sandbox.calls("revoke")[0].answer["requestId"]


@pytest.mark.parametrize(
    ("code", "msg", "remedy_words"),
    [
        (99400, "Invalid Argument certSn:certSn is missing", "no certificate number"),
        (
            99400,
            "The serial number of the certificate to be updated is required.",
            "needs the certificate number",
        ),
        (
            99400,
            "Query cert is failed!message:  lookup failed, detail message: ca down",
            '"lookup failed"',
        ),
        (
            99400,
            "When calling Certificate Services, the call parameters are invalid.message: x,"
            " detail message: y",
            "parameters invalid",
        ),
        (99500, "Internal error of certificate service.", "certificate service failed"),
        (99500, "Internal error of product service.", "product service failed"),
        (99500, "Internal error of IoT Hub service.", "IoT Hub service failed"),
        (77777, "A code nobody documented", "does not know"),
    ],
)
async def test_documented_errors_the_client_cannot_provoke_are_injected(
    enos: EnosClient, sandbox: Sandbox, code: int, msg: str, remedy_words: str
) -> None:
    sandbox.inject("error", action="revoke", code=code, msg=msg)

    outcome = await enos.revoke(INVERTER, 52741, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, Refused)
    assert (outcome.code, outcome.msg) == (code, msg)
    assert remedy_words in outcome.remedy
    assert outcome.request_id == sandbox.calls("revoke")[0].answer["requestId"]
    if code != 99400:
        # Cases for an administrator name the requestId to quote.
        assert outcome.request_id in outcome.remedy


# --- Transport failures: not sent, or outcome unknown; never a second revoke ---


async def test_connection_refused_is_not_sent(sandbox: Sandbox) -> None:
    async with client_for(unused_url(), sandbox) as client:
        outcome = await client.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, NotSent)
    assert "nothing was sent" in outcome.reason


async def test_name_resolution_failure_is_not_sent(sandbox: Sandbox) -> None:
    def unresolvable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("[Errno -2] Name or service not known", request=request)

    transport = httpx.MockTransport(unresolvable)
    async with client_for("http://enos.invalid", sandbox, transport=transport) as client:
        outcome = await client.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, NotSent)


async def test_token_service_failure_is_not_sent_and_no_revoke_is_made(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    sandbox.inject("http_500", action="token")

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, NotSent)
    assert "token service" in outcome.reason
    assert sandbox.calls("revoke") == []


async def test_wrong_app_secret_is_refused_by_token_service_and_not_sent(
    sandbox_url: str, sandbox: Sandbox
) -> None:
    async with client_for(sandbox_url, sandbox, app_secret="not-the-secret") as client:
        outcome = await client.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, NotSent)
    assert "1003" in outcome.reason
    assert "ENOS_APP_SECRET" in outcome.reason
    assert sandbox.calls("revoke") == []
    assert sandbox.certificate(52739)["certStatus"] == 0  # type: ignore[index]


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("drop", "Server disconnected without sending a response"),
        ("truncate", "without sending complete message body"),
        ("http_500", "HTTP 500 with a body that is not JSON"),
        ("empty_502", "HTTP 502 with an empty body"),
        ("not_json", "HTTP 200 with a body that is not JSON"),
    ],
)
@pytest.mark.parametrize("takes_effect", [False, True])
async def test_failures_after_sending_are_outcome_unknown_and_sent_once(
    enos: EnosClient, sandbox: Sandbox, kind: str, words: str, takes_effect: bool
) -> None:
    sandbox.inject(kind, action="revoke", takes_effect=takes_effect)

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, OutcomeUnknown)
    assert words in outcome.reason
    assert len(sandbox.calls("revoke")) == 1
    expected_status = 1 if takes_effect else 0
    assert sandbox.certificate(52739)["certStatus"] == expected_status  # type: ignore[index]


async def test_hang_past_the_timeout_is_outcome_unknown_within_the_deadline(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    sandbox.inject("hang", action="revoke")
    started = time.monotonic()

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, OutcomeUnknown)
    assert "no answer within 1 s" in outcome.reason
    assert time.monotonic() - started < 1.8
    assert len(sandbox.calls("revoke")) == 1


async def test_total_timeout_is_a_deadline_for_the_whole_call(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    # Each step stays under the 1 s timeout; together they do not.
    sandbox.inject("latency", action="token", seconds=0.6)
    sandbox.inject("latency", action="revoke", seconds=0.6)
    started = time.monotonic()

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, OutcomeUnknown)
    assert time.monotonic() - started < 1.5
    assert len(sandbox.calls("revoke")) == 1


async def test_deadline_while_fetching_the_token_is_not_sent(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    sandbox.inject("hang", action="token")

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, NotSent)
    assert sandbox.calls("revoke") == []


async def test_latency_within_the_timeout_is_fine(enos: EnosClient, sandbox: Sandbox) -> None:
    sandbox.inject("latency", action="revoke", seconds=0.3)

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, Revoked)


async def test_failure_after_handing_over_without_trace_is_outcome_unknown(
    sandbox: Sandbox,
) -> None:
    # A transport that reports no progress: the client must assume the worst.
    def broken(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/token/get"):
            token = {"accessToken": "t", "expire": 60}
            return httpx.Response(200, json={"status": 0, "data": token})
        raise httpx.ReadError("connection reset by peer", request=request)

    transport = httpx.MockTransport(broken)
    async with client_for("http://enos.test", sandbox, transport=transport) as client:
        outcome = await client.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, OutcomeUnknown)


# --- Held calls (the crash test's tool) ---


async def test_held_revoke_that_took_effect_answers_revoked_on_release(
    sandbox_url: str, sandbox: Sandbox
) -> None:
    sandbox.inject("hold", action="revoke", takes_effect=True)
    async with client_for(sandbox_url, sandbox, total_timeout=10) as client:
        call = asyncio.create_task(client.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED))
        await until_held(sandbox)

        assert sandbox.certificate(52739)["certStatus"] == 1  # type: ignore[index]
        assert not call.done()
        assert sandbox.release("revoke") == 1
        outcome = await call

    assert isinstance(outcome, Revoked)
    assert len(sandbox.calls("revoke")) == 1


async def test_held_revoke_without_effect_is_dropped_on_release(
    sandbox_url: str, sandbox: Sandbox
) -> None:
    sandbox.inject("hold", action="revoke")
    async with client_for(sandbox_url, sandbox, total_timeout=10) as client:
        call = asyncio.create_task(client.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED))
        await until_held(sandbox)
        sandbox.release()
        outcome = await call

    assert isinstance(outcome, OutcomeUnknown)
    assert sandbox.certificate(52739)["certStatus"] == 0  # type: ignore[index]
    assert len(sandbox.calls("revoke")) == 1


async def test_held_revoke_past_the_client_timeout_is_outcome_unknown(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    sandbox.inject("hold", action="revoke", takes_effect=True)

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, OutcomeUnknown)
    assert [call.finished for call in sandbox.calls("revoke")] == [False]
    assert sandbox.certificate(52739)["certStatus"] == 1  # type: ignore[index]


# --- Token expiry and the single resend ---


async def test_token_expiry_mid_session_is_survived_with_one_resend(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    assert isinstance(await enos.list_certificates(GATEWAY), Certificates)
    sandbox.inject("token_expired", action="revoke")

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, Revoked)
    revokes = sandbox.calls("revoke")
    assert len(revokes) == 2
    assert [call.reached_service for call in revokes] == [False, True]
    assert len(sandbox.calls("token")) == 2
    assert len(set(sandbox.issued_tokens())) == 2


async def test_token_refused_again_after_refresh_is_not_sent_and_not_retried(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    sandbox.inject("token_expired", action="revoke", times=3)

    outcome = await enos.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, NotSent)
    assert "1203" in outcome.reason
    assert len(sandbox.calls("revoke")) == 2
    assert reached_service(sandbox) == []
    assert sandbox.certificate(52739)["certStatus"] == 0  # type: ignore[index]


async def test_tokens_expired_between_calls_are_refreshed_once(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    assert isinstance(await enos.list_certificates(GATEWAY), Certificates)
    sandbox.expire_tokens()

    results = await asyncio.gather(*(enos.list_certificates(GATEWAY) for _ in range(10)))

    assert all(isinstance(result, Certificates) for result in results)
    assert len(sandbox.calls("token")) == 2


async def test_fifty_concurrent_calls_on_a_cold_client_make_one_token_request(
    enos: EnosClient, sandbox: Sandbox
) -> None:
    results = await asyncio.gather(*(enos.list_certificates(GATEWAY) for _ in range(50)))

    assert all(isinstance(result, Certificates) for result in results)
    assert len(sandbox.calls("token")) == 1
    assert len(sandbox.calls("list")) == 50
    assert all(call.signature_ok for call in sandbox.calls("list"))


# --- Signing what is sent ---


class TamperingTransport(httpx.AsyncBaseTransport):
    """Changes the body after it was signed, as a buggy middlebox would."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and "apim-signature" in request.headers:
            body = request.content.replace(b"52739", b"52740")
            request = httpx.Request(
                request.method, request.url, headers=request.headers, content=body
            )
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


async def test_a_body_changed_after_signing_is_refused_by_the_gateway(
    sandbox_url: str, sandbox: Sandbox
) -> None:
    async with client_for(sandbox_url, sandbox, transport=TamperingTransport()) as client:
        outcome = await client.revoke(GATEWAY, 52739, RevokeReason.UNSPECIFIED)

    assert isinstance(outcome, NotSent)
    assert "1004" in outcome.reason
    (call,) = sandbox.calls("revoke")
    assert call.signature_ok is False
    assert not call.reached_service
