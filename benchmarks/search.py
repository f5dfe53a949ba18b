"""History search at scale: indexed search beside a plain LIKE scan, on SQLite and PostgreSQL.

    .venv/bin/python -m benchmarks.search              # 200,000 requests, 1,000,000 events
    .venv/bin/python -m benchmarks.search --scale 0.05 # a quick run

For each database: migrate, bulk-load the generated history, then time 200 mixed
queries (certSn, device, user, free text, each with and without date ranges) as
``/revoke-cert history`` runs them (first page of 10), and the same queries as a
plain LIKE scan: every term matched with LIKE (ILIKE on PostgreSQL) against the
columns it names, in the same order, so no search index can help. The ratio is
LIKE time over indexed time. It prints one query plan per kind of query too.

PostgreSQL runs in a schema of its own on --postgres-url, dropped at the end.
"""

from __future__ import annotations

import argparse
import random
import re
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import String, cast, create_engine, or_, text
from sqlmodel import col, select

from benchmarks.data import Population, load, request_id_of
from commands.history import HistoryPage, find, parse_query
from storage.db import Database, normalize_url
from storage.models import RevocationRequest
from storage.search import TEXT_COLUMNS, RequestSearch, many_matches, search_statement

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
GOAL_MS = 50.0


@dataclass(frozen=True, slots=True)
class Query:
    kind: str
    text: str


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="1.0: 200,000 requests")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args(argv)

    request_count = max(int(200_000 * args.scale), 100)
    print(f"history search: {request_count:,} requests, {request_count * 5:,} audit events, "
          f"{args.queries} queries")  # fmt: skip
    failed = False
    for name in ("sqlite", "postgres"):
        if args.only and args.only != name:
            continue
        opener = _sqlite if name == "sqlite" else _postgres(args.postgres_url)
        with opener() as db:
            failed |= not _run(db, request_count, args.queries, args.seed)
    return 1 if failed else 0


@contextmanager
def _sqlite() -> Iterator[Database]:
    with tempfile.TemporaryDirectory(prefix="bench-search-") as folder:
        db = Database(f"sqlite:///{Path(folder) / 'bench.sqlite3'}")
        try:
            yield db
        finally:
            db.dispose()


def _postgres(url: str) -> Callable[[], Any]:
    @contextmanager
    def opened() -> Iterator[Database]:
        schema = "bench_" + secrets.token_hex(4)
        admin = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE SCHEMA {schema}"))
        separator = "&" if "?" in url else "?"
        db = Database(f"{url}{separator}options={quote(f'-csearch_path={schema},public')}")
        try:
            yield db
        finally:
            db.dispose()
            with admin.connect() as connection:
                connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

    return opened


def _run(db: Database, request_count: int, query_count: int, seed: int) -> bool:
    db.migrate()
    print(f"\n== {_describe(db)} ==")
    people, took = load(db, request_count=request_count, events_per_request=5, seed=seed)
    print(f"loaded {request_count:,} requests and {request_count * 5:,} events in {took:.0f} s")

    queries = _queries(db, people, request_count, query_count, random.Random(seed + 1))
    for query in queries[:20]:  # warm the caches the way a running bot has them warm
        find(db, query.text)
    indexed = [_time(partial(_indexed, db, q.text)) for q in queries]
    scanned = [_time(partial(_like_scan, db, q.text)) for q in queries]

    print(f"{'queries':<22}{'n':>4}{'p50 ms':>9}{'p95 ms':>9}{'LIKE p50':>10}"
          f"{'LIKE p95':>10}{'ratio p50':>11}{'ratio p95':>11}")  # fmt: skip
    kinds = sorted({q.kind for q in queries})
    for kind in [*kinds, "all"]:
        chosen = [i for i, q in enumerate(queries) if kind in ("all", q.kind)]
        _row(kind, [indexed[i] for i in chosen], [scanned[i] for i in chosen])
    p95 = _percentile(indexed, 95)
    verdict = "meets" if p95 < GOAL_MS else "MISSES"
    print(f"p95 {p95:.1f} ms {verdict} the goal of {GOAL_MS:.0f} ms")
    _plans(db, queries)
    return p95 < GOAL_MS


def _describe(db: Database) -> str:
    with db.read() as session:
        if db.dialect == "sqlite":
            version = session.execute(text("select sqlite_version()")).scalar()
            return f"SQLite {version}"
        version = session.execute(text("show server_version")).scalar()
        return f"PostgreSQL {version}"


def _queries(
    db: Database, people: Population, request_count: int, count: int, rng: random.Random
) -> list[Query]:
    """``count`` queries, a fifth of each kind, about requests that exist."""
    samples = _sample_requests(db, request_count, count, rng)
    queries: list[Query] = []
    for number in range(count):
        row = samples[number % len(samples)]
        window = _window(row, rng) if number % 2 else ""
        kind = ("certSn", "device", "user", "free text", "date range")[number % 5]
        queries.append(Query(kind, _query(kind, row, people, window, rng).strip()))
    return queries


def _sample_requests(
    db: Database, request_count: int, count: int, rng: random.Random
) -> list[RevocationRequest]:
    ids = [request_id_of(rng.randrange(request_count)) for _ in range(count)]
    with db.read() as session:
        found = session.exec(select(RevocationRequest).where(col(RevocationRequest.id).in_(ids)))
        by_id = {request.id: request for request in found}
    return [by_id[i] for i in ids if i in by_id]


def _window(row: RevocationRequest, rng: random.Random) -> str:
    days = rng.choice([7, 30, 90])
    since = (row.created_at - timedelta(days=rng.randint(0, days))).date()
    until = since + timedelta(days=days)
    return f" since:{since.isoformat()} until:{until.isoformat()}"


