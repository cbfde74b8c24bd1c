"""`helm test`: register, log in, post and read back through the installed services.

Runs with the gochat image's Python (httpx and asyncpg are in it). The one step not taken
through the API is the e-mail confirmation: its token leaves only by mail (sent, and deleted
from the queue, right after the registration answers), so the script marks its own new account
confirmed in PostgreSQL (the DSN Secret the services use) and checks first that the API refused
the unconfirmed login.
"""

import asyncio
import os
import secrets
import sys

import asyncpg
import httpx

API, AUTH = os.environ["GOCHAT_TEST_API"], os.environ["GOCHAT_TEST_AUTH"]


async def mark_confirmed(username: str) -> None:
    conn = await asyncpg.connect(os.environ["GOCHAT_PG_DSN"])
    try:
        updated = await conn.execute(
            "UPDATE users SET email_confirmed_at = now() WHERE username = $1", username
        )
    finally:
        await conn.close()
    if updated != "UPDATE 1":
        raise SystemExit(f"registered {username} is not in the users table ({updated})")


def main() -> int:
    name = f"helmtest{secrets.token_hex(4)}"
    address, password = f"{name}@example.com", secrets.token_urlsafe(18)
    with (
        httpx.Client(base_url=AUTH, timeout=30) as auth,
        httpx.Client(base_url=API, timeout=30) as api,
    ):
        registered = auth.post(
            "/auth/register", json={"username": name, "email": address, "password": password}
        )
        assert registered.status_code == 201, registered.text
        refused = auth.post("/auth/login", json={"login": name, "password": password})
        assert refused.status_code in (401, 403), "an unconfirmed account logged in"
        asyncio.run(mark_confirmed(name))
        login = auth.post("/auth/login", json={"login": name, "password": password})
        assert login.status_code == 200, login.text
        headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        guild = api.post("/guilds", json={"name": "helm test"}, headers=headers)
        assert guild.status_code in (200, 201), guild.text
        channel = api.post(
            f"/guilds/{guild.json()['id']}/channels", json={"name": "smoke"}, headers=headers
        )
        assert channel.status_code in (200, 201), channel.text
        content = f"hello from helm test {name}"
        posted = api.post(
            f"/channels/{channel.json()['id']}/messages", json={"content": content}, headers=headers
        )
        assert posted.status_code in (200, 201), posted.text
        history = api.get(f"/channels/{channel.json()['id']}/messages", headers=headers)
        assert history.status_code == 200, history.text
        assert content in [m["content"] for m in history.json()], history.text
    print(f"registered {name}, logged in, posted and read back")
    return 0


if __name__ == "__main__":
    sys.exit(main())
