"""Bolt listeners: turn Slack commands, clicks and submissions into workflow steps.

Every listener acknowledges Slack first (a command within 3 seconds, a modal
within its trigger's life) and does the slow work after. What is allowed is
decided in commands.approval; what happens is done by commands.workflow; what
people see is drawn by bot.slack.surfaces.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack import history_listeners, surfaces
from bot.slack.groups import GroupLookupError
from bot.slack.ids import ActionId, CallbackId, RequestInput
from bot.slack.text import escape, is_user_id, unescape
from commands.approval import (
    Decision,
    Refusal,
    channel_refusal,
    decision_refusal,
    request_refusal,
    status_refusal,
)
from commands.request import Help, History, Prefill, parse_command_text, validate_submission
from storage.models import RequestStatus, utcnow

if TYPE_CHECKING:
    from bot.runtime import Runtime

log = logging.getLogger(__name__)

COMMAND = "/revoke-cert"
SORRY = (
    "Something went wrong on the bot's side and nothing was changed. Try again in a "
    "minute; if it keeps failing, tell whoever runs the bot (their logs have the details)."
)
# Outcomes after which asking again with a fresh approval makes sense.
RETRYABLE = {RequestStatus.UNKNOWN, RequestStatus.FAILED, RequestStatus.EXPIRED}


def build_app(runtime: Runtime) -> AsyncApp:
    settings = runtime.settings
    app = AsyncApp(
        client=runtime.web,
        signing_secret=settings.slack_signing_secret.get_secret_value(),
        process_before_response=False,
        raise_error_for_unhandled_request=False,
    )
    _Listeners(runtime).register(app)
    history_listeners.register(app, runtime)
    app.use(_slack_user_ids_only)
    app.error(_on_error)
    return app


async def _slack_user_ids_only(
    body: dict[str, Any], next_: Callable[[], Awaitable[None]]
) -> BoltResponse | None:
    """Refuse a payload whose acting user is not shaped like a Slack user ID.

    Slack never sends one; only someone holding the signing secret could, and the
    ID would end up in the audit trail as the actor.
    """
    user = body.get("user")
    user_id = user.get("id") if isinstance(user, dict) else body.get("user_id")
    if user_id is not None and not is_user_id(str(user_id)):
        log.warning("refused a payload with a malformed user ID")
        return BoltResponse(status=400, body="malformed user")
    await next_()
    return None


async def _on_error(error: Exception, body: dict[str, Any]) -> BoltResponse:
    """A listener failed before answering Slack: say sorry, in the shape Slack expects.

    Bolt would answer 500, which Slack shows as a cryptic failure (or, for a form,
    as the form closing as if it had been submitted).
    """
    log.error("a Slack listener failed: %s", type(error).__name__, exc_info=error)
    if isinstance(body, dict) and body.get("type") == "view_submission":
        answer = {"response_action": "update", "view": surfaces.notice_modal(SORRY)}
    elif isinstance(body, dict) and body.get("command"):
        answer = {"response_type": "ephemeral", "text": SORRY}
    else:
        return BoltResponse(status=200, body="")
    return BoltResponse(
        status=200, body=json.dumps(answer), headers={"content-type": "application/json"}
    )


class _Listeners:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.service = runtime.service
        self.settings = runtime.settings

    def register(self, app: AsyncApp) -> None:
        app.command(COMMAND)(self.on_command)
        app.view(CallbackId.REQUEST_MODAL.value)(self.on_request_submitted)
        app.view(CallbackId.DENY_MODAL.value)(self.on_deny_submitted)
        app.action(ActionId.APPROVE.value)(self.on_approve)
        app.action(ActionId.DENY.value)(self.on_deny)
        app.action(ActionId.CANCEL.value)(self.on_cancel)
        app.action(ActionId.REQUEST_AGAIN.value)(self.on_request_again)

    # --- /revoke-cert ---

    async def on_command(
        self, ack: AsyncAck, command: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        parsed = parse_command_text(unescape(str(command.get("text") or "")))
        if isinstance(parsed, Help):
            await ack(response_type="ephemeral", text=surfaces.help_text())
            return
        if isinstance(parsed, History):
            await history_listeners.answer_history(self.runtime, ack, respond, parsed.query)
            return
        channel_id = str(command.get("channel_id", ""))
        refusal = channel_refusal(channel_id, frozenset(self.settings.revoke_allowed_channels))
        if refusal is not None:
            await ack(response_type="ephemeral", text=refusal.message)
            return
        await ack()
        await self._open_request_modal(client, respond, command, parsed)

    async def _open_request_modal(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond,
        command: Mapping[str, Any],
        prefill: Prefill,
    ) -> None:
        view = surfaces.request_modal(prefill, str(command.get("channel_id", "")))
        try:
            await client.views_open(trigger_id=command.get("trigger_id"), view=view)
        except SlackApiError as error:
            log.warning("views.open failed: %s", error.response.get("error"))
            await respond(
                response_type="ephemeral",
                text="Slack did not open the request form in time. Run /revoke-cert again.",
            )
            return

    # --- the request form ---

    async def on_request_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        values = surfaces.submission_values(view.get("state", {}).get("values", {}))
        draft = validate_submission(values)
        if isinstance(draft, Mapping):
            await ack(response_action="errors", errors=dict(draft))
            return
        user_id = body["user"]["id"]
        origin = str(view.get("private_metadata") or body.get("user", {}).get("id", ""))
        refusal = await self._requester_refusal(user_id, origin)
        if refusal is not None:
            await ack(response_action="update", view=surfaces.notice_modal(refusal.message))
            return
        approval_channel = self.settings.revoke_approval_channel or origin
        try:
            request = await self.service.create(draft, user_id, origin, approval_channel)
        except Exception:
            log.exception("could not store a new request from %s", user_id)
            await ack(
                response_action="errors",
                errors={RequestInput.CERT_SN.value: "Could not save the request; nothing was "
                        "sent. Submit again in a minute."},
            )  # fmt: skip
            return
        await ack()
        self.runtime.spawn(self.service.look_up_certificate(request.id), f"lookup {request.id}")

    async def _requester_refusal(self, user_id: str, channel_id: str) -> Refusal | None:
        requesters = self.runtime.requesters
        try:
            members = await self.runtime.groups.members(requesters.groups)
        except GroupLookupError as error:
            return Refusal(f"I could not check who may ask ({error}). {error.advice}")
        allowed = frozenset(self.settings.revoke_allowed_channels)
        return request_refusal(user_id, channel_id, requesters, allowed, members)

    # --- buttons on the approval message ---

    async def on_approve(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await self._guarded(respond, self._approve(body, respond))

    async def _approve(self, body: dict[str, Any], respond: AsyncRespond) -> None:
        request_id, actor = _clicked(body)
        refusal = await self._decision_refusal(Decision.APPROVE, request_id, actor)
        if refusal is not None:
            await _tell(respond, refusal.message)
            return
        approved = await self.service.approve(request_id, actor)
        if approved is None:
            # Someone else's click won, or the request expired between our check and now.
            await self._tell_status(respond, request_id)
            return
        self.runtime.spawn(self.service.execute(approved), f"revoke {request_id}")

    async def on_deny(
        self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        await ack()
        await self._guarded(respond, self._deny(body, client, respond))

    async def _deny(
        self, body: dict[str, Any], client: AsyncWebClient, respond: AsyncRespond
    ) -> None:
        request_id, actor = _clicked(body)
        refusal = await self._decision_refusal(Decision.DENY, request_id, actor)
        if refusal is not None:
            await _tell(respond, refusal.message)
            return
        try:
            await client.views_open(
                trigger_id=body["trigger_id"], view=surfaces.deny_modal(request_id)
            )
        except SlackApiError as error:
            log.warning("views.open for deny failed: %s", error.response.get("error"))
            await _tell(respond, "Slack did not open the deny form in time. Click Deny again.")

    async def on_deny_submitted(
        self, ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]
    ) -> None:
        request_id = str(view.get("private_metadata") or "")
        actor = body["user"]["id"]
        note = surfaces.deny_note(view.get("state", {}).get("values", {}))
        refusal = await self._decision_refusal(Decision.DENY, request_id, actor)
        if refusal is None and await self.service.deny(request_id, actor, note) is None:
            request = await self.service.get(request_id)
            refusal = status_refusal(request, utcnow()) if request else _unknown_request(request_id)
        if refusal is not None:
            await ack(response_action="update", view=surfaces.notice_modal(refusal.message))
            return
        await ack()

    async def on_cancel(self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond) -> None:
        await ack()
        await self._guarded(respond, self._cancel(body, respond))

    async def _cancel(self, body: dict[str, Any], respond: AsyncRespond) -> None:
        request_id, actor = _clicked(body)
        refusal = await self._decision_refusal(Decision.CANCEL, request_id, actor)
        if refusal is not None:
            await _tell(respond, refusal.message)
            return
        if await self.service.cancel(request_id, actor) is None:
            await self._tell_status(respond, request_id)

    async def on_request_again(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond
    ) -> None:
        await ack()
        await self._guarded(respond, self._request_again(body, respond))

    async def _request_again(self, body: dict[str, Any], respond: AsyncRespond) -> None:
        request_id, actor = _clicked(body)
        old = await self.service.get(request_id)
        if old is None or old.current_status not in RETRYABLE:
            await _tell(respond, "Only a request that expired, failed or has an unknown "
                        "outcome can be asked again.")  # fmt: skip
            return
        refusal = await self._requester_refusal(actor, old.origin_channel_id)
        if refusal is not None:
            await _tell(respond, refusal.message)
            return
        asked = await self.service.request_again(request_id, actor)
        if asked is None:
            await _tell(respond, SORRY)
            return
        new, made_now = asked
        if not made_now:
            await _tell(respond, f"Request {request_id} was already asked again as {new.id} "
                        f"by <@{new.requester_id}>; approve or deny that one.")  # fmt: skip
            return
        self.runtime.spawn(self.service.look_up_certificate(new.id), f"lookup {new.id}")
        await _tell(respond, f"New request {new.id} posted; it needs a fresh approval.")

    # --- shared checks ---

    async def _decision_refusal(
        self, decision: Decision, request_id: str, actor: str
    ) -> Refusal | None:
        request = await self.service.get(request_id)
        if request is None:
            return _unknown_request(request_id)
        refusal = status_refusal(request, utcnow())
        if refusal is not None:
            return refusal
        approvers = self.runtime.approvers
        members: dict[str, frozenset[str]] = {}
        if decision is not Decision.CANCEL and actor != request.requester_id:
            try:
                members = await self.runtime.groups.members(approvers.groups)
            except GroupLookupError as error:
                return Refusal(f"I could not check who may approve ({error}). {error.advice}")
        return decision_refusal(decision, request, actor, approvers, members)

    async def _tell_status(self, respond: AsyncRespond, request_id: str) -> None:
        request = await self.service.get(request_id)
        refusal = status_refusal(request, utcnow()) if request else _unknown_request(request_id)
        await _tell(respond, refusal.message if refusal else "Nothing changed.")

    async def _guarded(self, respond: AsyncRespond, work: Awaitable[None]) -> None:
        """Run work after the ack; if it fails, say so to the clicker instead of a silence."""
        try:
            await work
        except Exception:
            log.exception("handling a click failed")
            await _tell(respond, SORRY)


def _clicked(body: Mapping[str, Any]) -> tuple[str, str]:
    action = body["actions"][0]
    return str(action.get("value", "")), str(body["user"]["id"])


def _unknown_request(request_id: str) -> Refusal:
    return Refusal(f"I have no request {escape(request_id)}. It may be from another "
                   "installation of the bot.")  # fmt: skip


async def _tell(respond: AsyncRespond, text: str) -> None:
    try:
        await respond(response_type="ephemeral", replace_original=False, text=text)
    except Exception:
        log.warning("could not answer a click privately", exc_info=True)
