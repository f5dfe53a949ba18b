"""What EnOS's List Certificate said about the certificate an approver is asked to revoke.

Stored on the request as JSON when the lookup finishes, and drawn in the approval
message so that the approver sees the certificate, not only its number.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from bot.enos.models import (
    Certificate,
    Certificates,
    CertStatus,
    ListOutcome,
    NotSent,
    OutcomeUnknown,
    Refused,
)


class LookupState(StrEnum):
    FOUND = "found"
    # The device has no certificate with this certSn (or EnOS does not know the device).
    NOT_BOUND = "not_bound"
    # EnOS could not be asked; the request stands, the approver is told.
    UNREACHABLE = "unreachable"


@dataclass(frozen=True, slots=True)
class CertLookup:
    state: LookupState
    certificate: Certificate | None = None
    detail: str | None = None

    @classmethod
    def from_outcome(cls, outcome: ListOutcome, cert_sn: int) -> CertLookup:
        match outcome:
            case Certificates():
                found = outcome.find(cert_sn)
                if found is None:
                    return cls(LookupState.NOT_BOUND)
                return cls(LookupState.FOUND, found)
            case Refused(code=11404):
                return cls(LookupState.NOT_BOUND, detail=f"EnOS: {outcome.msg}")
            case Refused():
                return cls(
                    LookupState.UNREACHABLE, detail=f"EnOS error {outcome.code}: {outcome.msg}"
                )
            case NotSent():
                return cls(
                    LookupState.UNREACHABLE, detail=f"EnOS was not reached: {outcome.reason}"
                )
            case OutcomeUnknown():
                # The client's words are about revoking; a lookup changes nothing either way.
                return cls(LookupState.UNREACHABLE, detail="EnOS gave no usable answer in time.")

    def warnings(self, now: datetime) -> list[str]:
        """What should make an approver stop and look, in plain words."""
        if self.state is LookupState.NOT_BOUND:
            return ["This certSn is not among the device's certificates: EnOS will refuse it."]
        if self.state is LookupState.UNREACHABLE:
            return ["EnOS could not be asked about this certificate; check it before approving."]
        cert = self.certificate
        assert cert is not None
        if cert.status is CertStatus.REVOKED:
            return ["This certificate is already revoked."]
        expired = cert.expire_date is not None and cert.expire_date <= now
        if cert.status is CertStatus.EXPIRED or expired:
            return ["This certificate has expired: EnOS revokes only certificates still valid."]
        return []

    def to_json(self) -> str:
        cert = self.certificate
        return json.dumps(
            {
                "state": self.state.value,
                "detail": self.detail,
                "certificate": None
                if cert is None
                else {
                    "cert_sn": cert.cert_sn,
                    "status": cert.status.value,
                    "issuer": cert.issuer,
                    "subject": cert.subject,
                    "sign_date": _iso(cert.sign_date),
                    "effective_date": _iso(cert.effective_date),
                    "expire_date": _iso(cert.expire_date),
                    "revoker": cert.revoker,
                    "revoker_reason": cert.revoker_reason,
                },
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> CertLookup:
        data = json.loads(text)
        raw = data.get("certificate")
        cert = None
        if raw is not None:
            cert = Certificate(
                cert_sn=raw["cert_sn"],
                status=CertStatus(raw["status"]),
                issuer=raw["issuer"],
                subject=raw["subject"],
                sign_date=_parse(raw["sign_date"]),
                effective_date=_parse(raw["effective_date"]),
                expire_date=_parse(raw["expire_date"]),
                revoker=raw.get("revoker"),
                revoker_reason=raw.get("revoker_reason"),
            )
        return cls(LookupState(data["state"]), cert, data.get("detail"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _parse(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None
