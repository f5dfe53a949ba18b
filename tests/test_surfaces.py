"""What the bot shows in Slack: escaping, Slack's limits, and the content of each surface."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.enos.models import Certificate, CertStatus, RevokeReason
from bot.slack import text as slack_text
from bot.slack.ids import ActionId, CallbackId, DenyInput, MessageBlock, RequestInput
from bot.slack.surfaces import (
    SlackMessage,
    approval_message,
    deny_modal,
    deny_note,
    help_text,
    notice_modal,
    request_modal,
    requester_notice,
    submission_values,
    thread_reply,
)
from bot.slack.text import code, escape, fit, mention, slack_date
from commands.lookup import CertLookup, LookupState
from commands.request import (
    ASSET_ID_MAX,
    CERT_SN_MAX,
    DEVICE_KEY_MAX,
    JUSTIFICATION_MAX,
    PRODUCT_KEY_MAX,
    Prefill,
    RevocationDraft,
    parse_command_text,
    validate_submission,
)
from storage.models import AuditEvent, AuditKind, RequestStatus, RevocationRequest

NOW = datetime(2026, 12, 4, 8, 13, tzinfo=UTC)
REQUESTER = "U0REQUEST1"
APPROVER = "W0APPROVE2"


def make_request(**changes: Any) -> RevocationRequest:
    values: dict[str, Any] = {
        "id": "RQ-7K3F9Q2A",
        "status": RequestStatus.PENDING.value,
        "requester_id": REQUESTER,
        "origin_channel_id": "C0ORIGIN1",
        "approval_channel_id": "C0APPROVE1",
        "asset_id": "Xy12AbCd",
        "product_key": None,
        "device_key": None,
        "cert_sn": 52739,
        "reason": RevokeReason.KEY_COMPROMISE.value,
        "justification": "Private key leaked, INC-42",
        "created_at": NOW - timedelta(minutes=5),
        "expires_at": NOW + timedelta(minutes=25),
        "decided_at": None,
        "finished_at": None,
        "approver_id": None,
        "decided_by": None,
        "decision_note": None,
        "enos_request_id": None,
        "enos_code": None,
        "enos_msg": None,
        "outcome_detail": None,
        "cert_lookup": None,
        "retry_of": None,
    }
    values.update(changes)
    return RevocationRequest(**values)


def make_event(request: RevocationRequest, kind: str, **changes: Any) -> AuditEvent:
    values: dict[str, Any] = {
        "seq": 7,
        "at": NOW,
        "request_id": request.id,
        "kind": kind,
        "actor_id": APPROVER,
        "asset_id": request.asset_id,
        "product_key": request.product_key,
        "device_key": request.device_key,
        "cert_sn": request.cert_sn,
        "reason": request.reason,
        "justification": request.justification,
        "note": None,
        "enos_request_id": None,
        "enos_code": None,
        "enos_msg": None,
        "prev_hash": "0" * 64,
        "hash": "1" * 64,
    }
    values.update(changes)
    return AuditEvent(**values)


FINISHED = {
    "approver_id": APPROVER,
    "decided_at": NOW - timedelta(minutes=1),
    "finished_at": NOW,
}
STATUS_CHANGES: dict[RequestStatus, dict[str, Any]] = {
    RequestStatus.PENDING: {},
    RequestStatus.EXECUTING: {"approver_id": APPROVER, "decided_at": NOW},
    RequestStatus.REVOKED: {**FINISHED, "enos_request_id": "enos-req-981", "enos_code": 0},
    RequestStatus.REFUSED: {
        **FINISHED,
        "enos_code": 11404,
        "enos_msg": "Certificate not found",
        "outcome_detail": "Check the certSn with List Certificate.",
    },
    RequestStatus.UNKNOWN: {**FINISHED, "outcome_detail": "read timeout after 30 s"},
    RequestStatus.FAILED: {**FINISHED, "outcome_detail": "connection refused"},
    RequestStatus.DENIED: {
        "decided_by": APPROVER,
        "decided_at": NOW,
        "finished_at": NOW,
        "decision_note": "wrong device",
    },
    RequestStatus.CANCELLED: {"decided_by": REQUESTER, "decided_at": NOW, "finished_at": NOW},
    RequestStatus.EXPIRED: {"finished_at": NOW, "expires_at": NOW - timedelta(minutes=1)},
    RequestStatus.UNDELIVERABLE: {"finished_at": NOW, "outcome_detail": "not_in_channel"},
}


def request_in(status: RequestStatus, **changes: Any) -> RevocationRequest:
    return make_request(status=status.value, **{**STATUS_CHANGES[status], **changes})


# --- Checkers: Slack's limits and live markup, over everything a surface holds ---


def text_objects(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if node.get("type") in ("plain_text", "mrkdwn") and "text" in node:
            yield node
        for value in node.values():
            yield from text_objects(value)
    elif isinstance(node, list):
        for item in node:
            yield from text_objects(item)


def limit_problems(node: Any, path: str = "") -> Iterator[str]:
    def over(value: Any, limit: int, what: str) -> Iterator[str]:
        size = slack_text.slack_length(value) if isinstance(value, str) else len(value or ())
        if size > limit:
            yield f"{path}{what}: {size} > {limit}"

    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from limit_problems(item, f"{path}[{i}]")
        return
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    yield from over(node.get("block_id"), 255, ".block_id")
    yield from over(node.get("action_id"), 255, ".action_id")
    if kind in ("plain_text", "mrkdwn"):
        yield from over(node.get("text"), 3000, ".text")
    if kind == "section":
        yield from over(node.get("fields"), 10, ".fields (count)")
        for field in node.get("fields", []):
            yield from over(field["text"], 2000, ".fields[].text")
    if kind == "context":
        yield from over(node.get("elements"), 10, ".elements (count)")
    if kind == "actions":
        yield from over(node.get("elements"), 25, ".elements (count)")
    if kind == "button":
        yield from over(node["text"]["text"], 75, ".text")
        yield from over(node.get("value"), 2000, ".value")
    if isinstance(node.get("confirm"), dict) and "title" in node["confirm"]:
        confirm = node["confirm"]
        yield from over(confirm["title"]["text"], 100, ".confirm.title")
        yield from over(confirm["text"]["text"], 300, ".confirm.text")
        yield from over(confirm["confirm"]["text"], 30, ".confirm.confirm")
        yield from over(confirm["deny"]["text"], 30, ".confirm.deny")
    if "options" in node:
        yield from over(node["options"], 100, ".options (count)")
        for option in node["options"]:
            yield from over(option["text"]["text"], 75, ".options[].text")
            yield from over(option["value"], 150, ".options[].value")
    if kind == "modal":
        for key in ("title", "submit", "close"):
            if key in node:
                yield from over(node[key]["text"], 24, f".{key}")
        yield from over(node.get("private_metadata"), 3000, ".private_metadata")
        yield from over(node.get("blocks"), 100, ".blocks (count)")
    if kind == "input":
        yield from over(node["label"]["text"], 2000, ".label")
        if "hint" in node:
            yield from over(node["hint"]["text"], 2000, ".hint")
    if kind == "plain_text_input":
        max_length = node.get("max_length", 3000)
        if max_length > 3000:
            yield f"{path}.max_length {max_length} > 3000"
        yield from over(node.get("initial_value"), max_length, ".initial_value")
        if "placeholder" in node:
            yield from over(node["placeholder"]["text"], 150, ".placeholder")
    for key, value in node.items():
        if key not in ("text",):
            yield from limit_problems(value, f"{path}.{key}")


def assert_message_fits(message: SlackMessage) -> None:
    assert 0 < slack_text.slack_length(message.text) < 4000
    assert len(message.blocks) <= 50
    problems = list(limit_problems(message.blocks))
    assert not problems, problems
    for block in message.blocks:
        parsed = Block.parse(block)  # slack_sdk's own checks, as a second opinion
        assert parsed is not None
        parsed.validate_json()


def assert_view_fits(view: dict[str, Any]) -> None:
    problems = list(limit_problems(view))
    assert not problems, problems
    View(**view).validate_json()


TOKEN = re.compile(r"<([^<>]*)>")
DATE_TOKEN = re.compile(r"!date\^-?\d+\^\{date_short_pretty\}( \{time\})?\|[^<>|]*")


def live_markup(text: str, user_ids: set[str], channel_ids: frozenset[str]) -> list[str]:
    """Tokens Slack would act on that the bot did not mean to write, and bare & < >."""
    problems = []
    for token in TOKEN.findall(text):
        if token.startswith("@") and token[1:] in user_ids and slack_text.is_user_id(token[1:]):
            continue
        if token.startswith("#") and token[1:] in channel_ids:
            continue
        if DATE_TOKEN.fullmatch(token):
            continue
        problems.append(f"<{token}>")
    rest = TOKEN.sub("", text)
    if "<" in rest or ">" in rest:
        problems.append("bare < or >")
    if re.search(r"&(?!amp;|lt;|gt;)", rest):
        problems.append("bare &")
    return problems


def assert_no_live_markup(
    message: SlackMessage, user_ids: set[str], channel_ids: frozenset[str] = frozenset()
) -> None:
    texts = [message.text] + [
        t["text"] for t in text_objects(message.blocks) if t["type"] == "mrkdwn"
    ]
    for text in texts:
        assert not live_markup(text, user_ids, channel_ids), text


def buttons(message: SlackMessage) -> dict[str, dict[str, Any]]:
    found = {}
    for block in message.blocks:
        if block["type"] == "actions":
            assert block["block_id"] == MessageBlock.ACTIONS
            for element in block["elements"]:
                found[element["action_id"]] = element
    return found


def all_text(message: SlackMessage) -> str:
    return "\n".join(t["text"] for t in text_objects(message.blocks))


# --- text.py ---


def test_escape_touches_exactly_three_characters() -> None:
    assert escape("<!channel> & <https://x|y> *b* `c` \"q\" 'a'") == (
        "&lt;!channel&gt; &amp; &lt;https://x|y&gt; *b* `c` \"q\" 'a'"
    )
    assert escape("&amp;") == "&amp;amp;"


def test_fit_leaves_short_text_alone() -> None:
    assert fit("abc", 3) == "abc"


def test_fit_marks_the_cut() -> None:
    assert fit("abcdef", 4) == "abc…"


@pytest.mark.parametrize("limit", range(1, 12))
def test_fit_never_splits_an_entity(limit: int) -> None:
    text = escape("a&b<c>d")  # a&amp;b&lt;c&gt;d

    shortened = fit(text, limit)

    assert len(shortened) <= limit
    kept = shortened.removesuffix("…")
    assert text.startswith(kept)
    assert not re.search(r"&[a-z]*$", kept)


@pytest.mark.parametrize("limit", range(1, 40))
def test_fit_never_splits_a_token(limit: int) -> None:
    text = f"by {mention('U0123ABC')} at {slack_date(NOW)} ok"

    shortened = fit(text, limit)

    assert len(shortened) <= limit
    kept = shortened.removesuffix("…")
    assert kept.count("<") == kept.count(">")


@given(st.text(), st.integers(1, 200))
def test_fit_property(raw: str, limit: int) -> None:
    text = f"{escape(raw)} {mention('U0123ABC')} {escape(raw)}"

    shortened = fit(text, limit)

    assert slack_text.slack_length(shortened) <= limit
    if shortened != text:
        kept = shortened.removesuffix("…")
        assert shortened.endswith("…")
        assert text.startswith(kept)
        assert kept.count("<") == kept.count(">")
        assert not re.search(r"&[a-z]{0,3}$", kept)


def test_fit_counts_an_emoji_as_two() -> None:
    assert slack_text.slack_length("🔥é") == 3
    assert fit("🔥" * 3, 6) == "🔥" * 3
    assert fit("🔥" * 4, 6) == "🔥🔥…"


def test_slack_date() -> None:
    assert slack_date(NOW) == "<!date^1796371980^{date_short_pretty} {time}|2026-12-04 08:13 UTC>"


def test_slack_date_converts_to_utc_and_reads_naive_as_utc() -> None:
    plus_two = datetime(2026, 12, 4, 10, 13, tzinfo=UTC).astimezone(
        datetime.now(UTC).astimezone().tzinfo
    )
    assert slack_date(plus_two) == slack_date(datetime(2026, 12, 4, 10, 13, tzinfo=UTC))
    assert slack_date(NOW.replace(tzinfo=None)) == slack_date(NOW)


@pytest.mark.parametrize(
    ("user_id", "shown"),
    [
        ("U0123ABC", "<@U0123ABC>"),
        ("W0123ABC", "<@W0123ABC>"),
        ("u0123abc", "u0123abc"),
        ("U01>|<!channel", "U01&gt;|&lt;!channel"),
        ("", ""),
    ],
)
def test_mention(user_id: str, shown: str) -> None:
    assert mention(user_id) == shown


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("Xy12AbCd", "`Xy12AbCd`"),
        ("a`b", "`aˋb`"),
        ("<x>&", "`&lt;x&gt;&amp;`"),
        ("a\nb", "`a b`"),
        ("", ""),
    ],
)
def test_code(raw: str, shown: str) -> None:
    assert code(raw) == shown


# --- The approval message, status by status ---


def test_pending_message_has_everything_the_approver_needs() -> None:
    message = approval_message(make_request(), now=NOW)
    shown = all_text(message)

    assert f"<@{REQUESTER}>" in shown
    assert "`Xy12AbCd`" in shown
    assert "`52739`" in shown
    assert "Key compromise (1)" in shown
    assert "Private key leaked, INC-42" in shown
    assert "`RQ-7K3F9Q2A`" in shown
    assert slack_date(NOW + timedelta(minutes=25)) in shown
    assert "Looking the certificate up" in shown
    assert "Cancel" in shown and f"{mention(REQUESTER)} only" in shown


def test_pending_buttons_carry_only_the_request_id() -> None:
    found = buttons(approval_message(make_request(), now=NOW))

    assert set(found) == {ActionId.APPROVE, ActionId.DENY, ActionId.CANCEL}
    assert {b["value"] for b in found.values()} == {"RQ-7K3F9Q2A"}
    assert found[ActionId.APPROVE]["style"] == "primary"
    assert found[ActionId.DENY]["style"] == "danger"
    assert "style" not in found[ActionId.CANCEL]


@pytest.mark.parametrize(
    ("changes", "device_words"),
    [
        ({}, "asset ID Xy12AbCd"),
        (
            {"asset_id": None, "product_key": "pk1", "device_key": "dev-01"},
            "product key pk1 device key dev-01",
        ),
    ],
)
def test_approve_asks_for_confirmation_naming_device_and_certsn(
    changes: dict[str, Any], device_words: str
) -> None:
    found = buttons(approval_message(make_request(**changes), now=NOW))

    confirm = found[ActionId.APPROVE]["confirm"]["text"]["text"]
    assert "certSn 52739" in confirm
    assert device_words in confirm


def test_confirmation_is_not_cut_for_the_longest_valid_identifiers() -> None:
    request = make_request(
        asset_id=None,
        product_key="p" * PRODUCT_KEY_MAX,
        device_key="d" * DEVICE_KEY_MAX,
        cert_sn=CERT_SN_MAX,
    )

    confirm = buttons(approval_message(request, now=NOW))[ActionId.APPROVE]["confirm"]

    assert "…" not in confirm["text"]["text"]
    assert "d" * DEVICE_KEY_MAX in confirm["text"]["text"]
    assert str(CERT_SN_MAX) in confirm["text"]["text"]


def test_pending_past_its_expiry_cannot_be_approved_from_the_message() -> None:
    request = make_request(expires_at=NOW - timedelta(seconds=1))

    message = approval_message(request, now=NOW)

    assert set(buttons(message)) == {ActionId.REQUEST_AGAIN}
    assert "expired" in all_text(message)


STATUS_CONTENT: dict[RequestStatus, tuple[set[str], list[str]]] = {
    RequestStatus.PENDING: (
        {ActionId.APPROVE, ActionId.DENY, ActionId.CANCEL},
        ["requested", "second person"],
    ),
    RequestStatus.EXECUTING: (set(), [f"Approved by {mention(APPROVER)}, revoking…"]),
    RequestStatus.REVOKED: (set(), ["Revoked", "`enos-req-981`", mention(APPROVER)]),
    RequestStatus.REFUSED: (
        set(),
        ["refused", "`11404`", "Certificate not found", "Check the certSn with List Certificate."],
    ),
    RequestStatus.UNKNOWN: (
        {ActionId.REQUEST_AGAIN},
        ["may or may not", "List Certificate", "fresh approval", "read timeout after 30 s"],
    ),
    RequestStatus.FAILED: (
        {ActionId.REQUEST_AGAIN},
        ["Not revoked", "never reached EnOS", "connection refused"],
    ),
    RequestStatus.DENIED: (set(), ["Denied", mention(APPROVER), "wrong device"]),
    RequestStatus.CANCELLED: (set(), ["Cancelled", mention(REQUESTER)]),
    RequestStatus.EXPIRED: ({ActionId.REQUEST_AGAIN}, ["Expired", "nobody approved"]),
    RequestStatus.UNDELIVERABLE: (set(), ["could not be posted", "not_in_channel"]),
}


def test_every_status_is_described() -> None:
    assert set(STATUS_CONTENT) == set(RequestStatus)


@pytest.mark.parametrize("status", list(RequestStatus))
def test_each_status_shows_its_state_and_only_its_buttons(status: RequestStatus) -> None:
    expected_buttons, phrases = STATUS_CONTENT[status]

    message = approval_message(request_in(status), now=NOW)

    assert set(buttons(message)) == expected_buttons
    for button in buttons(message).values():
        assert button["value"] == "RQ-7K3F9Q2A"
    shown = all_text(message)
    for phrase in phrases:
        assert phrase in shown
    assert_message_fits(message)


@pytest.mark.parametrize("status", list(RequestStatus))
def test_message_text_names_every_identifier_in_one_form(status: RequestStatus) -> None:
    message = approval_message(request_in(status), now=NOW)

    assert message.text.startswith("Certificate revocation RQ-7K3F9Q2A: ")
    for words in (
        "certSn 52739",
        "asset ID Xy12AbCd",
        "reason Key compromise (1)",
        f"requested by <@{REQUESTER}>",
        f"status {status.value}",
        "Private key leaked, INC-42",
    ):
        assert words in message.text


@pytest.mark.parametrize(
    ("status", "words"),
    [
        (RequestStatus.REVOKED, [f"approved by <@{APPROVER}>", "EnOS requestId enos-req-981"]),
        (RequestStatus.REFUSED, [f"approved by <@{APPROVER}>", "EnOS code 11404"]),
        (RequestStatus.EXECUTING, [f"approved by <@{APPROVER}>"]),
        (RequestStatus.DENIED, [f"denied by <@{APPROVER}>"]),
        (RequestStatus.CANCELLED, [f"cancelled by <@{REQUESTER}>"]),
    ],
)
def test_message_text_names_the_decision(status: RequestStatus, words: list[str]) -> None:
    text = approval_message(request_in(status), now=NOW).text

    for word in words:
        assert word in text


def test_pending_text_names_no_approver() -> None:
    assert "approved by" not in approval_message(make_request(), now=NOW).text


def test_product_and_device_key_are_searchable() -> None:
    request = make_request(asset_id=None, product_key="pk1", device_key="dev-01")

    assert "product key pk1 device key dev-01" in approval_message(request, now=NOW).text


# --- The certificate the approver is asked to revoke ---


def certificate(**changes: Any) -> Certificate:
    values: dict[str, Any] = {
        "cert_sn": "52739",
        "status": CertStatus.VALID,
        "issuer": "CN=EnOS Device CA",
        "subject": "CN=Xy12AbCd, O=Plant 7",
        "sign_date": datetime(2026, 1, 1, tzinfo=UTC),
        "effective_date": datetime(2026, 1, 1, tzinfo=UTC),
        "expire_date": datetime(2027, 1, 1, tzinfo=UTC),
    }
    values.update(changes)
    return Certificate(**values)


def test_found_certificate_is_described() -> None:
    lookup = CertLookup(LookupState.FOUND, certificate())

    shown = all_text(approval_message(make_request(cert_lookup=lookup.to_json()), now=NOW))

    assert "`CN=Xy12AbCd, O=Plant 7`" in shown
    assert "`CN=EnOS Device CA`" in shown
    assert "valid" in shown
    assert slack_date(datetime(2027, 1, 1, tzinfo=UTC), slack_text.DATE) in shown
    assert ":warning:" not in shown
    assert "Looking the certificate up" not in shown


@pytest.mark.parametrize(
    ("lookup", "warning"),
    [
        (CertLookup(LookupState.NOT_BOUND), "not among the device's certificates"),
        (CertLookup(LookupState.UNREACHABLE, detail="timeout"), "could not be asked"),
        (
            CertLookup(LookupState.FOUND, certificate(status=CertStatus.REVOKED)),
            "already revoked",
        ),
        (
            CertLookup(
                LookupState.FOUND, certificate(expire_date=datetime(2026, 1, 2, tzinfo=UTC))
            ),
            "expired",
        ),
    ],
)
def test_certificate_warnings_are_shown(lookup: CertLookup, warning: str) -> None:
    shown = all_text(approval_message(make_request(cert_lookup=lookup.to_json()), now=NOW))

    assert ":warning:" in shown
    assert warning in shown


def test_unreadable_lookup_is_said_not_raised() -> None:
    shown = all_text(approval_message(make_request(cert_lookup="{not json"), now=NOW))

    assert "cannot be read" in shown


# --- Thread replies and requester notices ---

REPLY_CONTENT: dict[AuditKind, tuple[dict[str, Any], list[str]]] = {
    AuditKind.REQUESTED: ({"actor_id": REQUESTER}, ["Requested by"]),
    AuditKind.POSTED: ({"actor_id": "system"}, ["Posted"]),
    AuditKind.APPROVED: ({}, [f"Approved by {mention(APPROVER)}", "Revoking"]),
    AuditKind.REVOKED: ({"enos_request_id": "enos-req-981"}, ["revoked", "`enos-req-981`"]),
    AuditKind.REFUSED: (
        {"enos_code": 11404, "enos_msg": "Certificate not found"},
        ["refused", "`11404`", "Certificate not found", "What to do* Check the certSn."],
    ),
    AuditKind.UNKNOWN: (
        {"note": "interrupted"},
        ["may or may not", "List Certificate", "fresh approval", "Note* interrupted"],
    ),
    AuditKind.FAILED: ({}, ["never reached EnOS", "What happened* connection refused"]),
    AuditKind.DENIED: ({"note": "<!channel> wrong device"}, ["Denied", "&lt;!channel&gt;"]),
    AuditKind.CANCELLED: ({"actor_id": REQUESTER}, ["Cancelled", mention(REQUESTER)]),
    AuditKind.EXPIRED: ({"actor_id": "system"}, ["Expired", "nobody approved"]),
    AuditKind.UNDELIVERABLE: ({"note": "not_in_channel"}, ["Could not be posted"]),
}


def test_every_audit_kind_has_a_reply() -> None:
    assert set(REPLY_CONTENT) == set(AuditKind)


@pytest.mark.parametrize("kind", list(AuditKind))
def test_thread_reply_says_what_happened_and_stays_searchable(kind: AuditKind) -> None:
    changes, phrases = REPLY_CONTENT[kind]
    detail = {"refused": "Check the certSn.", "failed": "connection refused"}.get(kind.value)
    request = make_request(approver_id=APPROVER, outcome_detail=detail)

    reply = thread_reply(request, make_event(request, kind.value, **changes))

    shown = all_text(reply)
    for phrase in phrases:
        assert phrase in shown
    for words in ("certSn 52739", "asset ID Xy12AbCd", "reason Key compromise (1)"):
        assert words in reply.text
    assert "RQ-7K3F9Q2A" in reply.text
    assert f"status {kind.value}" in reply.text
    assert_message_fits(reply)
    assert_no_live_markup(reply, {REQUESTER, APPROVER})


def test_reply_shows_the_note_of_a_revocation_found_after_a_restart() -> None:
    request = request_in(RequestStatus.REVOKED, enos_request_id=None)
    note = "The bot stopped during the EnOS call; List Certificate shows it revoked."

    reply = thread_reply(request, make_event(request, "revoked", note=note))

    assert note in all_text(reply)


def test_revoked_reply_text_names_approver_and_enos_request_id() -> None:
    request = request_in(RequestStatus.REVOKED)

    reply = thread_reply(request, make_event(request, "revoked", enos_request_id="enos-req-981"))

    assert f"approved by <@{APPROVER}>" in reply.text
    assert "EnOS requestId enos-req-981" in reply.text


@pytest.mark.parametrize(
    ("error", "advice"),
    [
        ("not_in_channel", "/invite <@U0BOT1>"),
        ("channel_not_found", "REVOKE_APPROVAL_CHANNEL"),
        ("is_archived", "REVOKE_APPROVAL_CHANNEL"),
        ("", "REVOKE_APPROVAL_CHANNEL"),
    ],
)
def test_requester_is_told_why_the_request_was_not_posted(error: str, advice: str) -> None:
    request = request_in(RequestStatus.UNDELIVERABLE, outcome_detail=error)
    event = make_event(request, AuditKind.UNDELIVERABLE.value, actor_id="system", note=error)

    notice = requester_notice(request, event, bot_user_id="U0BOT1")

    shown = all_text(notice)
    assert "<#C0APPROVE1>" in shown
    assert advice in shown
    assert "not left pending" in shown
    assert "certSn 52739" in notice.text
    assert_message_fits(notice)


# --- Hostile and maximal content ---

HOSTILE_PIECES = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<!subteam^S123>",
    "<https://evil.example|bank>",
    "<http://x>",
    "<@U0INJECT9>",
    "<#C0INJECT9>",
    "<!date^1^{date}|x>",
    "*bold*",
    "_it_",
    "~s~",
    "```",
    "`",
    "&amp;",
    "&lt;",
    "&",
    "<",
    ">",
    "\x00",
    "\x1b[31m",
    "\u202e",
    "\u200b",
    "é",
    "🔥",
    "\n",
    " ",
    ":warning:",
]
hostile_text = st.one_of(
    st.text(max_size=50),
    st.lists(st.sampled_from(HOSTILE_PIECES), max_size=20).map("".join),
    st.tuples(st.sampled_from(HOSTILE_PIECES), st.integers(1, 5000)).map(lambda t: t[0] * t[1]),
)
maybe_hostile = st.one_of(st.none(), hostile_text)
user_id = st.one_of(st.sampled_from([REQUESTER, APPROVER, "U0OTHER3"]), hostile_text)
moment = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def cert_lookups(draw: st.DrawFn) -> str | None:
    choice = draw(st.integers(0, 3))
    if choice == 0:
        return None
    if choice == 1:
        return draw(hostile_text)
    cert = None
    if choice == 3:
        cert = certificate(
            cert_sn=draw(hostile_text),
            status=draw(st.sampled_from(list(CertStatus))),
            issuer=draw(hostile_text),
            subject=draw(hostile_text),
            expire_date=draw(st.one_of(st.none(), moment)),
            revoker=draw(maybe_hostile),
            revoker_reason=draw(maybe_hostile),
        )
    state = LookupState.FOUND if cert else draw(st.sampled_from(list(LookupState)))
    return CertLookup(state, cert, draw(maybe_hostile)).to_json()


@st.composite
def hostile_requests(draw: st.DrawFn) -> RevocationRequest:
    asset = draw(maybe_hostile)
    return make_request(
        id=draw(st.one_of(st.just("RQ-7K3F9Q2A"), hostile_text)),
        status=draw(st.sampled_from([*(s.value for s in RequestStatus), "bogus"])),
        requester_id=draw(user_id),
        approval_channel_id=draw(st.one_of(st.just("C0APPROVE1"), hostile_text)),
        asset_id=asset,
        product_key=None if asset else draw(maybe_hostile),
        device_key=None if asset else draw(maybe_hostile),
        cert_sn=draw(st.integers(0, CERT_SN_MAX)),
        reason=draw(st.sampled_from([*(r.value for r in RevokeReason), 2, 7, -1])),
        justification=draw(hostile_text),
        created_at=draw(moment),
        expires_at=draw(moment),
        decided_at=draw(st.one_of(st.none(), moment)),
        finished_at=draw(st.one_of(st.none(), moment)),
        approver_id=draw(st.one_of(st.none(), user_id)),
        decided_by=draw(st.one_of(st.none(), user_id)),
        decision_note=draw(maybe_hostile),
        enos_request_id=draw(maybe_hostile),
        enos_code=draw(st.one_of(st.none(), st.integers(-(2**31), 2**31))),
        enos_msg=draw(maybe_hostile),
        outcome_detail=draw(maybe_hostile),
        cert_lookup=draw(cert_lookups()),
        retry_of=draw(maybe_hostile),
    )


def ids_of(request: RevocationRequest, *extra: str | None) -> set[str]:
    people = (request.requester_id, request.approver_id, request.decided_by, *extra)
    return {p for p in people if p}


HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@HYPOTHESIS
@given(hostile_requests(), moment)
def test_approval_message_fits_slack_and_escapes_everything(
    request: RevocationRequest, now: datetime
) -> None:
    message = approval_message(request, now=now)

    assert_message_fits(message)
    assert_no_live_markup(message, ids_of(request))
    for button in buttons(message).values():
        assert button["value"] == fit(request.id, slack_text.BUTTON_VALUE)


@HYPOTHESIS
@given(
    hostile_requests(),
    st.sampled_from([*(k.value for k in AuditKind), "bogus"]),
    user_id,
    maybe_hostile,
    maybe_hostile,
    maybe_hostile,
)
def test_thread_reply_and_notice_fit_slack_and_escape_everything(
    request: RevocationRequest,
    kind: str,
    actor: str,
    note: str | None,
    enos_request_id: str | None,
    enos_msg: str | None,
) -> None:
    event = make_event(
        request,
        kind,
        actor_id=actor,
        note=note,
        enos_request_id=enos_request_id,
        enos_msg=enos_msg,
        enos_code=11404,
    )

    for message in (
        thread_reply(request, event),
        requester_notice(request, event, bot_user_id="U0BOT1"),
    ):
        assert_message_fits(message)
        assert_no_live_markup(message, ids_of(request, actor, "U0BOT1"), frozenset({"C0APPROVE1"}))


def test_maximal_valid_request_keeps_every_identifier_in_the_text() -> None:
    request = request_in(
        RequestStatus.REFUSED,
        asset_id=None,
        product_key="p" * PRODUCT_KEY_MAX,
        device_key="d" * DEVICE_KEY_MAX,
        cert_sn=CERT_SN_MAX,
        justification="&" * JUSTIFICATION_MAX,
        enos_msg="m" * 10_000,
        outcome_detail="r" * 10_000,
    )

    message = approval_message(request, now=NOW)

    assert_message_fits(message)
    for words in (
        f"certSn {CERT_SN_MAX}",
        f"product key {'p' * PRODUCT_KEY_MAX} device key {'d' * DEVICE_KEY_MAX}",
        "reason Key compromise (1)",
        f"approved by <@{APPROVER}>",
        "status refused",
        "EnOS code 11404",
    ):
        assert words in message.text
    assert "…" in all_text(message)


# --- The request modal ---


def modal_inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def test_request_modal_shape() -> None:
    view = request_modal(None, "C0ORIGIN1")

    assert view["callback_id"] == CallbackId.REQUEST_MODAL
    assert view["private_metadata"] == "C0ORIGIN1"
    inputs = modal_inputs(view)
    assert list(inputs) == [f.value for f in RequestInput]
    for optional in (RequestInput.ASSET_ID, RequestInput.PRODUCT_KEY, RequestInput.DEVICE_KEY):
        assert inputs[optional]["optional"] is True
    assert inputs[RequestInput.CERT_SN]["optional"] is False
    assert inputs[RequestInput.JUSTIFICATION]["element"]["multiline"] is True
    for block_id, block in inputs.items():
        assert block["element"]["action_id"] == block_id
    assert_view_fits(view)


def test_request_modal_max_lengths_match_the_rules() -> None:
    inputs = modal_inputs(request_modal(None, "C0ORIGIN1"))

    assert inputs[RequestInput.ASSET_ID]["element"]["max_length"] == ASSET_ID_MAX
    assert inputs[RequestInput.PRODUCT_KEY]["element"]["max_length"] == PRODUCT_KEY_MAX
    assert inputs[RequestInput.DEVICE_KEY]["element"]["max_length"] == DEVICE_KEY_MAX
    assert inputs[RequestInput.JUSTIFICATION]["element"]["max_length"] == JUSTIFICATION_MAX


def test_reason_select_offers_the_seven_reasons_and_defaults_to_unspecified() -> None:
    select = modal_inputs(request_modal(None, "C0ORIGIN1"))[RequestInput.REASON]["element"]

    assert select["type"] == "static_select"
    assert [o["value"] for o in select["options"]] == ["0", "1", "3", "4", "5", "6", "9"]
    assert select["options"][1]["text"]["text"] == "Key compromise (1)"
    assert select["initial_option"]["value"] == "0"


def test_modal_explains_how_to_name_the_device() -> None:
    view = request_modal(None, "C0ORIGIN1")
    words = " ".join(t["text"] for t in text_objects(view["blocks"]))

    assert "asset ID" in words and "product key + device key" in words


def test_prefill_fills_the_modal_and_what_was_not_understood_is_shown() -> None:
    prefill = parse_command_text(
        'asset=Xy12AbCd cert=52739 reason=superseded justification="INC-1" <!channel>'
    )
    assert isinstance(prefill, Prefill)

    view = request_modal(prefill, "C0ORIGIN1")

    inputs = modal_inputs(view)
    assert inputs[RequestInput.ASSET_ID]["element"]["initial_value"] == "Xy12AbCd"
    assert inputs[RequestInput.CERT_SN]["element"]["initial_value"] == "52739"
    assert inputs[RequestInput.JUSTIFICATION]["element"]["initial_value"] == "INC-1"
    assert inputs[RequestInput.REASON]["element"]["initial_option"]["value"] == "4"
    assert "initial_value" not in inputs[RequestInput.PRODUCT_KEY]["element"]
    notes = " ".join(t["text"] for t in text_objects(view["blocks"]))
    assert "`&lt;!channel&gt;`" in notes
    assert_view_fits(view)


def test_prefill_longer_than_an_input_is_left_out() -> None:
    view = request_modal(Prefill(asset_id="x" * 500, justification="j" * 5000), "C0ORIGIN1")

    inputs = modal_inputs(view)
    assert "initial_value" not in inputs[RequestInput.ASSET_ID]["element"]
    assert "initial_value" not in inputs[RequestInput.JUSTIFICATION]["element"]
    assert_view_fits(view)


@HYPOTHESIS
@given(st.text(max_size=3000))
def test_modal_from_any_command_text_fits_slack(command_text: str) -> None:
    parsed = parse_command_text(command_text)
    if isinstance(parsed, Prefill):
        assert_view_fits(request_modal(parsed, "C0ORIGIN1"))


def view_state(**typed: str | None) -> dict[str, Any]:
    """``view.state.values`` as Slack sends it for the request modal."""
    state: dict[str, Any] = {}
    for block_id, value in typed.items():
        if block_id == RequestInput.REASON:
            option = None if value is None else {"text": {}, "value": value}
            element = {"type": "static_select", "selected_option": option}
        else:
            element = {"type": "plain_text_input", "value": value}
        state[block_id] = {block_id: element}
    return state


def test_submission_round_trip() -> None:
    state = view_state(
        asset_id=" Xy12AbCd ",
        product_key=None,
        device_key=None,
        cert_sn="52739",
        reason="1",
        justification="INC-1",
    )

    values = submission_values(state)

    assert values == {
        "asset_id": " Xy12AbCd ",
        "product_key": None,
        "device_key": None,
        "cert_sn": "52739",
        "reason": "1",
        "justification": "INC-1",
    }
    draft = validate_submission(values)
    assert isinstance(draft, RevocationDraft)
    assert draft.cert_sn == 52739


@pytest.mark.parametrize(
    "state",
    [
        {},
        {"asset_id": None},
        {"asset_id": {}},
        {"asset_id": {"other": {"value": 5}}},
        {"reason": {"reason": {"selected_option": None}}},
        {"reason": {"reason": {"selected_option": "1"}}},
        {"cert_sn": {"cert_sn": None}},
    ],
)
def test_submission_values_tolerate_missing_parts(state: dict[str, Any]) -> None:
    values = submission_values(state)

    assert set(values) == {f.value for f in RequestInput}
    assert all(v is None for v in values.values())


def test_submission_values_read_an_element_under_another_action_id() -> None:
    values = submission_values({"asset_id": {"legacy": {"value": "Xy12"}}})

    assert values["asset_id"] == "Xy12"


# --- The deny modal, notices and help ---


def test_deny_modal() -> None:
    view = deny_modal("RQ-7K3F9Q2A")

    assert view["callback_id"] == CallbackId.DENY_MODAL
    assert view["private_metadata"] == "RQ-7K3F9Q2A"
    note = modal_inputs(view)[DenyInput.NOTE]
    assert note["optional"] is True
    assert note["element"]["action_id"] == DenyInput.NOTE
    assert_view_fits(view)


@pytest.mark.parametrize(
    ("typed", "note"),
    [(None, None), ("  ", None), (" wrong device \n", "wrong device"), ("a\x00b", "ab")],
)
def test_deny_note_read_back(typed: str | None, note: str | None) -> None:
    state = {DenyInput.NOTE.value: {DenyInput.NOTE.value: {"value": typed}}}

    assert deny_note(state) == note


def test_deny_note_missing_block() -> None:
    assert deny_note({}) is None


def test_notice_modal_fits() -> None:
    assert_view_fits(notice_modal("x" * 10_000))


def test_help_explains_the_command_and_history() -> None:
    text = help_text()

    assert len(text) <= slack_text.SECTION_TEXT
    for words in (
        "asset=",
        "product=",
        "device=",
        "cert=",
        "reason=",
        "justification=",
        "history [query]",
        "cert:",
        "asset:",
        "device:",
        "product:",
        "by:@user",
        "approver:@user",
        "status:",
        "since:",
        "until:",
    ):
        assert words in text
    assert "key_compromise" in text
