"""The real gateway process (`python -m gochat ws`) on real NATS and PostgreSQL, measured
directly: RSS per idle identified session, and fan-out deliveries/s with send→deliver latency
for messages published to the event stream (the API's relay path minus the API).

    .venv/bin/python bench/ws/gateway_capacity.py [--connections 2000] [--messages 300]
        [--rate 1000] [--workers 1]

Clients run in a separate process (picows, identify + count frames). Results are printed as
JSON lines (one per run, then the medians); figures worth keeping go to SERVER_CHOICE.md. This
is a developer's probe of the gateway's own path; the anchor comparison is bench/ws/run.py.
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
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
HERE = Path(__file__).resolve().parent


async def clients(url: str, token: str, connections: int, messages: int) -> None:
    """Open and identify `connections`; then count MESSAGE_CREATE frames and their latency."""
    import orjson
    import picows

    ready = 0
    received = 0
    latencies: list[float] = []
    all_ready = asyncio.get_running_loop().create_future()
    done = asyncio.get_running_loop().create_future()
    expected = connections * messages

    class Client(picows.WSListener):
        def on_ws_connected(self, transport: picows.WSTransport) -> None:
            identify = {"op": 2, "d": {"token": token}}
            transport.send(picows.WSMsgType.TEXT, orjson.dumps(identify))

        def on_ws_frame(self, transport: picows.WSTransport, frame: picows.WSFrame) -> None:
            nonlocal ready, received
            payload = frame.get_payload_as_bytes()
            if b'"MESSAGE_CREATE"' in payload[:40]:
                received += 1
                if received % 50 == 0:  # sample: decoding every frame would cost the client
                    sent = float(orjson.loads(payload)["d"]["content"])
                    latencies.append(time.time() - sent)
                if received == expected:
                    done.set_result(None)
            elif b'"READY"' in payload[:40]:
                ready += 1
                if ready == connections:
                    all_ready.set_result(None)

    opened = []
    for n in range(connections):
        transport, _ = await picows.ws_connect(Client, url)
        opened.append(transport)
        if n % 200 == 199:
            await asyncio.sleep(0.05)
    await asyncio.wait_for(all_ready, 120)
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.perf_counter()
    await asyncio.wait_for(done, 300)
    seconds = time.perf_counter() - started
    latencies.sort()
    print(
        json.dumps(
            {
                "deliveries": expected,
                "seconds": seconds,
                "p50_ms": 1000 * latencies[len(latencies) // 2],
                "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
                "max_ms": 1000 * latencies[-1],
            }
        ),
        flush=True,
    )


def process_tree_rss_kb(pid: int) -> int:
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    total = 0
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from gochat.adapters.postgres import migrations
    from gochat.embedded import nats as embedded_nats
    from gochat.embedded import postgres as embedded_pg
    from gochat.embedded import process
    from tests.fixtures.servers import TEST_PG_SETTINGS
    from tests.integration.ws import harness

    work = Path(tempfile.mkdtemp(prefix="gochat-ws-capacity-"))
    nats_server = embedded_nats.EmbeddedNats(data_dir=work / "nats", port=process.free_port())
    pg = embedded_pg.EmbeddedPostgres(
        data_dir=work / "pg", port=process.free_port(), settings=TEST_PG_SETTINGS
    )
    nats_server.start()
    pg.start()
    gateway = None
    try:
        await migrations.apply(pg.dsn, migrations.default_directory())
        world = harness.World(dsn=pg.dsn, keys_dir=work / "jwt", nats_url=nats_server.url)
        await world.open()
        owner = await world.user()
        await world.create_guild(owner)
        channel_id = await world.create_channel()
        with harness.jwks_server(work / "jwt") as jwks_url:
            env = harness.gateway_env(
                dsn=pg.dsn, nats_url=nats_server.url, jwks_url=jwks_url,
                heartbeat_interval_ms=600_000, log_level="warning", pg_pool_max=10,
            )  # fmt: skip
            gateway = harness.GatewayProc(
                env=env,
                log_path=work / "ws.log",
                args=(
                    "--workers",
                    str(args.workers),
                    "--server",
                    args.server,
                    "--flush-interval-ms",
                    str(args.flush_ms),
                ),
            )
            gateway.start()
            assert gateway.proc is not None
            await asyncio.sleep(1.0)
            before = process_tree_rss_kb(gateway.proc.pid)
            load = subprocess.Popen(  # noqa: ASYNC220  (a bench driver, nothing else runs)
                [sys.executable, __file__, "clients", gateway.url, owner.token,
                 str(args.connections), str(args.messages)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert load.stdout is not None and load.stdin is not None
            assert load.stdout.readline().strip() == "ready"
            await asyncio.sleep(1.0)
            after = process_tree_rss_kb(gateway.proc.pid)
            load.stdin.write("go\n")
            load.stdin.flush()
            interval = 1.0 / args.rate
            next_at = time.perf_counter()
            for _ in range(args.messages):
                event = world.message_event(channel_id, owner, repr(time.time()))
                await world.publish(event)
                next_at += interval
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            result = json.loads(load.stdout.readline())
            load.wait(30)
        await world.close()
    finally:
        if gateway is not None:
            gateway.stop()
        pg.stop()
        nats_server.stop()
    return {
        "connections": args.connections,
        "messages": args.messages,
        "rate": args.rate,
        "workers": args.workers,
        "server": args.server,
        "flush_ms": args.flush_ms,
        "rss_per_idle_session_kb": round((after - before) / args.connections, 2),
        "deliveries_per_second": round(result["deliveries"] / result["seconds"]),
        "p50_ms": round(result["p50_ms"], 1),
        "p99_ms": round(result["p99_ms"], 1),
        "max_ms": round(result["max_ms"], 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--messages", type=int, default=300)
    parser.add_argument("--rate", type=float, default=1000.0, help="messages published per second")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--server", choices=["native", "picows"], default="native")
    parser.add_argument("--flush-ms", type=float, default=20.0)
    args = parser.parse_args()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    results = [asyncio.run(run(args)) for _ in range(args.runs)]
    for result in results:
        print(json.dumps(result))
    summary = {
        key: statistics.median(r[key] for r in results)
        for key in results[0]
        if isinstance(results[0][key], float | int)
    }
    out = HERE / "gateway_capacity.json"
    previous = json.loads(out.read_text()) if out.exists() else []
    out.write_text(json.dumps([*previous, {"median": summary, "runs": results}], indent=2) + "\n")
    return 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "clients":
        url, token, n, m = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
        asyncio.run(clients(url, token, n, m))
    else:
        os.environ.setdefault("PYTHONPATH", str(ROOT))
        raise SystemExit(main())
