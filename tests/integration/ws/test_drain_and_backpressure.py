"""Graceful drain (RECONNECT, resume elsewhere, no gap) and backpressure (a slow client is
cut off with TOO_SLOW while the others keep up)."""

from __future__ import annotations

import asyncio

import httpx

from gochat.client.gateway import GatewayClient, GatewayClosed
from gochat.ws.protocol import CloseCode


async def test_drained_gateways_clients_resume_elsewhere_with_no_gap(world, gateways):
    draining, other = gateways(drain_window_seconds=2), gateways()
    owner = await world.user()
    await world.create_guild(owner)
    channel_id = await world.create_channel()
    clients = [await GatewayClient.connect(draining.url) for _ in range(4)]
    for client in clients:
        await client.identify(owner.token)

    posted: list[str] = []

    async def keep_posting() -> None:
        for n in range(40):
            posted.append(f"m{n}")
            await world.post(channel_id, owner, f"m{n}")
            await asyncio.sleep(0.1)

    poster = asyncio.create_task(keep_posting())
    await asyncio.sleep(0.5)
    draining.terminate()

    received: list[list[str]] = []
    for client in clients:
        seen = []
        while True:  # read until the gateway asks this client to reconnect and closes
            try:
                event = await client.next_dispatch(timeout=15)
            except GatewayClosed as closed:
                assert closed.code == CloseCode.RECONNECT_REQUESTED
                break
            if event.t == "MESSAGE_CREATE":
                seen.append(event.d["content"])
        assert client.reconnect_requested
        resumed, replayed = await client.resume_elsewhere(other.url, owner.token)
        seen += [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"]
        received.append(seen)
        clients[clients.index(client)] = resumed
    await poster
    for index, client in enumerate(clients):
        while len(received[index]) < len(posted):
            received[index].append((await client.wait_for("MESSAGE_CREATE")).d["content"])
        assert received[index] == posted  # every message once, in order
        assert client.gaps == 0
    assert draining.wait(15) == 0


async def test_slow_client_is_cut_off_while_others_are_unaffected(world, gateways):
    gateway = gateways(send_queue_max=16)
    owner = await world.user()
    await world.create_guild(owner)
    channel_id = await world.create_channel()
    slow = await GatewayClient.connect(gateway.url)
    await slow.identify(owner.token)
    fast = await GatewayClient.connect(gateway.url)
    await fast.identify(owner.token)
    slow.ws.transport.pause_reading()  # stops reading: the socket buffers fill up

    big = "x" * 60_000
    for n in range(300):
        await world.post(channel_id, owner, f"{n}:{big}")
    for n in range(300):
        event = await fast.wait_for("MESSAGE_CREATE")
        assert event.d["content"].startswith(f"{n}:")

    slow.ws.transport.resume_reading()
    code, reason = await slow.wait_closed(timeout=30)
    assert code == CloseCode.TOO_SLOW and "resume" in reason
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{gateway.http}/metrics")).text
    assert 'gochat_ws_disconnects_total{reason="TOO_SLOW"} 1.0' in metrics
    assert "gochat_ws_connections 1.0" in metrics
