"""What the bot shows in Slack, drawn from the stored request and its audit events.

Each function here is pure: a domain object in, Slack JSON out. Deciding and storing
happen elsewhere. User-typed text is escaped, every text object is fitted to Slack's
limits by :func:`bot.slack.text.fit`, and every message's top-level ``text`` names the
request in one searchable form: ``certSn 52739``, ``asset ID Xy12AbCd`` (or
``product key … device key …``), ``reason …``, ``requested by …``, ``approved by …``,
``status …``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from bot.enos.models import Certificate, RevokeReason
from bot.slack.ids import ActionId, CallbackId, DenyInput, MessageBlock, RequestInput
from bot.slack.text import (
    BUTTON_TEXT,
    BUTTON_VALUE,
    CONFIRM_BUTTON,
    CONFIRM_TEXT,
    CONFIRM_TITLE,
    DATE,
    FIELD_TEXT,
    INPUT_HINT,
    INPUT_LABEL,
    INPUT_PLACEHOLDER,
    MAX_FIELDS,
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    OPTION_TEXT,
    OPTION_VALUE,
    PRIVATE_METADATA,
    SECTION_TEXT,
    VIEW_BLOCKS,
    VIEW_TITLE,
    channel,
    code,
    escape,
    fit,
    mention,
    slack_date,
)
from commands.lookup import CertLookup, LookupState
from commands.request import (
    CERT_SN_INPUT_MAX,
    DENY_NOTE_MAX,
    IDENTIFIER_MAX,
    JUSTIFICATION_MAX,
    Prefill,
    clean_note,
)
from storage.models import AuditEvent, AuditKind, RequestStatus, RevocationRequest

Block = dict[str, Any]

# How much of each piece of stored text a message's top-level text repeats; together
# they stay under MESSAGE_TEXT, so every identifier survives in the searchable text.
_TEXT_ID: Final = 200
_TEXT_NOTE: Final = 500
_TEXT_JUSTIFICATION: Final = 1000
_TEXT_SENTENCE: Final = 500
# How much of one EnOS-provided certificate attribute the approval message shows.
_CERT_ATTRIBUTE: Final = 500


@dataclass(frozen=True, slots=True)
class SlackMessage:
    """A message as ``chat.postMessage`` / ``chat.update`` take it."""

    text: str
    blocks: list[Block]


# --- Block Kit pieces; every text passes through fit() here and nowhere else. ---


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": fit(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = SECTION_TEXT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": fit(text, limit)}


def section(text: str) -> Block:
    return {"type": "section", "text": _mrkdwn(text)}


def _fields(fields: list[str]) -> Block:
    return {"type": "section", "fields": [_mrkdwn(f, FIELD_TEXT) for f in fields[:MAX_FIELDS]]}


def context(text: str) -> Block:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def button(
    label: str,
    action: ActionId,
    request_id: str,
    *,
    style: str | None = None,
    confirm: dict[str, Any] | None = None,
) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "text": _plain(label, BUTTON_TEXT),
        "action_id": action.value,
        "value": fit(request_id, BUTTON_VALUE),
    }
    if style:
        button["style"] = style
    if confirm:
        button["confirm"] = confirm
    return button


def _message(text: str, blocks: list[Block]) -> SlackMessage:
    return SlackMessage(fit(text, MESSAGE_TEXT), blocks[:MESSAGE_BLOCKS])


# --- Reading a stored request without trusting it to be well-formed. ---


def status_of(request: RevocationRequest) -> RequestStatus | None:
    try:
        return RequestStatus(request.status)
    except ValueError:
        return None


def reason_label(reason: int) -> str:
    try:
        return RevokeReason(reason).label
    except ValueError:
        return f"unknown reason ({reason})"


def device_words(asset_id: str | None, product_key: str | None, device_key: str | None) -> str:
    """The device in the one form search relies on, escaped: ``asset ID Xy12AbCd``."""
    if asset_id:
        return f"asset ID {fit(escape(asset_id), _TEXT_ID)}"
    return (
        f"product key {fit(escape(product_key or '?'), _TEXT_ID)} "
        f"device key {fit(escape(device_key or '?'), _TEXT_ID)}"
    )


def _device_code(request: RevocationRequest) -> str:
    if request.asset_id:
        return f"asset ID {code(request.asset_id)}"
    return (
        f"product key {code(request.product_key or '?')}\n"
        f"device key {code(request.device_key or '?')}"
    )


def person(user_id: str | None) -> str:
    return fit(mention(user_id), _TEXT_ID) if user_id else "nobody"


def _request_id(request: RevocationRequest) -> str:
    return fit(escape(request.id), _TEXT_ID)


def _summary(
    request: RevocationRequest,
    status: str,
    *,
    approver_id: str | None,
    extra: list[str],
) -> str:
    """The searchable line: every identifier of the request, in the same words each time."""
    parts = [
        f"certSn {request.cert_sn}",
        device_words(request.asset_id, request.product_key, request.device_key),
        f"reason {reason_label(request.reason)}",
        f"requested by {person(request.requester_id)}",
    ]
    if approver_id:
        parts.append(f"approved by {person(approver_id)}")
    parts.append(f"status {fit(escape(status), _TEXT_ID)}")
    parts.extend(extra)
    if request.justification:
        parts.append(f"justification {fit(escape(request.justification), _TEXT_JUSTIFICATION)}")
    return f"Certificate revocation {_request_id(request)}: " + ", ".join(parts)


def _enos_words(request_id: str | None, code_: int | None, msg: str | None) -> list[str]:
    words = []
    if request_id:
        words.append(f"EnOS requestId {fit(escape(request_id), _TEXT_ID)}")
    if code_ is not None:
        words.append(f"EnOS code {code_}")
    if msg:
        words.append(f"EnOS message {fit(escape(msg), _TEXT_NOTE)}")
    return words


# --- The approval message ---


def approval_message(request: RevocationRequest, *, now: datetime) -> SlackMessage:
    """The message approvers act on, redrawn from the request at each change of status."""
    status = status_of(request)
    expired_unswept = status is RequestStatus.PENDING and _aware(request.expires_at) <= _aware(now)

    blocks: list[Block] = [section(_headline(request, status, expired_unswept))]
    blocks.append(_fields(_facts(request, status)))
    blocks.append(section(_justification(request.justification)))
    outcome = _outcome(request, status)
    if outcome:
        blocks.append(section(outcome))
    blocks.append(section(_certificate(request.cert_lookup, now, status)))

    actions = _actions(request, status, expired_unswept)
    if actions:
        blocks.append(
            {"type": "actions", "block_id": MessageBlock.ACTIONS.value, "elements": actions}
        )
    blocks.append(context(_footer(request, status, expired_unswept)))

    approver = request.approver_id if status not in _UNDECIDED else None
    extra = _enos_words(request.enos_request_id, request.enos_code, request.enos_msg)
    if status in (RequestStatus.DENIED, RequestStatus.CANCELLED) and request.decided_by:
        extra.insert(0, f"{status.value} by {person(request.decided_by)}")
    text = _summary(request, request.status, approver_id=approver, extra=extra)
    return _message(text, blocks)


_UNDECIDED: Final = (
    RequestStatus.PENDING,
    RequestStatus.DENIED,
    RequestStatus.CANCELLED,
    RequestStatus.EXPIRED,
    RequestStatus.UNDELIVERABLE,
    None,
)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _headline(
    request: RevocationRequest, status: RequestStatus | None, expired_unswept: bool
) -> str:
    requester = person(request.requester_id)
    approver = person(request.approver_id)
    decider = person(request.decided_by or request.approver_id)
    if expired_unswept:
        return (
            f":hourglass: *Certificate revocation expired* (requested by {requester}): "
            f"nobody approved it by {slack_date(request.expires_at)}. It can no longer be approved."
        )
    match status:
        case RequestStatus.PENDING:
            return (
                f":lock: *Certificate revocation requested* by {requester}. "
                "It needs a second person's approval."
            )
        case RequestStatus.EXECUTING:
            return f":hourglass_flowing_sand: *Approved by {approver}, revoking…*"
        case RequestStatus.REVOKED:
            return f":white_check_mark: *Revoked in EnOS.* Approved by {approver}."
        case RequestStatus.REFUSED:
            return (
                f":x: *EnOS refused the revocation.* Approved by {approver}; "
                "the certificate was not revoked."
            )
        case RequestStatus.UNKNOWN:
            return (
                f":warning: *Outcome unknown.* Approved by {approver}, but EnOS's answer "
                "never arrived: the certificate *may or may not* be revoked. Check it with "
                "List Certificate in EnOS before retrying. *Request again* starts a new "
                "request that needs a fresh approval."
            )
        case RequestStatus.FAILED:
            return (
                f":x: *Not revoked.* Approved by {approver}, but the revoke call never reached "
                "EnOS (see *Why* below), so nothing changed in EnOS. Once that is fixed, "
                "*Request again* starts a new request that needs a fresh approval."
            )
        case RequestStatus.DENIED:
            return f":no_entry: *Denied* by {decider}. Nothing was sent to EnOS."
        case RequestStatus.CANCELLED:
            return f":heavy_multiplication_x: *Cancelled* by {decider}. Nothing was sent to EnOS."
        case RequestStatus.EXPIRED:
            return (
                f":hourglass: *Expired*: nobody approved it by {slack_date(request.expires_at)}. "
                "Nothing was sent to EnOS."
            )
        case RequestStatus.UNDELIVERABLE:
            return (
                ":warning: *Not delivered*: this request could not be posted for approval "
                "and was closed. Nothing was sent to EnOS."
            )
        case _:
            return f"*Certificate revocation* in an unknown state: {code(request.status)}."


def _facts(request: RevocationRequest, status: RequestStatus | None) -> list[str]:
    facts = [
        f"*Device*\n{_device_code(request)}",
        f"*certSn*\n{code(str(request.cert_sn))}",
        f"*Reason*\n{escape(reason_label(request.reason))}",
        f"*Request*\n{code(request.id)}",
        f"*Requested by*\n{person(request.requester_id)} {slack_date(request.created_at)}",
    ]
    if status is RequestStatus.PENDING:
        facts.append(f"*Expires*\n{slack_date(request.expires_at)}")
    if request.approver_id and status not in _UNDECIDED:
        when = f" {slack_date(request.decided_at)}" if request.decided_at else ""
        facts.append(f"*Approved by*\n{person(request.approver_id)}{when}")
    if request.finished_at and status is not None and status.is_final:
        facts.append(f"*Closed*\n{slack_date(request.finished_at)}")
    if request.retry_of:
        facts.append(f"*Retry of*\n{code(request.retry_of)}")
    return facts


def _justification(justification: str) -> str:
    if not justification.strip():
        return "*Justification*\n_none given_"
    return f"*Justification*\n{escape(justification)}"


def _outcome(request: RevocationRequest, status: RequestStatus | None) -> str | None:
    match status:
        case RequestStatus.REVOKED:
            return f"*EnOS requestId* {code(request.enos_request_id or 'not given')}"
        case RequestStatus.REFUSED:
            lines = [
                f"*EnOS code* {code(str(request.enos_code))}",
                f"*EnOS message* {escape(request.enos_msg or 'none')}",
            ]
            if request.enos_request_id:
                lines.append(f"*EnOS requestId* {code(request.enos_request_id)}")
            if request.outcome_detail:
                lines.append(f"*What to do* {escape(request.outcome_detail)}")
            return "\n".join(lines)
        case RequestStatus.UNKNOWN | RequestStatus.FAILED:
            detail = escape(request.outcome_detail or "no detail")
            return f"*What happened* {detail}"
        case RequestStatus.DENIED | RequestStatus.CANCELLED:
            if request.decision_note:
                return f"*Note* {escape(request.decision_note)}"
            return None
        case RequestStatus.UNDELIVERABLE:
            if request.outcome_detail:
                return f"*Why* {escape(request.outcome_detail)}"
            return None
        case _:
            return None


def _certificate(cert_lookup: str | None, now: datetime, status: RequestStatus | None) -> str:
    # Once decided, the facts are history: say so rather than show a stale "valid".
    deciding = status is RequestStatus.PENDING
    if cert_lookup is None:
        return ":mag: Looking the certificate up in EnOS…"
    try:
        lookup = CertLookup.from_json(cert_lookup)
        warnings = lookup.warnings(now)
    except (ValueError, KeyError, TypeError, AttributeError, AssertionError):
        return ":warning: The certificate lookup stored with this request cannot be read."

    lines = ["*Certificate in EnOS*" if deciding else "*Certificate in EnOS when requested*"]
    if lookup.state is LookupState.FOUND and lookup.certificate is not None:
        lines.extend(_certificate_lines(lookup.certificate))
    elif lookup.state is LookupState.UNREACHABLE:
        lines.append("EnOS could not be asked.")
    if lookup.detail:
        lines.append(f"Detail: {escape(fit(lookup.detail, _CERT_ATTRIBUTE))}")
    if deciding:
        lines.extend(f":warning: *{escape(w)}*" for w in warnings)
    return "\n".join(lines)


def _certificate_lines(cert: Certificate) -> list[str]:
    def attribute(value: str) -> str:
        return code(fit(value, _CERT_ATTRIBUTE))

    def day(value: datetime | None) -> str:
        return slack_date(value, DATE) if value else "unknown"

    lines = [
        f"Status: *{escape(cert.status.value)}*",
        f"Subject: {attribute(cert.subject)}",
        f"Issuer: {attribute(cert.issuer)}",
        f"Valid from {day(cert.effective_date)} until {day(cert.expire_date)}",
    ]
    if cert.revoker or cert.revoker_reason:
        revoked_by = attribute(cert.revoker or "unknown")
        lines.append(f"Revoked by {revoked_by}, {escape(fit(cert.revoker_reason or '', 200))}")
    return lines


def _actions(
    request: RevocationRequest, status: RequestStatus | None, expired_unswept: bool
) -> list[dict[str, Any]]:
    if status is RequestStatus.PENDING and not expired_unswept:
        return [*decision_buttons(request), button("Cancel", ActionId.CANCEL, request.id)]
    if status in _RETRYABLE or expired_unswept:
        return [button("Request again", ActionId.REQUEST_AGAIN, request.id)]
    return []


# The statuses after which the same certificate may be asked for again, with a new approval.
_RETRYABLE: Final = (RequestStatus.UNKNOWN, RequestStatus.FAILED, RequestStatus.EXPIRED)


def decision_buttons(request: RevocationRequest) -> list[dict[str, Any]]:
    """Approve (with its confirmation dialog) and Deny, as every surface shows them."""
    return [
        button(
            "Approve",
            ActionId.APPROVE,
            request.id,
            style="primary",
            confirm=approve_confirm(request),
        ),
        button("Deny", ActionId.DENY, request.id, style="danger"),
    ]


def approve_confirm(request: RevocationRequest) -> dict[str, Any]:
    device = device_words(request.asset_id, request.product_key, request.device_key)
    return {
        "title": _plain("Revoke this certificate?", CONFIRM_TITLE),
        "text": _mrkdwn(
            f"Revoke certSn {request.cert_sn} of {device}? EnOS cannot undo a revocation.",
            CONFIRM_TEXT,
        ),
        "confirm": _plain("Revoke", CONFIRM_BUTTON),
        "deny": _plain("Back", CONFIRM_BUTTON),
        "style": "danger",
    }


def _footer(request: RevocationRequest, status: RequestStatus | None, expired_unswept: bool) -> str:
    requester = person(request.requester_id)
    if status is RequestStatus.PENDING and not expired_unswept:
        return (
            f"Approve or Deny: an allowed approver other than {requester}. "
            f"Cancel: {requester} only. Request {code(request.id)}."
        )
    if status in _RETRYABLE or expired_unswept:
        return (
            f"Request again creates a new request for certSn {request.cert_sn}; "
            f"it needs a new approval. Request {code(request.id)}."
        )
    return f"Request {code(request.id)}."


# --- Thread replies and notices, one per audit event ---


def thread_reply(request: RevocationRequest, event: AuditEvent) -> SlackMessage:
    """The reply under the approval message that tells the thread about one step."""
    sentence = _event_sentence(request, event)
    approver = event.actor_id if event.kind == AuditKind.APPROVED else request.approver_id
    if event.kind in _BEFORE_APPROVAL:
        approver = None
    extra = _enos_words(event.enos_request_id, event.enos_code, event.enos_msg)
    text = _summary(request, event.kind, approver_id=approver, extra=extra)
    blocks = [section(sentence), context(f"Request {code(request.id)} {slack_date(event.at)}")]
    return _message(f"{_plain_sentence(sentence)} {text}", blocks)


_BEFORE_APPROVAL: Final = frozenset(
    {
        AuditKind.REQUESTED.value,
        AuditKind.POSTED.value,
        AuditKind.DENIED.value,
        AuditKind.CANCELLED.value,
        AuditKind.EXPIRED.value,
        AuditKind.UNDELIVERABLE.value,
    }
)


def _event_sentence(request: RevocationRequest, event: AuditEvent) -> str:
    lines = [_event_headline(request, event)]
    kind = event.kind
    if kind == AuditKind.REFUSED and request.outcome_detail:
        lines.append(f"*What to do* {escape(request.outcome_detail)}")
    if kind in (AuditKind.UNKNOWN, AuditKind.FAILED) and request.outcome_detail:
        lines.append(f"*What happened* {escape(request.outcome_detail)}")
    if event.note and kind not in _NOTE_IN_HEADLINE:
        lines.append(f"*Note* {escape(event.note)}")
    return "\n".join(lines)


# Events whose note is the point of the sentence (a deny reason, Slack's error).
_NOTE_IN_HEADLINE: Final = frozenset(
    {AuditKind.DENIED.value, AuditKind.CANCELLED.value, AuditKind.UNDELIVERABLE.value}
)


def _event_headline(request: RevocationRequest, event: AuditEvent) -> str:
    actor = person(event.actor_id)
    cert = f"certSn {code(str(event.cert_sn))}"
    note = f": {escape(event.note)}." if event.note else "."
    match event.kind:
        case AuditKind.REQUESTED:
            return f":lock: Requested by {actor}; waiting for a second person to approve."
        case AuditKind.POSTED:
            return ":mailbox: Posted for approval."
        case AuditKind.APPROVED:
            return f":white_check_mark: Approved by {actor}. Revoking {cert} in EnOS now…"
        case AuditKind.REVOKED:
            rid = code(event.enos_request_id or "not given")
            return f":white_check_mark: EnOS revoked {cert}. EnOS requestId {rid}."
        case AuditKind.REFUSED:
            return (
                f":x: EnOS refused to revoke {cert} with code {code(str(event.enos_code))}: "
                f"“{escape(event.enos_msg or 'no message')}” The certificate was not revoked."
            )
        case AuditKind.UNKNOWN:
            return (
                f":warning: Outcome unknown for {cert}: the certificate *may or may not* be "
                "revoked. Check it with List Certificate in EnOS before retrying; "
                "*Request again* on the message above needs a fresh approval."
            )
        case AuditKind.FAILED:
            return (
                f":x: Not revoked: the revoke call never reached EnOS, so {cert} was not "
                "revoked and nothing changed. Once the cause below is fixed, *Request again* "
                "on the message above needs a fresh approval."
            )
        case AuditKind.DENIED:
            return f":no_entry: Denied by {actor}{note} Nothing was sent to EnOS."
        case AuditKind.CANCELLED:
            return f":heavy_multiplication_x: Cancelled by {actor}{note} Nothing was sent to EnOS."
        case AuditKind.EXPIRED:
            return (
                f":hourglass: Expired: nobody approved it by {slack_date(request.expires_at)}. "
                "Nothing was sent to EnOS; *Request again* on the message above asks anew."
            )
        case AuditKind.UNDELIVERABLE:
            return f":warning: Could not be posted for approval{note} The request was closed."
        case _:
            return f"{escape(event.kind)} by {actor}."


def _plain_sentence(sentence: str) -> str:
    """The first line of a sentence, without the leading emoji or code marks: the top-level
    text is for notifications and search, where they only get in the way."""
    first = sentence.split("\n", 1)[0].replace("`", "")
    if first.startswith(":"):
        first = first.split(" ", 1)[-1]
    return fit(first, _TEXT_SENTENCE)


def requester_notice(
    request: RevocationRequest, event: AuditEvent, *, bot_user_id: str | None = None
) -> SlackMessage:
    """A private word to the requester, e.g. when their request could not be posted."""
    if event.kind == AuditKind.UNDELIVERABLE:
        sentence = _undeliverable_sentence(request, event, bot_user_id)
    else:
        sentence = _event_sentence(request, event)
    text = _summary(request, event.kind, approver_id=request.approver_id, extra=[])
    return _message(f"{_plain_sentence(sentence)} {text}", [section(sentence)])


def _undeliverable_sentence(
    request: RevocationRequest, event: AuditEvent, bot_user_id: str | None
) -> str:
    where = channel(request.approval_channel_id)
    me = mention(bot_user_id) if bot_user_id else "the bot"
    problem = (event.note or "").strip()
    if problem == "not_in_channel":
        fix = f"invite me there with `/invite {me}`, then ask again."
    elif problem in ("channel_not_found", "is_archived"):
        fix = "ask whoever runs the bot to fix REVOKE_APPROVAL_CHANNEL, then ask again."
    elif problem in ("msg_too_long", "invalid_blocks", "invalid_arguments"):
        fix = "Slack refused the message itself; tell whoever runs the bot (their logs say more)."
    else:
        fix = f"invite me there with `/invite {me}` or fix REVOKE_APPROVAL_CHANNEL, then ask again."
    detail = f" (Slack said {code(problem)})" if problem else ""
    return (
        f":warning: I could not post your revocation request {code(request.id)} in {where}"
        f"{detail}: {fix} Your request was not left pending and nothing was sent to EnOS."
    )


# --- Modals ---


def notice_modal(text: str) -> dict[str, Any]:
    """A modal that only says something, e.g. why a submission was not accepted.

    ``text`` is mrkdwn written by the bot; user text in it must already be escaped.
    """
    return {
        "type": "modal",
        "title": _plain("Revoke certificate", VIEW_TITLE),
        "close": _plain("Close", VIEW_TITLE),
        "blocks": [section(text)],
    }


def request_modal(prefill: Prefill | None, origin_channel_id: str) -> dict[str, Any]:
    """The request form; ``private_metadata`` carries only the channel it was opened from."""
    prefill = prefill or Prefill()
    blocks: list[Block] = []
    if prefill.not_understood:
        parts = ", ".join(code(fit(part, 200)) for part in prefill.not_understood)
        blocks.append(context(f":warning: I did not understand {parts}; fill the form in below."))
    blocks.append(
        context(
            "Name the device by its *asset ID*, or by its *product key + device key* "
            "(not both). The certificate serial number (certSn) is shown by List Certificate."
        )
    )
    blocks.extend(
        [
            _text_input(
                RequestInput.ASSET_ID,
                "Asset ID",
                prefill.asset_id,
                max_length=IDENTIFIER_MAX[RequestInput.ASSET_ID],
                hint="Leave empty when you give product key + device key.",
                placeholder="e.g. Xy12AbCd",
            ),
            _text_input(
                RequestInput.PRODUCT_KEY,
                "Product key",
                prefill.product_key,
                max_length=IDENTIFIER_MAX[RequestInput.PRODUCT_KEY],
                hint="Together with the device key, instead of an asset ID.",
            ),
            _text_input(
                RequestInput.DEVICE_KEY,
                "Device key",
                prefill.device_key,
                max_length=IDENTIFIER_MAX[RequestInput.DEVICE_KEY],
                hint="Together with the product key, instead of an asset ID.",
            ),
            _text_input(
                RequestInput.CERT_SN,
                "Certificate serial number (certSn)",
                prefill.cert_sn,
                max_length=CERT_SN_INPUT_MAX,
                optional=False,
                hint="A whole decimal number, e.g. 52739.",
                placeholder="e.g. 52739",
            ),
            _reason_input(prefill.reason),
            _text_input(
                RequestInput.JUSTIFICATION,
                "Justification",
                prefill.justification,
                max_length=JUSTIFICATION_MAX,
                multiline=True,
                hint="Why, in a sentence; link the incident.",
                placeholder="e.g. private key leaked, INC-1234",
            ),
        ]
    )
    return {
        "type": "modal",
        "callback_id": CallbackId.REQUEST_MODAL.value,
        "private_metadata": origin_channel_id if len(origin_channel_id) <= PRIVATE_METADATA else "",
        "title": _plain("Revoke certificate", VIEW_TITLE),
        "submit": _plain("Ask for approval", VIEW_TITLE),
        "close": _plain("Cancel", VIEW_TITLE),
        "blocks": blocks[:VIEW_BLOCKS],
    }


def _text_input(
    block: RequestInput | DenyInput,
    label: str,
    initial: str | None,
    *,
    max_length: int,
    optional: bool = True,
    multiline: bool = False,
    hint: str | None = None,
    placeholder: str | None = None,
) -> Block:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": block.value,
        "max_length": max_length,
        "multiline": multiline,
    }
    # Slack refuses the whole view if an initial value is longer than max_length.
    if initial and len(initial) <= max_length:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = _plain(placeholder, INPUT_PLACEHOLDER)
    result: Block = {
        "type": "input",
        "block_id": block.value,
        "optional": optional,
        "label": _plain(label, INPUT_LABEL),
        "element": element,
    }
    if hint:
        result["hint"] = _plain(hint, INPUT_HINT)
    return result


def _reason_option(reason: RevokeReason) -> dict[str, Any]:
    return {
        "text": _plain(reason.label, OPTION_TEXT),
        "value": fit(str(reason.value), OPTION_VALUE),
    }


def _reason_input(initial: RevokeReason | None) -> Block:
    return {
        "type": "input",
        "block_id": RequestInput.REASON.value,
        "label": _plain("Reason", INPUT_LABEL),
        "hint": _plain("EnOS's RevokeReason, with its number.", INPUT_HINT),
        "element": {
            "type": "static_select",
            "action_id": RequestInput.REASON.value,
            "options": [_reason_option(r) for r in RevokeReason],
            "initial_option": _reason_option(initial or RevokeReason.UNSPECIFIED),
        },
    }


def submission_values(view_state_values: Mapping[str, Any]) -> dict[str, str | None]:
    """Read ``view.state.values`` of the request modal into what the request rules take.

    A missing block, a missing element or an empty value reads as None.
    """
    return {field.value: _input_value(view_state_values, field) for field in RequestInput}


def _input_value(state: Mapping[str, Any], block: RequestInput | DenyInput) -> str | None:
    if not isinstance(state, Mapping):
        return None
    elements = state.get(block.value)
    if not isinstance(elements, Mapping):
        return None
    element = elements.get(block.value)
    if element is None and len(elements) == 1:
        element = next(iter(elements.values()))
    if not isinstance(element, Mapping):
        return None
    value = element.get("value")
    option = element.get("selected_option")
    if isinstance(option, Mapping):
        value = option.get("value")
    return value if isinstance(value, str) else None


def deny_modal(request_id: str) -> dict[str, Any]:
    """Asks the approver for an optional reason; ``private_metadata`` is the request id."""
    return {
        "type": "modal",
        "callback_id": CallbackId.DENY_MODAL.value,
        "private_metadata": fit(request_id, PRIVATE_METADATA),
        "title": _plain("Deny revocation", VIEW_TITLE),
        "submit": _plain("Deny", VIEW_TITLE),
        "close": _plain("Back", VIEW_TITLE),
        "blocks": [
            context(
                f"Deny request {code(request_id)}. The reason is shown in the request's thread "
                "and kept in the audit record."
            ),
            _text_input(
                DenyInput.NOTE,
                "Reason (optional)",
                None,
                max_length=DENY_NOTE_MAX,
                multiline=True,
                placeholder="e.g. wrong device; the certificate is still needed",
            ),
        ],
    }


def deny_note(view_state_values: Mapping[str, Any]) -> str | None:
    """The deny modal's reason as it will be stored, or None when none was given."""
    return clean_note(_input_value(view_state_values, DenyInput.NOTE))


