"""The sandbox on its own, spoken to with plain httpx: gateway checks, service rows, control API."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.enos.sandbox import Fault, FaultKind, Sandbox
from bot.enos.sandbox.serve import banner
from bot.enos.signing import sign_request, token_encryption
from bot.serving import ServerThread
from tests.enos_support import (  # noqa: F401 - fixtures are found by name
    sandbox_fixture,
    sandbox_server_fixture,
    sandbox_url_fixture,
)

CERTIFICATES = "/connect-service/v2.0/certificates"
TOKEN = "/apim-token-service/v2.0/token/get"


def now_ms() -> int:
    return int(time.time() * 1000)


def token_request(sandbox: Sandbox, **changes: Any) -> dict[str, Any]:
    stamp = now_ms()
    body = {
        "appKey": sandbox.app_key,
        "encryption": token_encryption(sandbox.app_key, stamp, sandbox.app_secret),
        "timestamp": stamp,
    }
    return {**body, **changes}


def get_token(http: httpx.Client, sandbox: Sandbox) -> str:
    answer = http.post(TOKEN, json=token_request(sandbox)).json()
    assert answer["status"] == 0, answer
    token: str = answer["data"]["accessToken"]
    return token


def signed_call(
    http: httpx.Client,
    sandbox: Sandbox,
    token: str,
    params: dict[str, str],
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    secret: str | None = None,
) -> httpx.Response:
    stamp = now_ms() if timestamp is None else timestamp
    signature = sign_request(token, params, body, stamp, secret or sandbox.app_secret)
    headers = {
        "apim-accesstoken": token,
        "apim-timestamp": str(stamp),
        "apim-signature": signature,
        "Content-Type": "application/json",
    }
    method = "POST" if params.get("action") == "revoke" else "GET"
    return http.request(method, CERTIFICATES, params=params, content=body, headers=headers)


@pytest.fixture
def http(sandbox_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox_url, timeout=5) as client:
        yield client


def revoke_params(sandbox: Sandbox, **device: str) -> dict[str, str]:
    return {"action": "revoke", "orgId": sandbox.org_id, **(device or {"assetId": "Xy12AbCd"})}


# --- Token service ---


def test_same_token_while_valid(http: httpx.Client, sandbox: Sandbox) -> None:
    first = get_token(http, sandbox)
    time.sleep(0.002)

    assert get_token(http, sandbox) == first


@pytest.mark.parametrize(
    ("changes", "status"),
    [
        ({"encryption": "0" * 64}, 1003),
        ({"appKey": "someone-else"}, 1002),
        ({"encryption": ""}, 1202),
        ({"timestamp": 1572574909697}, 1003),
    ],
)
def test_token_refusals(
    http: httpx.Client, sandbox: Sandbox, changes: dict[str, Any], status: int
) -> None:
    answer = http.post(TOKEN, json=token_request(sandbox, **changes)).json()

    assert answer["status"] == status
    assert answer["data"] is None


def test_stale_timestamp_with_right_encryption_is_refused(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    stamp = now_ms() - 10 * 60 * 1000
    encryption = token_encryption(sandbox.app_key, stamp, sandbox.app_secret)
    body = token_request(sandbox, timestamp=stamp, encryption=encryption)

    assert http.post(TOKEN, json=body).json()["status"] == 1004


def test_replayed_token_request_is_refused(http: httpx.Client, sandbox: Sandbox) -> None:
    body = token_request(sandbox)

    assert http.post(TOKEN, json=body).json()["status"] == 0
    assert http.post(TOKEN, json=body).json()["status"] == 1001


def test_token_calls_are_recorded_without_encryption_or_token(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    token = get_token(http, sandbox)

    (call,) = sandbox.calls("token")
    assert call.signature_ok is True
    assert "encryption" not in call.body
    assert token not in json.dumps(call.to_json())


# --- Gateway checks on API calls ---


def test_missing_headers_are_refused_with_1202(http: httpx.Client, sandbox: Sandbox) -> None:
    response = http.get(CERTIFICATES, params={"action": "list", "orgId": sandbox.org_id})

    assert response.json()["status"] == 1202
    assert sandbox.calls("list")[0].reached_service is False


def test_unknown_token_is_refused_as_expired(http: httpx.Client, sandbox: Sandbox) -> None:
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}

    response = signed_call(http, sandbox, "made-up-token", params)

    assert response.status_code == 401
    assert response.json()["status"] == 1203


def test_expired_token_is_refused_and_a_new_one_issued(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    old = get_token(http, sandbox)
    sandbox.expire_tokens()
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}

    assert signed_call(http, sandbox, old, params).json()["status"] == 1203
    new = get_token(http, sandbox)
    assert new != old
    assert signed_call(http, sandbox, new, params).json()["code"] == 0


def test_wrong_signature_is_refused_with_1004(http: httpx.Client, sandbox: Sandbox) -> None:
    token = get_token(http, sandbox)
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}

    response = signed_call(http, sandbox, token, params, secret="wrong-secret")

    assert response.json()["status"] == 1004
    assert "apim-signature" in response.json()["msg"]
    assert sandbox.calls("list")[0].signature_ok is False


@pytest.mark.parametrize("minutes", [-6, 6])
def test_timestamp_more_than_five_minutes_off_is_refused(
    http: httpx.Client, sandbox: Sandbox, minutes: int
) -> None:
    token = get_token(http, sandbox)
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}
    stamp = now_ms() + minutes * 60 * 1000

    response = signed_call(http, sandbox, token, params, timestamp=stamp)

    assert response.json()["status"] == 1004
    assert "apim-timestamp" in response.json()["msg"]


def test_timestamp_four_minutes_off_is_accepted(http: httpx.Client, sandbox: Sandbox) -> None:
    token = get_token(http, sandbox)
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}

    response = signed_call(http, sandbox, token, params, timestamp=now_ms() - 4 * 60 * 1000)

    assert response.json()["code"] == 0


# --- Revoke Certificate rows the client never sends ---


@pytest.mark.parametrize(
    ("body", "msg_start"),
    [
        (b'{"reason": 0}', "Invalid Argument certSn:certSn is missing"),
        (b"", "Invalid Argument certSn:certSn is missing"),
        (b'{"certSn": null}', "The serial number of the certificate to be updated is required."),
        (b'{"certSn": "52739"}', "When calling Certificate Services, the call parameters"),
        (b'{"certSn": 52739, "reason": 2}', "When calling Certificate Services, the call"),
        (b"not json", "When calling Certificate Services, the call parameters are invalid."),
    ],
)
def test_revoke_body_errors(
    http: httpx.Client, sandbox: Sandbox, body: bytes, msg_start: str
) -> None:
    token = get_token(http, sandbox)

    answer = signed_call(http, sandbox, token, revoke_params(sandbox), body).json()

    assert answer["code"] == 99400
    assert answer["msg"].startswith(msg_start)
    assert answer["requestId"]
    assert sandbox.certificate(52739)["certStatus"] == 0  # type: ignore[index]


def test_half_a_product_device_pair_is_no_device_identifier(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    token = get_token(http, sandbox)
    params = revoke_params(sandbox, productKey="SbxGateway")

    answer = signed_call(http, sandbox, token, params, b'{"certSn": 52739}').json()

    assert answer["msg"] == "invalid argument: The device identifier is invalid"


def test_other_organization_cannot_find_the_device(http: httpx.Client, sandbox: Sandbox) -> None:
    token = get_token(http, sandbox)
    params = {"action": "revoke", "orgId": "another-org", "assetId": "Xy12AbCd"}

    answer = signed_call(http, sandbox, token, params, b'{"certSn": 52739}').json()

    assert (answer["code"], answer["msg"]) == (11404, "Device cannot be found")


def test_reason_defaults_to_unspecified(http: httpx.Client, sandbox: Sandbox) -> None:
    token = get_token(http, sandbox)

    answer = signed_call(http, sandbox, token, revoke_params(sandbox), b'{"certSn": 52739}').json()

    assert answer["code"] == 0
    assert sandbox.certificate(52739)["revokerReason"] == "UNSPECIFIED"  # type: ignore[index]


# --- Faults as seen on the wire ---


def test_drop_closes_the_connection_without_a_byte(http: httpx.Client, sandbox: Sandbox) -> None:
    token = get_token(http, sandbox)
    sandbox.inject("drop", action="list")
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}

    with pytest.raises(httpx.RemoteProtocolError, match="without sending a response"):
        signed_call(http, sandbox, token, params)


def test_faults_apply_for_the_given_number_of_calls_and_action(
    http: httpx.Client, sandbox: Sandbox
) -> None:
    token = get_token(http, sandbox)
    sandbox.inject("http_500", action="list", times=2)
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}
    body = b'{"certSn": 52739}'

    statuses = [signed_call(http, sandbox, token, params).status_code for _ in range(3)]
    revoke = signed_call(http, sandbox, token, revoke_params(sandbox), body)

    assert statuses == [500, 500, 200]
    assert "<html>" not in revoke.text
    assert revoke.json()["code"] == 0


def test_fault_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="action"):
        Fault(FaultKind.DROP, action="delete")
    with pytest.raises(ValueError, match="token service"):
        Fault(FaultKind.TOKEN_EXPIRED, action="token")
    with pytest.raises(ValueError, match="unknown fault fields"):
        Fault.from_json({"kind": "drop", "sometimes": True})


# --- Control API, as a test in another process drives it ---


def test_control_api_faults_calls_release_and_reset(
    http: httpx.Client, sandbox: Sandbox, sandbox_url: str
) -> None:
    added = http.post("/_sandbox/faults", json={"kind": "error", "action": "list", "code": 99500})
    assert added.status_code == 201
    assert http.get("/_sandbox/faults").json()["faults"][0]["kind"] == "error"
    assert http.post("/_sandbox/faults", json={"kind": "nonsense"}).status_code == 400

    token = get_token(http, sandbox)
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}
    assert signed_call(http, sandbox, token, params).json()["code"] == 99500

    calls = http.get("/_sandbox/calls", params={"action": "list"}).json()["calls"]
    assert [(c["action"], c["fault"], c["signature_ok"]) for c in calls] == [
        ("list", "error", True)
    ]
    assert http.post("/_sandbox/release", json={}).json() == {"released": 0}

    signed_call(http, sandbox, token, revoke_params(sandbox), b'{"certSn": 52739}')
    assert http.get("/_sandbox/state").json()["devices"][0]["certificates"][0]["certStatus"] == 1
    state = http.post("/_sandbox/reset").json()
    assert state["devices"][0]["certificates"][0]["certStatus"] == 0
    assert http.get("/_sandbox/calls").json()["calls"] == []


def test_control_api_expires_tokens(http: httpx.Client, sandbox: Sandbox) -> None:
    token = get_token(http, sandbox)
    params = {"action": "list", "orgId": sandbox.org_id, "assetId": "Xy12AbCd"}

    http.post("/_sandbox/expire-tokens")

    assert signed_call(http, sandbox, token, params).json()["status"] == 1203


# --- Seeding and starting ---


def test_seed_file_replaces_the_built_in_devices(tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "devices": [
                    {
                        "assetId": "Seed0001",
                        "productKey": "P",
                        "deviceKey": "D",
                        "certificates": [
                            {
                                "certSn": 7,
                                "signDate": "2025-01-01T00:00:00Z",
                                "effectiveDate": "2025-01-01T00:00:00Z",
                                "expireDate": "2030-01-01T00:00:00Z",
                            }
                        ],
                    }
                ]
            }
        )
    )

    sandbox = Sandbox(seed)

    assert [d["assetId"] for d in sandbox.state()["devices"]] == ["Seed0001"]
    assert sandbox.certificate(7)["certStatus"] == 0  # type: ignore[index]
    assert sandbox.certificate(52739) is None


def test_built_in_devices_are_addressable_both_ways_with_the_documented_certificate() -> None:
    devices = Sandbox().state()["devices"]

    assert all(d["assetId"] and d["productKey"] and d["deviceKey"] for d in devices)
    statuses = {c["certStatus"] for d in devices for c in d["certificates"]}
    assert statuses == {0, 1, 2}
    gateway = next(d for d in devices if d["assetId"] == "Xy12AbCd")
    assert {"certSN": "52739", "certStatus": 0}.items() <= gateway["certificates"][0].items()


def test_banner_names_url_and_credentials() -> None:
    sandbox = Sandbox(app_secret="shown-on-purpose")

    text = banner(sandbox, "http://127.0.0.1:8700")

    assert "ENOS_API_URL=http://127.0.0.1:8700" in text
    assert "ENOS_APP_KEY=sandbox-app-key" in text
    assert "ENOS_APP_SECRET=shown-on-purpose" in text
    assert "ENOS_ORG_ID=sandbox-org" in text
    assert "Xy12AbCd" in text


def test_close_lets_held_calls_go_so_the_server_stops_promptly() -> None:
    sandbox = Sandbox()
    sandbox.inject("hang", action="token")
    server = ServerThread(sandbox.asgi_app).start()
    with httpx.Client(base_url=server.url, timeout=0.3) as http, pytest.raises(httpx.ReadTimeout):
        http.post(TOKEN, json=token_request(sandbox))
    started = time.monotonic()

    sandbox.close()
    server.stop()

    assert time.monotonic() - started < 2
    assert sandbox.held() == []
