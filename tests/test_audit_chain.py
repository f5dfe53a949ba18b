"""The audit trail: ``audit verify`` names the first edited, deleted, reordered or
inserted event; the chain stays one chain with several writers at once; exports
verify offline; ``audit search`` reads the history query language."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import multiprocessing
import os
import subprocess
import sys
import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlmodel import col, select

from bot.cli import main
from storage.audit import (
    GENESIS_HASH,
    HASHED_FIELDS,
    RECORD_FIELDS,
    EventRecord,
    append_event,
    event_hash,
    event_records,
    verify_chain,
)
from storage.audit_export import ExportFileError, ExportFormat, read_export, write_export
from storage.db import Database
from storage.models import AuditChainHead, AuditEvent, AuditKind, RevocationRequest
from tests.history_support import stored_request

EVENTS = 12


@pytest.fixture
def chain(db: Database) -> Database:
    """Twelve events over four requests, with text that CSV and JSON must carry intact."""
    texts = [
        'quote " comma , and\nnew line',
        "Ünïcode Grüße ✓ 🔑",
        "",
        "plain",
    ]
    for number, justification in enumerate(texts):
        stored_request(
            db,
            justification=justification,
            cert_sn=2**63 - 1 - number,
            enos_msg="" if number == 2 else None,
            events=(AuditKind.REQUESTED, AuditKind.POSTED, AuditKind.DENIED),
        )
    with db.write() as session:
        request = session.exec(select(RevocationRequest)).first()
        assert request is not None
        # An empty note is not a missing one; the export must keep them apart.
        append_event(session, request, AuditKind.CANCELLED, "U0ALICE", note="")
    return db


def _verify(database_url: str, monkeypatch: pytest.MonkeyPatch, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    code = main(["audit", "verify", *args])
    return code, out.getvalue()


def _records(db: Database) -> list[EventRecord]:
    with db.read() as session:
        return list(event_records(session))


def _sql(db: Database, statement: str, **params: Any) -> None:
    with db.write() as session:
        session.execute(text(statement), params)


def _set_hash(db: Database, record: EventRecord) -> None:
    _sql(
        db,
        "UPDATE audit_event SET note = :note, hash = :hash WHERE seq = :seq",
        note=record.note,
        hash=record.hash,
        seq=record.seq,
    )


def test_an_intact_chain_says_how_many_events_it_checked(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, said = _verify(database_url, monkeypatch)

    assert code == 0
    assert f"audit chain intact: {EVENTS + 1} events checked" in said
    newest = _records(chain)[-1]
    assert f"#{newest.seq}, hash {newest.hash}" in said


def test_an_empty_trail_is_intact(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _verify(database_url, monkeypatch) == (0, "audit chain intact: 0 events checked\n")


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("note", "'nothing to see'"),
        ("actor_id", "'U0MALLORY'"),
        ("cert_sn", "cert_sn - 1"),
        ("kind", "'approved'"),
        ("justification", "justification || ' '"),
    ],
)
def test_an_edited_event_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, column: str, value: str
) -> None:
    _sql(chain, f"UPDATE audit_event SET {column} = {value} WHERE seq = 5")  # noqa: S608

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert "BROKEN at event #5: its content does not match its hash (the event was edited)" in said
    assert "4 events before it are intact" in said


def test_an_edited_time_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    later = _records(chain)[6].at + timedelta(microseconds=1)
    _sql(chain, "UPDATE audit_event SET at = :at WHERE seq = 7", at=later)

    code, said = _verify(database_url, monkeypatch)

    assert code == 1 and "BROKEN at event #7" in said and "edited" in said


def test_an_event_edited_and_rehashed_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    edited = replace(_records(chain)[5], note="approved after all")
    _set_hash(chain, replace(edited, hash=event_hash(edited)))

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert "BROKEN at event #6: it was edited and its hash recomputed" in said


@pytest.mark.parametrize(("seq", "named"), [(1, 1), (6, 6), (EVENTS, EVENTS)])
def test_a_deleted_event_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, seq: int, named: int
) -> None:
    _sql(chain, "DELETE FROM audit_event WHERE seq = :seq", seq=seq)

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert f"BROKEN at event #{named}: event #{named} is missing (deleted)" in said


def test_deleting_the_newest_events_is_caught_by_the_chain_head(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sql(chain, "DELETE FROM audit_event WHERE seq > 10")

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert "BROKEN at event #11: the chain ends at #10 but was written up to #13" in said
    assert "deleted" in said


def test_reordered_events_are_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sql(chain, "UPDATE audit_event SET seq = -1 WHERE seq = 4")
    _sql(chain, "UPDATE audit_event SET seq = 4 WHERE seq = 5")
    _sql(chain, "UPDATE audit_event SET seq = 5 WHERE seq = -1")

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert "BROKEN at event #4: it is out of order (reordered)" in said


def test_an_event_inserted_between_two_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = _records(chain)
    for seq in range(len(records), 6, -1):  # make room at #7, highest first
        _sql(chain, "UPDATE audit_event SET seq = :new WHERE seq = :old", new=seq + 1, old=seq)
    forged = replace(records[6], seq=7, actor_id="U0MALLORY", prev_hash=records[5].hash, hash="")
    forged = replace(forged, hash=event_hash(forged))
    _sql(chain, "UPDATE audit_event SET prev_hash = :h WHERE seq = 8", h=forged.hash)
    _insert(chain, forged)

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert "BROKEN at event #7: it was inserted" in said
    assert "U0MALLORY" in said  # the culprit is shown


def test_an_event_added_after_the_newest_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = _records(chain)[-1]
    forged = replace(last, seq=last.seq + 1, kind="revoked", prev_hash=last.hash, hash="")
    _insert(chain, replace(forged, hash=event_hash(forged)))

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert f"BROKEN at event #{last.seq + 1}" in said and "inserted" in said


def test_the_newest_event_replaced_and_rehashed_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    last = replace(_records(chain)[-1], note="cancelled by the approver")
    _set_hash(chain, replace(last, hash=event_hash(last)))

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert f"BROKEN at event #{last.seq}" in said and "replaced" in said


def test_an_anchor_catches_a_chain_rewritten_from_scratch(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    noted = _records(chain)[8]
    _sql(chain, "UPDATE audit_event SET note = 'rewritten' WHERE seq = 3")
    _rechain(chain)  # every hash from #3 on recomputed, and the chain head too

    assert _verify(database_url, monkeypatch)[0] == 0  # consistent, as a rewrite would be
    code, said = _verify(database_url, monkeypatch, "--anchor", f"{noted.seq}:{noted.hash}")

    assert code == 1
    assert f"BROKEN at event #{noted.seq}" in said and "rewritten" in said


def test_a_malformed_anchor_is_refused(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exit_:
        _verify(database_url, monkeypatch, "--anchor", "12:nothex")
    assert exit_.value.code == 2


def test_an_unreachable_database_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "no" / "such.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{missing}")

    assert main(["audit", "verify"]) == 2


def test_verify_runs_as_a_command(chain: Database, database_url: str) -> None:
    env = {**os.environ, "DATABASE_URL": database_url}
    command = [sys.executable, "-m", "bot.cli", "audit", "verify"]

    intact = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    _sql(chain, "UPDATE audit_event SET note = 'x' WHERE seq = 2")
    broken = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)

    assert intact.returncode == 0, intact.stderr
    assert f"{EVENTS + 1} events checked" in intact.stdout
    assert broken.returncode == 1
    assert "BROKEN at event #2" in broken.stdout


def _insert(db: Database, record: EventRecord) -> None:
    values = {name: getattr(record, name) for name in RECORD_FIELDS}
    with db.write() as session:
        session.add(AuditEvent(**values))


# --- Several writers at once ---


def _append_many(database_url: str, request_id: str, count: int) -> None:
    db = Database(database_url)
    try:
        for _ in range(count):
            with db.write() as session:
                request = session.get(RevocationRequest, request_id)
                assert request is not None
                append_event(session, request, AuditKind.POSTED, "system")
    finally:
        db.dispose()


def test_writers_in_several_processes_build_one_chain(db: Database, database_url: str) -> None:
    requests = [stored_request(db, events=()).id for _ in range(4)]
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_many, args=(database_url, request_id, 40))
        for request_id in requests
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert [worker.exitcode for worker in workers] == [0, 0, 0, 0]
    report = verify_chain(db)
    assert report.ok and report.checked == 160, report
    with db.read() as session:
        seqs = list(session.exec(select(AuditEvent.seq).order_by(col(AuditEvent.seq))))
        head = session.get(AuditChainHead, 1)
    assert seqs == list(range(1, 161))
    assert head is not None and head.seq == 160


def test_writers_in_several_threads_build_one_chain(db: Database, database_url: str) -> None:
    requests = [stored_request(db, events=()).id for _ in range(6)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(requests))

    def write(request_id: str) -> None:
        barrier.wait()
        try:
            _append_many(database_url, request_id, 25)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(r,)) for r in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    report = verify_chain(db)
    assert report.ok and report.checked == 150


def test_verify_reads_one_snapshot_while_events_are_appended(
    db: Database, database_url: str
) -> None:
    request = stored_request(db, events=(AuditKind.REQUESTED,) * 300)
    reports = []
    writer = threading.Thread(target=_append_many, args=(database_url, request.id, 100))

    writer.start()
    for _ in range(5):
        reports.append(verify_chain(db, batch=20))
    writer.join(timeout=120)

    assert all(report.ok for report in reports), reports
    assert verify_chain(db).checked == 400


# --- Export, verified offline ---


def _offline_hash(row: dict[str, Any]) -> str:
    """The documented recipe, written out again here: not the bot's own code."""
    document = {name: row[name] for name in HASHED_FIELDS}
    body = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((row["prev_hash"] + body).encode()).hexdigest()


