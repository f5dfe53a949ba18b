"""``audit verify`` and ``audit export`` over a million events: time and peak memory.

    .venv/bin/python -m benchmarks.verify                    # 1,000,000 events
    .venv/bin/python -m benchmarks.verify --events 100000    # a quick run

Each command runs as its own process (``python -m bot.cli``), as an auditor runs it;
its peak resident memory comes from the kernel (``wait4``). The same commands on an
empty trail give the memory a process needs before reading any event, so the
difference is what the events cost: it stays flat however many there are.
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import create_engine, text

from benchmarks.data import load
from storage.db import Database, normalize_url

POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    parser.add_argument("--postgres-url", default=POSTGRES_URL)
    args = parser.parse_args(argv)

    failed = False
    for name in ("sqlite", "postgres"):
        if args.only and args.only != name:
            continue
        opener = _sqlite if name == "sqlite" else _postgres(args.postgres_url)
        with opener() as (empty_url, url):
            failed |= not _run(name, empty_url, url, args.events)
    return 1 if failed else 0


def _run(name: str, empty_url: str, url: str, events: int) -> bool:
    for target in (empty_url, url):
        db = Database(target)
        db.migrate()
        if target == url:
            _, took = load(db, request_count=events // 5, events_per_request=5, with_requests=False)
            print(f"\n== {name}: {events:,} events loaded in {took:.0f} s ==")
        db.dispose()

    print(f"{'command':<34}{'seconds':>9}{'peak MB':>9}{'empty MB':>10}  output")
    ok = True
    for command in (["audit", "verify"], ["audit", "export", "--format", "jsonl"]):
        empty = _measure(command, empty_url)
        full = _measure(command, url)
        ok &= full.returncode == 0
        label = " ".join(command)
        print(f"{label:<34}{full.seconds:>9.1f}{full.peak_mb:>9.0f}{empty.peak_mb:>10.0f}  "
              f"{full.summary}")  # fmt: skip
    return ok


class _Measured:
    def __init__(self, returncode: int, seconds: float, peak_mb: float, summary: str) -> None:
        self.returncode = returncode
        self.seconds = seconds
        self.peak_mb = peak_mb
        self.summary = summary


def _measure(command: list[str], database_url: str) -> _Measured:
    env = {**os.environ, "DATABASE_URL": database_url}
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        # An export is written and thrown away: the point is reading and formatting it.
        sink: Any = subprocess.DEVNULL if command[1] == "export" else out
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", *command], env=env, stdout=sink, stderr=err
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        said = out.read().decode().splitlines() + err.read().decode().splitlines()
        summary = said[0] if said else ""
    return _Measured(process.returncode, seconds, usage.ru_maxrss / 1024, summary)


@contextmanager
def _sqlite() -> Iterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory(prefix="bench-verify-") as folder:
        yield (
            f"sqlite:///{Path(folder) / 'empty.sqlite3'}",
            f"sqlite:///{Path(folder) / 'a.sqlite3'}",
        )


def _postgres(url: str) -> Callable[[], Any]:
    @contextmanager
    def opened() -> Iterator[tuple[str, str]]:
        schemas = ["bench_" + secrets.token_hex(4) for _ in range(2)]
        admin = create_engine(normalize_url(url), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for schema in schemas:
                connection.execute(text(f"CREATE SCHEMA {schema}"))
        separator = "&" if "?" in url else "?"
        urls = [
            f"{url}{separator}options={quote(f'-csearch_path={schema},public')}"
            for schema in schemas
        ]
        try:
            yield urls[0], urls[1]
        finally:
            with admin.connect() as connection:
                for schema in schemas:
                    connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
            admin.dispose()

    return opened


if __name__ == "__main__":
    sys.exit(main())
