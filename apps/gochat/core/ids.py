"""Snowflake ids: time-ordered 64-bit integers, and the time bucket a message id falls into.

Layout (as Discord's): 42 bits of milliseconds since GOCHAT_EPOCH_MS, 10 bits worker, 12 bits
sequence. Ids sort by creation time, so `before`/`after` paging is an index range scan and the
Cassandra timeline can partition by `bucket_of(id)`.
"""

from __future__ import annotations

import math
import os
import socket
import threading
import time
import zlib
from datetime import UTC, datetime

from gochat.core import errors

GOCHAT_EPOCH_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
WORKER_BITS = 10
SEQUENCE_BITS = 12
MAX_WORKER_ID = (1 << WORKER_BITS) - 1
MAX_SEQUENCE = (1 << SEQUENCE_BITS) - 1
MAX_ID = (1 << 63) - 1  # fits PostgreSQL bigint and Cassandra bigint
BUCKET_MS = 10 * 24 * 3600 * 1000  # ten days per timeline partition


class WorkerIdLapsed(errors.Unavailable):
    """The lease on this process's worker id ran out (its store was unreachable for too long),
    or none is held yet: another process may hold the id, so no id is issued until the lease
    is renewed. Answered 503 with Retry-After: the request changed nothing."""

    def __init__(self, message: str) -> None:
        super().__init__(message, headers={"Retry-After": "1"})


class SnowflakeGenerator:
    """Thread-safe id source for one process; ids from distinct workers never collide.

    `valid_until` (time.monotonic()) bounds the use of a leased worker id (worker_lease.py
    moves it on at each renewal); past it `next_id` raises WorkerIdLapsed.
    """

    def __init__(self, worker_id: int, *, valid_until: float = math.inf) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._sequence = 0
        self.lease(worker_id, valid_until=valid_until)

    @property
    def worker_id(self) -> int:
        return self._worker_id

    def lease(self, worker_id: int, *, valid_until: float) -> None:
        """Issue ids with `worker_id` until `valid_until` (a renewed or a newly leased id)."""
        if not 0 <= worker_id <= MAX_WORKER_ID:
            raise ValueError(f"worker_id must be within 0..{MAX_WORKER_ID}")
        with self._lock:
            self._worker_id, self._valid_until = worker_id, valid_until

    def check(self) -> None:
        """Raises WorkerIdLapsed when `next_id` would."""
        if time.monotonic() >= self._valid_until:
            raise WorkerIdLapsed(f"the lease on worker id {self._worker_id} has run out")

    def next_id(self) -> int:
        with self._lock:
            self.check()
            now = _now_ms()
            # A clock that steps back must not produce ids that sort before ones already issued.
            now = max(now, self._last_ms)
            if now == self._last_ms:
                self._sequence = (self._sequence + 1) & MAX_SEQUENCE
                if self._sequence == 0:
                    now = self._wait_next_ms(now)
            else:
                self._sequence = 0
            self._last_ms = now
            return (
                ((now - GOCHAT_EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS))
                | (self._worker_id << SEQUENCE_BITS)
                | self._sequence
            )

    def _wait_next_ms(self, now: int) -> int:
        while now <= self._last_ms:
            time.sleep(0.0001)
            now = _now_ms()
        return now


def default_worker_id() -> int:
    """A worker id from host name and pid, for tools and test data only: two processes may
    draw the same one. The services lease theirs instead (see worker_lease.py)."""
    seed = f"{socket.gethostname()}:{os.getpid()}".encode()
    return zlib.crc32(seed) & MAX_WORKER_ID


def timestamp_ms(snowflake: int) -> int:
    return (snowflake >> (WORKER_BITS + SEQUENCE_BITS)) + GOCHAT_EPOCH_MS


def created_at(snowflake: int) -> datetime:
    return datetime.fromtimestamp(timestamp_ms(snowflake) / 1000, tz=UTC)


def bucket_of(snowflake: int) -> int:
    """The timeline partition (ten-day window since the epoch) a message id belongs to."""
    return (timestamp_ms(snowflake) - GOCHAT_EPOCH_MS) // BUCKET_MS


def smallest_id_at(when_ms: int) -> int:
    """The lowest id that could be issued at `when_ms`: turns a timestamp into a paging bound."""
    return max(0, when_ms - GOCHAT_EPOCH_MS) << (WORKER_BITS + SEQUENCE_BITS)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