def _offline_verify(rows: list[dict[str, Any]], first_prev: str = GENESIS_HASH) -> None:
    previous = first_prev
    for row in rows:
        assert row["prev_hash"] == previous, row["seq"]
        assert _offline_hash(row) == row["hash"], row["seq"]
        previous = row["hash"]


def _export(
    database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, form: str, *extra: str
) -> Path:
    monkeypatch.setenv("DATABASE_URL", database_url)
    path = tmp_path / f"audit.{form}"
    assert main(["audit", "export", "--format", form, "--output", str(path), *extra]) == 0
    return path


def _csv_rows(path: Path) -> list[dict[str, Any]]:
    """Read the CSV with the standard library, then apply the documented null rule."""
    raw = path.read_text(encoding="utf-8")
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Python's csv module cannot tell "" from an empty field; find the bare ones by position.
    bare = _bare_empty_fields(raw)
    integers = {"seq", "cert_sn", "reason", "enos_code"}
    result = []
    for index, row in enumerate(rows):
        typed: dict[str, Any] = {}
        for name in RECORD_FIELDS:
            value: Any = row[name]
            if (index, name) in bare:
                value = None
            elif name in integers:
                value = int(value)
            typed[name] = value
        result.append(typed)
    return result


def _bare_empty_fields(raw: str) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    row, field, quoted, empty = -1, 0, False, True
    position = 0
    while position < len(raw):
        char = raw[position]
        if quoted:
            if char == '"' and raw[position + 1 : position + 2] == '"':
                position += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted, empty = True, False
        elif char in ",\n":
            if empty and row >= 0:
                found.add((row, RECORD_FIELDS[field]))
            field, empty = field + 1, True
            if char == "\n":
                row, field = row + 1, 0
        else:
            empty = False
        position += 1
    return found


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_an_export_verifies_offline_with_nothing_lost(
    chain: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    form: str,
) -> None:
    path = _export(database_url, monkeypatch, tmp_path, form)

    if form == "jsonl":
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    else:
        rows = _csv_rows(path)

    assert [row["seq"] for row in rows] == list(range(1, EVENTS + 2))
    _offline_verify(rows)
    justifications = {row["justification"] for row in rows}
    assert 'quote " comma , and\nnew line' in justifications and "" in justifications
    assert "Ünïcode Grüße ✓ 🔑" in justifications
    assert rows[-1]["note"] == "" and rows[0]["note"] is None
    assert {row["enos_msg"] for row in rows} == {None, ""}
    assert max(row["cert_sn"] for row in rows) == 2**63 - 1
    with path.open(encoding="utf-8", newline="") as lines:
        assert [r.hash for r in read_export(lines, ExportFormat(form))] == [r["hash"] for r in rows]
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["audit", "verify", "--file", str(path)]) == 0
    assert f"{EVENTS + 1} events checked" in out.getvalue()


