"""A stand-in for Slack's Web API, served on loopback for the demo and the tests.

The bot reaches it through slack_sdk exactly as it reaches Slack (``SLACK_API_URL`` points
here). It answers the Web API methods the bot uses with Slack's documented shapes and errors,
checks Block Kit limits as Slack does, issues trigger ids and response URLs that expire as
Slack's do, and can be told to misbehave: rate limits, server errors, dropped connections and
``ok: false`` answers. It records every call so a test can see what the bot did.

State lives in memory behind one lock: the server runs in a uvicorn thread while a test reads
it from its own thread. ::

    standin = SlackStandIn("xoxb-test", channels={"C0ONCALL": True})
    server = standin.serve()
    client = AsyncWebClient("xoxb-test", base_url=standin.api_url)
    await client.chat_postMessage(channel="C0ONCALL", text="hello")
    assert standin.messages("C0ONCALL")[0]["text"] == "hello"
    server.stop()

Messages, views and response-URL posts come back as dicts shaped like Slack's, plus a
``channel`` key on messages; views carry the ``block_id``/``action_id`` values Slack fills in.
Modals answer ``invalid_arguments`` on a Block Kit violation and messages ``invalid_blocks``,
as Slack does; ``response_metadata.messages`` says what and where (a JSON pointer).
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import secrets
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.serving import ServerThread

JSONDict = dict[str, Any]
_T = TypeVar("_T")

# Slack's Block Kit and messaging limits (see SLACK.md); one place, named.
MESSAGE_BLOCKS = 50
SURFACE_BLOCKS = 100
SECTION_TEXT = 3000
SECTION_FIELD_TEXT = 2000
SECTION_FIELDS = 10
HEADER_TEXT = 150
CONTEXT_ELEMENTS = 10
ACTIONS_ELEMENTS = 25
ID_LENGTH = 255
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL_LENGTH = 3000
OPTION_TEXT = 75
OPTION_VALUE = 150
SELECT_OPTIONS = 100
CHOICE_OPTIONS = 10
OVERFLOW_OPTIONS = 5
PLACEHOLDER_TEXT = 150
LABEL_TEXT = 2000
CONFIRM_TITLE = 100
CONFIRM_TEXT = 300
CONFIRM_BUTTON = 30
VIEW_TITLE = 24
PRIVATE_METADATA = 3000
INPUT_MAX_LENGTH = 3000
MESSAGE_TEXT = 40_000
MODAL_STACK = 3

TRIGGER_TTL = 3.0
RESPONSE_URL_TTL = 30 * 60.0
RESPONSE_URL_USES = 5

TEXT_INPUTS = frozenset({"plain_text_input", "number_input", "email_text_input", "url_text_input"})
_OPTION_ELEMENTS = {
    "static_select": SELECT_OPTIONS,
    "multi_static_select": SELECT_OPTIONS,
    "radio_buttons": CHOICE_OPTIONS,
    "checkboxes": CHOICE_OPTIONS,
    "overflow": OVERFLOW_OPTIONS,
}
_UNCHECKED_BLOCKS = frozenset(
    {"divider", "image", "rich_text", "file", "video", "markdown", "context_actions"}
)
_TS = re.compile(r"^\d+\.\d+$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]+$")


class RejectedBySlack(Exception):
    """Slack would refuse what the bot answered (e.g. a view_submission answer); says why."""


@dataclass(frozen=True)
class Call:
    """One request the stand-in received, in arrival order.

    ``method`` is a Web API method name, or ``"response_url"`` for a post to a response URL.
    ``args`` are the arguments as Slack reads them (JSON strings such as ``blocks`` decoded,
    the token left out). ``status`` is the HTTP status, 0 for a dropped connection;
    ``answer`` is the JSON answered, or None when a fault sent none.
    """

    method: str
    args: JSONDict
    at: float
    status: int
    answer: JSONDict | None


@dataclass
class Channel:
    id: str
    name: str
    member: bool = True
    archived: bool = False


@dataclass
class _Trigger:
    user_id: str
    issued: float
    used: bool = False


@dataclass
class _ResponseUrl:
    user_id: str
    channel_id: str
    issued: float
    message_ts: str | None
    ephemeral: bool
    uses: int = 0


@dataclass
class _Fault:
    kind: Literal["status", "drop", "error"]
    remaining: int | None
    status: int = 200
    retry_after: int = 1
    body: Literal["html", "empty"] = "html"
    error: str = ""


@dataclass
class _ModalState:
    stack: list[str] = field(default_factory=list)
    last: str | None = None


# --- Block Kit checks --------------------------------------------------------------------


class _Problems:
    """Block Kit violations worded as Slack words them: what, then a JSON pointer to where."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def add(self, pointer: str, text: str) -> None:
        self.messages.append(f"[ERROR] {text} [json-pointer:{pointer}]")

    def length(self, value: object, limit: int, pointer: str) -> None:
        if isinstance(value, str) and len(value) > limit:
            self.add(pointer, f"must be less than {limit + 1} characters")

    def text(self, obj: object, pointer: str, limit: int, *, plain: bool = False) -> None:
        allowed = ("plain_text",) if plain else ("plain_text", "mrkdwn")
        if not isinstance(obj, dict) or obj.get("type") not in allowed:
            self.add(pointer, "failed to match all allowed schemas")
            return
        text = obj.get("text")
        if not isinstance(text, str) or not text:
            self.add(f"{pointer}/text", "must be more than 0 characters")
        else:
            self.length(text, limit, f"{pointer}/text")

    def optional_text(self, obj: object, pointer: str, limit: int, *, plain: bool = False) -> None:
        if obj is not None:
            self.text(obj, pointer, limit, plain=plain)


def _check_blocks(problems: _Problems, blocks: object, pointer: str, limit: int) -> None:
    if not isinstance(blocks, list):
        problems.add(pointer, "must be an array")
        return
    if len(blocks) > limit:
        problems.add(pointer, f"no more than {limit} items allowed")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        _check_block(problems, block, f"{pointer}/{index}", block_ids)


def _check_block(problems: _Problems, block: object, pointer: str, block_ids: set[str]) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        problems.add(pointer, "missing required field: type")
        return
    block_id = block.get("block_id")
    if block_id is not None:
        problems.length(block_id, ID_LENGTH, f"{pointer}/block_id")
        if block_id in block_ids:
            problems.add(f"{pointer}/block_id", f"duplicate block_id: {block_id}")
        block_ids.add(block_id)

    kind = block["type"]
    if kind == "section":
        _check_section(problems, block, pointer)
    elif kind == "header":
        problems.text(block.get("text"), f"{pointer}/text", HEADER_TEXT, plain=True)
    elif kind == "context":
        _check_context(problems, block.get("elements"), f"{pointer}/elements")
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            problems.add(f"{pointer}/elements", "must contain at least 1 item")
            return
        if len(elements) > ACTIONS_ELEMENTS:
            problems.add(f"{pointer}/elements", f"no more than {ACTIONS_ELEMENTS} items allowed")
        action_ids: set[str] = set()
        for index, element in enumerate(elements):
            _check_element(problems, element, f"{pointer}/elements/{index}", action_ids)
    elif kind == "input":
        problems.text(block.get("label"), f"{pointer}/label", LABEL_TEXT, plain=True)
        problems.optional_text(block.get("hint"), f"{pointer}/hint", LABEL_TEXT, plain=True)
        if "element" not in block:
            problems.add(pointer, "missing required field: element")
        else:
            _check_element(problems, block["element"], f"{pointer}/element", set())
    elif kind not in _UNCHECKED_BLOCKS:
        problems.add(pointer, "failed to match all allowed schemas")


