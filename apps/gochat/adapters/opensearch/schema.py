"""The message index's layout on OpenSearch: one index template, versioned indices behind a read
alias and a write alias, and the steps `gochat migrate` and `gochat search reindex` take.

Names, for the prefix `gochat` (config `opensearch_index_prefix`):
- template `gochat-messages`, applied to every index named `gochat-messages.v*`;
- indices `gochat-messages.v1`, `gochat-messages.v2`, …;
- `gochat-messages.read`: the alias searches go to (exactly one index);
- `gochat-messages.write`: the alias the indexer writes through (exactly one index, its write
  index). During a reindex it already points at the new index while reads still go to the old.

Analysis: `content` uses `gochat_text` (standard tokenizer, English possessives, lowercase,
PostgreSQL's English stop words, Snowball English stemming: what PostgreSQL's `english` text
search configuration does, so "deploying" finds "deployed" on both backends); its
sub-field `content.cjk` uses `gochat_cjk` (CJK width folding and bigrams, from the common
analysis module). The embedded runner ships no ICU plugin, so no `icu_tokenizer` is used.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from opensearchpy import AsyncOpenSearch, NotFoundError, RequestError

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "gochat"
SHARDS = 1
REPLICAS = 1  # the template's default; a single-node cluster stays yellow with it
# PostgreSQL's english.stop (Snowball's list), so both backends ignore the same words.
_POSTGRES_ENGLISH_STOP = """
i me my myself we our ours ourselves you your yours yourself yourselves he him his himself
she her hers herself it its itself they them their theirs themselves what which who whom
this that these those am is are was were be been being have has had having do does did doing
a an the and but if or because as until while of at by for with about against between into
through during before after above below to from up down in out on off over under again
further then once here there when where why how all any both each few more most other some
such no nor not only own same so than too very s t can will just don should now
"""
POSTGRES_ENGLISH_STOPWORDS = _POSTGRES_ENGLISH_STOP.split()


@dataclass(frozen=True)
class Names:
    prefix: str = DEFAULT_PREFIX

    @property
    def template(self) -> str:
        return f"{self.prefix}-messages"

    @property
    def pattern(self) -> str:
        return f"{self.prefix}-messages.v*"

    @property
    def read_alias(self) -> str:
        return f"{self.prefix}-messages.read"

    @property
    def write_alias(self) -> str:
        return f"{self.prefix}-messages.write"

    def index(self, version: int) -> str:
        return f"{self.prefix}-messages.v{version}"

    def version_of(self, index: str) -> int:
        return int(index.removeprefix(f"{self.prefix}-messages.v"))


def template_body(names: Names, *, replicas: int = REPLICAS) -> dict[str, Any]:
    return {
        "index_patterns": [names.pattern],
        "priority": 100,
        "template": {
            "settings": {
                "number_of_shards": SHARDS,
                "number_of_replicas": replicas,
                "analysis": {
                    "filter": {
                        # Porter2, as PostgreSQL's english_stem.
                        "gochat_english_stemmer": {"type": "snowball", "language": "English"},
                        "gochat_english_stop": {
                            "type": "stop",
                            "stopwords": POSTGRES_ENGLISH_STOPWORDS,
                        },
                        "gochat_english_possessive": {
                            "type": "stemmer",
                            "language": "possessive_english",
                        },
                    },
                    "analyzer": {
                        "gochat_text": {
                            "type": "custom",
                            "tokenizer": "standard",
                            "filter": [
                                "gochat_english_possessive",
                                "lowercase",
                                "gochat_english_stop",
                                "gochat_english_stemmer",
                            ],
                        },
                        "gochat_cjk": {
                            "type": "custom",
                            "tokenizer": "standard",
                            "filter": [
                                "cjk_width",
                                "lowercase",
                                "gochat_english_stop",
                                "cjk_bigram",
                            ],
                        },
                    },
                },
            },
            "mappings": {
                "dynamic": "strict",
                "properties": {
                    "message_id": {"type": "long"},
                    "guild_id": {"type": "long"},
                    "channel_id": {"type": "long"},
                    "author_id": {"type": "long"},
                    "mention_ids": {"type": "long"},
                    "created_at": {"type": "date"},
                    "deleted": {"type": "boolean"},
                    "has_attachment": {"type": "boolean"},
                    "content": {
                        "type": "text",
                        "analyzer": "gochat_text",
                        "fields": {"cjk": {"type": "text", "analyzer": "gochat_cjk"}},
                    },
                },
            },
        },
    }


async def ensure(client: AsyncOpenSearch, names: Names, *, replicas: int = REPLICAS) -> str:
    """Put the template (always: a changed mapping applies to the next index), and when there
    is no read alias yet create the first index behind both aliases. Idempotent; returns the
    index the read alias points at.

    Existing indices get the template's mapping too, so a field added in a release (such as
    `has_attachment`) is usable without a reindex: adding a field is non-breaking. Documents
    written before simply lack it. A changed field type or analyzer cannot be put this way and
    fails here; such a change needs a new index (`gochat search reindex`)."""
    body = template_body(names, replicas=replicas)
    await client.indices.put_index_template(name=names.template, body=body)
    current = await alias_targets(client, names.read_alias)
    if current:
        await client.indices.put_mapping(index=names.pattern, body=body["template"]["mappings"])
        return current[0]
    first = names.index(1)
    try:
        await client.indices.create(index=first)
    except RequestError as exc:  # a concurrent migrate created it first: same outcome
        if exc.error != "resource_already_exists_exception":
            raise
    await client.indices.update_aliases(
        body={
            "actions": [
                {"add": {"index": first, "alias": names.read_alias}},
                {"add": {"index": first, "alias": names.write_alias, "is_write_index": True}},
            ]
        }
    )
    log.info("search index created", extra={"index": first})
    return first


async def alias_targets(client: AsyncOpenSearch, alias: str) -> list[str]:
    try:
        found = await client.indices.get_alias(name=alias)
    except NotFoundError:
        return []
    return sorted(found, key=lambda name: (len(name), name))


async def drop_all(client: AsyncOpenSearch, names: Names) -> None:
    """Delete every index and the template of `names` (tests, and a full reset)."""
    await client.indices.delete(index=names.pattern, ignore_unavailable=True)
    with contextlib.suppress(NotFoundError):
        await client.indices.delete_index_template(name=names.template)
