"""The gateway's cheap decoding of stream events agrees with the full validation."""

from __future__ import annotations

import pytest

from gochat.adapters.nats import gateway_events
from gochat.core import events
from tests.unit.ws import fakes


def test_trusted_decoding_matches_full_validation() -> None:
    event = fakes.message(10, "hello", event_id=123)
    raw = event.model_dump_json().encode()
    fast, full = gateway_events.decode_trusted(raw), events.parse(raw)
    for field in ("id", "type", "scope", "scope_id", "guild_id", "channel_id", "user_ids"):
        assert getattr(fast, field) == getattr(full, field), field
    assert fast.data == full.data


def test_unknown_types_are_refused() -> None:
    raw = fakes.message(10, "x", event_id=1).model_dump_json().replace("MESSAGE_CREATE", "NOPE")
    with pytest.raises(ValueError, match="unknown event type"):
        gateway_events.decode_trusted(raw.encode())
