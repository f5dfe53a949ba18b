"""History: the query language, the search behind it on SQLite and PostgreSQL, its
indexes, and ``/revoke-cert history`` answered through real signed Slack requests."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from bot.slack.driver import SlackDriver
from bot.slack.history_view import HistoryBlock, more_value, read_more_value
from bot.slack.ids import ActionId, DenyInput
from bot.stack import ONCALL_CHANNEL, LocalStack
from commands.history import (
    QUERY_MAX,
    USAGE,
    HistoryPage,
    QueryError,
    decode_cursor,
    encode_cursor,
    find,
    parse_query,
)
from storage import search as search_module
from storage.db import Database
from storage.models import RequestStatus, RevocationRequest
from storage.search import (
    DENSE_MATCHES,
    PG_SEARCH_TEXT,
    TEXT_COLUMNS,
    Position,
    RequestSearch,
    search_requests,
    search_statement,
)
from tests.flow_support import (
    APPROVER,
    ASSET_ID,
    CERT_SN,
    OTHER_APPROVER,
    REQUESTER,
    ask,
    current,
    requests_in,
    wait_for_reply,
)
from tests.history_support import many_requests, stored_request

NOV_1 = datetime(2026, 11, 1, tzinfo=UTC)


# --- The query language ---


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", RequestSearch()),
        ("   ", RequestSearch()),
        ("cert:52739", RequestSearch(cert_sn=52739)),
        ("cert:0052739", RequestSearch(cert_sn=52739)),
        ("CERT:52739", RequestSearch(cert_sn=52739)),
        ("asset:Xy12AbCd", RequestSearch(asset_id="Xy12AbCd")),
        ("asset:a:b.c-d_e", RequestSearch(asset_id="a:b.c-d_e")),
        ("device:dev-01 product:pk123", RequestSearch(device_key="dev-01", product_key="pk123")),
        ("by:<@U0ALICE>", RequestSearch(requester_id="U0ALICE")),
        ("by:<@U0ALICE|alice>", RequestSearch(requester_id="U0ALICE")),
        ("by:<@U0ALICE|Alice Smith>", RequestSearch(requester_id="U0ALICE")),
        ("by:U0ALICE", RequestSearch(requester_id="U0ALICE")),
        ("by:@U0ALICE", RequestSearch(requester_id="U0ALICE")),
        ("approver:<@W0BOB>", RequestSearch(approver_id="W0BOB")),
        ("status:revoked", RequestSearch(statuses=frozenset({RequestStatus.REVOKED}))),
        (
            "status:Refused,unknown",
            RequestSearch(statuses=frozenset({RequestStatus.REFUSED, RequestStatus.UNKNOWN})),
        ),
        ("status:failed", RequestSearch(statuses=frozenset({RequestStatus.FAILED}))),
        ("since:2026-11-01", RequestSearch(since=NOV_1)),
        ("until:2026-11-30", RequestSearch(until=datetime(2026, 12, 1, tzinfo=UTC))),
        (
            "since:2026-11-01 until:2026-11-01",
            RequestSearch(since=NOV_1, until=datetime(2026, 11, 2, tzinfo=UTC)),
        ),
        ("key leak", RequestSearch(words=("key", "leak"))),
        ('"private   key" INC-1', RequestSearch(words=("private key", "INC-1"))),
        ("“private key”", RequestSearch(words=("private key",))),
        ('"http://example"', RequestSearch(words=("http://example",))),
        ("<@U0BOB>", RequestSearch(words=("U0BOB",))),
        ("100%", RequestSearch(words=("100%",))),
        ("key\x00leak", RequestSearch(words=("key", "leak"))),
        (
            'Xy12 cert:52739 by:U0ALICE "key" status:revoked since:2026-11-01',
            RequestSearch(
                words=("Xy12", "key"),
                cert_sn=52739,
                requester_id="U0ALICE",
                statuses=frozenset({RequestStatus.REVOKED}),
                since=NOV_1,
            ),
        ),
    ],
)
def test_queries_read_as_written(query: str, expected: RequestSearch) -> None:
    assert parse_query(query) == expected


@pytest.mark.parametrize(
    ("query", "says"),
    [
        ("cert:", "needs a value"),
        ("cert: 52739", "needs a value"),
        ("cert:-5", "cannot be negative"),
        ("cert:52a", "whole decimal number"),
        (f"cert:{2**63}", "too large"),
        ("asset:Xy 12", None),  # a second word, not an error
        ("asset:Xy/12", "may hold only"),
        ("device:" + "d" * 129, "at most 128"),
        ("by:@alice", "not a Slack member ID"),
        ("approver:bob", "not a Slack member ID"),
        ("by:<@alice>", "not a Slack member ID"),
        ("status:done", "`status:` takes"),
        ("status:revoked,", "`status:` takes"),
        ("since:2026-11", "YYYY-MM-DD"),
        ("since:2026-02-30", "YYYY-MM-DD"),
        ("until:yesterday", "YYYY-MM-DD"),
        ("since:2026-11-02 until:2026-11-01", "must not be after"),
        ("cert:1 cert:2", "once"),
        ("reason:1", "do not know the filter `reason:`"),
        ("http://example.com", "do not know the filter `http:`"),
        ("x" * (QUERY_MAX + 1), f"under {QUERY_MAX}"),
        (" ".join(["w"] * 11), "at most 10 words"),
    ],
)
def test_malformed_queries_get_a_sentence_and_the_usage_line(query: str, says: str | None) -> None:
    result = parse_query(query)

    if says is None:
        assert isinstance(result, RequestSearch)
        return
    assert isinstance(result, QueryError), result
    assert says in result.problem
    assert result.message.endswith(USAGE)
    assert "/revoke-cert history" in result.message


_FILTER_KEYS = ["cert:", "asset:", "device:", "product:", "by:", "approver:", "status:"]
_QUERY_PIECES = st.one_of(
    st.text(max_size=30),
    st.builds(lambda k, v: k + v, st.sampled_from([*_FILTER_KEYS, "since:", "until:"]), st.text()),
    st.sampled_from(['"', "“", "”", "<@", ">", "|", ":", ",", "%", "_", "\\", "\x00", "*"]),
    st.from_regex(r"(since|until):\d{4}-\d{2}-\d{2}", fullmatch=True),
    st.from_regex(r"(by|approver):<@[UW][A-Z0-9]{2,8}(\|[a-z ]{0,8})?>", fullmatch=True),
)


@given(st.lists(_QUERY_PIECES, max_size=8).map(" ".join))
@settings(max_examples=500, deadline=None)
def test_parsing_never_raises(query: str) -> None:
    result = parse_query(query)

    assert isinstance(result, RequestSearch | QueryError)
    if isinstance(result, QueryError):
        assert result.problem and result.message.endswith(USAGE)
    else:
        assert all(word and not any(ch in word for ch in "\x00\n\r") for word in result.words)
        assert len(result.words) <= 10


@given(
    cert=st.integers(min_value=0, max_value=2**63 - 1),
    asset=st.from_regex(r"[A-Za-z0-9._:\-]{1,64}", fullmatch=True),
    user=st.from_regex(r"[UW][A-Z0-9]{2,10}", fullmatch=True),
    statuses=st.sets(st.sampled_from(list(RequestStatus)), min_size=1),
    day=st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1)),
    words=st.lists(st.from_regex(r"[A-Za-z0-9\-]{1,12}", fullmatch=True), max_size=4),
)
def test_filters_written_out_read_back_the_same(
    cert: int,
    asset: str,
    user: str,
    statuses: set[RequestStatus],
    day: date,
    words: list[str],
) -> None:
    status = ",".join(s.value for s in statuses)
    filters = [f"cert:{cert}", f"asset:{asset}", f"by:<@{user}>", f"status:{status}"]
    query = " ".join([*words, *filters, f"since:{day.isoformat()}", f"approver:{user}"])

    assert parse_query(query) == RequestSearch(
        words=tuple(words),
        cert_sn=cert,
        asset_id=asset,
        requester_id=user,
        approver_id=user,
        statuses=frozenset(statuses),
        since=datetime(day.year, day.month, day.day, tzinfo=UTC),
    )


def test_cursors_round_trip_and_garbage_is_refused() -> None:
    position = Position(datetime(2026, 11, 3, 4, 5, 6, 789012, tzinfo=UTC), "RQ-ABCDEFGH")

    assert decode_cursor(encode_cursor(position, 20)) == (position, 20)
    for garbage in ["", "x", "1.2", "1.2.RQ 1", "1.999999999999999999.RQ-1", "-1.5.RQ-1"]:
        assert decode_cursor(garbage) is None


def test_more_button_value_carries_query_and_cursor_only() -> None:
    page = HistoryPage("cert:52739 by:<@U0A|a b>", [], 10, "10.1796371980000000.RQ-ABCDEFGH")

    value = more_value(page)

    assert value is not None and len(value) <= 2000
    assert read_more_value(value) == (page.query, page.cursor)
    long_page = HistoryPage("x" * QUERY_MAX, [], 10, "10.1796371980000000.RQ-ABCDEFGH")
    assert more_value(long_page) is not None


# --- The search, on both databases ---


def _ids(db: Database, query: str, page_size: int = 50) -> list[str]:
    page = find(db, query, page_size=page_size)
    assert isinstance(page, HistoryPage), page
    return [request.id for request in page.requests]


@pytest.fixture
def library(db: Database) -> dict[str, str]:
    """A few requests, one per kind of match, created a day apart in November 2026."""
    day = timedelta(days=1)
    made = {
        "revoked": stored_request(
            db,
            created_at=NOV_1,
            status=RequestStatus.REVOKED.value,
            approver_id="U0BOB",
            cert_sn=52739,
            justification="INC-4711: private KEY found in a public repo",
            enos_request_id="enos-req-77",
        ),
        "product": stored_request(
            db,
            created_at=NOV_1 + day,
            product_key="pk123",
            device_key="dev-01",
            cert_sn=60001,
            justification="decommissioned gateway",
        ),
        "denied": stored_request(
            db,
            created_at=NOV_1 + 2 * day,
            status=RequestStatus.DENIED.value,
            decided_by="U0BOB",
            decision_note="wrong device, 100% sure",
            requester_id="U0CAROL",
            asset_id="Ab99ZzTop",
            cert_sn=70002,
            justification="rotate_key ticket",
        ),
        "cancelled": stored_request(
            db,
            created_at=NOV_1 + 3 * day,
            status=RequestStatus.CANCELLED.value,
            decided_by="U0ALICE",
            cert_sn=52739,
            justification="oops",
        ),
        "last_of_november": stored_request(
            db,
            created_at=datetime(2026, 11, 30, 23, 59, 59, 999999, tzinfo=UTC),
            cert_sn=80003,
            justification="Ünïcode Grüße",
        ),
        "december": stored_request(
            db, created_at=datetime(2026, 12, 1, tzinfo=UTC), cert_sn=80004, justification="x"
        ),
    }
    return {name: request.id for name, request in made.items()}


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ("", ["december", "last_of_november", "cancelled", "denied", "product", "revoked"]),
        ("cert:52739", ["cancelled", "revoked"]),
        ("asset:Xy12AbCd status:revoked", ["revoked"]),
        ("asset:xy12abcd", []),  # identifiers are exact, as EnOS spells them
        ("device:dev-01", ["product"]),
        ("product:pk123", ["product"]),
        ("by:<@U0CAROL|carol>", ["denied"]),
        ("approver:U0BOB", ["denied", "revoked"]),  # approved it, or denied it
        ("approver:U0ALICE", []),  # cancelling one's own request is not deciding it
        ("status:denied,cancelled", ["cancelled", "denied"]),
        ("status:pending", ["december", "last_of_november", "product"]),
        ("since:2026-11-30", ["december", "last_of_november"]),
        ("until:2026-11-30 since:2026-11-30", ["last_of_november"]),
        ("until:2026-11-02", ["product", "revoked"]),
        ("private key", ["revoked"]),
        ('"private key"', ["revoked"]),
        ('"key private"', []),
        ("PUBLIC", ["revoked"]),  # case does not matter
        ("gateway", ["product"]),
        ("ateway decom", ["product"]),  # substrings, in any order
        ("pk1", ["product"]),
        ("60001", ["product"]),
        ("enos-req-77", ["revoked"]),
        ("U0CAROL", ["denied"]),
        ("wrong device", ["denied"]),
        ("100%", ["denied"]),  # % is a character, not a wildcard
        ("0%", ["denied"]),
        ("rotate_key", ["denied"]),
        ("e_k", ["denied"]),  # _ is a character too, also in words too short for the index
        ("%", ["denied"]),
        ("Grüße", ["last_of_november"]),
        ("Xy", ["cancelled", "december", "last_of_november", "revoked"]),  # too short to index
        ("4711 Xy cert:52739", ["revoked"]),
        ("nothing-like-this", []),
        ('"', ["december", "last_of_november", "cancelled", "denied", "product", "revoked"]),
        ('say "hi', []),
    ],
)
@pytest.mark.parametrize("dense_from", [DENSE_MATCHES, 1], ids=["few-matches", "many-matches"])
def test_each_filter_and_word_finds_exactly_its_requests(
    db: Database,
    library: dict[str, str],
    query: str,
    names: list[str],
    dense_from: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Both ways of answering free text on SQLite must find the same requests in the same order.
    monkeypatch.setattr(search_module, "DENSE_MATCHES", dense_from)
    expected_order = [
        library[name]
        for name in [
            "december",
            "last_of_november",
            "cancelled",
            "denied",
            "product",
            "revoked",
        ]
        if name in names
    ]

    assert _ids(db, query) == expected_order


def test_pages_cover_every_match_once_newest_first(db: Database) -> None:
    start = datetime(2026, 10, 1, tzinfo=UTC)
    ids = many_requests(db, 25, start, timedelta(hours=1))
    # Three more created in the very same microsecond: the id orders them.
    same_time = [stored_request(db, created_at=start + timedelta(hours=30)).id for _ in range(3)]
    expected = sorted(same_time, reverse=True) + list(reversed(ids))

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        page = find(db, "", cursor, page_size=10)
        assert isinstance(page, HistoryPage)
        assert page.shown_before == len(seen)
        seen.extend(request.id for request in page.requests)
        pages += 1
        cursor = page.cursor
        if cursor is None:
            break

    assert seen == expected
    assert pages == 3


def test_an_exactly_full_last_page_offers_no_more(db: Database) -> None:
    many_requests(db, 10, NOV_1, timedelta(minutes=1))

    page = find(db, "", page_size=10)

    assert isinstance(page, HistoryPage)
    assert len(page.requests) == 10 and page.cursor is None


def test_paging_continues_where_it_ended_while_new_requests_arrive(db: Database) -> None:
    ids = many_requests(db, 15, NOV_1, timedelta(minutes=1))
    first = find(db, "status:pending", page_size=4)
    assert isinstance(first, HistoryPage) and first.cursor

    stored_request(db, created_at=NOV_1 + timedelta(days=1))  # newer than every page
    seen = [r.id for r in first.requests]
    cursor: str | None = first.cursor
    while cursor is not None:
        page = find(db, "status:pending", cursor, page_size=4)
        assert isinstance(page, HistoryPage)
        seen.extend(r.id for r in page.requests)
        cursor = page.cursor

    assert seen == list(reversed(ids))


def test_a_bad_cursor_asks_to_search_again(db: Database) -> None:
    result = find(db, "", "not-a-cursor")

    assert isinstance(result, QueryError)
    assert "search again" in result.problem


def test_free_text_follows_changes_to_a_request(db: Database) -> None:
    request = stored_request(db, justification="routine rotation")
    assert _ids(db, "rotation") == [request.id]

    with db.write() as session:
        session.execute(
            text(
                "UPDATE revocation_request SET decision_note = 'duplicate of INC-9' WHERE id = :i"
            ),
            {"i": request.id},
        )
        session.execute(
            text("UPDATE revocation_request SET lease_until = created_at WHERE id = :i"),
            {"i": request.id},
        )
    assert _ids(db, "INC-9") == [request.id]
    assert _ids(db, "rotation") == [request.id]

    with db.write() as session:
        session.execute(
            text("UPDATE revocation_request SET justification = 'replaced' WHERE id = :i"),
            {"i": request.id},
        )
    assert _ids(db, "rotation") == []
    assert _ids(db, "replaced") == [request.id]

    with db.write() as session:
        session.execute(text("DELETE FROM revocation_request WHERE id = :i"), {"i": request.id})
    assert _ids(db, "replaced") == []


@given(st.lists(_QUERY_PIECES, max_size=6).map(" ".join))
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_any_query_that_parses_runs(db: Database, query: str) -> None:
    result = find(db, query, page_size=3)

    assert isinstance(result, HistoryPage | QueryError)


# --- Indexes: the searches use them ---


def _plan(db: Database, search: RequestSearch) -> str:
    statement = search_statement(db.dialect, search, limit=11)
    compiled = statement.compile(db.engine, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if db.dialect == "sqlite":
        params = tuple(compiled.params[name] for name in compiled.positiontup or ())
        params = tuple(p.isoformat(" ") if isinstance(p, datetime) else p for p in params)
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    with db.read() as session:
        connection = session.connection()
        if db.dialect == "postgresql":
            # A handful of rows is cheaper to scan; ask whether the index can be used at all.
            connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        rows = connection.exec_driver_sql(prefix + str(compiled), params).all()
    return "\n".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize(
    ("search", "sqlite_uses", "postgres_uses"),
    [
        (RequestSearch(words=("private key",)), "revocation_request_fts", "ix_request_search_trgm"),
        (RequestSearch(cert_sn=52739), "ix_revocation_request_cert_sn", "cert_sn"),
        (RequestSearch(asset_id="Xy12AbCd"), "ix_revocation_request_asset_id", "asset_id"),
        (RequestSearch(device_key="dev-01"), "ix_revocation_request_device_key", "device_key"),
        (RequestSearch(product_key="pk1"), "ix_request_product_newest", "product_newest"),
        (RequestSearch(requester_id="U0A"), "requester", "requester"),
        (RequestSearch(approver_id="U0B"), "approver", "approver"),
        (
            RequestSearch(statuses=frozenset({RequestStatus.REVOKED})),
            "ix_request_status_newest",
            "status",
        ),
        (RequestSearch(since=NOV_1), "created_at", "created_at"),
    ],
)
def test_searches_use_the_indexes(
    db: Database, search: RequestSearch, sqlite_uses: str, postgres_uses: str
) -> None:
    plan = _plan(db, search)

    assert (sqlite_uses if db.dialect == "sqlite" else postgres_uses) in plan, plan
    if db.dialect == "sqlite":
        assert not re.search(r"SCAN revocation_request\b(?! USING)", plan), plan


def test_words_matching_many_requests_are_read_newest_first_on_sqlite(db: Database) -> None:
    if db.dialect != "sqlite":
        pytest.skip("PostgreSQL's planner weighs the trigram index by its statistics")
    statement = search_statement("sqlite", RequestSearch(words=("key",)), limit=11, dense=True)
    compiled = statement.compile(db.engine)
    params = tuple(compiled.params[name] for name in compiled.positiontup or ())
    with db.read() as session:
        rows = session.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), params)
        plan = "\n".join(str(row[-1]) for row in rows)

    assert "USING INDEX ix_request_newest" in plan or "COVERING INDEX ix_request_newest" in plan
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan


def test_the_postgres_query_spells_the_indexed_expression_exactly() -> None:
    from importlib import import_module

    migration = import_module("storage.migrations.versions.0002_history_search")

    assert migration.PG_SEARCH_TEXT == PG_SEARCH_TEXT
    assert tuple(migration.TEXT_COLUMNS) == TEXT_COLUMNS


def test_the_search_migration_goes_down_and_up_again(db: Database) -> None:
    from alembic import command

    from storage.db import alembic_config

    kept = stored_request(db, justification="survives the round trip")
    command.downgrade(alembic_config(db.engine), "0001")
    added = stored_request(db, justification="written while the index was gone")
    db.migrate()

    assert _ids(db, "round trip") == [kept.id]
    assert _ids(db, "index was gone") == [added.id]


def test_search_requests_reports_more_only_when_there_is_more(db: Database) -> None:
    many_requests(db, 3, NOV_1, timedelta(minutes=1))
    with db.read() as session:
        assert search_requests(session, RequestSearch(), limit=3).more is None
        assert search_requests(session, RequestSearch(), limit=2).more is not None


# --- /revoke-cert history in Slack ---


def _history(stack: LocalStack, driver: SlackDriver, query: str) -> tuple[Any, dict[str, Any]]:
    before = len(stack.standin.ephemerals(REQUESTER))
    answer = driver.slash_command(REQUESTER, f"history {query}".strip())
    return answer, _next_ephemeral(stack, before)


def _next_ephemeral(stack: LocalStack, before: int) -> dict[str, Any]:
    """The first private message the requester gets after the ``before`` they had."""

    def arrived() -> dict[str, Any] | None:
        shown = stack.standin.ephemerals(REQUESTER)
        return shown[-1] if len(shown) > before else None

    found = stack.standin.wait_for(arrived)
    assert found is not None
    return found


def _opened_view(stack: LocalStack, user: str) -> dict[str, Any]:
    view = stack.standin.wait_for(lambda: stack.standin.last_view(user))
    assert view is not None
    return view


def _all_posted(stack: LocalStack) -> list[RevocationRequest] | None:
    found = requests_in(stack.database_url)
    if not all(request.permalink for request in found):
        return None
    return sorted(found, key=lambda request: request.created_at)


def _more_button(message: dict[str, Any]) -> dict[str, Any] | None:
    for block in message.get("blocks") or []:
        if block.get("block_id") == HistoryBlock.MORE.value:
            element: dict[str, Any] = block["elements"][0]
            return element
    return None


def test_history_pages_through_real_requests_with_more(
    stack: LocalStack, driver: SlackDriver
) -> None:
    for number in range(12):
        ask(stack, driver, f"asset={ASSET_ID} cert={1000 + number} reason=key_compromise")
    # The permalink is stored just after the message is posted; wait for the last one.
    stored = stack.standin.wait_for(lambda: _all_posted(stack))
    assert stored is not None

    answer, first = _history(stack, driver, f"asset:{ASSET_ID}")

    assert answer.status_code == 200 and answer.elapsed.total_seconds() < 3
    assert first["via"] == "ack"  # a fast search answers on the acknowledgement itself
    blocks = str(first["blocks"])
    for number in range(2, 12):
        assert f"`{1000 + number}`" in blocks
    assert "`1001`" not in blocks and "`1000`" not in blocks
    assert f"asset ID `{ASSET_ID}`" in blocks and f"<@{REQUESTER}>" in blocks
    assert "Key compromise" in blocks and "pending" in blocks
    for request in stored[2:]:
        assert f"<{request.permalink}|Open the thread>" in blocks
    button = _more_button(first)
    assert button is not None and button["action_id"] == ActionId.HISTORY_MORE.value
    assert "1000" not in button["value"].split(" ", 1)[1]  # the query, not the results

    before = len(stack.standin.ephemerals(REQUESTER))
    driver.click(REQUESTER, first, ActionId.HISTORY_MORE.value)
    second = _next_ephemeral(stack, before)

    assert "`1001`" in str(second["blocks"]) and "`1000`" in str(second["blocks"])
    assert "requests 11–12" in second["text"]
    assert _more_button(second) is None


def test_history_finds_a_request_by_what_happened_to_it(
    stack: LocalStack, driver: SlackDriver
) -> None:
    message = ask(stack, driver)
    driver.click(APPROVER, message, ActionId.APPROVE.value, channel_id=ONCALL_CHANNEL)
    wait_for_reply(stack, message, "EnOS revoked")
    other = ask(stack, driver, f"asset={ASSET_ID} cert=777 reason=key_compromise")
    driver.click(OTHER_APPROVER, other, ActionId.DENY.value, channel_id=ONCALL_CHANNEL)
    deny_form = _opened_view(stack, OTHER_APPROVER)
    driver.submit_view(OTHER_APPROVER, deny_form, {DenyInput.NOTE.value: "wrong certificate"})
    stack.standin.wait_for(lambda: "Denied" in str(current(stack, other)["blocks"]))

    _, revoked = _history(stack, driver, f"status:revoked approver:<@{APPROVER}|bob>")
    _, denied = _history(stack, driver, f'"wrong certificate" approver:{OTHER_APPROVER}')

    assert f"`{CERT_SN}`" in str(revoked["blocks"]) and "`777`" not in str(revoked["blocks"])
    assert f"approved by <@{APPROVER}>" in str(revoked["blocks"])
    assert "`777`" in str(denied["blocks"])
    assert f"denied by <@{OTHER_APPROVER}>" in str(denied["blocks"])


def test_a_malformed_query_gets_the_usage_line_in_the_ack(
    stack: LocalStack, driver: SlackDriver
) -> None:
    answer = driver.slash_command(REQUESTER, "history by:@alice")

    assert answer.status_code == 200
    assert answer.json()["response_type"] == "ephemeral"
    assert "not a Slack member ID" in answer.json()["text"]
    assert "Usage: `/revoke-cert history" in answer.json()["text"]
    assert stack.standin.last_view(REQUESTER) is None


def test_no_match_says_so(stack: LocalStack, driver: SlackDriver) -> None:
    _, shown = _history(stack, driver, "cert:4242")

    assert "No request matches" in shown["text"]
    assert _more_button(shown) is None


def test_a_forged_more_button_value_is_only_a_query(stack: LocalStack, driver: SlackDriver) -> None:
    ask(stack, driver)
    _, shown = _history(stack, driver, "")
    forged = {
        **shown,
        "blocks": [
            {
                "type": "actions",
                "block_id": HistoryBlock.MORE.value,
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "More"},
                        "action_id": ActionId.HISTORY_MORE.value,
                        "value": "garbage-cursor cert:1",
                    }
                ],
            }
        ],
    }
    before = len(stack.standin.ephemerals(REQUESTER))

    driver.click(REQUESTER, forged, ActionId.HISTORY_MORE.value)

    assert "search again" in _next_ephemeral(stack, before)["text"]


# --- Slack's own search: every message names the request the same way ---


def _texts(stack: LocalStack, message: dict[str, Any]) -> list[str]:
    parent = current(stack, message)
    thread = stack.standin.thread(ONCALL_CHANNEL, message["ts"])
    return [parent["text"], *(reply["text"] for reply in thread)]


@pytest.mark.parametrize(
    ("command", "device_phrases"),
    [
        (f"asset={ASSET_ID} cert={CERT_SN} reason=key_compromise", [f"asset ID {ASSET_ID}"]),
        (
            f"product=SbxGateway device=site-a-gateway cert={CERT_SN} reason=key_compromise",
            ["product key SbxGateway", "device key site-a-gateway"],
        ),
    ],
)
def test_every_message_names_the_request_in_the_search_phrases(
    stack: LocalStack, driver: SlackDriver, command: str, device_phrases: list[str]
) -> None:
    message = ask(stack, driver, command)
    driver.click(APPROVER, message, ActionId.APPROVE.value, channel_id=ONCALL_CHANNEL)
    wait_for_reply(stack, message, "EnOS revoked")
    stack.standin.wait_for(lambda: "status revoked" in current(stack, message)["text"])
    (request,) = requests_in(stack.database_url)

    texts = _texts(stack, message)

    assert len(texts) >= 3  # the request, its approval, EnOS's answer
    for sent in texts:
        for phrase in [
            f"certSn {CERT_SN}",
            *device_phrases,
            "reason Key compromise (1)",
            f"requested by <@{REQUESTER}>",
            f"Certificate revocation {request.id}",
        ]:
            assert phrase in sent, (phrase, sent)
    assert f"approved by <@{APPROVER}>" in texts[0] and "status revoked" in texts[0]
    outcome = [t for t in texts if "EnOS revoked" in t]
    assert outcome and f"approved by <@{APPROVER}>" in outcome[0]
    assert "status revoked" in outcome[0]


def test_denied_messages_name_who_denied(stack: LocalStack, driver: SlackDriver) -> None:
    message = ask(stack, driver)
    driver.click(APPROVER, message, ActionId.DENY.value, channel_id=ONCALL_CHANNEL)
    form = _opened_view(stack, APPROVER)
    driver.submit_view(APPROVER, form, {DenyInput.NOTE.value: "not this one"})
    stack.standin.wait_for(lambda: "status denied" in current(stack, message)["text"])

    parent = current(stack, message)["text"]

    assert f"denied by <@{APPROVER}>" in parent and f"certSn {CERT_SN}" in parent
    assert stack.standin.wait_for(
        lambda: any("status denied" in t for t in _texts(stack, message)[1:])
    )


def test_history_results_are_private_and_answered_on_the_acknowledgement(
    stack: LocalStack, driver: SlackDriver
) -> None:
    ask(stack, driver)
    before = len(stack.standin.messages(ONCALL_CHANNEL))

    answer, shown = _history(stack, driver, "")

    assert answer.json()["response_type"] == "ephemeral"
    assert answer.json()["text"] == shown["text"]
    assert shown["ephemeral"] and len(stack.standin.messages(ONCALL_CHANNEL)) == before


def test_a_slow_history_search_is_acknowledged_first_and_answered_after(
    stack: LocalStack, driver: SlackDriver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.slack import history_listeners

    ask(stack, driver)
    monkeypatch.setattr(history_listeners, "ANSWER_IN_ACK_SECONDS", 0)

    answer, shown = _history(stack, driver, "")

    assert answer.content in (b"", b"null")
    assert shown["via"] == "response_url" and "certSn 52739" in shown["text"]


@pytest.mark.parametrize(
    "query",
    ["by:<!channel>", "approver:<https://evil.example|click here>", "approver:x`<!here>"],
)
def test_a_bad_filter_value_is_quoted_back_as_text_not_markup(
    stack: LocalStack, driver: SlackDriver, query: str
) -> None:
    answer = driver.slash_command(REQUESTER, f"history {query}")

    shown = answer.json()["text"]
    assert "not a Slack member ID" in shown
    assert "<!" not in shown and "<http" not in shown
