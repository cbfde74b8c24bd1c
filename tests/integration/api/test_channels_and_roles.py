from __future__ import annotations

from gochat.core.permissions import Permission
from tests.integration.api.conftest import Api, error_of

VIEW = int(Permission.VIEW_CHANNEL)
SEND = int(Permission.SEND_MESSAGES)


async def test_channel_crud_categories_and_reorder(api: Api) -> None:
    owner = await api.user()
    guild_id, general = await api.guild_with_channel(owner)
    category = (
        await owner.post(f"/guilds/{guild_id}/channels", json={"name": "Text", "type": "category"})
    ).json()
    created = await owner.post(
        f"/guilds/{guild_id}/channels",
        json={"name": "random", "topic": "anything", "parent_id": category["id"]},
    )
    assert created.status_code == 201
    random = created.json()
    assert random["parent_id"] == category["id"] and random["topic"] == "anything"
    updated = await owner.patch(f"/channels/{random['id']}", json={"topic": "off-topic"})
    assert updated.json()["topic"] == "off-topic"
    reordered = await owner.patch(
        f"/guilds/{guild_id}/channels",
        json=[{"id": random["id"], "position": 0}, {"id": general, "position": 5}],
    )
    assert reordered.status_code == 200
    names = [c["name"] for c in (await owner.get(f"/guilds/{guild_id}/channels")).json()]
    assert names.index("random") < names.index("general")
    assert (await owner.delete(f"/channels/{random['id']}")).status_code == 204
    assert (await owner.get(f"/channels/{random['id']}")).status_code == 404


async def test_channel_input_is_validated(api: Api) -> None:
    owner = await api.user()
    guild_id, general = await api.guild_with_channel(owner)
    bad_parent = await owner.post(
        f"/guilds/{guild_id}/channels", json={"name": "x", "parent_id": general}
    )
    assert bad_parent.status_code == 422
    assert error_of(bad_parent)["details"][0]["field"] == "parent_id"
    bad_name = await owner.post(f"/guilds/{guild_id}/channels", json={"name": "has space"})
    assert bad_name.status_code == 422 and error_of(bad_name)["details"][0]["field"] == "name"
    unknown = await owner.patch(f"/guilds/{guild_id}/channels", json=[{"id": "1", "position": 1}])
    assert unknown.status_code == 422
    assert len((await owner.get(f"/guilds/{guild_id}/channels")).json()) == 1


