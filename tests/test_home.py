"""The App Home tab: what waits for the viewer, their open requests, the latest
revocations; and Approve, Deny and Cancel clicked there, decided by the message's
rules, answered without a response_url, and the tab drawn again afterwards."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.slack.driver import SlackDriver
from bot.slack.history_view import HistoryBlock, history_message, home_view
from bot.slack.ids import ActionId, DenyInput
from bot.stack import ONCALL_CHANNEL, LocalStack
from commands.history import HistoryPage, HomeLists
from storage.db import Database
from storage.models import RequestStatus, utcnow
from tests.flow_support import (
    APPROVER,
    CERT_SN,
    GROUP_MEMBER,
    OTHER_APPROVER,
    OUTSIDER,
    REQUESTER,
    ask,
    current,
    last_response,
    requests_in,
    revoke_calls,
)
from tests.history_support import stored_request
from tests.test_surfaces import (
    NOW,
    assert_message_fits,
    assert_view_fits,
    live_markup,
    request_in,
    text_objects,
)


def _open_home(stack: LocalStack, driver: SlackDriver, user: str) -> dict[str, Any]:
    before = len(stack.standin.calls("views.publish"))
    answer = driver.app_home_opened(user)
    assert answer.status_code == 200
    stack.standin.wait_for(lambda: len(stack.standin.calls("views.publish")) > before)
    home = stack.standin.home(user)
    assert home is not None
    return home


def _text(view: dict[str, Any]) -> str:
    return "\n".join(t["text"] for t in text_objects(view["blocks"]))


def _section(view: dict[str, Any], title: str) -> str:
    """The text under one of the Home tab's headings, up to the next divider."""
    collected, inside = [], False
    for block in view["blocks"]:
        if block["type"] == "divider":
            inside = False
        texts = [t["text"] for t in text_objects(block)]
        if any(f"*{title}*" == t for t in texts):
            inside = True
            continue
        if inside:
            collected.extend(texts)
    return "\n".join(collected)


