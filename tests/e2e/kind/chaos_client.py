"""The client side of the chaos scenario, run in a Job on the GoChat image (self-contained: only
what the image holds). Kept apart from the test, which deletes pods meanwhile.

Listeners (gateway clients, one per token in LISTENERS) identify through the ws Service and
resume on a new connection whenever theirs drops. A sender posts COUNT messages with a nonce
each, retrying a failed post with the same nonce until it is acknowledged. Then the listeners
read until every acknowledged message arrived (or a deadline), the channel's history is read
back whole, and the outbox is polled until it is empty. One JSON line of results at the end.
"""

import asyncio
import collections
import json
import os
import sys
import time

import asyncpg
import httpx

from gochat.client import gateway

API, WS = os.environ["API"], os.environ["WS"]
CHANNEL = os.environ["CHANNEL"]
SENDER = os.environ["SENDER"]
LISTENERS = json.loads(os.environ["LISTENERS"])
COUNT = int(os.environ.get("COUNT", "120"))
INTERVAL = float(os.environ.get("INTERVAL", "0.25"))


def say(*parts: object) -> None:
    print(f"{time.strftime('%H:%M:%S')}", *parts, flush=True)


class Listener:
    def __init__(self, token: str) -> None:
        self.token = token
        self.received: list[str] = []
        self.resumes = 0
        self.reidentified = 0
        self.gaps = 0

    async def connect(self) -> gateway.GatewayClient:
        while True:
            try:
                client = await gateway.GatewayClient.connect(WS)
                await client.identify(self.token)
                return client
            except (TimeoutError, OSError, gateway.GatewayClosed) as error:
                say("identify failed, retrying:", repr(error))
                await asyncio.sleep(0.5)

    async def reconnect(self, client: gateway.GatewayClient) -> gateway.GatewayClient:
        while True:
            try:
                again, replayed = await client.resume_elsewhere(WS, self.token)
            except gateway.InvalidSession:
                self.reidentified += 1  # events of the dead session are lost to this client
                say("session not resumable: identifying again")
                return await self.connect()
            except (TimeoutError, OSError, gateway.GatewayClosed) as error:
                say("resume failed, retrying:", repr(error))
                await asyncio.sleep(0.5)
                continue
            self.resumes += 1
            self.take(replayed)
            return again

    def take(self, events: list[gateway.Dispatch]) -> None:
        self.received += [e.d["id"] for e in events if e.t == "MESSAGE_CREATE"]

    async def run(self, stop: asyncio.Event, ready: asyncio.Event) -> None:
        client = await self.connect()
        ready.set()
        while not stop.is_set():
            try:
                event = await client.next_dispatch(timeout=0.5)
            except TimeoutError:
                continue
            except (gateway.GatewayClosed, gateway.InvalidSession) as error:
                say("listener connection ended:", repr(error))
                self.gaps += client.gaps
                client = await self.reconnect(client)
                continue
            self.take([event])
        self.gaps += client.gaps
        await client.close()


async def send(api: httpx.AsyncClient) -> list[str]:
    acked: list[str] = []
    headers = {"Authorization": f"Bearer {SENDER}"}
    for n in range(COUNT):
        body = {"content": f"chaos {n}", "nonce": f"chaos-{n}"}
        deadline = time.monotonic() + 90
        while True:
            try:
                answer = await api.post(f"/channels/{CHANNEL}/messages", json=body, headers=headers)
                if answer.status_code in (200, 201):
                    acked.append(answer.json()["id"])
                    break
                say(f"post {n}: {answer.status_code} {answer.text[:200]}")
            except httpx.HTTPError as error:
                say(f"post {n}: {error!r}")
            if time.monotonic() > deadline:
                raise SystemExit(f"message {n} was never acknowledged")
            await asyncio.sleep(0.5)
        if n % 20 == 0:
            say(f"acked {n + 1}")
        await asyncio.sleep(INTERVAL)
    return acked


async def history(api: httpx.AsyncClient) -> list[tuple[str, str]]:
    """(id, content) of every message in the channel, oldest first."""
    stored: list[tuple[str, str]] = []
    after = "1"  # ids are positive snowflakes: every message comes after 1
    headers = {"Authorization": f"Bearer {SENDER}"}
    while True:
        page = await api.get(
            f"/channels/{CHANNEL}/messages",
            params={"after": after, "limit": 100},
            headers=headers,
        )
        page.raise_for_status()
        batch = [(m["id"], m["content"]) for m in page.json()]
        if not batch:
            return stored
        stored += batch
        after = max((message_id for message_id, _ in batch), key=int)


async def outbox_rows(deadline: float) -> int:
    conn = await asyncpg.connect(os.environ["DSN"])
    try:
        while True:
            rows = await conn.fetchval("SELECT count(*) FROM outbox")
            if rows == 0 or time.monotonic() > deadline:
                return int(rows)
            await asyncio.sleep(1)
    finally:
        await conn.close()


async def main() -> None:
    listeners = [Listener(token) for token in LISTENERS]
    stop = asyncio.Event()
    readies = [asyncio.Event() for _ in listeners]
    tasks = [
        asyncio.create_task(listener.run(stop, ready))
        for listener, ready in zip(listeners, readies, strict=True)
    ]
    for ready in readies:
        await ready.wait()
    say("LISTENING")
    async with httpx.AsyncClient(base_url=API, timeout=15) as api:
        acked = await send(api)
        say(f"SENT {len(acked)}")
        for _ in range(180):  # up to 90 s for the last deliveries
            if all(set(acked) <= set(listener.received) for listener in listeners):
                break
            await asyncio.sleep(0.5)
        await asyncio.sleep(2)  # late duplicates, if any, arrive now
        stop.set()
        await asyncio.gather(*tasks)
        stored = await history(api)
    result = {
        "acked": acked,
        "history": stored,
        "outbox_rows": await outbox_rows(time.monotonic() + 60),
        "listeners": [
            {
                "received": collections.Counter(listener.received),
                "resumes": listener.resumes,
                "reidentified": listener.reidentified,
                "gaps": listener.gaps,
            }
            for listener in listeners
        ],
    }
    print("RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
