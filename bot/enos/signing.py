"""The two digests EnOS's API gateway asks for (see shared/enos/GATEWAY.md).

Both are lowercase hex SHA-256 over a plain concatenation; there is no HMAC and no
separator, so the order of the parts is the whole contract.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping


def token_encryption(app_key: str, timestamp_ms: int, app_secret: str) -> str:
    """The ``encryption`` field of a token request: SHA-256 of appKey + timestamp + appSecret."""
    data = f"{app_key}{timestamp_ms}{app_secret}".encode()
    return hashlib.sha256(data).hexdigest()


def params_data(params: Mapping[str, str]) -> str:
    """Query parameters sorted by name (ASCII order), each as name immediately followed by value."""
    return "".join(f"{name}{params[name]}" for name in sorted(params))


def sign_request(
    access_token: str,
    params: Mapping[str, str],
    body: bytes,
    timestamp_ms: int,
    app_secret: str,
) -> str:
    """The ``apim-signature`` header of an API call.

    ``body`` must be the bytes that go on the wire: the gateway hashes what it
    receives, so re-serialising the JSON here would sign a different document.
    """
    digest = hashlib.sha256()
    digest.update(access_token.encode())
    digest.update(params_data(params).encode())
    digest.update(body)
    digest.update(f"{timestamp_ms}{app_secret}".encode())
    return digest.hexdigest()
