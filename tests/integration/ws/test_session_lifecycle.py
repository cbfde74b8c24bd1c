"""A session's life across cuts, resumes and closes: it can be resumed as often as the client
needs, a normal close by the client ends it (and its user goes offline), and a heartbeat is held
to the session's sequence from READY on."""

from __future__ import annotations

import pytest

from gochat.client.gateway import GatewayClient, InvalidSession
from gochat.ws.protocol import CloseCode, Op


async def _guild_with_channel(world):
    owner = await world.user()
    await world.create_guild(owner)
    return owner, await world.create_channel()


async def test_a_resumed_session_can_be_resumed_again_at_once(world, gateways):
    gateway = gateways()
    owner, channel_id = await _guild_with_channel(world)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    session_id = client.session_id
    await client.abort()

    again = await GatewayClient.connect(gateway.url)
    await again.resume(owner.token, session_id, client.seq)
    await world.post(channel_id, owner, "after the first resume")
    await again.wait_for("MESSAGE_CREATE")
    await again.abort()  # cut again, well within a minute of the first cut
    await world.post(channel_id, owner, "missed")

    third = await GatewayClient.connect(gateway.url)
    replayed = await third.resume(owner.token, session_id, again.seq)
    assert [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"] == ["missed"]
    assert [e.s for e in replayed] == list(range(again.seq + 1, again.seq + 1 + len(replayed)))


async def test_a_user_goes_offline_after_a_resumed_session_ends(world, gateways):
    gateway = gateways(presence_grace_seconds=0.5)
    owner, _ = await _guild_with_channel(world)
    member = await world.user()
    await world.add_member(member)
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    who = {"user_id": str(member.user_id)}

    client = await GatewayClient.connect(gateway.url)
    await client.identify(member.token)
    assert (await watcher.wait_for("PRESENCE_UPDATE", where=who)).d["status"] == "online"
    await client.abort()
    again = await GatewayClient.connect(gateway.url)
    await again.resume(member.token, client.session_id, client.seq)
    await again.abort()
    offline = await watcher.wait_for("PRESENCE_UPDATE", where=who)
    assert offline.d["status"] == "offline"

    # And the next connect/close cycle is announced too.
    later = await GatewayClient.connect(gateway.url)
    await later.identify(member.token)
    assert (await watcher.wait_for("PRESENCE_UPDATE", where=who)).d["status"] == "online"
    await later.close()
    assert (await watcher.wait_for("PRESENCE_UPDATE", where=who)).d["status"] == "offline"


@pytest.mark.parametrize("code", [1000, 1001])
async def test_a_normal_close_by_the_client_ends_the_session(world, gateways, code):
    gateway = gateways()
    owner, channel_id = await _guild_with_channel(world)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    await world.post(channel_id, owner, "one")
    await client.wait_for("MESSAGE_CREATE")
    await client.close(code)

    again = await GatewayClient.connect(gateway.url)
    with pytest.raises(InvalidSession) as refused:
        await again.resume(owner.token, client.session_id, client.seq)
    assert refused.value.resumable is False
    await again.identify(owner.token)  # the same connection goes on with a new session


async def test_a_close_with_another_code_leaves_the_session_resumable(world, gateways):
    gateway = gateways()
    owner, channel_id = await _guild_with_channel(world)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    await client.close(4000)
    await world.post(channel_id, owner, "missed")
    again = await GatewayClient.connect(gateway.url)
    replayed = await again.resume(owner.token, client.session_id, client.seq)
    assert [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"] == ["missed"]


async def test_a_heartbeat_before_the_session_is_live_is_checked_against_its_sequence(
    world, gateways, tmp_path
):
    hold = tmp_path / "hold"
    hold.mkdir()
    gateway = gateways(hold_dir=hold)
    owner, _ = await _guild_with_channel(world)
    (hold / "live").touch()  # READY goes out; the session is held before it goes live
    try:
        client = await GatewayClient.connect(gateway.url, auto_heartbeat=False)
        ready = await client.identify(owner.token)
        await client.send(Op.HEARTBEAT, 1)  # READY's own sequence: fine
        await client.send(Op.HEARTBEAT, 99)
        code, reason = await client.wait_closed(timeout=5)
    finally:
        (hold / "live").unlink()
    assert ready["session_id"]
    assert code == CloseCode.INVALID_SEQ and "99" in reason
    assert client.heartbeat_acks == 1
