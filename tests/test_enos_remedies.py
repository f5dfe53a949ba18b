"""Every row of the Revoke Certificate error table leads to its remedy."""

from __future__ import annotations

import pytest

from bot.enos.remedies import gateway_reason, remedy_for

# (code, message as EnOS sends it, words the remedy must contain)
DOCUMENTED_ROWS = [
    (99400, "invalid argument: The device identifier is invalid", "asset ID"),
    (99400, "Invalid Argument certSn:certSn is missing", "no certificate number"),
    (
        99400,
        "Call ca error!: Certificate service err info:, code: 400, message: cert expired,"
        " detail message: expired on 2024-01-01",
        "certificate authority refused",
    ),
    (
        99400,
        "Invalid cert request!message:  already revoked, detail message: revoked yesterday",
        "request invalid",
    ),
    (
        99400,
        "Query cert is failed!message:  no such cert, detail message: lookup failed",
        "could not look the certificate up",
    ),
    (
        99400,
        "When calling Certificate Services, the call parameters are invalid.message:  bad sn,"
        " detail message: not a number",
        "parameters invalid",
    ),
    (
        99400,
        "The serial number of the certificate to be updated is required.",
        "needs the certificate number",
    ),
    (99400, "The serial number of the new certificate is invalid (less than 0).", "negative"),
    (
        99400,
        "The certificate list bound to the device does not have the certificate, or the"
        " certificate is bound to other devices.",
        "not bound to this device",
    ),
    (11404, "Device cannot be found", "cannot find this device"),
    (99500, "Internal error of certificate service.", "certificate service failed"),
    (99500, "Internal error of product service.", "product service failed"),
    (99500, "Internal error of IoT Hub service.", "IoT Hub service failed"),
]


@pytest.mark.parametrize(("code", "msg", "words"), DOCUMENTED_ROWS)
def test_each_documented_row_has_its_own_remedy(code: int, msg: str, words: str) -> None:
    assert words in remedy_for(code, msg, "req-1")


def test_rows_sharing_a_code_get_different_remedies() -> None:
    remedies = {remedy_for(code, msg, "r") for code, msg, _ in DOCUMENTED_ROWS}

    assert len(remedies) == len(DOCUMENTED_ROWS)


def test_match_ignores_case_and_spacing() -> None:
    sloppy = "INVALID  argument:   the device identifier is INVALID"

    assert "asset ID" in remedy_for(99400, sloppy, None)


def test_message_and_detail_are_quoted_for_the_engineer() -> None:
    msg = (
        "Invalid cert request!message:  certificate is already revoked,"
        " detail message: certificate 52739 was revoked"
    )

    remedy = remedy_for(99400, msg, "r")

    assert '"certificate is already revoked"' in remedy
    assert '"certificate 52739 was revoked"' in remedy


def test_unknown_code_gets_generic_remedy_with_request_id() -> None:
    remedy = remedy_for(42424, "Something new", "abc-123")

    assert "42424" in remedy
    assert "abc-123" in remedy
    assert "EnOS administrator" in remedy
    assert "EnOS console" in remedy


def test_unknown_message_of_a_known_code_falls_back_to_that_code() -> None:
    assert "rejected an argument" in remedy_for(99400, "brand new wording", "r")
    assert "administrator" in remedy_for(99500, "brand new wording", "r")


def test_gateway_refusal_says_nothing_reached_enos_and_what_to_check() -> None:
    reason = gateway_reason(1003, "encryption is not valid")

    assert "before it reached EnOS" in reason
    assert "ENOS_APP_SECRET" in reason
