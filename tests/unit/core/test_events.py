from __future__ import annotations

from datetime import UTC, datetime

import pytest

from gochat.core import events, schemas


def _user() -> schemas.User:
    return schemas.User(id=5, username="u", created_at=datetime.now(UTC))


def test_build_and_parse_round_trip_with_subject() -> None:
    event = events.build("USER_UPDATE", _user(), event_id=9, scope="user", scope_id=5, user_ids=[5])
    assert event.subject == "gochat.ev.user.5.USER_UPDATE"
    parsed = events.parse(event.model_dump_json())
    assert parsed == event and parsed.data["id"] == "5"
    assert isinstance(events.payload_of(parsed), schemas.User)


def test_typing_is_ephemeral() -> None:
    assert events.subject_for("guild", 1, "TYPING_START").startswith(events.EPHEMERAL_PREFIX)


def test_payload_must_match_the_registry() -> None:
    with pytest.raises(TypeError):
        events.build("GUILD_DELETE", _user(), event_id=1, scope="guild", scope_id=1)
    with pytest.raises(ValueError):
        events.build("NOT_A_TYPE", _user(), event_id=1, scope="guild", scope_id=1)


def test_every_registered_type_has_a_model() -> None:
    assert all(isinstance(name, str) and name.isupper() for name in events.EVENT_PAYLOADS)
    assert "MESSAGE_CREATE" in events.EVENT_PAYLOADS
