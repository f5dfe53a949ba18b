"""Text for Slack: escaping, mentions, dates, and the one place that knows Slack's limits.

Every string the bot shows in Slack is built from these helpers. User-typed text goes
through :func:`escape` (or :func:`code`); every text object goes through :func:`fit`,
which shortens to a limit without breaking an ``&amp;`` entity or a ``<...>`` token.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Final

# --- Slack's limits (Block Kit reference), counted by slack_length(). ---

SECTION_TEXT: Final = 3000
"""A section's text, a context element's text, any text object not listed below."""
FIELD_TEXT: Final = 2000
"""Each of a section's fields."""
MAX_FIELDS: Final = 10
MESSAGE_TEXT: Final = 3900
"""A message's top-level ``text``. Slack truncates at 40,000; we stay under 4,000."""
MESSAGE_BLOCKS: Final = 50
VIEW_BLOCKS: Final = 100
BUTTON_TEXT: Final = 75
BUTTON_VALUE: Final = 2000
OPTION_TEXT: Final = 75
OPTION_VALUE: Final = 150
CONFIRM_TITLE: Final = 100
CONFIRM_TEXT: Final = 300
CONFIRM_BUTTON: Final = 30
VIEW_TITLE: Final = 24
"""A modal's title, submit and close labels."""
INPUT_LABEL: Final = 2000
INPUT_HINT: Final = 2000
INPUT_PLACEHOLDER: Final = 150
PRIVATE_METADATA: Final = 3000
INPUT_MAX_LENGTH: Final = 3000
"""The largest ``max_length`` a ``plain_text_input`` accepts."""
ID_LENGTH: Final = 255
"""``block_id``, ``action_id`` and ``callback_id``."""

ELLIPSIS: Final = "…"

_ENTITIES: Final = ("&amp;", "&lt;", "&gt;")
_LONGEST_ENTITY: Final = max(len(e) for e in _ENTITIES)
_USER_ID = re.compile(r"[UW][A-Z0-9]{2,31}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{2,31}")


def escape(text: str) -> str:
    """Make user text render as typed in mrkdwn: ``&``, ``<`` and ``>``, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Undo the escaping Slack applies to what people type (a slash command's text)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_length(text: str) -> int:
    """Length in UTF-16 code units, the way a JavaScript client counts.

    Never less than the number of characters, so text within a limit by this count is
    within it whichever way Slack counts (an emoji is one character but two units).
    """
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def fit(text: str, limit: int) -> str:
    """Return ``text`` if it fits in ``limit``, else a shortened copy ending in "…".

    Lengths are counted by :func:`slack_length`. The cut never falls inside an escape
    entity (``&amp;``) or a ``<...>`` token (mention, date, link), so what is left
    still renders as intended.
    """
    if len(text) <= limit // 2 or slack_length(text) <= limit:
        return text
    cut = _safe_cut(text, _prefix_within(text, max(limit - slack_length(ELLIPSIS), 0)))
    return text[:cut] + ELLIPSIS


def _prefix_within(text: str, budget: int) -> int:
    """The number of leading characters of ``text`` whose slack_length is at most ``budget``."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return index
    return len(text)


def _safe_cut(text: str, cut: int) -> int:
    while True:
        moved = _before_open_token(text, _before_entity(text, cut))
        if moved == cut:
            return cut
        cut = moved


def _before_entity(text: str, cut: int) -> int:
    start = text.rfind("&", max(cut - _LONGEST_ENTITY + 1, 0), cut)
    if start == -1:
        return cut
    for entity in _ENTITIES:
        if text.startswith(entity, start) and start + len(entity) > cut:
            return start
    return cut


def _before_open_token(text: str, cut: int) -> int:
    # Escaped user text holds no raw "<", so each one starts a token the bot wrote.
    start = text.rfind("<", 0, cut)
    if start == -1:
        return cut
    end = text.find(">", start)
    return start if end == -1 or end >= cut else cut


def is_user_id(value: str) -> bool:
    return _USER_ID.fullmatch(value) is not None


def is_channel_id(value: str) -> bool:
    return _CHANNEL_ID.fullmatch(value) is not None


def mention(user_id: str) -> str:
    """``<@U123>`` for a Slack user ID; anything else is shown as escaped text."""
    return f"<@{user_id}>" if is_user_id(user_id) else escape(user_id)


def channel(channel_id: str) -> str:
    """``<#C123>`` for a Slack channel ID; anything else is shown as escaped text."""
    return f"<#{channel_id}>" if is_channel_id(channel_id) else escape(channel_id)


def code(text: str) -> str:
    """An identifier as inline code, escaped.

    A backtick or a line break would end the code span early, so they are replaced
    by look-alikes (a modifier grave accent, a space).
    """
    cleaned = text.replace("`", "ˋ").replace("\r", " ").replace("\n", " ")
    if not cleaned.strip():
        return escape(cleaned)
    return f"`{escape(cleaned)}`"


DATE_TIME: Final = "{date_short_pretty} {time}"
DATE: Final = "{date_short_pretty}"


def slack_date(dt: datetime, fmt: str = DATE_TIME) -> str:
    """A time each reader sees in their own time zone, with a UTC fallback.

    ``<!date^1796371980^{date_short_pretty} {time}|2026-12-04 08:13 UTC>``. A naive
    ``dt`` is taken as UTC.
    """
    aware = dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)
    utc = aware.astimezone(UTC)
    fallback = utc.strftime("%Y-%m-%d %H:%M UTC") if "{time" in fmt else f"{utc:%Y-%m-%d}"
    return f"<!date^{int(utc.timestamp())}^{fmt}|{fallback}>"
