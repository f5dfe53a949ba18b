"""Names the bot gives to Slack actions, modals and blocks, and matches on when they return."""

from __future__ import annotations

from enum import StrEnum

from commands.request import RequestField


class ActionId(StrEnum):
    """Buttons. Their ``value`` is the request id and nothing else."""

    APPROVE = "revoke_approve"
    DENY = "revoke_deny"
    CANCEL = "revoke_cancel"
    # After an unknown outcome: a new request for the same certificate, needing a new approval.
    REQUEST_AGAIN = "revoke_request_again"
    HISTORY_MORE = "revoke_history_more"


class CallbackId(StrEnum):
    """Modals."""

    REQUEST_MODAL = "revoke_request_modal"
    DENY_MODAL = "revoke_deny_modal"


RequestInput = RequestField
"""Block ids of the request modal's inputs: the request's field names, so that the rules
in :mod:`commands.request` can key their errors by them. Each input's action id is the
same string."""


class DenyInput(StrEnum):
    """Block ids of the deny modal's inputs; each input's action id is the same string."""

    NOTE = "deny_note"


class MessageBlock(StrEnum):
    """Block ids in the approval message that handlers may look for."""

    ACTIONS = "revoke_actions"
