"""Helpers for driving the real bot through LocalStack as people in Slack would."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlmodel import col, select

from bot.slack.driver import SlackDriver
from bot.slack.ids import RequestInput
from bot.stack import ONCALL_CHANNEL, LocalStack
from storage.db import Database
from storage.models import AuditEvent, RevocationRequest

REQUESTER, APPROVER, OTHER_APPROVER, OUTSIDER, GROUP_MEMBER = (
    "U0ALICE",
    "U0BOB",
    "U0CAROL",
    "U0MALLORY",
    "U0DAVE",
)
LEADS_GROUP = "S0LEADS"
ASSET_ID, CERT_SN = "Xy12AbCd", 52739


@contextmanager
def running_stack(database_url: str, **overrides: Any) -> Iterator[LocalStack]:
    settings: dict[str, Any] = {
        "revoke_approvers": f"{APPROVER},{OTHER_APPROVER},{LEADS_GROUP}",
        "revoke_execution_lease": "3s",
        "enos_total_timeout": 2,
    }
    settings.update(overrides)
    with LocalStack(database_url, **settings) as stack:
        stack.standin.set_usergroup(LEADS_GROUP, [GROUP_MEMBER])
        yield stack


def ask(
    stack: LocalStack,
    driver: SlackDriver,
    text: str = f"asset={ASSET_ID} cert={CERT_SN} reason=key_compromise",
    inputs: dict[str, str | None] | None = None,
    user: str = REQUESTER,
) -> dict[str, Any]:
    """Type the command, fill the modal, submit; return the approval message once looked up."""
    before = len(top_level(stack))
    answer = driver.slash_command(user, text, channel_id=ONCALL_CHANNEL)
    assert answer.status_code == 200
    view = stack.standin.wait_for(lambda: stack.standin.last_view(user))
    submitted = driver.submit_view(
        user, view, inputs or {RequestInput.JUSTIFICATION.value: "INC-1: key leaked"}
    )
    assert submitted.status_code == 200, submitted.text
    assert submitted.content in (b"", b"null", b"{}") or "errors" not in submitted.text
    return stack.standin.wait_for(lambda: _looked_up(stack, before), timeout=10)


def _looked_up(stack: LocalStack, before: int) -> dict[str, Any] | None:
    messages = top_level(stack)
    if len(messages) > before and "looking the certificate up" not in str(messages[-1]).lower():
        return messages[-1]
    return None


def top_level(stack: LocalStack) -> list[dict[str, Any]]:
    return [
        m for m in stack.standin.messages(ONCALL_CHANNEL) if m.get("thread_ts") in (None, m["ts"])
    ]


def current(
    stack: LocalStack, message: dict[str, Any], status: str | None = None
) -> dict[str, Any]:
    """The approval message as it stands now; with ``status``, once it shows that status
    (the message is redrawn independently of the thread replies)."""

    def shown() -> dict[str, Any] | None:
        found = stack.standin.message(ONCALL_CHANNEL, message["ts"])
        if found is None or (status and f"status {status}" not in found["text"]):
            return None
        return found

    found = stack.standin.wait_for(shown, timeout=15)
    assert found is not None
    return found


def replies(stack: LocalStack, message: dict[str, Any]) -> list[str]:
    """The thread replies under the approval message, text and blocks as one string each."""
    thread = stack.standin.thread(ONCALL_CHANNEL, message["ts"])
    return [m["text"] + json.dumps(m.get("blocks", [])) for m in thread if m["ts"] != message["ts"]]


def wait_for_reply(
    stack: LocalStack, message: dict[str, Any], words: str, timeout: float = 10
) -> list[str]:
    return stack.standin.wait_for(
        lambda: (r := replies(stack, message)) and any(words in t for t in r) and r,
        timeout=timeout,
    )


def last_response(stack: LocalStack, user: str) -> str:
    answered = stack.standin.wait_for(lambda: stack.standin.responses(user))
    return str(answered[-1].get("text"))


def requests_in(database_url: str) -> list[RevocationRequest]:
    db = Database(database_url)
    try:
        with db.read() as session:
            return list(session.exec(select(RevocationRequest)).all())
    finally:
        db.dispose()


def audit_kinds(database_url: str, request_id: str | None = None) -> list[str]:
    db = Database(database_url)
    try:
        with db.read() as session:
            query = select(AuditEvent).order_by(col(AuditEvent.seq))
            if request_id:
                query = query.where(AuditEvent.request_id == request_id)
            return [event.kind for event in session.exec(query).all()]
    finally:
        db.dispose()


def revoke_calls(stack: LocalStack) -> Sequence[Any]:
    return stack.sandbox.calls("revoke")
