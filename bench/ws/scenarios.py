"""The loads, as the issue asks for them; `--smoke` shrinks every one so a run takes < 60 s.

- fanout:  K=1,000 clients over M=10 channels (100 per channel); 20,000 events published straight
           to JetStream as fast as the publisher can (as the API's relay would publish them):
           the pure fan-out comparison, deliveries/s.
- latency: K=1,000 over M=100 channels (10 per channel); 1,000 events/s for 10 s straight to
           JetStream (both targets), then, for the gateway only, messages through the API
           (POST /channels/{id}/messages -> outbox -> relay -> JetStream -> gateway) offered at
           1,000/s (10,000, stopped after 40 s) and at 100/s (15 s): send->deliver latency.
- idle:    K=10,000 over M=100 channels, held for `hold_s`: connections held and RSS per idle
           connection ((RSS after - RSS before) / connections, all target processes).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Load:
    name: str
    mode: str  # "nats" or "api"
    count: int
    rate: float  # messages/s; 0 = as fast as the publisher can
    max_seconds: float
    max_inflight: int = 512
    targets: tuple[str, ...] = ("anchor", "gochat")


@dataclass(frozen=True)
class Scenario:
    name: str
    clients: int
    channels: int
    hold_s: float = 3.0
    loads: list[Load] = field(default_factory=list)


def full() -> list[Scenario]:
    return [
        Scenario("fanout", 1000, 10, loads=[Load("fanout", "nats", 20_000, 0, max_seconds=60)]),
        Scenario(
            "latency",
            1000,
            100,
            loads=[
                Load("latency-jetstream", "nats", 10_000, 1000, max_seconds=30),
                Load(
                    "latency-api",
                    "api",
                    10_000,
                    1000,
                    max_seconds=40,
                    max_inflight=64,
                    targets=("gochat",),
                ),
                # What the API path costs when the API is not the bottleneck.
                Load(
                    "latency-api-100",
                    "api",
                    1500,
                    100,
                    max_seconds=20,
                    max_inflight=64,
                    targets=("gochat",),
                ),
            ],
        ),
        Scenario("idle", 10_000, 100, hold_s=20.0),
    ]


def smoke() -> list[Scenario]:
    return [
        Scenario("fanout", 100, 5, hold_s=1, loads=[Load("fanout", "nats", 500, 0, 20)]),
        Scenario(
            "latency",
            100,
            10,
            hold_s=1,
            loads=[
                Load("latency-jetstream", "nats", 200, 200, max_seconds=10),
                Load(
                    "latency-api",
                    "api",
                    100,
                    100,
                    max_seconds=10,
                    max_inflight=16,
                    targets=("gochat",),
                ),
            ],
        ),
        Scenario("idle", 300, 10, hold_s=1),
    ]
