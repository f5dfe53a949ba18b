"""Plays Slack's side toward the bot: requests signed and shaped as Slack sends them.

A driver stands for the Slack clients of a workspace. It sends the bot's request URL
(``{bot_url}/slack/events``) slash commands, button clicks, modal submissions and Events API
deliveries, each signed with the app's signing secret, and takes trigger ids and response URLs
from a ``SlackStandIn`` so the bot can use them there. It also does what Slack does with the
bot's acknowledgement: a slash command's ack text is shown to the user, a view_submission
answer closes, updates or keeps the modal (with its field errors).

It refuses what a person could not do in Slack (pick an option that is not in a select,
type past a ``max_length``, leave a required field empty, click a button that is not there)
with ImpossibleInteraction: that is a mistake in the test. To send what Slack never would,
build the payload (``view_submission_payload``), change it, and ``send_interaction`` it, or use
``send`` with any bytes, timestamp and signature. ::

    driver = SlackDriver(bot.url, SIGNING_SECRET, standin)
    driver.slash_command("U0ALICE", "asset=Xy12AbCd cert=52739")
    modal = standin.wait_for(lambda: standin.last_view("U0ALICE"))
    driver.submit_view("U0ALICE", modal, {"justification": "INC-42"})
"""

from __future__ import annotations

import copy
import json
import secrets
import string
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx
from slack_sdk.signature import SignatureVerifier

from bot.slack.standin import (
    TEXT_INPUTS,
    JSONDict,
    SlackStandIn,
    element_options,
    interactive_elements,
)

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
# Slack gives up on an acknowledgement after this many seconds.
ACK_DEADLINE = 3.0
# Slack still sends the legacy verification token; Bolt ignores it. Not a secret.
VERIFICATION_TOKEN = "standin-verification-token"  # noqa: S105
USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"

_SINGLE_CHOICES = frozenset({"static_select", "radio_buttons"})
# element type -> (the view's initial key, the key in view.state)
_PICKERS = {
    "users_select": ("initial_user", "selected_user"),
    "conversations_select": ("initial_conversation", "selected_conversation"),
    "channels_select": ("initial_channel", "selected_channel"),
    "datepicker": ("initial_date", "selected_date"),
    "timepicker": ("initial_time", "selected_time"),
}
_STATELESS = frozenset({"button", "overflow", "image", "workflow_button"})
# Keys the stand-in adds to messages that Slack's payloads do not carry.
_STANDIN_KEYS = frozenset({"channel", "ephemeral", "recipient", "via"})


class ImpossibleInteraction(Exception):
    """A person could not do this in Slack's client, so Slack would never send it."""