def _check_section(problems: _Problems, block: JSONDict, pointer: str) -> None:
    if "text" not in block and "fields" not in block:
        problems.add(pointer, "missing required field: text")
    problems.optional_text(block.get("text"), f"{pointer}/text", SECTION_TEXT)
    fields = block.get("fields")
    if fields is not None:
        if not isinstance(fields, list) or len(fields) > SECTION_FIELDS:
            problems.add(f"{pointer}/fields", f"no more than {SECTION_FIELDS} items allowed")
        else:
            for index, item in enumerate(fields):
                problems.text(item, f"{pointer}/fields/{index}", SECTION_FIELD_TEXT)
    if "accessory" in block:
        _check_element(problems, block["accessory"], f"{pointer}/accessory", set())


def _check_context(problems: _Problems, elements: object, pointer: str) -> None:
    if not isinstance(elements, list) or not elements:
        problems.add(pointer, "must contain at least 1 item")
        return
    if len(elements) > CONTEXT_ELEMENTS:
        problems.add(pointer, f"no more than {CONTEXT_ELEMENTS} items allowed")
    for index, element in enumerate(elements):
        if not (isinstance(element, dict) and element.get("type") == "image"):
            problems.text(element, f"{pointer}/{index}", SECTION_TEXT)


def _check_element(problems: _Problems, element: object, pointer: str, ids: set[str]) -> None:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        problems.add(pointer, "missing required field: type")
        return
    action_id = element.get("action_id")
    if action_id is not None:
        problems.length(action_id, ID_LENGTH, f"{pointer}/action_id")
        if action_id in ids:
            problems.add(f"{pointer}/action_id", f"duplicate action_id: {action_id}")
        ids.add(action_id)
    if "confirm" in element:
        _check_confirm(problems, element["confirm"], f"{pointer}/confirm")

    kind = element["type"]
    if kind == "button":
        problems.text(element.get("text"), f"{pointer}/text", BUTTON_TEXT, plain=True)
        problems.length(element.get("value"), BUTTON_VALUE, f"{pointer}/value")
        problems.length(element.get("url"), URL_LENGTH, f"{pointer}/url")
        if element.get("style", "primary") not in ("primary", "danger"):
            problems.add(f"{pointer}/style", "must be one of primary, danger")
    elif kind in _OPTION_ELEMENTS:
        _check_options(problems, element, pointer, _OPTION_ELEMENTS[kind])
    elif kind in TEXT_INPUTS:
        for key in ("max_length", "min_length"):
            value = element.get(key)
            if isinstance(value, int) and not 0 <= value <= INPUT_MAX_LENGTH:
                problems.add(f"{pointer}/{key}", f"must be at most {INPUT_MAX_LENGTH}")
        problems.optional_text(
            element.get("placeholder"), f"{pointer}/placeholder", PLACEHOLDER_TEXT, plain=True
        )


def _check_confirm(problems: _Problems, confirm: object, pointer: str) -> None:
    if not isinstance(confirm, dict):
        problems.add(pointer, "failed to match all allowed schemas")
        return
    problems.text(confirm.get("title"), f"{pointer}/title", CONFIRM_TITLE, plain=True)
    problems.text(confirm.get("text"), f"{pointer}/text", CONFIRM_TEXT)
    problems.text(confirm.get("confirm"), f"{pointer}/confirm", CONFIRM_BUTTON, plain=True)
    problems.text(confirm.get("deny"), f"{pointer}/deny", CONFIRM_BUTTON, plain=True)


def element_options(element: Mapping[str, Any]) -> list[JSONDict]:
    """The options of a select, radio or checkbox element, groups flattened."""
    options = list(element.get("options") or [])
    for group in element.get("option_groups") or []:
        options.extend(group.get("options") or [])
    return [option for option in options if isinstance(option, dict)]


def _same_option(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.get("value") == b.get("value") and (a.get("text") or {}).get("text") == (
        b.get("text") or {}
    ).get("text")


def _check_options(problems: _Problems, element: JSONDict, pointer: str, limit: int) -> None:
    plain = element["type"] in ("static_select", "multi_static_select", "overflow")
    if plain:
        problems.optional_text(
            element.get("placeholder"), f"{pointer}/placeholder", PLACEHOLDER_TEXT, plain=True
        )
    raw = element.get("options")
    if raw is None and element.get("option_groups") is None:
        problems.add(pointer, "missing required field: options")
        return
    if isinstance(raw, list) and len(raw) > limit:
        problems.add(f"{pointer}/options", f"no more than {limit} items allowed")
    for index, option in enumerate(raw if isinstance(raw, list) else []):
        option_pointer = f"{pointer}/options/{index}"
        if not isinstance(option, dict):
            problems.add(option_pointer, "failed to match all allowed schemas")
            continue
        problems.text(option.get("text"), f"{option_pointer}/text", OPTION_TEXT, plain=plain)
        problems.length(option.get("value"), OPTION_VALUE, f"{option_pointer}/value")

    options = element_options(element)
    initial = [element["initial_option"]] if "initial_option" in element else []
    initial += element.get("initial_options") or []
    for chosen in initial:
        if not isinstance(chosen, dict) or not any(_same_option(chosen, o) for o in options):
            problems.add(f"{pointer}/initial_option", "must match one of the provided options")


def _check_view(view: object) -> list[str]:
    problems = _Problems()
    if not isinstance(view, dict):
        problems.add("/view", "must be an object")
        return problems.messages
    kind = view.get("type")
    if kind not in ("modal", "home"):
        problems.add("/view/type", "failed to match all allowed schemas")
    if kind == "modal":
        if "title" not in view:
            problems.add("/view", "missing required field: title")
        else:
            problems.text(view["title"], "/view/title", VIEW_TITLE, plain=True)
        for key in ("submit", "close"):
            problems.optional_text(view.get(key), f"/view/{key}", VIEW_TITLE, plain=True)
        blocks = view.get("blocks")
        has_input = isinstance(blocks, list) and any(
            isinstance(b, dict) and b.get("type") == "input" for b in blocks
        )
        if has_input and view.get("submit") is None:
            problems.add("/view", "missing required field: submit")
    problems.length(view.get("private_metadata"), PRIVATE_METADATA, "/view/private_metadata")
    problems.length(view.get("callback_id"), ID_LENGTH, "/view/callback_id")
    problems.length(view.get("external_id"), ID_LENGTH, "/view/external_id")
    if "blocks" not in view:
        problems.add("/view", "missing required field: blocks")
    else:
        _check_blocks(problems, view["blocks"], "/view/blocks", SURFACE_BLOCKS)
    return problems.messages


# --- small helpers -----------------------------------------------------------------------


def _error(error: str, **extra: Any) -> JSONDict:
    return {"ok": False, "error": error, **extra}


def _invalid_arguments(messages: list[str]) -> JSONDict:
    return _error("invalid_arguments", response_metadata={"messages": messages})


def _missing(name: str) -> JSONDict:
    return _invalid_arguments([f"[ERROR] missing required field: {name} [json-pointer:/{name}]"])


def _flag(value: object) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true")
    return bool(value)


def _random_id(prefix: str, length: int = 10) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(length))


