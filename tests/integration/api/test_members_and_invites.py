from __future__ import annotations

from tests.integration.api.conftest import Api, error_of


async def test_invite_create_inspect_accept_and_revoke(api: Api) -> None:
    owner, guest = await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(owner)
    created = await owner.post(
        f"/channels/{channel_id}/invites", json={"max_uses": 1, "max_age_seconds": 3600}
    )
    assert created.status_code == 201
    invite = created.json()
    assert invite["guild_id"] == guild_id and invite["expires_at"] is not None
    assert (await guest.get(f"/invites/{invite['code']}")).json()["guild"]["id"] == guild_id
    joined = await guest.post(f"/invites/{invite['code']}/accept")
    assert joined.status_code == 200 and joined.json()["user"]["id"] == str(guest.id)
    late = await api.user()
    used_up = await late.post(f"/invites/{invite['code']}/accept")
    assert used_up.status_code == 404
    assert (await late.get(f"/guilds/{guild_id}")).status_code == 404
    second = (await owner.post(f"/channels/{channel_id}/invites", json={})).json()
    assert [i["code"] for i in (await owner.get(f"/guilds/{guild_id}/invites")).json()] == [
        invite["code"],
        second["code"],
    ]
    assert (await owner.delete(f"/invites/{second['code']}")).status_code == 204
    assert (await late.post(f"/invites/{second['code']}/accept")).status_code == 404


async def test_invite_limits_are_validated(api: Api) -> None:
    owner = await api.user()
    _, channel_id = await api.guild_with_channel(owner)
    bad = await owner.post(f"/channels/{channel_id}/invites", json={"max_uses": -1})
    assert bad.status_code == 422 and error_of(bad)["details"][0]["field"] == "max_uses"
    bad = await owner.post(f"/channels/{channel_id}/invites", json={"max_age_seconds": 10**9})
    assert bad.status_code == 422
    assert (await owner.get("/invites/bad-code!")).status_code == 422


async def test_member_list_is_paginated(api: Api) -> None:
    owner = await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    others = [await api.user() for _ in range(4)]
    for other in others:
        await api.join(owner, other, guild_id)
    first = (await owner.get(f"/guilds/{guild_id}/members", params={"limit": 2})).json()
    assert len(first) == 2
    rest = (
        await owner.get(
            f"/guilds/{guild_id}/members", params={"after": first[-1]["user"]["id"], "limit": 10}
        )
    ).json()
    ids = [m["user"]["id"] for m in first + rest]
    assert sorted(ids, key=int) == ids
    assert set(ids) == {str(u.id) for u in [owner, *others]}
    assert (await owner.get(f"/guilds/{guild_id}/members", params={"limit": 0})).status_code == 422


async def test_kicked_member_loses_access_at_once(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    assert (await member.get(f"/channels/{channel_id}/messages")).status_code == 200
    assert (await owner.delete(f"/guilds/{guild_id}/members/{member.id}")).status_code == 204
    assert (await member.get(f"/channels/{channel_id}/messages")).status_code == 404
    posted = await member.post(f"/channels/{channel_id}/messages", json={"content": "still?"})
    assert posted.status_code == 404


async def test_kick_needs_permission_and_rank(api: Api) -> None:
    owner, a, b = await api.user(), await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, a, guild_id)
    await api.join(owner, b, guild_id)
    refused = await a.delete(f"/guilds/{guild_id}/members/{b.id}")
    assert refused.status_code == 403 and error_of(refused)["code"] == "missing_permission"
    mod = (
        await owner.post(
            f"/guilds/{guild_id}/roles", json={"name": "mod", "permissions": str(1 << 1)}
        )
    ).json()
    await owner.patch(f"/guilds/{guild_id}/members/{a.id}", json={"role_ids": [mod["id"]]})
    await owner.patch(f"/guilds/{guild_id}/members/{b.id}", json={"role_ids": [mod["id"]]})
    same_rank = await a.delete(f"/guilds/{guild_id}/members/{b.id}")
    assert same_rank.status_code == 403
    assert (await a.delete(f"/guilds/{guild_id}/members/{owner.id}")).status_code == 403


async def test_banned_member_is_removed_and_cannot_rejoin(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    banned = await owner.put(f"/guilds/{guild_id}/bans/{member.id}", json={"reason": "spam"})
    assert banned.status_code == 200 and banned.json()["reason"] == "spam"
    assert (await member.get(f"/channels/{channel_id}/messages")).status_code == 404
    invite = (await owner.post(f"/channels/{channel_id}/invites", json={})).json()
    rejoin = await member.post(f"/invites/{invite['code']}/accept")
    assert rejoin.status_code == 403
    bans = (await owner.get(f"/guilds/{guild_id}/bans")).json()
    assert [b["user"]["id"] for b in bans] == [str(member.id)]
    assert (await owner.delete(f"/guilds/{guild_id}/bans/{member.id}")).status_code == 204
    assert (await member.post(f"/invites/{invite['code']}/accept")).status_code == 200
    assert (await owner.delete(f"/guilds/{guild_id}/bans/{member.id}")).status_code == 404


async def test_leave_guild_and_owner_cannot_leave(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    assert (await member.delete(f"/guilds/{guild_id}/members/@me")).status_code == 204
    assert (await member.get(f"/guilds/{guild_id}")).status_code == 404
    refused = await owner.delete(f"/guilds/{guild_id}/members/@me")
    assert refused.status_code == 409


async def test_nicknames(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    own = await member.patch(f"/guilds/{guild_id}/members/{member.id}", json={"nick": "Mo"})
    assert own.status_code == 200 and own.json()["nick"] == "Mo"
    other = await member.patch(f"/guilds/{guild_id}/members/{owner.id}", json={"nick": "x"})
    assert other.status_code == 403
    got = (await owner.get(f"/guilds/{guild_id}/members/{member.id}")).json()
    assert got["nick"] == "Mo"
