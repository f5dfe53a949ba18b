"""Finding revocation requests: history search and the lists the Home tab shows.

Filters compare indexed columns. Free text is matched as case-insensitive substrings
of a request's text fields (:data:`TEXT_COLUMNS`): SQLite answers from an FTS5
trigram index, PostgreSQL from a pg_trgm GIN index over the same fields, both made
by migration 0002. A word shorter than three characters has no trigram to look up,
so it is checked row by row on what the other conditions leave.

Results come newest first, ordered by ``(created_at, id)``; a page ends with the
:class:`Position` of its last request, and the next page starts after it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from sqlalchemy import ColumnElement, TextClause, and_, or_, text, tuple_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from storage.models import RequestStatus, RevocationRequest

# The request's fields free text searches, in the order both indexes hold them.
# Migration 0002 keeps its own copy: change both together, with a new migration.
TEXT_COLUMNS: Final = (
    "id",
    "asset_id",
    "product_key",
    "device_key",
    "cert_sn",
    "requester_id",
    "approver_id",
    "decided_by",
    "justification",
    "decision_note",
    "enos_request_id",
    "enos_msg",
    "outcome_detail",
)
FTS_TABLE: Final = "revocation_request_fts"
TRIGRAM_INDEX: Final = "ix_request_search_trgm"
# FTS5's trigram tokenizer, like pg_trgm, finds nothing shorter than this.
TRIGRAM: Final = 3
# On SQLite, words matching fewer requests than this are read from the index and sorted;
# words matching more are quicker to find by reading requests newest first and keeping
# those the index lists (measured with benchmarks/search.py: 2-3 ms either way at 1,000).
DENSE_MATCHES: Final = 1000


def _joined_text(dialect: str, table: str = "revocation_request") -> str:
    """All text columns as one string, a line break apart, so no word spans two fields.

    On PostgreSQL this is, character for character, the expression the trigram index
    is built on; the planner uses the index only for the identical expression.
    """
    newline = "E'\\n'" if dialect == "postgresql" else "char(10)"
    parts = []
    for name in TEXT_COLUMNS:
        column = f"{table}.{name}" if dialect != "postgresql" else name
        if name == "cert_sn":
            parts.append(f"({column})::text" if dialect == "postgresql" else f"{column}")
        else:
            parts.append(f"coalesce({column}, '')")
    return "(" + f" || {newline} || ".join(parts) + ")"


PG_SEARCH_TEXT: Final = _joined_text("postgresql")
"""The expression of the pg_trgm index (migration 0002 spells out the same text)."""


@dataclass(frozen=True, slots=True)
class RequestSearch:
    """What to look for; every condition given must hold. Empty finds every request.

    ``since`` is inclusive and ``until`` exclusive, both compared with ``created_at``.
    ``approver_id`` matches the approver, or the person who denied the request.
    """

    words: tuple[str, ...] = ()
    cert_sn: int | None = None
    asset_id: str | None = None
    product_key: str | None = None
    device_key: str | None = None
    requester_id: str | None = None
    approver_id: str | None = None
    statuses: frozenset[RequestStatus] = field(default_factory=frozenset)
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page ended: the ``(created_at, id)`` of its last request."""

    created_at: datetime
    request_id: str

    @classmethod
    def of(cls, request: RevocationRequest) -> Position:
        return cls(request.created_at, request.id)


@dataclass(frozen=True, slots=True)
class Found:
    """One page of requests, newest first; ``more`` is set when another page follows."""

    requests: list[RevocationRequest]
    more: Position | None


def search_requests(
    session: Session, search: RequestSearch, *, limit: int, after: Position | None = None
) -> Found:
    """Up to ``limit`` requests matching ``search`` that come after ``after``."""
    dialect = session.get_bind().dialect.name
    dense = dialect == "sqlite" and many_matches(session, search.words)
    statement = search_statement(dialect, search, limit=limit + 1, after=after, dense=dense)
    rows = list(session.exec(statement).all())
    page = rows[:limit]
    more = Position.of(page[-1]) if len(rows) > limit and page else None
    return Found(page, more)


def search_statement(
    dialect: str,
    search: RequestSearch,
    *,
    limit: int,
    after: Position | None = None,
    dense: bool = False,
) -> SelectOfScalar[RevocationRequest]:
    """The SELECT that :func:`search_requests` runs, for EXPLAIN and for reading.

    ``dense`` (SQLite): the words match many requests, so read requests in order and
    keep the matching ones, rather than read every match and sort them.
    """
    conditions: list[_Condition] = [*_filters(search), *_free_text(dialect, search.words, dense)]
    if after is not None:
        conditions.append(
            tuple_(col(RevocationRequest.created_at), col(RevocationRequest.id))
            < tuple_(after.created_at, after.request_id)
        )
    return (
        select(RevocationRequest)
        .where(*conditions)
        .order_by(col(RevocationRequest.created_at).desc(), col(RevocationRequest.id).desc())
        .limit(limit)
    )


