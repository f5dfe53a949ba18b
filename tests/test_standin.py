"""The Slack stand-in and driver behave as Slack does, seen through Slack's own clients.

The stand-in is driven with slack_sdk's AsyncWebClient and AsyncWebhookClient over loopback;
the driver's requests are checked with slack_sdk's SignatureVerifier, with a recorder in place
of the bot, and finally against a small Bolt app, which must accept them as Slack's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl

import aiohttp
import httpx
import pytest
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.slack.driver import ImpossibleInteraction, SlackDriver
from bot.slack.standin import RejectedBySlack, SlackStandIn
from tests.slack_support import (
    BOT_TOKEN,
    SIGNING_SECRET,
    FakeClock,
    Recorder,
    served,
    served_standin,
    web_client,
)

CHANNEL = "C0ONCALL"
ALICE = "U0ALICE"
BOB = "U0BOB"
QUICK_RETRY = FixedValueRetryIntervalCalculator(0.01)


# One served stand-in and one recorder per module, reset for each test: starting and
# stopping uvicorn for every test would cost most of the suite's time.
@pytest.fixture(scope="module")
def module_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(scope="module")
def served_module_standin(module_clock: FakeClock) -> Iterator[SlackStandIn]:
    with served_standin(clock=module_clock, usergroups={"S0APPROVERS": [BOB]}) as served_one:
        yield served_one


@pytest.fixture
def clock(module_clock: FakeClock) -> FakeClock:
    module_clock.now = FakeClock().now
    return module_clock


@pytest.fixture
def standin(served_module_standin: SlackStandIn, clock: FakeClock) -> SlackStandIn:
    served_module_standin.reset()
    return served_module_standin


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return web_client(standin)


def section(text: str, block_id: str | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": text}}
    if block_id is not None:
        block["block_id"] = block_id
    return block


def button(action_id: str, text: str = "Approve", value: str = "req-1") -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": text},
        "value": value,
    }


REASONS = [
    {"text": {"type": "plain_text", "text": "Unspecified (0)"}, "value": "0"},
    {"text": {"type": "plain_text", "text": "Key compromise (1)"}, "value": "1"},
]


def request_modal() -> dict[str, Any]:
    return {
        "type": "modal",
        "callback_id": "revoke_request",
        "private_metadata": "C0ONCALL",
        "title": {"type": "plain_text", "text": "Revoke a certificate"},
        "submit": {"type": "plain_text", "text": "Request"},
        "blocks": [
            {
                "type": "input",
                "block_id": "asset",
                "label": {"type": "plain_text", "text": "Asset ID"},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "asset_id",
                    "initial_value": "Xy12AbCd",
                    "max_length": 64,
                },
            },
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": "Reason"},
                "element": {
                    "type": "static_select",
                    "action_id": "reason",
                    "options": REASONS,
                    "initial_option": REASONS[0],
                },
            },
            {
                "type": "input",
                "block_id": "why",
                "optional": True,
                "label": {"type": "plain_text", "text": "Justification"},
                "element": {"type": "plain_text_input", "action_id": "justification"},
            },
        ],
    }


async def open_modal(standin: SlackStandIn, client: AsyncWebClient, user: str) -> dict[str, Any]:
    response = await client.views_open(trigger_id=standin.new_trigger(user), view=request_modal())
    view: dict[str, Any] = response["view"]
    return view


# --- Web API: auth and method dispatch -------------------------------------------------


async def test_auth_test_answers_for_the_configured_token_only(standin: SlackStandIn) -> None:
    answer = await web_client(standin).auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == ("U0BOT", "B0BOT", "T0TEAM")
    assert answer["url"].startswith("http://127.0.0.1:")

    with pytest.raises(SlackApiError) as wrong:
        await web_client(standin, token="xoxb-someone-else").auth_test()
    assert wrong.value.response["error"] == "invalid_auth"

    with pytest.raises(SlackApiError) as missing:
        await web_client(standin, token=None).auth_test()
    assert missing.value.response["error"] == "not_authed"


async def test_form_posts_with_a_token_argument_work_like_json(standin: SlackStandIn) -> None:
    blocks = json.dumps([section("from a form")])
    async with httpx.AsyncClient(trust_env=False) as http:
        answer = await http.post(
            f"{standin.api_url}chat.postMessage",
            data={"token": BOT_TOKEN, "channel": CHANNEL, "text": "form", "blocks": blocks},
        )
    assert answer.json()["ok"] is True
    [posted] = standin.messages(CHANNEL)
    assert posted["blocks"][0]["text"]["text"] == "from a form"


async def test_unknown_method(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.api_call("chat.teleport", json={"channel": CHANNEL})
    assert raised.value.response["error"] == "unknown_method"


# --- messages --------------------------------------------------------------------------


async def test_post_update_thread_and_permalink(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    first = await client.chat_postMessage(
        channel=CHANNEL, text="request 1", blocks=[section("*request 1*", "summary")]
    )
    second = await client.chat_postMessage(channel=CHANNEL, text="request 2")
    assert first["ts"] < second["ts"]
    assert first["message"]["blocks"][0]["block_id"] == "summary"

    await client.chat_update(channel=CHANNEL, ts=first["ts"], text="request 1: approved")
    reply = await client.chat_postMessage(channel=CHANNEL, text="revoked", thread_ts=first["ts"])

    top = standin.messages(CHANNEL)
    assert [m["text"] for m in top] == ["request 1: approved", "request 2"]
    # An update without blocks keeps them, as Slack does.
    assert top[0]["blocks"][0]["text"]["text"] == "*request 1*"
    assert top[0]["reply_count"] == 1
    assert [m["text"] for m in standin.thread(CHANNEL, first["ts"])] == ["revoked"]

    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=first["ts"])
    assert link["permalink"] == f"{standin.url}/archives/{CHANNEL}/p{first['ts'].replace('.', '')}"
    reply_link = await client.chat_getPermalink(channel=CHANNEL, message_ts=reply["ts"])
    assert f"thread_ts={first['ts']}" in reply_link["permalink"]

    with pytest.raises(SlackApiError) as missing:
        await client.chat_update(channel=CHANNEL, ts="1700000000.000001", text="gone")
    assert missing.value.response["error"] == "message_not_found"


async def test_updating_with_empty_blocks_removes_them(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="x", blocks=[section("x")])
    await client.chat_update(channel=CHANNEL, ts=posted["ts"], text="y", blocks=[])
    assert "blocks" not in standin.messages(CHANNEL)[0]


async def test_a_user_id_as_channel_is_a_direct_message(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=ALICE, text="your request expired")
    assert posted["channel"] == standin.dm_channel(ALICE)
    assert [m["text"] for m in standin.messages(ALICE)] == ["your request expired"]

    with pytest.raises(SlackApiError) as raised:
        await client.chat_update(channel=ALICE, ts=posted["ts"], text="edited")
    assert raised.value.response["error"] == "channel_not_found"


@pytest.mark.parametrize(
    ("member", "archived", "channel", "error"),
    [
        (False, False, CHANNEL, "not_in_channel"),
        (True, True, CHANNEL, "is_archived"),
        (True, False, "C0NOWHERE", "channel_not_found"),
    ],
)
async def test_channels_the_bot_cannot_post_to(
    standin: SlackStandIn,
    client: AsyncWebClient,
    member: bool,
    archived: bool,
    channel: str,
    error: str,
) -> None:
    standin.set_channel(CHANNEL, member=member, archived=archived)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=channel, text="approval needed")
    assert raised.value.response["error"] == error
    assert standin.messages(CHANNEL) == []


async def test_a_message_needs_text_or_blocks(client: AsyncWebClient) -> None:
    for text in ("", "   "):
        with pytest.raises(SlackApiError) as raised:
            # api_call: slack_sdk's own chat_postMessage warns before sending empty text.
            await client.api_call("chat.postMessage", json={"channel": CHANNEL, "text": text})
        assert raised.value.response["error"] == "no_text"


async def test_a_malformed_thread_ts_is_refused(client: AsyncWebClient) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=CHANNEL, text="reply", thread_ts="0")
    assert raised.value.response["error"] == "invalid_thread_ts"


async def test_ephemeral_messages_reach_only_their_user(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    answer = await client.chat_postEphemeral(channel=CHANNEL, user=ALICE, text="not yours")
    [seen] = standin.ephemerals(ALICE)
    assert (seen["text"], seen["ts"], seen["via"]) == (
        "not yours",
        answer["message_ts"],
        "chat.postEphemeral",
    )
    assert standin.ephemerals(BOB) == []
    assert standin.messages(CHANNEL) == []


# --- Block Kit limits ------------------------------------------------------------------


def too_long_button_text() -> list[dict[str, Any]]:
    return [{"type": "actions", "elements": [button("approve", text="A" * 76)]}]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([section(f"{i}") for i in range(51)], "/blocks]"),
        ([section("x" * 3001)], "/blocks/0/text/text]"),
        (too_long_button_text(), "/blocks/0/elements/0/text/text]"),
        (
            [{"type": "actions", "elements": [button("approve", value="v" * 2001)]}],
            "/blocks/0/elements/0/value]",
        ),
        ([{"type": "actions", "elements": [button("a" * 256)]}], "/blocks/0/elements/0/action_id]"),
        ([section("x", block_id="b" * 256)], "/blocks/0/block_id]"),
        ([section("x", "same"), section("y", "same")], "/blocks/1/block_id]"),
    ],
)
async def test_over_limit_blocks_are_invalid_blocks(
    standin: SlackStandIn, client: AsyncWebClient, blocks: list[dict[str, Any]], pointer: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel=CHANNEL, text="t", blocks=blocks)
    answer = raised.value.response
    assert answer["error"] == "invalid_blocks"
    assert any(m.endswith(pointer) for m in answer["response_metadata"]["messages"]), answer
    assert standin.messages(CHANNEL) == []


async def test_blocks_at_the_limits_are_accepted(client: AsyncWebClient) -> None:
    at_limit = [section("x" * 3000) for _ in range(49)]
    at_limit.append({"type": "actions", "elements": [button("a" * 255, "A" * 75, "v" * 2000)]})
    answer = await client.chat_postMessage(channel=CHANNEL, text="t", blocks=at_limit)
    assert answer["ok"] is True


async def test_modal_limits_answer_invalid_arguments(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    view = request_modal()
    view["title"]["text"] = "T" * 25
    with pytest.raises(SlackApiError) as raised:
        await client.views_open(trigger_id=standin.new_trigger(ALICE), view=view)
    assert raised.value.response["error"] == "invalid_arguments"
    assert any(
        m.endswith("[json-pointer:/view/title/text]")
        for m in raised.value.response["response_metadata"]["messages"]
    )

    home = {"type": "home", "blocks": [section(f"{i}") for i in range(101)]}
    with pytest.raises(SlackApiError) as too_many:
        await client.views_publish(user_id=ALICE, view=home)
    assert too_many.value.response["error"] == "invalid_arguments"

    home["blocks"] = home["blocks"][:100]
    assert (await client.views_publish(user_id=ALICE, view=home))["ok"] is True


# --- views and trigger ids -------------------------------------------------------------


async def test_a_trigger_id_opens_one_view_within_three_seconds(
    standin: SlackStandIn, client: AsyncWebClient, clock: FakeClock
) -> None:
    trigger = standin.new_trigger(ALICE)
    clock.advance(2.9)
    opened = await client.views_open(trigger_id=trigger, view=request_modal())
    assert standin.last_view(ALICE) == opened["view"]
    assert opened["view"]["id"].startswith("V") and opened["view"]["hash"]

    expected = {
        trigger: "exchanged_trigger_id",
        "1234.5678.bogus": "invalid_trigger_id",
    }
    late = standin.new_trigger(ALICE)
    clock.advance(3.1)
    expected[late] = "expired_trigger_id"
    for trigger_id, error in expected.items():
        with pytest.raises(SlackApiError) as raised:
            await client.views_open(trigger_id=trigger_id, view=request_modal())
        assert raised.value.response["error"] == error


async def test_views_update_push_and_hash_conflict(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    view = await open_modal(standin, client, ALICE)
    changed = request_modal() | {"private_metadata": "changed"}
    updated = await client.views_update(view_id=view["id"], hash=view["hash"], view=changed)
    assert updated["view"]["id"] == view["id"]
    assert standin.last_view(ALICE)["private_metadata"] == "changed"  # type: ignore[index]

    with pytest.raises(SlackApiError) as conflict:
        await client.views_update(view_id=view["id"], hash=view["hash"], view=changed)
    assert conflict.value.response["error"] == "hash_conflict"

    for _ in range(2):
        await client.views_push(trigger_id=standin.new_trigger(ALICE), view=request_modal())
    assert len(standin.open_views(ALICE)) == 3
    with pytest.raises(SlackApiError) as full:
        await client.views_push(trigger_id=standin.new_trigger(ALICE), view=request_modal())
    assert full.value.response["error"] == "push_limit_reached"


async def test_home_tab_per_user(standin: SlackStandIn, client: AsyncWebClient) -> None:
    await client.views_publish(user_id=ALICE, view={"type": "home", "blocks": [section("A")]})
    await client.views_publish(user_id=ALICE, view={"type": "home", "blocks": [section("A2")]})
    assert standin.home(ALICE)["blocks"][0]["text"]["text"] == "A2"  # type: ignore[index]
    assert standin.home(BOB) is None


async def test_usergroups_and_users(standin: SlackStandIn, client: AsyncWebClient) -> None:
    assert (await client.usergroups_users_list(usergroup="S0APPROVERS"))["users"] == [BOB]
    standin.set_usergroup("S0APPROVERS", [ALICE, BOB])
    assert (await client.usergroups_users_list(usergroup="S0APPROVERS"))["users"] == [ALICE, BOB]
    with pytest.raises(SlackApiError) as raised:
        await client.usergroups_users_list(usergroup="S0NOPE")
    assert raised.value.response["error"] == "no_such_subteam"

    standin.add_user(ALICE, "alice", real_name="Alice Example")
    assert (await client.users_info(user=ALICE))["user"]["real_name"] == "Alice Example"


# --- faults ----------------------------------------------------------------------------


async def test_rate_limit_answers_429_with_retry_after(standin: SlackStandIn) -> None:
    standin.fail("chat.postMessage", 429, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        await web_client(standin).chat_postMessage(channel=CHANNEL, text="hello")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"
    assert standin.messages(CHANNEL) == []


async def test_rate_limit_then_success_with_the_retry_handler(standin: SlackStandIn) -> None:
    # Retry-After 0 keeps the test quick; slack_sdk still waits up to a second of jitter.
    standin.fail("chat.postMessage", 429, retry_after=0)
    client = web_client(standin, AsyncRateLimitErrorRetryHandler(max_retry_count=1))
    await client.chat_postMessage(channel=CHANNEL, text="hello")
    assert [c.status for c in standin.calls("chat.postMessage")] == [429, 200]
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["hello"]


@pytest.mark.parametrize(("status", "body"), [(500, "html"), (503, "empty")])
async def test_server_error_then_success_with_the_retry_handler(
    standin: SlackStandIn, status: int, body: str
) -> None:
    standin.fail("chat.postMessage", status, body=body)  # type: ignore[arg-type]
    with pytest.raises(SlackApiError) as raised:
        await web_client(standin).chat_postMessage(channel=CHANNEL, text="lost")
    assert raised.value.response.status_code == status

    standin.fail("chat.postMessage", status, body=body)  # type: ignore[arg-type]
    handler = AsyncServerErrorRetryHandler(max_retry_count=1, interval_calculator=QUICK_RETRY)
    await web_client(standin, handler).chat_postMessage(channel=CHANNEL, text="hello")
    assert [c.status for c in standin.calls("chat.postMessage")] == [status, status, 200]
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["hello"]


async def test_dropped_connection(standin: SlackStandIn) -> None:
    standin.drop("chat.postMessage")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await web_client(standin).chat_postMessage(channel=CHANNEL, text="lost")

    standin.drop("chat.postMessage")
    handler = AsyncConnectionErrorRetryHandler(max_retry_count=1, interval_calculator=QUICK_RETRY)
    await web_client(standin, handler).chat_postMessage(channel=CHANNEL, text="hello")
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["hello"]


async def test_injected_error_answers_then_normal_service(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    standin.fail_with_error("*", "token_revoked", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            await client.auth_test()
        assert raised.value.response["error"] == "token_revoked"
    assert (await client.auth_test())["ok"] is True


async def test_latency_delays_the_answer(standin: SlackStandIn, client: AsyncWebClient) -> None:
    standin.set_latency(0.3, "auth.test")
    started = time.monotonic()
    await client.auth_test()
    assert time.monotonic() - started >= 0.3


async def test_control_api_sets_faults_and_shows_state(standin: SlackStandIn) -> None:
    async with httpx.AsyncClient(base_url=standin.url, trust_env=False) as http:
        await http.post("/_standin/faults", json={"method": "chat.postMessage", "error": "x_y"})
        with pytest.raises(SlackApiError) as raised:
            await web_client(standin).chat_postMessage(channel=CHANNEL, text="a")
        assert raised.value.response["error"] == "x_y"
        trigger = (await http.post("/_standin/triggers", json={"user_id": ALICE})).json()
        state = (await http.get("/_standin/state")).json()
    assert [c["method"] for c in state["calls"]] == ["chat.postMessage"]
    await web_client(standin).views_open(trigger_id=trigger["trigger_id"], view=request_modal())
    assert standin.last_view(ALICE) is not None


# --- response URLs ---------------------------------------------------------------------


async def test_response_url_accepts_five_posts_within_thirty_minutes(
    standin: SlackStandIn, clock: FakeClock
) -> None:
    webhook = AsyncWebhookClient(standin.new_response_url(ALICE, CHANNEL))
    for n in range(5):
        assert (await webhook.send(text=f"update {n}")).status_code == 200
    refused = await webhook.send(text="one too many")
    assert (refused.status_code, refused.body) == (404, "used_url")
    assert [r["text"] for r in standin.responses(ALICE)] == [f"update {n}" for n in range(5)]
    assert [e["via"] for e in standin.ephemerals(ALICE)] == ["response_url"] * 5

    late = AsyncWebhookClient(standin.new_response_url(ALICE, CHANNEL))
    clock.advance(30 * 60 + 1)
    assert (await late.send(text="late")).body == "expired_url"


async def test_response_url_in_channel_replace_and_delete(
    standin: SlackStandIn, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="pending")
    url = standin.new_response_url(BOB, CHANNEL, message_ts=posted["ts"])
    webhook = AsyncWebhookClient(url)

    await webhook.send(text="approved", replace_original=True)
    await webhook.send(text="everyone sees this", response_type="in_channel")
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["approved", "everyone sees this"]

    await webhook.send(delete_original=True)
    assert [m["text"] for m in standin.messages(CHANNEL)] == ["everyone sees this"]
    assert standin.ephemerals(BOB) == []


# --- waiting ---------------------------------------------------------------------------


async def test_wait_for_returns_once_true_and_times_out_otherwise(
    standin: SlackStandIn,
) -> None:
    def post_later() -> None:
        time.sleep(0.1)
        httpx.post(
            f"{standin.api_url}chat.postMessage",
            json={"channel": CHANNEL, "text": "later"},
            headers={"Authorization": f"Bearer {BOT_TOKEN}"},
            trust_env=False,
        )

    thread = threading.Thread(target=post_later)
    thread.start()
    found = standin.wait_for(lambda: standin.messages(CHANNEL), timeout=5)
    thread.join()
    assert found[0]["text"] == "later"

    with pytest.raises(TimeoutError):
        standin.wait_for(lambda: standin.messages("C0OTHER"), timeout=0.1)


# --- the driver: wire format -----------------------------------------------------------


@pytest.fixture(scope="module")
def served_recorder() -> Iterator[tuple[Recorder, str]]:
    recording = Recorder()
    with served(recording.app()) as server:
        yield recording, server.url


@pytest.fixture
def recorder(served_recorder: tuple[Recorder, str]) -> tuple[Recorder, str]:
    served_recorder[0].reset()
    return served_recorder


@pytest.fixture
def driver(recorder: tuple[Recorder, str], standin: SlackStandIn) -> Iterator[SlackDriver]:
    with SlackDriver(recorder[1], SIGNING_SECRET, standin) as playing:
        yield playing


def payload_of(body: bytes) -> dict[str, Any]:
    fields = dict(parse_qsl(body.decode()))
    assert list(fields) == ["payload"]
    decoded: dict[str, Any] = json.loads(fields["payload"])
    return decoded


def test_slash_command_is_signed_and_shaped_as_slack_sends_it(
    driver: SlackDriver, recorder: tuple[Recorder, str], standin: SlackStandIn
) -> None:
    driver.slash_command(ALICE, "asset=Xy12AbCd cert=52739")
    sent = recorder[0].last

    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(sent.body, sent.headers)
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    fields = dict(parse_qsl(sent.body.decode(), keep_blank_values=True))
    assert list(fields) == [
        "token", "team_id", "team_domain", "channel_id", "channel_name", "user_id",
        "user_name", "command", "text", "api_app_id", "is_enterprise_install",
        "response_url", "trigger_id",
    ]  # fmt: skip
    assert fields["command"] == "/revoke-cert"
    assert fields["text"] == "asset=Xy12AbCd cert=52739"
    assert (fields["user_id"], fields["channel_id"], fields["team_id"]) == (
        ALICE,
        CHANNEL,
        "T0TEAM",
    )
    assert fields["response_url"].startswith(f"{standin.url}/response/")

    opened = httpx.post(
        f"{standin.api_url}views.open",
        json={"trigger_id": fields["trigger_id"], "view": request_modal()},
        headers={"Authorization": f"Bearer {BOT_TOKEN}"},
        trust_env=False,
    )
    assert opened.json()["ok"] is True
    assert standin.last_view(ALICE) is not None


def test_slash_command_acknowledgement_is_shown_to_the_user(
    driver: SlackDriver, recorder: tuple[Recorder, str], standin: SlackStandIn
) -> None:
    recorder[0].answers.append(JSONResponse({"response_type": "ephemeral", "text": "Usage: …"}))
    recorder[0].answers.append(Response(b"", status_code=500))
    driver.slash_command(ALICE, "help")
    driver.slash_command(ALICE, "help")
    seen = [(e["via"], e["text"]) for e in standin.ephemerals(ALICE)]
    assert seen == [
        ("ack", "Usage: …"),
        ("slack", '/revoke-cert failed with the error "dispatch_failed"'),
    ]


def test_forged_stale_unsigned_and_replayed_requests(
    driver: SlackDriver, recorder: tuple[Recorder, str]
) -> None:
    verifier = SignatureVerifier(SIGNING_SECRET)
    body = b"command=%2Frevoke-cert&text="
    driver.send(body, "application/x-www-form-urlencoded", signature="v0=" + "0" * 64)
    assert not verifier.is_valid_request(recorder[0].last.body, recorder[0].last.headers)

    stale_at = int(time.time()) - 6 * 60
    driver.send(body, "application/x-www-form-urlencoded", timestamp=stale_at)
    stale = recorder[0].last
    assert stale.headers["x-slack-signature"] == driver.sign(body, stale_at)
    assert not verifier.is_valid_request(stale.body, stale.headers)

    driver.send(body, "application/x-www-form-urlencoded", unsigned=True)
    assert "x-slack-signature" not in recorder[0].last.headers

    first = driver.send(body, "application/x-www-form-urlencoded")
    driver.replay(first)
    original, replayed = recorder[0].requests[-2:]
    assert replayed.body == original.body
    assert replayed.headers["x-slack-signature"] == original.headers["x-slack-signature"]
    assert verifier.is_valid_request(replayed.body, replayed.headers)


async def test_view_submission_payload(
    driver: SlackDriver,
    recorder: tuple[Recorder, str],
    standin: SlackStandIn,
    client: AsyncWebClient,
) -> None:
    view = await open_modal(standin, client, ALICE)
    driver.submit_view(ALICE, view, {"reason": "1", "justification": ""})
    sent = recorder[0].last
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(sent.body, sent.headers)
    payload = payload_of(sent.body)

    assert payload["type"] == "view_submission"
    assert payload["user"]["id"] == ALICE and payload["team"]["id"] == "T0TEAM"
    assert payload["view"]["id"] == view["id"] and payload["view"]["hash"] == view["hash"]
    assert payload["view"]["callback_id"] == "revoke_request"
    assert payload["view"]["private_metadata"] == "C0ONCALL"
    assert payload["response_urls"] == []
    assert payload["view"]["state"]["values"] == {
        "asset": {"asset_id": {"type": "plain_text_input", "value": "Xy12AbCd"}},
        "reason": {"reason": {"type": "static_select", "selected_option": REASONS[1]}},
        "why": {"justification": {"type": "plain_text_input", "value": None}},
    }
    # An empty answer closes the modal, as in Slack.
    assert standin.open_views(ALICE) == []


@pytest.mark.parametrize(
    ("inputs", "why"),
    [
        ({"reason": "9"}, "cannot choose '9'"),
        ({"asset_id": ""}, "asset_id is required"),
        ({"asset_id": "x" * 65}, "at most 64 characters"),
        ({"no_such_input": "x"}, "no input with action_id"),
    ],
)
async def test_the_driver_refuses_what_no_person_could_submit(
    driver: SlackDriver,
    recorder: tuple[Recorder, str],
    standin: SlackStandIn,
    client: AsyncWebClient,
    inputs: dict[str, str],
    why: str,
) -> None:
    view = await open_modal(standin, client, ALICE)
    with pytest.raises(ImpossibleInteraction, match=why):
        driver.submit_view(ALICE, view, inputs)
    assert recorder[0].requests == []


async def test_view_submission_answers_are_applied_as_slack_does(
    driver: SlackDriver,
    recorder: tuple[Recorder, str],
    standin: SlackStandIn,
    client: AsyncWebClient,
) -> None:
    view = await open_modal(standin, client, ALICE)
    errors = {"response_action": "errors", "errors": {"asset": "No such asset"}}
    recorder[0].answers.append(JSONResponse(errors))
    driver.submit_view(ALICE, view)
    assert [v["id"] for v in standin.open_views(ALICE)] == [view["id"]]
    assert standin.view_errors(view["id"]) == {"asset": "No such asset"}

    recorder[0].answers.append(JSONResponse({"response_action": "errors", "errors": {"x": "?"}}))
    with pytest.raises(RejectedBySlack):
        driver.submit_view(ALICE, view)

    notice = {"type": "modal", "title": {"type": "plain_text", "text": "Done"}, "blocks": []}
    recorder[0].answers.append(JSONResponse({"response_action": "update", "view": notice}))
    driver.submit_view(ALICE, view)
    assert standin.open_views(ALICE)[0]["title"]["text"] == "Done"


async def test_click_on_a_message_button(
    driver: SlackDriver,
    recorder: tuple[Recorder, str],
    standin: SlackStandIn,
    client: AsyncWebClient,
) -> None:
    actions = {"type": "actions", "block_id": "decide", "elements": [button("approve")]}
    await client.chat_postMessage(channel=CHANNEL, text="pending", blocks=[actions])
    [message] = standin.messages(CHANNEL)

    driver.click(BOB, message, "approve")
    sent = recorder[0].last
    assert SignatureVerifier(SIGNING_SECRET).is_valid_request(sent.body, sent.headers)
    payload = payload_of(sent.body)
    assert payload["type"] == "block_actions"
    assert payload["container"] == {
        "type": "message",
        "message_ts": message["ts"],
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": CHANNEL, "name": standin.channel_name(CHANNEL)}
    assert payload["message"]["ts"] == message["ts"] and "channel" not in payload["message"]
    assert payload["message"]["bot_id"] == "B0BOT"
    [action] = payload["actions"]
    assert (action["action_id"], action["block_id"], action["value"]) == (
        "approve",
        "decide",
        "req-1",
    )
    assert action["type"] == "button"
    assert payload["state"] == {"values": {}}

    await AsyncWebhookClient(payload["response_url"]).send(text="approved", replace_original=True)
    assert standin.messages(CHANNEL)[0]["text"] == "approved"

    with pytest.raises(ImpossibleInteraction):
        driver.click(BOB, message, "deny")


async def test_click_in_the_home_tab(
    driver: SlackDriver,
    recorder: tuple[Recorder, str],
    standin: SlackStandIn,
    client: AsyncWebClient,
) -> None:
    home = {"type": "home", "blocks": [{"type": "actions", "elements": [button("more")]}]}
    published = (await client.views_publish(user_id=BOB, view=home))["view"]

    driver.click_in_view(BOB, published, "more")
    payload = payload_of(recorder[0].last.body)
    assert payload["container"] == {"type": "view", "view_id": published["id"]}
    assert payload["view"]["type"] == "home"
    assert payload["actions"][0]["action_id"] == "more"

    with pytest.raises(ImpossibleInteraction):
        driver.click_in_view(ALICE, published, "more")


def test_events_retries_and_url_verification(
    driver: SlackDriver, recorder: tuple[Recorder, str], standin: SlackStandIn
) -> None:
    verifier = SignatureVerifier(SIGNING_SECRET)
    first = driver.app_home_opened(ALICE)
    sent = recorder[0].last
    assert verifier.is_valid_request(sent.body, sent.headers)
    body = json.loads(sent.body)
    assert body["type"] == "event_callback" and body["event"]["type"] == "app_home_opened"
    assert body["event"]["user"] == ALICE
    assert body["authorizations"][0]["user_id"] == standin.bot_user_id
    assert "x-slack-retry-num" not in sent.headers

    driver.retry(first, 1)
    retried = recorder[0].last
    assert (retried.headers["x-slack-retry-num"], retried.headers["x-slack-retry-reason"]) == (
        "1",
        "http_timeout",
    )
    assert json.loads(retried.body)["event_id"] == body["event_id"]
    assert verifier.is_valid_request(retried.body, retried.headers)

    driver.event({"type": "app_mention", "text": "hi"}, retry_num=2, event_id="Ev0SAME")
    assert recorder[0].last.headers["x-slack-retry-num"] == "2"

    driver.url_verification("challenge-123")
    assert json.loads(recorder[0].last.body) == {
        "token": "standin-verification-token",
        "challenge": "challenge-123",
        "type": "url_verification",
    }


# --- the driver against Bolt -----------------------------------------------------------


def bolt_app(standin: SlackStandIn) -> Starlette:
    """A small Bolt app: the command opens a modal, submission posts buttons, a click
    answers through the response URL."""
    app = AsyncApp(
        client=AsyncWebClient(token=BOT_TOKEN, base_url=standin.api_url),
        signing_secret=SIGNING_SECRET,
    )

    @app.command("/revoke-cert")
    async def command(ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        await ack()
        await client.views_open(trigger_id=body["trigger_id"], view=request_modal())

    @app.view("revoke_request")
    async def submitted(ack: AsyncAck, view: dict[str, Any], client: AsyncWebClient) -> None:
        values = view["state"]["values"]
        if values["asset"]["asset_id"]["value"] == "bad":
            await ack(response_action="errors", errors={"asset": "Unknown asset"})
            return
        await ack()
        reason = values["reason"]["reason"]["selected_option"]["value"]
        actions = {"type": "actions", "elements": [button("approve", value=reason)]}
        await client.chat_postMessage(channel=CHANNEL, text=f"reason {reason}", blocks=[actions])

    @app.action("approve")
    async def approve(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await respond(text=f"approved by {body['user']['id']}", replace_original=True)

    handler = AsyncSlackRequestHandler(app)

    async def events(request: Request) -> Response:
        return await handler.handle(request)

    return Starlette(routes=[Route("/slack/events", events, methods=["POST"])])


def test_bolt_accepts_what_the_driver_sends(standin: SlackStandIn) -> None:
    with served(bolt_app(standin)) as bot, SlackDriver(bot.url, SIGNING_SECRET, standin) as slack:
        assert slack.slash_command(ALICE).status_code == 200
        modal = standin.wait_for(lambda: standin.last_view(ALICE))

        refused = slack.submit_view(ALICE, modal, {"asset_id": "bad"})
        assert refused.json()["errors"] == {"asset": "Unknown asset"}
        assert standin.view_errors(modal["id"]) == {"asset": "Unknown asset"}

        slack.submit_view(ALICE, modal, {"reason": "1"})
        [message] = standin.wait_for(lambda: standin.messages(CHANNEL))
        assert message["text"] == "reason 1"

        assert slack.click(BOB, message, "approve").status_code == 200
        standin.wait_for(lambda: standin.messages(CHANNEL)[0]["text"] == f"approved by {BOB}")

        forged = slack.send(b"command=%2Frevoke-cert", "application/x-www-form-urlencoded",
                            signature="v0=" + "0" * 64)  # fmt: skip
        stale = slack.send(b"command=%2Frevoke-cert", "application/x-www-form-urlencoded",
                           timestamp=int(time.time()) - 301)  # fmt: skip
        assert (forged.status_code, stale.status_code) == (401, 401)
