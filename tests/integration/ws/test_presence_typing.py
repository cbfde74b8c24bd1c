"""Presence shared across gateways and typing indicators through core NATS."""

from __future__ import annotations

import asyncio

from gochat.client.gateway import GatewayClient


async def _guild_of_two(world):
    owner, member = await world.user(), await world.user()
    await world.create_guild(owner)
    await world.add_member(member)
    channel_id = await world.create_channel()
    return owner, member, channel_id


async def test_presence_is_broadcast_across_gateways_and_goes_offline_after_grace(world, gateways):
    first, second = gateways(presence_grace_seconds=1), gateways(presence_grace_seconds=1)
    owner, member, _ = await _guild_of_two(world)
    watcher = await GatewayClient.connect(first.url)
    await watcher.identify(owner.token)

    client = await GatewayClient.connect(second.url)
    await client.identify(member.token, status="dnd")
    who = {"user_id": str(member.user_id)}
    assert (await watcher.wait_for("PRESENCE_UPDATE", where=who)).d["status"] == "dnd"

    await client.set_presence("idle")
    assert (await watcher.wait_for("PRESENCE_UPDATE", where=who)).d["status"] == "idle"

    await client.close()
    started = asyncio.get_running_loop().time()
    offline = await watcher.wait_for("PRESENCE_UPDATE", where=who)
    waited = asyncio.get_running_loop().time() - started
    assert offline.d["status"] == "offline" and offline.d["last_seen"] is not None
    assert waited >= 0.8  # not before the grace period


async def test_reconnecting_within_grace_does_not_go_offline(world, gateways):
    gateway = gateways(presence_grace_seconds=2)
    owner, member, _ = await _guild_of_two(world)
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(member.token)
    who = {"user_id": str(member.user_id)}
    await watcher.wait_for("PRESENCE_UPDATE", where=who)
    session_id, seq = client.session_id, client.seq
    await client.abort()
    again = await GatewayClient.connect(gateway.url)
    await again.resume(member.token, session_id, seq)
    later = await watcher.drain_dispatches(quiet=3)
    statuses = [e.d["status"] for e in later if e.t == "PRESENCE_UPDATE" and e.d == e.d | who]
    assert "offline" not in statuses


async def test_typing_reaches_other_viewers_and_is_rate_limited(world, gateways):
    first, second = gateways(), gateways()
    owner, member, channel_id = await _guild_of_two(world)
    watcher = await GatewayClient.connect(first.url)
    await watcher.identify(owner.token)
    typist = await GatewayClient.connect(second.url)
    await typist.identify(member.token)

    await typist.typing(channel_id)
    typing = await watcher.wait_for("TYPING_START")
    assert typing.d["user_id"] == str(member.user_id)
    assert typing.d["channel_id"] == str(channel_id)

    for _ in range(5):  # within the limit's interval: none of these go out
        await typist.typing(channel_id)
    seen = await watcher.drain_dispatches(quiet=1)
    assert [e for e in seen if e.t == "TYPING_START"] == []
    mine = await typist.drain_dispatches(quiet=0.2)
    assert [e for e in mine if e.t == "TYPING_START"] == []  # not echoed to the typist


async def test_typing_in_a_channel_the_user_cannot_view_goes_nowhere(world, gateways):
    gateway = gateways()
    owner, member, channel_id = await _guild_of_two(world)
    await world.deny_view(channel_id, member)
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    typist = await GatewayClient.connect(gateway.url)
    await typist.identify(member.token)
    await typist.typing(channel_id)
    seen = await watcher.drain_dispatches(quiet=1)
    assert [e for e in seen if e.t == "TYPING_START"] == []


async def test_guild_members_can_be_requested(world, gateways):
    gateway = gateways()
    owner, member, _ = await _guild_of_two(world)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    await client.request_guild_members(world.guild_id)
    chunk = await client.wait_for("GUILD_MEMBERS_CHUNK")
    assert {m["user"]["id"] for m in chunk.d["members"]} == {
        str(owner.user_id),
        str(member.user_id),
    }
    statuses = {p["user_id"]: p["status"] for p in chunk.d["presences"]}
    assert statuses == {str(owner.user_id): "online", str(member.user_id): "offline"}
