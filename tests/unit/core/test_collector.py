"""The services' garbage-collector settings."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gochat.core import collector


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_collector")
def test_startup_objects_leave_the_collections_and_young_ones_are_collected_less_often() -> None:
    gc.unfreeze()
    collector.freeze_startup_heap()
    assert gc.get_freeze_count() > 0
    assert gc.get_threshold()[0] == collector.YOUNG_GENERATION_THRESHOLD
