"""Dropping late copies of events: an event re-published after the stream's duplicate window is
stored again, and applying it again would bring back old state (an edit undone, a member who
left back in a guild's state).

The outbox relay sets two headers on every event it publishes (core/events.py): its scope
(`guild:123`) and its outbox seq, which grows with commit order within the scope. The stream
holds each scope's events in that order, so an event whose seq is not above the highest one
already read for its scope is a late copy. Events without the headers (older publishers, the
gateway's own presence events) always pass.
"""

from __future__ import annotations

import collections

from gochat.ws import metrics

# Scopes remembered (least recently seen forgotten first; not when a guild is deleted, since a
# late GUILD_CREATE would bring it back): a late copy of a scope forgotten meanwhile passes.
# ~100 bytes each.
SCOPES_REMEMBERED = 100_000
# Stream positions of the late copies dropped live, kept so a replay skips them too.
DROPS_REMEMBERED = 10_000


class ScopeOrder:
    """The highest outbox seq read per scope, on the live stream (`admit`), and the positions it
    dropped there, for replays (`for_replay`)."""

    def __init__(self, *, scopes: int = SCOPES_REMEMBERED, drops: int = DROPS_REMEMBERED) -> None:
        self._capacity = scopes
        self._last: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._dropped: set[int] = set()
        self._drop_order: collections.deque[int] = collections.deque()
        self._drops_capacity = drops

    def admit(self, position: int, scope: str, seq: int) -> bool:
        """Whether the event at stream `position` (of `scope`, outbox seq `seq`) is new."""
        last = self._last.get(scope)
        if last is not None and seq <= last:
            self._drop(position)
            return False
        self._last[scope] = seq
        self._last.move_to_end(scope)
        if len(self._last) > self._capacity:
            self._last.popitem(last=False)
        return True

    def for_replay(self) -> ReplayOrder:
        return ReplayOrder(self._dropped)

    def _drop(self, position: int) -> None:
        metrics.LATE_COPIES.inc()
        self._dropped.add(position)
        self._drop_order.append(position)
        if len(self._drop_order) > self._drops_capacity:
            self._dropped.discard(self._drop_order.popleft())


class ReplayOrder:
    """One replay of a range of the stream: drops what the live reader dropped, and a late copy
    whose original is earlier in the same range (a range older than this process's own reading
    has only that to go by)."""

    def __init__(self, dropped_live: set[int]) -> None:
        self._dropped_live = dropped_live
        self._last: dict[str, int] = {}

    def admit(self, position: int, scope: str, seq: int) -> bool:
        last = self._last.get(scope)
        if position in self._dropped_live or (last is not None and seq <= last):
            return False
        self._last[scope] = seq
        return True
