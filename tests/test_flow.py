"""/revoke-cert end to end: real signed HTTP into the real bot, the Slack stand-in and
the EnOS sandbox on loopback, on SQLite and on PostgreSQL."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode

import pytest

from bot.slack.driver import SlackDriver
from bot.slack.ids import ActionId, DenyInput, RequestInput
from bot.stack import ONCALL_CHANNEL, LocalStack
from storage.models import RequestStatus
from tests.flow_support import (
    APPROVER,
    ASSET_ID,
    CERT_SN,
    GROUP_MEMBER,
    OTHER_APPROVER,
    OUTSIDER,
    REQUESTER,
    ask,
    audit_kinds,
    current,
    last_response,
    replies,
    requests_in,
    revoke_calls,
    running_stack,
    top_level,
    wait_for_reply,
)


def _status(stack: LocalStack) -> RequestStatus:
    (request,) = requests_in(stack.database_url)
    return request.current_status


def test_command_opens_the_modal_prefilled_from_its_text(
    stack: LocalStack, driver: SlackDriver
) -> None:
    answer = driver.slash_command(
        REQUESTER, f"asset={ASSET_ID} cert={CERT_SN} reason=key_compromise"
    )

    assert answer.status_code == 200
    view = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER))
    initial = {
        block["block_id"]: block["element"].get("initial_value")
        or (block["element"].get("initial_option") or {}).get("value")
        for block in view["blocks"]
        if block["type"] == "input"
    }
    assert initial[RequestInput.ASSET_ID.value] == ASSET_ID
    assert initial[RequestInput.CERT_SN.value] == str(CERT_SN)
    assert initial[RequestInput.REASON.value] == "1"
    assert requests_in(stack.database_url) == []


def test_help_answers_privately_and_opens_nothing(stack: LocalStack, driver: SlackDriver) -> None:
    answer = driver.slash_command(REQUESTER, "help")

    assert answer.status_code == 200
    body = answer.json()
    assert body["response_type"] == "ephemeral"
    assert "/revoke-cert" in body["text"]
    assert stack.standin.last_view(REQUESTER) is None


def test_submission_posts_a_searchable_request_and_stores_it_pending(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)

    (request,) = requests_in(stack.database_url)
    assert request.current_status is RequestStatus.PENDING
    assert request.message_ts == message["ts"] and request.permalink
    for words in (f"certSn {CERT_SN}", f"asset ID {ASSET_ID}", "Key compromise (1)", REQUESTER):
        assert words in message["text"]
    assert "<!date^" in json.dumps(message["blocks"])  # each reader sees their own time zone
    actions = {
        e.get("action_id")
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }
    assert {ActionId.APPROVE.value, ActionId.DENY.value, ActionId.CANCEL.value} <= actions
    assert audit_kinds(stack.database_url) == ["requested", "posted"]
    assert revoke_calls(stack) == []


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ({RequestInput.ASSET_ID.value: ""}, RequestInput.ASSET_ID),
        ({RequestInput.PRODUCT_KEY.value: "pk1"}, RequestInput.ASSET_ID),
        ({RequestInput.CERT_SN.value: "-5"}, RequestInput.CERT_SN),
        ({RequestInput.CERT_SN.value: "12ab"}, RequestInput.CERT_SN),
        ({RequestInput.CERT_SN.value: str(2**63)}, RequestInput.CERT_SN),
    ],
)
def test_invalid_input_gets_a_field_error_and_reaches_nobody(
    stack: LocalStack, driver: SlackDriver, inputs: dict[str, str], field: RequestInput
) -> None:
    driver.slash_command(REQUESTER, f"asset={ASSET_ID} cert={CERT_SN}")
    view = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER))

    answer = driver.submit_view(REQUESTER, view, inputs)

    body = answer.json()
    assert body["response_action"] == "errors"
    assert field.value in body["errors"]
    assert requests_in(stack.database_url) == []
    assert top_level(stack) == []
    assert stack.sandbox.calls() == []


def test_surrounding_whitespace_is_trimmed_not_an_error(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(
        stack,
        driver,
        text="",
        inputs={
            RequestInput.ASSET_ID.value: f"  {ASSET_ID}\t",
            RequestInput.CERT_SN.value: f" {CERT_SN} \n",
        },
    )

    (request,) = requests_in(stack.database_url)
    assert (request.asset_id, request.cert_sn) == (ASSET_ID, CERT_SN)


def test_approval_revokes_in_enos_and_tells_the_thread(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)

    driver.click(APPROVER, message, ActionId.APPROVE.value)

    thread = wait_for_reply(stack, message, "revoked")
    assert any("Approved by" in text and APPROVER in text for text in thread)
    (call,) = revoke_calls(stack)
    assert call.signature_ok and call.body == {"certSn": CERT_SN, "reason": 1}
    assert call.params["assetId"] == ASSET_ID
    assert (stack.sandbox.certificate(CERT_SN) or {})["certStatus"] == 1
    (request,) = requests_in(stack.database_url)
    assert request.current_status is RequestStatus.REVOKED
    final = current(stack, message, "revoked")
    assert request.enos_request_id and request.enos_request_id in final["text"]
    assert not [b for b in final["blocks"] if b["type"] == "actions"]
    assert audit_kinds(stack.database_url) == [
        "requested",
        "posted",
        "approved",
        "revoked",
    ]


def test_a_member_of_an_approver_group_may_approve(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)

    driver.click(GROUP_MEMBER, message, ActionId.APPROVE.value)

    wait_for_reply(stack, message, "revoked")
    assert requests_in(stack.database_url)[0].approver_id == GROUP_MEMBER


@pytest.mark.parametrize("action", [ActionId.APPROVE, ActionId.DENY])
def test_the_requester_cannot_decide_their_own_request(
    stack: LocalStack, driver: SlackDriver, action: ActionId
) -> None:
    message = ask(stack, driver)

    driver.click(REQUESTER, message, action.value)

    assert "second person" in last_response(stack, REQUESTER)
    assert _status(stack) is RequestStatus.PENDING
    assert stack.standin.open_views(REQUESTER) == []
    assert revoke_calls(stack) == []


def test_someone_outside_the_approvers_is_refused(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)

    driver.click(OUTSIDER, message, ActionId.APPROVE.value)

    assert "not an approver" in last_response(stack, OUTSIDER)
    assert _status(stack) is RequestStatus.PENDING
    assert revoke_calls(stack) == []


def test_a_click_on_an_approved_request_changes_nothing(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    driver.click(APPROVER, message, ActionId.APPROVE.value)
    wait_for_reply(stack, message, "revoked")

    driver.click(OTHER_APPROVER, message, ActionId.APPROVE.value)
    driver.click(OTHER_APPROVER, message, ActionId.DENY.value)

    assert f"already approved by <@{APPROVER}>" in last_response(stack, OTHER_APPROVER)
    assert len(revoke_calls(stack)) == 1
    assert audit_kinds(stack.database_url).count("approved") == 1


def test_deny_asks_for_a_reason_and_ends_the_request(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)

    driver.click(APPROVER, message, ActionId.DENY.value)
    deny_view = stack.standin.wait_for(lambda: stack.standin.last_view(APPROVER))
    driver.submit_view(APPROVER, deny_view, {DenyInput.NOTE.value: "wrong device <!here>"})

    thread = wait_for_reply(stack, message, "enied")
    assert any("wrong device &lt;!here&gt;" in text for text in thread)
    (request,) = requests_in(stack.database_url)
    assert request.current_status is RequestStatus.DENIED
    assert request.decision_note == "wrong device <!here>"
    assert not [b for b in current(stack, message, "denied")["blocks"] if b["type"] == "actions"]
    driver.click(OTHER_APPROVER, message, ActionId.APPROVE.value)
    assert "denied" in last_response(stack, OTHER_APPROVER)
    assert revoke_calls(stack) == []
    assert audit_kinds(stack.database_url)[-1] == "denied"


def test_only_the_requester_can_cancel(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)

    driver.click(APPROVER, message, ActionId.CANCEL.value)
    assert "Only the requester" in last_response(stack, APPROVER)
    assert _status(stack) is RequestStatus.PENDING

    driver.click(REQUESTER, message, ActionId.CANCEL.value)
    wait_for_reply(stack, message, "ancelled")
    assert _status(stack) is RequestStatus.CANCELLED
    driver.click(APPROVER, message, ActionId.APPROVE.value)
    assert "cancelled" in last_response(stack, APPROVER)
    assert revoke_calls(stack) == []


def test_enos_refusal_is_reported_with_its_remedy(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver, text=f"asset={ASSET_ID} cert=999999")
    assert "not among the device's certificates" in json.dumps(message["blocks"])

    driver.click(APPROVER, message, ActionId.APPROVE.value)

    thread = wait_for_reply(stack, message, "99400")
    assert any("not bound to this device" in t for t in thread)
    (request,) = requests_in(stack.database_url)
    assert request.current_status is RequestStatus.REFUSED
    assert request.enos_code == 99400


def test_a_hung_enos_call_is_reported_as_outcome_unknown(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    stack.sandbox.inject("hang", action="revoke", seconds=5)

    driver.click(APPROVER, message, ActionId.APPROVE.value)

    thread = wait_for_reply(stack, message, "may or may not", timeout=15)
    assert thread
    assert _status(stack) is RequestStatus.UNKNOWN
    assert len(revoke_calls(stack)) == 1
    final = json.dumps(current(stack, message, "unknown")["blocks"])
    assert ActionId.REQUEST_AGAIN.value in final


def test_request_again_needs_a_fresh_approval(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)
    stack.sandbox.inject("hang", action="revoke", seconds=5)
    driver.click(APPROVER, message, ActionId.APPROVE.value)
    wait_for_reply(stack, message, "may or may not", timeout=15)

    unknown = current(stack, message, "unknown")
    with ThreadPoolExecutor(3) as pool:
        list(
            pool.map(
                lambda _: driver.click(REQUESTER, unknown, ActionId.REQUEST_AGAIN.value), "abc"
            )
        )

    fresh = stack.standin.wait_for(lambda: len(top_level(stack)) == 2 and top_level(stack)[-1])
    driver.click(OTHER_APPROVER, unknown, ActionId.REQUEST_AGAIN.value)
    assert "already asked again" in last_response(stack, OTHER_APPROVER)
    statuses = sorted(r.current_status.value for r in requests_in(stack.database_url))
    assert statuses == ["pending", "unknown"]
    assert len(revoke_calls(stack)) == 1
    driver.click(OTHER_APPROVER, fresh, ActionId.APPROVE.value)
    wait_for_reply(stack, fresh, "revoked")
    assert len(revoke_calls(stack)) == 2


def test_unapproved_requests_expire_on_their_own(database_url: str) -> None:
    with running_stack(database_url, revoke_request_ttl="1s") as stack, stack.driver() as driver:
        message = ask(stack, driver)

        wait_for_reply(stack, message, "xpired", timeout=10)

        assert _status(stack) is RequestStatus.EXPIRED
        driver.click(APPROVER, message, ActionId.APPROVE.value)
        assert "expired" in last_response(stack, APPROVER)
        assert revoke_calls(stack) == []


def test_a_channel_the_bot_is_not_in_gets_the_requester_told(database_url: str) -> None:
    with running_stack(database_url) as stack, stack.driver() as driver:
        stack.standin.set_channel(ONCALL_CHANNEL, member=False, name="oncall")
        driver.slash_command(REQUESTER, f"asset={ASSET_ID} cert={CERT_SN}")
        view = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER))
        driver.submit_view(REQUESTER, view)

        def told() -> bool:
            notes = stack.standin.ephemerals(REQUESTER) + stack.standin.messages(
                stack.standin.dm_channel(REQUESTER)
            )
            return any("invite" in str(note.get("text", "")).lower() for note in notes)

        stack.standin.wait_for(told, timeout=10)
        assert _status(stack) is RequestStatus.UNDELIVERABLE


def test_user_text_is_escaped_in_everything_posted(stack: LocalStack, driver: SlackDriver) -> None:
    hostile = "<!channel> <https://evil.example|docs> *bold* & <@U0BOSS>"

    message = ask(stack, driver, inputs={RequestInput.JUSTIFICATION.value: hostile})

    posted = json.dumps(message)
    assert "<!channel>" not in posted and "<https://evil" not in posted
    assert "&lt;!channel&gt;" in message["text"]


def _signed_command(driver: SlackDriver) -> bytes:
    return urlencode(
        {"command": "/revoke-cert", "text": "help", "user_id": REQUESTER, "team_id": "T0TEAM"}
    ).encode()


@pytest.mark.parametrize("how", ["forged", "missing", "stale"])
def test_unsigned_forged_or_stale_requests_get_401_and_change_nothing(
    stack: LocalStack, driver: SlackDriver, how: str
) -> None:
    message = ask(stack, driver)
    payload = {
        "type": "block_actions",
        "user": {"id": APPROVER},
        "actions": [{"action_id": ActionId.APPROVE.value, "value": "RQ-0"}],
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    form = "application/x-www-form-urlencoded"

    if how == "forged":
        answer = driver.send(body, form, signature="v0=" + "0" * 64)
    elif how == "missing":
        answer = driver.send(body, form, unsigned=True)
    else:
        answer = driver.send(body, form, timestamp=int(time.time()) - 6 * 60)

    assert answer.status_code == 401
    assert _status(stack) is RequestStatus.PENDING
    assert revoke_calls(stack) == []
    assert message


def test_a_replayed_submission_is_refused_and_creates_nothing(
    stack: LocalStack, driver: SlackDriver
) -> None:
    driver.slash_command(REQUESTER, f"asset={ASSET_ID} cert={CERT_SN}")
    view = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER))
    first = driver.submit_view(REQUESTER, view)

    again = driver.replay(first)

    assert first.status_code == 200
    assert again.status_code == 401
    assert len(requests_in(stack.database_url)) == 1


def test_healthz_answers(stack: LocalStack) -> None:
    import httpx

    answer = httpx.get(f"{stack.bot_url}/healthz", trust_env=False)

    assert answer.status_code == 200 and answer.json() == {"ok": True}


def test_thread_replies_name_every_identifier(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)
    driver.click(APPROVER, message, ActionId.APPROVE.value)

    thread = wait_for_reply(stack, message, "revoked")

    for text in thread:
        assert f"certSn {CERT_SN}" in text and ASSET_ID in text and REQUESTER in text
    assert replies(stack, message)


def test_a_click_after_expiry_but_before_the_sweep_is_told_it_expired(database_url: str) -> None:
    with (
        running_stack(database_url, revoke_request_ttl="2s", revoke_sweep_interval="1h") as stack,
        stack.driver() as driver,
    ):
        message = ask(stack, driver)
        time.sleep(2.5)

        driver.click(APPROVER, message, ActionId.APPROVE.value)

        assert "expired" in last_response(stack, APPROVER)
        assert revoke_calls(stack) == []


@pytest.mark.parametrize("action", [ActionId.APPROVE, ActionId.DENY, ActionId.CANCEL])
def test_a_failure_after_a_click_is_told_to_the_clicker_and_changes_nothing(
    stack: LocalStack, driver: SlackDriver, monkeypatch: pytest.MonkeyPatch, action: ActionId
) -> None:
    message = ask(stack, driver)
    assert stack.runtime is not None

    async def database_down(request_id: str) -> None:
        raise ConnectionError("database unavailable")

    monkeypatch.setattr(stack.runtime.service, "get", database_down)

    answer = driver.click(APPROVER, message, action.value)

    assert answer.status_code == 200
    assert "went wrong on the bot's side and nothing was changed" in last_response(stack, APPROVER)
    assert _status(stack) is RequestStatus.PENDING
    assert revoke_calls(stack) == []
