"""The HTTP edge of the bot: whatever arrives, the answer is a 4xx or a 2xx, never a 5xx,
and nothing but a correctly signed Slack payload has an effect."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import urlencode

import httpx
import pytest

from bot.slack.driver import SlackDriver
from bot.stack import LocalStack
from tests.flow_support import REQUESTER, requests_in, running_stack

FORM = "application/x-www-form-urlencoded"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("edges")
    with running_stack(f"sqlite:///{folder}/bot.sqlite3") as running:
        yield running


@pytest.fixture(scope="module")
def driver(stack: LocalStack) -> Iterator[SlackDriver]:
    with stack.driver() as slack:
        yield slack


def test_a_body_that_is_not_utf8_gets_400(driver: SlackDriver) -> None:
    answer = driver.send(b"\xff\xfe\xfa", FORM, signature="v0=" + "0" * 64)

    assert answer.status_code == 400


def test_an_oversized_body_is_refused_before_it_is_read(stack: LocalStack) -> None:
    def endless() -> Iterator[bytes]:
        chunk = b"x" * 65536
        for _ in range(10_000):  # 640 MB if it were all read
            yield chunk

    answer = httpx.post(
        f"{stack.bot_url}/slack/events",
        content=endless(),
        headers={"Content-Type": FORM},
        trust_env=False,
        timeout=30,
    )

    assert answer.status_code == 413


@pytest.mark.parametrize(
    ("timestamp", "signature"),
    [
        ("9" * 400, "v0=00"),
        (str(int(time.time())), "v0=\u00e9"),
        ("", ""),
        ("-5", "v0=00"),
        (str(int(time.time())), "v1=" + "0" * 64),
    ],
)
def test_malformed_signature_headers_get_401(
    stack: LocalStack, timestamp: str, signature: str
) -> None:
    answer = httpx.post(
        f"{stack.bot_url}/slack/events",
        content=b"command=%2Frevoke-cert&text=help",
        headers={
            "Content-Type": FORM,
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": signature.encode(),
        },
        trust_env=False,
    )

    assert answer.status_code == 401


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (urlencode({"payload": "{not json"}).encode(), FORM),
        (urlencode({"payload": "[1]"}).encode(), FORM),
        (urlencode({"payload": "null"}).encode(), FORM),
        (b"[1, 2]", "application/json"),
        (b"{broken", "application/json"),
        (b"[" * 5000 + b"]" * 5000, "application/json"),
        (urlencode({"payload": "[" * 5000 + "]" * 5000}).encode(), FORM),
    ],
)
def test_signed_bodies_slack_would_never_send_get_400(
    stack: LocalStack, driver: SlackDriver, body: bytes, content_type: str
) -> None:
    now = int(time.time())
    answer = httpx.post(
        f"{stack.bot_url}/slack/events",
        content=body,
        headers={
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": str(now),
            "X-Slack-Signature": driver.sign(body, now),
        },
        trust_env=False,
    )

    assert answer.status_code == 400


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "view_submission", "view": None, "user": {"id": REQUESTER}},
        {"type": "view_submission", "view": {"callback_id": "revoke_request_modal"}},
        {"type": "block_actions", "actions": None, "user": {"id": REQUESTER}},
        {"type": "block_actions", "user": {"id": "x'; drop table--"}, "actions": []},
        {"type": "block_actions", "user": {"id": "U0X> <!channel>"}, "actions": []},
    ],
)
def test_signed_payloads_with_missing_or_odd_parts_never_get_a_5xx(
    stack: LocalStack, driver: SlackDriver, payload: dict[str, object]
) -> None:
    answer = driver.send_interaction(payload)

    assert answer.status_code < 500
    assert requests_in(stack.database_url) == []


def test_a_listener_failing_before_its_answer_shows_a_notice_not_an_error(
    stack: LocalStack, driver: SlackDriver
) -> None:
    payload = {
        "type": "view_submission",
        "user": {"id": REQUESTER},
        "team": {"id": "T0TEAM"},
        "view": {
            "id": "V0FORM",
            "type": "modal",
            "callback_id": "revoke_request_modal",
            "state": "not a mapping",
        },
    }

    answer = driver.send_interaction(payload)

    assert answer.status_code == 200
    assert json.loads(answer.text)["response_action"] in ("update", "errors")
