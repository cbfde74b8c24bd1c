-- Edits on the Cassandra message store in flight (docs/data-plane.md): written before the
-- Cassandra update, removed by the statement that records the edit's events. A row left by a
-- process that died is finished by the repair sweep, unless a later edit or a delete got there
-- first (then it is dropped: the newer state was announced already).
CREATE TABLE message_edits (
    id                  bigserial PRIMARY KEY,
    message_id          bigint NOT NULL,
    record              jsonb NOT NULL,  -- the message as edited
    previous_edited_at  timestamptz,
    events              bytea[] NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_edits_created ON message_edits (created_at);
