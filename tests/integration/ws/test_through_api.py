"""End to end through the real API (outbox -> relay -> JetStream -> gateways): messages,
permission changes, kicks and read states as users cause them."""

from __future__ import annotations

import pytest

from gochat.client.gateway import GatewayClient
from gochat.core.permissions import Permission
from tests.integration.api.conftest import Api, User, api  # noqa: F401  (fixture)


def token_of(user: User) -> str:
    return user.headers["Authorization"].removeprefix("Bearer ")


@pytest.fixture
async def guild(api: Api):  # noqa: F811
    owner, member = await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    return owner, member, guild_id, channel_id


async def _connect(url: str, user: User) -> GatewayClient:
    client = await GatewayClient.connect(url)
    await client.identify(token_of(user))
    return client


async def test_messages_sent_through_the_api_reach_clients_on_both_gateways(guild, gateways):
    owner, member, _, channel_id = guild
    first, second = gateways(), gateways()
    watchers = [await _connect(first.url, owner), await _connect(second.url, member)]
    for n in range(3):
        response = await member.post(f"/channels/{channel_id}/messages", json={"content": f"m{n}"})
        assert response.status_code in (200, 201), response.text
    for client in watchers:
        got = [(await client.wait_for("MESSAGE_CREATE")).d["content"] for _ in range(3)]
        assert got == ["m0", "m1", "m2"]


async def test_overwrite_set_through_the_api_stops_delivery_at_once(guild, gateways):
    owner, member, _, channel_id = guild
    gateway = gateways()
    watcher, client = await _connect(gateway.url, owner), await _connect(gateway.url, member)
    response = await owner.put(
        f"/channels/{channel_id}/permissions/{member.id}",
        json={"type": "member", "deny": str(int(Permission.VIEW_CHANNEL))},
    )
    assert response.status_code == 200, response.text
    await owner.post(f"/channels/{channel_id}/messages", json={"content": "private"})
    assert (await watcher.wait_for("MESSAGE_CREATE")).d["content"] == "private"
    seen = await client.drain_dispatches(quiet=0.5)
    assert "MESSAGE_CREATE" not in [e.t for e in seen]


async def test_member_kicked_through_the_api_stops_receiving(guild, gateways):
    owner, member, guild_id, channel_id = guild
    gateway = gateways()
    watcher, client = await _connect(gateway.url, owner), await _connect(gateway.url, member)
    response = await owner.delete(f"/guilds/{guild_id}/members/{member.id}")
    assert response.status_code == 204, response.text
    await owner.post(f"/channels/{channel_id}/messages", json={"content": "after kick"})
    assert (await watcher.wait_for("MESSAGE_CREATE")).d["content"] == "after kick"
    seen = await client.drain_dispatches(quiet=0.5)
    assert "MESSAGE_CREATE" not in [e.t for e in seen]
    assert "GUILD_MEMBER_REMOVE" in [e.t for e in seen]


async def test_read_state_persists_and_syncs_to_the_users_other_sessions(guild, gateways):
    owner, member, _, channel_id = guild
    first, second = gateways(), gateways()
    sessions = [await _connect(first.url, member), await _connect(second.url, member)]
    sent = await owner.post(f"/channels/{channel_id}/messages", json={"content": "read me"})
    message_id = sent.json()["id"]

    response = await member.post(f"/channels/{channel_id}/messages/{message_id}/ack")
    assert response.status_code == 200, response.text
    expected = {"channel_id": channel_id, "last_read_message_id": message_id, "mention_count": 0}
    assert response.json() == expected
    for client in sessions:
        assert (await client.wait_for("READ_STATE_UPDATE")).d == expected
    assert (await member.get("/users/@me/read-states")).json() == [expected]
    later = await GatewayClient.connect(first.url)
    ready = await later.identify(token_of(member))
    assert expected in ready["read_states"]


async def test_read_state_of_a_channel_the_user_cannot_view_is_refused(guild, gateways):
    owner, member, _, channel_id = guild
    sent = await owner.post(f"/channels/{channel_id}/messages", json={"content": "x"})
    await owner.put(
        f"/channels/{channel_id}/permissions/{member.id}",
        json={"type": "member", "deny": str(int(Permission.VIEW_CHANNEL))},
    )
    response = await member.post(f"/channels/{channel_id}/messages/{sent.json()['id']}/ack")
    assert response.status_code == 404
    assert (await member.get("/users/@me/read-states")).json() == []
    bad = await member.post(
        f"/channels/{channel_id}/messages/{sent.json()['id']}/ack", json={"mention_count": -1}
    )
    assert bad.status_code == 422 and "mention_count" in bad.text


async def test_guilds_created_and_joined_while_connected_start_streaming(api, gateways):  # noqa: F811
    gateway = gateways()
    owner, joiner = await api.user(), await api.user()
    owner_client = await _connect(gateway.url, owner)
    joiner_client = await _connect(gateway.url, joiner)

    guild_id, channel_id = await api.guild_with_channel(owner)
    created = await owner_client.wait_for("GUILD_CREATE")
    assert created.d["id"] == guild_id
    await api.join(owner, joiner, guild_id)
    added = await joiner_client.wait_for("GUILD_MEMBER_ADD")
    assert added.d["user"]["id"] == str(joiner.id)

    await owner.post(f"/channels/{channel_id}/messages", json={"content": "welcome"})
    for client in (owner_client, joiner_client):
        assert (await client.wait_for("MESSAGE_CREATE")).d["content"] == "welcome"


async def test_direct_messages_and_typing_reach_only_the_two_recipients(guild, gateways):
    owner, member, _, _ = guild
    gateway = gateways()
    sender, receiver = await _connect(gateway.url, owner), await _connect(gateway.url, member)
    dm = (await owner.post("/users/@me/channels", json={"recipient_id": str(member.id)})).json()
    assert (await receiver.wait_for("CHANNEL_CREATE")).d["id"] == dm["id"]

    await owner.post(f"/channels/{dm['id']}/messages", json={"content": "psst"})
    assert (await receiver.wait_for("MESSAGE_CREATE")).d["content"] == "psst"
    await sender.typing(dm["id"])
    typing = await receiver.wait_for("TYPING_START")
    assert typing.d["channel_id"] == dm["id"] and typing.d["user_id"] == str(owner.id)


async def test_dm_typing_stops_once_the_two_share_no_guild(guild, gateways):
    owner, member, guild_id, _ = guild
    gateway = gateways()
    sender, receiver = await _connect(gateway.url, owner), await _connect(gateway.url, member)
    dm = (await owner.post("/users/@me/channels", json={"recipient_id": str(member.id)})).json()
    assert (await receiver.wait_for("CHANNEL_CREATE")).d["id"] == dm["id"]
    left = await member.delete(f"/guilds/{guild_id}/members/@me")
    assert left.status_code == 204, left.text
    await receiver.drain_dispatches(quiet=0.5)  # what the leave itself sends

    await sender.typing(dm["id"])

    seen = await receiver.drain_dispatches(quiet=1)
    assert [e for e in seen if e.t == "TYPING_START"] == []
    # As a message would be: the API refuses it too (docs/api.md, Privacy and authorization).
    refused = await owner.post(f"/channels/{dm['id']}/messages", json={"content": "psst"})
    assert refused.status_code == 403
