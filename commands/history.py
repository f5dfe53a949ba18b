"""History: what ``/revoke-cert history [query]`` (and ``audit search``) mean, and the search.

A query is free text and filters, in any order::

    Xy12 "private key" cert:52739 asset:Xy12AbCd device:dev-01 product:pk123
    by:<@U0ALICE> approver:U0BOB status:revoked,refused since:2026-11-01 until:2026-11-30

Every word and filter must match. Words match any text field of a request (ids,
device, certSn, people, justification, notes, EnOS's answer) as case-insensitive
substrings; quote a phrase, or a word that contains a colon. Dates are UTC days and
both ends are included. A filter this module does not understand is refused with
a sentence and the usage line, never guessed at.

Results come newest first, a page at a time; a page's :attr:`HistoryPage.cursor`
names where the next one starts. Nothing here knows Slack.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Final

from commands.request import RequestField, identifier_problem, parse_cert_sn
from storage import search as queries
from storage.db import Database
from storage.models import RequestStatus, RevocationRequest
from storage.search import Position, RequestSearch

PAGE_SIZE: Final = 10
# Long enough for any real query; short enough to travel in a button's value.
QUERY_MAX: Final = 500
WORDS_MAX: Final = 10

USAGE: Final = (
    "Usage: `/revoke-cert history [words] [cert:52739] [asset:ID] [device:KEY] "
    "[product:KEY] [by:@user] [approver:@user] [status:revoked|refused|unknown|failed|"
    "denied|cancelled|expired|pending|executing|undeliverable] [since:YYYY-MM-DD] "
    "[until:YYYY-MM-DD]`"
)


@dataclass(frozen=True, slots=True)
class QueryError:
    """Why the query cannot be run, with the usage line; shown to the person who typed it."""

    problem: str

    @property
    def message(self) -> str:
        return f"{self.problem}\n{USAGE}"


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page of results for ``query``, newest first.

    ``shown_before`` counts the requests on earlier pages, for "11–20"; ``cursor`` is
    set when more requests match, and is what :func:`find` takes to continue.
    """

    query: str
    requests: list[RevocationRequest]
    shown_before: int
    cursor: str | None


# --- Parsing ---

