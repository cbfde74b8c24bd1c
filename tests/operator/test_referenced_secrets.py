"""Which Secrets wake a cluster, and what a Secret's watch event does to the cache (no cluster
needed)."""

from __future__ import annotations

import base64
from typing import Any

from gochat_operator import references
from tests.operator import cluster_inputs

NS = "gochat"  # the namespace of cluster_inputs
DSN = base64.b64encode(b"postgresql://u:p@pg:5432/gochat").decode()


def names(case: str, **spec: Any) -> set[str]:
    body = cluster_inputs.load_case(case)
    body["spec"].update(spec)
    return references.referenced_names(
        namespace=NS, name=body["metadata"]["name"], spec=body["spec"]
    )


class SecretsKube:
    """Stands in for `kube.Kube`: one DSN Secret; creating a Secret stores it like the API
    server (stringData encoded into data, a new resourceVersion)."""

    def __init__(self) -> None:
        self.secrets: dict[str, dict[str, Any]] = {"chat-postgres": {"data": {"dsn": DSN}}}
        self.reads = 0

    async def get(self, api_version: str, kind: str, namespace: str, name: str) -> Any:
        self.reads += 1
        return self.secrets.get(name)

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        data = {k: base64.b64encode(v.encode()).decode() for k, v in manifest["stringData"].items()}
        created = {"metadata": {"resourceVersion": "7"}, "data": data}
        self.secrets[manifest["metadata"]["name"]] = created
        return created


def test_every_secret_the_spec_references_is_indexed_by_name() -> None:
    assert names("full") == {
        "prod-postgres", "prod-nats", "prod-scylla", "prod-opensearch", "prod-s3", "prod-smtp",
        "prod-signing-keys",
    }  # fmt: skip
    assert names("minimal") == {"chat-postgres", "chat-jwt"}  # the generated JWT Secret too


def test_a_spec_that_does_not_validate_references_nothing() -> None:
    assert names("minimal", postgres={"dsnSecret": {}}) == set()


async def test_a_watch_event_makes_the_next_check_read_the_secret_again() -> None:
    kube = SecretsKube()
    cache = references.SecretCache(ttl=3600)
    cluster = cluster_inputs.cluster_input("minimal")
    first = await references.check(kube, cluster, cache=cache)  # type: ignore[arg-type]
    reads = kube.reads
    await references.check(kube, cluster, cache=cache)  # type: ignore[arg-type]
    assert kube.reads == reads  # both Secrets valid, so cached

    rotated = base64.b64encode(b"postgresql://u:new@pg:5432/gochat").decode()
    kube.secrets["chat-postgres"] = {"data": {"dsn": rotated}}
    assert cache.changed(NS, "chat-postgres", "8")
    after = await references.check(kube, cluster, cache=cache)  # type: ignore[arg-type]
    assert after.digests["chat-postgres"] != first.digests["chat-postgres"]
    assert after.digests["chat-jwt"] == first.digests["chat-jwt"]


def test_a_read_older_than_the_last_event_is_not_cached() -> None:
    cache = references.SecretCache(ttl=3600)
    epoch = cache.epoch(NS, "chat-postgres")  # a reconcile starts reading ...
    cache.changed(NS, "chat-postgres", "8")  # ... the Secret changes meanwhile ...
    cache.put(NS, "chat-postgres", {"data": {"dsn": DSN}}, epoch=epoch)  # ... old data
    assert cache.get(NS, "chat-postgres") is None


async def test_our_own_jwt_secret_create_echoed_by_the_watch_is_not_news() -> None:
    kube = SecretsKube()
    cache = references.SecretCache(ttl=3600)
    checked = await references.check(  # type: ignore[arg-type]
        kube, cluster_inputs.cluster_input("minimal"), cache=cache
    )
    assert checked.generated_jwt_secret == "chat-jwt" and not checked.problems
    assert not cache.changed(NS, "chat-jwt", "7")  # the ADDED event of our create
    assert cache.get(NS, "chat-jwt") is not None
    assert cache.changed(NS, "chat-jwt", "9")  # someone edits it afterwards


class EchoFirstKube(SecretsKube):
    """The watch delivers the ADDED event of a created Secret before the create call returns,
    which a busy operator sees whenever kopf's watch task runs first."""

    def __init__(self, cache: references.SecretCache) -> None:
        super().__init__()
        self.cache = cache
        self.echo_was_news: bool | None = None

    async def create(self, manifest: dict[str, Any]) -> dict[str, Any]:
        created = await super().create(manifest)
        name = manifest["metadata"]["name"]
        self.echo_was_news = self.cache.changed(NS, name, "7", added=True)
        return created


async def test_an_echo_that_overtakes_the_create_response_is_not_news_either() -> None:
    cache = references.SecretCache(ttl=3600)
    kube = EchoFirstKube(cache)
    checked = await references.check(  # type: ignore[arg-type]
        kube, cluster_inputs.cluster_input("minimal"), cache=cache
    )
    assert checked.generated_jwt_secret == "chat-jwt" and not checked.problems
    assert kube.echo_was_news is False
    assert not cache.own_writes and not cache.early_echoes  # nothing left waiting for it
    assert cache.changed(NS, "chat-jwt", "9")  # a later edit is news
    assert cache.changed(NS, "chat-jwt", "10", added=True)  # so is a re-create by someone else
