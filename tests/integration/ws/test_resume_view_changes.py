"""RESUME across a change of what the session may view. A replay cannot rebuild the
CHANNEL_CREATE / CHANNEL_DELETE such a change produced live (they come from the access before
and after it), so the gateway answers INVALID_SESSION (not resumable) and the client identifies
again, getting the channel list as it is now; a resume across messages alone is unaffected."""

from __future__ import annotations

import pytest

from gochat.client.gateway import GatewayClient, InvalidSession


async def _away(world, gateways):
    """A member with a role that alone reveals a staff room, disconnected: (member, role,
    staff room, general, gateway, session id, last seq)."""
    gateway = gateways()
    guild = await world.staff_guild(member_has_role=True)
    owner, member, role_id = guild.owner, guild.member, guild.role_id
    general, staff_room = guild.general, guild.staff_room
    client = await GatewayClient.connect(gateway.url)
    ready = await client.identify(member.token)
    assert str(staff_room) in {c["id"] for c in ready["channels"]}
    await world.post(general, owner, "before")
    await client.wait_for("MESSAGE_CREATE")
    session_id, seq = client.session_id, client.seq
    await client.abort()
    return owner, member, role_id, staff_room, general, gateway, session_id, seq


async def _resume_is_refused(gateway, member, session_id: str, seq: int) -> list[str]:
    again = await GatewayClient.connect(gateway.url)
    with pytest.raises(InvalidSession) as refused:
        await again.resume(member.token, session_id, seq)
    assert refused.value.resumable is False
    ready = await again.identify(member.token)  # same connection: a fresh channel list
    return [c["id"] for c in ready["channels"]]


async def test_losing_a_role_while_away_makes_the_client_identify_again(world, gateways):
    owner, member, _, staff_room, general, gateway, session_id, seq = await _away(world, gateways)
    await world.set_roles(member, [])
    await world.post(general, owner, "after")
    channels = await _resume_is_refused(gateway, member, session_id, seq)
    assert str(staff_room) not in channels and str(general) in channels


async def test_a_role_deleted_while_away_makes_the_client_identify_again(world, gateways):
    _, member, role_id, staff_room, _, gateway, session_id, seq = await _away(world, gateways)
    await world.delete_role(role_id)
    channels = await _resume_is_refused(gateway, member, session_id, seq)
    assert str(staff_room) not in channels


async def test_a_channel_hidden_while_away_makes_the_client_identify_again(world, gateways):
    _, member, _, _, general, gateway, session_id, seq = await _away(world, gateways)
    await world.deny_view(general, member)
    channels = await _resume_is_refused(gateway, member, session_id, seq)
    assert str(general) not in channels


async def test_being_kicked_while_away_makes_the_client_identify_again(world, gateways):
    _, member, _, _, _, gateway, session_id, seq = await _away(world, gateways)
    await world.kick(member)
    assert await _resume_is_refused(gateway, member, session_id, seq) == []


async def test_stopping_inside_a_change_and_its_derived_events_makes_the_client_identify_again(
    world, gateways
):
    _, member, _, staff_room, _, gateway, _, _ = await _away(world, gateways)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(member.token)
    await world.set_roles(member, [])
    update = await client.wait_for("GUILD_MEMBER_UPDATE")
    deleted = await client.wait_for("CHANNEL_DELETE")
    assert deleted.s == update.s + 1
    session_id = client.session_id
    await client.abort()
    # The client got the change but not the CHANNEL_DELETE that came with it.
    channels = await _resume_is_refused(gateway, member, session_id, update.s)
    assert str(staff_room) not in channels


async def test_changes_that_leave_the_view_alone_still_resume(world, gateways):
    owner, member, _, _, general, gateway, session_id, seq = await _away(world, gateways)
    other = await world.user()
    await world.add_member(other)
    await world.set_roles(other, [])  # another member's roles: not this session's view
    await world.post(general, owner, "missed")
    again = await GatewayClient.connect(gateway.url)
    replayed = await again.resume(member.token, session_id, seq)
    assert [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"] == ["missed"]
    assert [e.s for e in replayed] == list(range(seq + 1, seq + 1 + len(replayed)))
