"""Changes of roles, of a member's roles or of the owner that change which channels a member
can view reach that member's sessions as CHANNEL_DELETE / CHANNEL_CREATE, right after the
change itself and with the next sequence numbers."""

from __future__ import annotations

import asyncio
from typing import Any

from gochat.core import events, permissions, schemas
from gochat.ws.hub import Hub
from gochat.ws.session import Outbox, Session, State
from tests.unit.ws import fakes
from tests.unit.ws.fakes import GUILD_ID, OWNER_ID

GENERAL, STAFF_ROOM = 10, 11
STAFF = 500
MEMBER, OTHER = 2, 3
VIEW = int(permissions.Permission.VIEW_CHANNEL)


async def _hub(*, member_roles: list[int]) -> tuple[Hub, dict[int, fakes.RecordingTransport]]:
    tx = fakes.guild_tx(
        members={OWNER_ID: [], MEMBER: member_roles, OTHER: []}, channels=[GENERAL, STAFF_ROOM]
    )
    tx.roles.append(_role(STAFF, 0))
    tx.overwrites[STAFF_ROOM] = [
        permissions.Overwrite(GUILD_ID, "role", 0, VIEW),
        permissions.Overwrite(STAFF, "role", VIEW, 0),
    ]
    hub = Hub(directory=fakes.FakeDirectory(tx), replay=None)  # type: ignore[arg-type]
    outbox = Outbox(interval=0, queue_max=100, on_overflow=lambda s: None)
    transports = {}
    for user_id in (OWNER_ID, MEMBER, OTHER):
        session, transports[user_id] = fakes.live_session(outbox, user_id)
        hub.add_session(session)
        await hub.attach(session, [GUILD_ID])
    return hub, transports


def _event(event_type: str, payload: Any) -> events.Event:
    return events.build(
        event_type, payload, event_id=1000, scope="guild", scope_id=GUILD_ID, guild_id=GUILD_ID
    )


def _member(user_id: int, role_ids: list[int]) -> schemas.Member:
    user = schemas.User(id=user_id, username=f"u{user_id}", created_at=fakes.NOW)
    return schemas.Member(guild_id=GUILD_ID, user=user, role_ids=role_ids, joined_at=fakes.NOW)


def _role(role_id: int, bits: int) -> schemas.Role:
    return schemas.Role(id=role_id, guild_id=GUILD_ID, name="r", permissions=bits, position=1)


def _seen(transport: fakes.RecordingTransport) -> list[tuple[str, str | None, int]]:
    return [(f["t"], f["d"].get("id"), f["s"]) for f in transport.dispatches()]


async def test_a_member_given_a_role_gets_its_channel_created_after_the_update() -> None:
    hub, transports = await _hub(member_roles=[])
    hub.handle(1, _event("GUILD_MEMBER_UPDATE", _member(MEMBER, [STAFF])))
    await asyncio.sleep(0)
    assert _seen(transports[MEMBER]) == [
        ("GUILD_MEMBER_UPDATE", None, 1),
        ("CHANNEL_CREATE", str(STAFF_ROOM), 2),
    ]
    created = transports[MEMBER].dispatches()[1]["d"]
    assert created["name"] == f"c{STAFF_ROOM}" and len(created["overwrites"]) == 2
    assert [t for t, _, _ in _seen(transports[OTHER])] == ["GUILD_MEMBER_UPDATE"]
    assert [t for t, _, _ in _seen(transports[OWNER_ID])] == ["GUILD_MEMBER_UPDATE"]


async def test_a_member_losing_a_role_gets_its_channel_deleted_then_nothing_of_it() -> None:
    hub, transports = await _hub(member_roles=[STAFF])
    hub.handle(1, _event("GUILD_MEMBER_UPDATE", _member(MEMBER, [])))
    hub.handle(2, fakes.message(STAFF_ROOM, "secret", event_id=1001))
    await asyncio.sleep(0)
    assert _seen(transports[MEMBER]) == [
        ("GUILD_MEMBER_UPDATE", None, 1),
        ("CHANNEL_DELETE", str(STAFF_ROOM), 2),
    ]
    assert transports[MEMBER].dispatches()[1]["d"] == {
        "id": str(STAFF_ROOM),
        "guild_id": str(GUILD_ID),
    }


async def test_everyone_role_change_reaches_every_member_but_not_the_owner() -> None:
    hub, transports = await _hub(member_roles=[STAFF])
    no_view = int(permissions.DEFAULT_EVERYONE) & ~VIEW
    hub.handle(1, _event("GUILD_ROLE_UPDATE", _role(GUILD_ID, no_view)))
    await asyncio.sleep(0)
    assert _seen(transports[OTHER]) == [
        ("GUILD_ROLE_UPDATE", str(GUILD_ID), 1),
        ("CHANNEL_DELETE", str(GENERAL), 2),
    ]
    # The staff role still allows its own room; general is gone for the member too.
    assert _seen(transports[MEMBER])[1:] == [("CHANNEL_DELETE", str(GENERAL), 2)]
    assert [t for t, _, _ in _seen(transports[OWNER_ID])] == ["GUILD_ROLE_UPDATE"]


