"""Who hears of a user's presence: the members of the guilds the user is in now (as messages
follow membership), once per guild, each PRESENCE_UPDATE naming its guild."""

from __future__ import annotations

from gochat.client.gateway import GatewayClient


async def _presences_of(client: GatewayClient, user_id: int, *, quiet: float = 1.5) -> list:
    seen = await client.drain_dispatches(quiet=quiet)
    return [e for e in seen if e.t == "PRESENCE_UPDATE" and e.d["user_id"] == str(user_id)]


async def test_presence_reaches_a_guild_joined_after_identify(world, gateways):
    gateway = gateways()
    member = await world.user()
    member_client = await GatewayClient.connect(gateway.url)
    await member_client.identify(member.token)  # in no guild yet

    owner = await world.user()
    guild_id = await world.create_guild(owner)
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    await world.join(member)
    await member_client.wait_for("GUILD_MEMBER_ADD")

    await member_client.set_presence("idle")
    update = await watcher.wait_for("PRESENCE_UPDATE", where={"user_id": str(member.user_id)})
    assert update.d["status"] == "idle" and update.d["guild_id"] == str(guild_id)


async def test_a_kicked_members_presence_no_longer_reaches_the_guild(world, gateways):
    gateway = gateways()
    owner, member = await world.user(), await world.user()
    await world.create_guild(owner)
    await world.add_member(member)
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    member_client = await GatewayClient.connect(gateway.url)
    await member_client.identify(member.token)
    who = {"user_id": str(member.user_id)}
    assert (await watcher.wait_for("PRESENCE_UPDATE", where=who)).d["status"] == "online"

    await world.kick(member)
    await member_client.wait_for("GUILD_MEMBER_REMOVE")
    await watcher.wait_for("GUILD_MEMBER_REMOVE")
    await member_client.set_presence("dnd")
    await member_client.close()
    assert await _presences_of(watcher, member.user_id) == []


async def test_a_co_member_of_two_guilds_gets_one_update_per_guild_each_naming_it(world, gateways):
    gateway = gateways()
    owner, member = await world.user(), await world.user()
    first = await world.create_guild(owner)
    await world.add_member(member)
    second = await world.create_guild(owner)
    await world.add_member(member)
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    member_client = await GatewayClient.connect(gateway.url)
    await member_client.identify(member.token)
    await _presences_of(watcher, member.user_id)  # the online ones

    await member_client.set_presence("idle")
    updates = await _presences_of(watcher, member.user_id)
    assert sorted(e.d["guild_id"] for e in updates) == sorted([str(first), str(second)])
    assert {e.d["status"] for e in updates} == {"idle"}