def _buttons(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (element["action_id"], element.get("value", ""))
        for block in view["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]


def _opened_view(stack: LocalStack, user: str) -> dict[str, Any]:
    view = stack.standin.wait_for(lambda: stack.standin.last_view(user))
    assert view is not None
    return view


def _home_changed(stack: LocalStack, user: str, since: int) -> dict[str, Any]:
    stack.standin.wait_for(lambda: len(stack.standin.calls("views.publish")) > since, timeout=10)
    home = stack.standin.home(user)
    assert home is not None
    return home


def test_an_approver_sees_what_waits_for_them_with_the_message_buttons(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(stack, driver)
    (request,) = requests_in(stack.database_url)

    home = _open_home(stack, driver, APPROVER)

    waiting = _section(home, "Waiting for your approval")
    assert f"`{request.id}`" in waiting and f"`{CERT_SN}`" in waiting
    assert f"<@{REQUESTER}>" in waiting
    assert (ActionId.APPROVE.value, request.id) in _buttons(home)
    assert (ActionId.DENY.value, request.id) in _buttons(home)
    approve = next(
        e for b in home["blocks"] if b["type"] == "actions" for e in b["elements"]
        if e["action_id"] == ActionId.APPROVE.value
    )  # fmt: skip
    assert "EnOS cannot undo" in approve["confirm"]["text"]["text"]
    assert "Nothing waits" not in waiting


def test_the_requester_sees_their_open_request_not_an_approve_button(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(stack, driver)
    (request,) = requests_in(stack.database_url)

    home = _open_home(stack, driver, REQUESTER)

    assert f"`{request.id}`" in _section(home, "Your open requests")
    assert f"`{request.id}`" not in _section(home, "Waiting for your approval")
    assert _buttons(home) == [(ActionId.CANCEL.value, request.id)]


def test_someone_who_may_not_approve_is_told_so(stack: LocalStack, driver: SlackDriver) -> None:
    ask(stack, driver)

    home = _open_home(stack, driver, OUTSIDER)

    assert "You are not an approver" in _section(home, "Waiting for your approval")
    assert _buttons(home) == []


def test_a_member_of_an_approver_group_sees_the_request(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(stack, driver)

    home = _open_home(stack, driver, GROUP_MEMBER)

    assert ActionId.APPROVE.value in [action for action, _ in _buttons(home)]


def test_an_unknown_group_membership_is_said_not_guessed(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(stack, driver)
    stack.standin.fail_with_error("usergroups.users.list", "missing_scope", times=None)

    home = _open_home(stack, driver, GROUP_MEMBER)

    assert "could not check whether you approve" in _section(home, "Waiting for your approval")
    assert _buttons(home) == []


def test_approve_in_the_home_tab_revokes_and_redraws_the_tab(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(stack, driver)
    (request,) = requests_in(stack.database_url)
    home = _open_home(stack, driver, APPROVER)
    published = len(stack.standin.calls("views.publish"))

    answer = driver.click_in_view(APPROVER, home, ActionId.APPROVE.value)

    assert answer.status_code == 200
    stack.standin.wait_for(lambda: len(revoke_calls(stack)) == 1, timeout=10)
    redrawn = _home_changed(stack, APPROVER, published)
    assert f"`{request.id}`" not in _section(redrawn, "Waiting for your approval")
    stack.standin.wait_for(
        lambda: requests_in(stack.database_url)[0].current_status is RequestStatus.REVOKED
    )
    assert f"`{request.id}`" in _section(_open_home(stack, driver, APPROVER), "Latest revocations")


def test_a_refusal_from_the_home_tab_reaches_the_clicker(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    stale = _open_home(stack, driver, APPROVER)
    driver.click(OTHER_APPROVER, message, ActionId.APPROVE.value, channel_id=ONCALL_CHANNEL)
    stack.standin.wait_for(lambda: len(revoke_calls(stack)) == 1, timeout=10)
    published = len(stack.standin.calls("views.publish"))

    driver.click_in_view(APPROVER, stale, ActionId.APPROVE.value)

    notice = _opened_view(stack, APPROVER)
    assert f"already approved by <@{OTHER_APPROVER}>" in _text(notice)
    redrawn = _home_changed(stack, APPROVER, published)
    assert _buttons(redrawn) == []
    assert len(revoke_calls(stack)) == 1


def test_when_no_modal_can_open_the_refusal_comes_as_a_direct_message(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    stale = _open_home(stack, driver, APPROVER)
    driver.click(OTHER_APPROVER, message, ActionId.APPROVE.value, channel_id=ONCALL_CHANNEL)
    stack.standin.wait_for(lambda: len(revoke_calls(stack)) == 1, timeout=10)
    stack.standin.fail_with_error("views.open", "expired_trigger_id")

    driver.click_in_view(APPROVER, stale, ActionId.APPROVE.value)

    dm = stack.standin.wait_for(lambda: stack.standin.messages(APPROVER))
    assert "already approved" in dm[-1]["text"]


def test_deny_from_the_home_tab_opens_the_deny_form_and_redraws_after_it(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(stack, driver)
    (request,) = requests_in(stack.database_url)
    home = _open_home(stack, driver, APPROVER)

    driver.click_in_view(APPROVER, home, ActionId.DENY.value)
    form = _opened_view(stack, APPROVER)
    published = len(stack.standin.calls("views.publish"))
    driver.submit_view(APPROVER, form, {DenyInput.NOTE.value: "wrong device"})

    redrawn = _home_changed(stack, APPROVER, published)
    assert f"`{request.id}`" not in _section(redrawn, "Waiting for your approval")
    (denied,) = requests_in(stack.database_url)
    assert denied.current_status is RequestStatus.DENIED and denied.decided_by == APPROVER
    assert revoke_calls(stack) == []


def test_cancel_from_the_home_tab_by_the_requester(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)
    home = _open_home(stack, driver, REQUESTER)
    published = len(stack.standin.calls("views.publish"))

    driver.click_in_view(REQUESTER, home, ActionId.CANCEL.value)

    redrawn = _home_changed(stack, REQUESTER, published)
    assert "You have no open requests" in _section(redrawn, "Your open requests")
    stack.standin.wait_for(lambda: "Cancelled" in str(current(stack, message)["blocks"]))


def test_message_clicks_still_answer_through_the_response_url(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)

    driver.click(REQUESTER, message, ActionId.APPROVE.value, channel_id=ONCALL_CHANNEL)

    assert "cannot approve" in last_response(stack, REQUESTER)
    assert stack.standin.last_view(REQUESTER) is not None  # only the request form it had
    assert stack.standin.calls("views.publish") == []


def test_other_tabs_are_left_alone(stack: LocalStack, driver: SlackDriver) -> None:
    driver.app_home_opened(APPROVER, tab="messages")
    ask(stack, driver)  # by the time this is done, the event has long been handled

    assert stack.standin.calls("views.publish") == []


# --- The surfaces themselves ---


def _lists(count: int, **changes: Any) -> HomeLists:
    long_text = "x & <!channel> " * 200
    requests = [
        request_in(
            RequestStatus.PENDING,
            id=f"RQ-{index:08d}",
            justification=long_text,
            permalink=f"https://standin.example/archives/C0/p{index}?a=1&b=2",
            **changes,
        )
        for index in range(count)
    ]
    revoked = [request_in(RequestStatus.REVOKED, id=f"RQ-R{index:07d}") for index in range(count)]
    return HomeLists(requests, True, requests, revoked)


def test_a_full_home_tab_fits_slacks_limits_and_escapes_text() -> None:
    view = home_view(_lists(10), viewer_id=APPROVER, may_approve=True, now=NOW)

    assert_view_fits(view)
    assert len(view["blocks"]) <= 100
    assert "lists them all" in _text(view)
    for text in (t["text"] for t in text_objects(view["blocks"]) if t["type"] == "mrkdwn"):
        problems = [
            p for p in live_markup(text, {APPROVER, "U0REQUEST1", "W0APPROVE2"}, frozenset())
            if not p.startswith("<https://standin.example/")
        ]  # fmt: skip
        assert not problems, text
    assert "&amp;b=2|Open the thread>" in _text(view)


def test_a_full_history_page_fits_slacks_limits() -> None:
    lists = _lists(10, product_key="p" * 64, device_key="d" * 128, asset_id=None)
    page = HistoryPage("q" * 500, lists.awaiting_them, 30, "40.1796371980000000.RQ-00000009")

    message = history_message(page)

    assert_message_fits(message)
    assert "requests 31–40" in message.text
    assert any(b.get("block_id") == HistoryBlock.MORE.value for b in message.blocks)


@pytest.mark.parametrize("permalink", ["javascript:alert(1)", "https://x|y", "https://a b", None])
def test_a_doubtful_permalink_is_not_linked(permalink: str | None) -> None:
    request = request_in(RequestStatus.REVOKED, permalink=permalink)

    message = history_message(HistoryPage("", [request], 0, None))

    assert "Open the thread" not in str(message.blocks)
    assert "No link to the thread" in str(message.blocks)


def test_expired_requests_do_not_wait_for_anyone(stack: LocalStack, driver: SlackDriver) -> None:
    db = Database(stack.database_url)
    try:
        stored_request(db, created_at=utcnow() - timedelta(hours=2))  # past its expiry
    finally:
        db.dispose()

    home = _open_home(stack, driver, APPROVER)

    assert "Nothing waits for your approval" in _section(home, "Waiting for your approval")
