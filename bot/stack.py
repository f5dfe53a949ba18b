"""The bot with everything it talks to, on loopback: the demo's and the tests' world.

It starts the EnOS sandbox, the Slack stand-in and the real bot in HTTP mode,
each on a free 127.0.0.1 port, and a driver that plays Slack toward the bot.
``env()`` gives the environment for running more ``revoke-cert-bot serve``
processes against the same sandbox, stand-in and database.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from bot.enos.sandbox import DEFAULT_APP_KEY, DEFAULT_APP_SECRET, DEFAULT_ORG_ID, Sandbox
from bot.runtime import Runtime
from bot.server import create_asgi_app
from bot.serving import ServerThread
from bot.settings import Settings, load_settings
from bot.slack.driver import SlackDriver
from bot.slack.standin import SlackStandIn

ONCALL_CHANNEL = "C0ONCALL"


class LocalStack:
    def __init__(self, database_url: str, **overrides: Any) -> None:
        self.bot_token = "xoxb-local-" + secrets.token_hex(8)
        self.signing_secret = secrets.token_hex(16)
        self.sandbox = Sandbox()
        self.standin = SlackStandIn(self.bot_token, channels={})
        self.standin.set_channel(ONCALL_CHANNEL, member=True, name="oncall")
        self._sandbox_server = ServerThread(self.sandbox.asgi_app)
        self.database_url = database_url
        self.overrides = overrides
        self._bot_server: ServerThread | None = None
        self._standin_server: ServerThread | None = None
        self.runtime: Runtime | None = None

    def start(self, *, with_bot: bool = True) -> LocalStack:
        """Start the sandbox and the stand-in, and unless told otherwise an in-process bot."""
        self._sandbox_server.start()
        self._standin_server = self.standin.serve()
        if with_bot:
            self.start_bot()
        return self

    def env(self) -> dict[str, str]:
        """The bot's configuration as environment variables."""
        values: dict[str, Any] = {
            "SLACK_BOT_TOKEN": self.bot_token,
            "SLACK_SIGNING_SECRET": self.signing_secret,
            "SLACK_API_URL": self.standin.api_url,
            "ENOS_API_URL": self._sandbox_server.url,
            "ENOS_APP_KEY": DEFAULT_APP_KEY,
            "ENOS_APP_SECRET": DEFAULT_APP_SECRET,
            "ENOS_ORG_ID": DEFAULT_ORG_ID,
            "DATABASE_URL": self.database_url,
            "REVOKE_APPROVAL_CHANNEL": ONCALL_CHANNEL,
            "REVOKE_SWEEP_INTERVAL": "1s",
        }
        values.update({key.upper(): value for key, value in self.overrides.items()})
        return {key: _env_value(value) for key, value in values.items() if value is not None}

    def settings(self) -> Settings:
        return load_settings(**{key.lower(): value for key, value in self.env().items()})

    def start_bot(self) -> None:
        self.runtime = Runtime(self.settings())
        self._bot_server = ServerThread(create_asgi_app(self.runtime)).start()

    def stop_bot(self) -> None:
        if self._bot_server is not None:
            self._bot_server.stop()
            self._bot_server = None

    @property
    def bot_url(self) -> str:
        assert self._bot_server is not None, "the bot is not running"
        return self._bot_server.url

    @property
    def enos_url(self) -> str:
        return self._sandbox_server.url

    def driver(self, bot_url: str | None = None) -> SlackDriver:
        return SlackDriver(bot_url or self.bot_url, self.signing_secret, self.standin)

    def stop(self) -> None:
        self.stop_bot()
        self.sandbox.close()
        self._sandbox_server.stop()
        if self._standin_server is not None:
            self._standin_server.stop()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def _env_value(value: Any) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(item) for item in value)
    if isinstance(value, Mapping):
        raise TypeError("settings are flat values")
    return str(value)