def _short_id() -> str:
    # Slack fills a missing block_id or action_id with a short random string.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(5))


def interactive_elements(block: Mapping[str, Any]) -> Iterator[JSONDict]:
    """A block's interactive elements: an input's element, an accessory, actions elements."""
    if block.get("type") == "input" and isinstance(block.get("element"), dict):
        yield block["element"]
    if isinstance(block.get("accessory"), dict):
        yield block["accessory"]
    if block.get("type") == "actions":
        yield from (e for e in block.get("elements") or [] if isinstance(e, dict))


def _fill_ids(blocks: Iterable[Any]) -> list[Any]:
    """Copy blocks, giving each block and interactive element the id Slack would assign."""
    filled = copy.deepcopy(list(blocks))
    for block in filled:
        if not isinstance(block, dict):
            continue
        block.setdefault("block_id", _short_id())
        for element in interactive_elements(block):
            if element.get("type") not in ("image",):
                element.setdefault("action_id", _short_id())
    return filled


def _decode_json_args(args: JSONDict) -> str | None:
    """Slack accepts blocks and views as JSON strings in form posts; decode them in place."""
    for key in ("blocks", "view", "attachments"):
        value = args.get(key)
        if not isinstance(value, str):
            continue
        try:
            args[key] = json.loads(value)
        except ValueError:
            return "invalid_blocks_format" if key == "blocks" else "invalid_arguments"
    return None


def _public(message: Mapping[str, Any]) -> JSONDict:
    """A stored message as the Web API shows it (without the stand-in's channel key)."""
    return {k: copy.deepcopy(v) for k, v in message.items() if k != "channel"}


_HTML_ERROR = (
    "<html><head><title>Server Error</title></head>"
    "<body><h1>Slack is having trouble</h1></body></html>"
)


