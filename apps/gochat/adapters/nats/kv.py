"""JetStream key-value buckets, and the open-once skeleton of the gateway's stores on them."""

from __future__ import annotations

from nats.aio import client as nats_client
from nats.js import api as js_api
from nats.js import errors as js_errors
from nats.js import kv as js_kv


async def open_bucket(
    client: nats_client.Client, bucket: str, *, ttl_seconds: float
) -> js_kv.KeyValue:
    """The bucket, created with one value per key and entries expiring after `ttl_seconds`."""
    js = client.jetstream()
    try:
        return await js.key_value(bucket)
    except js_errors.BucketNotFoundError:
        return await js.create_key_value(
            js_api.KeyValueConfig(bucket=bucket, ttl=ttl_seconds, history=1)
        )


class BucketStore:
    """A store kept in one bucket: `await open()` once (creating the bucket if needed), then
    use `kv`. `ttl_seconds` (a subclass's attribute, or given) is how long an entry lives
    without being rewritten; 0 keeps entries until they are deleted."""

    ttl_seconds: float

    def __init__(
        self, client: nats_client.Client, *, bucket: str, ttl_seconds: float | None = None
    ) -> None:
        self._client = client
        self._bucket = bucket
        if ttl_seconds is not None:
            self.ttl_seconds = ttl_seconds
        self._kv: js_kv.KeyValue | None = None

    async def open(self) -> None:
        self._kv = await open_bucket(self._client, self._bucket, ttl_seconds=self.ttl_seconds)

    @property
    def kv(self) -> js_kv.KeyValue:
        if self._kv is None:
            raise RuntimeError(f"{type(self).__name__}.open() was not awaited")
        return self._kv

    async def exists(self, key: str) -> bool:
        try:
            await self.kv.get(key)  # raises for a deleted or purged key too
        except js_errors.KeyNotFoundError:
            return False
        return True