@pytest.mark.parametrize("form", ["jsonl", "csv"])
def test_an_edited_export_is_caught_offline(
    chain: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    form: str,
) -> None:
    path = _export(database_url, monkeypatch, tmp_path, form)
    content = path.read_text(encoding="utf-8")
    path.write_text(content.replace('"U0ALICE"', '"U0MALLORY"', 1), encoding="utf-8")

    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    code = main(["audit", "verify", "--file", str(path)])

    assert code == 1
    assert "BROKEN at event #1: its content does not match its hash" in out.getvalue()


def test_an_export_of_some_days_chains_to_what_came_before(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    request = stored_request(db, events=(AuditKind.REQUESTED,) * 6)
    days = [datetime(2026, 11, day, 12, tzinfo=UTC) for day in (1, 2, 2, 3, 4, 5)]
    for seq, at in enumerate(days, start=1):  # back-date the events, then rechain them
        _sql(db, "UPDATE audit_event SET at = :at WHERE seq = :seq", at=at, seq=seq)
    _rechain(db)
    everything = _records(db)

    path = _export(database_url, monkeypatch, tmp_path, "jsonl", "--since", "2026-11-02",
                   "--until", "2026-11-03")  # fmt: skip

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [row["seq"] for row in rows] == [2, 3, 4]
    _offline_verify(rows, first_prev=everything[0].hash)
    assert request.id in {row["request_id"] for row in rows}
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["audit", "verify", "--file", str(path)]) == 0
    assert "from #2" in out.getvalue()


