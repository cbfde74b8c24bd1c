"""Resume after a dropped connection: exactly the missed events, on the same or another
process; outside the window the client must identify again."""

from __future__ import annotations

import asyncio

import pytest

from gochat.client.gateway import GatewayClient, InvalidSession


async def _setup(world):
    owner = await world.user()
    await world.create_guild(owner)
    channel_id = await world.create_channel()
    return owner, channel_id


@pytest.mark.parametrize("elsewhere", [False, True], ids=["same-process", "other-process"])
async def test_resume_replays_exactly_the_missed_events(world, gateways, elsewhere):
    first = gateways()
    second = gateways() if elsewhere else first
    owner, channel_id = await _setup(world)
    client = await GatewayClient.connect(first.url)
    await client.identify(owner.token)
    for n in range(3):
        await world.post(channel_id, owner, f"seen {n}")
    for _ in range(3):
        await client.wait_for("MESSAGE_CREATE")
    session_id, seq = client.session_id, client.seq
    await client.abort()  # the network drops; the gateway notices

    for n in range(4):
        await world.post(channel_id, owner, f"missed {n}")
    again = await GatewayClient.connect(second.url)
    replayed = await again.resume(owner.token, session_id, seq)
    messages = [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"]
    assert messages == [f"missed {n}" for n in range(4)]
    # No gap, no duplicate: the replay continues the sequence exactly where the client was.
    assert [e.s for e in replayed] == list(range(seq + 1, seq + 1 + len(replayed)))

    await world.post(channel_id, owner, "live")
    live = await again.wait_for("MESSAGE_CREATE")
    assert live.d["content"] == "live" and live.s > replayed[-1].s
    assert again.gaps == 0


async def test_resume_from_an_older_sequence_replays_what_was_sent_after_it(world, gateways):
    gateway = gateways()
    owner, channel_id = await _setup(world)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    for n in range(5):
        await world.post(channel_id, owner, f"m{n}")
    got = [await client.wait_for("MESSAGE_CREATE") for _ in range(5)]
    session_id = client.session_id
    await client.abort()
    # Pretend the last two frames were lost in flight.
    again = await GatewayClient.connect(gateway.url)
    replayed = await again.resume(owner.token, session_id, got[2].s)
    messages = [e for e in replayed if e.t == "MESSAGE_CREATE"]
    assert [e.d["content"] for e in messages] == ["m3", "m4"]
    assert [e.s for e in messages] == [got[3].s, got[4].s]
    assert [e.s for e in replayed] == list(range(got[2].s + 1, got[2].s + 1 + len(replayed)))


async def test_resume_of_a_live_session_takes_it_over(world, gateways):
    first, second = gateways(), gateways()
    owner, channel_id = await _setup(world)
    old = await GatewayClient.connect(first.url)
    await old.identify(owner.token)
    await world.post(channel_id, owner, "one")
    await old.wait_for("MESSAGE_CREATE")
    new = await GatewayClient.connect(second.url)
    replayed = await new.resume(owner.token, old.session_id, old.seq)
    assert [e for e in replayed if e.t == "MESSAGE_CREATE"] == []
    code, _ = await old.wait_closed()
    assert code == 4012
    await world.post(channel_id, owner, "two")
    assert (await new.wait_for("MESSAGE_CREATE")).d["content"] == "two"


async def test_resume_outside_the_window_must_identify_again(world, gateways):
    gateway = gateways(resume_window_seconds=0)
    owner, _ = await _setup(world)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    session_id = client.session_id
    await client.abort()
    await asyncio.sleep(0.5)
    again = await GatewayClient.connect(gateway.url)
    with pytest.raises(InvalidSession) as refused:
        await again.resume(owner.token, session_id, 1)
    assert refused.value.resumable is False
    ready = await again.identify(owner.token)  # same connection, new session
    assert ready["session_id"] != session_id


async def test_unknown_session_is_invalid(world, gateways):
    gateway = gateways()
    owner, _ = await _setup(world)
    client = await GatewayClient.connect(gateway.url)
    with pytest.raises(InvalidSession):
        await client.resume(owner.token, "0" * 32, 5)


async def test_resume_on_a_gateway_started_later_replays_from_the_stream(world, gateways):
    first = gateways()
    owner, channel_id = await _setup(world)
    client = await GatewayClient.connect(first.url)
    await client.identify(owner.token)
    await world.post(channel_id, owner, "seen")
    await client.wait_for("MESSAGE_CREATE")
    session_id, seq = client.session_id, client.seq
    await client.abort()
    for n in range(3):
        await world.post(channel_id, owner, f"missed {n}")
    # Started after the events: its memory holds none of them, so the replay reads JetStream.
    later = gateways()
    again = await GatewayClient.connect(later.url)
    replayed = await again.resume(owner.token, session_id, seq)
    messages = [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"]
    assert messages == ["missed 0", "missed 1", "missed 2"]
    assert [e.s for e in replayed] == list(range(seq + 1, seq + 1 + len(replayed)))


async def test_delivery_continues_after_a_nats_restart(world, gateways, nats_server):
    gateway = gateways()
    owner, channel_id = await _setup(world)
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    await world.post(channel_id, owner, "before")
    assert (await client.wait_for("MESSAGE_CREATE")).d["content"] == "before"
    await world.close()
    nats_server.stop()
    nats_server.start()
    await world.open()
    await asyncio.sleep(2)  # the clients reconnect on their own
    for n in range(3):
        await world.post(channel_id, owner, f"after {n}")
    got = [(await client.wait_for("MESSAGE_CREATE", timeout=20)).d["content"] for _ in range(3)]
    assert got == ["after 0", "after 1", "after 2"]
    assert client.gaps == 0
