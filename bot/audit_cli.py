"""``revoke-cert-bot audit verify | export | search``: the audit trail for auditors.

``verify`` exits 0 when the chain holds, 1 naming the first event that does not,
and 2 when the trail cannot be read at all. None of these commands writes to the
database, except ``search``, which first brings the schema up to date like ``list``.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from storage.audit import ChainReport, EventRecord
    from storage.db import Database
    from storage.models import AuditEvent, RevocationRequest

SEARCH_LIMIT = 50
_ANCHOR = re.compile(r"(?P<seq>\d{1,18}):(?P<hash>[0-9a-f]{64})")


def add_audit_commands(commands: Any) -> None:
    """Add list, verify, export and search to the ``audit`` subcommands."""
    listing = commands.add_parser("list", help="audit events, newest first")
    listing.add_argument("--limit", type=_count, default=50, help="at most this many (1-10000)")
    listing.set_defaults(run=_list)

    verify = commands.add_parser("verify", help="check that no audit event was changed")
    verify.add_argument(
        "--anchor",
        action="append",
        default=[],
        type=_anchor,
        metavar="SEQ:HASH",
        help="an event's hash noted earlier (printed by verify); it must not have changed",
    )
    verify.add_argument(
        "--file", type=Path, help="verify an export (from audit export) instead of the database"
    )
    verify.set_defaults(run=_verify)

    export = commands.add_parser("export", help="write the audit events with their hashes")
    export.add_argument("--format", choices=["csv", "jsonl"], required=True)
    export.add_argument("--since", type=_day, help="first day, YYYY-MM-DD (UTC)")
    export.add_argument("--until", type=_day, help="last day, YYYY-MM-DD (UTC), included")
    export.add_argument("--output", type=Path, help="a file to write (default: standard output)")
    export.set_defaults(run=_export)

    search = commands.add_parser(
        "search", help="requests and their events, by the /revoke-cert history query language"
    )
    search.add_argument("query", nargs="*", help='e.g. cert:52739 or asset:Xy12AbCd "key leak"')
    search.add_argument("--limit", type=_count, default=SEARCH_LIMIT, help="at most this many")
    search.set_defaults(run=_search)


def _count(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 10_000:
        raise argparse.ArgumentTypeError("give a whole number from 1 to 10000")
    return int(value)


def _anchor(value: str) -> tuple[int, str]:
    match = _ANCHOR.fullmatch(value.strip().lower())
    if match is None:
        raise argparse.ArgumentTypeError("give SEQ:HASH as verify printed it, e.g. 1234:9f2c…")
    return int(match["seq"]), match["hash"]


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError("give a day as YYYY-MM-DD, e.g. 2026-11-01") from None


def _day_range(args: argparse.Namespace) -> tuple[datetime | None, datetime | None]:
    from commands.history import day_start

    since = day_start(args.since) if args.since else None
    until = day_start(args.until + timedelta(days=1)) if args.until else None
    return since, until


@contextmanager
def _database() -> Iterator[Database]:
    from sqlalchemy.exc import DBAPIError

    from bot.settings import DatabaseSettings
    from storage.db import Database, describe_url

    url = DatabaseSettings().database_url
    db = Database(url)
    try:
        yield db
    except DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise _Unreadable(
            f"cannot read the audit trail in {describe_url(url)} ({reason}); "
            "check DATABASE_URL, or run `revoke-cert-bot migrate` on a new database"
        ) from None
    finally:
        db.dispose()


class _Unreadable(Exception):
    pass


def _fail(error: Exception) -> int:
    print(f"revoke-cert-bot: {error}", file=sys.stderr)
    return 2


# --- list ---


def _list(args: argparse.Namespace) -> int:
    from storage.audit import describe_event, newest_events

    try:
        with _database() as db:
            for event in newest_events(db, args.limit):
                print(describe_event(event))
    except _Unreadable as error:
        return _fail(error)
    return 0


# --- verify ---


def _verify(args: argparse.Namespace) -> int:
    anchors = dict(args.anchor)
    try:
        if args.file is not None:
            return _verify_file(args.file, anchors)
        with _database() as db:
            from storage.audit import verify_chain

            report = verify_chain(db, anchors=anchors)
            culprit = _describe(db, report.broken_at) if not report.ok else None
    except _Unreadable as error:
        return _fail(error)
    return _print_report(report, culprit)


def _describe(db: Database, seq: int | None) -> str | None:
    from sqlmodel import select

    from storage.audit import describe_event
    from storage.models import AuditEvent

    if seq is None:
        return None
    with db.read() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.seq == seq)).first()
        return describe_event(event) if event is not None else None


def _print_report(report: ChainReport, culprit: str | None, scope: str = "") -> int:
    if report.ok:
        print(f"audit chain intact: {report.checked} events checked{scope}")
        if report.checked:
            print(
                f"newest event #{report.last_seq}, hash {report.last_hash}\n"
                f"(keep this line elsewhere; `audit verify --anchor "
                f"{report.last_seq}:{report.last_hash}` later proves nothing up to it changed)"
            )
        return 0
    print(f"audit chain BROKEN at event #{report.broken_at}: {report.problem}")
    if culprit:
        print(f"  {culprit}")
    print(f"{report.checked} events before it are intact{scope}")
    return 1


def _verify_file(path: Path, anchors: dict[int, str]) -> int:
    from storage.audit import walk_chain
    from storage.audit_export import ExportFileError, ExportFormat, read_export

    form = ExportFormat.CSV if path.suffix.lower() == ".csv" else ExportFormat.JSONL
    try:
        with path.open(encoding="utf-8", newline="") as lines:
            events = read_export(lines, form)
            first = next(events, None)
            if first is None:
                print(f"{path} holds no events")
                return 0
            from_genesis = first.seq == 1
            report = walk_chain(_chain(first, events), anchors=anchors, from_genesis=from_genesis)
    except ExportFileError as error:
        return _fail(Exception(f"{path}: {error}"))
    except (OSError, UnicodeDecodeError) as error:
        return _fail(Exception(f"cannot read {path}: {error}"))
    except (RecursionError, MemoryError):
        return _fail(Exception(f"{path} is not an export from `audit export` (a row is malformed)"))
    scope = "" if from_genesis else (
        f" (from #{first.seq}; its link to #{first.seq - 1}, not in the file, is not checked)"
    )  # fmt: skip
    return _print_report(report, None, scope)


def _chain(first: EventRecord, rest: Iterator[EventRecord]) -> Iterator[EventRecord]:
    yield first
    yield from rest


# --- export ---


def _export(args: argparse.Namespace) -> int:
    from storage.audit import event_records, one_snapshot
    from storage.audit_export import ExportFormat, write_export

    try:
        since, until = _day_range(args)
    except OverflowError:
        return _fail(Exception("--until is too far in the future; leave it out to export to now"))
    form = ExportFormat(args.format)
    try:
        with _database() as db, db.read() as session, _output(args.output) as out:
            one_snapshot(session)
            count = write_export(event_records(session, since=since, until=until), out, form)
    except _Unreadable as error:
        return _fail(error)
    except BrokenPipeError:
        return 0
    except OSError as error:
        return _fail(Exception(f"cannot write {args.output}: {error.strerror or error}"))
    print(f"exported {count} audit events", file=sys.stderr)
    return 0


@contextmanager
def _output(path: Path | None) -> Iterator[IO[str]]:
    if path is None:
        if hasattr(sys.stdout, "reconfigure"):
            sys.stdout.reconfigure(encoding="utf-8")
        yield sys.stdout
        sys.stdout.flush()
        return
    with path.open("w", encoding="utf-8", newline="") as out:
        yield out


# --- search ---


def _search(args: argparse.Namespace) -> int:
    from commands.history import QueryError, find

    query = " ".join(f'"{word}"' if _needs_quotes(word) else word for word in args.query)
    try:
        with _database() as db:
            db.migrate()
            cursor, shown = None, 0
            while shown < args.limit:
                page = find(db, query, cursor, page_size=min(args.limit - shown, 100))
                if isinstance(page, QueryError):
                    print(f"revoke-cert-bot: {page.problem}", file=sys.stderr)
                    return 2
                _print_page(db, page.requests)
                shown += len(page.requests)
                cursor = page.cursor
                if cursor is None:
                    break
    except _Unreadable as error:
        return _fail(error)
    if shown == 0:
        print("no request matches")
    elif cursor is not None:
        print(f"(first {shown} shown; more match: raise --limit or narrow the query)")
    return 0


def _needs_quotes(word: str) -> bool:
    return any(ch.isspace() for ch in word) and '"' not in word and ":" not in word


def _print_page(db: Database, requests: list[RevocationRequest]) -> None:
    from sqlmodel import col, select

    from storage.audit import describe_event
    from storage.models import AuditEvent

    if not requests:
        return
    with db.read() as session:
        events = session.exec(
            select(AuditEvent)
            .where(col(AuditEvent.request_id).in_([r.id for r in requests]))
            .order_by(col(AuditEvent.seq))
        ).all()
    by_request: dict[str, list[AuditEvent]] = {}
    for event in events:
        by_request.setdefault(event.request_id, []).append(event)
    for request in requests:
        print(_describe_request(request))
        for event in by_request.get(request.id, []):
            print(f"    {describe_event(event)}")


def _describe_request(request: RevocationRequest) -> str:
    from storage.audit import canonical_time

    device = (
        f"asset {request.asset_id}"
        if request.asset_id
        else f"product {request.product_key} device {request.device_key}"
    )
    parts = [
        request.id,
        request.status,
        f"certSn {request.cert_sn}",
        device,
        f"reason {request.reason}",
        f"requested by {request.requester_id} {canonical_time(request.created_at)}",
    ]
    if request.approver_id:
        parts.append(f"approved by {request.approver_id}")
    elif request.decided_by:
        parts.append(f"{request.status} by {request.decided_by}")
    if request.permalink:
        parts.append(request.permalink)
    return "  ".join(parts)
