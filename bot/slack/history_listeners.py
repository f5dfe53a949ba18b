"""Bolt listeners for history: ``/revoke-cert history``, its More button, and the App Home tab.

The Home tab shows Approve, Deny and Cancel with the message's action ids, so the
message's listeners decide those clicks by the same rules. Two things differ for a
click in the Home tab, and are handled here so those listeners need not know:

* Slack sends no ``response_url`` with it, so ``respond()`` would fail. A stand-in
  puts the answer in a modal on the click's trigger (or, if that has expired, in a
  direct message).
* Once the listener has finished, the clicker's Home tab is drawn again, as it is
  after a deny submitted from the deny form.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.listener.async_listener_completion_handler import (
    AsyncListenerCompletionHandler,
)
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.groups import GroupLookupError
from bot.slack.history_view import history_message, home_view, query_problem, read_more_value
from bot.slack.ids import ActionId, CallbackId
from bot.slack.surfaces import notice_modal
from commands.history import QueryError, find, home_lists, parse_query
from storage.db import run_sync
from storage.models import utcnow

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

FAILED: Final = (
    "The history could not be read just now; nothing was changed. Try again in a minute; "
    "if it keeps failing, tell whoever runs the bot."
)
STALE_BUTTON: Final = "That button no longer works. Run `/revoke-cert history` again."
# Clicks whose listener may answer through respond() and whose effect the Home tab shows.
_DECISIONS: Final = frozenset({ActionId.APPROVE.value, ActionId.DENY.value, ActionId.CANCEL.value})
# A context key: the user whose Home tab is drawn again once the listener is done.
_REFRESH_HOME: Final = "revoke_cert_refresh_home"


def register(app: AsyncApp, runtime: Runtime) -> None:
    """Add the More button, the Home tab, and the Home tab's handling of decision clicks."""
    home = HomeTab(runtime)
    app.action(ActionId.HISTORY_MORE.value)(_on_more(runtime))
    app.event("app_home_opened")(home.on_opened)
    app.middleware(_without_response_url)
    runner = app.listener_runner
    runner.listener_completion_handler = _AfterListener(
        runner.listener_completion_handler, home.publish
    )


# --- /revoke-cert history ---


# The search usually takes milliseconds and its answer then rides on the acknowledgement;
# past this, Slack is acknowledged and the answer follows through the response URL.
ANSWER_IN_ACK_SECONDS: Final = 1.5


async def answer_history(
    runtime: Runtime, ack: AsyncAck, respond: AsyncRespond, query: str
) -> None:
    """Answer privately with the first page of results, within Slack's 3 seconds."""
    search = parse_query(query)
    if isinstance(search, QueryError):
        await ack(response_type="ephemeral", text=query_problem(search))
        return
    finding = asyncio.ensure_future(run_sync(find, runtime.db, query, None))
    done, _ = await asyncio.wait({finding}, timeout=ANSWER_IN_ACK_SECONDS)
    if done and finding.exception() is None:
        page = finding.result()
        if not isinstance(page, QueryError):
            message = history_message(page)
            await ack(response_type="ephemeral", text=message.text, blocks=message.blocks)
            return
    await ack()
    if not done:
        await asyncio.wait({finding})
    await _respond_with_found(respond, finding)


