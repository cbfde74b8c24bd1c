-- Deletes from the Cassandra message store in flight (docs/data-plane.md): a row is written
-- before the Cassandra delete and removed by the statement that records the delete's events.
-- A row left by a process that died is finished by the repair sweep: the user asked for the
-- delete, so it is completed, never undone.
CREATE TABLE message_deletions (
    id          bigserial PRIMARY KEY,
    message_id  bigint NOT NULL,
    record      jsonb NOT NULL,
    events      bytea[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_deletions_created ON message_deletions (created_at);
