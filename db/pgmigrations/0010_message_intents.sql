-- Sends to the Cassandra message store in flight (docs/data-plane.md, "Consistency across the
-- two stores"): a row is written before the message goes to Cassandra and deleted by the very
-- statement that records the send's events, so those happen exactly once. A row left behind by
-- a process that died is completed by the repair sweep of a running API.
CREATE TABLE message_intents (
    message_id          bigint PRIMARY KEY,
    channel_id          bigint NOT NULL,
    record              jsonb NOT NULL,
    events              bytea[] NOT NULL,
    mention_reader_ids  bigint[] NOT NULL,
    created_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX message_intents_created ON message_intents (created_at);