class SlackStandIn:
    """Slack's Web API for one workspace and one bot token, in memory.

    ``channels`` maps channel ids to whether the bot is a member (default: ``C0ONCALL``, a
    member). ``usergroups`` maps user-group ids (``S…``) to member user ids. ``clock`` is
    monotonic seconds; tests may pass a fake one to age trigger ids and response URLs without
    sleeping.
    """

    def __init__(
        self,
        bot_token: str,
        *,
        channels: Mapping[str, bool] | None = None,
        usergroups: Mapping[str, Sequence[str]] | None = None,
        team_id: str = "T0TEAM",
        team_domain: str = "standin",
        app_id: str = "A0APP",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        bot_name: str = "revoke-cert-bot",
        trigger_ttl: float = TRIGGER_TTL,
        response_url_ttl: float = RESPONSE_URL_TTL,
        response_url_uses: int = RESPONSE_URL_USES,
        clock: Callable[[], float] = time.monotonic,
        app_token: str | None = None,
    ) -> None:
        self.bot_token = bot_token
        # Socket Mode: apps.connections.open takes the app-level token and answers this URL.
        self.app_token = app_token
        self.socket_mode_url: str | None = None
        self.team_id = team_id
        self.team_domain = team_domain
        self.app_id = app_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.bot_name = bot_name
        self.trigger_ttl = trigger_ttl
        self.response_url_ttl = response_url_ttl
        self.response_url_uses = response_url_uses
        self._clock = clock
        self._url: str | None = None

        # One re-entrant lock guards all state; the condition wakes wait_for() on any change.
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)
        self._initial_channels = dict(channels if channels is not None else {"C0ONCALL": True})
        self._initial_usergroups = {k: list(v) for k, v in (usergroups or {}).items()}
        self._channels: dict[str, Channel] = {}
        self._usergroups: dict[str, list[str]] = {}
        self._users: dict[str, JSONDict] = {}
        self._messages: dict[str, dict[str, JSONDict]] = {}
        self._ephemerals: dict[str, list[JSONDict]] = {}
        self._responses: dict[str, list[JSONDict]] = {}
        self._views: dict[str, JSONDict] = {}
        self._view_owner: dict[str, str] = {}
        self._view_errors: dict[str, dict[str, str]] = {}
        self._modals: dict[str, _ModalState] = {}
        self._homes: dict[str, str] = {}
        self._triggers: dict[str, _Trigger] = {}
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._calls: list[Call] = []
        self._faults: dict[str, list[_Fault]] = {}
        self._latency: dict[str, float] = {}
        self._last_ts = 0
        self.reset()

        self._methods: dict[str, Callable[[JSONDict, str], JSONDict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.info": self._conversations_info,
            "conversations.open": self._conversations_open,
            "views.open": self._views_open,
            "views.push": self._views_push,
            "views.update": self._views_update,
            "views.publish": self._views_publish,
            "usergroups.users.list": self._usergroups_users_list,
            "users.info": self._users_info,
        }
        self._app = Starlette(
            routes=[
                Route("/api/{method}", self._api, methods=["GET", "POST"]),
                Route("/response/{key}", self._response_url_post, methods=["POST"]),
                Route("/_standin/state", self._control_state, methods=["GET"]),
                Route("/_standin/faults", self._control_faults, methods=["POST", "DELETE"]),
                Route("/_standin/triggers", self._control_triggers, methods=["POST"]),
            ]
        )

    # --- serving ----------------------------------------------------------------------

    @property
    def asgi_app(self) -> ASGIApp:
        """The ASGI application; serve it with ``ServerThread`` (or call ``serve()``)."""
        starlette = self._app

        # A plain coroutine function, so servers recognise an ASGI 3 app.
        async def app(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] == "http":
                # Kept for dropped-connection faults: Starlette wraps ``send`` further down.
                scope["standin.server_send"] = send
            await starlette(scope, receive, send)

        return app

    def serve(self, host: str = "127.0.0.1", port: int | None = None) -> ServerThread:
        """Start serving on loopback and remember the URL (response URLs need it)."""
        server = ServerThread(self.asgi_app, host=host, port=port).start()
        self.url = server.url
        return server

    @property
    def url(self) -> str:
        """Where the stand-in is served, e.g. ``http://127.0.0.1:51234``."""
        if self._url is None:
            raise RuntimeError("stand-in URL unknown: use serve(), or set url = server.url")
        return self._url

    @url.setter
    def url(self, value: str) -> None:
        self._url = value.rstrip("/")

    @property
    def api_url(self) -> str:
        """The value for ``SLACK_API_URL`` / slack_sdk's ``base_url``."""
        return f"{self.url}/api/"

    # --- configuration ----------------------------------------------------------------

    def reset(self) -> None:
        """Forget all that happened (messages, views, calls, faults, issued ids) and restore
        the constructor's channels and user groups, so tests can share one served stand-in."""
        with self._changed:
            for state in (
                self._channels, self._users, self._messages, self._ephemerals,
                self._responses, self._views, self._view_owner, self._view_errors,
                self._modals, self._homes, self._triggers, self._response_urls,
                self._faults, self._latency,
            ):  # fmt: skip
                state.clear()
            self._calls.clear()
            for channel_id, member in self._initial_channels.items():
                self._channels[channel_id] = Channel(channel_id, channel_id.lower(), member)
            self._usergroups = copy.deepcopy(self._initial_usergroups)
            self._changed.notify_all()

    def set_channel(
        self,
        channel_id: str,
        *,
        member: bool = True,
        archived: bool = False,
        name: str | None = None,
    ) -> None:
        """Add a channel or change one: whether the bot is in it, whether it is archived."""
        with self._changed:
            self._channels[channel_id] = Channel(
                channel_id, name or channel_id.lower(), member=member, archived=archived
            )
            self._changed.notify_all()

    def remove_channel(self, channel_id: str) -> None:
        """Forget a channel: calls naming it get ``channel_not_found``."""
        with self._changed:
            self._channels.pop(channel_id, None)
            self._changed.notify_all()

    def set_usergroup(self, usergroup_id: str, users: Sequence[str]) -> None:
        with self._changed:
            self._usergroups[usergroup_id] = list(users)
            self._changed.notify_all()

    def add_user(self, user_id: str, name: str, *, real_name: str | None = None) -> None:
        """Name a user; any other well-formed user id (U…/W…) exists with a derived name."""
        with self._lock:
            self._users[user_id] = self._user_record(user_id, name, real_name or name)

    def user_name(self, user_id: str) -> str:
        with self._lock:
            known = self._users.get(user_id)
            return str(known["name"]) if known else user_id.lower()

    def channel_name(self, channel_id: str) -> str:
        """The name Slack sends for a channel; ``directmessage`` for a DM."""
        with self._lock:
            if channel_id.startswith("D"):
                return "directmessage"
            channel = self._channels.get(channel_id)
            # Slack names a private conversation it cannot show the app "privategroup".
            return channel.name if channel else "privategroup"

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The id of the bot's direct-message conversation with a user."""
        return "D" + user_id[1:]

    # --- what the driver issues -------------------------------------------------------

    def new_trigger(self, user_id: str) -> str:
        """A trigger id for a user's interaction; opens one view within ``trigger_ttl``."""
        trigger_id = f"{secrets.randbelow(10**11)}.{int(time.time())}.{secrets.token_hex(16)}"
        with self._lock:
            self._triggers[trigger_id] = _Trigger(user_id, self._clock())
        return trigger_id

    def new_response_url(
        self,
        user_id: str,
        channel_id: str,
        *,
        message_ts: str | None = None,
        ephemeral: bool = False,
    ) -> str:
        """A response URL for an interaction by ``user_id`` in ``channel_id``.

        ``message_ts`` names the message the interaction came from (``replace_original`` and
        ``delete_original`` act on it); ``ephemeral`` says that message was ephemeral.
        """
        key = secrets.token_urlsafe(18)
        with self._lock:
            self._response_urls[key] = _ResponseUrl(
                user_id, channel_id, self._clock(), message_ts, ephemeral
            )
        return f"{self.url}/response/{key}"

    def is_open(self, user_id: str, view_id: str) -> bool:
        """Whether the user has this view in front of them: an open modal or their Home tab."""
        with self._lock:
            modal = self._modals.get(user_id)
            in_modal = modal is not None and view_id in modal.stack
            return in_modal or self._homes.get(user_id) == view_id

    def apply_view_answer(self, user_id: str, view_id: str, answer: JSONDict | None) -> None:
        """Do what Slack does with the bot's answer to a ``view_submission``.

        No ``response_action`` closes the submitted view; ``clear`` closes them all;
        ``update`` and ``push`` show the given view; ``errors`` keeps the modal open with the
        messages (see ``view_errors``). Raises RejectedBySlack for an answer Slack refuses,
        such as an error keyed by something other than an input block's ``block_id``.
        """
        action = (answer or {}).get("response_action")
        with self._changed:
            modal = self._modals.setdefault(user_id, _ModalState())
            if view_id not in modal.stack:
                raise RejectedBySlack(f"view {view_id} is not open for {user_id}")
            if action == "errors":
                self._accept_view_errors(view_id, (answer or {}).get("errors"))
            elif action in ("update", "push"):
                new_view = (answer or {}).get("view")
                problems = _check_view(new_view)
                if problems:
                    raise RejectedBySlack("; ".join(problems))
                assert isinstance(new_view, dict)
                if action == "update":
                    self._replace_view(view_id, new_view)
                elif len(modal.stack) >= MODAL_STACK:
                    raise RejectedBySlack(f"a modal stack holds at most {MODAL_STACK} views")
                else:
                    self._push_modal(user_id, new_view, modal)
            elif action == "clear":
                modal.stack.clear()
            elif action is None:
                del modal.stack[modal.stack.index(view_id) :]
            else:
                raise RejectedBySlack(f"unknown response_action {action!r}")
            self._changed.notify_all()

    def record_command_ack(self, user_id: str, channel_id: str, body: JSONDict | str) -> None:
        """Show what the bot put in its slash-command acknowledgement, as Slack does."""
        payload = {"text": body} if isinstance(body, str) else dict(body)
        content = _message_content(payload)
        if "error" in content:
            raise RejectedBySlack(f"acknowledgement refused: {content}")
        with self._changed:
            self._deliver(
                _ResponseUrl(user_id, channel_id, self._clock(), None, False),
                payload,
                via="ack",
            )
            self._changed.notify_all()

    def record_command_failure(
        self, user_id: str, channel_id: str, command: str, error: str
    ) -> None:
        """Slack's own ephemeral notice when a slash command was not acknowledged in time
        (``operation_timeout``) or got an error status (``dispatch_failed``)."""
        text = f'{command} failed with the error "{error}"'
        with self._changed:
            self._add_ephemeral(user_id, channel_id, text, None, None, via="slack")
            self._changed.notify_all()

    # --- faults -----------------------------------------------------------------------

    def fail(
        self,
        method: str,
        status: int = 429,
        *,
        times: int | None = 1,
        retry_after: int = 1,
        body: Literal["html", "empty"] = "html",
    ) -> None:
        """Answer the next ``times`` calls of ``method`` (``"*"``: any) with an HTTP error.

        429 comes with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``; other
        statuses with an HTML page or an empty body. ``times=None`` lasts until
        ``clear_faults()``. ``method`` may be ``"response_url"``.
        """
        self._add_fault(
            method, _Fault("status", times, status=status, retry_after=retry_after, body=body)
        )

    def fail_with_error(self, method: str, error: str, *, times: int | None = 1) -> None:
        """Answer the next ``times`` calls with HTTP 200 and ``{"ok": false, "error": …}``."""
        self._add_fault(method, _Fault("error", times, error=error))

    def drop(self, method: str, *, times: int | None = 1) -> None:
        """Close the connection without answering the next ``times`` calls."""
        self._add_fault(method, _Fault("drop", times))

    def set_latency(self, seconds: float, method: str = "*") -> None:
        """Delay every answer to ``method`` (``"*"``: any) by ``seconds``; 0 removes it."""
        with self._lock:
            self._latency[method] = seconds

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()
            self._latency.clear()

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._lock:
            self._faults.setdefault(method, []).append(fault)

    def _take_fault(self, method: str) -> _Fault | None:
        with self._lock:
            for key in (method, "*"):
                queue = self._faults.get(key)
                if not queue:
                    continue
                fault = queue[0]
                if fault.remaining is not None:
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.pop(0)
                return fault
            return None

    def _delay(self, method: str) -> float:
        with self._lock:
            return self._latency.get(method, self._latency.get("*", 0.0))

    # --- inspection -------------------------------------------------------------------

    def calls(self, method: str | None = None) -> list[Call]:
        """Every call received (of one method, if given), oldest first."""
        with self._lock:
            return [copy.deepcopy(c) for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str) -> list[JSONDict]:
        """The channel as people see it: top-level messages (and broadcast replies), oldest
        first, each as it stands after updates. A user id means the bot's DM with that user.
        """
        channel_id = self.dm_channel(channel) if _USER_ID.match(channel) else channel
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(channel_id, {}).values()
                if m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"
            ]

    def message(self, channel: str, ts: str) -> JSONDict | None:
        """One message (top-level or reply) as it stands now, or None if there is none."""
        channel_id = self.dm_channel(channel) if _USER_ID.match(channel) else channel
        with self._lock:
            found = self._messages.get(channel_id, {}).get(ts)
            return copy.deepcopy(found) if found else None

    def thread(self, channel: str, ts: str) -> list[JSONDict]:
        """The replies in the thread under message ``ts`` (the parent not included)."""
        channel_id = self.dm_channel(channel) if _USER_ID.match(channel) else channel
        with self._lock:
            return [
                copy.deepcopy(m)
                for m in self._messages.get(channel_id, {}).values()
                if m.get("thread_ts") == ts and m["ts"] != ts
            ]

    def ephemerals(self, user_id: str) -> list[JSONDict]:
        """Every ephemeral message the user has in front of them, oldest first.

        ``via`` says how it came: ``chat.postEphemeral``, ``response_url``, ``ack`` (the
        text of a slash-command acknowledgement) or ``slack`` (Slack's own notices).
        """
        with self._lock:
            return copy.deepcopy(self._ephemerals.get(user_id, []))

    def responses(self, user_id: str) -> list[JSONDict]:
        """The accepted posts to response URLs issued for this user, as posted, in order."""
        with self._lock:
            return copy.deepcopy(self._responses.get(user_id, []))

    def last_view(self, user_id: str) -> JSONDict | None:
        """The modal view most recently opened, pushed or updated for the user (even if it
        has since closed), as Slack returned it to the bot; None if there was none."""
        with self._lock:
            modal = self._modals.get(user_id)
            if modal is None or modal.last is None:
                return None
            return copy.deepcopy(self._views[modal.last])

    def open_views(self, user_id: str) -> list[JSONDict]:
        """The user's open modal stack, root first; empty once closed."""
        with self._lock:
            modal = self._modals.get(user_id)
            stack = modal.stack if modal else []
            return [copy.deepcopy(self._views[view_id]) for view_id in stack]

    def view(self, view_id: str) -> JSONDict | None:
        with self._lock:
            found = self._views.get(view_id)
            return copy.deepcopy(found) if found else None

    def view_errors(self, view_id: str) -> dict[str, str]:
        """The field errors shown on a view (``block_id`` → message) after an ``errors``
        answer; empty if none."""
        with self._lock:
            return dict(self._view_errors.get(view_id, {}))

    def home(self, user_id: str) -> JSONDict | None:
        """The Home tab view published for the user, or None."""
        with self._lock:
            view_id = self._homes.get(user_id)
            return copy.deepcopy(self._views[view_id]) if view_id else None

    def wait_for(self, predicate: Callable[[], _T], timeout: float = 5.0) -> _T:
        """Wait until ``predicate()`` returns something truthy and return it.

        The bot works after acknowledging, so a test waits for the effect. The predicate is
        re-evaluated whenever the stand-in's state changes. Raises TimeoutError.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"condition not met within {timeout} s: {value!r}")
                self._changed.wait(remaining)

    def state(self) -> JSONDict:
        """Everything, as JSON: what ``GET /_standin/state`` answers."""
        with self._lock:
            everything = {
                "channels": [asdict(c) for c in self._channels.values()],
                "messages": {
                    channel: list(messages.values()) for channel, messages in self._messages.items()
                },
                "ephemerals": self._ephemerals,
                "responses": self._responses,
                "views": self._views,
                "open_views": {user: m.stack for user, m in self._modals.items()},
                "homes": self._homes,
                "calls": [asdict(c) for c in self._calls],
            }
            return copy.deepcopy(everything)

    # --- HTTP: the Web API ------------------------------------------------------------

    async def _api(self, request: Request) -> Response:
        method = request.path_params["method"]
        args, token, parse_error = await self._read_args(request)

        delay = self._delay(method)
        if delay:
            await asyncio.sleep(delay)
        fault = self._take_fault(method)
        if fault is not None and fault.kind != "error":
            return await self._faulted(request, method, args, fault)

        if method == "apps.connections.open" and token is not None:
            answer = self._apps_connections_open(token)
        elif token is None:
            answer = _error("not_authed")
        elif token != self.bot_token:
            answer = _error("invalid_auth")
        elif fault is not None:
            answer = _error(fault.error)
        elif parse_error is not None:
            answer = _error(parse_error)
        elif method not in self._methods:
            answer = _error("unknown_method", req_method=method)
        else:
            base = self._url or f"{request.url.scheme}://{request.url.netloc}"
            with self._lock:
                answer = self._methods[method](args, base)
        self._record(method, args, 200, answer)
        return JSONResponse(answer)

    def _apps_connections_open(self, token: str) -> JSONDict:
        if token == self.bot_token:
            return _error("not_allowed_token_type")
        if self.app_token is None or token != self.app_token or self.socket_mode_url is None:
            return _error("invalid_auth")
        return {"ok": True, "url": self.socket_mode_url}

    async def _read_args(self, request: Request) -> tuple[JSONDict, str | None, str | None]:
        """Arguments from the query string and a form or JSON body, the token, a parse error."""
        args: JSONDict = dict(request.query_params)
        token = args.pop("token", None)
        body = await request.body()
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        error: str | None = None
        if body and content_type == "application/json":
            try:
                data = json.loads(body)
            except ValueError:
                data = None
            if isinstance(data, dict):
                # Slack takes the token of a JSON post from the Authorization header only.
                data.pop("token", None)
                args.update(data)
            else:
                error = "invalid_json"
        elif body and content_type in ("application/x-www-form-urlencoded", ""):
            form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
            token = form.pop("token", token)
            args.update(form)
        elif body:
            error = "invalid_post_type"

        authorization = request.headers.get("authorization", "")
        if authorization.lower().startswith("bearer "):
            token = authorization[len("bearer ") :].strip()
        return args, token, error or _decode_json_args(args)

    async def _faulted(
        self, request: Request, method: str, args: JSONDict, fault: _Fault
    ) -> Response:
        if fault.kind == "drop":
            self._record(method, args, 0, None)
            await _drop_connection(request.scope)
            return Response(status_code=204)
        if fault.status == 429:
            answer = _error("ratelimited")
            self._record(method, args, 429, answer)
            headers = {"Retry-After": str(fault.retry_after)}
            return JSONResponse(answer, status_code=429, headers=headers)
        self._record(method, args, fault.status, None)
        if fault.body == "empty":
            return Response(b"", status_code=fault.status)
        return Response(_HTML_ERROR, status_code=fault.status, media_type="text/html")

    def _record(self, method: str, args: JSONDict, status: int, answer: JSONDict | None) -> None:
        with self._changed:
            self._calls.append(
                Call(method, copy.deepcopy(args), time.time(), status, copy.deepcopy(answer))
            )
            self._changed.notify_all()

    # --- Web API methods (called with the lock held) ----------------------------------

    def _auth_test(self, args: JSONDict, base: str) -> JSONDict:
        return {
            "ok": True,
            "url": f"{base}/",
            "team": self.team_domain,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: JSONDict, base: str) -> JSONDict:
        channel_id, problem = self._writable_channel(args.get("channel"), dm_by_user=True)
        if problem:
            return problem
        content = _message_content(args)
        if "error" in content:
            return content
        thread_ts = args.get("thread_ts")
        if thread_ts is not None and not _TS.match(str(thread_ts)):
            why = f"[ERROR] {thread_ts} is not a valid thread_ts"
            return _error("invalid_thread_ts", response_metadata={"messages": [why]})
        broadcast = thread_ts is not None and _flag(args.get("reply_broadcast"))
        message = self._post(
            channel_id,
            content["text"],
            content["blocks"],
            None if thread_ts is None else str(thread_ts),
            broadcast=broadcast,
        )
        return {"ok": True, "channel": channel_id, "ts": message["ts"], "message": _public(message)}

    def _chat_update(self, args: JSONDict, base: str) -> JSONDict:
        # Slack wants the DM's own id (D…) here, not a user id.
        channel_id, problem = self._writable_channel(args.get("channel"), dm_by_user=False)
        if problem:
            return problem
        if not args.get("ts"):
            return _missing("ts")
        message = self._messages.get(channel_id, {}).get(str(args["ts"]))
        if message is None:
            return _error("message_not_found")
        content = _message_content(args)
        if "error" in content:
            return content
        message["text"] = content["text"]
        # Slack keeps the previous blocks when an update leaves them out; [] removes them.
        if args.get("blocks") is not None:
            if content["blocks"]:
                message["blocks"] = content["blocks"]
            else:
                message.pop("blocks", None)
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self._changed.notify_all()
        return {
            "ok": True,
            "channel": channel_id,
            "ts": message["ts"],
            "text": message["text"],
            "message": _public(message),
        }

    def _chat_post_ephemeral(self, args: JSONDict, base: str) -> JSONDict:
        channel_id, problem = self._writable_channel(args.get("channel"), dm_by_user=True)
        if problem:
            return problem
        if not args.get("user"):
            return _missing("user")
        content = _message_content(args)
        if "error" in content:
            return content
        thread_ts = args.get("thread_ts")
        ephemeral = self._add_ephemeral(
            str(args["user"]),
            channel_id,
            content["text"],
            content["blocks"],
            None if thread_ts is None else str(thread_ts),
            via="chat.postEphemeral",
        )
        return {"ok": True, "message_ts": ephemeral["ts"]}

    def _chat_get_permalink(self, args: JSONDict, base: str) -> JSONDict:
        channel_id, problem = self._known_channel(args.get("channel"))
        if problem:
            return problem
        ts = str(args.get("message_ts") or "")
        message = self._messages.get(channel_id, {}).get(ts)
        if message is None:
            return _error("message_not_found")
        permalink = f"{base}/archives/{channel_id}/p{ts.replace('.', '')}"
        parent = message.get("thread_ts")
        if parent and parent != ts:
            permalink += f"?thread_ts={parent}&cid={channel_id}"
        return {"ok": True, "channel": channel_id, "permalink": permalink}

    def _conversations_info(self, args: JSONDict, base: str) -> JSONDict:
        channel_id, problem = self._known_channel(args.get("channel"))
        if problem:
            return problem
        channel = self._channels.get(channel_id)
        info: JSONDict = {"id": channel_id, "is_im": channel is None}
        if channel is not None:
            info.update(
                name=channel.name,
                is_channel=True,
                is_member=channel.member,
                is_archived=channel.archived,
            )
        return {"ok": True, "channel": info}

    def _conversations_open(self, args: JSONDict, base: str) -> JSONDict:
        users = [u for u in str(args.get("users") or "").split(",") if u]
        if len(users) != 1 or not _USER_ID.match(users[0]):
            return _error("user_not_found")
        return {"ok": True, "channel": {"id": self.dm_channel(users[0])}}

    def _views_open(self, args: JSONDict, base: str) -> JSONDict:
        problems = _check_view(args.get("view"))
        if problems:
            return _invalid_arguments(problems)
        user_id, problem = self._use_trigger(args.get("trigger_id"))
        if problem:
            return problem
        modal = self._modals.setdefault(user_id, _ModalState())
        modal.stack.clear()
        view = self._push_modal(user_id, args["view"], modal)
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_push(self, args: JSONDict, base: str) -> JSONDict:
        problems = _check_view(args.get("view"))
        if problems:
            return _invalid_arguments(problems)
        user_id, problem = self._use_trigger(args.get("trigger_id"))
        if problem:
            return problem
        modal = self._modals.setdefault(user_id, _ModalState())
        if len(modal.stack) >= MODAL_STACK:
            return _error("push_limit_reached")
        view = self._push_modal(user_id, args["view"], modal)
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_update(self, args: JSONDict, base: str) -> JSONDict:
        view_id = args.get("view_id")
        if not view_id and args.get("external_id"):
            view_id = next(
                (v["id"] for v in self._views.values() if v["external_id"] == args["external_id"]),
                None,
            )
            if view_id is None:
                return _error("not_found")
        if not view_id:
            return _missing("view_id")
        current = self._views.get(str(view_id))
        if current is None:
            return _error("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            return _error("hash_conflict")
        problems = _check_view(args.get("view"))
        if problems:
            return _invalid_arguments(problems)
        view = self._replace_view(current["id"], args["view"])
        return {"ok": True, "view": copy.deepcopy(view)}

    def _views_publish(self, args: JSONDict, base: str) -> JSONDict:
        user_id = args.get("user_id")
        if not user_id:
            return _missing("user_id")
        problems = _check_view(args.get("view"))
        if not problems and args["view"].get("type") != "home":
            problems = ["[ERROR] must be home [json-pointer:/view/type]"]
        if problems:
            return _invalid_arguments(problems)
        current_id = self._homes.get(str(user_id))
        if current_id is not None:
            if args.get("hash") and args["hash"] != self._views[current_id]["hash"]:
                return _error("hash_conflict")
            view = self._replace_view(current_id, args["view"])
        else:
            view = self._new_view(args["view"], previous=None, root=None)
            self._view_owner[view["id"]] = str(user_id)
            self._homes[str(user_id)] = view["id"]
        self._changed.notify_all()
        return {"ok": True, "view": copy.deepcopy(view)}

    def _usergroups_users_list(self, args: JSONDict, base: str) -> JSONDict:
        usergroup = args.get("usergroup")
        if not usergroup:
            return _missing("usergroup")
        users = self._usergroups.get(str(usergroup))
        if users is None:
            return _error("no_such_subteam")
        return {"ok": True, "users": list(users)}

    def _users_info(self, args: JSONDict, base: str) -> JSONDict:
        user_id = str(args.get("user") or "")
        if user_id in self._users:
            return {"ok": True, "user": copy.deepcopy(self._users[user_id])}
        if not _USER_ID.match(user_id):
            return _error("user_not_found")
        return {"ok": True, "user": self._user_record(user_id, user_id.lower(), user_id)}

    # --- state changes (lock held) ----------------------------------------------------

    def _next_ts(self) -> str:
        # Slack's ts: seconds.microseconds, unique and increasing.
        micros = max(int(time.time() * 1_000_000), self._last_ts + 1)
        self._last_ts = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _known_channel(self, raw: object) -> tuple[str, JSONDict | None]:
        channel_id = str(raw or "")
        if channel_id.startswith("#"):
            by_name = [c.id for c in self._channels.values() if c.name == channel_id[1:]]
            channel_id = by_name[0] if by_name else ""
        if channel_id.startswith("D") or channel_id in self._channels:
            return channel_id, None
        return channel_id, _error("channel_not_found")

    def _writable_channel(self, raw: object, *, dm_by_user: bool) -> tuple[str, JSONDict | None]:
        if dm_by_user and isinstance(raw, str) and _USER_ID.match(raw):
            return self.dm_channel(raw), None
        channel_id, problem = self._known_channel(raw)
        if problem:
            return channel_id, problem
        channel = self._channels.get(channel_id)
        if channel is not None and channel.archived:
            return channel_id, _error("is_archived")
        if channel is not None and not channel.member:
            return channel_id, _error("not_in_channel")
        return channel_id, None

    def _post(
        self,
        channel_id: str,
        text: str,
        blocks: list[Any] | None,
        thread_ts: str | None,
        *,
        broadcast: bool = False,
    ) -> JSONDict:
        message: JSONDict = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text,
            "ts": self._next_ts(),
            "channel": channel_id,
        }
        if blocks:
            message["blocks"] = blocks
        conversation = self._messages.setdefault(channel_id, {})
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self.bot_user_id
            if broadcast:
                message["subtype"] = "thread_broadcast"
            parent = conversation.get(thread_ts)
            if parent is not None:
                parent["thread_ts"] = thread_ts
                parent["reply_count"] = parent.get("reply_count", 0) + 1
                parent["latest_reply"] = message["ts"]
        conversation[message["ts"]] = message
        self._changed.notify_all()
        return message

    def _add_ephemeral(
        self,
        user_id: str,
        channel_id: str,
        text: str,
        blocks: list[Any] | None,
        thread_ts: str | None,
        *,
        via: str,
    ) -> JSONDict:
        ephemeral: JSONDict = {
            "type": "message",
            "text": text,
            "ts": self._next_ts(),
            "channel": channel_id,
            "recipient": user_id,
            "ephemeral": True,
            "via": via,
        }
        if blocks:
            ephemeral["blocks"] = blocks
        if thread_ts is not None:
            ephemeral["thread_ts"] = thread_ts
        self._ephemerals.setdefault(user_id, []).append(ephemeral)
        self._changed.notify_all()
        return ephemeral

    def _use_trigger(self, raw: object) -> tuple[str, JSONDict | None]:
        if not raw:
            return "", _missing("trigger_id")
        trigger = self._triggers.get(str(raw))
        if trigger is None:
            return "", _error("invalid_trigger_id")
        if trigger.used:
            return "", _error("exchanged_trigger_id")
        if self._clock() - trigger.issued > self.trigger_ttl:
            return "", _error("expired_trigger_id")
        trigger.used = True
        return trigger.user_id, None

    def _new_view(self, spec: JSONDict, *, previous: str | None, root: str | None) -> JSONDict:
        view_id = _random_id("V")
        view = {
            "id": view_id,
            "team_id": self.team_id,
            "type": spec.get("type"),
            "blocks": _fill_ids(spec.get("blocks") or []),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{int(time.time())}.{secrets.token_hex(4)}",
            "title": copy.deepcopy(spec.get("title")),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": copy.deepcopy(spec.get("close")),
            "submit": copy.deepcopy(spec.get("submit")),
            "previous_view_id": previous,
            "root_view_id": root or view_id,
            "app_id": self.app_id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self._views[view_id] = view
        return view

    def _push_modal(self, user_id: str, spec: JSONDict, modal: _ModalState) -> JSONDict:
        previous = modal.stack[-1] if modal.stack else None
        root = modal.stack[0] if modal.stack else None
        view = self._new_view(spec, previous=previous, root=root)
        self._view_owner[view["id"]] = user_id
        modal.stack.append(view["id"])
        modal.last = view["id"]
        self._changed.notify_all()
        return view

    def _replace_view(self, view_id: str, spec: JSONDict) -> JSONDict:
        current = self._views[view_id]
        replacement = self._new_view(
            spec, previous=current["previous_view_id"], root=current["root_view_id"]
        )
        del self._views[replacement["id"]]
        replacement["id"] = view_id
        self._views[view_id] = replacement
        self._view_errors.pop(view_id, None)
        owner = self._view_owner.get(view_id)
        if owner is not None and replacement["type"] == "modal":
            self._modals.setdefault(owner, _ModalState()).last = view_id
        self._changed.notify_all()
        return replacement

    def _accept_view_errors(self, view_id: str, errors: object) -> None:
        if not isinstance(errors, dict) or not errors:
            raise RejectedBySlack("response_action errors needs a non-empty errors object")
        inputs = {
            b.get("block_id") for b in self._views[view_id]["blocks"] if b.get("type") == "input"
        }
        unknown = sorted(str(k) for k in errors if k not in inputs)
        if unknown:
            # Slack shows a generic failure instead of the messages in this case.
            raise RejectedBySlack(f"errors name blocks that are not input blocks: {unknown}")
        self._view_errors[view_id] = {str(k): str(v) for k, v in errors.items()}

    @staticmethod
    def _user_record(user_id: str, name: str, real_name: str) -> JSONDict:
        return {
            "id": user_id,
            "name": name,
            "real_name": real_name,
            "deleted": False,
            "is_bot": False,
            "tz": "UTC",
            "profile": {"real_name": real_name, "display_name": name},
        }

    # --- HTTP: response URLs ----------------------------------------------------------

    async def _response_url_post(self, request: Request) -> Response:
        body = await request.body()
        try:
            payload: object = json.loads(body)
        except ValueError:
            payload = None
        args = payload if isinstance(payload, dict) else {}

        delay = self._delay("response_url")
        if delay:
            await asyncio.sleep(delay)
        fault = self._take_fault("response_url")
        if fault is not None and fault.kind != "error":
            return await self._faulted(request, "response_url", args, fault)

        with self._changed:
            status, text = self._respond(request.path_params["key"], payload, fault)
            self._record("response_url", args, status, {"ok": status == 200, "body": text})
        return PlainTextResponse(text, status_code=status)

    def _respond(self, key: str, payload: object, fault: _Fault | None) -> tuple[int, str]:
        target = self._response_urls.get(key)
        if target is None:
            return 404, "no_service"
        if self._clock() - target.issued > self.response_url_ttl:
            return 404, "expired_url"
        if target.uses >= self.response_url_uses:
            return 404, "used_url"
        if fault is not None:
            return 400, fault.error
        if not isinstance(payload, dict):
            return 400, "invalid_payload"
        if not _flag(payload.get("delete_original")):
            content = _message_content(payload)
            if "error" in content:
                return 400, str(content["error"])
        target.uses += 1
        self._deliver(target, payload, via="response_url")
        self._changed.notify_all()
        return 200, "ok"

    def _deliver(self, target: _ResponseUrl, payload: JSONDict, *, via: str) -> None:
        """Show a response-URL post (or a command's ack text) where Slack would."""
        response_type = payload.get("response_type") or "ephemeral"
        if via == "response_url":
            record = {
                k: copy.deepcopy(v)
                for k, v in payload.items()
                if k
                in (
                    "text",
                    "blocks",
                    "response_type",
                    "replace_original",
                    "delete_original",
                    "thread_ts",
                )
            }
            record.update(channel=target.channel_id, at=time.time())
            self._responses.setdefault(target.user_id, []).append(record)

        original = self._original(target)
        if _flag(payload.get("delete_original")):
            if original is not None:
                self._remove(target, original)
            return
        content = _message_content(payload)
        thread_ts = payload.get("thread_ts")
        if _flag(payload.get("replace_original")) and original is not None:
            original["text"] = content["text"]
            if content["blocks"]:
                original["blocks"] = content["blocks"]
            else:
                original.pop("blocks", None)
        elif response_type == "in_channel":
            self._post(target.channel_id, content["text"], content["blocks"], thread_ts)
        else:
            self._add_ephemeral(
                target.user_id,
                target.channel_id,
                content["text"],
                content["blocks"],
                thread_ts,
                via=via,
            )

    def _original(self, target: _ResponseUrl) -> JSONDict | None:
        if target.message_ts is None:
            return None
        if target.ephemeral:
            return next(
                (
                    e
                    for e in self._ephemerals.get(target.user_id, [])
                    if e["ts"] == target.message_ts
                ),
                None,
            )
        return self._messages.get(target.channel_id, {}).get(target.message_ts)

    def _remove(self, target: _ResponseUrl, original: JSONDict) -> None:
        if target.ephemeral:
            self._ephemerals[target.user_id].remove(original)
        else:
            del self._messages[target.channel_id][original["ts"]]

    # --- HTTP: control, for a test in another process ---------------------------------

    async def _control_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _control_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.clear_faults()
            return JSONResponse({"ok": True})
        spec = await request.json()
        method = str(spec["method"])
        times = spec.get("times", 1)
        if spec.get("drop"):
            self.drop(method, times=times)
        elif spec.get("error"):
            self.fail_with_error(method, str(spec["error"]), times=times)
        else:
            self.fail(
                method,
                int(spec.get("status", 429)),
                times=times,
                retry_after=int(spec.get("retry_after", 1)),
                body="empty" if spec.get("body") == "empty" else "html",
            )
        return JSONResponse({"ok": True})

    async def _control_triggers(self, request: Request) -> Response:
        spec = await request.json()
        return JSONResponse({"ok": True, "trigger_id": self.new_trigger(str(spec["user_id"]))})


def _message_content(args: Mapping[str, Any]) -> JSONDict:
    """Text and blocks of a message as Slack takes them, or an error answer.

    Either is enough; with neither Slack answers ``no_text``. Text beyond Slack's limit is
    truncated, as Slack does, rather than refused.
    """
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return _error("invalid_blocks_format")
    if blocks is not None:
        problems = _Problems()
        _check_blocks(problems, blocks, "/blocks", MESSAGE_BLOCKS)
        if problems.messages:
            return _error(
                "invalid_blocks",
                errors=[m.removeprefix("[ERROR] ") for m in problems.messages],
                response_metadata={"messages": problems.messages},
            )
    text = args.get("text")
    if text is None:
        text = args.get("markdown_text")
    text = "" if text is None else str(text)
    if not text.strip() and not blocks and not args.get("attachments"):
        return _error("no_text")
    return {"text": text[:MESSAGE_TEXT], "blocks": _fill_ids(blocks) if blocks else None}


async def _drop_connection(scope: Scope) -> None:
    """Close the client's connection without a response.

    ASGI has no way to say "drop this connection", so reach uvicorn's transport through the
    ``send`` it handed the app. With another server the request fails with a 500 instead.
    """
    send = scope.get("standin.server_send")
    transport = getattr(getattr(send, "__self__", None), "transport", None)
    if transport is None:
        raise RuntimeError("cannot drop the connection on this server")
    transport.abort()
    # Let the server see the connection is gone before the app returns.
    await asyncio.sleep(0.01)
