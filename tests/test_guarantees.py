"""The two-person rule under stress: exactly once, across processes, after crashes,
through Slack's failures, with the facts in front of the approver."""

from __future__ import annotations

import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.slack.driver import SlackDriver
from bot.slack.ids import ActionId
from bot.stack import ONCALL_CHANNEL, LocalStack
from storage.models import RequestStatus
from tests.flow_support import (
    APPROVER,
    ASSET_ID,
    CERT_SN,
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
from tests.process_support import ServeProcess

APPROVERS = [f"U0APPR{i:02d}" for i in range(10)]


# --- 1. what the approver sees ---


@pytest.mark.parametrize(
    ("command", "warning"),
    [
        (f"asset={ASSET_ID} cert=41877", "already revoked"),
        ("asset=Qr34EfGh cert=38001", "has expired"),
        (f"asset={ASSET_ID} cert=777", "not among the device's certificates"),
        ("asset=NoSuchDev cert=777", "not among the device's certificates"),
    ],
)
def test_the_approver_is_warned_about_a_certificate_that_cannot_be_revoked(
    stack: LocalStack, driver: SlackDriver, command: str, warning: str
) -> None:
    message = ask(stack, driver, text=command)

    assert warning in json.dumps(message["blocks"])


def test_the_approver_sees_the_certificate_being_revoked(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)

    shown = json.dumps(message["blocks"])
    cert = stack.sandbox.certificate(CERT_SN) or {}
    assert cert["subject"] in shown and cert["issuer"] in shown
    assert "valid" in shown


def test_an_unreachable_enos_is_said_and_the_request_still_stands(
    stack: LocalStack, driver: SlackDriver
) -> None:
    stack.sandbox.inject("http_500", action="list", times=None)

    message = ask(stack, driver)

    assert "could not be asked" in json.dumps(message["blocks"])
    assert requests_in(stack.database_url)[0].current_status is RequestStatus.PENDING
    stack.sandbox.clear_faults()
    driver.click(APPROVER, message, ActionId.APPROVE.value)
    wait_for_reply(stack, message, "revoked")


# --- 2. who may act, checked at click time ---


def test_group_membership_counts_when_the_click_arrives(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    stack.standin.set_usergroup("S0LEADS", [OUTSIDER])  # joined after the message was posted

    driver.click(OUTSIDER, message, ActionId.APPROVE.value)

    wait_for_reply(stack, message, "revoked")
    assert requests_in(stack.database_url)[0].approver_id == OUTSIDER


def test_a_listed_requester_still_cannot_approve_their_own_request(database_url: str) -> None:
    with (
        running_stack(database_url, revoke_approvers=f"{REQUESTER},{APPROVER}") as stack,
        stack.driver() as driver,
    ):
        message = ask(stack, driver)

        driver.click(REQUESTER, message, ActionId.APPROVE.value)

        assert "second person" in last_response(stack, REQUESTER)
        assert revoke_calls(stack) == []


def test_only_listed_requesters_may_ask(database_url: str) -> None:
    with (
        running_stack(database_url, revoke_requesters=APPROVER) as stack,
        stack.driver() as driver,
    ):
        driver.slash_command(REQUESTER, f"asset={ASSET_ID} cert={CERT_SN}")
        view = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER))

        driver.submit_view(REQUESTER, view)

        shown = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER))
        assert "not allowed to request" in json.dumps(shown)
        assert requests_in(stack.database_url) == []


def test_requests_only_from_allowed_channels(database_url: str) -> None:
    with (
        running_stack(database_url, revoke_allowed_channels="C0ELSEWHERE") as stack,
        stack.driver() as driver,
    ):
        answer = driver.slash_command(REQUESTER, f"asset={ASSET_ID} cert={CERT_SN}")

        assert "C0ELSEWHERE" in answer.json()["text"]
        assert stack.standin.last_view(REQUESTER) is None


# --- 3. exactly once ---


def test_a_double_click_makes_one_revoke_call(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda _: driver.click(APPROVER, message, ActionId.APPROVE.value), [1, 2]))

    wait_for_reply(stack, message, "revoked")
    assert len(revoke_calls(stack)) == 1
    assert "already approved" in last_response(stack, APPROVER)


def test_slacks_redelivery_of_a_click_makes_one_revoke_call(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)

    first = driver.click(APPROVER, message, ActionId.APPROVE.value)
    driver.retry(first, retry_num=1)

    wait_for_reply(stack, message, "revoked")
    assert len(revoke_calls(stack)) == 1
    assert audit_kinds(stack.database_url).count("approved") == 1


@pytest.mark.slow
def test_fifty_clicks_on_two_processes_make_one_revoke(postgres_url: str, tmp_path: Path) -> None:
    stack = LocalStack(postgres_url, revoke_approvers=",".join(APPROVERS))
    stack.start(with_bot=False)
    servers = [ServeProcess(stack.env(), tmp_path / f"serve{i}.log") for i in range(2)]
    drivers = [stack.driver(server.url) for server in servers]
    try:
        message = ask(stack, drivers[0])

        def click(i: int) -> int:
            answer = drivers[i % 2].click(APPROVERS[i % 10], message, ActionId.APPROVE.value)
            return answer.status_code

        with ThreadPoolExecutor(50) as pool:
            statuses = list(pool.map(click, range(50)))

        assert statuses == [200] * 50
        wait_for_reply(stack, message, "revoked", timeout=20)
        assert len(revoke_calls(stack)) == 1
        (request,) = requests_in(postgres_url)
        refusals = [
            response
            for user in APPROVERS
            for response in stack.standin.responses(user)
            if f"already approved by <@{request.approver_id}>" in str(response.get("text"))
        ]
        assert len(refusals) == 49
        kinds = audit_kinds(postgres_url)
        assert kinds.count("approved") == 1 and kinds.count("revoked") == 1
    finally:
        for driver in drivers:
            driver.close()
        for server in servers:
            server.stop()
        stack.stop()


