"""Who may do what to whom: the kick route, overwrites under the role hierarchy, and what a
non-member, a stranger or a banned user can learn (docs/api.md, "Privacy and authorization")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from gochat.core.permissions import Permission
from tests.integration.api.conftest import Api, User, error_of

KICK = int(Permission.KICK_MEMBERS)
HELD = int(Permission.ADD_REACTIONS)  # every member holds it through @everyone
NOT_HELD = int(Permission.MANAGE_MESSAGES)  # nobody but the owner and administrators


async def test_the_kick_route_never_removes_the_caller(api: Api) -> None:
    owner, member, moderator = await api.user(), await api.user(), await api.user()
    guild_id, _ = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    await api.join(owner, moderator, guild_id)
    mods = (
        await owner.post(f"/guilds/{guild_id}/roles", json={"name": "mods", "permissions": KICK})
    ).json()
    await owner.patch(f"/guilds/{guild_id}/members/{moderator.id}", json={"role_ids": [mods["id"]]})

    without = await member.delete(f"/guilds/{guild_id}/members/{member.id}")
    assert without.status_code == 403, without.text
    assert error_of(without)["details"] == {"permission": "KICK_MEMBERS"}
    for caller in (moderator, owner):
        itself = await caller.delete(f"/guilds/{guild_id}/members/{caller.id}")
        assert itself.status_code == 409, itself.text
        assert "members/@me" in error_of(itself)["message"]
    members = (await owner.get(f"/guilds/{guild_id}/members")).json()
    assert {m["user"]["id"] for m in members} == {str(u.id) for u in (owner, member, moderator)}
    assert (await member.delete(f"/guilds/{guild_id}/members/@me")).status_code == 204


@dataclass
class Ranked:
    """A guild with roles low (1) < mid (2) < high (3); the actor holds mid."""

    owner: User
    actor: User
    guild_id: str
    channel_id: str
    targets: dict[str, tuple[str, str]]  # name -> (target id, "role" | "member")


async def _ranked_guild(api: Api, actor_kind: str) -> Ranked:
    owner, actor, peer, high_member, low_member, plain = [await api.user() for _ in range(6)]
    guild_id, _ = await api.guild_with_channel(owner)
    for user in (actor, peer, high_member, low_member, plain):
        await api.join(owner, user, guild_id)
    mid_bits = {"manager": Permission.MANAGE_ROLES, "admin": Permission.ADMINISTRATOR}
    role: dict[str, str] = {}
    # A new role starts at position 1 and pushes the others up: create from the top down.
    for name in ("high", "mid", "low"):
        bits = int(mid_bits.get(actor_kind, 0)) if name == "mid" else 0
        created = await owner.post(
            f"/guilds/{guild_id}/roles", json={"name": name, "permissions": bits}
        )
        role[name] = created.json()["id"]
    positions = {
        r["id"]: r["position"] for r in (await owner.get(f"/guilds/{guild_id}/roles")).json()
    }
    assert [positions[role[n]] for n in ("low", "mid", "high")] == [1, 2, 3]
    for user, name in ((actor, "mid"), (peer, "mid"), (high_member, "high"), (low_member, "low")):
        given = await owner.patch(
            f"/guilds/{guild_id}/members/{user.id}", json={"role_ids": [role[name]]}
        )
        assert given.status_code == 200, given.text
    channel = (await owner.post(f"/guilds/{guild_id}/channels", json={"name": "ops"})).json()
    targets = {
        "@everyone": (guild_id, "role"),
        "low role": (role["low"], "role"),
        "own role": (role["mid"], "role"),
        "high role": (role["high"], "role"),
        "member without roles": (str(plain.id), "member"),
        "low member": (str(low_member.id), "member"),
        "peer": (str(peer.id), "member"),
        "high member": (str(high_member.id), "member"),
        "owner": (str(owner.id), "member"),
        "self": (str(actor.id), "member"),
    }
    return Ranked(
        owner, owner if actor_kind == "owner" else actor, guild_id, channel["id"], targets
    )


BELOW_THE_ACTOR = {"@everyone", "low role", "member without roles", "low member"}


@pytest.mark.parametrize("actor_kind", ["owner", "admin", "manager"])
async def test_overwrites_follow_the_role_hierarchy_and_the_actors_own_permissions(
    api: Api, actor_kind: str
) -> None:
    """Every (target rank, permission bit, operation): allowed exactly when the actor outranks
    the target (the owner outranks everyone; ADMINISTRATOR does not lift the hierarchy) and holds
    every bit the change touches; a refusal changes nothing."""
    guild = await _ranked_guild(api, actor_kind)
    overwrites_url = f"/channels/{guild.channel_id}/permissions"

    async def current(target_id: str) -> dict[str, Any] | None:
        channel = (await guild.owner.get(f"/channels/{guild.channel_id}")).json()
        return next((o for o in channel["overwrites"] if o["id"] == target_id), None)

    wrong: list[str] = []
    for name, (target_id, target_type) in guild.targets.items():
        for bit in (HELD, NOT_HELD):
            outranks = actor_kind == "owner" or name in BELOW_THE_ACTOR
            holds = actor_kind != "manager" or bit == HELD
            for operation in ("create", "edit", "delete"):
                await guild.owner.delete(f"{overwrites_url}/{target_id}")
                # What the owner sets first: nothing to create over, an empty overwrite to
                # edit, an overwrite holding the bit to delete.
                seed = {"edit": {"type": target_type}, "delete": {"type": target_type, "deny": bit}}
                if operation in seed:
                    put = await guild.owner.put(
                        f"{overwrites_url}/{target_id}", json=seed[operation]
                    )
                    assert put.status_code == 200, put.text
                before = await current(target_id)
                if operation == "delete":
                    response = await guild.actor.delete(f"{overwrites_url}/{target_id}")
                else:
                    body = {"type": target_type, "allow" if operation == "create" else "deny": bit}
                    response = await guild.actor.put(f"{overwrites_url}/{target_id}", json=body)
                after = await current(target_id)
                if outranks and holds:
                    expected = "allowed"
                else:
                    expected = "forbidden" if not outranks else "missing_permission"
                if response.status_code in (200, 204):
                    got = "allowed"
                elif response.status_code == 403:
                    got = error_of(response)["code"]
                else:
                    got = f"{response.status_code} {response.text}"
                changed = after != before
                if got != expected or changed != (expected == "allowed"):
                    wrong.append(
                        f"{operation} {Permission(bit).name} on {name}: {got}"
                        f"{' and changed' if changed else ''}, expected {expected}"
                    )
    assert not wrong, "\n".join(wrong)


async def test_overwrites_given_at_channel_creation_follow_the_same_rules(api: Api) -> None:
    guild = await _ranked_guild(api, "manager")
    create = f"/guilds/{guild.guild_id}/channels"
    manage = int(Permission.MANAGE_CHANNELS | Permission.MANAGE_ROLES)
    mid = guild.targets["own role"][0]
    await guild.owner.patch(f"/guilds/{guild.guild_id}/roles/{mid}", json={"permissions": manage})
    high_id, _ = guild.targets["high role"]
    locked_out = await guild.actor.post(
        create,
        json={"name": "trap", "overwrites": [{"id": high_id, "type": "role", "deny": HELD}]},
    )
    assert locked_out.status_code == 403 and error_of(locked_out)["code"] == "forbidden"
    low_id, _ = guild.targets["low role"]
    beyond = await guild.actor.post(
        create,
        json={"name": "trap", "overwrites": [{"id": low_id, "type": "role", "allow": NOT_HELD}]},
    )
    assert beyond.status_code == 403 and error_of(beyond)["code"] == "missing_permission"
    fine = await guild.actor.post(
        create,
        json={"name": "fine", "overwrites": [{"id": low_id, "type": "role", "deny": HELD}]},
    )
    assert fine.status_code == 201, fine.text
    names = [
        c["name"] for c in (await guild.owner.get(f"/guilds/{guild.guild_id}/channels")).json()
    ]
    assert "trap" not in names and "fine" in names


UNKNOWN = str(2**62 + 12345)  # a well-formed id that names nothing


async def test_a_non_member_cannot_tell_a_guilds_ids_from_unknown_ones(api: Api) -> None:
    """Every id in a guild the caller is not in (any more) answers exactly as an id that does
    not exist: same status, same code, same message, and no guild id the caller did not send."""
    owner, stranger, former = await api.user(), await api.user(), await api.user()
    guild_id, channel_id = await api.guild_with_channel(owner)
    await api.join(owner, former, guild_id)
    message = (await owner.post(f"/channels/{channel_id}/messages", json={"content": "x"})).json()
    assert (await owner.delete(f"/guilds/{guild_id}/members/{former.id}")).status_code == 204
    probes = [
        ("GET", "/guilds/{g}"),
        ("GET", "/guilds/{g}/channels"),
        ("GET", "/guilds/{g}/members"),
        ("GET", "/guilds/{g}/roles"),
        ("GET", "/channels/{c}"),
        ("GET", "/channels/{c}/messages"),
        ("GET", "/channels/{c}/messages/{m}"),
        ("POST", "/channels/{c}/messages"),
        ("POST", "/channels/{c}/invites"),
        ("PUT", "/channels/{c}/messages/{m}/reactions/%F0%9F%91%8D/@me"),
    ]
    for caller in (stranger, former):
        for method, path in probes:
            real = path.format(g=guild_id, c=channel_id, m=message["id"])
            unknown = path.format(g=UNKNOWN, c=UNKNOWN, m=message["id"])
            body = {"content": "probe"} if path.endswith("messages") else {}
            kw: dict[str, Any] = {"json": body} if method == "POST" else {}
            answer = await caller.request(method, real, **kw)
            reference = await caller.request(method, unknown, **kw)
            assert reference.status_code == 404, (unknown, reference.text)
            assert answer.status_code == 404, (method, real, answer.text)
            expected = reference.text.replace(UNKNOWN, channel_id if "{c}" in path else guild_id)
            assert answer.text == expected, (method, real)
            if "{g}" not in path:
                assert guild_id not in answer.text


async def test_a_dm_is_opened_and_written_only_while_the_two_share_a_guild(api: Api) -> None:
    alice, bob = await api.user(), await api.user()
    open_dm = {"recipient_id": str(bob.id)}
    stranger_dm = await alice.post("/users/@me/channels", json=open_dm)
    assert stranger_dm.status_code == 403, stranger_dm.text
    assert (await bob.get("/users/@me/channels")).json() == []

    guild_id, _ = await api.guild_with_channel(alice)
    await api.join(alice, bob, guild_id)
    dm = (await alice.post("/users/@me/channels", json=open_dm)).json()
    url = f"/channels/{dm['id']}/messages"
    first = await alice.post(url, json={"content": "hi"})
    assert first.status_code == 201, first.text

    assert (await bob.delete(f"/guilds/{guild_id}/members/@me")).status_code == 204
    for sender in (alice, bob):
        refused = await sender.post(url, json={"content": "still there?"})
        assert refused.status_code == 403, refused.text
        assert error_of(refused)["details"] == {"permission": "SEND_MESSAGES"}
    reaction = await bob.put(f"{url}/{first.json()['id']}/reactions/%F0%9F%91%8D/@me")
    assert reaction.status_code == 403, reaction.text
    assert (await alice.post("/users/@me/channels", json=open_dm)).status_code == 403
    history = (await bob.get(url)).json()
    assert [m["content"] for m in history] == ["hi"]  # what was said stays readable

    await api.join(alice, bob, guild_id)
    assert (await bob.post(url, json={"content": "back"})).status_code == 201


async def test_an_invite_preview_names_a_channel_only_if_everyone_can_view_it(api: Api) -> None:
    owner, member, outsider, banned = [await api.user() for _ in range(4)]
    guild_id, general = await api.guild_with_channel(owner, name="Book club")
    await api.join(owner, member, guild_id)
    secret = (await owner.post(f"/guilds/{guild_id}/channels", json={"name": "secret"})).json()
    hidden = {"type": "role", "deny": int(Permission.VIEW_CHANNEL)}
    await owner.put(f"/channels/{secret['id']}/permissions/{guild_id}", json=hidden)
    created = (await owner.post(f"/channels/{general}/invites", json={})).json()
    public_code = created["code"]
    secret_code = (await owner.post(f"/channels/{secret['id']}/invites", json={})).json()["code"]

    public = await outsider.get(f"/invites/{public_code}")
    assert public.status_code == 200, public.text
    assert public.json() == {
        "code": public_code,
        "guild": {"id": guild_id, "name": "Book club", "icon_url": None, "member_count": 2},
        "channel": {"id": general, "name": "general", "type": "text"},
        "inviter_id": str(owner.id),
        "expires_at": created["expires_at"],
    }
    of_secret = await outsider.get(f"/invites/{secret_code}")
    assert of_secret.status_code == 200 and of_secret.json()["channel"] is None
    assert secret["id"] not in of_secret.text and "secret" not in of_secret.text.replace(
        secret_code, ""
    )

    assert (await owner.put(f"/guilds/{guild_id}/bans/{banned.id}", json={})).status_code == 200
    unknown = await banned.get("/invites/NoSuchCode")
    for code in (public_code, secret_code):
        refused = await banned.get(f"/invites/{code}")
        assert refused.status_code == 404, refused.text
        assert refused.text == unknown.text.replace("NoSuchCode", code)
    assert (await banned.post(f"/invites/{public_code}/accept")).status_code == 403


async def test_an_overwrite_edit_needs_only_the_bits_it_changes(api: Api) -> None:
    guild = await _ranked_guild(api, "manager")
    low_id, _ = guild.targets["low role"]
    url = f"/channels/{guild.channel_id}/permissions/{low_id}"
    set_by_owner = await guild.owner.put(url, json={"type": "role", "allow": NOT_HELD})
    assert set_by_owner.status_code == 200, set_by_owner.text
    keep = {"type": "role", "allow": NOT_HELD, "deny": HELD}
    assert (await guild.actor.put(url, json=keep)).status_code == 200
    take_back = await guild.actor.put(url, json={"type": "role", "deny": HELD})
    assert take_back.status_code == 403, take_back.text
    assert error_of(take_back)["details"] == {"permission": "MANAGE_MESSAGES"}
    channel = (await guild.owner.get(f"/channels/{guild.channel_id}")).json()
    assert channel["overwrites"] == [
        {"id": low_id, "type": "role", "allow": str(NOT_HELD), "deny": str(HELD)}
    ]
