"""Helpers for the history, audit-chain and Home tab tests: stored requests and events
written the way the workflow writes them, without going through Slack."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from storage.audit import append_event
from storage.db import Database
from storage.models import AuditKind, RequestStatus, RevocationRequest, utcnow

_numbers = itertools.count(1)


def stored_request(
    db: Database,
    *,
    created_at: datetime | None = None,
    events: tuple[AuditKind, ...] = (AuditKind.REQUESTED,),
    **fields: Any,
) -> RevocationRequest:
    """Store a request (asset Xy12AbCd, certSn 52739 unless told) and its audit events."""
    now = created_at or utcnow()
    values: dict[str, Any] = {
        "id": f"RQ-T{next(_numbers):07d}",
        "status": RequestStatus.PENDING.value,
        "requester_id": "U0ALICE",
        "origin_channel_id": "C0ONCALL",
        "approval_channel_id": "C0ONCALL",
        "asset_id": "Xy12AbCd",
        "cert_sn": 52739,
        "reason": 1,
        "justification": "INC-1: private key leaked",
        "created_at": now,
        "expires_at": now + timedelta(minutes=30),
    }
    if "product_key" in fields and "asset_id" not in fields:
        values["asset_id"] = None
    values.update(fields)
    request = RevocationRequest(**values)
    with db.write() as session:
        session.add(request)
        session.flush()
        for kind in events:
            actor = request.approver_id if kind is AuditKind.APPROVED else request.requester_id
            append_event(session, request, kind, actor or "system")
    return request


def many_requests(db: Database, count: int, start: datetime, step: timedelta) -> list[str]:
    """``count`` requests created ``step`` apart from ``start``; their ids, oldest first."""
    return [
        stored_request(db, created_at=start + step * index, cert_sn=1000 + index).id
        for index in range(count)
    ]
