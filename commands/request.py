"""The rules of a revocation request: what the slash command text means, and what a
submitted request must hold before it may be stored, let alone reach EnOS.

Nothing here knows Slack. Errors are keyed by :class:`RequestField`, which the request
modal uses as its block ids, and each error is a sentence that says what to do.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from bot.enos.models import AssetId, DeviceIdentifier, ProductDevice, RevokeReason


class RequestField(StrEnum):
    ASSET_ID = "asset_id"
    PRODUCT_KEY = "product_key"
    DEVICE_KEY = "device_key"
    CERT_SN = "cert_sn"
    REASON = "reason"
    JUSTIFICATION = "justification"


# Lengths match the columns in storage.models and the modal's max_length.
ASSET_ID_MAX: Final = 64
PRODUCT_KEY_MAX: Final = 64
DEVICE_KEY_MAX: Final = 128
JUSTIFICATION_MAX: Final = 1500
DENY_NOTE_MAX: Final = 500
CERT_SN_MAX: Final = 2**63 - 1
# Room for pasted whitespace and for a number too large, so that the error says so.
CERT_SN_INPUT_MAX: Final = 40

IDENTIFIER_MAX: Final[Mapping[RequestField, int]] = {
    RequestField.ASSET_ID: ASSET_ID_MAX,
    RequestField.PRODUCT_KEY: PRODUCT_KEY_MAX,
    RequestField.DEVICE_KEY: DEVICE_KEY_MAX,
}

_IDENTIFIER = re.compile(r"[A-Za-z0-9._:\-]+")
_DIGITS = re.compile(r"[0-9]+")
_ALLOWED_CONTROLS: Final = frozenset("\t\n\r")


@dataclass(frozen=True, slots=True)
class RevocationDraft:
    """A request that passed every rule: ready to be stored and shown to an approver."""

    device: DeviceIdentifier
    cert_sn: int
    reason: RevokeReason
    justification: str


# --- Submission ---


def validate_submission(values: Mapping[str, str | None]) -> RevocationDraft | dict[str, str]:
    """Check a submitted request; return the draft, or errors keyed by field.

    ``values`` maps each :class:`RequestField` to what was typed (``None`` or missing
    when empty). Surrounding whitespace is trimmed. Never raises.
    """
    typed = {field: (values.get(field.value) or "").strip() for field in RequestField}
    errors: dict[str, str] = {}

    device = _device(typed, errors)
    cert_sn = _cert_sn(typed[RequestField.CERT_SN], errors)
    reason = _reason(typed[RequestField.REASON], errors)
    justification = typed[RequestField.JUSTIFICATION]
    problem = justification_problem(justification)
    if problem:
        errors[RequestField.JUSTIFICATION] = problem

    if errors or device is None or cert_sn is None or reason is None:
        return {str(field): message for field, message in errors.items()}
    return RevocationDraft(device, cert_sn, reason, justification)


def identifier_problem(field: RequestField, value: str) -> str | None:
    """Why ``value`` cannot be an asset ID, product key or device key; None if it can."""
    name = _FIELD_NAMES[field]
    limit = IDENTIFIER_MAX[field]
    if len(value) > limit:
        return f"The {name} is {len(value)} characters long; EnOS allows at most {limit}."
    if _IDENTIFIER.fullmatch(value) is None:
        return (
            f"The {name} may hold only letters, digits and - _ . : "
            "(no spaces or other characters). Copy it from the EnOS console."
        )
    return None


def justification_problem(value: str) -> str | None:
    if len(value) > JUSTIFICATION_MAX:
        return (
            f"The justification is {len(value)} characters long; keep it to "
            f"{JUSTIFICATION_MAX} and link to the incident for the rest."
        )
    if any(_unprintable(ch) for ch in value):
        return "The justification contains control characters; remove them and submit again."
    if any(ch in _BIDI_CONTROLS for ch in value):
        return (
            "The justification contains invisible text-direction characters, which can make "
            "it read differently from what it says; remove them and submit again."
        )
    return None


def clean_note(text: str | None) -> str | None:
    """A deny note as it will be stored: trimmed, control characters dropped, at most
    :data:`DENY_NOTE_MAX` characters; None when nothing is left."""
    if text is None:
        return None
    kept = "".join(ch for ch in text if not _unprintable(ch) and ch not in _BIDI_CONTROLS)
    kept = kept.strip()
    return kept[:DENY_NOTE_MAX] or None


# Characters that reorder how the text around them is displayed (the "Trojan Source" trick).
_BIDI_CONTROLS: Final = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _unprintable(ch: str) -> bool:
    if ch in _ALLOWED_CONTROLS:
        return False
    return unicodedata.category(ch) in ("Cc", "Cs")


_FIELD_NAMES: Final[Mapping[RequestField, str]] = {
    RequestField.ASSET_ID: "asset ID",
    RequestField.PRODUCT_KEY: "product key",
    RequestField.DEVICE_KEY: "device key",
}


def _device(typed: Mapping[RequestField, str], errors: dict[str, str]) -> DeviceIdentifier | None:
    asset = typed[RequestField.ASSET_ID]
    product = typed[RequestField.PRODUCT_KEY]
    device = typed[RequestField.DEVICE_KEY]

    if not (asset or product or device):
        errors[RequestField.ASSET_ID] = (
            "Name the device: give its asset ID, or its product key and device key."
        )
        return None
    if asset and (product or device):
        errors[RequestField.ASSET_ID] = (
            "Give the asset ID or the product key + device key, not both: clear one of them."
        )
        return None

    found = False
    for field, value in typed.items():
        if field in IDENTIFIER_MAX and value:
            problem = identifier_problem(field, value)
            if problem:
                errors[field] = problem
                found = True
    if found:
        return None

    if asset:
        return AssetId(asset)
    if not device:
        errors[RequestField.DEVICE_KEY] = (
            "Add the device key: a product key names a device only together with its "
            "device key. Or clear both and give the asset ID."
        )
        return None
    if not product:
        errors[RequestField.PRODUCT_KEY] = (
            "Add the product key: a device key names a device only together with its "
            "product key. Or clear both and give the asset ID."
        )
        return None
    return ProductDevice(product, device)


def _cert_sn(text: str, errors: dict[str, str]) -> int | None:
    number = parse_cert_sn(text)
    if isinstance(number, str):
        errors[RequestField.CERT_SN] = number
        return None
    return number


def parse_cert_sn(text: str) -> int | str:
    """The certSn as EnOS wants it (a whole decimal number, 0 to 2^63−1), or what is wrong."""
    text = text.strip()
    if not text:
        return "Give the certificate serial number (certSn), e.g. 52739."
    if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
        return "The certSn cannot be negative: give it without the minus sign."
    if _DIGITS.fullmatch(text) is None:
        return (
            "The certSn must be a whole decimal number written with the digits 0-9 only, "
            "e.g. 52739 (no sign, letters, spaces, separators or exponent)."
        )
    significant = text.lstrip("0")
    # Compare lengths first: int() refuses numbers of more than a few thousand digits.
    if len(significant) > len(str(CERT_SN_MAX)) or int(significant or "0") > CERT_SN_MAX:
        return f"The certSn is too large: EnOS accepts at most {CERT_SN_MAX}."
    return int(significant or "0")


def _reason(text: str, errors: dict[str, str]) -> RevokeReason | None:
    for reason in RevokeReason:
        if text == str(reason.value):
            return reason
    errors[RequestField.REASON] = "Choose one of the listed reasons."
    return None


# --- Slash command text ---


@dataclass(frozen=True, slots=True)
class Help:
    """``/revoke-cert help``."""


@dataclass(frozen=True, slots=True)
class History:
    """``/revoke-cert history [query]``: the query as typed, trimmed."""

    query: str


@dataclass(frozen=True, slots=True)
class Prefill:
    """What the command text says about the request, to fill the modal in.

    Values are as typed (trimmed, unquoted) and are checked when the modal is
    submitted. Identifiers that cannot be valid, and anything else not understood,
    are kept in ``not_understood`` so the user can be told.
    """

    asset_id: str | None = None
    product_key: str | None = None
    device_key: str | None = None
    cert_sn: str | None = None
    reason: RevokeReason | None = None
    justification: str | None = None
    not_understood: tuple[str, ...] = ()


Command = Help | History | Prefill

_HELP_WORDS: Final = frozenset({"help", "-h", "--help", "?", "usage"})
_KEYS: Final[Mapping[str, RequestField]] = {
    "asset": RequestField.ASSET_ID,
    "assetid": RequestField.ASSET_ID,
    "product": RequestField.PRODUCT_KEY,
    "productkey": RequestField.PRODUCT_KEY,
    "device": RequestField.DEVICE_KEY,
    "devicekey": RequestField.DEVICE_KEY,
    "cert": RequestField.CERT_SN,
    "certsn": RequestField.CERT_SN,
    "sn": RequestField.CERT_SN,
    "serial": RequestField.CERT_SN,
    "reason": RequestField.REASON,
    "justification": RequestField.JUSTIFICATION,
    "why": RequestField.JUSTIFICATION,
}
# A value may be quoted with straight or typographic quotes (some clients convert them);
# an unclosed quote runs to the end of the text.
_QUOTED = r'"[^"]*(?:"|$)|“[^”]*(?:”|$)|\'[^\']*(?:\'|$)|‘[^’]*(?:’|$)'
_KEY = r"[A-Za-z][A-Za-z_-]*"
_TOKEN = re.compile(
    rf"(?P<key>{_KEY})[ \t]*=[ \t]*(?P<value>{_QUOTED}|(?!{_KEY}[ \t]*=)[^\s]+|)"
    rf"|(?P<word>{_QUOTED}|[^\s]+)",
)
_QUOTES: Final = {'"': '"', "“": "”", "'": "'", "‘": "’"}
_REASON_LABEL = re.compile(r".*\((\d)\)\s*")


def parse_command_text(text: str) -> Command:
    """Read what followed ``/revoke-cert``. Never raises: what is not understood is kept."""
    stripped = text.strip()
    first, rest = [*stripped.split(maxsplit=1), "", ""][:2]
    if first.lower() in _HELP_WORDS and not rest:
        return Help()
    if first.lower() == "history":
        return History(rest.strip())

    found: dict[RequestField, str] = {}
    not_understood: list[str] = []
    reason: RevokeReason | None = None
    for match in _TOKEN.finditer(stripped):
        token = match.group(0).strip()
        key = match.group("key")
        field = None if key is None else _KEYS.get(key.lower().replace("_", "").replace("-", ""))
        value = _unquote(match.group("value") or "")
        if field is None or field in found or not _plausible(field, value):
            not_understood.append(token)
        elif field is RequestField.REASON:
            reason = _parse_reason(value)
            if reason is None:
                not_understood.append(token)
            else:
                found[field] = value
        else:
            found[field] = value

    return Prefill(
        asset_id=found.get(RequestField.ASSET_ID),
        product_key=found.get(RequestField.PRODUCT_KEY),
        device_key=found.get(RequestField.DEVICE_KEY),
        cert_sn=found.get(RequestField.CERT_SN),
        reason=reason,
        justification=found.get(RequestField.JUSTIFICATION),
        not_understood=tuple(not_understood),
    )


def _unquote(value: str) -> str:
    if value and value[0] in _QUOTES:
        closing = _QUOTES[value[0]]
        inner = value[1:]
        if inner.endswith(closing):
            inner = inner[: -len(closing)]
        return inner.strip()
    return value.strip()


def _plausible(field: RequestField, value: str) -> bool:
    """Whether the value may go into the modal (it still has to pass on submission)."""
    if not value:
        return False
    if field in IDENTIFIER_MAX:
        return identifier_problem(field, value) is None
    if field is RequestField.CERT_SN:
        return len(value) <= CERT_SN_INPUT_MAX
    if field is RequestField.JUSTIFICATION:
        return justification_problem(value) is None
    return True


def _parse_reason(text: str) -> RevokeReason | None:
    label = _REASON_LABEL.fullmatch(text)
    if label:
        text = label.group(1)
    if text.isdigit():
        number = int(text) if text.isascii() else -1
        return RevokeReason(number) if number in RevokeReason._value2member_map_ else None
    try:
        return RevokeReason.parse(text)
    except (KeyError, ValueError):
        return None
