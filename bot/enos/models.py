"""EnOS domain types, spelled at the boundary as EnOS spells them.

A device is named either by its ``assetId`` or by ``productKey`` + ``deviceKey``;
the two shapes are separate types so that a half-named device cannot be built.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum


class RevokeReason(IntEnum):
    """EnOS's ``RevokeReason``. There is no 2, 7 or 8."""

    UNSPECIFIED = 0
    KEY_COMPROMISE = 1
    AFFILIATION_CHANGED = 3
    SUPERSEDED = 4
    CESSATION_OF_OPERATION = 5
    CERTIFICATE_HOLD = 6
    PRIVILEGE_WITHDRAWN = 9

    @property
    def label(self) -> str:
        """Readable name with the number, e.g. ``Key compromise (1)``."""
        return f"{self.name.replace('_', ' ').capitalize()} ({self.value})"

    @classmethod
    def parse(cls, text: str) -> RevokeReason:
        """Accept ``key_compromise``, ``KEY-COMPROMISE``, ``Key compromise`` or ``1``."""
        cleaned = text.strip()
        if cleaned.isdigit():
            return cls(int(cleaned))
        return cls[cleaned.upper().replace("-", "_").replace(" ", "_")]


@dataclass(frozen=True, slots=True)
class AssetId:
    asset_id: str

    def query_params(self) -> dict[str, str]:
        return {"assetId": self.asset_id}

    def describe(self) -> str:
        return f"asset ID {self.asset_id}"


@dataclass(frozen=True, slots=True)
class ProductDevice:
    product_key: str
    device_key: str

    def query_params(self) -> dict[str, str]:
        return {"productKey": self.product_key, "deviceKey": self.device_key}

    def describe(self) -> str:
        return f"product key {self.product_key} device key {self.device_key}"


DeviceIdentifier = AssetId | ProductDevice


class CertStatus(StrEnum):
    VALID = "valid"
    REVOKED = "revoked"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class Certificate:
    cert_sn: str
    status: CertStatus
    issuer: str
    subject: str
    sign_date: datetime | None
    effective_date: datetime | None
    expire_date: datetime | None
    revoker: str | None = None
    revoker_reason: str | None = None


# --- What a call can come to. Expected answers are values, not exceptions. ---


@dataclass(frozen=True, slots=True)
class Revoked:
    """EnOS answered code 0: the certificate is revoked."""

    request_id: str


@dataclass(frozen=True, slots=True)
class Refused:
    """EnOS answered with an error code; nothing changed on its side."""

    code: int
    msg: str
    request_id: str | None
    remedy: str


@dataclass(frozen=True, slots=True)
class NotSent:
    """The request certainly never reached EnOS (connect failure, token refused)."""

    reason: str


@dataclass(frozen=True, slots=True)
class OutcomeUnknown:
    """The request may have reached EnOS; the certificate may or may not be revoked."""

    reason: str


@dataclass(frozen=True, slots=True)
class Certificates:
    """List Certificate's answer."""

    certificates: tuple[Certificate, ...]

    def find(self, cert_sn: int | str) -> Certificate | None:
        wanted = str(cert_sn)
        return next((c for c in self.certificates if c.cert_sn == wanted), None)


RevokeOutcome = Revoked | Refused | NotSent | OutcomeUnknown
ListOutcome = Certificates | Refused | NotSent | OutcomeUnknown
