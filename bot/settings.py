"""Configuration from environment variables (and a ``.env`` file).

Every setting is documented in README.md. A missing or malformed one stops the
process at start with one line per problem, naming the variable and what to do.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.db import normalize_url

SLACK_API_URL_DEFAULT = "https://slack.com/api/"

_SLACK_USER_OR_GROUP = re.compile(r"^[UWS][A-Z0-9]{2,}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_SLACK_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|sec|m|min|h|hr|d)?\s*$", re.IGNORECASE)
MAX_TIMEOUT_SECONDS = 300.0
# Long enough for any sensible setting, short enough to stay a datetime.
MAX_DURATION = timedelta(days=365)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400}

IdList = Annotated[tuple[str, ...], NoDecode]


def _split_ids(value: Any, pattern: re.Pattern[str], what: str) -> tuple[str, ...]:
    if value is None or isinstance(value, tuple | list):
        items = list(value or ())
    else:
        items = [part.strip() for part in str(value).split(",")]
    ids = tuple(item for item in items if item)
    bad = [item for item in ids if not pattern.match(item)]
    if bad:
        raise ValueError(f"{', '.join(bad)} is not {what}")
    return ids


def parse_duration(value: Any) -> timedelta:
    """``90`` (seconds), ``90s``, ``30m``, ``2h`` or ``1d``."""
    if isinstance(value, timedelta):
        return value
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError("use a number of seconds or a duration such as 30m, 2h")
    seconds = int(match.group(1)) * _UNIT_SECONDS[(match.group(2) or "s").lower()]
    if seconds <= 0:
        raise ValueError("must be longer than zero")
    if seconds > MAX_DURATION.total_seconds():
        raise ValueError("must be at most 365 days")
    return timedelta(seconds=seconds)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr = Field(min_length=1)
    slack_app_token: SecretStr | None = None
    slack_api_url: str = SLACK_API_URL_DEFAULT

    enos_api_url: str
    enos_app_key: str = Field(min_length=1)
    enos_app_secret: SecretStr = Field(min_length=1)
    enos_org_id: str = Field(min_length=1)
    enos_connect_timeout: float = Field(default=5.0, gt=0, le=MAX_TIMEOUT_SECONDS)
    enos_total_timeout: float = Field(default=20.0, gt=0, le=MAX_TIMEOUT_SECONDS)

    database_url: str = "sqlite:///revoke-cert-bot.sqlite3"

    revoke_approvers: IdList = ()
    revoke_requesters: IdList = ()
    revoke_allowed_channels: IdList = ()
    revoke_approval_channel: str | None = None
    revoke_request_ttl: timedelta = timedelta(minutes=30)
    # How long an executing request may go without a heartbeat before another
    # process takes it over; longer than the EnOS total timeout.
    revoke_execution_lease: timedelta = timedelta(seconds=60)
    revoke_sweep_interval: timedelta = timedelta(seconds=10)
    # How long one process may take to send one Slack message before another sends it.
    revoke_delivery_lease: timedelta = timedelta(seconds=90)

    log_level: str = "INFO"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp- (or unset)")
        return value

    @field_validator("slack_api_url", "enos_api_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise ValueError("must be an http(s) URL such as https://host/")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _slack_url_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("enos_api_url")
    @classmethod
    def _enos_url_no_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("revoke_approvers", "revoke_requesters", mode="before")
    @classmethod
    def _users_and_groups(cls, value: Any) -> tuple[str, ...]:
        return _split_ids(value, _SLACK_USER_OR_GROUP, "a Slack user (U…, W…) or group (S…) ID")

    @field_validator("revoke_allowed_channels", mode="before")
    @classmethod
    def _channels(cls, value: Any) -> tuple[str, ...]:
        return _split_ids(value, _SLACK_CHANNEL, "a Slack channel ID (C…, G…)")

    @field_validator("revoke_approval_channel", mode="before")
    @classmethod
    def _approval_channel(cls, value: Any) -> str | None:
        if value is None or not str(value).strip():
            return None
        ids = _split_ids(value, _SLACK_CHANNEL, "a Slack channel ID (C…, G…)")
        if len(ids) != 1:
            raise ValueError("must be one channel ID")
        return ids[0]

    @field_validator(
        "revoke_request_ttl",
        "revoke_execution_lease",
        "revoke_sweep_interval",
        "revoke_delivery_lease",
        mode="before",
    )
    @classmethod
    def _duration(cls, value: Any) -> timedelta:
        return parse_duration(value)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        try:
            backend = make_url(normalize_url(value)).get_backend_name()
        except ArgumentError:
            raise ValueError(
                "use sqlite:///path/to/file.sqlite3 or postgresql://user@host:5432/dbname"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"{backend} is not supported; use SQLite or PostgreSQL")
        return value

    @model_validator(mode="after")
    def _lease_outlasts_a_call(self) -> Settings:
        if self.revoke_execution_lease.total_seconds() <= self.enos_total_timeout:
            raise ValueError(
                "REVOKE_EXECUTION_LEASE must be longer than ENOS_TOTAL_TIMEOUT, or another "
                "process could finish a request whose EnOS call is still running"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return level

    @property
    def approver_users(self) -> frozenset[str]:
        return frozenset(i for i in self.revoke_approvers if _SLACK_USER.match(i))

    @property
    def approver_groups(self) -> frozenset[str]:
        return frozenset(i for i in self.revoke_approvers if i.startswith("S"))

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


class DatabaseSettings(BaseSettings):
    """Just the database, for commands that read the audit trail without Slack or EnOS."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Settings.model_fields["database_url"].default


class SettingsError(Exception):
    """The configuration cannot be used; ``lines`` say what to fix, one per setting."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


_HINTS = {
    "slack_bot_token": "the Bot User OAuth Token (xoxb-…) from your Slack app's OAuth page",
    "slack_signing_secret": "the Signing Secret from your Slack app's Basic Information page",
    "enos_api_url": "your EnOS API gateway URL, e.g. https://apim-gateway.example.com",
    "enos_app_key": "the AccessKey of the EnOS application",
    "enos_app_secret": "the SecretKey of the EnOS application",
    "enos_org_id": "the EnOS organization ID (OU ID)",
}


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning pydantic's report into one line per setting."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        lines = []
        for problem in error.errors(include_input=False, include_url=False):
            name = str(problem["loc"][0]) if problem["loc"] else ""
            variable = name.upper()
            message = str(problem["msg"]).removeprefix("Value error, ")
            hint = _HINTS.get(name, "see README.md")
            if not variable:
                lines.append(f"{message}.")
            elif problem["type"] == "missing":
                lines.append(f"{variable} is not set: set it to {hint}.")
            elif problem["type"] in ("too_short", "string_too_short"):
                lines.append(f"{variable} is empty: set it to {hint}.")
            else:
                lines.append(f"{variable} is malformed: {message}.")
        raise SettingsError(lines) from None
