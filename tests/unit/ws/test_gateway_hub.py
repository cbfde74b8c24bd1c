"""The hub routes each event to exactly the local sessions that may receive it, in stream
order, and catches starting sessions up without a gap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from gochat.core import events, permissions, schemas
from gochat.ws.hub import Hub
from gochat.ws.session import Outbox, Session, State
from tests.unit.ws import fakes
from tests.unit.ws.fakes import GUILD_ID, OWNER_ID

CHANNEL, PRIVATE = 10, 11
MEMBER = 2


async def _hub_with(*user_ids: int, replay=None) -> tuple[Hub, Outbox, dict[int, tuple]]:
    tx = fakes.guild_tx(members={OWNER_ID: [], MEMBER: [], 3: []}, channels=[CHANNEL, PRIVATE])
    tx.overwrites[PRIVATE] = [
        permissions.Overwrite(GUILD_ID, "role", 0, int(permissions.Permission.VIEW_CHANNEL))
    ]
    hub = Hub(directory=fakes.FakeDirectory(tx), replay=replay or _no_replay)  # type: ignore[arg-type]
    outbox = Outbox(
        interval=0, queue_max=100, on_overflow=lambda s: s.transport.close(4010, "slow")
    )
    sessions = {}
    for user_id in user_ids:
        session, transport = fakes.live_session(outbox, user_id)
        hub.add_session(session)
        await hub.attach(session, [GUILD_ID])
        sessions[user_id] = (session, transport)
    return hub, outbox, sessions


async def _no_replay(after: int, through: int) -> AsyncIterator[tuple[int, events.Event | None]]:
    raise AssertionError("the ring should have served this")
    yield  # pragma: no cover


def _contents(transport: fakes.RecordingTransport) -> list[str]:
    return [f["d"]["content"] for f in transport.dispatches() if f["t"] == "MESSAGE_CREATE"]


async def _settle(outbox: Outbox) -> None:
    await asyncio.sleep(0)  # the shared flush runs on the next loop tick


async def test_message_reaches_every_viewer_once_with_consecutive_sequences() -> None:
    hub, outbox, sessions = await _hub_with(OWNER_ID, MEMBER)
    for n in range(3):
        hub.handle(n + 1, fakes.message(CHANNEL, f"m{n}", event_id=1000 + n))
    await _settle(outbox)
    for _, transport in sessions.values():
        assert _contents(transport) == ["m0", "m1", "m2"]
        assert [f["s"] for f in transport.dispatches()] == [1, 2, 3]
        assert len(transport.writes) == 1  # coalesced into one write


async def test_private_channel_reaches_only_those_who_can_view_it() -> None:
    hub, outbox, sessions = await _hub_with(OWNER_ID, MEMBER)
    hub.handle(1, fakes.message(PRIVATE, "owner only", event_id=1000))
    await _settle(outbox)
    assert _contents(sessions[OWNER_ID][1]) == ["owner only"]
    assert _contents(sessions[MEMBER][1]) == []


async def test_overwrite_change_applies_to_the_next_event() -> None:
    hub, outbox, sessions = await _hub_with(OWNER_ID, MEMBER)
    channel = schemas.Channel(
        id=CHANNEL, type="text", guild_id=GUILD_ID, created_at=fakes.NOW,
        overwrites=[schemas.Overwrite(id=MEMBER, type="member", deny=1 << 10)],
    )  # fmt: skip
    hub.handle(1, fakes.message(CHANNEL, "before", event_id=1000))
    hub.handle(
        2, events.build("CHANNEL_UPDATE", channel, event_id=1001, scope="guild",
                        scope_id=GUILD_ID, guild_id=GUILD_ID, channel_id=CHANNEL)
    )  # fmt: skip
    hub.handle(3, fakes.message(CHANNEL, "after", event_id=1002))
    await _settle(outbox)
    assert _contents(sessions[MEMBER][1]) == ["before"]
    assert _contents(sessions[OWNER_ID][1]) == ["before", "after"]
    member_frames = sessions[MEMBER][1].dispatches()
    assert [(f["t"], f["s"]) for f in member_frames] == [
        ("MESSAGE_CREATE", 1),
        ("CHANNEL_DELETE", 2),
    ]
    assert member_frames[1]["d"] == {"id": str(CHANNEL), "guild_id": str(GUILD_ID)}


async def test_kicked_member_hears_the_kick_and_nothing_after() -> None:
    hub, outbox, sessions = await _hub_with(OWNER_ID, MEMBER)
    removed = events.MemberRemoved(guild_id=GUILD_ID, user_id=MEMBER, reason="kick")
    hub.handle(
        1, events.build("GUILD_MEMBER_REMOVE", removed, event_id=1000, scope="guild",
                        scope_id=GUILD_ID, guild_id=GUILD_ID)
    )  # fmt: skip
    hub.handle(2, fakes.message(CHANNEL, "after", event_id=1001))
    await _settle(outbox)
    member_types = [f["t"] for f in sessions[MEMBER][1].dispatches()]
    assert member_types == ["GUILD_MEMBER_REMOVE"]
    assert _contents(sessions[OWNER_ID][1]) == ["after"]
    assert GUILD_ID not in sessions[MEMBER][0].guild_ids


async def test_bans_reach_only_members_who_may_ban() -> None:
    hub, outbox, sessions = await _hub_with(OWNER_ID, MEMBER)
    user = schemas.User(id=3, username="x", created_at=fakes.NOW)
    ban = schemas.Ban(guild_id=GUILD_ID, user=user, created_at=fakes.NOW)
    hub.handle(
        1, events.build("GUILD_BAN_ADD", ban, event_id=1000, scope="guild", scope_id=GUILD_ID,
                        guild_id=GUILD_ID)
    )  # fmt: skip
    await _settle(outbox)
    assert [f["t"] for f in sessions[OWNER_ID][1].dispatches()] == ["GUILD_BAN_ADD"]
    assert sessions[MEMBER][1].dispatches() == []


async def test_typing_is_not_echoed_and_does_not_take_a_sequence() -> None:
    hub, outbox, sessions = await _hub_with(OWNER_ID, MEMBER)
    hub.handle(1, fakes.message(CHANNEL, "m", event_id=1000))
    typing = events.TypingStarted(channel_id=CHANNEL, guild_id=GUILD_ID, user_id=MEMBER,
                                  timestamp=0)  # fmt: skip
    hub.handle_ephemeral(
        events.build("TYPING_START", typing, event_id=1001, scope="guild", scope_id=GUILD_ID,
                     guild_id=GUILD_ID, channel_id=CHANNEL)
    )  # fmt: skip
    await _settle(outbox)
    owner_frames = sessions[OWNER_ID][1].dispatches()
    assert [(f["t"], f["s"]) for f in owner_frames] == [("MESSAGE_CREATE", 1), ("TYPING_START", 1)]
    assert [f["t"] for f in sessions[MEMBER][1].dispatches()] == ["MESSAGE_CREATE"]


async def test_catch_up_replays_from_the_ring_then_goes_live_without_gap() -> None:
    hub, outbox, _sessions = await _hub_with(OWNER_ID)
    for n in range(5):
        hub.handle(n + 1, fakes.message(CHANNEL, f"m{n}", event_id=1000 + n))
    late, transport = fakes.live_session(outbox, MEMBER)
    late.state = State.STARTING
    hub.add_session(late)
    await hub.attach(late, [GUILD_ID])
    replayed = await hub.catch_up(late, 2)
    hub.handle(6, fakes.message(CHANNEL, "live", event_id=2000))
    await _settle(outbox)
    assert replayed == 3
    assert _contents(transport) == ["m2", "m3", "m4", "live"]
    assert [f["s"] for f in transport.dispatches()] == [1, 2, 3, 4]


async def test_catch_up_reads_the_stream_when_the_ring_has_moved_on() -> None:
    asked: list[tuple[int, int]] = []

    async def from_stream(after: int, through: int):
        asked.append((after, through))
        for seq in range(after + 1, through + 1):
            yield seq, fakes.message(CHANNEL, f"old{seq}", event_id=3000 + seq)

    hub, outbox, _ = await _hub_with(OWNER_ID, replay=from_stream)
    hub.position = 20  # the ring is empty: everything must come from the stream
    late, transport = fakes.live_session(outbox, MEMBER)
    hub.add_session(late)
    await hub.attach(late, [GUILD_ID])
    assert await hub.catch_up(late, 18) == 2
    await _settle(outbox)
    assert asked == [(18, 20)]
    assert _contents(transport) == ["old19", "old20"]


async def test_a_new_member_starts_receiving_the_guild() -> None:
    tx = fakes.guild_tx(members={OWNER_ID: []}, channels=[CHANNEL])
    hub = Hub(directory=fakes.FakeDirectory(tx), replay=_no_replay)  # type: ignore[arg-type]
    outbox = Outbox(interval=0, queue_max=100, on_overflow=lambda s: None)
    newcomer, transport = fakes.live_session(outbox, 7)
    hub.add_session(newcomer)
    user = schemas.User(id=7, username="n", created_at=datetime.now(UTC))
    member = schemas.Member(guild_id=GUILD_ID, user=user, joined_at=datetime.now(UTC))
    hub.handle(
        1, events.build("GUILD_MEMBER_ADD", member, event_id=1000, scope="guild",
                        scope_id=GUILD_ID, guild_id=GUILD_ID)
    )  # fmt: skip
    await hub.settle()
    hub.handle(2, fakes.message(CHANNEL, "welcome", event_id=1001))
    await _settle(outbox)
    assert [f["t"] for f in transport.dispatches()] == ["GUILD_MEMBER_ADD", "MESSAGE_CREATE"]


async def test_full_queue_is_written_at_once_while_the_socket_drains() -> None:
    outbox = Outbox(interval=10, queue_max=3, on_overflow=lambda s: None)
    session, transport = fakes.live_session(outbox, 1)
    for n in range(4):
        session.push(b'{"op":0,"t":"X","d":null,"s":', n + 1)
    assert len(transport.frames()) == 4 and session.out == []


async def test_full_queue_on_a_backed_up_socket_is_too_slow() -> None:
    overflowed: list[Session] = []
    outbox = Outbox(interval=0, queue_max=3, on_overflow=overflowed.append)
    session, transport = fakes.live_session(outbox, 1)
    session.paused = True  # the socket is not draining
    for n in range(4):
        session.push(b'{"op":0,"t":"X","d":null,"s":', n + 1)
    assert overflowed == [session]
    await asyncio.sleep(0)
    assert transport.writes == []


async def test_a_new_dm_reaches_both_recipients_and_allows_typing() -> None:
    hub, outbox, sessions = await _hub_with(OWNER_ID, MEMBER, 3)
    dm = schemas.Channel(id=77, type="dm", recipient_ids=[OWNER_ID, MEMBER], created_at=fakes.NOW)
    hub.handle(
        1, events.build("CHANNEL_CREATE", dm, event_id=1000, scope="dm", scope_id=77,
                        channel_id=77, user_ids=[OWNER_ID, MEMBER])
    )  # fmt: skip
    await _settle(outbox)
    for user_id in (OWNER_ID, MEMBER):
        assert [f["t"] for f in sessions[user_id][1].dispatches()] == ["CHANNEL_CREATE"]
        assert sessions[user_id][0].dm_channels == {77: (OWNER_ID, MEMBER)}
    assert sessions[3][1].dispatches() == []


async def test_small_flushes_go_at_once_and_large_ones_earn_a_window() -> None:
    outbox = Outbox(interval=0.05, queue_max=100, on_overflow=lambda s: None)
    few = [fakes.live_session(outbox, n) for n in range(3)]
    for session, _ in few:  # the very first flush waits for the window
        session.push(b'{"op":0,"t":"X","d":null,"s":', 1)
    await asyncio.sleep(0.08)
    assert all(len(t.writes) == 1 for _, t in few)
    for session, _ in few:  # after a small flush: no window
        session.push(b'{"op":0,"t":"X","d":null,"s":', 2)
    await asyncio.sleep(0.001)
    assert all(len(t.writes) == 2 for _, t in few)
