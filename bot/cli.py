"""The ``revoke-cert-bot`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.audit_cli import add_audit_commands
from bot.settings import DatabaseSettings, Settings, SettingsError, load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        result: int = args.run(args)
    except SettingsError as error:
        for line in error.lines:
            print(f"revoke-cert-bot: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="revoke-cert-bot",
        description="Revoke EnOS device certificates from Slack, with a second approver.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    serve = commands.add_parser("serve", help="run the bot (HTTP mode, or Socket Mode)")
    serve.add_argument("--host", default="0.0.0.0")  # noqa: S104 - a server listens
    serve.add_argument("--port", type=int, default=3000)
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="run the whole flow locally, no accounts needed")
    demo.set_defaults(run=_demo)

    sandbox = commands.add_parser("sandbox", help="run the local EnOS sandbox")
    sandbox.add_argument("--host", default="127.0.0.1")
    sandbox.add_argument("--port", type=int, default=8900)
    sandbox.add_argument("--seed", type=Path, help="JSON file of devices and certificates")
    sandbox.set_defaults(run=_sandbox)

    migrate = commands.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(run=_migrate)

    audit = commands.add_parser("audit", help="read the audit trail")
    add_audit_commands(audit.add_subparsers(required=True, metavar="ACTION"))
    return parser


def _serve(args: argparse.Namespace) -> int:
    from bot import logs
    from bot.preflight import check_before_serving

    settings = load_settings()
    logs.configure(settings.log_level, _secrets(settings))
    check_before_serving(settings)
    if settings.socket_mode:
        from bot.socket_mode import run_socket_mode

        asyncio.run(run_socket_mode(settings))
        return 0
    import uvicorn

    from bot.runtime import Runtime
    from bot.server import create_asgi_app

    app = create_asgi_app(Runtime(settings))
    uvicorn.run(app, host=args.host, port=args.port, log_config=None, access_log=False)
    return 0


def _demo(_args: argparse.Namespace) -> int:
    from bot.demo import run_demo

    return run_demo()


def _sandbox(args: argparse.Namespace) -> int:
    from bot.enos.sandbox import Sandbox, serve_sandbox

    if args.seed is not None:
        try:
            Sandbox(args.seed).close()
        except (OSError, ValueError, KeyError, TypeError) as error:
            print(
                f"revoke-cert-bot: --seed {args.seed} cannot be used ({type(error).__name__}: "
                f"{error}); see bot/enos/sandbox_seed.json for the expected shape",
                file=sys.stderr,
            )
            return 2
    serve_sandbox(args.host, args.port, args.seed)
    return 0


def _migrate(_args: argparse.Namespace) -> int:
    from storage.db import Database, describe_url

    url = DatabaseSettings().database_url
    db = Database(url)
    try:
        db.migrate()
    finally:
        db.dispose()
    print(f"database {describe_url(url)} is up to date")
    return 0


def _secrets(settings: Settings) -> list[str]:
    values = [
        settings.slack_bot_token.get_secret_value(),
        settings.slack_signing_secret.get_secret_value(),
        settings.enos_app_secret.get_secret_value(),
    ]
    if settings.slack_app_token is not None:
        values.append(settings.slack_app_token.get_secret_value())
    return values


if __name__ == "__main__":
    raise SystemExit(main())
