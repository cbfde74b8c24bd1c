-- Full-text search documents, written by the indexer through the PostgreSQL SearchIndex adapter.
-- One row per message id. A deleted message keeps a tombstone (deleted = true, text cleared) so a
-- create or edit delivered after the delete cannot bring it back; `version` is the id of the event
-- that produced the row, so an older edit never overwrites a newer one.

-- The text the full-text parser sees. PostgreSQL's parser drops anything that looks like an XML
-- tag or entity ("List<String>", "<script>…</script>") from both the index and ts_headline, which
-- loses chat text; mapping < > & to control characters keeps every word. Control characters the
-- user typed there, and the two private-use characters the adapter uses as match markers, are
-- dropped. The adapter maps the three back when it escapes a snippet.
CREATE FUNCTION search_text(content text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN translate(content, E'<>&\x01\x02\x03\uE000\uE001', E'\x01\x02\x03');

CREATE TABLE search_documents (
    message_id   bigint PRIMARY KEY,
    guild_id     bigint,
    channel_id   bigint,
    author_id    bigint,
    content      text NOT NULL DEFAULT '',
    mention_ids  bigint[] NOT NULL DEFAULT '{}',
    created_at   timestamptz,
    version      bigint NOT NULL DEFAULT 0,
    deleted      boolean NOT NULL DEFAULT false,
    -- 'english': stemming makes "deploying" find "deployed"; the query side uses the same config.
    body         tsvector GENERATED ALWAYS AS (to_tsvector('english', search_text(content))) STORED,
    CHECK (deleted OR (channel_id IS NOT NULL AND author_id IS NOT NULL AND created_at IS NOT NULL))
);
CREATE INDEX search_documents_body ON search_documents USING gin (body) WHERE NOT deleted;
CREATE INDEX search_documents_scope
    ON search_documents (guild_id, channel_id, message_id DESC) WHERE NOT deleted;
CREATE INDEX search_documents_mentions
    ON search_documents USING gin (mention_ids) WHERE NOT deleted;
