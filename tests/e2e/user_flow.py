"""The flow a new user walks, written once for every place GoChat runs: the processes `make dev`
starts (tests/e2e/test_new_user_flow.py) and a cluster reached through port-forwards
(tests/e2e/kind/). Only how the confirmation mail is read differs: the caller passes
``read_mail``, which returns the raw .eml messages the mailer has written so far.

Register, confirm from the mail, log in, guild, channel, invite, two users post and read the
history, search finds a message, and a gateway client of the second user receives the first
user's MESSAGE_CREATE. Optionally (``storage``: an HTTP client that reaches the storage the API
signs URLs for) a file goes the attachment path: an upload slot, the upload straight to
storage, a message naming it, and the other user downloads the same bytes.
"""

from __future__ import annotations

import asyncio
import dataclasses
import email
import email.policy
import re
import time
from collections.abc import Callable, Iterable

import httpx

from gochat.client import gateway
from gochat.contract import services as contract

_TOKEN = re.compile(r"^Token: (\S+)$", re.MULTILINE)
PASSWORD = "a long enough password"
ReadMail = Callable[[], Iterable[bytes]]


@dataclasses.dataclass(frozen=True)
class Endpoints:
    auth: str  # http://host:port of each service
    api: str
    ws: str

    @property
    def ws_url(self) -> str:
        return self.ws.replace("http://", "ws://", 1) + contract.WS_PATH


@dataclasses.dataclass(frozen=True)
class SharedFile:
    message_id: str
    attachment_id: str
    content: bytes


@dataclasses.dataclass(frozen=True)
class Walked:
    """What the flow made, for callers that check where it was stored."""

    guild_id: str
    channel_id: str
    message_ids: tuple[str, str]  # the two posts, oldest first
    shared: SharedFile | None  # with `storage`


@dataclasses.dataclass
class User:
    name: str
    headers: dict[str, str]

    @property
    def token(self) -> str:
        return self.headers["Authorization"].removeprefix("Bearer ")


def confirmation_token(messages: Iterable[bytes], address: str) -> str | None:
    """The token of the newest confirmation mail to `address` among `messages`, if any."""
    found = None
    for raw in messages:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        if message["To"] == address and message["X-GoChat-Kind"] == "confirm_email":
            body = message.get_body(("plain",))
            assert body is not None, f"no text part in the confirmation mail to {address}"
            match = _TOKEN.search(body.get_content())
            assert match, f"no token in the confirmation mail to {address}"
            found = match[1]
    return found


