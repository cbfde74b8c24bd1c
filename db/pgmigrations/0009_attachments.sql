-- Attachments (docs/api.md#attachments). A client asks for upload URLs, uploads straight to the
-- blob store, then sends a message naming its uploads. Until then an upload is pending: one row
-- here, removed when a message takes it (its object copied to a permanent key) or discarded;
-- the API's sweeper deletes rows (and objects) past expires_at. A send claims its rows first
-- (claimed_at, expires_at pushed a little ahead), so two sends cannot take the same upload and
-- a send that dies half-way leaves rows the sweeper clears.
CREATE TABLE attachment_uploads (
    upload_name   text PRIMARY KEY,
    -- No foreign keys: a row outliving its channel or user is swept with its object.
    channel_id    bigint NOT NULL,
    user_id       bigint NOT NULL,
    filename      text NOT NULL,
    size          bigint NOT NULL CHECK (size >= 0),
    content_type  text NOT NULL,
    object_key    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    claimed_at    timestamptz
);
CREATE INDEX attachment_uploads_expiry ON attachment_uploads (expires_at);

-- A message's files: [{id, filename, content_type, size, key}], in the order sent.
ALTER TABLE messages ADD COLUMN attachments jsonb NOT NULL DEFAULT '[]';
