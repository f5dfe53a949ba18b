"""Checks ``serve`` makes before it listens, so a bad setting is one clear line at start
rather than a traceback now or a confused user later."""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy.exc import SQLAlchemyError

from bot.settings import Settings, SettingsError
from storage.db import Database, describe_url

log = logging.getLogger(__name__)

# Slack's answers to auth.test that mean the token itself is wrong.
_BAD_TOKEN = {"invalid_auth", "not_authed", "token_revoked", "account_inactive", "token_expired"}


def check_before_serving(settings: Settings) -> None:
    problems = [p for p in (_database_problem(settings), _slack_token_problem(settings)) if p]
    if problems:
        raise SettingsError(problems)


def _database_problem(settings: Settings) -> str | None:
    """Open the database and bring its schema up to date."""
    db = Database(settings.database_url)
    try:
        db.migrate()
    except (SQLAlchemyError, OSError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        return (
            f"DATABASE_URL: cannot open {describe_url(settings.database_url)} ({reason}). "
            "Check the address, that the database exists and that the user may use it."
        )
    finally:
        db.dispose()
    return None


def _slack_token_problem(settings: Settings) -> str | None:
    """Ask Slack who the token belongs to; only a refusal stops the start."""
    client = WebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        timeout=10,
    )
    try:
        client.auth_test()
    except SlackApiError as error:
        code = str(error.response.get("error"))
        if code in _BAD_TOKEN:
            return (
                f"SLACK_BOT_TOKEN is not accepted by Slack ({code}): copy the Bot User "
                "OAuth Token again from your Slack app's OAuth page, or reinstall the app."
            )
        log.warning("Slack answered auth.test with %s; starting anyway", code)
    except OSError as error:
        log.warning("could not reach Slack to check the token (%s); starting anyway", error)
    return None
