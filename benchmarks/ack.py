"""How fast ``revoke-cert-bot serve`` acknowledges Slack, beside a Bolt app that only acks.

    .venv/bin/python -m benchmarks.ack                      # 2,000 commands, 20 at once
    .venv/bin/python -m benchmarks.ack --requests 400       # a quick run

The EnOS sandbox and the Slack stand-in run in this process on loopback; the bot runs
as a ``serve`` subprocess configured like ``LocalStack.env()`` (SQLite in a temporary
folder unless --postgres-url), the minimal app (benchmarks.minimal_app) as another,
both under uvicorn. Each gets the same signed slash commands, half opening the
request form (``/revoke-cert asset=… cert=…``, answered by views.open after the ack)
and half ``/revoke-cert history cert:…`` (searched and answered after the ack).
Time to acknowledge is from sending the request to having the HTTP response.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import create_engine, text

from bot.enos.sandbox import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, DEFAULT_ORG_ID, Sandbox
from bot.serving import ServerThread, free_port
from bot.slack.standin import SlackStandIn
from storage.db import normalize_url

CHANNEL = "C0ONCALL"
SLACK_LIMIT_MS = 3000.0
GOAL_RATIO = 1.5


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--postgres-url", help="run the bot on PostgreSQL instead of SQLite")
    parser.add_argument(
        "--commands",
        choices=["mixed", "form", "history"],
        default="mixed",
        help="half and half (default), or only one kind",
    )
    args = parser.parse_args(argv)

    token = "xoxb-bench-" + secrets.token_hex(8)
    secret = secrets.token_hex(16)
    sandbox = Sandbox()
    # Every command is signed before the first is sent: its trigger must outlive the wait.
    standin = SlackStandIn(token, channels={CHANNEL: True}, trigger_ttl=3600)
    sandbox_server = ServerThread(sandbox.asgi_app).start()
    standin_server = standin.serve()
    try:
        with _database(args.postgres_url) as database_url:
            env = {
                **os.environ,
                "SLACK_BOT_TOKEN": token,
                "SLACK_SIGNING_SECRET": secret,
                "SLACK_API_URL": standin.api_url,
                "ENOS_API_URL": sandbox_server.url,
                "ENOS_APP_KEY": DEFAULT_APP_KEY,
                "ENOS_APP_SECRET": DEFAULT_APP_SECRET,
                "ENOS_ORG_ID": DEFAULT_ORG_ID,
                "DATABASE_URL": database_url,
                "REVOKE_APPROVAL_CHANNEL": CHANNEL,
            }
            bot_command = [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1"]
            minimal_command = [sys.executable, "-m", "benchmarks.minimal_app"]
            where = database_url.split(":")[0]
            print(f"{args.requests} signed slash commands ({args.commands}), {args.concurrency} "
                  f"at once (after {args.warmup} to warm up); bot on {where}")  # fmt: skip
            results = {}
            for name, command in (("minimal Bolt app", minimal_command), ("bot", bot_command)):
                with _served(command, env) as (url, pid):
                    cpu_before = _cpu_seconds(pid)
                    times, errors = _drive(url, secret, standin, args)
                    cpu = (_cpu_seconds(pid) - cpu_before) / (args.warmup + args.requests)
                    results[name] = (times, errors, cpu * 1000)
    finally:
        standin_server.stop()
        sandbox.close()
        sandbox_server.stop()
    return _report(results)


@contextmanager
def _database(postgres_url: str | None) -> Iterator[str]:
    if postgres_url is None:
        with tempfile.TemporaryDirectory(prefix="bench-ack-") as folder:
            yield f"sqlite:///{Path(folder) / 'bot.sqlite3'}"
        return
    schema = "bench_" + secrets.token_hex(4)
    admin = create_engine(normalize_url(postgres_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}options={quote(f'-csearch_path={schema},public')}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time a process has used so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _served(command: list[str], env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen([*command, "--port", str(port)], env=env, stderr=log)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, process)
            yield url, process.pid
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(trust_env=False) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"{url} exited with {process.returncode}")
            try:
                if client.get(f"{url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not become healthy")


def _command(
    number: int, kinds: str, standin: SlackStandIn, verifier: SignatureVerifier
) -> tuple[bytes, dict[str, str]]:
    user = f"U0USER{number % 50:04d}"
    form = kinds == "form" or (kinds == "mixed" and number % 2 == 1)
    typed = (
        "asset=Xy12AbCd cert=52739 reason=key_compromise"
        if form
        else f"history cert:{52739 + number % 3}"
    )
    body = urlencode(
        {
            "token": "bench",
            "team_id": "T0TEAM",
            "team_domain": "standin",
            "channel_id": CHANNEL,
            "channel_name": "oncall",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/revoke-cert",
            "text": typed,
            "api_app_id": "A0APP",
            "is_enterprise_install": "false",
            "response_url": standin.new_response_url(user, CHANNEL),
            "trigger_id": standin.new_trigger(user),
        }
    ).encode()
    stamp = str(int(time.time()))
    signature = verifier.generate_signature(timestamp=stamp, body=body)
    assert signature is not None
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }
    return body, headers


Signed = tuple[bytes, dict[str, str]]


def _drive(
    url: str, secret: str, standin: SlackStandIn, args: argparse.Namespace
) -> tuple[list[float], int]:
    """Sign every command here, send them from a process of their own.

    The stand-in answers the bot's views.open and response-URL posts in this process; a
    client timing requests from the same process would be slowed by that work too.
    """
    verifier = SignatureVerifier(secret)
    total = args.warmup + args.requests
    signed = [_command(number, args.commands, standin, verifier) for number in range(total)]
    spawn = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        future = pool.submit(_send_all, url, signed, args.warmup, args.concurrency)
        return future.result()


def _send_all(
    url: str, signed: list[Signed], warmup: int, concurrency: int
) -> tuple[list[float], int]:
    return asyncio.run(_send(url, signed, warmup, concurrency))


async def _send(
    url: str, signed: list[Signed], warmup: int, concurrency: int
) -> tuple[list[float], int]:
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(trust_env=False, timeout=30, limits=limits) as client:

        async def one(body: bytes, headers: dict[str, str]) -> tuple[float, bool]:
            started = time.perf_counter()
            response = await client.post(f"{url}/slack/events", content=body, headers=headers)
            return (time.perf_counter() - started) * 1000, response.status_code == 200

        async def run(batch: list[Signed]) -> list[tuple[float, bool]]:
            queue = iter(batch)
            results: list[tuple[float, bool]] = []

            async def worker() -> None:
                for body, headers in queue:
                    results.append(await one(body, headers))

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return results

        await run(signed[:warmup])
        measured = await run(signed[warmup:])
    return [t for t, _ in measured], sum(1 for _, ok in measured if not ok)


def _percentile(values: list[float], percent: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


def _report(results: dict[str, tuple[list[float], int, float]]) -> int:
    print(f"{'':<18}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}{'CPU ms/command':>16}")
    for name, (times, errors, cpu_ms) in results.items():
        print(f"{name:<18}{_percentile(times, 50):>9.1f}{_percentile(times, 99):>9.1f}"
              f"{max(times):>9.1f}{errors:>8}{cpu_ms:>16.2f}")  # fmt: skip
    bot, floor = results["bot"][0], results["minimal Bolt app"][0]
    p50_ratio = _percentile(bot, 50) / _percentile(floor, 50)
    p99_ratio = _percentile(bot, 99) / _percentile(floor, 99)
    print(f"bot / minimal app: p50 {p50_ratio:.2f}x, p99 {p99_ratio:.2f}x (goal: within "
          f"{GOAL_RATIO}x; p99 well under Slack's {SLACK_LIMIT_MS:.0f} ms)")  # fmt: skip
    errors = sum(result[1] for result in results.values())
    ok = errors == 0 and _percentile(bot, 99) < SLACK_LIMIT_MS
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
