"""EnOS connect-service client: Revoke Certificate and List Certificate.

Every call ends in a value, never in an exception for something EnOS or the network
can do (see the outcome types in ``bot.enos.models``):

* an answer with ``code`` 0 is success; any other ``code`` is ``Refused``, with the
  remedy from the Revoke Certificate error table;
* ``NotSent``: the call certainly had no effect: no connection could be opened, no
  access token could be had, or the API gateway refused the call;
* ``OutcomeUnknown``: the call may have reached EnOS and nobody can say what it did:
  timeout after sending, connection lost, an answer that is not EnOS's JSON.

Nothing here retries. The only resend is ``ApimAuth``'s single one after the gateway
refused an expired token, which the gateway does before passing the call on.

Usage::

    async with EnosClient(url, app_key, app_secret, org_id) as enos:
        outcome = await enos.revoke(AssetId("Xy12AbCd"), 52739, RevokeReason.KEY_COMPROMISE)
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx

from bot.enos.auth import (
    JSON_CONTENT_TYPE,
    TOKEN_PATH,
    ApimAuth,
    TokenUnavailable,
    gateway_code,
    read_json,
)
from bot.enos.models import (
    Certificate,
    Certificates,
    CertStatus,
    DeviceIdentifier,
    ListOutcome,
    NotSent,
    OutcomeUnknown,
    Refused,
    Revoked,
    RevokeOutcome,
    RevokeReason,
)
from bot.enos.progress import CallProgress
from bot.enos.remedies import GATEWAY_INTERNAL_ERROR, gateway_reason, remedy_for

log = logging.getLogger(__name__)

CERTIFICATES_PATH = "/connect-service/v2.0/certificates"

_CERT_STATUS = {0: CertStatus.VALID, 1: CertStatus.REVOKED, 2: CertStatus.EXPIRED}

# Failures httpx raises only while opening a connection, before any request byte.
_BEFORE_SENDING = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

_Success = TypeVar("_Success", Revoked, Certificates)


class _UnreadableAnswer(Exception):
    """EnOS answered code 0 with data this client cannot read."""


class EnosClient:
    def __init__(
        self,
        base_url: str,
        app_key: str,
        app_secret: str,
        org_id: str,
        *,
        connect_timeout: float = 5.0,
        total_timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._app_key = app_key
        self._org_id = org_id
        self._total_timeout = total_timeout
        self._auth = ApimAuth(self._base_url + TOKEN_PATH, app_key, app_secret)
        self._http = httpx.AsyncClient(
            base_url=self._base_url,
            auth=self._auth,
            # httpx's timeouts are per phase; the whole call's deadline is in _send.
            timeout=httpx.Timeout(total_timeout, connect=connect_timeout),
            transport=transport,
            follow_redirects=False,
        )

    def __repr__(self) -> str:
        return (
            f"EnosClient(base_url={self._base_url!r}, app_key={self._app_key!r},"
            f" org_id={self._org_id!r})"
        )

    async def __aenter__(self) -> EnosClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def revoke(
        self, device: DeviceIdentifier, cert_sn: int, reason: RevokeReason
    ) -> RevokeOutcome:
        """Revoke ``cert_sn`` of ``device``. Never retried once it may have been sent."""
        body = json.dumps({"certSn": cert_sn, "reason": int(reason)}).encode()
        request = self._http.build_request(
            "POST",
            CERTIFICATES_PATH,
            params={"action": "revoke", "orgId": self._org_id, **device.query_params()},
            content=body,
            headers={"Content-Type": JSON_CONTENT_TYPE},
        )
        outcome = await self._call(request, _revoked)
        log.info(
            "EnOS revoke: %s certSn %s reason %s -> %s",
            device.describe(),
            cert_sn,
            reason.name,
            _describe(outcome),
        )
        return outcome

    async def list_certificates(self, device: DeviceIdentifier) -> ListOutcome:
        """The certificates bound to ``device``, as List Certificate reports them."""
        request = self._http.build_request(
            "GET",
            CERTIFICATES_PATH,
            params={"action": "list", "orgId": self._org_id, **device.query_params()},
        )
        outcome = await self._call(request, _certificates)
        log.info("EnOS list: %s -> %s", device.describe(), _describe(outcome))
        return outcome

    async def _call(
        self, request: httpx.Request, on_success: Callable[[dict[str, Any]], _Success]
    ) -> _Success | Refused | NotSent | OutcomeUnknown:
        sent = await self._send(request)
        if isinstance(sent, NotSent | OutcomeUnknown):
            return sent
        return _classify(sent, on_success)

    async def _send(self, request: httpx.Request) -> httpx.Response | NotSent | OutcomeUnknown:
        progress = CallProgress()
        request.extensions["trace"] = progress
        try:
            async with asyncio.timeout(self._total_timeout):
                return await self._http.send(request)
        except TokenUnavailable as exc:
            return NotSent(str(exc))
        except (httpx.HTTPError, TimeoutError) as exc:
            what = _failure(exc, self._total_timeout)
            if isinstance(exc, _BEFORE_SENDING) or not progress.may_have_reached_enos:
                return NotSent(f"EnOS could not be reached ({what}); nothing was sent.")
            return OutcomeUnknown(
                f"The call was sent but no usable answer came back ({what}). EnOS may or may"
                " not have acted on it: check with List Certificate before trying again."
            )


def _failure(exc: BaseException, total_timeout: float) -> str:
    if isinstance(exc, TimeoutError) and not isinstance(exc, httpx.TimeoutException):
        return f"no answer within {total_timeout:g} s"
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


def _classify(
    response: httpx.Response, on_success: Callable[[dict[str, Any]], _Success]
) -> _Success | Refused | NotSent | OutcomeUnknown:
    body = read_json(response)
    if body is None:
        return OutcomeUnknown(
            f"EnOS answered HTTP {response.status_code} with "
            f"{'an empty body' if not response.content else 'a body that is not JSON'}."
            " EnOS may or may not have acted on the call: check with List Certificate."
        )

    msg = str(body.get("msg", ""))
    refused_by = gateway_code(body)
    if refused_by == GATEWAY_INTERNAL_ERROR:
        return OutcomeUnknown(
            f"EnOS's API gateway reported an internal exception ({refused_by}: {msg})."
            " EnOS may or may not have acted on the call: check with List Certificate."
        )
    if refused_by is not None:
        return NotSent(gateway_reason(refused_by, msg))

    code = body.get("code")
    request_id = body.get("requestId")
    request_id = request_id if isinstance(request_id, str) else None
    if not isinstance(code, int) or isinstance(code, bool):
        return OutcomeUnknown(
            f"EnOS answered HTTP {response.status_code} without a result code."
            " EnOS may or may not have acted on the call: check with List Certificate."
        )
    if code != 0:
        return Refused(code, msg, request_id, remedy_for(code, msg, request_id))
    try:
        return on_success(body)
    except _UnreadableAnswer as exc:
        return OutcomeUnknown(str(exc))


def _revoked(body: dict[str, Any]) -> Revoked:
    request_id = body.get("requestId")
    return Revoked(request_id if isinstance(request_id, str) else "")


def _certificates(body: dict[str, Any]) -> Certificates:
    data = body.get("data")
    if data is None:
        return Certificates(())
    if not isinstance(data, list):
        raise _UnreadableAnswer("EnOS answered List Certificate without a list of certificates.")
    return Certificates(tuple(_certificate(item) for item in data))


def _certificate(item: object) -> Certificate:
    if not isinstance(item, dict):
        raise _UnreadableAnswer(
            "EnOS answered List Certificate with an entry that is not an object."
        )
    raw_status = item.get("certStatus")
    status = _CERT_STATUS.get(raw_status) if isinstance(raw_status, int) else None
    cert_sn = item.get("certSN")
    if status is None or cert_sn is None:
        raise _UnreadableAnswer(
            f"EnOS answered List Certificate with certSN {cert_sn!r} and certStatus"
            f" {raw_status!r}, which this bot cannot read."
        )
    return Certificate(
        cert_sn=str(cert_sn),
        status=status,
        issuer=str(item.get("issuer", "")),
        subject=str(item.get("subject", "")),
        sign_date=_from_ms(item.get("signDate")),
        effective_date=_from_ms(item.get("effectiveDate")),
        expire_date=_from_ms(item.get("expireDate")),
        revoker=_optional_str(item.get("revoker")),
        revoker_reason=_optional_str(item.get("revokerReason")),
    )


def _from_ms(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _UnreadableAnswer(f"EnOS answered a date that is not Unix milliseconds: {value!r}.")
    return datetime.fromtimestamp(value / 1000, tz=UTC)


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)


def _describe(outcome: RevokeOutcome | ListOutcome) -> str:
    match outcome:
        case Revoked(request_id=request_id):
            return f"revoked (requestId {request_id or 'none'})"
        case Refused(code=code, request_id=request_id):
            return f"refused with code {code} (requestId {request_id or 'none'})"
        case Certificates(certificates=certificates):
            return f"{len(certificates)} certificate(s)"
        case NotSent(reason=reason):
            return f"not sent: {reason}"
        case OutcomeUnknown(reason=reason):
            return f"outcome unknown: {reason}"
