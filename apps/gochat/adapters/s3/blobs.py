"""`ports.BlobStore` on S3-compatible storage (AWS S3, MinIO), through boto3.

Uploads are S3 POST policies, not presigned PUTs: a presigned PUT cannot cap the size, a POST
policy can (`content-length-range`), and the storage itself refuses one byte more with
EntityTooLarge. The policy also pins the key (`starts-with $key`, plus boto3's exact key) and
the type family (`starts-with $Content-Type`); the exact type is checked at send (HEAD).
boto3 blocks, so every call runs in a worker thread; the client is thread-safe.

The URLs handed to clients are signed by a second client configured with the public endpoint
when there is one (`Settings.public_endpoint`): a download URL's SigV4 signature covers its
Host, so it must be signed for exactly the address the client sends it to. Signing makes no
network call; the API's own calls (HEAD, copy, delete, lifecycle, ping) use the internal one.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from gochat import ports

LIFECYCLE_RULE_ID = "gochat-abandoned-uploads"
# Answers meaning "this storage will not take a lifecycle rule from us": not an outage.
_NO_LIFECYCLE = {"AccessDenied", "NotImplemented", "MethodNotAllowed", "XNotImplemented"}


@dataclass(frozen=True, slots=True)
class Settings:
    bucket: str
    endpoint: str | None = None  # None: AWS itself
    public_endpoint: str | None = None  # the address clients reach; None: `endpoint`
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None


class S3BlobStore:
    def __init__(self, settings: Settings) -> None:
        self.bucket = settings.bucket
        self._client = _client(settings, settings.endpoint)
        # Only signs (no network call): its endpoint is what the URLs given to clients name.
        self._signer = (
            _client(settings, settings.public_endpoint)
            if settings.public_endpoint
            else self._client
        )

    async def _call(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self._client, method), **kwargs)

    async def _sign(self, method: str, **kwargs: Any) -> Any:
        return await asyncio.to_thread(getattr(self._signer, method), **kwargs)

    async def upload_target(
        self, key: str, *, content_type: str, type_prefix: str, max_bytes: int, expires_in: int
    ) -> ports.UploadTarget:
        post = await self._sign(
            "generate_presigned_post",
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=upload_conditions(key, type_prefix=type_prefix, max_bytes=max_bytes),
            ExpiresIn=expires_in,
        )
        return ports.UploadTarget(method="POST", url=post["url"], fields=dict(post["fields"]))

    async def head(self, key: str) -> ports.BlobInfo | None:
        try:
            found = await self._call("head_object", Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ports.BlobInfo(size=found["ContentLength"], content_type=found["ContentType"])

    async def copy(self, source: str, destination: str) -> None:
        await self._call(
            "copy_object",
            Bucket=self.bucket,
            Key=destination,
            CopySource={"Bucket": self.bucket, "Key": source},
            MetadataDirective="COPY",
        )

    async def delete(self, key: str) -> None:
        await self._call("delete_object", Bucket=self.bucket, Key=key)

    async def download_url(self, key: str, *, filename: str, expires_in: int) -> str:
        disposition = "attachment; filename*=UTF-8''" + urllib.parse.quote(filename)
        url: str = await self._sign(
            "generate_presigned_url",
            ClientMethod="get_object",
            Params={"Bucket": self.bucket, "Key": key, "ResponseContentDisposition": disposition},
            ExpiresIn=expires_in,
        )
        return url

    async def expire_prefix(self, prefix: str, *, days: int) -> bool:
        """Sets (or updates) our one rule and keeps every other rule of the bucket."""
        try:
            try:
                current = await self._call("get_bucket_lifecycle_configuration", Bucket=self.bucket)
                rules = [r for r in current.get("Rules", []) if r.get("ID") != LIFECYCLE_RULE_ID]
            except ClientError as exc:
                if _code(exc) != "NoSuchLifecycleConfiguration":
                    raise
                rules = []
            rules.append(
                {
                    "ID": LIFECYCLE_RULE_ID,
                    "Filter": {"Prefix": prefix},
                    "Status": "Enabled",
                    "Expiration": {"Days": days},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1},
                }
            )
            await self._call(
                "put_bucket_lifecycle_configuration",
                Bucket=self.bucket,
                LifecycleConfiguration={"Rules": rules},
            )
        except ClientError as exc:
            if _code(exc) in _NO_LIFECYCLE:
                return False
            raise
        return True

    async def ping(self) -> None:
        await self._call("head_bucket", Bucket=self.bucket)

    async def close(self) -> None:
        await asyncio.to_thread(self._client.close)
        if self._signer is not self._client:
            await asyncio.to_thread(self._signer.close)


def _client(settings: Settings, endpoint: str | None) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.region or "us-east-1",
        aws_access_key_id=settings.access_key_id,
        aws_secret_access_key=settings.secret_access_key,
        config=Config(
            signature_version="s3v4",
            # Path style: MinIO and most S3-compatible servers serve no bucket subdomains.
            s3={"addressing_style": "path" if endpoint else "auto"},
            retries={"mode": "standard", "max_attempts": 3},
        ),
    )


def upload_conditions(key: str, *, type_prefix: str, max_bytes: int) -> list[Any]:
    """The POST policy's conditions beyond the bucket and exact key boto3 adds itself."""
    return [
        ["content-length-range", 0, max_bytes],
        ["starts-with", "$key", key],
        ["starts-with", "$Content-Type", type_prefix],
    ]


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))
