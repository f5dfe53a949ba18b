"""How the history of requests looks in Slack: the ``/revoke-cert history`` answer and
the App Home tab.

Pure functions from pages and lists of stored requests to Slack JSON, with the same
care as :mod:`bot.slack.surfaces`: user text escaped, every text fitted by
:func:`bot.slack.text.fit`. The "More" button's value carries the query and where the
next page starts, nothing to trust: the listener runs the query again from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, Final

from bot.slack.ids import ActionId
from bot.slack.surfaces import (
    SlackMessage,
    button,
    context,
    decision_buttons,
    device_words,
    person,
    reason_label,
    section,
    status_of,
)
from bot.slack.text import (
    BUTTON_TEXT,
    BUTTON_VALUE,
    ID_LENGTH,
    MESSAGE_BLOCKS,
    MESSAGE_TEXT,
    SECTION_TEXT,
    VIEW_BLOCKS,
    code,
    escape,
    fit,
    mention,
    slack_date,
)
from commands.history import USAGE, HistoryPage, HomeLists, QueryError
from storage.models import RequestStatus, RevocationRequest

Block = dict[str, Any]

# How much of a justification or note one result repeats; the thread has all of it.
_EXCERPT: Final = 300
_HEADER_TEXT: Final = 150
_PERMALINK_MAX: Final = 1000


class HistoryBlock(StrEnum):
    """Block ids in the history answer and the Home tab."""

    MORE = "history_more"
    HOME_WAITING = "home_waiting"
    HOME_OWN = "home_own"


_STATUS_EMOJI: Final = {
    RequestStatus.PENDING: ":lock:",
    RequestStatus.EXECUTING: ":hourglass_flowing_sand:",
    RequestStatus.REVOKED: ":white_check_mark:",
    RequestStatus.REFUSED: ":x:",
    RequestStatus.UNKNOWN: ":warning:",
    RequestStatus.FAILED: ":x:",
    RequestStatus.DENIED: ":no_entry:",
    RequestStatus.CANCELLED: ":heavy_multiplication_x:",
    RequestStatus.EXPIRED: ":hourglass:",
    RequestStatus.UNDELIVERABLE: ":warning:",
}


# --- The More button's value ---


def more_value(page: HistoryPage) -> str | None:
    """``cursor query``: enough to run the query again from where the page ended."""
    if page.cursor is None:
        return None
    value = f"{page.cursor} {page.query}"
    # The query's length is capped well below this; a value that does not fit gets no button
    # rather than a cut query that would find something else.
    return value if len(value) <= BUTTON_VALUE else None


def read_more_value(value: str) -> tuple[str, str] | None:
    """The ``(query, cursor)`` in a More button's value, or None if it is not one."""
    cursor, _, query = value.partition(" ")
    return (query, cursor) if cursor else None


# --- The /revoke-cert history answer ---


def history_message(page: HistoryPage) -> SlackMessage:
    """One page of results, newest first, with a More button when more match."""
    first, last = page.shown_before + 1, page.shown_before + len(page.requests)
    asked = f"for {code(page.query)}" if page.query else "of all requests"
    if not page.requests:
        nothing = "No more requests match" if page.shown_before else "No request matches"
        headline = f"{nothing} {asked}."
        return SlackMessage(
            fit(_plain_text(headline), MESSAGE_TEXT), [section(headline), context(USAGE)]
        )

    more = " More match: click *More* below." if page.cursor else ""
    headline = f"*History* {asked}: requests {first}–{last}, newest first.{more}"
    blocks: list[Block] = [section(headline)]
    for request in page.requests:
        blocks.append(section(_request_text(request)))
    value = more_value(page)
    if value is not None:
        more_button = {
            "type": "button",
            "text": {"type": "plain_text", "text": fit("More", BUTTON_TEXT)},
            "action_id": ActionId.HISTORY_MORE.value,
            "value": value,
        }
        blocks.append(
            {"type": "actions", "block_id": HistoryBlock.MORE.value, "elements": [more_button]}
        )
    elif page.cursor is not None:
        blocks.append(context("More match than shown; narrow the query to see them."))
    summaries = "; ".join(_summary(request) for request in page.requests)
    text = f"History {asked}, requests {first}–{last}: {summaries}"
    return SlackMessage(fit(_plain_text(text), MESSAGE_TEXT), blocks[:MESSAGE_BLOCKS])


def query_problem(error: QueryError) -> str:
    """What to say about a query that cannot run: the problem, then the usage line.

    The problem may quote what was typed, so all of it is escaped (it holds no markup
    of its own beyond code spans, which escaping leaves alone).
    """
    return fit(f":warning: {escape(error.message)}", SECTION_TEXT)


def _summary(request: RevocationRequest) -> str:
    return (
        f"{escape(request.id)} {escape(request.status)} certSn {request.cert_sn} "
        f"{device_words(request.asset_id, request.product_key, request.device_key)}"
    )