async def test_role_permission_change_affects_only_its_holders() -> None:
    hub, transports = await _hub(member_roles=[STAFF])
    # The staff role now grants VIEW at guild level: nothing changes (its room already allows).
    hub.handle(1, _event("GUILD_ROLE_UPDATE", _role(STAFF, VIEW)))
    await asyncio.sleep(0)
    assert [t for t, _, _ in _seen(transports[MEMBER])] == ["GUILD_ROLE_UPDATE"]
    assert [t for t, _, _ in _seen(transports[OTHER])] == ["GUILD_ROLE_UPDATE"]


async def test_deleting_a_role_hides_the_channels_it_revealed() -> None:
    hub, transports = await _hub(member_roles=[STAFF])
    hub.handle(1, _event("GUILD_ROLE_DELETE", events.RoleDeleted(guild_id=GUILD_ID, role_id=STAFF)))
    await asyncio.sleep(0)
    assert _seen(transports[MEMBER]) == [
        ("GUILD_ROLE_DELETE", None, 1),
        ("CHANNEL_DELETE", str(STAFF_ROOM), 2),
    ]
    assert [t for t, _, _ in _seen(transports[OTHER])] == ["GUILD_ROLE_DELETE"]


async def test_a_new_owner_sees_every_channel_and_the_old_one_loses_what_they_lack() -> None:
    hub, transports = await _hub(member_roles=[])
    guild = schemas.Guild(id=GUILD_ID, name="g", owner_id=MEMBER, created_at=fakes.NOW)
    hub.handle(1, _event("GUILD_UPDATE", guild))
    await asyncio.sleep(0)
    assert _seen(transports[MEMBER])[1:] == [("CHANNEL_CREATE", str(STAFF_ROOM), 2)]
    assert _seen(transports[OWNER_ID])[1:] == [("CHANNEL_DELETE", str(STAFF_ROOM), 2)]


async def test_the_created_channel_carries_its_latest_message_id() -> None:
    hub, transports = await _hub(member_roles=[])
    hub.handle(1, fakes.message(STAFF_ROOM, "before", event_id=4242))
    hub.handle(2, _event("GUILD_MEMBER_UPDATE", _member(MEMBER, [STAFF])))
    await asyncio.sleep(0)
    created = [f for f in transports[MEMBER].dispatches() if f["t"] == "CHANNEL_CREATE"]
    assert created[0]["d"]["last_message_id"] == "4242"


async def test_a_channel_update_that_reveals_the_channel_arrives_as_created() -> None:
    hub, transports = await _hub(member_roles=[STAFF])
    opened = schemas.Channel(
        id=STAFF_ROOM, type="text", guild_id=GUILD_ID, name="open now", created_at=fakes.NOW
    )
    hub.handle(1, _event("CHANNEL_UPDATE", opened))
    await asyncio.sleep(0)
    assert _seen(transports[OTHER]) == [("CHANNEL_CREATE", str(STAFF_ROOM), 1)]
    assert transports[OTHER].dispatches()[0]["d"]["name"] == "open now"
    assert _seen(transports[MEMBER]) == [("CHANNEL_UPDATE", str(STAFF_ROOM), 1)]


async def _identifying(hub: Hub) -> tuple[Session, fakes.RecordingTransport]:
    """A member's new session between READY and going live: it receives nothing live yet."""
    outbox = Outbox(interval=0, queue_max=100, on_overflow=lambda s: None)
    session, transport = fakes.live_session(outbox, MEMBER)
    session.state = State.CONNECTED
    hub.add_session(session)
    await hub.attach(session, [GUILD_ID])
    return session, transport


async def test_a_change_landing_while_a_session_identifies_ends_its_replay_with_corrections() -> (
    None
):
    hub, _ = await _hub(member_roles=[STAFF])
    session, transport = await _identifying(hub)
    told = {GUILD_ID: {GENERAL, STAFF_ROOM}}  # READY was read before the change
    hub.handle(1, _event("GUILD_MEMBER_UPDATE", _member(MEMBER, [])))
    hub.handle(2, fakes.message(GENERAL, "after", event_id=1001))
    assert await hub.catch_up(session, 0, told=told) == 2
    session.flush()
    assert _seen(transport) == [
        ("GUILD_MEMBER_UPDATE", None, 1),
        ("MESSAGE_CREATE", "1001", 2),
        ("CHANNEL_DELETE", str(STAFF_ROOM), 3),
    ]


async def test_a_ready_that_already_saw_the_change_gets_no_corrections() -> None:
    hub, _ = await _hub(member_roles=[STAFF])
    session, transport = await _identifying(hub)
    told = {GUILD_ID: {GENERAL}}  # READY was read after the change
    hub.handle(1, _event("GUILD_MEMBER_UPDATE", _member(MEMBER, [])))
    await hub.catch_up(session, 0, told=told)
    session.flush()
    assert [t for t, _, _ in _seen(transport)] == ["GUILD_MEMBER_UPDATE"]


async def test_a_resume_across_a_change_of_view_is_refused_with_nothing_sent() -> None:
    hub, _ = await _hub(member_roles=[STAFF])
    session, transport = await _identifying(hub)
    hub.handle(1, fakes.message(GENERAL, "before", event_id=1001))
    hub.handle(2, _event("GUILD_MEMBER_UPDATE", _member(MEMBER, [])))
    assert await hub.catch_up(session, 0, resuming=True) is None
    session.flush()
    assert transport.dispatches() == []