# --- Help ---


def help_text() -> str:
    """``/revoke-cert help``, as mrkdwn."""
    reasons = ", ".join(f"`{r.name.lower()}` ({r.value})" for r in RevokeReason)
    return fit(
        "*Revoke an EnOS device certificate, with a second person's approval*\n"
        "`/revoke-cert` opens the request form. Text after the command fills it in:\n"
        "• `/revoke-cert asset=Xy12AbCd cert=52739 reason=key_compromise`\n"
        "• `/revoke-cert product=pk123 device=dev-01 certSn=52739 reason=1 "
        'justification="private key leaked, INC-1234"`\n'
        "Name the device by `asset=` *or* by `product=` + `device=`. "
        f"Reasons: {reasons}.\n"
        "After you submit, the request is posted for approval; an allowed approver other "
        "than you approves or denies it, and you can cancel it until then.\n\n"
        "*History*: `/revoke-cert history [query]` lists requests, newest first. "
        "Free text matches any field; filters: `cert:52739`, `asset:Xy12AbCd`, "
        "`device:dev-01`, `product:pk123`, `by:@user`, `approver:@user`, "
        "`status:revoked|refused|unknown|failed|denied|cancelled|expired|pending`, "
        "`since:2026-11-01`, `until:2026-11-30`.\n"
        "• `/revoke-cert history cert:52739`\n"
        "• `/revoke-cert history asset:Xy12AbCd since:2026-11-01 status:revoked`\n\n"
        "Slack search finds each request by the same words: "
        "`certSn 52739`, `asset ID Xy12AbCd`, `device key dev-01`, `status revoked`.",
        SECTION_TEXT,
    )
