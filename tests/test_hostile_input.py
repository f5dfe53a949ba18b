"""Arbitrary input over real HTTP: never a 5xx, never EnOS for invalid input, and every
message the bot posts for an accepted request is one Slack accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.slack.driver import SlackDriver
from bot.slack.ids import RequestInput
from bot.stack import LocalStack
from storage.models import RequestStatus
from tests.flow_support import REQUESTER, requests_in, running_stack, top_level

FIELDS = [field.value for field in RequestInput]
MARKUP = st.sampled_from(
    ["<!channel>", "<!here>", "<@U0BOSS>", "<https://evil.example|click>", "*b*", "`", "&amp;"]
)
TEXT = st.one_of(
    st.none(),
    st.text(max_size=60),
    st.text(st.characters(codec="utf-8"), max_size=4000),
    st.lists(MARKUP, max_size=8).map(" ".join),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["52739", " 52739 ", "Xy12AbCd", "pk1", "dev-01", "0", "9223372036854775807"]),
)
STRICT = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    folder = tmp_path_factory.mktemp("hostile")
    with running_stack(f"sqlite:///{folder}/bot.sqlite3") as running:
        yield running


@pytest.fixture(scope="module")
def driver(stack: LocalStack) -> Iterator[SlackDriver]:
    with stack.driver() as slack:
        yield slack


@pytest.fixture(scope="module")
def modal(stack: LocalStack, driver: SlackDriver) -> dict[str, Any]:
    driver.slash_command(REQUESTER, "")
    view = stack.standin.wait_for(lambda: stack.standin.last_view(REQUESTER))
    assert view is not None
    return view


def _submit(driver: SlackDriver, modal: dict[str, Any], values: dict[str, str | None]) -> Any:
    # Filled in as a person could, then overwritten with what only a forger could send.
    payload = driver.view_submission_payload(REQUESTER, modal, {RequestInput.CERT_SN.value: "1"})
    state = payload["view"]["state"]["values"]
    for field, value in values.items():
        element = state[field][field]
        if element.get("type") == "static_select":
            element["selected_option"] = None if value is None else {"value": value}
        else:
            element["value"] = value
    return driver.send_interaction(payload)


@STRICT
@given(values=st.fixed_dictionaries({field: TEXT for field in FIELDS}))
def test_any_submission_gets_field_errors_or_a_valid_request(
    stack: LocalStack, driver: SlackDriver, modal: dict[str, Any], values: dict[str, str | None]
) -> None:
    before = len(requests_in(stack.database_url))

    answer = _submit(driver, modal, values)

    assert answer.status_code == 200, answer.text
    stored = requests_in(stack.database_url)
    if answer.content and "errors" in answer.text:
        errors = answer.json()["errors"]
        assert errors and set(errors) <= set(FIELDS)
        assert len(stored) == before
    else:
        assert len(stored) == before + 1
        request = stored[-1]
        assert 0 <= request.cert_sn <= 2**63 - 1
        assert bool(request.asset_id) != bool(request.product_key and request.device_key)
    assert stack.sandbox.calls("revoke") == []


def test_every_accepted_request_was_posted_within_slacks_limits(
    stack: LocalStack, driver: SlackDriver, modal: dict[str, Any]
) -> None:
    long = "&<>" * 500
    _submit(
        driver,
        modal,
        {
            RequestInput.ASSET_ID.value: "A" * 64,
            RequestInput.CERT_SN.value: str(2**63 - 1),
            RequestInput.REASON.value: "9",
            RequestInput.JUSTIFICATION.value: long,
        },
    )

    def settled() -> bool:
        return all(
            r.message_ts or r.current_status is not RequestStatus.PENDING
            for r in requests_in(stack.database_url)
        )

    stack.standin.wait_for(settled, timeout=30)
    requests = requests_in(stack.database_url)
    assert requests
    assert [r.id for r in requests if r.current_status is RequestStatus.UNDELIVERABLE] == []
    for message in top_level(stack):
        assert len(message["text"]) < 4000
        assert "<!channel>" not in json.dumps(message)
