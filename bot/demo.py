"""``revoke-cert-bot demo``: one revocation, start to finish, on this machine alone.

The real bot runs in HTTP mode against the EnOS sandbox and the Slack stand-in;
a requester and an approver are played with requests signed and shaped as
Slack sends them. Exits 0 only if the sandbox ends with the certificate revoked.
"""

from __future__ import annotations

import json
import logging
import tempfile
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from bot.slack.ids import ActionId, RequestInput
from bot.slack.standin import SlackStandIn
from bot.stack import ONCALL_CHANNEL, LocalStack
from storage.audit import describe_event, newest_events, verify_chain
from storage.db import Database

T = TypeVar("T")
REQUESTER, APPROVER = "U0ALICE", "U0BOB"
ASSET_ID, CERT_SN = "Xy12AbCd", 52739
JUSTIFICATION = (
    "INC-4711: private key found in a public repo. <!channel> <https://evil.example|docs>"
)


def run_demo() -> int:
    logging.basicConfig(
        level=logging.WARNING, format="    (log) %(levelname)s %(name)s: %(message)s"
    )
    with tempfile.TemporaryDirectory(prefix="revoke-cert-bot-demo-") as folder:
        database_url = f"sqlite:///{Path(folder) / 'demo.sqlite3'}"
        with LocalStack(database_url, revoke_approvers=APPROVER) as stack:
            return _play(stack, database_url)


def _play(stack: LocalStack, database_url: str) -> int:
    standin, sandbox = stack.standin, stack.sandbox
    standin.add_user(REQUESTER, "alice")
    standin.add_user(APPROVER, "bob")
    driver = stack.driver()
    _title("revoke-cert-bot demo: one certificate revocation, start to finish")
    print(
        f"  EnOS sandbox     {stack.enos_url}  (appKey {sandbox.app_key}, orgId {sandbox.org_id})"
    )
    print(f"  Slack stand-in   {standin.api_url}")
    print(f"  the bot          {stack.bot_url}/slack/events  (HTTP mode, uvicorn)")
    print(f"  database         {database_url}")

    command = f"asset={ASSET_ID} cert={CERT_SN} reason=key_compromise"
    _step(1, f"@alice types  /revoke-cert {command}")
    started = time.perf_counter()
    answer = driver.slash_command(REQUESTER, command, channel_id=ONCALL_CHANNEL)
    took = (time.perf_counter() - started) * 1000
    view = _until(standin, lambda: standin.last_view(REQUESTER))
    _say(f"bot answered HTTP {answer.status_code} in {took:.0f} ms and opened the modal "
         f"“{view['title']['text']}”, prefilled from the command")  # fmt: skip

    _step(2, "@alice writes a justification (with an @channel ping and a disguised link) "
          "and submits")  # fmt: skip
    answer = driver.submit_view(REQUESTER, view, {RequestInput.JUSTIFICATION.value: JUSTIFICATION})
    _say(f"bot answered HTTP {answer.status_code}: the modal closes")
    message = _until(standin, lambda: _approval_message(stack))

    _step(3, f"the approval message is posted in #{standin.channel_name(ONCALL_CHANNEL)}")
    message = _until(standin, lambda: _looked_up(stack))
    _show_message(message)

    _step(4, "@alice clicks Approve on her own request")
    driver.click(REQUESTER, message, ActionId.APPROVE.value, channel_id=ONCALL_CHANNEL)
    refusal = _until(standin, lambda: _last_response(stack, REQUESTER))
    _say(f"refused, privately: “{refusal}”")

    _step(5, "@bob clicks Approve and confirms the dialog")
    confirm = _button(message, ActionId.APPROVE.value).get("confirm", {})
    _say(f"the dialog asked: “{confirm.get('text', {}).get('text', '')}”")
    driver.click(APPROVER, message, ActionId.APPROVE.value, channel_id=ONCALL_CHANNEL)
    replies = _until(standin, lambda: _thread_has_outcome(stack, message["ts"]), timeout=30)

    _step(6, "the EnOS sandbox received the revoke call")
    for call in sandbox.calls("revoke"):
        checked = "signature verified" if call.signature_ok else "SIGNATURE DID NOT MATCH"
        query = "&".join(f"{k}={v}" for k, v in sorted(call.params.items()))
        _say(f"POST /connect-service/v2.0/certificates?{query}")
        _say(f"body {json.dumps(call.body)}; {checked}; answered {json.dumps(call.answer)}")

    _step(7, "the bot replied in the approval message's thread")
    for reply in replies:
        _say(reply["text"])

    _step(8, "the approval message now reads")
    _show_message(standin.message(ONCALL_CHANNEL, message["ts"]) or message)

    _step(9, "the audit trail, newest first")
    db = Database(database_url)
    for event in newest_events(db, 20):
        _say(describe_event(event))
    report = verify_chain(db)
    _say(f"audit chain: {report}")
    db.dispose()

    cert = sandbox.certificate(CERT_SN) or {}
    revoked = cert.get("certStatus") == 1 and report.ok
    _title(
        f"certificate {CERT_SN} is revoked in the EnOS sandbox"
        if revoked
        else f"FAILED: certificate {CERT_SN} is not revoked in the sandbox ({cert})"
    )
    return 0 if revoked else 1


def _until(standin: SlackStandIn, predicate: Callable[[], T | None], timeout: float = 10.0) -> T:
    found = standin.wait_for(predicate, timeout=timeout)
    assert found is not None
    return found


def _approval_message(stack: LocalStack) -> dict[str, Any] | None:
    messages = [
        m for m in stack.standin.messages(ONCALL_CHANNEL) if m.get("thread_ts") in (None, m["ts"])
    ]
    return messages[-1] if messages else None


def _looked_up(stack: LocalStack) -> dict[str, Any] | None:
    message = _approval_message(stack)
    if message and "looking the certificate up" not in json.dumps(message["blocks"]).lower():
        return message
    return None


def _last_response(stack: LocalStack, user_id: str) -> str | None:
    responses = stack.standin.responses(user_id)
    return str(responses[-1].get("text")) if responses else None


def _thread_has_outcome(stack: LocalStack, ts: str) -> list[dict[str, Any]] | None:
    replies = stack.standin.thread(ONCALL_CHANNEL, ts)
    final = ("revoked", "refused", "unknown", "could not")
    if any(word in r["text"].lower() for r in replies[1:] for word in final):
        return replies
    return None


def _button(message: dict[str, Any], action_id: str) -> dict[str, Any]:
    for block in message.get("blocks", []):
        for element in block.get("elements", []):
            if element.get("action_id") == action_id:
                return dict(element)
    return {}


def _show_message(message: dict[str, Any]) -> None:
    _say("text: " + message["text"])
    for block in message.get("blocks", []):
        for line in _block_lines(block):
            print(textwrap.indent(line, "      │ "))


def _block_lines(block: dict[str, Any]) -> list[str]:
    if block.get("type") == "actions":
        return ["[ " + " ] [ ".join(e["text"]["text"] for e in block["elements"]) + " ]"]
    texts = []
    if isinstance(block.get("text"), dict):
        texts.append(block["text"]["text"])
    texts += [f["text"] for f in block.get("fields", [])]
    texts += [e.get("text", "") for e in block.get("elements", []) if isinstance(e, dict)]
    return [t for t in texts if t]


def _title(text: str) -> None:
    print(f"\n== {text} ==")


def _step(number: int, text: str) -> None:
    print(f"\n{number}. {text}")


def _say(text: str) -> None:
    print(textwrap.indent(textwrap.fill(text, 100, replace_whitespace=False), "   "))
