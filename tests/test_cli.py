"""The command line: audit list, and errors as one line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.cli import main
from storage.audit import append_event
from storage.db import Database
from storage.models import AuditKind, RevocationRequest, utcnow


def _request_with_events(db: Database, kinds: list[AuditKind]) -> None:
    now = utcnow()
    request = RevocationRequest(
        id="RQ-CLI00001",
        requester_id="U0ALICE",
        origin_channel_id="C0ONCALL",
        approval_channel_id="C0ONCALL",
        asset_id="Xy12AbCd",
        cert_sn=52739,
        reason=1,
        created_at=now,
        expires_at=now + timedelta(minutes=30),
    )
    with db.write() as session:
        session.add(request)
        session.flush()
        for kind in kinds:
            append_event(session, request, kind, "U0BOB")


def test_audit_list_prints_the_newest_events_first(
    db: Database, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _request_with_events(db, [AuditKind.REQUESTED, AuditKind.APPROVED, AuditKind.REVOKED])
    monkeypatch.setenv("DATABASE_URL", db.url)

    code = main(["audit", "list", "--limit", "2"])

    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert len(lines) == 2
    assert "#3" in lines[0] and "revoked" in lines[0]
    assert "#2" in lines[1] and "approved" in lines[1] and "certSn 52739" in lines[1]


@pytest.mark.parametrize("limit", ["0", "-1", "99999999999999999999", "ten"])
def test_audit_list_refuses_a_limit_that_is_not_a_small_count(
    limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["audit", "list", "--limit", limit])

    assert stopped.value.code == 2
    assert "1 to 10000" in capsys.readouterr().err


def test_audit_list_on_an_unreachable_database_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres:hunter2@127.0.0.1:1/x")

    code = main(["audit", "list"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and "cannot read the audit trail" in err
    assert "hunter2" not in err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["audit", "export", "--format", "jsonl", "--until", "9999-12-31"], "too far"),
        (["audit", "export", "--format", "csv", "--output", "/nonexistent/dir/x"], "cannot write"),
    ],
)
def test_audit_export_mistakes_are_one_line(
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    says: str,
) -> None:
    monkeypatch.setenv("DATABASE_URL", db.url)

    code = main(args)

    err = capsys.readouterr().err
    assert code == 2 and says in err and err.count("\n") == 1


def test_verify_of_a_file_that_is_no_export_exits_2_not_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text("[" * 100_000 + "\n")

    code = main(["audit", "verify", "--file", str(deep)])

    assert code == 2  # 1 would mean "the chain is broken"
    assert "is not an export" in capsys.readouterr().err
