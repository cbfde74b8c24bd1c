"""Identify and dispatch across two real gateway processes."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gochat.client.gateway import GatewayClient
from tests.integration.ws import harness


async def test_clients_on_two_gateways_receive_the_same_channel_messages(world, gateways):
    first, second = gateways(), gateways()
    alice, bob = await world.user(), await world.user()
    await world.create_guild(alice)
    await world.add_member(bob)
    channel_id = await world.create_channel()

    on_first = await GatewayClient.connect(first.url)
    ready = await on_first.identify(alice.token)
    on_second = await GatewayClient.connect(second.url)
    await on_second.identify(bob.token)
    assert [g["id"] for g in ready["guilds"]] == [str(world.guild_id)]
    assert str(channel_id) in [c["id"] for c in ready["channels"]]

    for n in range(5):
        await world.post(channel_id, alice, f"hello {n}")
    for client in (on_first, on_second):
        got = [(await client.wait_for("MESSAGE_CREATE")).d["content"] for _ in range(5)]
        assert got == [f"hello {n}" for n in range(5)]
        assert client.gaps == 0
    await on_first.close()
    await on_second.close()


async def test_worker_processes_share_one_port_and_all_drain(world, gateways):
    gateway = gateways("--workers", "2")
    owner = await world.user()
    await world.create_guild(owner)
    channel_id = await world.create_channel()
    clients = [await GatewayClient.connect(gateway.url) for _ in range(8)]
    for client in clients:
        await client.identify(owner.token)
    await world.post(channel_id, owner, "to everyone")
    for client in clients:
        assert (await client.wait_for("MESSAGE_CREATE")).d["content"] == "to everyone"
    gateway.terminate()
    for client in clients:
        assert (await client.wait_closed(timeout=20))[0] == 4013
        assert client.reconnect_requested
    assert gateway.wait(20) == 0


async def test_workers_report_connections_summed_over_the_pod(world, gateways):
    gateway = gateways("--workers", "2")
    owner = await world.user()
    clients = [await GatewayClient.connect(gateway.url) for _ in range(6)]
    for client in clients:
        await client.identify(owner.token)
    async with httpx.AsyncClient() as http:
        for _ in range(4):  # whichever worker answers, the figure is the pod's
            text = (await http.get(f"{gateway.http}/metrics")).text
            assert "gochat_ws_connections 6.0" in text


async def test_a_gateway_on_plain_asyncio_delivers_resumes_and_drains(world, gateways):
    gateway = gateways("--loop", "asyncio")  # the other tests run on the default, uvloop
    owner = await world.user()
    await world.create_guild(owner)
    channel_id = await world.create_channel()
    client = await GatewayClient.connect(gateway.url)
    await client.identify(owner.token)
    await world.post(channel_id, owner, "one")
    assert (await client.wait_for("MESSAGE_CREATE")).d["content"] == "one"
    session_id, seq = client.session_id, client.seq
    await client.abort()
    await world.post(channel_id, owner, "two")
    again = await GatewayClient.connect(gateway.url)
    replayed = await again.resume(owner.token, session_id, seq)
    assert [e.d["content"] for e in replayed if e.t == "MESSAGE_CREATE"] == ["two"]
    assert [e.s for e in replayed] == list(range(seq + 1, seq + 1 + len(replayed)))
    gateway.terminate()
    assert (await again.wait_closed(timeout=20))[0] == 4013


@pytest.mark.parametrize("when", ["as-workers-start", "while-workers-start-the-gateway"])
async def test_sigterm_while_workers_start_up_still_exits_cleanly(world, gateways, tmp_path, when):
    """A SIGTERM that reaches the workers before they can drain (interpreter start-up, or the
    gateway's own start) waits for them to be able to, instead of killing them (exit 143)."""
    hold = tmp_path / "hold"
    hold.mkdir()
    (hold / "start").touch()  # every worker waits at the start of GatewayProcess.start
    gateway = gateways("--workers", "2", hold_dir=hold, ready=False)
    assert harness.wait_for(lambda: harness.log_has(gateway.log_path, "workers started"))
    if when == "while-workers-start-the-gateway":
        assert harness.wait_for(lambda: len(list(hold.glob("start.*.reached"))) == 2, 30)
    gateway.terminate()
    await asyncio.sleep(0.5)  # let the signal reach the workers while they are held
    (hold / "start").unlink()
    assert gateway.wait(60) == 0
