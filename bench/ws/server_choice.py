"""Which WebSocket server library the gateway uses, by measurement: the same broadcast load
against `websockets` (its `broadcast()`), `picows` (one `send` per connection and message) and
`picows` through the gateway's own delivery path (sessions with per-session sequence numbers,
an encode-once dispatch head, everything queued in a tick coalesced into one write).

    .venv/bin/python bench/ws/server_choice.py [--connections 1000] [--messages 200] [--runs 3]

Server and load client run as separate processes (the client is picows, in C, so it is not the
bottleneck for the Python servers). Figures: RSS per idle connection (server RSS growth / N)
and deliveries per second (frames received by all clients / time from first to last).
Results go to bench/ws/server_choice.json; the notes are in bench/ws/SERVER_CHOICE.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

PAYLOAD = json.dumps({"content": "x" * 150, "channel_id": "1234567890123456789"}).encode()
SERVERS = ("websockets", "picows", "gateway-path", "gateway-native")
HERE = Path(__file__).resolve().parent


# --- servers ----------------------------------------------------------------------------------


async def serve_websockets(port: int, messages: int) -> None:
    import websockets
    from websockets.asyncio.server import serve

    clients: set[Any] = set()

    async def handler(ws: Any) -> None:
        clients.add(ws)
        try:
            async for frame in ws:
                if frame == "go":
                    await burst(lambda: websockets.broadcast(clients, PAYLOAD.decode()), messages)
        finally:
            clients.discard(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, ping_interval=None):
        print("ready", flush=True)
        await asyncio.Future()


async def serve_picows(port: int, messages: int, *, gateway_path: bool) -> None:
    import picows

    from gochat.ws import protocol
    from gochat.ws.session import Outbox, Session, State

    outbox = Outbox(queue_max=100_000, on_overflow=lambda s: None)
    transports: list[Any] = []
    sessions: list[Session] = []
    head = protocol.dispatch_head("MESSAGE_CREATE", PAYLOAD)

    def send_each() -> None:
        for transport in transports:
            transport.send(picows.WSMsgType.TEXT, PAYLOAD)

    def push_each() -> None:
        for session in sessions:
            session.push(head, 1)

    class Listener(picows.WSListener):
        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            self.transport = transport
            transports.append(transport)
            if gateway_path:
                session = Session(self, outbox, deadline=0)
                session.state = State.LIVE
                sessions.append(session)

        def write(self, data: bytes) -> None:
            self.transport.underlying_transport.write(data)

        def close(self, code: int, reason: str) -> None:
            self.transport.disconnect()

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            if frame.msg_type == picows.WSMsgType.TEXT and frame.get_payload_as_bytes() == b"go":
                asyncio.get_running_loop().create_task(
                    burst(push_each if gateway_path else send_each, messages)
                )

    await picows.ws_create_server(
        lambda request: Listener(), "127.0.0.1", port, read_buffer_init_size=1024
    )
    print("ready", flush=True)
    await asyncio.Future()


async def serve_native(port: int, messages: int) -> None:
    """The gateway's delivery path on its own minimal asyncio server (ws/native.py)."""
    from gochat.ws import native, protocol
    from gochat.ws.session import Outbox, Session, State

    outbox = Outbox(queue_max=100_000, on_overflow=lambda s: None)
    sessions: list[Session] = []
    head = protocol.dispatch_head("MESSAGE_CREATE", PAYLOAD)

    def push_each() -> None:
        for session in sessions:
            session.push(head, 1)

    class Handler(native.Handler):
        def connected(self, conn: native.NativeConnection, token: str | None) -> Session:
            session = Session(conn, outbox, deadline=0)
            session.state = State.LIVE
            sessions.append(session)
            return session

        def received(self, conn: native.NativeConnection, payload: bytes) -> None:
            if payload == b"go":
                asyncio.get_running_loop().create_task(burst(push_each, messages))

    await native.serve(
        Handler(), lambda path, query: ("ws", None), host="127.0.0.1", port=port, reuse_port=False
    )
    print("ready", flush=True)
    await asyncio.Future()


async def burst(send_one_message: Any, messages: int, per_tick: int = 20) -> None:
    """Send `messages` broadcasts, `per_tick` per loop iteration (a busy channel)."""
    for n in range(messages):
        send_one_message()
        if n % per_tick == per_tick - 1:
            await asyncio.sleep(0)


# --- load client --------------------------------------------------------------------------------


async def run_client(port: int, connections: int, messages: int) -> None:
    import picows

    expected = connections * messages
    state = {"received": 0, "first": 0.0, "last": 0.0}
    done = asyncio.get_running_loop().create_future()

    class Client(picows.WSListener):
        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            now = time.perf_counter()
            if state["received"] == 0:
                state["first"] = now
            state["received"] += 1
            if state["received"] == expected:
                state["last"] = now
                done.set_result(None)

    opened = []
    for _ in range(connections):
        transport, _ = await picows.ws_connect(Client, f"ws://127.0.0.1:{port}/")
        opened.append(transport)
    print("connected", flush=True)
    sys.stdin.readline()  # the parent measured idle RSS; now load
    opened[0].send(picows.WSMsgType.TEXT, b"go")
    await asyncio.wait_for(done, 120)
    seconds = state["last"] - state["first"]
    print(json.dumps({"deliveries": expected, "seconds": seconds}), flush=True)


# --- the parent -------------------------------------------------------------------------------


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def measure(server: str, connections: int, messages: int) -> dict[str, float]:
    port = free_port()
    me = [sys.executable, __file__]
    srv = subprocess.Popen(
        [*me, "serve", server, str(port), str(messages)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert srv.stdout is not None and srv.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        before = rss_kb(srv.pid)
        cli = subprocess.Popen(
            [*me, "client", str(port), str(connections), str(messages)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert cli.stdout is not None and cli.stdin is not None
        assert cli.stdout.readline().strip() == "connected"
        time.sleep(0.5)
        after = rss_kb(srv.pid)
        cli.stdin.write("go\n")
        cli.stdin.flush()
        result = json.loads(cli.stdout.readline())
        cli.wait(30)
    finally:
        srv.kill()
        srv.wait()
    return {
        "rss_per_idle_connection_kb": round((after - before) / connections, 2),
        "deliveries_per_second": round(result["deliveries"] / result["seconds"]),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in SERVERS}
    for _ in range(args.runs):  # interleaved, so machine drift hits every server alike
        for name in SERVERS:
            runs[name].append(measure(name, args.connections, args.messages))
            print(name, runs[name][-1], flush=True)
    summary = {
        name: {
            key: statistics.median(r[key] for r in results)
            for key in ("rss_per_idle_connection_kb", "deliveries_per_second")
        }
        for name, results in runs.items()
    }
    output = {
        "connections": args.connections,
        "messages": args.messages,
        "payload_bytes": len(PAYLOAD),
        "runs": runs,
        "median": summary,
        "cpus": os.cpu_count(),
    }
    (HERE / "server_choice.json").write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        name, port, messages = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
        if name == "websockets":
            asyncio.run(serve_websockets(port, messages))
        elif name == "gateway-native":
            asyncio.run(serve_native(port, messages))
        else:
            asyncio.run(serve_picows(port, messages, gateway_path=name == "gateway-path"))
    elif len(sys.argv) > 1 and sys.argv[1] == "client":
        asyncio.run(run_client(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])))
    else:
        raise SystemExit(main())
