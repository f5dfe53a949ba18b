"""Who is in a Slack user group right now, asked at click time and kept a minute."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

CACHE_SECONDS = 60.0


class GroupLookupError(Exception):
    """Slack did not say who is in a group; decisions that need it must wait."""

    def __init__(self, group_id: str, reason: str) -> None:
        super().__init__(f"could not list the members of user group {group_id}: {reason}")
        self.group_id = group_id
        self.reason = reason

    @property
    def advice(self) -> str:
        if self.reason == "missing_scope":
            return (
                "The app lacks the usergroups:read scope: whoever runs the bot must "
                "reinstall it from app_manifest.yml."
            )
        if self.reason == "no_such_subteam":
            return f"User group {self.group_id} does not exist: fix REVOKE_APPROVERS."
        return "Slack did not answer; try again in a minute."


class GroupDirectory:
    def __init__(self, client: AsyncWebClient, cache_seconds: float = CACHE_SECONDS) -> None:
        self._client = client
        self._cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = asyncio.Lock()

    async def members(self, groups: Iterable[str]) -> dict[str, frozenset[str]]:
        return {group: await self._members_of(group) for group in groups}

    async def _members_of(self, group: str) -> frozenset[str]:
        cached = self._cache.get(group)
        if cached and time.monotonic() - cached[0] < self._cache_seconds:
            return cached[1]
        async with self._lock:
            try:
                answer = await self._client.usergroups_users_list(usergroup=group)
            except SlackApiError as error:
                reason = error.response.get("error") or f"HTTP {error.response.status_code}"
                raise GroupLookupError(group, str(reason)) from None
            except (OSError, TimeoutError) as error:
                raise GroupLookupError(group, type(error).__name__) from None
            users = frozenset(answer.get("users") or ())
            self._cache[group] = (time.monotonic(), users)
            return users
