-- Purging a deleted channel's documents looks them up by channel alone (tombstones included).
CREATE INDEX search_documents_channel ON search_documents (channel_id);
