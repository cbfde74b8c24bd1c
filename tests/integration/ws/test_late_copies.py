"""A late copy of an event (stored again because it was re-published after the stream's
duplicate window) is not delivered again: the gateway drops an event whose outbox seq is not
above the last one it read for the event's scope."""

from __future__ import annotations

import httpx

from gochat.adapters.nats import publisher
from gochat.client.gateway import GatewayClient
from gochat.core import events
from tests.integration.ws import harness


async def _publish(world, event: events.Event, *, outbox_seq: int, msg_id: str) -> None:
    await world.js.publish(
        event.subject,
        event.model_dump_json().encode(),
        headers={
            publisher.MSG_ID_HEADER: msg_id,
            events.SCOPE_HEADER: events.scope_key("guild", world.guild_id),
            events.OUTBOX_SEQ_HEADER: str(outbox_seq),
        },
    )


async def test_a_late_copy_of_an_event_is_neither_delivered_nor_replayed(world, gateways):
    gateway = gateways()
    owner = await world.user()
    await world.create_guild(owner)
    channel_id = await world.create_channel()
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    session_id, seq = client.session_id, client.seq

    old = world.message_event(channel_id, owner, "old")
    await _publish(world, old, outbox_seq=5, msg_id=str(old.id))
    new = world.message_event(channel_id, owner, "new")
    await _publish(world, new, outbox_seq=6, msg_id=str(new.id))
    # The same event again, past the duplicate window (so under a msg id JetStream takes).
    await _publish(world, old, outbox_seq=5, msg_id=f"{old.id}-late")
    after = world.message_event(channel_id, owner, "after")
    await _publish(world, after, outbox_seq=7, msg_id=str(after.id))

    got = [(await client.wait_for("MESSAGE_CREATE")).d["content"] for _ in range(3)]
    assert got == ["old", "new", "after"]
    assert client.gaps == 0
    await client.abort()

    again = await GatewayClient.connect(gateway.url)
    replayed = await again.resume(owner.token, session_id, seq)
    assert [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"] == ["old", "new", "after"]
    async with httpx.AsyncClient() as http:
        text = (await http.get(f"{gateway.http}/metrics")).text
    assert "gochat_ws_late_copies_dropped_total 1.0" in text
    assert harness.log_has(gateway.log_path, "late copy dropped")
