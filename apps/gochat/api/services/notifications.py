"""Notification mail, as Discord and Mattermost send it: a user mentioned (`<@id>`) or sent a
direct message who has not read it `notification_mail_delay_seconds` later gets ONE mail
summarising what is unread, with an excerpt and a link for each message.

Where it runs: a PostgreSQL-driven sweep in every API process (docs/api.md, "Notification
mail", says why not a JetStream consumer). Each sweep finds users with unread mentions or
direct messages old enough (`channels.last_message_id` past their read state), then decides
per user inside one transaction holding the user's row lock (SKIP LOCKED): it reads the unread
messages from the message store, keeps those that mention the user (or are a direct message to
them) in channels the user can still view, and queues one mail in auth's mail queue together
with the per-channel cursors and the time of the mail. Hence:
- never one mail per message: one mail per user per sweep, and none again for
  `notification_mail_delay_seconds` after it (what arrives meanwhile goes in the next one);
- read state checked when the mail is decided, in the same transaction: a message read by then
  is not in it, and a user who read everything gets none;
- several replicas and restarts: the lock, the cursors and the mail commit together, so a
  message is mailed about at most once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gochat import ports
from gochat.adapters import mail_templates
from gochat.adapters.postgres import notifications
from gochat.api import metrics
from gochat.api.context import ApiContext
from gochat.api.services import access
from gochat.core import errors, ids, schemas

log = logging.getLogger(__name__)

LOOKBACK = timedelta(days=1)  # older unread messages are not worth a mail any more
MAX_LISTED = 10  # messages quoted in one mail; the rest are counted
EXCERPT_CHARS = 200
PAGE = 50  # messages read per channel per round
USERS_PER_SWEEP = 100
_MENTION = re.compile(r"<@!?(\d{1,19})>")


@dataclass(frozen=True, slots=True)
class Unread:
    channel: notifications.UnreadChannel
    message: ports.MessageRecord


def window_at(now: datetime, *, delay: timedelta) -> notifications.Window:
    def id_at(moment: datetime) -> int:
        return ids.smallest_id_at(int(moment.timestamp() * 1000))

    return notifications.Window(
        due_through_id=id_at(now - delay),
        floor_id=id_at(now - delay - LOOKBACK),
        resting_since=now - delay,
    )


async def sweep_once(ctx: ApiContext, *, now: datetime) -> int:
    """Decide for every user who may be owed a mail at `now`; the number of mails queued."""
    delay = timedelta(seconds=ctx.config.notification_mail_delay_seconds)
    window = window_at(now, delay=delay)
    store = notifications.Notifications(ctx.db)
    queued, after_user_id = 0, 0
    while True:
        # Pages by user id: a user whose unread messages are not old enough yet is found
        # again next sweep, and must not keep those after them from their turn.
        users = await store.users_to_consider(
            window, after_user_id=after_user_id, limit=USERS_PER_SWEEP
        )
        for user_id in users:
            try:
                queued += await _decide(ctx, store, user_id, window=window, now=now)
            except Exception:  # rolled back; this user is tried again next sweep, others now
                metrics.NOTIFICATION_ROUNDS_FAILED.inc()
                log.exception("notification mail round failed", extra={"user_id": user_id})
        if len(users) < USERS_PER_SWEEP:
            return queued
        after_user_id = users[-1]


async def _decide(
    ctx: ApiContext,
    store: notifications.Notifications,
    user_id: int,
    *,
    window: notifications.Window,
    now: datetime,
) -> int:
    """One user's round: 1 when a mail was queued."""
    async with store.user_round(user_id, window) as round_:
        if round_ is None:
            return 0
        due, cursors = await _collect(ctx, round_.unread, window=window)
        mail = await _digest(ctx, due) if due else None
        about = [(u.message.channel_id, u.message.id) for u in due]
        await round_.finish(mail=mail, about=about, cursors=cursors, now=now)
    if mail is None:
        return 0
    metrics.NOTIFICATION_MAILS_QUEUED.inc()  # committed
    return 1


async def run(ctx: ApiContext, *, clock: Callable[[], datetime] | None = None) -> None:
    """Sweep every `notification_mail_sweep_seconds` until cancelled; a failure is logged."""
    now = clock or (lambda: datetime.now(UTC))
    while True:
        await asyncio.sleep(ctx.config.notification_mail_sweep_seconds)
        try:
            await sweep_once(ctx, now=now())
        except Exception:
            log.exception("notification mail sweep failed")