_Condition = ColumnElement[bool] | TextClause


def _filters(search: RequestSearch) -> Iterable[ColumnElement[bool]]:
    request = RevocationRequest
    equal: Sequence[tuple[Any, object]] = (
        (request.cert_sn, search.cert_sn),
        (request.asset_id, search.asset_id),
        (request.product_key, search.product_key),
        (request.device_key, search.device_key),
        (request.requester_id, search.requester_id),
    )
    for column, value in equal:
        if value is not None:
            yield col(column) == value
    if search.approver_id is not None:
        yield or_(
            col(request.approver_id) == search.approver_id,
            and_(
                col(request.decided_by) == search.approver_id,
                col(request.status) == RequestStatus.DENIED.value,
            ),
        )
    if search.statuses:
        yield col(request.status).in_(sorted(status.value for status in search.statuses))
    if search.since is not None:
        yield col(request.created_at) >= search.since
    if search.until is not None:
        yield col(request.created_at) < search.until


def many_matches(session: Session, words: Sequence[str]) -> bool:
    """Whether the words (those long enough to index) match DENSE_MATCHES requests or more."""
    indexed = [word for word in words if len(word) >= TRIGRAM]
    if not indexed:
        return False
    counted = session.execute(
        text(
            f"SELECT count(*) FROM (SELECT 1 FROM {FTS_TABLE} "  # noqa: S608 - constants only
            f"WHERE {FTS_TABLE} MATCH :fts_query LIMIT :cap)"
        ),
        {"fts_query": fts_query(indexed), "cap": DENSE_MATCHES},
    ).scalar_one()
    return int(counted) >= DENSE_MATCHES


def _free_text(dialect: str, words: Sequence[str], dense: bool = False) -> list[_Condition]:
    if not words:
        return []
    joined = _joined_text(dialect)
    if dialect == "postgresql":
        return [
            text(f"{joined} ILIKE :{name} ESCAPE '\\'").bindparams(**{name: _contains(word)})
            for name, word in _named(words, "word")
        ]

    indexed = [word for word in words if len(word) >= TRIGRAM]
    short = [word for word in words if len(word) < TRIGRAM]
    conditions: list[_Condition] = []
    if indexed:
        # A unary + keeps SQLite from driving the query by rowid: the list of matches is then
        # only looked up, while an index reads the requests in order.
        rowid = "+revocation_request.rowid" if dense else "revocation_request.rowid"
        conditions.append(
            text(
                # Constants only; the words travel as a bound parameter.
                f"{rowid} IN (SELECT rowid FROM {FTS_TABLE} "  # noqa: S608
                f"WHERE {FTS_TABLE} MATCH :fts_query)"
            ).bindparams(fts_query=fts_query(indexed))
        )
    conditions.extend(
        text(f"{joined} LIKE :{name} ESCAPE '\\'").bindparams(**{name: _contains(word)})
        for name, word in _named(short, "short")
    )
    return conditions


def _named(words: Sequence[str], prefix: str) -> list[tuple[str, str]]:
    return [(f"{prefix}_{index}", word) for index, word in enumerate(words)]


def fts_query(words: Iterable[str]) -> str:
    """An FTS5 query that needs every word, each taken literally as a phrase."""
    return " AND ".join('"' + word.replace('"', '""') + '"' for word in words)


def _contains(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# --- The Home tab's lists ---


def awaiting_decision(
    session: Session, now: datetime, *, excluding_requester: str, limit: int
) -> list[RevocationRequest]:
    """Pending requests someone other than their requester may still decide, newest first."""
    return list(
        session.exec(
            select(RevocationRequest)
            .where(
                col(RevocationRequest.status) == RequestStatus.PENDING.value,
                col(RevocationRequest.expires_at) > now,
                col(RevocationRequest.requester_id) != excluding_requester,
            )
            .order_by(col(RevocationRequest.created_at).desc(), col(RevocationRequest.id).desc())
            .limit(limit)
        ).all()
    )


def open_requests_of(session: Session, requester_id: str, *, limit: int) -> list[RevocationRequest]:
    """The requester's requests still waiting for a decision or for EnOS, newest first."""
    return list(
        session.exec(
            select(RevocationRequest)
            .where(
                col(RevocationRequest.requester_id) == requester_id,
                col(RevocationRequest.status).in_(
                    [RequestStatus.PENDING.value, RequestStatus.EXECUTING.value]
                ),
            )
            .order_by(col(RevocationRequest.created_at).desc(), col(RevocationRequest.id).desc())
            .limit(limit)
        ).all()
    )


def latest_with_status(
    session: Session, status: RequestStatus, *, limit: int
) -> list[RevocationRequest]:
    return list(
        session.exec(
            select(RevocationRequest)
            .where(col(RevocationRequest.status) == status.value)
            .order_by(col(RevocationRequest.created_at).desc(), col(RevocationRequest.id).desc())
            .limit(limit)
        ).all()
    )
