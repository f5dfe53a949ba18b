"""Configuration: each bad setting stops the start with one line that names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import SettingsError, load_settings

GOOD = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-abc",
    "SLACK_SIGNING_SECRET": "8f3c",
    "ENOS_API_URL": "http://127.0.0.1:9",
    "ENOS_APP_KEY": "key",
    "ENOS_APP_SECRET": "secret",
    "ENOS_ORG_ID": "org",
}


def _load(**changes: str) -> None:
    values = {**GOOD, **changes}
    load_settings(**{key.lower(): value for key, value in values.items()})


def test_good_settings_load_with_their_defaults() -> None:
    settings = load_settings(**{key.lower(): value for key, value in GOOD.items()})

    assert settings.revoke_request_ttl.total_seconds() == 30 * 60
    assert settings.slack_api_url == "https://slack.com/api/"
    assert not settings.socket_mode


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("SLACK_BOT_TOKEN", "xoxp-user", "xoxb-"),
        ("SLACK_SIGNING_SECRET", "", "is empty"),
        ("SLACK_APP_TOKEN", "xoxb-wrong", "xapp-"),
        ("ENOS_API_URL", "apim.example.com", "http(s) URL"),
        ("ENOS_APP_KEY", "", "is empty"),
        ("ENOS_TOTAL_TIMEOUT", "inf", "less than or equal to 300"),
        ("DATABASE_URL", "bogus", "sqlite:///"),
        ("DATABASE_URL", "mysql://u@h/db", "not supported"),
        ("REVOKE_APPROVERS", "U123,alice", "alice is not a Slack user"),
        ("REVOKE_ALLOWED_CHANNELS", "#oncall", "#oncall is not a Slack channel"),
        ("REVOKE_APPROVAL_CHANNEL", "C0AAA,C0BBB", "one channel"),
        ("REVOKE_REQUEST_TTL", "soon", "30m"),
        ("REVOKE_REQUEST_TTL", "99999999999999999999d", "365 days"),
        ("REVOKE_EXECUTION_LEASE", "10s", "longer than ENOS_TOTAL_TIMEOUT"),
        ("LOG_LEVEL", "LOUD", "DEBUG, INFO"),
    ],
)
def test_a_bad_setting_is_named_with_what_to_do(name: str, value: str, words: str) -> None:
    with pytest.raises(SettingsError) as raised:
        _load(**{name: value})

    (line,) = raised.value.lines
    assert words in line
    assert name in line or name == "REVOKE_EXECUTION_LEASE"


def test_missing_settings_each_get_one_line() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(slack_bot_token="xoxb-1", slack_signing_secret="s")

    assert len(raised.value.lines) == 4
    assert all("is not set: set it to" in line for line in raised.value.lines)


def test_durations_accept_the_documented_forms() -> None:
    for text, seconds in [("90", 90), ("90s", 90), ("30m", 1800), ("2h", 7200), ("1d", 86400)]:
        values = {key.lower(): value for key, value in GOOD.items()}
        settings = load_settings(**values, revoke_request_ttl=text)
        assert settings.revoke_request_ttl.total_seconds() == seconds


@pytest.mark.parametrize(
    ("changes", "words"),
    [
        ({"ENOS_ORG_ID": ""}, "ENOS_ORG_ID is empty"),
        ({"DATABASE_URL": "sqlite:////nonexistent/dir/x.sqlite3"}, "DATABASE_URL: cannot open"),
        ({"DATABASE_URL": "postgresql://postgres:pw@127.0.0.1:1/x"}, "DATABASE_URL: cannot open"),
    ],
)
def test_serve_stops_with_one_line_and_no_traceback(
    tmp_path: Path, changes: dict[str, str], words: str
) -> None:
    env = {
        "PATH": os.environ["PATH"],
        **GOOD,
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3",
        **changes,
    }

    done = subprocess.run(
        [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", "9"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert words in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "pw@" not in done.stderr


def test_serve_refuses_a_bot_token_slack_does_not_accept(tmp_path: Path) -> None:
    from bot.slack.standin import SlackStandIn

    standin = SlackStandIn("xoxb-the-real-one")
    server = standin.serve()
    try:
        env = {
            "PATH": os.environ["PATH"],
            **GOOD,
            "SLACK_API_URL": standin.api_url,
            "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3",
        }
        done = subprocess.run(
            [sys.executable, "-m", "bot.cli", "serve", "--host", "127.0.0.1", "--port", "9"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        server.stop()

    assert done.returncode == 2
    assert "SLACK_BOT_TOKEN is not accepted by Slack (invalid_auth)" in done.stderr
    assert GOOD["SLACK_BOT_TOKEN"] not in done.stderr