def start(ctx: ApiContext) -> asyncio.Task[None]:
    return asyncio.create_task(run(ctx), name="notification-mail")


async def stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _collect(
    ctx: ApiContext,
    unread: list[notifications.UnreadChannel],
    *,
    window: notifications.Window,
) -> tuple[list[Unread], dict[int, int]]:
    """The messages worth mailing about, and per channel the newest message dealt with."""
    due: list[Unread] = []
    cursors: dict[int, int] = {}
    for channel in unread:
        if not await _can_view(ctx, channel):
            cursors[channel.channel_id] = channel.last_message_id  # nothing here, ever
            continue
        page = await ctx.messages.list(channel.channel_id, after=channel.after_id, limit=PAGE)
        for message in sorted(page, key=lambda m: m.id):
            if message.id >= window.due_through_id:
                break  # not old enough yet, nor is anything after it
            if _concerns(message, channel):
                due.append(Unread(channel, message))
            cursors[channel.channel_id] = message.id
    return due, cursors


def _concerns(message: ports.MessageRecord, channel: notifications.UnreadChannel) -> bool:
    if message.author_id == channel.user_id:
        return False
    return channel.guild_id is None or channel.user_id in message.mention_ids


async def _can_view(ctx: ApiContext, channel: notifications.UnreadChannel) -> bool:
    async with ctx.directory.read("notification_access") as tx:
        try:
            await access.channel_access(tx, channel.channel_id, channel.user_id)
        except (errors.NotFound, errors.Forbidden):
            return False
    return True


async def _digest(ctx: ApiContext, due: list[Unread]) -> ports.OutgoingMail:
    due.sort(key=lambda each: each.message.id)
    listed = due[:MAX_LISTED]
    wanted = {u.message.author_id for u in listed}
    for each in listed:
        wanted.update(int(m) for m in _MENTION.findall(each.message.content))
    async with ctx.directory.read("notification_names") as tx:
        users = await tx.get_users(list(wanted))
    lines = [_line(ctx, each, users) for each in listed]
    if len(due) > len(listed):
        lines.append(f"... and {len(due) - len(listed)} more.")
    first = due[0]
    count = len(due)
    return notification(
        to=first.channel.email,
        username=first.channel.username,
        title=f"You have {count} unread message{'s' if count != 1 else ''} on GoChat",
        body="\n\n".join(lines),
        link=message_link(ctx.config.public_url, first.message),
    )


def _line(ctx: ApiContext, each: Unread, users: dict[int, schemas.User]) -> str:
    author = _name(users.get(each.message.author_id))
    where = (
        "in a direct message"
        if each.channel.guild_id is None
        else f"in #{each.channel.channel_name} ({each.channel.guild_name})"
    )
    return (
        f"{author} {where}: {excerpt(each.message.content, users)}\n"
        f"{message_link(ctx.config.public_url, each.message)}"
    )


def _name(user: schemas.User | None) -> str:
    if user is None:
        return "someone"
    return user.display_name or user.username


def excerpt(content: str, users: dict[int, schemas.User]) -> str:
    """The message on one line, mentions as @names, cut at EXCERPT_CHARS."""

    def named(match: re.Match[str]) -> str:
        return "@" + _name(users.get(int(match.group(1))))

    text = " ".join(_MENTION.sub(named, content).split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1].rstrip() + "…"


def message_link(public_url: str, message: ports.MessageRecord) -> str:
    """Where the web client shows `message` (Discord's shape: @me for direct messages)."""
    guild = message.guild_id if message.guild_id is not None else "@me"
    return f"{public_url.rstrip('/')}/channels/{guild}/{message.channel_id}/{message.id}"


def notification(
    *, to: str, username: str, title: str, body: str, link: str, locale: str = "en"
) -> ports.OutgoingMail:
    """The notification mail: its template's variables (`mail_templates.NOTIFICATION`)."""
    return ports.OutgoingMail(
        to=to,
        kind=mail_templates.NOTIFICATION,
        variables={"username": username, "title": title, "body": body, "link": link},
        locale=locale,
    )


async def get_settings(ctx: ApiContext, *, user_id: int) -> bool:
    return await notifications.Notifications(ctx.db).email_notifications(user_id)


async def set_email_notifications(ctx: ApiContext, *, user_id: int, enabled: bool) -> bool:
    return await notifications.Notifications(ctx.db).set_email_notifications(
        user_id, enabled=enabled
    )
