"""Resume points map the sequence numbers a client may still hold to stream positions."""

from __future__ import annotations

from gochat.ws.session import ResumePoint


def test_each_sequence_maps_to_the_position_it_was_sent_for() -> None:
    point = ResumePoint(seq=1, base_seq=1, base_pos=10)
    for stream_seq in (12, 15, 20):
        point.record(stream_seq, limit=100)
    assert [point.position_for(s) for s in range(1, 5)] == [10, 12, 15, 20]
    assert point.position_for(0) is None and point.position_for(5) is None


def test_heartbeat_trims_what_the_client_confirmed() -> None:
    point = ResumePoint(seq=1, base_seq=1, base_pos=10)
    for stream_seq in (12, 15, 20):
        point.record(stream_seq, limit=100)
    point.trim_to(3)
    assert point.position_for(2) is None
    assert point.position_for(3) == 15 and point.position_for(4) == 20
    assert len(point.positions) == 1


def test_length_is_bounded() -> None:
    point = ResumePoint(seq=0, base_seq=0, base_pos=0)
    for stream_seq in range(1, 1001):
        point.record(stream_seq, limit=10)
    assert 5 <= len(point.positions) <= 10
    assert point.position_for(995) == 995 and point.position_for(989) is None


def test_round_trips_through_a_record() -> None:
    point = ResumePoint(seq=1, base_seq=1, base_pos=10)
    point.record(11, limit=10)
    assert ResumePoint.from_dict(point.to_dict()) == point
