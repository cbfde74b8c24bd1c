"""JetStream key-value buckets shared by the gateway's stores."""

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
