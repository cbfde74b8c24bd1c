-- A send that failed with an answer to the client but could not take its message back out of
-- Cassandra (Cassandra unreachable) is marked abandoned: the repair sweep removes it instead of
-- completing it (the client was told the send failed).
ALTER TABLE message_intents ADD COLUMN abandoned boolean NOT NULL DEFAULT false;