def test_export_reads_in_batches(chain: Database) -> None:
    out = io.StringIO()
    with chain.read() as session:
        count = write_export(event_records(session, batch=5), out, ExportFormat.JSONL)

    assert count == EVENTS + 1
    assert len(out.getvalue().splitlines()) == EVENTS + 1


@pytest.mark.parametrize(
    ("content", "says"),
    [
        ("not json\n", "line 1 is not JSON"),
        ('{"seq": 1}\n', "line 1: no at"),
        ("[1]\n", "not a JSON object"),
        ('{"seq": 1, "extra": "x"}\n', "line 1 has fields no export has: \\['extra'\\]"),
    ],
)
def test_a_damaged_export_file_says_which_line(content: str, says: str) -> None:
    with pytest.raises(ExportFileError, match=says):
        list(read_export(io.StringIO(content), ExportFormat.JSONL))


def test_a_damaged_csv_says_which_line() -> None:
    header = ",".join(RECORD_FIELDS) + "\n"
    with pytest.raises(ExportFileError, match="line 2"):
        list(read_export(io.StringIO(header + '1,"unclosed\n'), ExportFormat.CSV))
    with pytest.raises(ExportFileError, match="header"):
        list(read_export(io.StringIO("a,b\n"), ExportFormat.CSV))


def _rechain(db: Database) -> None:
    previous = GENESIS_HASH
    records = _records(db)
    for record in records:
        _sql(
            db,
            "UPDATE audit_event SET hash = :h WHERE seq = :s",
            h=f"tmp{record.seq}",
            s=record.seq,
        )
    for record in records:
        fixed = replace(record, prev_hash=previous)
        fixed = replace(fixed, hash=event_hash(fixed))
        _sql(
            db,
            "UPDATE audit_event SET prev_hash = :p, hash = :h WHERE seq = :s",
            p=fixed.prev_hash,
            h=fixed.hash,
            s=fixed.seq,
        )
        previous = fixed.hash
    _sql(db, "UPDATE audit_chain_head SET hash = :h", h=previous)


# --- audit search ---


def test_audit_search_uses_the_history_query_language(
    db: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wanted = stored_request(
        db, cert_sn=52739, justification="private key leaked", events=(AuditKind.REQUESTED,)
    )
    stored_request(db, cert_sn=1, justification="private key leaked")
    monkeypatch.setenv("DATABASE_URL", database_url)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)

    assert main(["audit", "search", "cert:52739", "private key"]) == 0

    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{wanted.id}  pending  certSn 52739")
    assert "requested" in lines[1] and wanted.id in lines[1]
    assert len(lines) == 2


def test_audit_search_refuses_a_malformed_query(
    db: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)

    assert main(["audit", "search", "status:done"]) == 2
    assert "`status:` takes" in capsys.readouterr().err


@pytest.mark.parametrize("seq", [0, -5])
def test_an_event_numbered_before_the_first_is_named(
    chain: Database, database_url: str, monkeypatch: pytest.MonkeyPatch, seq: int
) -> None:
    records = _records(chain)
    forged = replace(records[0], seq=seq, actor_id="U0MALLORY", prev_hash="f" * 64, hash="e" * 64)
    _insert(chain, forged)

    code, said = _verify(database_url, monkeypatch)

    assert code == 1
    assert f"BROKEN at event #{seq}: it is numbered before the first event" in said
