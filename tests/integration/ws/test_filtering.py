"""Permission filtering on every dispatch, recomputed when overwrites or membership change."""

from __future__ import annotations

import asyncio

from gochat.client.gateway import GatewayClient


async def _two_members(world, gateways):
    gateway = gateways()
    owner, member = await world.user(), await world.user()
    await world.create_guild(owner)
    await world.add_member(member)
    channel_id = await world.create_channel()
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(member.token)
    return owner, member, channel_id, watcher, client


async def test_denying_view_stops_delivery_at_once(world, gateways):
    owner, member, channel_id, watcher, client = await _two_members(world, gateways)
    await world.post(channel_id, owner, "before")
    assert (await client.wait_for("MESSAGE_CREATE")).d["content"] == "before"

    await world.deny_view(channel_id, member)
    await world.post(channel_id, owner, "after")  # published right behind the change
    assert (await watcher.wait_for("MESSAGE_CREATE", where={"content": "after"})).d
    seen = [e.t for e in await client.drain_dispatches(quiet=0.5)]
    assert "MESSAGE_CREATE" not in seen


async def test_kicked_member_stops_receiving_channel_events(world, gateways):
    owner, member, channel_id, watcher, client = await _two_members(world, gateways)
    await world.kick(member)
    await world.post(channel_id, owner, "secret")
    assert (await watcher.wait_for("MESSAGE_CREATE")).d["content"] == "secret"
    removed = await client.wait_for("GUILD_MEMBER_REMOVE")
    assert removed.d["user_id"] == str(member.user_id)
    rest = await client.drain_dispatches(quiet=0.5)
    assert [e for e in rest if e.t == "MESSAGE_CREATE"] == []


async def test_ready_lists_only_channels_the_user_can_view(world, gateways):
    gateway = gateways()
    owner, member = await world.user(), await world.user()
    await world.create_guild(owner)
    await world.add_member(member)
    open_channel = await world.create_channel("open")
    hidden = await world.create_channel("hidden")
    await world.deny_view(hidden, member)
    await asyncio.sleep(0.2)
    client = await GatewayClient.connect(gateway.url)
    ready = await client.identify(member.token)
    ids = [c["id"] for c in ready["channels"]]
    assert str(open_channel) in ids and str(hidden) not in ids
