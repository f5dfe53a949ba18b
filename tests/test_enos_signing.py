"""The gateway's digests, checked against EnOS's published example."""

from __future__ import annotations

import hashlib

from bot.enos.signing import params_data, sign_request, token_encryption

# GATEWAY.md section 2: two-space indent, \n line ends, no final newline, UTF-8.
EXAMPLE_BODY = '{\n  "count": 20,\n  "page": 1,\n  "desc": "描述"\n}'.encode()
EXAMPLE_SIGNATURE = "59828328f6c1f9771015dc74e4929ae30f518a35a3d2353972c2ea46556fc981"


def test_documented_signature_example_bit_for_bit() -> None:
    signature = sign_request(
        "xxxxaaaxxxx",
        {"k3": "v3", "k1": "v1", "k2": "v2"},
        EXAMPLE_BODY,
        1572574909697,
        "xxxappSecretxxx",
    )

    assert signature == EXAMPLE_SIGNATURE


def test_parameters_are_sorted_by_name_and_joined_without_separators() -> None:
    assert params_data({"k3": "v3", "k1": "v1", "k2": "v2"}) == "k1v1k2v2k3v3"
    # ASCII order puts capitals first: orgId sorts after assetId, productKey after deviceKey.
    assert params_data({"orgId": "o", "action": "revoke", "assetId": "A"}) == (
        "actionrevokeassetIdAorgIdo"
    )


def test_signature_covers_the_exact_body_bytes() -> None:
    compact = b'{"certSn":52739,"reason":0}'
    spaced = b'{"certSn": 52739, "reason": 0}'
    params = {"action": "revoke"}

    first = sign_request("token", params, compact, 1, "secret")

    assert first != sign_request("token", params, spaced, 1, "secret")
    assert first == hashlib.sha256(b"tokenactionrevoke" + compact + b"1secret").hexdigest()


def test_token_encryption_is_sha256_of_key_timestamp_secret() -> None:
    expected = hashlib.sha256(b"my-app-key1572574909697my-secret").hexdigest()

    assert token_encryption("my-app-key", 1572574909697, "my-secret") == expected
    assert expected == expected.lower()
