-- Whether a message has at least one file: the search filter `has=attachment` (docs/search.md).
-- Documents written before this column existed are filled from the messages table (the
-- PostgreSQL message store); with messages on Cassandra they stay false until next indexed.
ALTER TABLE search_documents ADD COLUMN has_attachment boolean NOT NULL DEFAULT false;
UPDATE search_documents d SET has_attachment = true
  FROM messages m
 WHERE m.id = d.message_id AND m.attachments <> '[]'::jsonb AND NOT d.deleted;
-- "Messages with files" walks the guild's rows that have files, newest first.
CREATE INDEX search_documents_has_attachment
    ON search_documents (guild_id, message_id DESC) WHERE has_attachment AND NOT deleted;
