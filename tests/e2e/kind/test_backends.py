"""deploy/backends/ in a real cluster: PostgreSQL and NATS JetStream become Ready on
PersistentVolumeClaims, under the restricted Pod Security Standard, and a Job on the GoChat
image connects to each through its Service with the credentials from the Secrets."""

from __future__ import annotations

import time

import pytest

from gochat.contract import images as image_names
from tests.e2e.kind import access, backends

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

PROBE = """
import asyncio, os
import asyncpg, nats

async def main():
    conn = await asyncpg.connect(os.environ["DSN"])
    version = await conn.fetchval("SHOW server_version")
    print("postgres", version, await conn.fetchval("SELECT current_user"))
    await conn.close()
    client = await nats.connect(os.environ["NATS_URL"])
    info = await client.jetstream().account_info()
    print("jetstream streams", info.streams)
    await client.close()

asyncio.run(main())
"""


def test_postgres_and_nats_are_ready_and_reachable_from_a_job(
    kube: access.ClusterAccess, gochat_images: dict[str, str]
) -> None:
    started = time.monotonic()
    with backends.namespace(kube, "e2e-backends") as namespace:
        deployed = backends.deploy(kube, namespace)
        ready = time.monotonic() - started
        claims = kube.get_json("-n", namespace, "pvc")["items"]
        assert sorted(c["metadata"]["name"] for c in claims) == ["data-nats-0", "data-postgres-0"]
        assert {c["status"]["phase"] for c in claims} == {"Bound"}
        output = backends.run_python_job(
            kube,
            namespace=namespace,
            name="probe-backends",
            image=f"{image_names.SERVICES}:{gochat_images[image_names.SERVICES]}",
            script=PROBE,
            env={"NATS_URL": deployed.nats_url},
            secret_env={"DSN": (deployed.dsn_secret, "dsn")},
        )
        assert "postgres 15." in output and "gochat" in output, output
        assert "jetstream streams 0" in output, output
    print(f"backends Ready in {ready:.0f}s, whole test {time.monotonic() - started:.0f}s")
