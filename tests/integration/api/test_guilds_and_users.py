from __future__ import annotations

from tests.integration.api.conftest import Api, error_of


async def test_profile_read_update_and_lookup(api: Api) -> None:
    alice = await api.user("alice")
    bob = await api.user("bob")
    me = (await alice.get("/users/@me")).json()
    assert me["id"] == str(alice.id) and me["username"] == "alice"
    updated = await alice.patch("/users/@me", json={"display_name": "Alice", "bio": "hi"})
    assert updated.status_code == 200 and updated.json()["display_name"] == "Alice"
    seen = await bob.get(f"/users/{alice.id}")
    assert seen.json()["bio"] == "hi"
    missing = await bob.get("/users/123456789")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


async def test_requests_without_a_valid_token_are_refused(api: Api) -> None:
    assert (await api.client.get("/users/@me")).status_code == 401
    bad = await api.client.get("/users/@me", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401 and error_of(bad)["code"] == "unauthorized"


async def test_guild_lifecycle_creator_becomes_owner(api: Api) -> None:
    owner = await api.user()
    created = await owner.post("/guilds", json={"name": "Rustaceans", "description": "d"})
    assert created.status_code == 201
    guild = created.json()
    assert guild["owner_id"] == str(owner.id)
    assert (await owner.get(f"/guilds/{guild['id']}")).json()["name"] == "Rustaceans"
    mine = (await owner.get("/users/@me/guilds")).json()
    assert [g["id"] for g in mine] == [guild["id"]]
    roles = (await owner.get(f"/guilds/{guild['id']}/roles")).json()
    assert [r["name"] for r in roles] == ["@everyone"] and roles[0]["id"] == guild["id"]
    channels = (await owner.get(f"/guilds/{guild['id']}/channels")).json()
    assert [c["name"] for c in channels] == ["general"]
    renamed = await owner.patch(f"/guilds/{guild['id']}", json={"name": "Crabs"})
    assert renamed.json()["name"] == "Crabs"
    assert (await owner.delete(f"/guilds/{guild['id']}")).status_code == 204
    assert (await owner.get(f"/guilds/{guild['id']}")).status_code == 404
    assert (await owner.get("/users/@me/guilds")).json() == []


async def test_only_the_owner_deletes_a_guild(api: Api) -> None:
    owner, admin = await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, admin, guild_id)
    role = (
        await owner.post(
            f"/guilds/{guild_id}/roles", json={"name": "admin", "permissions": str(1 << 3)}
        )
    ).json()
    await owner.patch(f"/guilds/{guild_id}/members/{admin.id}", json={"role_ids": [role["id"]]})
    refused = await admin.delete(f"/guilds/{guild_id}")
    assert refused.status_code == 403
    assert (await owner.get(f"/guilds/{guild_id}")).status_code == 200


async def test_guild_update_needs_manage_guild(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    refused = await member.patch(f"/guilds/{guild_id}", json={"name": "mine now"})
    assert refused.status_code == 403
    assert error_of(refused)["details"] == {"permission": "MANAGE_GUILD"}
    assert (await owner.get(f"/guilds/{guild_id}")).json()["name"] == "guild"


async def test_non_member_cannot_see_a_guild(api: Api) -> None:
    owner, stranger = await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(owner)
    assert (await stranger.get(f"/guilds/{guild_id}")).status_code == 404
    assert (await stranger.get(f"/guilds/{guild_id}/channels")).status_code == 404
    assert (await stranger.get(f"/channels/{channel_id}/messages")).status_code == 404
    posted = await stranger.post(f"/channels/{channel_id}/messages", json={"content": "hi"})
    assert posted.status_code == 404


async def test_direct_messages_between_two_users(api: Api) -> None:
    alice, bob, eve = await api.user(), await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(alice)
    await api.join(alice, bob, guild_id)
    await api.join(alice, eve, guild_id)
    opened = await alice.post("/users/@me/channels", json={"recipient_id": str(bob.id)})
    assert opened.status_code == 200
    dm = opened.json()
    assert dm["type"] == "dm" and set(dm["recipient_ids"]) == {str(alice.id), str(bob.id)}
    again = await bob.post("/users/@me/channels", json={"recipient_id": str(alice.id)})
    assert again.json()["id"] == dm["id"]
    sent = await alice.post(f"/channels/{dm['id']}/messages", json={"content": "psst"})
    assert sent.status_code == 201
    history = (await bob.get(f"/channels/{dm['id']}/messages")).json()
    assert [m["content"] for m in history] == ["psst"]
    assert (await eve.get(f"/channels/{dm['id']}/messages")).status_code == 404
    assert [c["id"] for c in (await bob.get("/users/@me/channels")).json()] == [dm["id"]]
    self_dm = await alice.post("/users/@me/channels", json={"recipient_id": str(alice.id)})
    assert self_dm.status_code == 422
