from __future__ import annotations

from datetime import UTC, datetime

import asyncpg
import pytest

from gochat import ports
from gochat.core import ids
from tests.integration.api.conftest import Api, error_of


async def test_send_get_edit_delete(api: Api) -> None:
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    sent = await owner.post(f"/channels/{channel}/messages", json={"content": "hello <@1>"})
    assert sent.status_code == 201
    message = sent.json()
    assert message["author"]["id"] == str(owner.id) and message["mention_ids"] == ["1"]
    assert ids.created_at(int(message["id"])).year >= 2024
    got = await owner.get(f"/channels/{channel}/messages/{message['id']}")
    assert got.json()["content"] == "hello <@1>"
    edited = await owner.patch(
        f"/channels/{channel}/messages/{message['id']}", json={"content": "hello again"}
    )
    assert edited.status_code == 200 and edited.json()["edited_at"] is not None
    assert (await owner.get(f"/channels/{channel}/messages/{message['id']}")).json()[
        "content"
    ] == "hello again"
    assert (await owner.delete(f"/channels/{channel}/messages/{message['id']}")).status_code == 204
    assert (await owner.get(f"/channels/{channel}/messages/{message['id']}")).status_code == 404


async def test_a_send_answers_with_the_bytes_and_headers_a_read_of_the_message_gets(
    api: Api,
) -> None:
    """The send endpoint writes its response itself (for speed); reads go through FastAPI's
    response_model path. A message just sent must look the same either way."""
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    body = {"content": "same <@1> @everyone", "nonce": "n-bytes"}
    sent = await owner.post(f"/channels/{channel}/messages", json=body)
    retry = await owner.post(f"/channels/{channel}/messages", json=body)
    got = await owner.get(f"/channels/{channel}/messages/{sent.json()['id']}")
    assert (sent.status_code, retry.status_code, got.status_code) == (201, 200, 200)
    assert sent.content == retry.content == got.content
    for response in (sent, retry):
        assert response.headers["content-type"] == got.headers["content-type"]
        assert response.headers["content-length"] == got.headers["content-length"]


async def test_nonce_deduplicates_retries(api: Api) -> None:
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    first = await owner.post(f"/channels/{channel}/messages", json={"content": "a", "nonce": "n1"})
    retry = await owner.post(f"/channels/{channel}/messages", json={"content": "a", "nonce": "n1"})
    assert first.status_code == 201 and retry.status_code == 200
    assert retry.json()["id"] == first.json()["id"]
    assert len((await owner.get(f"/channels/{channel}/messages")).json()) == 1


async def test_history_paging_before_after_around(api: Api) -> None:
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    sent = [
        (await owner.post(f"/channels/{channel}/messages", json={"content": f"m{i}"})).json()["id"]
        for i in range(7)
    ]
    newest = (await owner.get(f"/channels/{channel}/messages", params={"limit": 3})).json()
    assert [m["id"] for m in newest] == sent[::-1][:3]
    before = (
        await owner.get(f"/channels/{channel}/messages", params={"before": sent[3], "limit": 2})
    ).json()
    assert [m["id"] for m in before] == [sent[2], sent[1]]
    after = (
        await owner.get(f"/channels/{channel}/messages", params={"after": sent[3], "limit": 2})
    ).json()
    assert [m["id"] for m in after] == [sent[4], sent[5]]
    around = (
        await owner.get(f"/channels/{channel}/messages", params={"around": sent[3], "limit": 3})
    ).json()
    assert {m["id"] for m in around} == {sent[2], sent[3], sent[4]}
    both = await owner.get(
        f"/channels/{channel}/messages", params={"before": sent[3], "after": sent[1]}
    )
    assert both.status_code == 422
    assert (
        await owner.get(f"/channels/{channel}/messages", params={"limit": 101})
    ).status_code == 422


async def test_reply_must_exist_and_length_is_limited(api: Api) -> None:
    owner = await api.user()
    _, channel = await api.guild_with_channel(owner)
    first = (await owner.post(f"/channels/{channel}/messages", json={"content": "q"})).json()
    reply = await owner.post(
        f"/channels/{channel}/messages", json={"content": "a", "reply_to_id": first["id"]}
    )
    assert reply.json()["reply_to_id"] == first["id"]
    dangling = await owner.post(
        f"/channels/{channel}/messages", json={"content": "a", "reply_to_id": "12345"}
    )
    assert dangling.status_code == 422
    assert error_of(dangling)["details"][0]["field"] == "reply_to_id"
    too_long = await owner.post(
        f"/channels/{channel}/messages",
        json={"content": "x" * (api.ctx.config.max_message_length + 1)},
    )
    assert too_long.status_code == 422 and error_of(too_long)["details"][0]["field"] == "content"
    blank = await owner.post(f"/channels/{channel}/messages", json={"content": "   "})
    assert blank.status_code == 422
    assert len((await owner.get(f"/channels/{channel}/messages")).json()) == 2