def wait_for_token(read_mail: ReadMail, address: str, *, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        token = confirmation_token(read_mail(), address)
        if token is not None:
            return token
        if time.monotonic() > deadline:
            raise AssertionError(f"no confirmation mail for {address} within {timeout}s")
        time.sleep(0.5)


def sign_up(auth: httpx.Client, read_mail: ReadMail, name: str) -> User:
    """Register, be refused until confirmed, confirm with the mailed token, log in."""
    address = f"{name}@example.com"
    registered = auth.post(
        "/auth/register", json={"username": name, "email": address, "password": PASSWORD}
    )
    assert registered.status_code == 201, registered.text
    refused = auth.post("/auth/login", json={"login": name, "password": PASSWORD})
    assert refused.status_code in (401, 403), "unconfirmed accounts must not log in"
    token = wait_for_token(read_mail, address)
    confirmed = auth.post("/auth/confirm-email", json={"token": token})
    assert confirmed.status_code == 200, confirmed.text
    login = auth.post("/auth/login", json={"login": name, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return User(name, {"Authorization": f"Bearer {login.json()['access_token']}"})


def walk(
    endpoints: Endpoints,
    read_mail: ReadMail,
    *,
    names: tuple[str, str],
    storage: httpx.Client | None = None,
) -> Walked:
    """The whole flow for two new users `names` (unique per platform); asserts each step.
    With `storage` (a client that reaches the upload and download URLs the API hands out),
    the first user also shares a file the second downloads."""
    with (
        httpx.Client(base_url=endpoints.auth, timeout=30) as auth,
        httpx.Client(base_url=endpoints.api, timeout=30) as api,
    ):
        alice = sign_up(auth, read_mail, names[0])
        bob = sign_up(auth, read_mail, names[1])
        guild = api.post("/guilds", json={"name": "Book club"}, headers=alice.headers)
        assert guild.status_code == 201, guild.text
        guild_id = guild.json()["id"]
        channel = api.post(
            f"/guilds/{guild_id}/channels", json={"name": "fiction"}, headers=alice.headers
        )
        assert channel.status_code == 201, channel.text
        channel_id = channel.json()["id"]
        invite = api.post(
            f"/channels/{channel_id}/invites", json={"max_uses": 1}, headers=alice.headers
        )
        assert invite.status_code == 201, invite.text
        history_url = f"/channels/{channel_id}/messages"
        assert api.get(history_url, headers=bob.headers).status_code == 404
        joined = api.post(f"/invites/{invite.json()['code']}/accept", headers=bob.headers)
        assert joined.status_code == 200, joined.text
        asyncio.run(_post_while_bob_listens(api, endpoints, alice, bob, history_url))
        for reader in (alice, bob):
            history = api.get(history_url, headers=reader.headers).json()
            assert [m["content"] for m in history] == ["Yes! Chapter 1", "Dune, anyone?"]
            assert [m["author"]["username"] for m in history] == [bob.name, alice.name]
        _wait_until_found(api, f"/guilds/{guild_id}/messages/search", bob, "Dune")
        shared = None
        if storage is not None:
            shared = share_a_file(api, storage, channel_id=channel_id, sender=alice, reader=bob)
        posts = (history[1]["id"], history[0]["id"])
        return Walked(guild_id=guild_id, channel_id=channel_id, message_ids=posts, shared=shared)


def share_a_file(
    api: httpx.Client, storage: httpx.Client, *, channel_id: str, sender: User, reader: User
) -> SharedFile:
    """`sender` asks for an upload slot, uploads a small text file straight to storage (a
    signed form, or a signed PUT), sends a message naming it; `reader` sees the attachment in
    the history and downloads the same bytes through a fresh signed URL."""
    content = b"Chapter 1: the desert planet Arrakis.\n"
    spec = {"filename": "dune.txt", "size": len(content), "content_type": "text/plain"}
    slots = api.post(
        f"/channels/{channel_id}/attachments", json={"files": [spec]}, headers=sender.headers
    )
    assert slots.status_code == 200, slots.text
    [slot] = slots.json()["attachments"]
    if slot["upload_method"] == "POST":
        stored = storage.post(
            slot["upload_url"], data=slot["upload_fields"], files={"file": ("dune.txt", content)}
        )
    else:
        stored = storage.put(slot["upload_url"], content=content, headers=slot["upload_headers"])
    assert stored.status_code in (200, 201, 204), stored.text
    sent = api.post(
        f"/channels/{channel_id}/messages",
        json={"content": "The book", "attachments": [{"upload_name": slot["upload_name"]}]},
        headers=sender.headers,
    )
    assert sent.status_code == 201, sent.text
    message_id = sent.json()["id"]
    history = api.get(f"/channels/{channel_id}/messages", headers=reader.headers).json()
    assert history[0]["id"] == message_id, history[0]
    [attachment] = history[0]["attachments"]
    assert (attachment["filename"], attachment["size"]) == ("dune.txt", len(content))
    signed = api.get(
        f"/channels/{channel_id}/messages/{message_id}/attachments/{attachment['id']}",
        params={"redirect": "false"},
        headers=reader.headers,
    )
    assert signed.status_code == 200, signed.text
    downloaded = storage.get(signed.json()["url"])
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.content == content
    return SharedFile(message_id=message_id, attachment_id=attachment["id"], content=content)


async def _post_while_bob_listens(
    api: httpx.Client, endpoints: Endpoints, alice: User, bob: User, history_url: str
) -> None:
    client = await gateway.GatewayClient.connect(endpoints.ws_url)
    try:
        await client.identify(bob.token)
        posted = await asyncio.to_thread(
            api.post, history_url, json={"content": "Dune, anyone?"}, headers=alice.headers
        )
        assert posted.status_code == 201, posted.text
        event = await client.wait_for(
            "MESSAGE_CREATE", timeout=30, where={"id": posted.json()["id"]}
        )
        assert event.d["content"] == "Dune, anyone?"
        answered = await asyncio.to_thread(
            api.post, history_url, json={"content": "Yes! Chapter 1"}, headers=bob.headers
        )
        assert answered.status_code == 201, answered.text
    finally:
        await client.close()


def _wait_until_found(
    api: httpx.Client, url: str, reader: User, words: str, *, timeout: float = 60
) -> None:
    """Search is fed by the indexer from the event stream: eventually consistent."""
    deadline = time.monotonic() + timeout
    while True:
        found = api.get(url, params={"q": words}, headers=reader.headers)
        assert found.status_code == 200, found.text
        if any(words in m["content"] for m in found.json()["messages"]):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"search for {words!r} found nothing in {timeout}s: {found.text}")
        time.sleep(1)