def _query(
    kind: str, row: RevocationRequest, people: Population, window: str, rng: random.Random
) -> str:
    words = row.justification.split()
    if kind == "certSn":
        return f"cert:{row.cert_sn}{window}"
    if kind == "device":
        if row.asset_id:
            return f"asset:{row.asset_id}{window}"
        choice = rng.choice([f"device:{row.device_key}", f"product:{row.product_key}"])
        return f"{choice}{window}"
    if kind == "user":
        who = rng.choice([f"by:<@{row.requester_id}>", f"approver:{rng.choice(people.approvers)}"])
        status = rng.choice(["", " status:revoked", " status:denied"])
        return f"{who}{status}{window}"
    if kind == "free text":
        text_ = rng.choice(
            [
                words[-1],  # a rare word, or a common one
                f"{words[1]} {words[2]}",  # two words
                words[0].rstrip(":"),  # the incident number
                (row.asset_id or row.device_key or "")[:5],  # part of an identifier
                rng.choice(["key", "gateway", "leaked"]),  # very common
            ]
        )
        return f"{text_}{window}"
    status = rng.choice(["refused", "unknown,failed", "revoked", "expired"])
    return f"status:{status}{window or _window(row, rng)}"


def _indexed(db: Database, query: str) -> int:
    page = find(db, query)
    assert isinstance(page, HistoryPage), page
    return len(page.requests)


def _like_scan(db: Database, query: str) -> int:
    search = parse_query(query)
    assert isinstance(search, RequestSearch)
    with db.read() as session:
        return len(list(session.exec(like_statement(db.dialect, search))))


def like_statement(dialect: str, search: RequestSearch) -> Any:
    """The same search as a plain scan: each term matched by LIKE on the columns it names."""
    request = RevocationRequest

    def like(column: Any, pattern: str) -> Any:
        as_text = cast(column, String)
        return as_text.ilike(pattern) if dialect == "postgresql" else as_text.like(pattern)

    conditions: list[Any] = []
    for word in search.words:
        pattern = f"%{word}%"
        conditions.append(or_(*(like(getattr(request, name), pattern) for name in TEXT_COLUMNS)))
    exact = {
        request.cert_sn: search.cert_sn,
        request.asset_id: search.asset_id,
        request.product_key: search.product_key,
        request.device_key: search.device_key,
        request.requester_id: search.requester_id,
    }
    conditions += [like(column, str(value)) for column, value in exact.items() if value is not None]
    if search.approver_id:
        conditions.append(
            or_(
                like(request.approver_id, search.approver_id),
                like(request.decided_by, search.approver_id) & like(request.status, "denied"),
            )
        )
    if search.statuses:
        conditions.append(or_(*(like(request.status, s.value) for s in search.statuses)))
    if search.since:
        conditions.append(col(request.created_at) >= search.since)
    if search.until:
        conditions.append(col(request.created_at) < search.until)
    return (
        select(request)
        .where(*conditions)
        .order_by(col(request.created_at).desc(), col(request.id).desc())
        .limit(11)
    )


def _time(run: Callable[[], object]) -> float:
    started = time.perf_counter()
    run()
    return (time.perf_counter() - started) * 1000


def _percentile(values: list[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _row(kind: str, indexed: list[float], scanned: list[float]) -> None:
    p50, p95 = _percentile(indexed, 50), _percentile(indexed, 95)
    l50, l95 = _percentile(scanned, 50), _percentile(scanned, 95)
    print(f"{kind:<22}{len(indexed):>4}{p50:>9.1f}{p95:>9.1f}{l50:>10.1f}{l95:>10.1f}"
          f"{l50 / p50:>10.0f}x{l95 / p95:>10.0f}x")  # fmt: skip


def _plans(db: Database, queries: list[Query]) -> None:
    """One query plan per kind: which index each kind of query reads."""
    print("query plans (first query of each kind, and a word in one request in ten):")
    shown: set[str] = set()
    for query in [*queries, Query("free text, common word", "gateway")]:
        if query.kind in shown:
            continue
        shown.add(query.kind)
        search = parse_query(query.text)
        assert isinstance(search, RequestSearch)
        plan = _plan(db, search)
        print(f"  {query.kind}: {query.text}")
        for line in plan:
            print(f"      {line}")


def _plan(db: Database, search: RequestSearch) -> list[str]:
    with db.read() as session:
        dense = db.dialect == "sqlite" and many_matches(session, search.words)
    statement = search_statement(db.dialect, search, limit=11, dense=dense)
    compiled = statement.compile(db.engine, compile_kwargs={"render_postcompile": True})
    params: Any = compiled.params
    if db.dialect == "sqlite":
        params = tuple(
            value.strftime("%Y-%m-%d %H:%M:%S.%f") if hasattr(value, "strftime") else value
            for value in (compiled.params[name] for name in compiled.positiontup or ())
        )
        sql = "EXPLAIN QUERY PLAN " + str(compiled)
    else:
        sql = "EXPLAIN (COSTS OFF) " + str(compiled)
    with db.read() as session:
        rows = session.connection().exec_driver_sql(sql, params).all()
    lines = "\n".join(str(row[-1]) for row in rows).splitlines()
    # PostgreSQL spells out the whole search expression over lines; the nodes are what matter.
    nodes = [line for line in lines if not re.search(r"Cond|Filter|::|^\s*'", line)]
    return nodes[:8]


if __name__ == "__main__":
    sys.exit(main())
