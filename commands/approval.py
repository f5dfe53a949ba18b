"""The two-person rule: who may ask, approve, deny or cancel a revocation.

Pure functions over a request, the actor and the resolved group membership; the
caller resolves Slack user groups at click time and passes their members in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from storage.models import RequestStatus, RevocationRequest


class Decision(StrEnum):
    APPROVE = "approve"
    DENY = "deny"
    CANCEL = "cancel"


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why the actor may not do this; shown to them alone."""

    message: str


@dataclass(frozen=True, slots=True)
class MemberList:
    """Slack users and user groups named in a setting; empty means everyone."""

    users: frozenset[str]
    groups: frozenset[str]

    @classmethod
    def of(cls, ids: tuple[str, ...]) -> MemberList:
        return cls(
            users=frozenset(i for i in ids if not i.startswith("S")),
            groups=frozenset(i for i in ids if i.startswith("S")),
        )

    @property
    def is_open(self) -> bool:
        return not self.users and not self.groups

    def includes(self, user_id: str, group_members: Mapping[str, frozenset[str]]) -> bool:
        if self.is_open or user_id in self.users:
            return True
        return any(user_id in group_members.get(group, frozenset()) for group in self.groups)

    def describe(self) -> str:
        names = [f"<@{u}>" for u in sorted(self.users)]
        names += [f"<!subteam^{g}>" for g in sorted(self.groups)]
        return ", ".join(names)


def status_refusal(request: RevocationRequest, now: datetime) -> Refusal | None:
    """Why a request can no longer be decided on, or None while it is pending.

    A request past its expiry counts as expired even before the sweep has marked it.
    """
    status = request.current_status
    if status is RequestStatus.PENDING and request.expires_at <= now:
        status = RequestStatus.EXPIRED
    who = f"<@{request.approver_id or request.decided_by}>"
    messages = {
        RequestStatus.EXECUTING: f"Request {request.id} was already approved by {who}; "
        "the revocation is under way. Watch the thread for the outcome.",
        RequestStatus.REVOKED: f"Request {request.id} was already approved by {who} "
        "and the certificate is revoked.",
        RequestStatus.REFUSED: f"Request {request.id} was already approved by {who}; "
        "EnOS refused it. See the thread for what to do.",
        RequestStatus.UNKNOWN: f"Request {request.id} was already approved by {who}; "
        "its outcome is unknown. See the thread before doing anything else.",
        RequestStatus.FAILED: f"Request {request.id} was already approved by {who}; "
        "EnOS could not be reached. Use Request again in the thread.",
        RequestStatus.DENIED: f"Request {request.id} was denied by {who}; nothing was revoked.",
        RequestStatus.CANCELLED: f"Request {request.id} was cancelled by its requester.",
        RequestStatus.EXPIRED: f"Request {request.id} expired without approval. "
        "Ask again with /revoke-cert if the certificate must still be revoked.",
        RequestStatus.UNDELIVERABLE: f"Request {request.id} could not be posted for approval.",
    }
    message = messages.get(status)
    return Refusal(message) if message else None


def decision_refusal(
    decision: Decision,
    request: RevocationRequest,
    actor_id: str,
    approvers: MemberList,
    group_members: Mapping[str, frozenset[str]],
) -> Refusal | None:
    """Whether ``actor_id`` may take ``decision`` on a pending request."""
    if decision is Decision.CANCEL:
        if actor_id != request.requester_id:
            return Refusal(
                f"Only the requester, <@{request.requester_id}>, can cancel request "
                f"{request.id}. To stop it, click Deny."
            )
        return None
    if actor_id == request.requester_id:
        verb = "approve" if decision is Decision.APPROVE else "deny"
        return Refusal(
            f"You asked for request {request.id}, so you cannot {verb} it: a second person "
            "must decide. To withdraw it, click Cancel."
        )
    if not approvers.includes(actor_id, group_members):
        return Refusal(
            f"You are not an approver for certificate revocations. Approvers are: "
            f"{approvers.describe()}. Ask one of them to look at request {request.id}."
        )
    return None


def channel_refusal(channel_id: str, allowed_channels: frozenset[str]) -> Refusal | None:
    """Whether revocations may be requested from ``channel_id`` (all channels when unset)."""
    if allowed_channels and channel_id not in allowed_channels:
        places = ", ".join(f"<#{c}>" for c in sorted(allowed_channels))
        return Refusal(f"Certificate revocations are requested in {places}. Ask there.")
    return None


def request_refusal(
    user_id: str,
    channel_id: str,
    requesters: MemberList,
    allowed_channels: frozenset[str],
    group_members: Mapping[str, frozenset[str]],
) -> Refusal | None:
    """Whether ``user_id`` may ask for a revocation from ``channel_id``."""
    refusal = channel_refusal(channel_id, allowed_channels)
    if refusal is not None:
        return refusal
    if not requesters.includes(user_id, group_members):
        return Refusal(
            "You are not allowed to request certificate revocations. Ask one of "
            f"{requesters.describe()} to request it, or to add you."
        )
    return None
