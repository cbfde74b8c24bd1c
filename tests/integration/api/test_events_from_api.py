"""Every state change made through the API reaches JetStream once, in commit order."""

from __future__ import annotations

import asyncio
from typing import Any

import nats

from gochat.core import events
from tests.integration.api.conftest import Api


async def _read_events(url: str, subject: str, count: int, wait_seconds: float = 20) -> list[Any]:
    client = await nats.connect(url)
    try:
        js = client.jetstream()
        sub = await js.subscribe(subject, ordered_consumer=True)
        received = []
        deadline = asyncio.get_running_loop().time() + wait_seconds
        while len(received) < count:
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                break
            try:
                msg = await sub.next_msg(timeout=remaining)
            except TimeoutError:
                break
            received.append((msg, events.parse(msg.data)))
        # Anything beyond `count` would be a duplicate or a stray event.
        try:
            extra = await sub.next_msg(timeout=1)
            received.append((extra, events.parse(extra.data)))
        except TimeoutError:
            pass
        return received
    finally:
        await client.close()


async def test_guild_changes_are_published_in_order(api: Api, nats_server: Any) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    sent = (await owner.post(f"/channels/{channel}/messages", json={"content": "one"})).json()
    await owner.patch(f"/channels/{channel}/messages/{sent['id']}", json={"content": "two"})
    await owner.put(f"/channels/{channel}/messages/{sent['id']}/reactions/🔥/@me")
    await owner.delete(f"/channels/{channel}/messages/{sent['id']}")
    await owner.delete(f"/guilds/{guild_id}/members/{member.id}")
    received = await _read_events(nats_server.url, f"gochat.ev.guild.{guild_id}.>", 10)
    types = [event.type for _, event in received]
    assert types == [
        "GUILD_CREATE",
        "GUILD_MEMBER_ADD",
        "CHANNEL_CREATE",
        "INVITE_CREATE",
        "GUILD_MEMBER_ADD",
        "MESSAGE_CREATE",
        "MESSAGE_UPDATE",
        "MESSAGE_REACTION_ADD",
        "MESSAGE_DELETE",
        "GUILD_MEMBER_REMOVE",
    ]
    ids = [event.id for _, event in received]
    assert len(set(ids)) == len(ids)
    msg, update = received[6]
    assert msg.subject == f"gochat.ev.guild.{guild_id}.MESSAGE_UPDATE"
    assert msg.headers and msg.headers["Nats-Msg-Id"] == str(update.id)
    assert update.data["content"] == "two" and update.channel_id == int(channel)


async def test_failed_requests_publish_nothing(api: Api, nats_server: Any) -> None:
    owner, stranger = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    assert (
        await stranger.post(f"/channels/{channel}/messages", json={"content": "x"})
    ).status_code == 404
    assert (
        await owner.post(f"/guilds/{guild_id}/channels", json={"name": "bad name"})
    ).status_code == 422
    received = await _read_events(nats_server.url, f"gochat.ev.guild.{guild_id}.>", 3)
    assert [e.type for _, e in received] == ["GUILD_CREATE", "GUILD_MEMBER_ADD", "CHANNEL_CREATE"]


async def test_dm_and_user_events_use_their_scopes(api: Api, nats_server: Any) -> None:
    alice, bob = await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(alice)
    await api.join(alice, bob, guild_id)
    dm = (await alice.post("/users/@me/channels", json={"recipient_id": str(bob.id)})).json()
    await alice.post(f"/channels/{dm['id']}/messages", json={"content": "hi"})
    await alice.patch("/users/@me", json={"bio": "new"})
    dm_events = await _read_events(nats_server.url, f"gochat.ev.dm.{dm['id']}.>", 2)
    assert [e.type for _, e in dm_events] == ["CHANNEL_CREATE", "MESSAGE_CREATE"]
    assert set(dm_events[1][1].user_ids) == {alice.id, bob.id}
    user_events = await _read_events(nats_server.url, f"gochat.ev.user.{alice.id}.>", 1)
    assert [e.type for _, e in user_events] == ["USER_UPDATE"]


async def test_the_request_trace_travels_with_its_events(api: Api, nats_server: Any) -> None:
    owner = await api.user()
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{trace_id}-00f067aa0ba902b7-01"
    created = await owner.post(
        "/guilds", json={"name": "traced"}, headers={"traceparent": traceparent}
    )
    guild_id = created.json()["id"]
    received = await _read_events(nats_server.url, f"gochat.ev.guild.{guild_id}.>", 3)
    assert len(received) == 3
    for msg, _ in received:
        assert msg.headers and msg.headers["traceparent"].split("-")[1] == trace_id