_FILTER = r"(?P<key>[A-Za-z]+):(?P<value>\"[^\"]*(?:\"|$)|“[^”]*(?:”|$)|<[^>\s][^>]*>|[^\s]*)"
_PHRASE = r"\"(?P<dq>[^\"]*)(?:\"|$)|“(?P<sq>[^”]*)(?:”|$)"
_TOKEN = re.compile(rf"{_FILTER}|{_PHRASE}|(?P<word>[^\s]+)")
_MENTION = re.compile(r"<@(?P<id>[UW][A-Z0-9]{2,31})(?:\|[^>]*)?>")
_USER_ID = re.compile(r"@?(?P<id>[UW][A-Z0-9]{2,31})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STATUS_WORDS: Final = ", ".join(status.value for status in RequestStatus)


def parse_query(text: str) -> RequestSearch | QueryError:
    """Read a history query. Never raises: anything it cannot use becomes a QueryError."""
    cleaned = _clean(text)
    if len(cleaned) > QUERY_MAX:
        return QueryError(
            f"The query is {len(cleaned)} characters long; keep it under {QUERY_MAX} "
            "(one certSn or device is usually enough)."
        )

    search = RequestSearch()
    seen: set[str] = set()
    words: list[str] = []
    for match in _TOKEN.finditer(cleaned):
        key = match.group("key")
        if key is None:
            phrase = match.group("dq") or match.group("sq") or match.group("word") or ""
            phrase = " ".join(phrase.split())
            # A mention searches for the person: requests keep their member ID.
            phrase = parse_user(phrase) or phrase if _MENTION.fullmatch(phrase) else phrase
            if phrase:
                words.append(phrase)
            continue
        name = key.lower()
        apply = _FILTERS.get(name)
        if apply is None:
            return QueryError(
                f"I do not know the filter `{key}:`. To search for text with a colon in it, "
                "put it in quotes."
            )
        if name in seen:
            return QueryError(f"Give `{name}:` once.")
        seen.add(name)
        value = _unquote(match.group("value"))
        if not value:
            return QueryError(f"`{name}:` needs a value right after the colon, without a space.")
        applied = apply(search, value)
        if isinstance(applied, QueryError):
            return applied
        search = applied

    if len(words) > WORDS_MAX:
        return QueryError(f"Use at most {WORDS_MAX} words; filters narrow a search better.")
    if search.since and search.until and search.since >= search.until:
        return QueryError("`since:` must not be after `until:`.")
    return replace(search, words=tuple(words))


def _clean(text: str) -> str:
    """Control characters (which no query needs, and PostgreSQL refuses) become spaces."""
    kept = "".join(" " if unicodedata.category(ch) in ("Cc", "Cs") else ch for ch in text)
    return kept.strip()


def _unquote(value: str) -> str:
    for opening, closing in (('"', '"'), ("“", "”")):
        if value.startswith(opening):
            inner = value[len(opening) :]
            return " ".join(inner.removesuffix(closing).split())
    return value


def _cert(search: RequestSearch, value: str) -> RequestSearch | QueryError:
    number = parse_cert_sn(value)
    if isinstance(number, str):
        return QueryError(number)
    return replace(search, cert_sn=number)


Setter = Callable[[RequestSearch, str], RequestSearch]


def _identifier(
    field: RequestField, setter: Setter
) -> Callable[[RequestSearch, str], RequestSearch | QueryError]:
    def apply(search: RequestSearch, value: str) -> RequestSearch | QueryError:
        problem = identifier_problem(field, value)
        if problem is not None:
            return QueryError(problem)
        return setter(search, value)

    return apply


def parse_user(value: str) -> str | None:
    """A Slack user ID from ``<@U123>``, ``<@U123|name>``, ``@U123`` or ``U123``."""
    match = _MENTION.fullmatch(value) or _USER_ID.fullmatch(value)
    return match.group("id") if match else None


def _user(setter: Setter) -> Callable[[RequestSearch, str], RequestSearch | QueryError]:
    def apply(search: RequestSearch, value: str) -> RequestSearch | QueryError:
        user_id = parse_user(value)
        if user_id is None:
            return QueryError(
                f"`{value}` is not a Slack member ID. Give the member ID, e.g. `by:U0ALICE` "
                "(their profile → ⋮ → Copy member ID), or pick them from the @ list."
            )
        return setter(search, user_id)

    return apply


def _status(search: RequestSearch, value: str) -> RequestSearch | QueryError:
    statuses = set()
    for word in value.lower().split(","):
        try:
            statuses.add(RequestStatus(word.strip()))
        except ValueError:
            return QueryError(f"`status:` takes {_STATUS_WORDS}, or several joined by commas.")
    return replace(search, statuses=frozenset(statuses))


def _day(value: str) -> date | None:
    if _DATE.fullmatch(value) is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _since(search: RequestSearch, value: str) -> RequestSearch | QueryError:
    day = _day(value)
    if day is None:
        return QueryError("`since:` takes a date as YYYY-MM-DD, e.g. `since:2026-11-01`.")
    return replace(search, since=day_start(day))


def _until(search: RequestSearch, value: str) -> RequestSearch | QueryError:
    day = _day(value)
    if day is None:
        return QueryError("`until:` takes a date as YYYY-MM-DD, e.g. `until:2026-11-30`.")
    if day == date.max:
        return search
    # The whole day is included: up to the start of the next one.
    return replace(search, until=day_start(day + timedelta(days=1)))


_FILTERS: Final[Mapping[str, Callable[[RequestSearch, str], RequestSearch | QueryError]]] = {
    "cert": _cert,
    "asset": _identifier(RequestField.ASSET_ID, lambda s, v: replace(s, asset_id=v)),
    "device": _identifier(RequestField.DEVICE_KEY, lambda s, v: replace(s, device_key=v)),
    "product": _identifier(RequestField.PRODUCT_KEY, lambda s, v: replace(s, product_key=v)),
    "by": _user(lambda s, v: replace(s, requester_id=v)),
    "approver": _user(lambda s, v: replace(s, approver_id=v)),
    "status": _status,
    "since": _since,
    "until": _until,
}


# --- Cursors: where the next page starts ---

_CURSOR = re.compile(r"(?P<shown>\d{1,7})\.(?P<micros>\d{1,17})\.(?P<id>[A-Za-z0-9-]{1,16})")


def encode_cursor(position: Position, shown: int) -> str:
    """``shown.micros.id``: requests shown so far, then the last one's time and id."""
    at = position.created_at.astimezone(UTC)
    micros = (at - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    return f"{shown}.{micros}.{position.request_id}"


def decode_cursor(cursor: str) -> tuple[Position, int] | None:
    """The position and count a cursor names, or None for anything malformed."""
    match = _CURSOR.fullmatch(cursor)
    if match is None:
        return None
    try:
        at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=int(match["micros"]))
    except OverflowError:
        return None
    return Position(at, match["id"]), int(match["shown"])


# --- Searching ---


def find(
    db: Database, query: str, cursor: str | None = None, page_size: int = PAGE_SIZE
) -> HistoryPage | QueryError:
    """One page of the requests ``query`` matches, after ``cursor`` (from the page before)."""
    search = parse_query(query)
    if isinstance(search, QueryError):
        return search
    after, shown = None, 0
    if cursor is not None:
        decoded = decode_cursor(cursor)
        if decoded is None:
            return QueryError("That page of results is no longer valid; search again.")
        after, shown = decoded
    with db.read() as session:
        found = queries.search_requests(session, search, limit=page_size, after=after)
    shown_now = shown + len(found.requests)
    next_cursor = encode_cursor(found.more, shown_now) if found.more else None
    return HistoryPage(_clean(query), found.requests, shown, next_cursor)


@dataclass(frozen=True, slots=True)
class HomeLists:
    """What the Home tab shows one person."""

    awaiting_them: list[RevocationRequest]
    # Whether more requests wait than are listed.
    more_awaiting: bool
    their_open: list[RevocationRequest]
    latest_revoked: list[RevocationRequest]


HOME_LIST_SIZE: Final = 10


def home_lists(
    db: Database, viewer_id: str, *, may_approve: bool, now: datetime, size: int = HOME_LIST_SIZE
) -> HomeLists:
    """The requests that wait for ``viewer_id`` (if they may approve), their own open
    requests, and the latest revocations."""
    with db.read() as session:
        awaiting: list[RevocationRequest] = []
        if may_approve:
            awaiting = queries.awaiting_decision(
                session, now, excluding_requester=viewer_id, limit=size + 1
            )
        own = queries.open_requests_of(session, viewer_id, limit=size)
        revoked = queries.latest_with_status(session, RequestStatus.REVOKED, limit=size)
    return HomeLists(awaiting[:size], len(awaiting) > size, own, revoked)
