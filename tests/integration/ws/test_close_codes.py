"""Bad input closes the connection with the documented close code, naming the problem."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from gochat.auth import keys
from gochat.client.gateway import GatewayClient
from gochat.ws.protocol import CloseCode


@pytest.fixture
def gateway(gateways):
    return gateways(identify_timeout_seconds=1, max_frame_bytes=1024)


async def _closed_with(client: GatewayClient) -> tuple[int | None, str]:
    return await client.wait_closed(timeout=10)


@pytest.mark.parametrize(
    ("frame", "code", "reason_part"),
    [
        ("not json", CloseCode.DECODE_ERROR, "not valid JSON"),
        (json.dumps([1, 2]), CloseCode.DECODE_ERROR, "JSON object"),
        (json.dumps({"op": 2, "d": {}}), CloseCode.DECODE_ERROR, "d.token"),
        (json.dumps({"op": 2, "d": {"token": "x", "bogus": 1}}), CloseCode.DECODE_ERROR, "bogus"),
        (json.dumps({"op": 6, "d": {"token": "x", "session_id": "s", "seq": -1}}),
         CloseCode.DECODE_ERROR, "d.seq"),
        (json.dumps({"op": 99, "d": None}), CloseCode.UNKNOWN_OPCODE, "99"),
        (json.dumps({"op": 3, "d": {"status": "idle"}}), CloseCode.NOT_AUTHENTICATED, "op 3"),
        (json.dumps({"op": 2, "d": {"token": "garbage"}}), CloseCode.AUTHENTICATION_FAILED,
         "malformed"),
    ],
)  # fmt: skip
async def test_bad_frames_get_documented_close_codes(world, gateway, frame, code, reason_part):
    client = await GatewayClient.connect(gateway.url)
    await client.ws.send(frame)
    got_code, reason = await _closed_with(client)
    assert got_code == code
    assert reason_part in reason


async def test_expired_token_fails_authentication(world, gateway, keys_dir):
    user = await world.user()
    expired = keys.KeyRing.load_or_create(keys_dir).sign_access_token(
        user_id=user.user_id, session_id=1, issuer="gochat",
        issued_at=datetime(2020, 1, 1, tzinfo=UTC), ttl_seconds=60,
    )  # fmt: skip
    client = await GatewayClient.connect(gateway.url)
    await client.send(2, {"token": expired})
    assert await _closed_with(client) == (CloseCode.AUTHENTICATION_FAILED, "token expired")


async def test_oversized_frame_is_refused(world, gateway):
    client = await GatewayClient.connect(gateway.url)
    await client.ws.send(json.dumps({"op": 1, "d": None, "pad": "x" * 2000}))
    code, reason = await _closed_with(client)
    assert code == CloseCode.FRAME_TOO_LARGE and "1024" in reason


async def test_second_identify_is_refused(world, gateway):
    user = await world.user()
    client = await GatewayClient.connect(gateway.url)
    await client.identify(user.token)
    await client.send(2, {"token": user.token})
    assert (await _closed_with(client))[0] == CloseCode.ALREADY_AUTHENTICATED


async def test_no_identify_in_time_closes(world, gateway):
    client = await GatewayClient.connect(gateway.url, auto_heartbeat=False)
    assert (await _closed_with(client))[0] == CloseCode.NOT_AUTHENTICATED


async def test_token_in_query_identifies(world, gateway):
    user = await world.user()
    client = await GatewayClient.connect(f"{gateway.url}?token={user.token}")
    ready = await client.wait_for("READY")
    assert ready.d["user"]["id"] == str(user.user_id)


async def test_heartbeats_are_acknowledged_and_missing_ones_close(world, gateways):
    gateway = gateways(heartbeat_interval_ms=1000)
    user = await world.user()
    client = await GatewayClient.connect(gateway.url, auto_heartbeat=False)
    await client.identify(user.token)
    await client.heartbeat()
    code, _ = await _closed_with(client)
    assert client.heartbeat_acks == 1
    assert code == CloseCode.SESSION_TIMED_OUT


async def test_flooding_frames_is_rate_limited(world, gateway):
    user = await world.user()
    client = await GatewayClient.connect(gateway.url, auto_heartbeat=False)
    await client.identify(user.token)
    for _ in range(130):
        try:
            await client.heartbeat()
        except Exception:
            break
    code, reason = await _closed_with(client)
    assert code == CloseCode.RATE_LIMITED and "120 frames" in reason
    assert client.heartbeat_acks >= 100


async def test_a_frame_over_the_transport_limit_is_refused_as_too_large(world, gateways):
    gateway = gateways()  # the native server; default max_frame_bytes: 16 KiB
    client = await GatewayClient.connect(gateway.url)
    await client.ws.send(json.dumps({"op": 1, "d": None, "pad": "x" * (1024 * 1024 + 1)}))
    code, reason = await _closed_with(client)
    assert code == CloseCode.FRAME_TOO_LARGE
    assert str(16 * 1024) in reason


async def test_picows_refuses_a_frame_over_its_limit_itself_as_documented(world, gateways):
    """picows closes with 1009 from the frame's header, before the gateway sees it (it has no
    hook to choose the code); docs/gateway.md says so. Under its limit, 4011 as everywhere."""
    gateway = gateways("--server", "picows", max_frame_bytes=1024)
    huge = await GatewayClient.connect(gateway.url)
    await huge.ws.send(json.dumps({"op": 1, "d": None, "pad": "x" * (1024 * 1024 + 1)}))
    assert (await _closed_with(huge))[0] == 1009
    large = await GatewayClient.connect(gateway.url)
    await large.ws.send(json.dumps({"op": 1, "d": None, "pad": "x" * 2000}))
    assert (await _closed_with(large))[0] == CloseCode.FRAME_TOO_LARGE
