"""The sandbox's connect service: devices, their certificates, Revoke and List Certificate.

Answers follow the Revoke Certificate page: ``code`` 0 with ``data``, or one of the
documented error messages. Where the page leaves the wording open ("message: ...,
detail message: ...") the sandbox fills it in with what actually went wrong.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from bot.enos.models import CertStatus, RevokeReason

_STATUS_CODE = {CertStatus.VALID: 0, CertStatus.REVOKED: 1, CertStatus.EXPIRED: 2}

MSG_DEVICE_IDENTIFIER = "invalid argument: The device identifier is invalid"
MSG_CERT_SN_MISSING = "Invalid Argument certSn:certSn is missing"
MSG_CERT_SN_REQUIRED = "The serial number of the certificate to be updated is required."
MSG_CERT_SN_NEGATIVE = "The serial number of the new certificate is invalid (less than 0)."
MSG_NOT_BOUND = (
    "The certificate list bound to the device does not have the certificate,"
    " or the certificate is bound to other devices."
)
MSG_DEVICE_NOT_FOUND = "Device cannot be found"


@dataclass(frozen=True, slots=True)
class Answer:
    """What the sandbox answers a call with: an HTTP status and a JSON body."""

    http_status: int
    body: dict[str, Any]


def ok(data: Any) -> Answer:
    return Answer(200, {"code": 0, "msg": "OK", "requestId": str(uuid.uuid4()), "data": data})


def error(code: int, msg: str) -> Answer:
    return Answer(200, {"code": code, "msg": msg, "requestId": str(uuid.uuid4()), "data": None})


def _invalid_parameters(message: str, detail: str) -> Answer:
    return error(
        99400,
        "When calling Certificate Services, the call parameters are invalid."
        f"message: {message}, detail message: {detail}",
    )


@dataclass(slots=True)
class SandboxCertificate:
    cert_sn: int
    status: CertStatus
    issuer: str
    subject: str
    sign_date: datetime
    effective_date: datetime
    expire_date: datetime
    revoker: str | None = None
    revoker_reason: str | None = None

    def to_enos(self) -> dict[str, Any]:
        """The certificate as List Certificate spells it (certSN is a string there)."""
        entry: dict[str, Any] = {
            "certSN": str(self.cert_sn),
            "cert": _placeholder_pem(self),
            "certStatus": _STATUS_CODE[self.status],
            "issuer": self.issuer,
            "subject": self.subject,
            "signDate": _ms(self.sign_date),
            "effectiveDate": _ms(self.effective_date),
            "expireDate": _ms(self.expire_date),
        }
        if self.status is CertStatus.REVOKED:
            entry["revoker"] = self.revoker
            entry["revokerReason"] = self.revoker_reason
        return entry


@dataclass(slots=True)
class SandboxDevice:
    name: str
    asset_id: str
    product_key: str
    device_key: str
    certificates: list[SandboxCertificate] = field(default_factory=list)

    def certificate(self, cert_sn: int) -> SandboxCertificate | None:
        return next((c for c in self.certificates if c.cert_sn == cert_sn), None)


def default_seed() -> Path:
    """The built-in devices, shipped as a seed file that doubles as an example."""
    return Path(str(resources.files("bot.enos").joinpath("sandbox_seed.json")))


def load_seed(path: Path | None) -> list[SandboxDevice]:
    """Devices from a seed file (the built-in one when ``path`` is None)."""
    raw = json.loads((path or default_seed()).read_text(encoding="utf-8"))
    devices = [_device(entry) for entry in raw["devices"]]
    numbers = [cert.cert_sn for device in devices for cert in device.certificates]
    if len(numbers) != len(set(numbers)):
        raise ValueError(f"{path}: a certSn appears on more than one certificate")
    return devices


def _device(entry: dict[str, Any]) -> SandboxDevice:
    return SandboxDevice(
        name=entry.get("name", entry["assetId"]),
        asset_id=entry["assetId"],
        product_key=entry["productKey"],
        device_key=entry["deviceKey"],
        certificates=[_certificate(cert) for cert in entry.get("certificates", [])],
    )


def _certificate(entry: dict[str, Any]) -> SandboxCertificate:
    return SandboxCertificate(
        cert_sn=int(entry["certSn"]),
        status=CertStatus(entry.get("status", "valid")),
        issuer=entry.get("issuer", "CN=EnOS Sandbox Device CA"),
        subject=entry.get("subject", f"CN=device-{entry['certSn']}"),
        sign_date=datetime.fromisoformat(entry["signDate"]),
        effective_date=datetime.fromisoformat(entry["effectiveDate"]),
        expire_date=datetime.fromisoformat(entry["expireDate"]),
        revoker=entry.get("revoker"),
        revoker_reason=entry.get("revokerReason"),
    )


class DeviceStore:
    """Devices and certificates of one organization; safe to use from several threads."""

    def __init__(
        self,
        org_id: str,
        devices: list[SandboxDevice],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._org_id = org_id
        self._devices = devices
        self._clock = clock
        self._lock = threading.Lock()

    def replace(self, devices: list[SandboxDevice]) -> None:
        with self._lock:
            self._devices = devices

    def revoke(self, params: Mapping[str, str], body: bytes, revoker: str) -> Answer:
        """Revoke Certificate, checked in the order the error table suggests."""
        wanted = _wanted_certificate(body)
        if isinstance(wanted, Answer):
            return wanted
        cert_sn, reason = wanted
        with self._lock:
            device = self._device(params)
            if isinstance(device, Answer):
                return device
            cert = device.certificate(cert_sn)
            if cert is None:
                return error(99400, MSG_NOT_BOUND)
            refusal = self._unrevocable(cert)
            if refusal is not None:
                return refusal
            cert.status = CertStatus.REVOKED
            cert.revoker = revoker
            cert.revoker_reason = reason.name
        return ok(None)

    def list_certificates(self, params: Mapping[str, str]) -> Answer:
        with self._lock:
            device = self._device(params)
            if isinstance(device, Answer):
                return device
            return ok([cert.to_enos() for cert in device.certificates])

    def snapshot(self) -> list[dict[str, Any]]:
        """Every device and certificate, for the control API and tests."""
        with self._lock:
            return [
                {
                    "name": device.name,
                    "assetId": device.asset_id,
                    "productKey": device.product_key,
                    "deviceKey": device.device_key,
                    "certificates": [cert.to_enos() for cert in device.certificates],
                }
                for device in self._devices
            ]

    def _device(self, params: Mapping[str, str]) -> SandboxDevice | Answer:
        asset_id = params.get("assetId", "")
        product_key = params.get("productKey", "")
        device_key = params.get("deviceKey", "")
        if not asset_id and not (product_key and device_key):
            return error(99400, MSG_DEVICE_IDENTIFIER)
        if params.get("orgId") != self._org_id:
            return error(11404, MSG_DEVICE_NOT_FOUND)
        for device in self._devices:
            by_asset = asset_id and device.asset_id == asset_id
            by_keys = not asset_id and (device.product_key, device.device_key) == (
                product_key,
                device_key,
            )
            if by_asset or by_keys:
                return device
        return error(11404, MSG_DEVICE_NOT_FOUND)

    def _unrevocable(self, cert: SandboxCertificate) -> Answer | None:
        if cert.status is CertStatus.REVOKED:
            return error(
                99400,
                "Invalid cert request!message: certificate is already revoked,"
                f" detail message: certificate {cert.cert_sn} was revoked by {cert.revoker}"
                f" ({cert.revoker_reason})",
            )
        expired_at = cert.expire_date.astimezone(UTC)
        if cert.status is CertStatus.EXPIRED or expired_at.timestamp() <= self._clock():
            return error(
                99400,
                "Call ca error!: Certificate service err info:, code: 400, message: certificate"
                f" has expired, detail message: certificate {cert.cert_sn} expired on"
                f" {expired_at:%Y-%m-%d}",
            )
        return None


def _wanted_certificate(body: bytes) -> tuple[int, RevokeReason] | Answer:
    """certSn and reason from a Revoke Certificate body, or the answer refusing them."""
    try:
        document = json.loads(body) if body else {}
    except ValueError:
        return _invalid_parameters("request body is not JSON", "send a JSON object")
    if not isinstance(document, dict):
        return _invalid_parameters("request body is not a JSON object", "send a JSON object")
    if "certSn" not in document:
        return error(99400, MSG_CERT_SN_MISSING)
    cert_sn = document["certSn"]
    if cert_sn is None:
        return error(99400, MSG_CERT_SN_REQUIRED)
    if not isinstance(cert_sn, int) or isinstance(cert_sn, bool):
        return _invalid_parameters("certSn must be an integer", f"got {cert_sn!r}")
    if cert_sn < 0:
        return error(99400, MSG_CERT_SN_NEGATIVE)
    reason = document.get("reason", 0)
    valid = [member.value for member in RevokeReason]
    if not isinstance(reason, int) or isinstance(reason, bool) or reason not in valid:
        return _invalid_parameters(
            "reason is not a RevokeReason", f"got {reason!r}, expected one of {valid}"
        )
    return cert_sn, RevokeReason(reason)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _placeholder_pem(cert: SandboxCertificate) -> str:
    # Not a real certificate: the bot only shows that EnOS holds one.
    text = f"sandbox certificate {cert.cert_sn} for {cert.subject}".encode()
    return (
        f"-----BEGIN CERTIFICATE-----\n{base64.b64encode(text).decode()}\n-----END CERTIFICATE-----"
    )