async def test_only_author_edits_and_manage_messages_deletes(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    mine = (await member.post(f"/channels/{channel}/messages", json={"content": "m"})).json()
    theirs = (await owner.post(f"/channels/{channel}/messages", json={"content": "o"})).json()
    assert (
        await owner.patch(f"/channels/{channel}/messages/{mine['id']}", json={"content": "hijack"})
    ).status_code == 403
    assert (await member.delete(f"/channels/{channel}/messages/{theirs['id']}")).status_code == 403
    # The owner holds MANAGE_MESSAGES implicitly and may delete anyone's message.
    assert (await owner.delete(f"/channels/{channel}/messages/{mine['id']}")).status_code == 204


async def test_pins(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    message = (await owner.post(f"/channels/{channel}/messages", json={"content": "p"})).json()
    assert (await member.put(f"/channels/{channel}/pins/{message['id']}")).status_code == 403
    assert (await owner.put(f"/channels/{channel}/pins/{message['id']}")).status_code == 204
    pins = (await member.get(f"/channels/{channel}/pins")).json()
    assert [p["id"] for p in pins] == [message["id"]] and pins[0]["pinned"] is True
    assert (await owner.delete(f"/channels/{channel}/pins/{message['id']}")).status_code == 204
    assert (await member.get(f"/channels/{channel}/pins")).json() == []


async def test_reactions(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    message = (await owner.post(f"/channels/{channel}/messages", json={"content": "r"})).json()
    base = f"/channels/{channel}/messages/{message['id']}/reactions"
    assert (await owner.put(f"{base}/👍/@me")).status_code == 204
    assert (await member.put(f"{base}/👍/@me")).status_code == 204
    assert (await member.put(f"{base}/👍/@me")).status_code == 204  # idempotent
    got = (await member.get(f"/channels/{channel}/messages/{message['id']}")).json()
    assert got["reactions"] == [{"emoji": "👍", "count": 2, "me": True}]
    users = (await owner.get(f"{base}/👍")).json()
    assert {u["id"] for u in users} == {str(owner.id), str(member.id)}
    assert (await member.delete(f"{base}/👍/{owner.id}")).status_code == 403
    assert (await owner.delete(f"{base}/👍/{member.id}")).status_code == 204
    assert (await owner.delete(f"{base}/👍/@me")).status_code == 204
    assert (await owner.get(f"/channels/{channel}/messages/{message['id']}")).json()[
        "reactions"
    ] == []
    assert (await owner.put(f"{base}/has%20space/@me")).status_code == 422


async def test_mentions_count_as_unread_for_members_who_can_see_the_channel(api: Api) -> None:
    owner, member, outsider = await api.user(), await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    content = f"hey <@{member.id}> and <@{outsider.id}> and <@{owner.id}> and <@12345>"
    assert (
        await owner.post(f"/channels/{channel}/messages", json={"content": content})
    ).status_code == 201
    await owner.post(f"/channels/{channel}/messages", json={"content": f"<@{member.id}> again"})

    def count(states: list[dict[str, object]]) -> object:
        return next((s["mention_count"] for s in states if s["channel_id"] == channel), 0)

    assert count((await member.get("/users/@me/read-states")).json()) == 2
    assert count((await outsider.get("/users/@me/read-states")).json()) == 0
    assert count((await owner.get("/users/@me/read-states")).json()) == 0


async def _mention_count(api: Api, user_id: int, channel_id: int) -> int:
    async with api.ctx.db.connection("test_mention_count") as conn:
        count = await conn.fetchval(
            "SELECT mention_count FROM read_states WHERE user_id = $1 AND channel_id = $2",
            user_id,
            channel_id,
        )
    return int(count or 0)


async def test_a_retried_send_counts_its_mentions_once(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    body = {"content": f"<@{member.id}> <@{member.id}> look", "nonce": "once"}
    statuses = [
        (await owner.post(f"/channels/{channel}/messages", json=body)).status_code for _ in range(3)
    ]
    assert statuses == [201, 200, 200]
    assert await _mention_count(api, member.id, int(channel)) == 1


async def test_a_failed_insert_counts_no_mentions(api: Api) -> None:
    owner, member = await api.user(), await api.user()
    guild_id, channel = await api.guild_with_channel(owner)
    await api.join(owner, member, guild_id)
    await owner.post(f"/channels/{channel}/messages", json={"content": f"<@{member.id}>"})
    assert await _mention_count(api, member.id, int(channel)) == 1
    doomed = ports.MessageRecord(
        id=api.ctx.ids.next_id(),
        channel_id=int(channel),
        guild_id=int(guild_id),
        author_id=999_999_999,  # no such user: the statement fails on the foreign key
        content=f"<@{member.id}>",
        created_at=datetime.now(UTC),
        mention_ids=(member.id,),
    )
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await api.ctx.messages.create(doomed, events=[], mention_reader_ids=[member.id])
    assert await _mention_count(api, member.id, int(channel)) == 1
    history = (await owner.get(f"/channels/{channel}/messages")).json()
    assert str(doomed.id) not in {m["id"] for m in history}