# --- 4. crash safety ---


@pytest.mark.slow
@pytest.mark.parametrize("took_effect", [True, False])
def test_a_process_killed_mid_call_is_finished_by_the_next_without_a_second_revoke(
    database_url: str, tmp_path: Path, took_effect: bool
) -> None:
    stack = LocalStack(
        database_url,
        revoke_approvers=APPROVER,
        revoke_execution_lease="3s",
        revoke_delivery_lease="3s",
        enos_total_timeout=2,
    )
    stack.start(with_bot=False)
    first = ServeProcess(stack.env(), tmp_path / "first.log")
    second: ServeProcess | None = None
    try:
        with stack.driver(first.url) as driver:
            message = ask(stack, driver)
            stack.sandbox.inject("hold", action="revoke", takes_effect=took_effect)
            driver.click(APPROVER, message, ActionId.APPROVE.value)
            stack.standin.wait_for(lambda: stack.sandbox.held("revoke"), timeout=10)

        first.kill()
        second = ServeProcess(stack.env(), tmp_path / "second.log")

        words = "status revoked" if took_effect else "may or may not"
        wait_for_reply(stack, message, words, timeout=30)
        stack.sandbox.release()
        (request,) = requests_in(database_url)
        expected = RequestStatus.REVOKED if took_effect else RequestStatus.UNKNOWN
        assert request.current_status is expected
        assert len(revoke_calls(stack)) == 1
        assert audit_kinds(database_url)[-1] == expected.value
        final = json.dumps(current(stack, message, expected.value)["blocks"])
        assert (ActionId.REQUEST_AGAIN.value in final) is (not took_effect)
    finally:
        if second is not None:
            second.stop()
        stack.stop()


# --- 5. Slack failures lose nothing ---


def test_slack_rate_limits_and_errors_delay_messages_but_lose_none(
    stack: LocalStack, driver: SlackDriver
) -> None:
    stack.standin.fail("chat.postMessage", status=429, times=3, retry_after=1)
    stack.standin.fail("chat.update", status=500, times=3)

    message = ask(stack, driver)
    stack.standin.fail("chat.postMessage", status=500, times=2)
    driver.click(APPROVER, message, ActionId.APPROVE.value)

    wait_for_reply(stack, message, "revoked", timeout=30)
    stack.standin.wait_for(lambda: "status revoked" in current(stack, message)["text"], timeout=30)
    assert len(top_level(stack)) == 1
    thread = replies(stack, message)
    assert len(thread) == 2, thread
    assert len(revoke_calls(stack)) == 1


def test_messages_owed_when_the_bot_stops_are_sent_after_it_starts(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    stack.standin.fail("chat.postMessage", status=503, times=None)
    driver.click(APPROVER, message, ActionId.APPROVE.value)
    stack.standin.wait_for(
        lambda: requests_in(stack.database_url)[0].status == "revoked", timeout=15
    )

    stack.stop_bot()
    stack.standin.clear_faults()
    stack.start_bot()

    thread = wait_for_reply(stack, message, "revoked", timeout=30)
    assert len(thread) == 2


# --- 8. hostile input never reaches EnOS unchecked ---


def test_slash_command_text_of_any_shape_gets_an_answer_not_an_error(
    stack: LocalStack, driver: SlackDriver
) -> None:
    texts = [
        "\x00\x01\x1b[31m",
        "asset=" + "A" * 5000,
        "cert=99999999999999999999999999 reason=nope",
        "<!channel> <https://x|y> *b*",
        'justification="unterminated',
        "history cert:",
        "🔥" * 300,
    ]
    for text in texts:
        answer = driver.slash_command(REQUESTER, text)
        assert answer.status_code == 200, (text, answer.text)
    assert stack.sandbox.calls("revoke") == []
    assert not re.search(r"<!channel>", json.dumps(stack.standin.state()))


def test_losing_the_approval_channel_later_delays_the_outcome_and_tells_people(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    assert stack.runtime is not None
    stack.runtime.delivery.lost_channel_retry_seconds = 1
    stack.standin.set_channel(ONCALL_CHANNEL, member=False, name="oncall")  # bot removed

    driver.click(APPROVER, message, ActionId.APPROVE.value)

    def told(user: str) -> bool:
        texts = [m["text"] for m in stack.standin.messages(user)]
        return any("status revoked" in text for text in texts)

    stack.standin.wait_for(lambda: told(REQUESTER) and told(APPROVER), timeout=20)
    assert "status pending" in current(stack, message)["text"]
    stack.standin.set_channel(ONCALL_CHANNEL, member=True, name="oncall")  # invited back
    stack.standin.wait_for(lambda: "status revoked" in current(stack, message)["text"], timeout=20)
    assert len(revoke_calls(stack)) == 1
