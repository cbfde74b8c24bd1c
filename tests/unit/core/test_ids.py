from __future__ import annotations

import threading
import time

import pytest

from gochat.core import ids


def test_ids_are_unique_and_increasing_across_threads() -> None:
    generator = ids.SnowflakeGenerator(5)
    seen: list[list[int]] = [[] for _ in range(4)]

    def take(bucket: list[int]) -> None:
        bucket.extend(generator.next_id() for _ in range(5000))

    threads = [threading.Thread(target=take, args=(bucket,)) for bucket in seen]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [i for bucket in seen for i in bucket]
    assert len(set(everything)) == len(everything) == 20_000
    for bucket in seen:
        assert bucket == sorted(bucket)


def test_id_encodes_time_and_worker() -> None:
    before = time.time_ns() // 1_000_000
    snowflake = ids.SnowflakeGenerator(1023).next_id()
    after = time.time_ns() // 1_000_000
    assert before <= ids.timestamp_ms(snowflake) <= after
    assert (snowflake >> ids.SEQUENCE_BITS) & ids.MAX_WORKER_ID == 1023
    assert 0 < snowflake <= ids.MAX_ID


def test_bucket_is_a_ten_day_window() -> None:
    start = ids.smallest_id_at(ids.GOCHAT_EPOCH_MS + 3 * ids.BUCKET_MS)
    assert ids.bucket_of(start) == 3
    assert ids.bucket_of(ids.smallest_id_at(ids.GOCHAT_EPOCH_MS + 4 * ids.BUCKET_MS - 1)) == 3
    assert ids.bucket_of(ids.smallest_id_at(ids.GOCHAT_EPOCH_MS + 4 * ids.BUCKET_MS)) == 4


def test_worker_id_is_bounded() -> None:
    with pytest.raises(ValueError):
        ids.SnowflakeGenerator(1024)
    assert 0 <= ids.default_worker_id() <= ids.MAX_WORKER_ID


def test_a_generator_issues_no_id_once_its_lease_has_run_out() -> None:
    generator = ids.SnowflakeGenerator(5, valid_until=time.monotonic() + 60)
    generator.next_id()
    generator.lease(6, valid_until=time.monotonic() - 0.001)
    with pytest.raises(ids.WorkerIdLapsed, match="worker id 6"):
        generator.next_id()
    generator.lease(6, valid_until=time.monotonic() + 60)
    assert (generator.next_id() >> ids.SEQUENCE_BITS) & ids.MAX_WORKER_ID == 6
