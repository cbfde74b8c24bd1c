"""What `core.permissions` needs to decide access, in as few round trips as possible."""

from __future__ import annotations

import json
from dataclasses import dataclass

from gochat.adapters.postgres.directory.base import USER_FIELDS, Queries, user_from
from gochat.core import permissions, schemas


class AccessQueries(Queries):
    async def member_context(self, guild_id: int, user_id: int) -> permissions.MemberContext | None:
        """The member's roles and the guild's owner and @everyone; None for a non-member."""
        rows = await self.conn.fetch(
            """
            SELECT g.owner_id, r.id, r.permissions, r.position,
                   (r.id = g.id) AS is_everyone
              FROM guilds g
              JOIN members m ON m.guild_id = g.id AND m.user_id = $2
              JOIN roles r ON r.guild_id = g.id
             WHERE g.id = $1
               AND (r.id = g.id OR r.id IN (SELECT role_id FROM member_roles
                                             WHERE guild_id = $1 AND user_id = $2))
            """,
            guild_id,
            user_id,
        )
        if not rows:
            return None
        everyone = next(
            (
                permissions.Role(r["id"], r["permissions"], r["position"])
                for r in rows
                if r["is_everyone"]
            ),
            permissions.Role(guild_id, 0, 0),
        )
        roles = [
            permissions.Role(r["id"], r["permissions"], r["position"])
            for r in rows
            if not r["is_everyone"]
        ]
        return permissions.MemberContext(
            user_id=user_id,
            guild_id=guild_id,
            owner_id=rows[0]["owner_id"],
            everyone=everyone,
            roles=roles,
        )

    async def channel_overwrites(self, channel_id: int) -> list[permissions.Overwrite]:
        rows = await self.conn.fetch(
            "SELECT target_id, target_type, allow, deny FROM overwrites WHERE channel_id = $1",
            channel_id,
        )
        return [
            permissions.Overwrite(r["target_id"], r["target_type"], r["allow"], r["deny"])
            for r in rows
        ]

    async def guild_overwrites(self, guild_id: int) -> dict[int, list[permissions.Overwrite]]:
        """Every channel's overwrites in one guild, keyed by channel id (channels without any
        overwrite are present with an empty list)."""
        rows = await self.conn.fetch(
            """
            SELECT c.id AS channel_id, o.target_id, o.target_type, o.allow, o.deny
              FROM channels c LEFT JOIN overwrites o ON o.channel_id = c.id
             WHERE c.guild_id = $1
            """,
            guild_id,
        )
        result: dict[int, list[permissions.Overwrite]] = {}
        for r in rows:
            bucket = result.setdefault(r["channel_id"], [])
            if r["target_id"] is not None:
                bucket.append(
                    permissions.Overwrite(r["target_id"], r["target_type"], r["allow"], r["deny"])
                )
        return result

    async def is_banned(self, guild_id: int, user_id: int) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT true FROM bans WHERE guild_id = $1 AND user_id = $2", guild_id, user_id
            )
        )

    async def channel_guild(self, channel_id: int) -> tuple[str, int | None] | None:
        row = await self.conn.fetchrow(
            "SELECT type, guild_id FROM channels WHERE id = $1", channel_id
        )
        return (row["type"], row["guild_id"]) if row else None

    async def share_a_guild(self, user_id: int, other_id: int) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT true FROM members mine JOIN members theirs "
                "ON theirs.guild_id = mine.guild_id AND theirs.user_id = $2 "
                "WHERE mine.user_id = $1 LIMIT 1",
                user_id,
                other_id,
            )
        )

    async def is_dm_recipient(self, channel_id: int, user_id: int) -> bool:
        return bool(
            await self.conn.fetchval(
                "SELECT true FROM channel_recipients WHERE channel_id = $1 AND user_id = $2",
                channel_id,
                user_id,
            )
        )

    async def channel_access_facts(
        self, channel_id: int, user_id: int, *, with_user: bool = False
    ) -> ChannelFacts | None:
        """Everything needed to decide a user's access to a channel, in one round trip
        (the hot path of every message send and read); `with_user` adds the user's profile
        to the same round trip (a send needs its author)."""
        query = _CHANNEL_FACTS_WITH_USER if with_user else _CHANNEL_FACTS
        row = await self.conn.fetchrow(query, channel_id, user_id)
        if row is None:
            return None
        member = None
        if row["guild_id"] is not None and row["is_member"]:
            roles = json.loads(row["roles"])
            everyone = next(
                (permissions.Role(r[0], r[1], r[2]) for r in roles if r[3]),
                permissions.Role(row["guild_id"], 0, 0),
            )
            member = permissions.MemberContext(
                user_id=user_id,
                guild_id=row["guild_id"],
                owner_id=row["owner_id"],
                everyone=everyone,
                roles=[permissions.Role(r[0], r[1], r[2]) for r in roles if not r[3]],
            )
        return ChannelFacts(
            channel_type=row["type"],
            guild_id=row["guild_id"],
            member=member,
            overwrites=[
                permissions.Overwrite(o[0], o[1], o[2], o[3]) for o in json.loads(row["overwrites"])
            ],
            recipient_ids=list(row["recipients"] or []),
            dm_shares_guild=bool(row["dm_shares_guild"]),
            user=user_from(row, prefix="u_") if with_user and row["u_id"] is not None else None,
        )


