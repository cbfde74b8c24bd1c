"""What the upload targets grant, read back from the signed bytes (no network): the S3 POST
policy's conditions, and the local store's signed query."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path

from gochat.adapters.localfs import blobs
from gochat.adapters.s3 import blobs as s3_blobs

SECRET = "test-secret-key"


def _s3(public_endpoint: str | None = None) -> s3_blobs.S3BlobStore:
    return s3_blobs.S3BlobStore(
        s3_blobs.Settings(
            bucket="chat-files",
            endpoint="http://127.0.0.1:9",
            public_endpoint=public_endpoint,
            region="eu-west-1",
            access_key_id="AKIDEXAMPLE",
            secret_access_key=SECRET,
        )
    )


def _sigv4(string_to_sign: str, *, date: str, region: str) -> str:
    key = f"AWS4{SECRET}".encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def _get_url_signed_for(url: str, host: str) -> bool:
    """Whether a presigned GET URL's signature is the one SigV4 gives a GET of its path with
    `host` as the Host header (the only header it signs): what the storage recomputes."""
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    params = dict(query)
    assert params["X-Amz-SignedHeaders"] == "host"
    canonical_query = "&".join(
        f"{urllib.parse.quote(k, safe='-_.~')}={urllib.parse.quote(v, safe='-_.~')}"
        for k, v in sorted(query)
        if k != "X-Amz-Signature"
    )
    request = f"GET\n{parts.path}\n{canonical_query}\nhost:{host}\n\nhost\nUNSIGNED-PAYLOAD"
    _, date, region, *_ = params["X-Amz-Credential"].split("/")
    scope = "/".join((date, region, "s3", "aws4_request"))
    digest = hashlib.sha256(request.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{params['X-Amz-Date']}\n{scope}\n{digest}"
    return params["X-Amz-Signature"] == _sigv4(to_sign, date=date, region=region)


async def test_the_s3_post_policy_caps_the_size_and_pins_key_and_type_and_is_signed() -> None:
    before = datetime.now(UTC)
    target = await _s3().upload_target(
        "uploads/abc",
        content_type="image/png",
        type_prefix="image/",
        max_bytes=1234,
        expires_in=600,
    )
    assert target.method == "POST"
    assert target.url == "http://127.0.0.1:9/chat-files"
    fields = target.fields
    assert (fields["key"], fields["Content-Type"]) == ("uploads/abc", "image/png")
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 0, 1234] in conditions
    assert ["starts-with", "$key", "uploads/abc"] in conditions
    assert ["starts-with", "$Content-Type", "image/"] in conditions
    assert {"bucket": "chat-files"} in conditions
    assert {"key": "uploads/abc"} in conditions
    expires = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
    assert 590 <= (expires - before).total_seconds() <= 610
    # The signature covers exactly this policy, under the secret's SigV4 key for the region.
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    date = fields["x-amz-date"][:8]
    assert fields["x-amz-credential"] == f"AKIDEXAMPLE/{date}/eu-west-1/s3/aws4_request"
    assert fields["x-amz-signature"] == _sigv4(fields["policy"], date=date, region="eu-west-1")


async def test_an_s3_download_url_expires_and_names_the_file() -> None:
    url = await _s3().download_url("attachments/1/2", filename="a b.png", expires_in=120)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    assert query["X-Amz-Expires"] == ["120"]
    assert query["response-content-disposition"] == ["attachment; filename*=UTF-8''a%20b.png"]


async def test_without_a_public_endpoint_the_urls_name_and_are_signed_for_the_endpoint() -> None:
    store = _s3()
    target = await store.upload_target(
        "uploads/abc", content_type="image/png", type_prefix="image/", max_bytes=9, expires_in=60
    )
    assert target.url == "http://127.0.0.1:9/chat-files"
    url = await store.download_url("attachments/1/2", filename="a.png", expires_in=60)
    assert url.startswith("http://127.0.0.1:9/chat-files/attachments/1/2?")
    assert _get_url_signed_for(url, "127.0.0.1:9")


async def test_with_a_public_endpoint_the_urls_name_and_are_signed_for_it_alone() -> None:
    store = _s3(public_endpoint="https://files.example.com:8443")
    target = await store.upload_target(
        "uploads/abc", content_type="image/png", type_prefix="image/", max_bytes=9, expires_in=60
    )
    assert target.url == "https://files.example.com:8443/chat-files"
    # The POST policy signs no host: the same policy, signed with the same key, works anywhere.
    date = target.fields["x-amz-date"][:8]
    policy = target.fields["policy"]
    assert target.fields["x-amz-signature"] == _sigv4(policy, date=date, region="eu-west-1")
    url = await store.download_url("attachments/1/2", filename="a b.png", expires_in=60)
    parts = urllib.parse.urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "files.example.com:8443",
        "/chat-files/attachments/1/2",
    )
    assert _get_url_signed_for(url, "files.example.com:8443")
    assert not _get_url_signed_for(url, "127.0.0.1:9")  # the internal address would refuse it


async def test_the_local_store_grants_exactly_what_it_signed(tmp_path: Path) -> None:
    store = blobs.LocalBlobStore(tmp_path, base_url="http://api.test/", signing_key="k")
    target = await store.upload_target(
        "uploads/x", content_type="image/png", type_prefix="image/", max_bytes=10, expires_in=60
    )
    assert (target.method, target.headers) == ("PUT", {"Content-Type": "image/png"})
    query = urllib.parse.urlsplit(target.url).query
    grant = store.verify(query)
    assert grant is not None
    assert (grant.action, grant.key, grant.max_bytes, grant.type_prefix) == (
        "put",
        "uploads/x",
        10,
        "image/",
    )
    assert store.verify(query.replace("m=10", "m=99")) is None  # a larger cap
    assert store.verify(query, now=time.time() + 61) is None  # expired
    other_key = blobs.LocalBlobStore(tmp_path, base_url="http://api.test", signing_key="other")
    assert other_key.verify(query) is None


def test_a_key_leaving_the_folder_is_refused(tmp_path: Path) -> None:
    store = blobs.LocalBlobStore(tmp_path, base_url="http://api.test", signing_key="k")
    for key in ("../escape", "/etc/passwd", "", "uploads/../../x"):
        try:
            store.path_of(key)
        except ValueError:
            continue
        raise AssertionError(f"{key!r} was accepted")
