"""What an on-call engineer should do about each answer EnOS can refuse a call with.

Two tables live here:

* the error table of the Revoke Certificate page (shared/enos/revoke-certificate.md).
  Most of its rows share code 99400, so a row is picked by the start of ``msg``;
  the page prints messages with varying case and spacing, so the match ignores both.
* the API gateway's own codes (GATEWAY.md section 1). A call refused with one of
  those never reached the certificate service, so the client reports it as not sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Refused by the API gateway before the certificate service saw the call.
GATEWAY_REFUSALS: dict[int, str] = {
    1001: "EnOS's token service saw a repeated token request (duplicated encryption)."
    " Try again in a moment.",
    1002: "EnOS does not know the configured appKey. Check ENOS_APP_KEY against the"
    " application's AccessKey in the EnOS console.",
    1003: "EnOS did not accept the token request's encryption: ENOS_APP_SECRET does not"
    " belong to ENOS_APP_KEY. Check the application's SecretKey in the EnOS console.",
    1004: "EnOS's API gateway found a parameter invalid (a wrong signature or a clock"
    " more than 5 minutes off). Check ENOS_APP_SECRET and this server's clock.",
    1202: "EnOS's API gateway found a required parameter empty. This is a bug in the bot;"
    " report it with the time of the call.",
    1203: "EnOS's API gateway refused the access token as expired, also after the bot"
    " fetched a fresh one. Try again later; if it persists, contact your EnOS administrator.",
    1204: "EnOS could not refresh the access token. Try again later; if it persists,"
    " contact your EnOS administrator.",
}

# The code that makes the client fetch a new token and resend the call once.
TOKEN_EXPIRED = 1203

# "Internal service exception" from the gateway side: the call may have been passed on.
GATEWAY_INTERNAL_ERROR = 1005


@dataclass(frozen=True, slots=True)
class _Row:
    code: int
    # The documented message's opening words; empty matches any message with this code.
    opening: str
    remedy: str
    # Rows whose message carries EnOS's own "message:" / "detail message:" parts.
    quotes_detail: bool = False


_ADMIN = (
    "Ask your EnOS administrator to look into it, quoting requestId {request_id}."
    " Check the certificate's status in EnOS before requesting again."
)

_ROWS: tuple[_Row, ...] = (
    _Row(
        99400,
        "invalid argument: The device identifier is invalid",
        "EnOS did not accept the device identifier. Give either the asset ID, or both"
        " the product key and the device key, and request again.",
    ),
    _Row(
        99400,
        "Invalid Argument certSn:certSn is missing",
        "EnOS received no certificate number (certSn). Request again with the certSn"
        " that List Certificate shows for the device.",
    ),
    _Row(
        99400,
        "Call ca error!",
        "EnOS's certificate authority refused the call. Act on what it said{detail};"
        " a certificate that is expired or already revoked cannot be revoked.",
        quotes_detail=True,
    ),
    _Row(
        99400,
        "Invalid cert request!",
        "EnOS found the certificate request invalid. Act on what it said{detail};"
        " a certificate that is expired or already revoked cannot be revoked.",
        quotes_detail=True,
    ),
    _Row(
        99400,
        "Query cert is failed!",
        "EnOS could not look the certificate up. Act on what it said{detail}, then check"
        " the device's certificates with List Certificate.",
        quotes_detail=True,
    ),
    _Row(
        99400,
        "When calling Certificate Services, the call parameters are invalid.",
        "EnOS's certificate service found the call's parameters invalid. Act on what it"
        " said{detail} and request again.",
        quotes_detail=True,
    ),
    _Row(
        99400,
        "The serial number of the certificate to be updated is required.",
        "EnOS needs the certificate number (certSn). Request again with the certSn that"
        " List Certificate shows for the device.",
    ),
    _Row(
        99400,
        "The serial number of the new certificate is invalid (less than 0).",
        "The certSn must not be negative. Check the number against List Certificate and"
        " request again.",
    ),
    _Row(
        99400,
        "The certificate list bound to the device does not have the certificate",
        "This certificate is not bound to this device (it may belong to another one)."
        " Check the certSn against the device's certificates and request again.",
    ),
    _Row(
        11404,
        "",
        "EnOS cannot find this device in the organization. Check the asset ID (or the"
        " product key and device key) and that the device is registered in EnOS.",
    ),
    _Row(
        99500,
        "Internal error of certificate service.",
        "EnOS's certificate service failed. " + _ADMIN,
    ),
    _Row(99500, "Internal error of product service.", "EnOS's product service failed. " + _ADMIN),
    _Row(99500, "Internal error of IoT Hub service.", "EnOS's IoT Hub service failed. " + _ADMIN),
)

# Known codes whose message matched no row: still better than the generic remedy.
_BY_CODE: dict[int, str] = {
    99400: "EnOS rejected an argument of the call. Read EnOS's message, correct the request"
    " and try again; quote requestId {request_id} if you ask for help.",
    99500: "EnOS failed internally. " + _ADMIN,
}

_UNKNOWN = (
    "EnOS refused the call with code {code}, which this bot does not know. Check the"
    " device and the certificate in the EnOS console; if EnOS's message does not explain"
    " it, contact your EnOS administrator and quote requestId {request_id}."
)

_DETAIL = re.compile(
    r"message:\s*(?P<message>.*?)\s*(?:,\s*detail message:\s*(?P<detail>.*?))?\s*$",
    re.IGNORECASE | re.DOTALL,
)


def _normalised(text: str) -> str:
    return " ".join(text.split()).casefold()


def _quoted_detail(msg: str) -> str:
    match = _DETAIL.search(msg)
    if match is None or not match["message"]:
        return ""
    if match["detail"]:
        return f' ("{match["message"]}"; detail: "{match["detail"]}")'
    return f' ("{match["message"]}")'


def remedy_for(code: int, msg: str, request_id: str | None) -> str:
    """The sentence telling an engineer what to do after EnOS refused a call."""
    rid = request_id or "(none given)"
    wanted = _normalised(msg)
    for row in _ROWS:
        if row.code == code and wanted.startswith(_normalised(row.opening)):
            detail = _quoted_detail(msg) if row.quotes_detail else ""
            return row.remedy.format(detail=detail, request_id=rid)
    if code in _BY_CODE:
        return _BY_CODE[code].format(request_id=rid)
    return _UNKNOWN.format(code=code, request_id=rid)


def gateway_reason(code: int, msg: str) -> str:
    """Why a call refused by the API gateway was not sent, and what to do about it."""
    advice = GATEWAY_REFUSALS.get(code, "Check the EnOS application settings.")
    return f"EnOS's API gateway refused the call before it reached EnOS ({code}: {msg}). {advice}"
