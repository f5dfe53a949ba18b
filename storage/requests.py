"""Queries on revocation requests.

Every status change is a conditional UPDATE (``... WHERE status = 'pending'``):
of two processes trying the same change, the database lets exactly one win, so
the caller learns from the row count whether the change was its to make.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, select

from storage.models import RequestStatus, RevocationRequest

# Crockford's alphabet: no I, L, O or U to misread when a person types an id.
_ID_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_request_id() -> str:
    return "RQ-" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))


def get(session: Session, request_id: str) -> RevocationRequest | None:
    return session.get(RevocationRequest, request_id, populate_existing=True)


def transition(
    session: Session,
    request_id: str,
    *,
    from_statuses: Iterable[RequestStatus],
    values: dict[str, Any],
    where: Sequence[ColumnElement[bool]] = (),
) -> RevocationRequest | None:
    """Apply ``values`` if the request is still in one of ``from_statuses``.

    Returns the updated request, or None when another actor changed it first.
    """
    statuses = [status.value for status in from_statuses]
    result = session.execute(
        update(RevocationRequest)
        .where(
            col(RevocationRequest.id) == request_id,
            col(RevocationRequest.status).in_(statuses),
            *where,
        )
        .values(**values)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return None
    return get(session, request_id)


def pending_past_expiry(session: Session, now: datetime) -> Sequence[str]:
    return session.exec(
        select(RevocationRequest.id).where(
            col(RevocationRequest.status) == RequestStatus.PENDING.value,
            col(RevocationRequest.expires_at) <= now,
        )
    ).all()


def executing_with_lapsed_lease(session: Session, now: datetime) -> Sequence[RevocationRequest]:
    return session.exec(
        select(RevocationRequest).where(
            col(RevocationRequest.status) == RequestStatus.EXECUTING.value,
            col(RevocationRequest.lease_until) < now,
        )
    ).all()


def needing_lookup(session: Session, created_before: datetime) -> Sequence[str]:
    """Pending requests made before ``created_before`` whose certificate facts are missing.

    Younger ones are being looked up by the process that took them.
    """
    return session.exec(
        select(RevocationRequest.id).where(
            col(RevocationRequest.status) == RequestStatus.PENDING.value,
            col(RevocationRequest.cert_lookup).is_(None),
            col(RevocationRequest.created_at) < created_before,
        )
    ).all()


def retry_of(session: Session, request_id: str) -> RevocationRequest | None:
    """The request that asked again for ``request_id``, if any."""
    return session.exec(
        select(RevocationRequest).where(col(RevocationRequest.retry_of) == request_id)
    ).one_or_none()