@dataclass(frozen=True, slots=True)
class ChannelFacts:
    channel_type: str
    guild_id: int | None
    member: permissions.MemberContext | None  # None: not a member (or a DM channel)
    overwrites: list[permissions.Overwrite]
    recipient_ids: list[int]  # DM channels only
    dm_shares_guild: bool = False  # DM channels only: the user shares a guild with the other
    user: schemas.User | None = None  # the user's profile, when asked for (None: no such user)


_CHANNEL_FACTS = """
    SELECT c.type, c.guild_id, g.owner_id,
           EXISTS (SELECT 1 FROM members m
                    WHERE m.guild_id = c.guild_id AND m.user_id = $2) AS is_member,
           (SELECT coalesce(jsonb_agg(jsonb_build_array(r.id, r.permissions, r.position,
                                                        r.id = c.guild_id)), '[]')
              FROM roles r
             WHERE r.guild_id = c.guild_id
               AND (r.id = c.guild_id OR r.id IN (SELECT role_id FROM member_roles mr
                                                   WHERE mr.guild_id = c.guild_id
                                                     AND mr.user_id = $2))) AS roles,
           (SELECT coalesce(jsonb_agg(jsonb_build_array(o.target_id, o.target_type, o.allow,
                                                        o.deny)), '[]')
              FROM overwrites o WHERE o.channel_id = c.id) AS overwrites,
           (SELECT array_agg(cr.user_id ORDER BY cr.user_id)
              FROM channel_recipients cr WHERE cr.channel_id = c.id) AS recipients,
           CASE WHEN c.guild_id IS NULL THEN EXISTS (
               SELECT 1 FROM channel_recipients other
                 JOIN members theirs ON theirs.user_id = other.user_id
                 JOIN members mine ON mine.guild_id = theirs.guild_id AND mine.user_id = $2
                WHERE other.channel_id = c.id AND other.user_id <> $2) END AS dm_shares_guild
      FROM channels c LEFT JOIN guilds g ON g.id = c.guild_id
     WHERE c.id = $1
"""
_CHANNEL_FACTS_WITH_USER = _CHANNEL_FACTS.replace(
    "SELECT c.type,", "SELECT " + ", ".join(f"u.{f} AS u_{f}" for f in USER_FIELDS) + ", c.type,"
).replace(
    "LEFT JOIN guilds g ON g.id = c.guild_id",
    "LEFT JOIN guilds g ON g.id = c.guild_id LEFT JOIN users u ON u.id = $2",
)
