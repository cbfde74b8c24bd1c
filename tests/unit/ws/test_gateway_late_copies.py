"""Late copies (an event re-published after the stream's duplicate window) are dropped by the
gateway's stream reader by their scope headers; events without the headers pass."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from gochat.adapters.nats import gateway_events
from gochat.core import events
from gochat.ws import late_copies, metrics


def _dropped_so_far() -> float:
    return metrics.LATE_COPIES._value.get()


def test_an_event_not_newer_than_the_last_of_its_scope_is_dropped_and_counted() -> None:
    order = late_copies.ScopeOrder()
    before = _dropped_so_far()
    assert order.admit(10, "guild:1", 5)
    assert order.admit(11, "guild:1", 7)  # seqs grow with gaps
    assert order.admit(12, "guild:2", 1)  # another scope: its own order
    assert not order.admit(13, "guild:1", 5)  # the late copy of the first
    assert not order.admit(14, "guild:1", 7)
    assert order.admit(15, "guild:1", 8)
    assert _dropped_so_far() - before == 2


def test_memory_is_bounded_by_forgetting_the_least_recently_seen_scope() -> None:
    order = late_copies.ScopeOrder(scopes=2)
    order.admit(1, "guild:1", 5)
    order.admit(2, "guild:2", 5)
    order.admit(3, "guild:1", 6)  # guild:1 seen again: guild:2 is now the oldest
    order.admit(4, "guild:3", 5)
    assert not order.admit(5, "guild:1", 6)  # still remembered
    assert order.admit(6, "guild:2", 5)  # forgotten: passes (the documented bound)


def test_a_replay_skips_what_the_live_reader_dropped_and_copies_within_its_range() -> None:
    order = late_copies.ScopeOrder()
    order.admit(10, "guild:1", 5)
    order.admit(11, "guild:1", 6)
    order.admit(12, "guild:1", 5)  # dropped live
    replay = order.for_replay()
    # A replay from position 10 on sees the same events again, in order.
    assert replay.admit(10, "guild:1", 5)
    assert replay.admit(11, "guild:1", 6)
    assert not replay.admit(12, "guild:1", 5)
    # A range this process never read live: a copy of an event earlier in the range.
    older = order.for_replay()
    assert older.admit(3, "dm:9", 2)
    assert not older.admit(4, "dm:9", 2)


def _msg(event: events.Event, position: int, headers: dict[str, str] | None) -> Any:
    return SimpleNamespace(
        data=event.model_dump_json().encode(),
        headers=headers,
        subject=event.subject,
        metadata=SimpleNamespace(sequence=SimpleNamespace(stream=position)),
    )


def _event() -> events.Event:
    payload = events.PresenceUpdated(user_id=1, status="online", last_seen=None)
    return events.build(
        "PRESENCE_UPDATE",
        payload,
        event_id=99,
        scope="guild",
        scope_id=7,
        guild_id=7,
    )


def test_the_stream_reader_hands_a_refused_event_on_as_none() -> None:
    order = late_copies.ScopeOrder()
    headers = {events.SCOPE_HEADER: "guild:7", events.OUTBOX_SEQ_HEADER: "3"}
    first = gateway_events._decode(_msg(_event(), 1, headers), order.admit)
    again = gateway_events._decode(_msg(_event(), 2, headers), order.admit)
    assert first[0] == 1 and first[1] is not None
    assert again == (2, None)  # its position still counts; nothing to deliver


def test_events_without_the_headers_pass() -> None:
    order = late_copies.ScopeOrder()
    for position in (1, 2):
        _, event = gateway_events._decode(_msg(_event(), position, None), order.admit)
        assert event is not None
    bad = {events.SCOPE_HEADER: "guild:7", events.OUTBOX_SEQ_HEADER: "x"}
    assert gateway_events._decode(_msg(_event(), 3, bad), order.admit)[1] is not None
