"""The notification mail's pure parts: which messages concern a user, the excerpt, the link,
and the sweep's window as message ids."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gochat import ports
from gochat.adapters.postgres import notifications as pg_notifications
from gochat.api.services import notifications
from gochat.core import ids, schemas

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
BOB = schemas.User(id=2, username="bob", display_name="Bob B.", created_at=NOW)


def message(**fields: object) -> ports.MessageRecord:
    values: dict[str, object] = {
        "id": 1000,
        "channel_id": 10,
        "guild_id": 5,
        "author_id": 1,
        "content": "hello",
        "created_at": NOW,
    }
    return ports.MessageRecord(**(values | fields))  # type: ignore[arg-type]


def unread(*, guild_id: int | None) -> pg_notifications.UnreadChannel:
    return pg_notifications.UnreadChannel(
        user_id=2,
        email="bob@example.com",
        username="bob",
        channel_id=10,
        guild_id=guild_id,
        channel_name="general" if guild_id else None,
        guild_name="guild" if guild_id else None,
        after_id=0,
        last_message_id=1000,
    )


def test_a_guild_message_concerns_only_the_users_it_mentions_and_never_its_author() -> None:
    in_guild = unread(guild_id=5)
    in_dm = unread(guild_id=None)

    assert notifications._concerns(message(mention_ids=(2,)), in_guild)
    assert not notifications._concerns(message(mention_ids=(3,)), in_guild)
    assert not notifications._concerns(message(mention_everyone=True), in_guild)
    assert notifications._concerns(message(guild_id=None), in_dm)
    assert not notifications._concerns(message(guild_id=None, author_id=2), in_dm)


def test_the_excerpt_is_one_line_with_names_for_mentions_and_cut_at_its_limit() -> None:
    users = {2: BOB}

    assert notifications.excerpt("hi <@2>,\n\n  look <@!9>", users) == "hi @Bob B., look @someone"
    long = notifications.excerpt("x" * 500, users)
    assert len(long) == notifications.EXCERPT_CHARS and long.endswith("…")


def test_the_link_points_at_the_message_with_at_me_for_direct_messages() -> None:
    assert (
        notifications.message_link("https://chat.example/", message())
        == "https://chat.example/channels/5/10/1000"
    )
    assert (
        notifications.message_link("https://chat.example", message(guild_id=None))
        == "https://chat.example/channels/@me/10/1000"
    )


def test_the_window_turns_the_delay_and_look_back_into_message_ids() -> None:
    delay = timedelta(minutes=15)
    window = notifications.window_at(NOW, delay=delay)
    due_ms = int((NOW - delay).timestamp() * 1000)

    assert window.due_through_id == ids.smallest_id_at(due_ms)
    assert ids.smallest_id_at(due_ms - 1) < window.due_through_id
    assert window.floor_id == ids.smallest_id_at(
        int((NOW - delay - notifications.LOOKBACK).timestamp() * 1000)
    )
    assert window.resting_since == NOW - delay
