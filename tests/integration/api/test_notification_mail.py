"""Notification mail: a mention or direct message still unread after the delay is mailed, once,
in one mail per user; read, opted out, or out of sight: no mail. Each sweep is run at a chosen
`now` (the delay has passed, or not), so nothing here waits for a clock."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from gochat.adapters.postgres import mail_queue
from gochat.api import metrics as api_metrics
from gochat.api.app import build_app
from gochat.api.services import notifications
from gochat.auth import mail_sender, metrics
from tests.integration.api.conftest import Api, User, api_config, error_of

DELAY = timedelta(seconds=900)  # the default
SETTINGS = "/users/@me/notification-settings"


def later() -> datetime:
    """A moment when everything sent so far is older than the delay."""
    return datetime.now(UTC) + DELAY + timedelta(seconds=1)


async def notification_mails(api: Api) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(api.dsn)
    try:
        rows = await conn.fetch(
            "SELECT recipient, variables FROM mail_queue WHERE kind = 'notification' ORDER BY id"
        )
    finally:
        await conn.close()
    return [{"to": r["recipient"], **json.loads(r["variables"])} for r in rows]


async def send(user: User, channel_id: str, content: str) -> dict[str, Any]:
    response = await user.post(f"/channels/{channel_id}/messages", json={"content": content})
    assert response.status_code in (200, 201), response.text
    message: dict[str, Any] = response.json()
    return message


async def guild_pair(api: Api) -> tuple[User, User, str, str]:
    """alice owns a guild, bob is a member; (alice, bob, guild id, #general's id)."""
    alice, bob = await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(alice)
    await api.join(alice, bob, guild_id)
    return alice, bob, guild_id, channel_id


async def test_an_unread_mention_is_mailed_once_with_an_excerpt_and_a_link(api: Api) -> None:
    alice, bob, guild_id, channel_id = await guild_pair(api)
    message = await send(alice, channel_id, f"hey <@{bob.id}>, could you review   the deploy?")
    await send(alice, channel_id, "an unrelated message")

    early = await notifications.sweep_once(api.ctx, now=datetime.now(UTC) + DELAY / 2)
    queued = await notifications.sweep_once(api.ctx, now=later())
    again = await notifications.sweep_once(api.ctx, now=later() + DELAY * 2)

    assert (early, queued, again) == (0, 1, 0)
    [mail] = await notification_mails(api)
    link = f"http://127.0.0.1:8080/channels/{guild_id}/{channel_id}/{message['id']}"
    assert mail["to"] == f"{bob.name}@example.com"
    assert mail["username"] == bob.name
    assert mail["title"] == "You have 1 unread message on GoChat"
    assert f"{alice.name} in #general" in mail["body"]
    assert f"hey @{bob.name}, could you review the deploy?" in mail["body"]
    assert link in mail["body"] and mail["link"] == link
    assert "unrelated" not in mail["body"]


async def test_a_mention_read_before_the_delay_is_not_mailed(api: Api) -> None:
    alice, bob, _, channel_id = await guild_pair(api)
    message = await send(alice, channel_id, f"<@{bob.id}> ping")
    acked = await bob.post(f"/channels/{channel_id}/messages/{message['id']}/ack", json={})
    assert acked.status_code == 200, acked.text

    assert await notifications.sweep_once(api.ctx, now=later()) == 0
    assert await notification_mails(api) == []


async def test_a_user_who_turned_mail_off_gets_none(api: Api) -> None:
    alice, bob, _, channel_id = await guild_pair(api)
    turned = await bob.patch(SETTINGS, json={"email_notifications": False})
    await send(alice, channel_id, f"<@{bob.id}> ping")

    assert await notifications.sweep_once(api.ctx, now=later()) == 0
    assert turned.status_code == 200 and turned.json() == {"email_notifications": False}
    assert (await bob.get(SETTINGS)).json() == {"email_notifications": False}
    assert await notification_mails(api) == []


async def test_mentions_and_direct_messages_go_in_one_mail_per_user(api: Api) -> None:
    alice, bob, _, channel_id = await guild_pair(api)
    dm = (await alice.post("/users/@me/channels", json={"recipient_id": str(bob.id)})).json()
    await send(alice, channel_id, f"first <@{bob.id}>")
    await send(alice, dm["id"], "a direct word")
    await send(alice, channel_id, f"second <@{bob.id}>")
    await send(bob, dm["id"], "bob's own reply is not news to bob")

    assert await notifications.sweep_once(api.ctx, now=later()) == 2  # bob's, and alice's
    mails = {mail["to"]: mail for mail in await notification_mails(api)}
    to_bob, to_alice = mails[f"{bob.name}@example.com"], mails[f"{alice.name}@example.com"]
    assert to_bob["title"] == "You have 3 unread messages on GoChat"
    assert to_bob["body"].count("\n\n") == 2
    assert "in a direct message: a direct word" in to_bob["body"]
    assert f"/channels/@me/{dm['id']}/" in to_bob["body"]
    assert "not news" not in to_bob["body"]
    assert to_alice["title"] == "You have 1 unread message on GoChat"
    assert "not news" in to_alice["body"]


async def test_what_arrives_after_a_mail_waits_for_the_next_window(api: Api) -> None:
    alice, bob, _, channel_id = await guild_pair(api)
    await send(alice, channel_id, f"<@{bob.id}> one")
    first_sweep = later()
    assert await notifications.sweep_once(api.ctx, now=first_sweep) == 1
    await send(alice, channel_id, f"<@{bob.id}> two")

    # Within a delay of the first mail: bob rests, though "two" is old enough by then.
    resting = await notifications.sweep_once(
        api.ctx, now=first_sweep + DELAY - timedelta(seconds=1)
    )
    next_window = await notifications.sweep_once(api.ctx, now=first_sweep + DELAY * 2)

    assert (resting, next_window) == (0, 1)
    bodies = [mail["body"] for mail in await notification_mails(api)]
    assert ["one" in b for b in bodies] == [True, False]
    assert ["two" in b for b in bodies] == [False, True]


async def test_no_mail_about_a_channel_the_user_can_no_longer_view(api: Api) -> None:
    alice, bob, guild_id, channel_id = await guild_pair(api)
    await send(alice, channel_id, f"<@{bob.id}> ping")
    left = await bob.delete(f"/guilds/{guild_id}/members/@me")
    assert left.status_code == 204, left.text

    assert await notifications.sweep_once(api.ctx, now=later()) == 0
    assert await notification_mails(api) == []


async def test_two_replicas_sweeping_at_once_queue_one_mail(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Replica A holds bob's round (paused after reading his unread messages) while replica B
    sweeps: B skips bob; A's mail commits; B sweeping again finds nothing owed."""
    alice, bob, _, channel_id = await guild_pair(api)
    await send(alice, channel_id, f"<@{bob.id}> ping")
    inside, release = asyncio.Event(), asyncio.Event()
    collect: Callable[..., Awaitable[Any]] = notifications._collect

    async def paused_collect(*args: Any, **kwargs: Any) -> Any:
        result = await collect(*args, **kwargs)
        if not inside.is_set():
            inside.set()
            await release.wait()
        return result

    monkeypatch.setattr(notifications, "_collect", paused_collect)
    now = later()
    replica_a = asyncio.create_task(notifications.sweep_once(api.ctx, now=now))
    await asyncio.wait_for(inside.wait(), timeout=10)
    while_a_decides = await asyncio.wait_for(notifications.sweep_once(api.ctx, now=now), 10)
    release.set()
    by_a = await replica_a
    after_a = await notifications.sweep_once(api.ctx, now=now)

    assert (by_a, while_a_decides, after_a) == (1, 0, 0)
    assert len(await notification_mails(api)) == 1


@pytest.mark.parametrize(
    "body",
    [{"email_notifications": "no"}, {"email_notifications": 0}, {"email_notifications": None}],
)
async def test_bad_settings_are_refused_naming_the_field_and_change_nothing(
    api: Api, body: dict[str, Any]
) -> None:
    bob = await api.user()
    assert (await bob.patch(SETTINGS, json={"email_notifications": False})).status_code == 200

    response = await bob.patch(SETTINGS, json=body)

    assert response.status_code == 422
    assert "email_notifications" in json.dumps(error_of(response))
    assert (await bob.get(SETTINGS)).json() == {"email_notifications": False}


async def test_an_unknown_setting_is_refused(api: Api) -> None:
    bob = await api.user()
    response = await bob.patch(SETTINGS, json={"email_notification": False})

    assert response.status_code == 422
    assert "email_notification" in json.dumps(error_of(response))
    assert (await bob.get(SETTINGS)).json() == {"email_notifications": True}


class RecordingMailer:
    def __init__(self) -> None:
        self.sent: list[Any] = []

    async def send(self, mail: Any) -> None:
        self.sent.append(mail)


async def deliver_queued_mail(api: Api) -> RecordingMailer:
    """What auth's mail sender does with the queue now (its own loop is not running here)."""
    mailer = RecordingMailer()
    sender = mail_sender.MailSender(
        mail_queue.MailQueue(api.ctx.db),
        mailer,
        policy=mail_sender.QueuePolicy(),
        clock=lambda: datetime.now(UTC) + DELAY * 4,
    )
    await sender.deliver_due()
    return mailer


async def test_a_queued_mail_whose_messages_were_all_read_meanwhile_is_not_sent(api: Api) -> None:
    """The sender's turn may come long after the mail was queued (a relay outage)."""
    alice, bob, _, channel_id = await guild_pair(api)
    first = await send(alice, channel_id, f"<@{bob.id}> one")
    await send(alice, channel_id, f"<@{bob.id}> two")
    assert await notifications.sweep_once(api.ctx, now=later()) == 1
    dropped = metrics.MAIL_DELIVERIES.labels("notification", "dropped")._value.get()

    # Read up to the first message only: the mail still tells bob something.
    await bob.post(f"/channels/{channel_id}/messages/{first['id']}/ack", json={})
    partly_read = await deliver_queued_mail(api)

    # The next window's mail, then everything read before the sender's turn: dropped, unsent.
    third = await send(alice, channel_id, f"<@{bob.id}> three")
    assert await notifications.sweep_once(api.ctx, now=later() + DELAY * 2) == 1
    await bob.post(f"/channels/{channel_id}/messages/{third['id']}/ack", json={})
    all_read = await deliver_queued_mail(api)

    assert [mail.variables["title"] for mail in partly_read.sent] == [
        "You have 2 unread messages on GoChat"
    ]
    assert all_read.sent == []
    assert metrics.MAIL_DELIVERIES.labels("notification", "dropped")._value.get() == dropped + 1
    assert await notification_mails(api) == []  # the dropped row is gone, nothing pending


async def test_users_another_sweeper_holds_do_not_keep_the_next_ones_waiting(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Found users are taken a page at a time (here 2): two users held by another sweeper fill
    the first page, and the third still gets their mail in the same sweep."""
    monkeypatch.setattr(notifications, "USERS_PER_SWEEP", 2)
    alice = await api.user()
    guild_id, channel_id = await api.guild_with_channel(alice)
    held = [await api.user(), await api.user()]
    third = await api.user()
    for user in (*held, third):
        await api.join(alice, user, guild_id)
        await send(alice, channel_id, f"<@{user.id}> ping")
    conn = await asyncpg.connect(api.dsn)
    try:
        await conn.execute(
            "INSERT INTO notification_mail_state (user_id) SELECT unnest($1::bigint[])",
            [user.id for user in held],
        )
        async with conn.transaction():  # another sweeper, deciding for the first two
            await conn.execute(
                "SELECT 1 FROM notification_mail_state WHERE user_id = ANY($1) FOR UPDATE",
                [user.id for user in held],
            )
            queued = await notifications.sweep_once(api.ctx, now=later())
    finally:
        await conn.close()

    assert queued == 1
    assert [mail["to"] for mail in await notification_mails(api)] == [f"{third.name}@example.com"]


async def test_a_round_that_fails_for_one_user_leaves_the_others_served_and_is_retried(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob, guild_id, channel_id = await guild_pair(api)
    carol = await api.user()
    await api.join(alice, carol, guild_id)
    await send(alice, channel_id, f"<@{bob.id}> <@{carol.id}> ping")
    collect: Callable[..., Awaitable[Any]] = notifications._collect
    failures = [bob.id]

    async def failing_once_for_bob(ctx: Any, unread: Any, **kwargs: Any) -> Any:
        if unread[0].user_id in failures:
            failures.remove(unread[0].user_id)
            raise ConnectionError("message store unreachable")
        return await collect(ctx, unread, **kwargs)

    monkeypatch.setattr(notifications, "_collect", failing_once_for_bob)
    failed_before = api_metrics.NOTIFICATION_ROUNDS_FAILED._value.get()
    first = await notifications.sweep_once(api.ctx, now=later())
    after_first = [mail["to"] for mail in await notification_mails(api)]
    second = await notifications.sweep_once(api.ctx, now=later())

    assert (first, second) == (1, 1)
    assert api_metrics.NOTIFICATION_ROUNDS_FAILED._value.get() == failed_before + 1
    assert after_first == [f"{carol.name}@example.com"]
    assert len(await notification_mails(api)) == 2


async def test_two_api_processes_sweeping_together_queue_one_mail_per_user(
    api: Api, nats_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second API app on the same database (another replica). Replica A pauses in its first
    user's round; replica B sweeps everyone meanwhile; then A goes on: five mails in all."""
    alice = await api.user()
    guild_id, channel_id = await api.guild_with_channel(alice)
    users = [await api.user() for _ in range(5)]
    for user in users:
        await api.join(alice, user, guild_id)
    await send(alice, channel_id, " ".join(f"<@{user.id}>" for user in users))
    inside, release = asyncio.Event(), asyncio.Event()
    collect: Callable[..., Awaitable[Any]] = notifications._collect

    async def a_pauses_once(ctx: Any, unread: Any, **kwargs: Any) -> Any:
        result = await collect(ctx, unread, **kwargs)
        if ctx is api.ctx and not inside.is_set():
            inside.set()
            await release.wait()
        return result

    monkeypatch.setattr(notifications, "_collect", a_pauses_once)
    replica_b = build_app(api_config(api.dsn, nats_server.url))
    async with replica_b.router.lifespan_context(replica_b):
        now = later()
        by_a = asyncio.create_task(notifications.sweep_once(api.ctx, now=now))
        await asyncio.wait_for(inside.wait(), timeout=10)
        by_b = await asyncio.wait_for(
            notifications.sweep_once(replica_b.state.ctx, now=now), timeout=10
        )
        release.set()
        queued = (await by_a, by_b)

    assert queued == (1, 4)
    recipients = sorted(mail["to"] for mail in await notification_mails(api))
    assert recipients == sorted(f"{user.name}@example.com" for user in users)
