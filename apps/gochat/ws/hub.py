"""Routing events to local sessions: who may receive each event, encoded once, in stream order.

One hub per gateway process reads the whole event stream (one task). For each event it updates
the guild's access state, finds the local audience and queues the same encoded frame for each
(only the sequence number differs). Sessions that are starting or resuming are brought up to
the hub's position by `catch_up` from a ring of recent events (or the stream itself), and go
live without a gap: the last check and the switch to live happen with no await in between.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence

import orjson
import prometheus_client

from gochat.adapters.postgres.directory import Directory
from gochat.core import events, ids
from gochat.ws import metrics, protocol, visibility
from gochat.ws import session as session_module
from gochat.ws.guild_state import AUDIENCE_BEFORE_APPLY, GuildState
from gochat.ws.session import Session, State

log = logging.getLogger(__name__)
RECENT_EVENTS = 8192
Replay = Callable[[int, int], AsyncIterator[tuple[int, events.Event | None]]]


class Hub:
    def __init__(self, *, directory: Directory, replay: Replay, position: int = 0) -> None:
        self._directory = directory
        self._replay = replay
        self.position = position
        self.by_user: dict[int, set[Session]] = {}
        self.guilds: dict[int, GuildState] = {}
        self._loads: dict[int, asyncio.Task[None]] = {}
        self._recent_seqs: deque[int] = deque(maxlen=RECENT_EVENTS)
        self._recent: deque[events.Event] = deque(maxlen=RECENT_EVENTS)
        self._joins: list[asyncio.Task[None]] = []
        self._dispatch_counters: dict[str, prometheus_client.Counter] = {}
        self._delivery_latency = metrics.DeliveryLatency()

    # --- sessions -----------------------------------------------------------------------------

    def add_session(self, session: Session) -> None:
        self.by_user.setdefault(session.user_id, set()).add(session)

    async def attach(self, session: Session, guild_ids: Iterable[int]) -> None:
        """Subscribe `session` to its guilds, loading their state and the user's roles."""
        waits = []
        for guild_id in guild_ids:
            state = self._guild(guild_id)
            if session.user_id not in state.members:
                state.members[session.user_id] = None
                waits.append(self._load_member(state, session.user_id))
            waits.append(self._loaded(guild_id))
            state.sessions.add(session)
            state.invalidate()
            session.guild_ids.add(guild_id)
        await asyncio.gather(*waits)

    def remove_session(self, session: Session) -> None:
        sessions = self.by_user.get(session.user_id)
        if sessions is not None:
            sessions.discard(session)
            if not sessions:
                del self.by_user[session.user_id]
        for guild_id in list(session.guild_ids):
            self._leave(guild_id, session)

    def _leave(self, guild_id: int, session: Session) -> None:
        session.guild_ids.discard(guild_id)
        state = self.guilds.get(guild_id)
        if state is None:
            return
        state.sessions.discard(session)
        state.invalidate()
        if not any(s.user_id == session.user_id for s in state.sessions):
            state.members.pop(session.user_id, None)
        if not state.sessions and not state.loading:
            del self.guilds[guild_id]

    # --- guild state --------------------------------------------------------------------------

    def _guild(self, guild_id: int) -> GuildState:
        state = self.guilds.get(guild_id)
        if state is None:
            state = self.guilds[guild_id] = GuildState(guild_id)
            self._loads[guild_id] = asyncio.create_task(self._load_guild(state))
        return state

    async def _loaded(self, guild_id: int) -> None:
        task = self._loads.get(guild_id)
        if task is not None:
            await asyncio.shield(task)

    async def _load_guild(self, state: GuildState) -> None:
        try:
            try:
                async with self._directory.read("ws_load_guild") as tx:
                    guild = await tx.get_guild(state.guild_id)
                    roles = await tx.list_roles(state.guild_id)
                    channels = await tx.list_channels(state.guild_id)
            except BaseException:
                # Forget the half-loaded guild (its backlog too): the next attach retries.
                if self.guilds.get(state.guild_id) is state:
                    del self.guilds[state.guild_id]
                for session in state.sessions:
                    session.guild_ids.discard(state.guild_id)
                raise
            state.load(owner_id=guild.owner_id if guild else 0, roles=roles, channels=channels)
            backlog, state.backlog = state.backlog, []
            for seq, event in backlog:
                self._deliver_guild(state, event, seq)
        finally:
            self._loads.pop(state.guild_id, None)

    async def _load_member(self, state: GuildState, user_id: int) -> None:
        async with self._directory.read("ws_load_member") as tx:
            member = await tx.get_member(state.guild_id, user_id)
        # An event that arrived meanwhile is at least as new as what was read: it wins.
        if state.members.get(user_id, ()) is None:
            state.members[user_id] = tuple(member.role_ids) if member else None
            state.invalidate()

    # --- the stream ---------------------------------------------------------------------------

    def handle(self, seq: int, event: events.Event | None) -> None:
        """One event from the stream, in order."""
        self.position = seq
        if event is None:
            return
        self._recent_seqs.append(seq)
        self._recent.append(event)
        self._route(event, seq)

    async def settle(self) -> None:
        """Wait for guild loads started by joins, so the stream reader delivers the next event
        only after the joined guild's backlog (per-session order must follow stream order)."""
        joins, self._joins = self._joins, []
        for task in joins:
            await asyncio.shield(task)

    def handle_ephemeral(self, event: events.Event) -> None:
        self._route(event, None)

    def _route(self, event: events.Event, seq: int | None) -> None:
        if event.scope == "guild":
            self._guild_event(event, seq)
            return
        audience: set[Session] = set()
        sender = event.data.get("user_id") if seq is None else None
        for user_id in self._recipient_ids(event):
            if str(user_id) != sender:
                audience.update(self.by_user.get(user_id, ()))
        if event.type == "CHANNEL_CREATE" and event.scope == "dm":
            recipients = tuple(int(u) for u in event.data.get("recipient_ids", []))
            for session in audience:  # typing in the new DM is allowed at once
                session.dm_channels[event.scope_id] = recipients
        if audience:
            self._send(audience, event, seq)

    def _recipient_ids(self, event: events.Event) -> Iterable[int]:
        if event.scope == "user":
            return {event.scope_id, *event.user_ids}
        return event.user_ids

    def _guild_event(self, event: events.Event, seq: int | None) -> None:
        if seq is not None and event.type in ("GUILD_MEMBER_ADD", "GUILD_CREATE"):
            self._join_from(event)
        state = self.guilds.get(event.scope_id)
        if state is None:
            return
        if state.loading:
            state.backlog.append((seq, event))
            return
        self._deliver_guild(state, event, seq)

    def _join_from(self, event: events.Event) -> None:
        """A local user joined (or created) a guild: their live sessions start receiving it."""
        data = event.data
        user_id = int(data["user"]["id"] if event.type == "GUILD_MEMBER_ADD" else data["owner_id"])
        sessions = self.by_user.get(user_id)
        if not sessions:
            return
        state = self._guild(event.scope_id)
        if event.scope_id in self._loads:
            self._joins.append(self._loads[event.scope_id])
        role_ids = data.get("role_ids", []) if event.type == "GUILD_MEMBER_ADD" else []
        state.members[user_id] = tuple(int(r) for r in role_ids)
        for session in sessions:
            state.sessions.add(session)
            session.guild_ids.add(event.scope_id)
        state.invalidate()

    def _deliver_guild(self, state: GuildState, event: events.Event, seq: int | None) -> None:
        seen_before: dict[int, set[int]] = {}
        if seq is None:
            audience: Sequence[Session] = state.audience(event)
            sender = event.data.get("user_id")
            if sender is not None:
                audience = [s for s in audience if str(s.user_id) != sender]
        elif event.type in AUDIENCE_BEFORE_APPLY:
            audience = list(state.audience(event))
            state.apply(event)
        elif event.type == "CHANNEL_UPDATE":
            could_view = set(state.audience(event))
            state.apply(event)
            audience = state.audience(event)
            self._channel_hidden(could_view.difference(audience), event, seq)
            audience = self._channel_revealed(audience, could_view, event, seq)
        elif event.type in visibility.ACCESS_EVENTS:
            seen_before = visibility.visible_before(state, visibility.affected_users(state, event))
            state.apply(event)
            audience = state.audience(event)
        else:
            state.apply(event)
            audience = state.audience(event)
        if audience:
            self._send(audience, event, seq)
        if seen_before:  # after the change itself, as a client would expect
            for sessions, head, derived_type in visibility.channel_changes(state, seen_before):
                self._push(sessions, head, derived_type, seq)
        if event.type == "GUILD_MEMBER_REMOVE" and seq is not None:
            user_id = int(event.data["user_id"])
            for session in [s for s in state.sessions if s.user_id == user_id]:
                self._leave(state.guild_id, session)
        elif event.type == "GUILD_DELETE" and seq is not None:
            for session in list(state.sessions):
                self._leave(state.guild_id, session)
            self.guilds.pop(state.guild_id, None)

    def _channel_hidden(self, lost: set[Session], event: events.Event, seq: int | None) -> None:
        """Who can no longer view an updated channel sees it go, as if it were deleted."""
        if lost:
            gone = events.ChannelDeleted(id=int(event.data["id"]), guild_id=event.guild_id)
            head = protocol.dispatch_head("CHANNEL_DELETE", protocol.model_json(gone))
            self._push(lost, head, "CHANNEL_DELETE", seq)

    def _channel_revealed(
        self,
        audience: Sequence[Session],
        could_view: set[Session],
        event: events.Event,
        seq: int | None,
    ) -> Sequence[Session]:
        """Who can newly view an updated channel sees it arrive, as if it were created; returns
        the rest of the audience (they get the update)."""
        revealed = [s for s in audience if s not in could_view]
        if not revealed:
            return audience
        head = protocol.dispatch_head("CHANNEL_CREATE", orjson.dumps(event.data))
        self._push(revealed, head, "CHANNEL_CREATE", seq)
        return [s for s in audience if s in could_view]

    def _send(self, audience: Iterable[Session], event: events.Event, seq: int | None) -> None:
        head = protocol.dispatch_head(event.type, orjson.dumps(event.data))
        count = self._push(audience, head, event.type, seq)
        if count and seq is not None and event.type == "MESSAGE_CREATE":
            # Wall clocks on both sides: the id's milliseconds are the API's time.time() when
            # it created the message, and no monotonic clock compares across hosts.
            created = ids.timestamp_ms(int(event.data["id"])) / 1000
            self._delivery_latency.record(event.scope, time.time() - created, count)

    def _push(
        self, audience: Iterable[Session], head: bytes, event_type: str, seq: int | None
    ) -> int:
        count = session_module.deliver(audience, head, seq)
        counter = self._dispatch_counters.get(event_type)
        if counter is None:
            counter = self._dispatch_counters[event_type] = metrics.DISPATCHES.labels(event_type)
        counter.inc(count)
        return count

    # --- catching up --------------------------------------------------------------------------

    def may_receive(self, session: Session, event: events.Event) -> bool:
        """The same decision `_route` makes, for one session (used when replaying)."""
        if event.scope == "guild":
            if event.scope_id not in session.guild_ids:
                return False
            state = self.guilds.get(event.scope_id)
            return (
                state is not None
                and not state.loading
                and state.may_receive(event, session.user_id)
            )
        return session.user_id in self._recipient_ids(event)

    async def catch_up(
        self,
        session: Session,
        after: int,
        *,
        resuming: bool = False,
        told: Mapping[int, set[int]] | None = None,
    ) -> int | None:
        """Replay to `session` what it may receive after stream position `after`, then make it
        live; returns how many events were replayed.

        The CHANNEL_CREATE / CHANNEL_DELETE that a change of access produced live cannot be
        rebuilt from the guild as it is now. So when an event in between may have changed
        which channels the session can view: with `told` (guild -> the channel ids the client
        was told, READY's list) the replay ends with the corrections from that list to what
        it can view now; when `resuming` (what the client holds is unknown) it returns None,
        having sent nothing, and the client must identify again."""
        heads: list[tuple[bytes, int]] = []
        view_changed = False
        position = after
        while position < self.position:
            target = self.position
            async for seq, event in self._events_between(position, target):
                if event is None:
                    continue
                if self._changes_view(session, event):
                    if resuming:
                        return None
                    view_changed = True
                if self.may_receive(session, event):
                    heads.append(
                        (protocol.dispatch_head(event.type, orjson.dumps(event.data)), seq)
                    )
            position = target
        # No await from the loop's last check to here: nothing can slip in between.
        for head, seq in heads:
            session.push(head, seq)
        if view_changed and told is not None:
            for guild_id in sorted(session.guild_ids):
                state = self.guilds.get(guild_id)
                if state is not None:
                    was = told.get(guild_id, set())
                    for head in visibility.corrections(state, session.user_id, was):
                        session.push(head, position)
        session.skip_through = max(position, after)
        if session.state is not State.DETACHED:
            session.state = State.LIVE
        return len(heads)

    def _changes_view(self, session: Session, event: events.Event) -> bool:
        if event.scope != "guild" or event.scope_id not in session.guild_ids:
            return False
        state = self.guilds.get(event.scope_id)
        return state is None or visibility.may_change_view(state, session.user_id, event)

    async def _events_between(
        self, after: int, through: int
    ) -> AsyncIterator[tuple[int, events.Event | None]]:
        seqs = self._recent_seqs
        if seqs and seqs[0] <= after + 1:
            start = bisect.bisect_right(seqs, after)
            for index in range(start, len(seqs)):
                seq = seqs[index]
                if seq > through:
                    return
                yield seq, self._recent[index]
            return
        async for item in self._replay(after, through):
            yield item
