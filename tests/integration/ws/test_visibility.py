"""Role and membership changes that change which channels a member can view: the member's
sessions see the channels go (CHANNEL_DELETE) or come (CHANNEL_CREATE, the full channel) right
after the change, with the next sequence numbers; nobody else gets them."""

from __future__ import annotations

from gochat.client.gateway import Dispatch, GatewayClient
from gochat.core import permissions

_EVERYONE_BITS = int(permissions.DEFAULT_EVERYONE)
_NO_VIEW = _EVERYONE_BITS & ~int(permissions.Permission.VIEW_CHANNEL)


async def _next(client: GatewayClient) -> Dispatch:
    """The next dispatch but presence (members coming online arrive at their own pace)."""
    while True:
        event = await client.next_dispatch()
        if event.t != "PRESENCE_UPDATE":
            return event


async def _rest(client: GatewayClient) -> list[str]:
    return [e.t for e in await client.drain_dispatches(quiet=0.5) if e.t != "PRESENCE_UPDATE"]


async def _setup(world, gateways, *, member_has_role: bool):
    gateway = gateways()
    guild = await world.staff_guild(member_has_role=member_has_role)
    owner, member, role_id = guild.owner, guild.member, guild.role_id
    general, staff_room = guild.general, guild.staff_room
    watcher = await GatewayClient.connect(gateway.url)
    await watcher.identify(owner.token)
    client = await GatewayClient.connect(gateway.url)
    ready = await client.identify(member.token)
    visible = {c["id"] for c in ready["channels"]}
    assert (str(staff_room) in visible) is member_has_role
    return owner, member, role_id, general, staff_room, watcher, client


async def test_gaining_a_role_reveals_its_channels_as_created(world, gateways):
    owner, member, role_id, _, staff_room, watcher, client = await _setup(
        world, gateways, member_has_role=False
    )
    await world.set_roles(member, [role_id])
    update = await _next(client)
    created = await _next(client)
    assert update.t == "GUILD_MEMBER_UPDATE"
    assert created.t == "CHANNEL_CREATE" and created.s == update.s + 1
    expected = (await world.channel(staff_room)).model_dump(mode="json")
    assert created.d == expected  # the full channel, overwrites included

    await world.post(staff_room, owner, "for staff")
    assert (await client.wait_for("MESSAGE_CREATE")).d["content"] == "for staff"
    assert client.gaps == 0
    assert "CHANNEL_CREATE" not in await _rest(watcher)  # the owner could always see it


async def test_losing_a_role_hides_its_channels_as_deleted(world, gateways):
    owner, member, _, _, staff_room, watcher, client = await _setup(
        world, gateways, member_has_role=True
    )
    await world.set_roles(member, [])
    update = await _next(client)
    deleted = await _next(client)
    assert update.t == "GUILD_MEMBER_UPDATE"
    assert deleted.t == "CHANNEL_DELETE" and deleted.s == update.s + 1
    assert deleted.d == {"id": str(staff_room), "guild_id": str(world.guild_id)}

    await world.post(staff_room, owner, "staff only")
    assert (await watcher.wait_for("MESSAGE_CREATE", where={"content": "staff only"})).d
    rest = await client.drain_dispatches(quiet=0.5)
    assert [e for e in rest if e.t == "MESSAGE_CREATE"] == []
    assert client.gaps == 0


async def test_everyone_role_losing_view_hides_channels_from_members_not_the_owner(world, gateways):
    _, _, _, general, staff_room, watcher, client = await _setup(
        world, gateways, member_has_role=False
    )
    await world.set_role_permissions(world.guild_id, _NO_VIEW)
    assert (await _next(client)).t == "GUILD_ROLE_UPDATE"
    deleted = await _next(client)
    assert (deleted.t, deleted.d["id"]) == ("CHANNEL_DELETE", str(general))
    assert await _rest(watcher) == ["GUILD_ROLE_UPDATE"]

    await world.set_role_permissions(world.guild_id, _EVERYONE_BITS)
    assert (await _next(client)).t == "GUILD_ROLE_UPDATE"
    created = await _next(client)
    assert (created.t, created.d["id"], created.d["name"]) == (
        "CHANNEL_CREATE",
        str(general),
        "general",
    )
    rest = [(e.t, e.d.get("id")) for e in await client.drain_dispatches(quiet=0.5)]
    assert ("CHANNEL_CREATE", str(staff_room)) not in rest  # still hidden by its overwrite
    assert client.gaps == 0


async def test_deleting_a_role_hides_what_only_it_revealed_and_nothing_for_others(world, gateways):
    _, _, role_id, _, staff_room, watcher, client = await _setup(
        world, gateways, member_has_role=True
    )
    await world.delete_role(role_id)
    assert (await _next(client)).t == "GUILD_ROLE_DELETE"
    deleted = await _next(client)
    assert (deleted.t, deleted.d["id"]) == ("CHANNEL_DELETE", str(staff_room))
    assert await _rest(watcher) == ["GUILD_ROLE_DELETE"]


async def test_role_changes_that_keep_access_send_no_channel_events(world, gateways):
    _, member, role_id, _, _, _, client = await _setup(world, gateways, member_has_role=True)
    await world.set_role_permissions(role_id, int(permissions.Permission.SEND_MESSAGES))
    await world.set_roles(member, [role_id])  # the same roles again (e.g. a nick change)
    assert await _rest(client) == ["GUILD_ROLE_UPDATE", "GUILD_MEMBER_UPDATE"]