def _on_more(runtime: Runtime) -> Callable[..., Awaitable[None]]:
    async def on_more(ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        value = str((body.get("actions") or [{}])[0].get("value") or "")
        parsed = read_more_value(value)
        if parsed is None:
            await _say(respond, STALE_BUTTON)
            return
        query, cursor = parsed
        await _respond_with_page(runtime, respond, query, cursor)

    return on_more


async def _respond_with_page(
    runtime: Runtime, respond: AsyncRespond, query: str, cursor: str | None
) -> None:
    finding = asyncio.ensure_future(run_sync(find, runtime.db, query, cursor))
    await asyncio.wait({finding})
    await _respond_with_found(respond, finding)


async def _respond_with_found(respond: AsyncRespond, finding: asyncio.Future[Any]) -> None:
    if finding.exception() is not None:
        log.error("history search failed", exc_info=finding.exception())
        await _say(respond, FAILED)
        return
    page = finding.result()
    if isinstance(page, QueryError):
        await _say(respond, query_problem(page))
        return
    message = history_message(page)
    try:
        await respond(
            response_type="ephemeral",
            replace_original=False,
            text=message.text,
            blocks=message.blocks,
        )
    except Exception:
        log.warning("could not post a history page", exc_info=True)


async def _say(respond: AsyncRespond, text: str) -> None:
    try:
        await respond(response_type="ephemeral", replace_original=False, text=text)
    except Exception:
        log.warning("could not answer privately", exc_info=True)


# --- The App Home tab ---


class HomeTab:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def on_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab") == "home" and event.get("user"):
            await self.publish(str(event["user"]))

    async def publish(self, user_id: str) -> None:
        """Draw ``user_id``'s Home tab from the requests as they are now."""
        may_approve, problem = await self._may_approve(user_id)
        now = utcnow()
        lists = await run_sync(
            home_lists, self.runtime.db, user_id, may_approve=may_approve, now=now
        )
        view = home_view(
            lists, viewer_id=user_id, may_approve=may_approve, now=now, approver_problem=problem
        )
        try:
            await self.runtime.web.views_publish(user_id=user_id, view=view)
        except SlackApiError as error:
            log.warning("views.publish for %s failed: %s", user_id, error.response.get("error"))

    async def _may_approve(self, user_id: str) -> tuple[bool, str | None]:
        approvers = self.runtime.approvers
        try:
            members = await self.runtime.groups.members(approvers.groups)
        except GroupLookupError as error:
            return False, f"I could not check whether you approve ({error}). Reopen this tab soon."
        return approvers.includes(user_id, members), None


# --- Clicks in the Home tab ---


async def _without_response_url(
    body: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    next_: Callable[[], Awaitable[None]],
) -> None:
    """Give decision clicks from the Home tab somewhere to answer, and mark the Home tab
    to be drawn again after a decision."""
    kind = body.get("type")
    user_id = str((body.get("user") or {}).get("id") or "")
    view = body.get("view") or {}
    if kind == "block_actions" and not body.get("response_url") and user_id:
        action_id = str((body.get("actions") or [{}])[0].get("action_id") or "")
        if action_id in _DECISIONS:
            context["respond"] = NoticeResponder(client, user_id, body.get("trigger_id"))
            # A Deny click only opens the deny form; its submission changes the request.
            if view.get("type") == "home" and action_id != ActionId.DENY:
                context[_REFRESH_HOME] = user_id
    deny_form = view.get("callback_id") == CallbackId.DENY_MODAL.value
    if kind == "view_submission" and deny_form and user_id:
        context[_REFRESH_HOME] = user_id
    await next_()


class NoticeResponder:
    """Stands in for ``respond()`` where Slack gave no ``response_url``.

    The answer opens in a modal on the click's trigger id (good once, for 3 seconds);
    after that it goes as a direct message from the bot.
    """

    def __init__(self, client: AsyncWebClient, user_id: str, trigger_id: str | None) -> None:
        self._client = client
        self._user_id = user_id
        self._trigger_id = trigger_id

    async def __call__(self, text: str = "", **_ignored: Any) -> None:
        trigger, self._trigger_id = self._trigger_id, None
        if trigger:
            try:
                await self._client.views_open(trigger_id=trigger, view=notice_modal(text))
                return
            except SlackApiError as error:
                log.info("notice modal not opened (%s); sending a DM", error.response.get("error"))
        await self._client.chat_postMessage(channel=self._user_id, text=text)


class _AfterListener(AsyncListenerCompletionHandler):
    """Runs Bolt's own completion handler, then draws a Home tab the listener changed."""

    def __init__(
        self, inner: AsyncListenerCompletionHandler, publish: Callable[[str], Awaitable[None]]
    ) -> None:
        self._inner = inner
        self._publish = publish

    async def handle(self, request: AsyncBoltRequest, response: BoltResponse | None) -> None:
        try:
            await self._inner.handle(request=request, response=response)
        finally:
            user_id = request.context.get(_REFRESH_HOME)
            if user_id:
                try:
                    await self._publish(str(user_id))
                except Exception:
                    log.warning("could not redraw the Home tab of %s", user_id, exc_info=True)