def _plain_text(text: str) -> str:
    return text.replace("*", "").replace("`", "")


# --- One request, as a result or a Home tab item ---


def _request_text(request: RevocationRequest) -> str:
    status = status_of(request)
    emoji = _STATUS_EMOJI.get(status, ":grey_question:") if status else ":grey_question:"
    lines = [
        f"{emoji} *{escape(request.status)}* · {code(request.id)} · certSn "
        f"{code(str(request.cert_sn))} · {_device_code(request)}",
        " · ".join(_people(request, status)),
    ]
    if request.justification.strip():
        lines.append(f"Why: {fit(escape(_one_line(request.justification)), _EXCERPT)}")
    link = _thread_link(request.permalink)
    lines.append(link or "_No link to the thread (the request was never posted)._")
    return "\n".join(lines)


def _people(request: RevocationRequest, status: RequestStatus | None) -> list[str]:
    parts = [
        f"Reason: {escape(reason_label(request.reason))}",
        f"requested by {person(request.requester_id)} {slack_date(request.created_at)}",
    ]
    if request.approver_id:
        parts.append(f"approved by {person(request.approver_id)}")
    elif request.decided_by and status in (RequestStatus.DENIED, RequestStatus.CANCELLED):
        parts.append(f"{escape(request.status)} by {person(request.decided_by)}")
    if request.finished_at is not None and status is not None and status.is_final:
        parts.append(f"closed {slack_date(request.finished_at)}")
    return parts


def _device_code(request: RevocationRequest) -> str:
    if request.asset_id:
        return f"asset ID {code(request.asset_id)}"
    product, device = code(request.product_key or "?"), code(request.device_key or "?")
    return f"product key {product} device key {device}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _thread_link(permalink: str | None) -> str | None:
    """A link to the thread, if the stored permalink is a plain web address."""
    if not permalink or len(permalink) > _PERMALINK_MAX:
        return None
    if not permalink.startswith(("https://", "http://")):
        return None
    if any(ch.isspace() or ch in "<>|" for ch in permalink):
        return None
    return f"<{permalink.replace('&', '&amp;')}|Open the thread>"


# --- The App Home tab ---


def home_view(
    lists: HomeLists,
    *,
    viewer_id: str,
    may_approve: bool,
    now: datetime,
    approver_problem: str | None = None,
) -> dict[str, Any]:
    """The Home tab for ``viewer_id``: what waits for them, their open requests, and the
    latest revocations. ``approver_problem`` says why it is unknown whether they approve."""
    blocks: list[Block] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": fit("Certificate revocations", _HEADER_TEXT)},
        },
        section("*Waiting for your approval*"),
    ]
    blocks.extend(_waiting(lists, may_approve, approver_problem))
    blocks.append({"type": "divider"})
    blocks.append(section("*Your open requests*"))
    if lists.their_open:
        for request in lists.their_open:
            blocks.append(section(_request_text(request)))
            if request.status == RequestStatus.PENDING.value:
                cancel = button("Cancel", ActionId.CANCEL, request.id)
                blocks.append(_actions(HistoryBlock.HOME_OWN, request.id, [cancel]))
    else:
        blocks.append(context("You have no open requests. `/revoke-cert` asks for one."))
    blocks.append({"type": "divider"})
    blocks.append(section("*Latest revocations*"))
    if lists.latest_revoked:
        blocks.extend(section(_request_text(request)) for request in lists.latest_revoked)
    else:
        blocks.append(context("No certificate has been revoked yet."))
    blocks.append(
        context(
            f"As of {slack_date(now)} for {mention(viewer_id)}. "
            "Search every request with `/revoke-cert history`."
        )
    )
    return {"type": "home", "blocks": blocks[:VIEW_BLOCKS]}


def _waiting(lists: HomeLists, may_approve: bool, approver_problem: str | None) -> list[Block]:
    if approver_problem:
        return [context(f":warning: {escape(approver_problem)}")]
    if not may_approve:
        return [context("You are not an approver, so no request waits for you.")]
    if not lists.awaiting_them:
        return [context("Nothing waits for your approval.")]
    blocks: list[Block] = []
    for request in lists.awaiting_them:
        blocks.append(section(_request_text(request)))
        buttons = decision_buttons(request)
        blocks.append(_actions(HistoryBlock.HOME_WAITING, request.id, buttons))
    if lists.more_awaiting:
        blocks.append(
            context("More wait than shown: `/revoke-cert history status:pending` lists them all.")
        )
    return blocks


# --- Block Kit pieces ---


def _actions(kind: HistoryBlock, request_id: str, elements: Sequence[dict[str, Any]]) -> Block:
    # Block ids must be unique within a view; the request id makes them so.
    return {
        "type": "actions",
        "block_id": fit(f"{kind.value}_{request_id}", ID_LENGTH),
        "elements": list(elements),
    }
