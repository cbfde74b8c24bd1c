"""The fan-out loop (`session.deliver`): every recipient gets a well-formed frame with its own
sequence number, whatever the lengths involved, and a session's queue stays bounded."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from gochat.core import config
from gochat.ws import protocol, session
from gochat.ws.session import Outbox, Session, State
from tests.unit.ws import fakes


def _head(size: int) -> bytes:
    return protocol.dispatch_head("MESSAGE_CREATE", orjson.dumps({"content": "x" * size}))


@pytest.mark.parametrize("size", [0, 80, 200, 70_000])
async def test_every_recipient_gets_its_own_sequence_across_digit_and_header_lengths(
    size: int,
) -> None:
    outbox = Outbox(interval=0, queue_max=1000, on_overflow=lambda s: None)
    sessions = [fakes.live_session(outbox, n) for n in range(3)]
    sessions[1][0].point.seq = 8  # crosses 9 -> 10 during the run
    sessions[2][0].point.seq = 98  # crosses 99 -> 100
    head = _head(size)
    for stream_seq in range(1, 4):
        assert session.deliver([s for s, _ in sessions], head, stream_seq) == 3
    await asyncio.sleep(0)
    expected = {0: [1, 2, 3], 1: [9, 10, 11], 2: [99, 100, 101]}
    for index, (_, transport) in enumerate(sessions):
        frames = transport.dispatches()
        assert [f["s"] for f in frames] == expected[index]
        assert all(len(f["d"]["content"]) == size for f in frames)
        assert len(transport.writes) == 1  # one write per connection per flush


async def test_ephemeral_dispatches_repeat_the_current_sequence() -> None:
    outbox = Outbox(interval=0, queue_max=100, on_overflow=lambda s: None)
    live, transport = fakes.live_session(outbox, 1)
    session.deliver([live], _head(5), 7)
    session.deliver([live], _head(5), None)
    await asyncio.sleep(0)
    assert [f["s"] for f in transport.dispatches()] == [1, 1]
    assert live.point.positions == [7]


async def test_only_live_sessions_that_were_not_replayed_the_event_get_it() -> None:
    outbox = Outbox(interval=0, queue_max=100, on_overflow=lambda s: None)
    ready, starting, closing, replayed = (fakes.live_session(outbox, n) for n in range(4))
    starting[0].state = State.STARTING
    closing[0].closing = True
    replayed[0].skip_through = 5
    everyone = [ready[0], starting[0], closing[0], replayed[0]]
    assert session.deliver(everyone, _head(5), 5) == 1
    assert session.deliver(everyone, _head(5), 6) == 2
    await asyncio.sleep(0)
    assert [f["s"] for f in ready[1].dispatches()] == [1, 2]
    assert [f["s"] for f in replayed[1].dispatches()] == [1]
    assert starting[1].writes == [] and closing[1].writes == []


async def test_a_backed_up_socket_holds_at_most_send_queue_max_frames_then_is_too_slow() -> None:
    overflowed: list[Session] = []

    def too_slow(slow: Session) -> None:
        overflowed.append(slow)
        slow.out = []
        slow.closing = True

    outbox = Outbox(interval=10, queue_max=5, on_overflow=too_slow)
    slow, transport = fakes.live_session(outbox, 1)
    slow.paused = True
    for stream_seq in range(1, 6):
        session.deliver([slow], _head(100), stream_seq)
    assert overflowed == [] and len(slow.out) == 2 * 5  # five frames, two pieces each
    session.deliver([slow], _head(100), 6)
    assert overflowed == [slow] and slow.out == []
    session.deliver([slow], _head(100), 7)  # closing: nothing more is queued
    assert slow.out == [] and transport.writes == []


def test_the_configured_flush_window_defaults_to_the_gateways_own() -> None:
    # The config key is what `gochat ws` uses; the constant is GatewayProcess's own default.
    assert config.WsConfig().flush_interval_ms == session.FLUSH_INTERVAL_SECONDS * 1000
