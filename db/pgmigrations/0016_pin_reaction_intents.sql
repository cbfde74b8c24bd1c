-- Pins, unpins and reactions on the Cassandra message store in flight (docs/data-plane.md): a
-- row is written before the Cassandra write and removed by the statement that records the
-- change's events. A row left by a process that died is finished by the repair sweep. At most
-- one change per pin (user_id 0, emoji '') or per user's reaction is in flight: a second waits.
CREATE TABLE pin_reaction_intents (
    id          bigserial PRIMARY KEY,
    message_id  bigint NOT NULL,
    user_id     bigint NOT NULL,  -- the reactor; 0 for a pin or an unpin
    emoji       text NOT NULL,    -- '' for a pin or an unpin
    kind        text NOT NULL CHECK (kind IN ('pin', 'unpin', 'react', 'unreact')),
    record      jsonb NOT NULL,   -- the message (its key, its author)
    pinned_at   timestamptz,      -- pin: the new pin time; unpin: the one it removes
    reacted_at  uuid,             -- react: the new row's timeuuid; unreact: the row it removes
    events      bytea[] NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (message_id, user_id, emoji)
);
CREATE INDEX pin_reaction_intents_created ON pin_reaction_intents (created_at);
