"""`helm test`: register, confirm, log in, post and read back through the installed services.

Runs with the gochat image's Python (httpx and asyncpg are in it). The confirmation token is
read from the mail queue (PostgreSQL, the DSN Secret the services use) before the auth service's
sender delivers and deletes it; with a slow sender a resend is asked for.
"""

import asyncio
import json
import os
import secrets
import sys

import asyncpg
import httpx

API, AUTH = os.environ["GOCHAT_TEST_API"], os.environ["GOCHAT_TEST_AUTH"]


async def confirmation_token(address: str) -> str:
    conn = await asyncpg.connect(os.environ["GOCHAT_PG_DSN"])
    try:
        for _ in range(200):
            row = await conn.fetchrow(
                "SELECT variables FROM mail_queue WHERE recipient = $1 ORDER BY id DESC LIMIT 1",
                address,
            )
            if row:
                variables = row["variables"]
                return str(
                    (json.loads(variables) if isinstance(variables, str) else variables)["token"]
                )
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise SystemExit(f"no confirmation mail queued for {address}")


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
        token = asyncio.run(confirmation_token(address))
        assert auth.post("/auth/confirm-email", json={"token": token}).status_code == 200
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
