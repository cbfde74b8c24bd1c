"""The notification mail with messages on Cassandra: the sweep reads the unread messages from
Cassandra's timeline (read states and `last_message_id` stay in PostgreSQL), as it does from
PostgreSQL's (tests/integration/api/test_notification_mail.py covers the rest)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from gochat.adapters.cassandra import messages as cassandra_messages
from gochat.api.services import notifications
from tests.integration.api.conftest import Api
from tests.integration.api.test_notification_mail import notification_mails
from tests.integration.cassandra.test_api_on_cassandra import api_on_cassandra

__all__ = ["api_on_cassandra"]  # the fixture


async def test_an_unread_mention_on_cassandra_is_mailed_and_a_read_one_is_not(
    api_on_cassandra: Api,
) -> None:
    api = api_on_cassandra
    assert isinstance(api.ctx.messages, cassandra_messages.CassandraMessageStore)
    alice, bob, carol = await api.user(), await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(alice)
    await api.join(alice, bob, guild_id)
    await api.join(alice, carol, guild_id)
    for_bob = await alice.post(
        f"/channels/{channel_id}/messages", json={"content": f"<@{bob.id}> on cassandra"}
    )
    for_carol = await alice.post(
        f"/channels/{channel_id}/messages", json={"content": f"<@{carol.id}> read it"}
    )
    read = await carol.post(f"/channels/{channel_id}/messages/{for_carol.json()['id']}/ack")

    now = datetime.now(UTC) + timedelta(seconds=api.ctx.config.notification_mail_delay_seconds + 1)
    queued = await notifications.sweep_once(api.ctx, now=now)

    assert read.status_code == 200 and queued == 1
    [mail] = await notification_mails(api)
    assert mail["to"] == f"{bob.name}@example.com"
    assert f"@{bob.name} on cassandra" in mail["body"]
    assert mail["link"].endswith(f"/channels/{guild_id}/{channel_id}/{for_bob.json()['id']}")