async def test_managing_channels_needs_manage_channels(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, general = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    assert (
        await member.post(f"/guilds/{guild_id}/channels", json={"name": "x"})
    ).status_code == 403
    assert (await member.patch(f"/channels/{general}", json={"topic": "t"})).status_code == 403
    assert (await member.delete(f"/channels/{general}")).status_code == 403


async def test_overwrite_denying_view_hides_channel_and_messages(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, _general = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    secret = (await owner.post(f"/guilds/{guild_id}/channels", json={"name": "secret"})).json()
    await owner.post(f"/channels/{secret['id']}/messages", json={"content": "hidden"})
    denied = await owner.put(
        f"/channels/{secret['id']}/permissions/{guild_id}", json={"type": "role", "deny": str(VIEW)}
    )
    assert denied.status_code == 200
    names = [c["name"] for c in (await member.get(f"/guilds/{guild_id}/channels")).json()]
    assert names == ["general"]
    assert (await member.get(f"/channels/{secret['id']}")).status_code == 404
    assert (await member.get(f"/channels/{secret['id']}/messages")).status_code == 404
    # A member overwrite that allows VIEW beats the role deny.
    await owner.put(
        f"/channels/{secret['id']}/permissions/{member.id}",
        json={"type": "member", "allow": str(VIEW)},
    )
    history = (await member.get(f"/channels/{secret['id']}/messages")).json()
    assert [m["content"] for m in history] == ["hidden"]
    assert (
        await owner.delete(f"/channels/{secret['id']}/permissions/{member.id}")
    ).status_code == 204
    assert (await member.get(f"/channels/{secret['id']}/messages")).status_code == 404


async def test_member_without_send_messages_cannot_post(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, general = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    await owner.put(
        f"/channels/{general}/permissions/{guild_id}", json={"type": "role", "deny": str(SEND)}
    )
    refused = await member.post(f"/channels/{general}/messages", json={"content": "hello"})
    assert refused.status_code == 403
    assert error_of(refused)["details"] == {"permission": "SEND_MESSAGES"}
    assert (await member.get(f"/channels/{general}/messages")).json() == []
    assert (
        await owner.post(f"/channels/{general}/messages", json={"content": "owner may"})
    ).status_code == 201


async def test_overwrite_validation(api: Api) -> None:
    owner = await api.user()
    guild_id, general = await api.guild_with_channel(owner)
    bad_bits = await owner.put(
        f"/channels/{general}/permissions/{guild_id}", json={"type": "role", "allow": str(1 << 62)}
    )
    assert bad_bits.status_code == 422 and error_of(bad_bits)["details"][0]["field"] == "allow"
    unknown_role = await owner.put(f"/channels/{general}/permissions/424242", json={"type": "role"})
    assert unknown_role.status_code == 422
    assert (await owner.get(f"/channels/{general}")).json()["overwrites"] == []


async def test_role_crud_and_member_roles(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    created = await owner.post(
        f"/guilds/{guild_id}/roles", json={"name": "helper", "color": 255, "hoist": True}
    )
    assert created.status_code == 201
    role = created.json()
    assert role["position"] == 1 and role["permissions"] == "0"
    updated = await owner.patch(
        f"/guilds/{guild_id}/roles/{role['id']}", json={"permissions": str(1 << 13)}
    )
    assert updated.json()["permissions"] == str(1 << 13)
    given = await owner.patch(
        f"/guilds/{guild_id}/members/{member.id}", json={"role_ids": [role["id"]]}
    )
    assert given.json()["role_ids"] == [role["id"]]
    assert (await owner.delete(f"/guilds/{guild_id}/roles/{role['id']}")).status_code == 204
    assert (await owner.get(f"/guilds/{guild_id}/members/{member.id}")).json()["role_ids"] == []
    assert (await owner.delete(f"/guilds/{guild_id}/roles/{guild_id}")).status_code == 400


async def test_role_hierarchy_is_enforced(api: Api) -> None:
    owner, manager, target = await api.user(), await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, manager, guild_id)
    await api.join(owner, target, guild_id)
    low = (await owner.post(f"/guilds/{guild_id}/roles", json={"name": "low"})).json()
    managers = (
        await owner.post(
            f"/guilds/{guild_id}/roles",
            json={"name": "managers", "permissions": str(int(Permission.MANAGE_ROLES))},
        )
    ).json()
    # managers was created last, at position 1; move it above low.
    await owner.patch(
        f"/guilds/{guild_id}/roles",
        json=[{"id": managers["id"], "position": 2}, {"id": low["id"], "position": 1}],
    )
    await owner.patch(
        f"/guilds/{guild_id}/members/{manager.id}", json={"role_ids": [managers["id"]]}
    )
    ok = await manager.patch(f"/guilds/{guild_id}/roles/{low['id']}", json={"name": "lower"})
    assert ok.status_code == 200
    at_own = await manager.patch(
        f"/guilds/{guild_id}/roles/{managers['id']}", json={"name": "bosses"}
    )
    assert at_own.status_code == 403
    give_own = await manager.patch(
        f"/guilds/{guild_id}/members/{target.id}", json={"role_ids": [managers["id"]]}
    )
    assert give_own.status_code == 403
    give_low = await manager.patch(
        f"/guilds/{guild_id}/members/{target.id}", json={"role_ids": [low["id"]]}
    )
    assert give_low.status_code == 200
    escalate = await manager.patch(
        f"/guilds/{guild_id}/roles/{low['id']}",
        json={"permissions": str(int(Permission.ADMINISTRATOR))},
    )
    assert escalate.status_code == 403
    raise_low = await manager.patch(
        f"/guilds/{guild_id}/roles", json=[{"id": low["id"], "position": 5}]
    )
    assert raise_low.status_code == 403
    roles = {r["id"]: r for r in (await owner.get(f"/guilds/{guild_id}/roles")).json()}
    assert roles[low["id"]]["permissions"] == "0" and roles[low["id"]]["position"] == 1