class SlackDriver:
    """Sends the bot what Slack would send when people use it; returns the bot's answer."""

    def __init__(
        self,
        bot_url: str,
        signing_secret: str,
        standin: SlackStandIn,
        team_id: str = "T0TEAM",
        app_id: str = "A0APP",
        *,
        timeout: float = 10.0,
    ) -> None:
        self.events_url = f"{bot_url.rstrip('/')}/slack/events"
        self.team_id = team_id
        self.app_id = app_id
        self._standin = standin
        self._verifier = SignatureVerifier(signing_secret)
        # trust_env off: requests go to loopback, never through a proxy from the environment.
        self._client = httpx.Client(timeout=timeout, trust_env=False)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> SlackDriver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- the wire -----------------------------------------------------------------------

    def sign(self, body: bytes, timestamp: int) -> str:
        """``v0=…``: Slack's signature of ``body`` sent at ``timestamp`` (Unix seconds)."""
        signature = self._verifier.generate_signature(timestamp=str(timestamp), body=body)
        assert isinstance(signature, str)
        return signature

    def send(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        signature: str | None = None,
        headers: Mapping[str, str] | None = None,
        unsigned: bool = False,
    ) -> httpx.Response:
        """POST raw bytes to the bot as Slack would.

        By default signed now. ``timestamp`` sends another time (signed for it, so an old one
        makes a stale request); ``signature`` sends that signature instead (a forgery);
        ``unsigned`` leaves both headers out. ``headers`` are added last.
        """
        sent_at = int(time.time()) if timestamp is None else timestamp
        all_headers = {"Content-Type": content_type, "User-Agent": USER_AGENT}
        if not unsigned:
            all_headers["X-Slack-Request-Timestamp"] = str(sent_at)
            all_headers["X-Slack-Signature"] = signature or self.sign(body, sent_at)
        all_headers.update(headers or {})
        return self._client.post(self.events_url, content=body, headers=all_headers)

    def send_interaction(self, payload: Mapping[str, Any]) -> httpx.Response:
        """Send an interaction payload as Slack does: one form field, ``payload``, of JSON."""
        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        return self.send(body, FORM)

    def replay(self, response: httpx.Response) -> httpx.Response:
        """Send the request behind ``response`` again, byte for byte, same signature."""
        request = response.request
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("x-slack-")}
        headers["Content-Type"] = request.headers["content-type"]
        return self._client.post(self.events_url, content=request.content, headers=headers)

    def retry(
        self, response: httpx.Response, retry_num: int, reason: str = "http_timeout"
    ) -> httpx.Response:
        """Redeliver the request behind ``response`` as Slack's retries do: same body,
        signed anew, with ``X-Slack-Retry-Num`` and ``X-Slack-Retry-Reason``."""
        request = response.request
        return self.send(
            request.content,
            request.headers["content-type"],
            headers={"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": reason},
        )

    # --- slash commands -----------------------------------------------------------------

    def slash_command(
        self,
        user_id: str,
        text: str = "",
        channel_id: str = "C0ONCALL",
        command: str = "/revoke-cert",
    ) -> httpx.Response:
        """The user types ``command text`` in ``channel_id``.

        Slack then shows the user the acknowledgement's text, or its own error when the bot
        answers late or with an error status; both land in ``standin.ephemerals(user_id)``.
        """
        fields = [
            ("token", VERIFICATION_TOKEN),
            ("team_id", self.team_id),
            ("team_domain", self._standin.team_domain),
            ("channel_id", channel_id),
            ("channel_name", self._standin.channel_name(channel_id)),
            ("user_id", user_id),
            ("user_name", self._standin.user_name(user_id)),
            ("command", command),
            ("text", text),
            ("api_app_id", self.app_id),
            ("is_enterprise_install", "false"),
            ("response_url", self._standin.new_response_url(user_id, channel_id)),
            ("trigger_id", self._standin.new_trigger(user_id)),
        ]
        response = self.send(urlencode(fields).encode(), FORM)
        self._show_command_ack(user_id, channel_id, command, response)
        return response

    def _show_command_ack(
        self, user_id: str, channel_id: str, command: str, response: httpx.Response
    ) -> None:
        if response.elapsed.total_seconds() > ACK_DEADLINE:
            self._standin.record_command_failure(user_id, channel_id, command, "operation_timeout")
        elif not response.is_success:
            self._standin.record_command_failure(user_id, channel_id, command, "dispatch_failed")
        elif response.content:
            answer = _json_or_none(response)
            self._standin.record_command_ack(user_id, channel_id, answer or response.text)

    # --- modals -------------------------------------------------------------------------

    def view_submission_payload(
        self,
        user_id: str,
        view: Mapping[str, Any],
        inputs: Mapping[str, str | None] | None = None,
    ) -> JSONDict:
        """The ``view_submission`` payload for ``view`` as the user fills it in.

        ``inputs`` maps an ``action_id`` to the typed text or the chosen option's value (None
        clears it); inputs not given keep the view's initial value, as in Slack.
        """
        submitted = copy.deepcopy(dict(view))
        values = _state_values(submitted.get("blocks") or [], inputs or {}, submitting=True)
        submitted["state"] = {"values": values}
        return {
            "type": "view_submission",
            "team": self._team(),
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "trigger_id": self._standin.new_trigger(user_id),
            "view": submitted,
            "response_urls": [],
            "is_enterprise_install": False,
            "enterprise": None,
        }

    def submit_view(
        self,
        user_id: str,
        view: Mapping[str, Any],
        inputs: Mapping[str, str | None] | None = None,
    ) -> httpx.Response:
        """The user fills in the open modal ``view`` and presses its submit button.

        ``view`` names the modal by its id; what is submitted is the modal as the stand-in
        shows it now. The bot's answer is then applied as Slack would (see
        ``SlackStandIn.apply_view_answer``); a late answer leaves the modal open.
        """
        current = self._open_view(user_id, view)
        response = self.send_interaction(self.view_submission_payload(user_id, current, inputs))
        if response.status_code == 200 and response.elapsed.total_seconds() <= ACK_DEADLINE:
            self._standin.apply_view_answer(user_id, current["id"], _json_or_none(response))
        return response

    def click_in_view(
        self, user_id: str, view: Mapping[str, Any], action_id: str
    ) -> httpx.Response:
        """The user clicks a button in an open modal or in their Home tab."""
        current = self._open_view(user_id, view)
        block, button = _find_button(current.get("blocks") or [], action_id)
        current["state"] = {
            "values": _state_values(current.get("blocks") or [], {}, submitting=False)
        }
        payload = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": current["id"]},
            "trigger_id": self._standin.new_trigger(user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "view": current,
            "actions": [_button_action(block, button)],
        }
        return self.send_interaction(payload)

    def _open_view(self, user_id: str, view: Mapping[str, Any]) -> JSONDict:
        view_id = str(view.get("id") or "")
        current = self._standin.view(view_id)
        if current is None or not self._standin.is_open(user_id, view_id):
            raise ImpossibleInteraction(f"view {view_id or '(no id)'} is not open for {user_id}")
        return current

    # --- messages -----------------------------------------------------------------------

    def click(
        self,
        user_id: str,
        message: Mapping[str, Any],
        action_id: str,
        channel_id: str | None = None,
    ) -> httpx.Response:
        """The user clicks the button ``action_id`` in ``message`` (as the stand-in listed it,
        channel or ephemeral). A stale copy clicks what the user saw then, as a
        double-click does. A button's confirm dialog counts as confirmed."""
        channel = channel_id or str(message.get("channel") or "C0ONCALL")
        block, button = _find_button(message.get("blocks") or [], action_id)
        ephemeral = bool(message.get("ephemeral"))
        container: JSONDict = {
            "type": "message",
            "message_ts": message["ts"],
            "channel_id": channel,
            "is_ephemeral": ephemeral,
        }
        if message.get("thread_ts") not in (None, message["ts"]):
            container["thread_ts"] = message["thread_ts"]
        payload: JSONDict = {
            "type": "block_actions",
            "user": self._user(user_id),
            "api_app_id": self.app_id,
            "token": VERIFICATION_TOKEN,
            "container": container,
            "trigger_id": self._standin.new_trigger(user_id),
            "team": self._team(),
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": self._standin.channel_name(channel)},
        }
        # Slack does not send back the content of an ephemeral message.
        if not ephemeral:
            payload["message"] = {
                k: copy.deepcopy(v) for k, v in message.items() if k not in _STANDIN_KEYS
            }
        payload["state"] = {
            "values": _state_values(message.get("blocks") or [], {}, submitting=False)
        }
        payload["response_url"] = self._standin.new_response_url(
            user_id, channel, message_ts=str(message["ts"]), ephemeral=ephemeral
        )
        payload["actions"] = [_button_action(block, button)]
        return self.send_interaction(payload)

    # --- Events API ---------------------------------------------------------------------

    def event(
        self,
        event: Mapping[str, Any],
        retry_num: int | None = None,
        *,
        retry_reason: str = "http_timeout",
        event_id: str | None = None,
    ) -> httpx.Response:
        """Deliver an Events API ``event_callback`` wrapping ``event``.

        A redelivery carries ``X-Slack-Retry-Num``/``X-Slack-Retry-Reason`` and, as Slack's
        does, the first delivery's ``event_id``: pass the same one (or use ``retry``).
        """
        body = {
            "token": VERIFICATION_TOKEN,
            "team_id": self.team_id,
            "api_app_id": self.app_id,
            "event": dict(event),
            "type": "event_callback",
            "event_id": event_id or _random_id("Ev"),
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": self.team_id,
                    "user_id": self._standin.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
            "event_context": f"4-{_random_id('', 24)}",
        }
        headers = {}
        if retry_num is not None:
            headers = {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": retry_reason}
        return self.send(json.dumps(body).encode(), JSON, headers=headers)

    def app_home_opened(self, user_id: str, tab: str = "home") -> httpx.Response:
        """The user opens the app's Home tab; carries the published view, if any."""
        event: JSONDict = {
            "type": "app_home_opened",
            "user": user_id,
            "channel": self._standin.dm_channel(user_id),
            "tab": tab,
            "event_ts": f"{time.time():.6f}",
        }
        home = self._standin.home(user_id)
        if home is not None:
            event["view"] = home
        return self.event(event)

    def url_verification(self, challenge: str | None = None) -> httpx.Response:
        """Slack's handshake when the request URL is saved; the bot must echo ``challenge``."""
        challenge = challenge or secrets.token_urlsafe(36)
        body = {"token": VERIFICATION_TOKEN, "challenge": challenge, "type": "url_verification"}
        return self.send(json.dumps(body).encode(), JSON)

    # --- pieces -------------------------------------------------------------------------

    def _team(self) -> JSONDict:
        return {"id": self.team_id, "domain": self._standin.team_domain}

    def _user(self, user_id: str) -> JSONDict:
        name = self._standin.user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": self.team_id}


def _json_or_none(response: httpx.Response) -> JSONDict | None:
    if not response.content:
        return None
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def _random_id(prefix: str, length: int = 10) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _find_button(blocks: list[Any], action_id: str) -> tuple[JSONDict, JSONDict]:
    seen: list[str] = []
    for block in blocks:
        for element in interactive_elements(block):
            if element.get("type") != "button":
                continue
            if element.get("action_id") == action_id:
                return block, element
            seen.append(str(element.get("action_id")))
    raise ImpossibleInteraction(f"no button {action_id!r} here; buttons: {seen}")


def _button_action(block: Mapping[str, Any], button: Mapping[str, Any]) -> JSONDict:
    action: JSONDict = {
        "action_id": button["action_id"],
        "block_id": block["block_id"],
        "text": copy.deepcopy(button["text"]),
    }
    if "value" in button:
        action["value"] = button["value"]
    if "style" in button:
        action["style"] = button["style"]
    action.update(type="button", action_ts=f"{time.time():.6f}")
    return action


def _state_values(
    blocks: list[Any], inputs: Mapping[str, str | None], *, submitting: bool
) -> dict[str, dict[str, JSONDict]]:
    """``view.state.values`` for these blocks: what is typed or chosen in each element."""
    remaining = dict(inputs)
    values: dict[str, dict[str, JSONDict]] = {}
    for block in blocks:
        for element in interactive_elements(block):
            if element.get("type") in _STATELESS:
                continue
            action_id = str(element["action_id"])
            given = action_id in remaining
            typed = remaining.pop(action_id, None)
            state = _element_state(block, element, typed, given=given, submitting=submitting)
            values.setdefault(str(block["block_id"]), {})[action_id] = state
    if remaining:
        raise ImpossibleInteraction(f"no input with action_id {sorted(remaining)} in the view")
    return values


def _element_state(
    block: Mapping[str, Any],
    element: Mapping[str, Any],
    typed: str | None,
    *,
    given: bool,
    submitting: bool,
) -> JSONDict:
    kind = str(element["type"])
    action_id = element["action_id"]
    required = submitting and block.get("type") == "input" and not block.get("optional", False)

    if kind in TEXT_INPUTS:
        value = (typed if given else element.get("initial_value")) or None
        if submitting and value is not None:
            _check_length(action_id, element, value)
        if required and value is None:
            raise ImpossibleInteraction(f"{action_id} is required; Slack will not submit it empty")
        return {"type": kind, "value": value}

    if kind in _SINGLE_CHOICES:
        option = _option(element, typed) if given else element.get("initial_option")
        if required and option is None:
            raise ImpossibleInteraction(f"{action_id} is required; Slack will not submit it empty")
        return {"type": kind, "selected_option": copy.deepcopy(option)}

    if kind in _PICKERS:
        initial_key, state_key = _PICKERS[kind]
        value = typed if given else element.get(initial_key)
        if required and value is None:
            raise ImpossibleInteraction(f"{action_id} is required; Slack will not submit it empty")
        return {"type": kind, state_key: value}

    raise ImpossibleInteraction(f"the driver cannot fill a {kind} element ({action_id})")


def _check_length(action_id: str, element: Mapping[str, Any], value: str) -> None:
    longest = element.get("max_length")
    shortest = element.get("min_length")
    if isinstance(longest, int) and len(value) > longest:
        raise ImpossibleInteraction(f"{action_id} takes at most {longest} characters in Slack")
    if isinstance(shortest, int) and len(value) < shortest:
        raise ImpossibleInteraction(f"{action_id} needs at least {shortest} characters in Slack")


def _option(element: Mapping[str, Any], value: str | None) -> JSONDict | None:
    if value is None:
        return None
    options = element_options(element)
    for option in options:
        if option.get("value") == value:
            return option
    offered = [o.get("value") for o in options]
    raise ImpossibleInteraction(
        f"{element['action_id']} offers {offered}; a person cannot choose {value!r}"
    )
